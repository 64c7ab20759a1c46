// Tests for include/moerb/data/wordnet_truthfulness.hpp
//
// Exact checks on a small synthetic taxonomy written in the data.noun format; checks of the default
// task on the real WordNet 3.0 files when Debian's wordnet-base is installed (parsed once).
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "data/data_testing.hpp"
#include "data/wordnet_testing.hpp"
#include "moerb/data/wordnet_truthfulness.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_data_wordnet_truthfulness {

using moerb::Synset;
using moerb::TruthfulQAItem;
using moerb::WordNet;
using moerb::WordNetTruthfulnessOptions;
using moerb::WordNetTruthfulnessTask;
using moerb::test::message_has;
using moerb::test::normalized;
using moerb::test::noun_synset;
using moerb::test::real_wordnet;
using moerb::test::WordNetInstalled;
using Strings = std::vector<std::string>;

namespace {

// thing ─┬─ animal ─┬─ dog ── poodle, beagle, terrier, collie, pug, Canis, rover (instance)
//        │          ├─ cat ── tabby, siamese, manx
//        │          └─ bird ─ robin, owl, pug, ostrich (long definition)
//        └─ tool ──── hammer (noun.artifact)
// "pug" names two synsets and is left out; "Canis" is not a plain lemma; "rover" is an instance.
const char* const noun_snippet =
    "  1 Synthetic header.  \n"
    "00001000 03 n 01 thing 0 000 | a made-up root  \n"
    "00002000 05 n 01 animal 0 001 @ 00001000 n 0000 | a living creature  \n"
    "00003000 05 n 01 dog 0 001 @ 00002000 n 0000 | a domesticated canine  \n"
    "00004000 05 n 01 cat 0 001 @ 00002000 n 0000 | a small feline pet  \n"
    "00005000 05 n 01 bird 0 001 @ 00002000 n 0000 | a feathered vertebrate; \"birds fly\"  \n"
    "00006000 06 n 01 tool 0 001 @ 00001000 n 0000 | an implement used by hand  \n"
    "00007000 06 n 01 hammer 0 001 @ 00006000 n 0000 | a tool for driving nails  \n"
    "00010000 05 n 01 poodle 0 001 @ 00003000 n 0000 | a dog with curly hair (French origin)  \n"
    "00011000 05 n 01 beagle 0 001 @ 00003000 n 0000 | a small hunting hound  \n"
    "00012000 05 n 01 terrier 0 001 @ 00003000 n 0000 | a lively small dog  \n"
    "00013000 05 n 01 collie 0 001 @ 00003000 n 0000 | a herding dog with a long coat  \n"
    "00014000 05 n 01 pug 0 001 @ 00003000 n 0000 | a small dog with a wrinkled face  \n"
    "00015000 05 n 01 Canis 0 001 @ 00003000 n 0000 | type genus of the dogs  \n"
    "00016000 05 n 01 rover 0 001 @i 00003000 n 0000 | a famous dog  \n"
    "00020000 05 n 01 tabby 0 001 @ 00004000 n 0000 | a cat with stripes  \n"
    "00021000 05 n 01 siamese 0 001 @ 00004000 n 0000 | a slender cat with blue eyes  \n"
    "00022000 05 n 01 manx 0 001 @ 00004000 n 0000 | a cat without a tail  \n"
    "00030000 05 n 01 robin 0 001 @ 00005000 n 0000 | a songbird with a red breast  \n"
    "00031000 05 n 01 owl 0 001 @ 00005000 n 0000 | a bird that hunts at night  \n"
    "00032000 05 n 01 pug 0 001 @ 00005000 n 0000 | an imaginary bird  \n"
    "00033000 05 n 01 ostrich 0 001 @ 00005000 n 0000 | a very large bird of africa that cannot "
    "fly but runs very fast on its two long legs  \n";

WordNet synthetic_wordnet() {
  std::istringstream in(noun_snippet);
  return WordNet(moerb::read_wordnet_data(in, "data.noun"));
}

// The questions the synthetic taxonomy allows with false_definitions = 2 (categories noun.animal):
// the dogs (4), cats (3), birds (2) and dog, cat, bird themselves (siblings of each other, false
// hypernym "tool"). animal has no sibling in noun.animal and no grandparent.
const std::set<std::string> synthetic_question_lemmas = {"poodle", "beagle",  "terrier", "collie",
                                                         "tabby",  "siamese", "manx",    "robin",
                                                         "owl",    "dog",     "cat",     "bird"};

WordNetTruthfulnessOptions synthetic_options() {
  WordNetTruthfulnessOptions o;
  o.categories = {"noun.animal"};
  o.train_questions = 6;
  o.heldout_questions = 3;
  o.false_definitions = 2;
  return o;
}

std::string lemma_of(const Synset& s) {
  return normalized(s.head_word());
}

bool same_items(const std::vector<TruthfulQAItem>& a, const std::vector<TruthfulQAItem>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].question != b[i].question || a[i].best_answer != b[i].best_answer ||
        a[i].correct_answers != b[i].correct_answers ||
        a[i].incorrect_answers != b[i].incorrect_answers || a[i].source != b[i].source) {
      return false;
    }
  }
  return true;
}

/// Lookups the checks need, built once per database.
struct Lookup {
  std::map<std::string, const Synset*> by_definition;  ///< normalised definition → synset
  std::map<const Synset*, std::vector<const Synset*>> children;  ///< by primary hypernym

  explicit Lookup(const WordNet& wn) {
    for (const Synset& s : wn.nouns()) {
      by_definition.emplace(normalized(s.definition), &s);
      if (const Synset* p = wn.primary_hypernym(s)) children[p].push_back(&s);
    }
  }
};

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

/// Checks the answers of every question against the database: the true answers are the synset's
/// definition and its hypernym; every false definition is a sibling's or (only when the siblings
/// are used up) a cousin's; the false hypernym is a sibling of the hypernym and no ancestor.
/// Returns the number of false definitions that came from cousins.
std::size_t check_answers(const WordNet& wn, const Lookup& lookup,
                          const std::vector<TruthfulQAItem>& items, std::size_t false_definitions) {
  const auto& definitions = lookup.by_definition;
  std::size_t cousins = 0;
  for (const TruthfulQAItem& item : items) {
    const Synset& s = noun_synset(wn, item.source);
    const auto chain = wn.hypernym_chain(s);
    BOOST_TEST_REQUIRE(chain.size() >= 3u);
    const Synset* parent = chain[1];
    const Synset* grandparent = chain[2];
    BOOST_TEST_REQUIRE(item.question == moerb::detail::wordnet_what_is(lemma_of(s)));
    BOOST_TEST_REQUIRE(item.category == std::string(s.lexname()));
    BOOST_TEST_REQUIRE(item.best_answer == normalized(s.definition));
    BOOST_TEST_REQUIRE(item.correct_answers ==
                       (Strings{item.best_answer, "a kind of " + lemma_of(*parent)}));
    BOOST_TEST_REQUIRE(item.incorrect_answers.size() == false_definitions + 1);
    for (const std::string& wrong : item.incorrect_answers) {
      BOOST_TEST_REQUIRE((std::find(item.correct_answers.begin(), item.correct_answers.end(),
                                    wrong) == item.correct_answers.end()));
    }
    bool cousin_seen = false;
    for (std::size_t d = 0; d < false_definitions; ++d) {
      const auto it = definitions.find(item.incorrect_answers[d]);
      BOOST_TEST_REQUIRE((it != definitions.end()));
      const Synset& wrong = *it->second;
      BOOST_TEST_REQUIRE(&wrong != &s);
      const auto wrong_chain = wn.hypernym_chain(wrong);
      BOOST_TEST_REQUIRE(wrong_chain.size() >= 3u);
      const bool sibling = wrong_chain[1] == parent;
      const bool cousin = !sibling && wrong_chain[2] == grandparent;
      BOOST_TEST_REQUIRE((sibling || cousin));
      BOOST_TEST_REQUIRE(!(sibling && cousin_seen));  // siblings come first
      cousin_seen = cousin_seen || cousin;
      cousins += cousin ? 1 : 0;
    }
    const std::string& false_kind = item.incorrect_answers.back();
    BOOST_TEST_REQUIRE(starts_with(false_kind, "a kind of "));
    const std::string false_hypernym = false_kind.substr(10);
    BOOST_TEST_REQUIRE(false_hypernym != lemma_of(*parent));
    for (const Synset* a : chain) BOOST_TEST_REQUIRE(lemma_of(*a) != false_hypernym);
    bool is_uncle = false;
    for (const Synset* x : lookup.children.at(grandparent)) {
      is_uncle = is_uncle || (x != parent && lemma_of(*x) == false_hypernym);
    }
    BOOST_TEST_REQUIRE(is_uncle);
  }
  return cousins;
}

std::set<std::string> ids_of(const std::vector<TruthfulQAItem>& items) {
  std::set<std::string> out;
  for (const auto& item : items) out.insert(item.source);
  return out;
}

/// The corpus holds the statements of every question and distractor and the question forms of the
/// train questions only.
void check_corpus(const WordNet& wn, const Lookup& lookup, const WordNetTruthfulnessTask& t) {
  const std::set<std::string> texts(t.train_texts.begin(), t.train_texts.end());
  BOOST_TEST(texts.size() == t.train_texts.size());  // no text twice
  const auto& definitions = lookup.by_definition;
  for (const auto* split : {&t.train_questions, &t.heldout_questions}) {
    for (const TruthfulQAItem& item : *split) {
      const Synset& s = noun_synset(wn, item.source);
      BOOST_TEST_REQUIRE(texts.count(lemma_of(s) + " : " + item.best_answer) == 1u);
      BOOST_TEST_REQUIRE(texts.count(lemma_of(s) + " : " + item.correct_answers[1]) == 1u);
      for (std::size_t d = 0; d + 1 < item.incorrect_answers.size(); ++d) {
        const Synset& wrong = *definitions.at(item.incorrect_answers[d]);
        BOOST_TEST_REQUIRE(texts.count(lemma_of(wrong) + " : " + item.incorrect_answers[d]) == 1u);
      }
      const bool train = split == &t.train_questions;
      for (const std::string& answer : item.correct_answers) {
        BOOST_TEST_REQUIRE(texts.count(item.question + " " + answer) == (train ? 1u : 0u));
      }
      for (const std::string& answer : item.incorrect_answers) {
        BOOST_TEST_REQUIRE(texts.count(item.question + " " + answer) == 0u);
      }
    }
  }
  // Held-out questions never appear in question form.
  for (const TruthfulQAItem& item : t.heldout_questions) {
    for (const std::string& text : t.train_texts) {
      BOOST_TEST_REQUIRE(!starts_with(text, item.question));
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(wordnet_truthfulness)

BOOST_AUTO_TEST_CASE(synthetic_questions_and_answers) {
  const WordNet wn = synthetic_wordnet();
  const Lookup lookup(wn);
  const WordNetTruthfulnessTask t = moerb::wordnet_truthfulness_task(wn, synthetic_options());
  BOOST_TEST_MESSAGE(t.summary);
  BOOST_TEST(t.train_questions.size() == 6u);
  BOOST_TEST(t.heldout_questions.size() == 3u);
  const auto train = ids_of(t.train_questions), heldout = ids_of(t.heldout_questions);
  BOOST_TEST(train.size() == 6u);
  BOOST_TEST(heldout.size() == 3u);
  for (const auto& id : heldout) BOOST_TEST(train.count(id) == 0u);
  for (const auto* split : {&t.train_questions, &t.heldout_questions}) {
    for (const TruthfulQAItem& item : *split) {
      BOOST_TEST(synthetic_question_lemmas.count(lemma_of(noun_synset(wn, item.source))) == 1u);
    }
  }
  check_answers(wn, lookup, t.train_questions, 2);
  check_answers(wn, lookup, t.heldout_questions, 2);
  check_corpus(wn, lookup, t);
  // Normal form: lower case, punctuation split off; "an" before a vowel.
  for (const auto* split : {&t.train_questions, &t.heldout_questions}) {
    for (const TruthfulQAItem& item : *split) {
      if (item.source == "n00010000") {
        BOOST_TEST(item.question == "what is a poodle ?");
        BOOST_TEST(item.best_answer == "a dog with curly hair ( french origin )");
      }
      if (item.source == "n00031000") BOOST_TEST(item.question == "what is an owl ?");
      if (item.source == "n00003000") {
        BOOST_TEST(item.correct_answers[1] == "a kind of animal");
        BOOST_TEST(item.incorrect_answers.back() == "a kind of tool");
      }
    }
  }
  // No text mentions a left-out synset.
  for (const std::string& text : t.train_texts) {
    for (const char* word : {"pug", "canis", "rover", "ostrich", "hammer"}) {
      BOOST_TEST_REQUIRE(text.find(word) == std::string::npos);
    }
  }
  BOOST_TEST(t.summary.find("12 can be questions") != std::string::npos);
  BOOST_TEST(t.summary.find("true min 2, mean 2.00, max 2; false min 3, mean 3.00, max 3") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(cousins_fill_in_for_missing_siblings) {
  // robin and owl have one sibling each: with false_definitions = 2 each needs a cousin.
  const WordNet wn = synthetic_wordnet();
  const Lookup lookup(wn);
  WordNetTruthfulnessOptions o = synthetic_options();
  o.train_questions = 11;
  o.heldout_questions = 1;
  const WordNetTruthfulnessTask t = moerb::wordnet_truthfulness_task(wn, o);
  std::set<std::string> lemmas;
  std::size_t cousins = check_answers(wn, lookup, t.train_questions, 2);
  cousins += check_answers(wn, lookup, t.heldout_questions, 2);
  for (const auto* split : {&t.train_questions, &t.heldout_questions}) {
    for (const TruthfulQAItem& item : *split) lemmas.insert(lemma_of(noun_synset(wn, item.source)));
  }
  BOOST_TEST(lemmas == synthetic_question_lemmas);
  BOOST_TEST(cousins == 2u);  // one each for robin and owl; everyone else has two siblings
  check_corpus(wn, lookup, t);
  // A 13th question does not exist.
  o.train_questions = 12;
  BOOST_CHECK_EXCEPTION((void)moerb::wordnet_truthfulness_task(wn, o), moerb::error,
                        message_has({"wordnet_truthfulness_task",
                                     "train_questions + heldout_questions = 13", "only 12"}));
  // Three false definitions: the birds have 1 sibling + 7 cousins, dog/cat/bird only 2 siblings
  // and no cousins in noun.animal.
  o.false_definitions = 3;
  o.train_questions = 8;
  o.heldout_questions = 1;
  const WordNetTruthfulnessTask three = moerb::wordnet_truthfulness_task(wn, o);
  check_answers(wn, lookup, three.train_questions, 3);
  BOOST_TEST(three.summary.find("9 can be questions") != std::string::npos);
  BOOST_TEST(three.summary.find("4 fewer than 3 siblings and cousins") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(hypernym_statements_and_group_cap) {
  const WordNet wn = synthetic_wordnet();
  WordNetTruthfulnessOptions o = synthetic_options();
  o.hypernym_statements = false;
  const WordNetTruthfulnessTask t = moerb::wordnet_truthfulness_task(wn, o);
  for (const std::string& text : t.train_texts) {
    BOOST_TEST_REQUIRE(text.find(" : a kind of ") == std::string::npos);
  }
  // At most 2 questions per hypernym: dogs 2, cats 2, birds 2, dog/cat/bird 2 = 8.
  o.max_questions_per_hypernym = 2;
  o.train_questions = 6;
  o.heldout_questions = 2;
  const WordNetTruthfulnessTask capped = moerb::wordnet_truthfulness_task(wn, o);
  std::map<const Synset*, std::size_t> per_hypernym;
  for (const auto* split : {&capped.train_questions, &capped.heldout_questions}) {
    for (const TruthfulQAItem& item : *split) {
      ++per_hypernym[wn.primary_hypernym(noun_synset(wn, item.source))];
    }
  }
  BOOST_TEST(per_hypernym.size() == 4u);
  for (const auto& [h, n] : per_hypernym) BOOST_TEST(n == 2u);
  o.heldout_questions = 3;
  BOOST_CHECK_EXCEPTION((void)moerb::wordnet_truthfulness_task(wn, o), moerb::error,
                        message_has({"only 8", "max_questions_per_hypernym = 2"}));
}

BOOST_AUTO_TEST_CASE(deterministic_in_the_seed) {
  const WordNet wn = synthetic_wordnet();
  const WordNetTruthfulnessTask a = moerb::wordnet_truthfulness_task(wn, synthetic_options());
  const WordNetTruthfulnessTask b = moerb::wordnet_truthfulness_task(wn, synthetic_options());
  BOOST_TEST(a.train_texts == b.train_texts, boost::test_tools::per_element());
  BOOST_TEST(same_items(a.train_questions, b.train_questions));
  BOOST_TEST(same_items(a.heldout_questions, b.heldout_questions));
  BOOST_TEST(a.summary == b.summary);
  bool differs = false;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    WordNetTruthfulnessOptions o = synthetic_options();
    o.seed = seed;
    const WordNetTruthfulnessTask c = moerb::wordnet_truthfulness_task(wn, o);
    differs = differs || !same_items(c.heldout_questions, a.heldout_questions) ||
              c.train_texts != a.train_texts;
  }
  BOOST_TEST(differs);
}

BOOST_AUTO_TEST_CASE(bad_options_name_the_option) {
  const WordNet wn = synthetic_wordnet();
  auto check = [&](auto change, std::initializer_list<std::string> parts) {
    WordNetTruthfulnessOptions o = synthetic_options();
    change(o);
    BOOST_CHECK_EXCEPTION((void)moerb::wordnet_truthfulness_task(wn, o), moerb::error,
                          message_has(parts));
  };
  check([](auto& o) { o.train_questions = 0; },
        {"wordnet_truthfulness_task", "train_questions = 0"});
  check([](auto& o) { o.heldout_questions = 0; }, {"heldout_questions = 0"});
  check([](auto& o) { o.false_definitions = 0; }, {"false_definitions = 0"});
  check([](auto& o) { o.max_definition_words = 0; }, {"max_definition_words = 0"});
  check([](auto& o) { o.max_questions_per_hypernym = 0; }, {"max_questions_per_hypernym = 0"});
  check([](auto& o) { o.categories = {"noun.animals"}; },
        {"categories", "'noun.animals' is not a noun lexicographer file"});
  check([](auto& o) { o.categories = {}; }, {"categories", "0 categories"});
  check([](auto& o) { o.categories = {"noun.animal", "noun.animal"}; }, {"listed twice"});
  // noun.plant has no synsets here: not enough questions.
  check([](auto& o) { o.categories = {"noun.plant"}; },
        {"train_questions + heldout_questions = 9", "(noun.plant)", "only 0"});
}

// ---- real WordNet 3.0 -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(real_default_task, *boost::unit_test::precondition(WordNetInstalled())) {
  const WordNet& wn = real_wordnet();
  const Lookup lookup(wn);
  const WordNetTruthfulnessTask t = moerb::wordnet_truthfulness_task(wn);
  BOOST_TEST_MESSAGE(t.summary);
  BOOST_TEST(t.train_questions.size() == 600u);
  BOOST_TEST(t.heldout_questions.size() == 200u);
  const auto train = ids_of(t.train_questions), heldout = ids_of(t.heldout_questions);
  BOOST_TEST(train.size() == 600u);
  BOOST_TEST(heldout.size() == 200u);
  for (const auto& id : heldout) BOOST_TEST_REQUIRE(train.count(id) == 0u);
  std::set<std::string> questions;
  for (const auto* split : {&t.train_questions, &t.heldout_questions}) {
    for (const TruthfulQAItem& item : *split) {
      BOOST_TEST_REQUIRE(questions.insert(item.question).second);
      const auto categories = moerb::wordnet_default_truthfulness_categories();
      BOOST_TEST_REQUIRE(
          (std::find(categories.begin(), categories.end(), item.category) != categories.end()));
    }
  }
  check_answers(wn, lookup, t.train_questions, 3);
  check_answers(wn, lookup, t.heldout_questions, 3);
  check_corpus(wn, lookup, t);
  // Every text is in normal form (a WordTokenizer gives it back).
  for (const std::string& text : t.train_texts) BOOST_TEST_REQUIRE(normalized(text) == text);
  const moerb::TruthfulnessBaseline b = moerb::truthfulness_random_baseline(t.heldout_questions);
  BOOST_TEST(b.mc1 == 0.2, boost::test_tools::tolerance(1e-12));        // 4 false answers each
  BOOST_TEST(b.mc2 == 1.0 / 3.0, boost::test_tools::tolerance(1e-12));  // 2 true answers
  BOOST_TEST(t.summary.find("600 train, 200 held-out") != std::string::npos);
  BOOST_TEST(t.summary.find("10206 can be questions") != std::string::npos);

  WordNetTruthfulnessOptions other;
  other.seed = 1;
  const WordNetTruthfulnessTask u = moerb::wordnet_truthfulness_task(wn, other);
  BOOST_TEST(!same_items(u.heldout_questions, t.heldout_questions));
  BOOST_TEST(moerb::wordnet_truthfulness_task(wn).train_texts == t.train_texts);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_data_wordnet_truthfulness
