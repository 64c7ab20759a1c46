// Tests for include/moerb/data/wordnet.hpp
//
// The parser is checked on a synthetic snippet written in the data.noun / data.verb format; the
// tasks on the real WordNet 3.0 files when Debian's wordnet-base is installed (parsed once).
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "data/data_testing.hpp"
#include "data/wordnet_testing.hpp"
#include "moerb/data/wordnet.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_data_wordnet {

using moerb::Synset;
using moerb::TextDataset;
using moerb::WordNet;
using moerb::WordNetTask;
using moerb::test::message_has;
using moerb::test::noun_synset;
using moerb::test::real_wordnet;
using moerb::test::ScratchDir;
using moerb::test::WordNetInstalled;
using Strings = std::vector<std::string>;

namespace {

// Synthetic synsets in the real file format (two trailing spaces, license lines starting with two
// spaces and a line number).
const char* const noun_snippet =
    "  1 Synthetic header standing where the license text is.  \n"
    "  2   \n"
    "00001000 03 n 01 thing 0 001 ~ 00002000 n 0000 | a made-up root; \"a thing happened\"  \n"
    "00002000 05 n 02 beast 0 furry_critter a 002 @ 00001000 n 0000 ~ 00003000 n 0000 | an "
    "invented animal (for tests); kept as one definition; \"the beast slept\"; \"a critter ran; "
    "then hid\" - Anon  \n"
    "00003000 05 n 01 hound 0 001 @ 00002000 n 0000 | a beast that barks: \"the hound howled\"  \n"
    "00004000 15 n 01 Testville 0 001 @i 00005000 n 0000 | an imaginary town  \n"
    "00005000 15 n 01 town 0 002 @ 00001000 n 0000 + 00006000 v 0101 | a settlement with a "
    "\"quoted\" word inside  \n";

const char* const verb_snippet =
    "  1 Synthetic header.  \n"
    "00006000 38 v 02 amble 0 stroll 0 001 @ 00007000 v 0000 02 + 02 00 + 08 01 | walk slowly; "
    "\"they ambled home\"  \n"
    "00007000 38 v 01 walk 0 000 01 + 02 00 | move on foot  \n";

std::vector<Synset> parse(const std::string& text, const std::string& source) {
  std::istringstream in(text);
  return moerb::read_wordnet_data(in, source);
}

WordNet synthetic_wordnet() {
  return WordNet(parse(noun_snippet, "data.noun"), parse(verb_snippet, "data.verb"));
}

std::vector<std::string> ids_of(const TextDataset& d) {
  std::vector<std::string> out;
  for (const auto& e : d.examples) out.push_back(e.id);
  return out;
}

std::set<std::string> id_set(const TextDataset& d) {
  const auto v = ids_of(d);
  return {v.begin(), v.end()};
}

bool disjoint(const std::set<std::string>& a, const std::set<std::string>& b) {
  return std::none_of(a.begin(), a.end(), [&](const std::string& x) { return b.count(x) != 0; });
}

/// Every class has exactly `per_class` examples.
void check_balanced(const TextDataset& d, std::size_t per_class) {
  for (const std::size_t c : d.label_counts()) BOOST_TEST(c == per_class);
  BOOST_TEST(d.unlabeled_count() == 0u);
  BOOST_TEST(d.majority_fraction() == 1.0 / static_cast<double>(d.label_names.size()),
             boost::test_tools::tolerance(1e-12));
}

/// Same ids and texts in the same order.
bool same_examples(const TextDataset& a, const TextDataset& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a.examples[i].id != b.examples[i].id || a.examples[i].text_a != b.examples[i].text_a ||
        a.examples[i].label != b.examples[i].label) {
      return false;
    }
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(wordnet)

BOOST_AUTO_TEST_CASE(lexicographer_file_names) {
  BOOST_TEST(moerb::wordnet_lexicographer_files.size() == 45u);
  BOOST_TEST(moerb::wordnet_lexname(0) == "adj.all");
  BOOST_TEST(moerb::wordnet_lexname(5) == "noun.animal");
  BOOST_TEST(moerb::wordnet_lexname(28) == "noun.time");
  BOOST_TEST(moerb::wordnet_lexname(44) == "adj.ppl");
  BOOST_TEST(moerb::wordnet_lexfile_number("noun.plant").value() == 20);
  BOOST_TEST(!moerb::wordnet_lexfile_number("noun.plants").has_value());
  BOOST_CHECK_EXCEPTION((void)moerb::wordnet_lexname(45), moerb::error,
                        message_has({"lex_filenum = 45"}));
}

BOOST_AUTO_TEST_CASE(gloss_splitting) {
  const moerb::WordNetGloss g = moerb::split_wordnet_gloss(
      "a thing; used loosely; \"first example\"; \"with; semicolon\"--Someone; note: \"colon "
      "example\"");
  BOOST_TEST(g.definition == "a thing; used loosely; note");
  BOOST_TEST(g.examples == (Strings{"first example", "with; semicolon", "colon example"}),
             boost::test_tools::per_element());
  const moerb::WordNetGloss plain = moerb::split_wordnet_gloss("the word \"foo\" in use");
  BOOST_TEST(plain.definition == "the word \"foo\" in use");
  BOOST_TEST(plain.examples.empty());
  const moerb::WordNetGloss unbalanced = moerb::split_wordnet_gloss("def; \"never closed");
  BOOST_TEST(unbalanced.definition == "def");
  BOOST_TEST(unbalanced.examples == (Strings{"never closed"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(parses_synthetic_noun_and_verb_files) {
  const std::vector<Synset> nouns = parse(noun_snippet, "data.noun");
  BOOST_REQUIRE(nouns.size() == 5u);
  const Synset& beast = nouns[1];
  BOOST_TEST(beast.offset == 2000u);
  BOOST_TEST(beast.lex_filenum == 5u);
  BOOST_TEST(beast.lexname() == "noun.animal");
  BOOST_TEST(beast.ss_type == 'n');
  BOOST_TEST(beast.id() == "n00002000");
  BOOST_TEST(beast.words == (Strings{"beast", "furry_critter"}), boost::test_tools::per_element());
  BOOST_TEST(beast.head_word() == "beast");
  BOOST_TEST(beast.hypernyms == (std::vector<std::uint32_t>{1000}),
             boost::test_tools::per_element());
  BOOST_TEST(beast.instance_hypernyms.empty());
  BOOST_TEST(beast.definition == "an invented animal (for tests); kept as one definition");
  BOOST_TEST(beast.examples == (Strings{"the beast slept", "a critter ran; then hid"}),
             boost::test_tools::per_element());
  BOOST_TEST(nouns[2].definition == "a beast that barks");
  BOOST_TEST(nouns[2].examples == (Strings{"the hound howled"}), boost::test_tools::per_element());
  BOOST_TEST(nouns[3].instance_hypernyms == (std::vector<std::uint32_t>{5000}),
             boost::test_tools::per_element());
  BOOST_TEST(nouns[3].hypernyms.empty());
  BOOST_TEST(nouns[4].definition == "a settlement with a \"quoted\" word inside");

  const std::vector<Synset> verbs = parse(verb_snippet, "data.verb");
  BOOST_REQUIRE(verbs.size() == 2u);
  BOOST_TEST(verbs[0].ss_type == 'v');
  BOOST_TEST(verbs[0].lexname() == "verb.motion");
  BOOST_TEST(verbs[0].id() == "v00006000");
  BOOST_TEST(verbs[0].definition == "walk slowly");
  BOOST_TEST(verbs[0].examples == (Strings{"they ambled home"}), boost::test_tools::per_element());
  BOOST_TEST(verbs[1].hypernyms.empty());
}

BOOST_AUTO_TEST_CASE(malformed_lines_name_file_and_line) {
  const std::string header = "  1 header  \n";
  const std::string good = "00001000 03 n 01 thing 0 000 | a root  \n";
  auto check = [&](const std::string& bad, const std::string& what) {
    BOOST_CHECK_EXCEPTION((void)parse(header + good + bad, "data.noun"), moerb::error,
                          message_has({"data.noun:3:", "malformed WordNet synset line", what}));
  };
  check("0000x000 03 n 01 a 0 000 | g\n", "synset_offset '0000x000'");
  check("00002000 45 n 01 a 0 000 | g\n", "lex_filenum 45");
  check("00002000 03 q 01 a 0 000 | g\n", "ss_type 'q'");
  check("00002000 03 n 00 | g\n", "w_cnt is 0");
  check("00002000 03 n 02 a 0 000 | g\n", "lex_id '|' is not a hexadecimal number of 1 digits");
  // p_cnt says 2, one pointer follows: the '|' is read as the second pointer's symbol.
  check("00002000 03 n 01 a 0 002 @ 00001000 n 0000 | g\n", "pointer's synset_offset 'g'");
  check("00002000 03 n 01 a 0 001 @ 00001000 x 0000 | g\n", "pointer pos 'x'");
  check("00002000 03 n 01 a 0 000 a root without bar\n", "expected '|'");
  check("00002000 03 n 01 a 0 000\n", "line ends before the '|'");
  BOOST_CHECK_EXCEPTION((void)parse("00006000 38 v 01 go 0 000 01 x 02 00 | g\n", "data.verb"),
                        moerb::error,
                        message_has({"data.verb:1:", "verb frame does not start with '+'"}));
  BOOST_CHECK_EXCEPTION((void)parse("00006000 38 v 01 go 0 000 | g\n", "data.verb"), moerb::error,
                        message_has({"data.verb:1:", "f_cnt '|'"}));
}

BOOST_AUTO_TEST_CASE(database_lookup_and_hypernym_chains) {
  const WordNet wn = synthetic_wordnet();
  BOOST_TEST(wn.nouns().size() == 5u);
  BOOST_TEST(wn.verbs().size() == 2u);
  const Synset* hound = wn.find_noun(3000);
  BOOST_REQUIRE(hound != nullptr);
  BOOST_TEST(wn.find_noun(6000) == nullptr);
  BOOST_TEST(wn.find_verb(6000)->words[1] == "stroll");
  Strings chain;
  for (const Synset* s : wn.hypernym_chain(*hound)) chain.push_back(s->head_word());
  BOOST_TEST(chain == (Strings{"hound", "beast", "thing"}), boost::test_tools::per_element());
  // An instance follows its '@i' pointer.
  BOOST_TEST(wn.primary_hypernym(*wn.find_noun(4000))->head_word() == "town");
  BOOST_TEST(wn.primary_hypernym(*wn.find_noun(1000)) == nullptr);
  BOOST_TEST(wn.hypernym_chain(*wn.find_verb(6000)).size() == 2u);

  std::vector<Synset> dangling = parse(noun_snippet, "data.noun");
  dangling.erase(dangling.begin());  // "thing" is gone, beast's hypernym dangles
  const WordNet broken(std::move(dangling));
  BOOST_CHECK_EXCEPTION((void)broken.hypernym_chain(*broken.find_noun(3000)), moerb::error,
                        message_has({"n00002000", "hypernym offset 1000"}));
  std::vector<Synset> twice = parse(noun_snippet, "data.noun");
  twice.push_back(twice.front());
  BOOST_CHECK_EXCEPTION(WordNet{std::move(twice)}, moerb::error,
                        message_has({"two noun synsets have offset 1000"}));
}

BOOST_AUTO_TEST_CASE(loading_from_a_directory) {
  ScratchDir dir;
  dir.write("data.noun", noun_snippet);
  BOOST_TEST(WordNet::available(dir.path()));
  const WordNet nouns_only = WordNet::load({dir.path(), false});
  BOOST_TEST(nouns_only.nouns().size() == 5u);
  BOOST_CHECK_EXCEPTION((void)WordNet::load({dir.path(), true}), moerb::error,
                        message_has({"data.verb", "wordnet-base"}));
  ScratchDir empty;
  BOOST_TEST(!WordNet::available(empty.path()));
  BOOST_CHECK_EXCEPTION(
      (void)WordNet::load({empty.path(), false}), moerb::error,
      message_has({"data.noun", "apt-get install wordnet-base", "WordNet::Options::dir"}));
  dir.write("data.verb", std::string(verb_snippet) + "00009000 38 v 01 broken\n");
  BOOST_CHECK_EXCEPTION((void)WordNet::load({dir.path(), true}), moerb::error,
                        message_has({"data.verb:4:"}));
}

BOOST_AUTO_TEST_CASE(task_options_are_validated) {
  const WordNet wn = synthetic_wordnet();
  moerb::WordNetTopicOptions topic;
  topic.categories = {"noun.animal", "noun.animals"};
  BOOST_CHECK_EXCEPTION((void)moerb::wordnet_topic_task(wn, topic), moerb::error,
                        message_has({"wordnet_topic_task",
                                     "'noun.animals' is not a noun "
                                     "lexicographer file",
                                     "noun.act"}));
  topic.categories = {"noun.animal", "verb.motion"};
  BOOST_CHECK_EXCEPTION((void)moerb::wordnet_topic_task(wn, topic), moerb::error,
                        message_has({"'verb.motion' is not a noun"}));
  topic.categories = {"noun.animal", "noun.animal"};
  BOOST_CHECK_EXCEPTION((void)moerb::wordnet_topic_task(wn, topic), moerb::error,
                        message_has({"listed twice"}));
  topic.categories = {"noun.animal"};
  BOOST_CHECK_EXCEPTION((void)moerb::wordnet_topic_task(wn, topic), moerb::error,
                        message_has({"1 categories, expected at least 2"}));
  topic.categories = {"noun.animal", "noun.location"};
  topic.test_fraction = 1.0;
  BOOST_CHECK_EXCEPTION((void)moerb::wordnet_topic_task(wn, topic), moerb::error,
                        message_has({"test_fraction = 1"}));
  moerb::WordNetOodOptions ood;
  ood.categories = {"noun.animal", "noun.location"};
  ood.ood_categories = {"noun.location"};
  BOOST_CHECK_EXCEPTION((void)moerb::wordnet_ood_task(wn, ood), moerb::error,
                        message_has({"OOD category 'noun.location' is also an in-distribution"}));
  moerb::WordNetSubpopulationOptions sub;
  sub.categories = {"noun.animal", "noun.location"};
  sub.min_subpopulation_size = 1;
  BOOST_CHECK_EXCEPTION((void)moerb::wordnet_subpopulation_task(wn, sub), moerb::error,
                        message_has({"category noun.animal has 1 subpopulation(s)"}));
  moerb::WordNetStyleShiftOptions style;
  style.categories = {"noun.animal", "noun.location"};
  BOOST_CHECK_EXCEPTION((void)moerb::wordnet_style_shift_task(wn, style), moerb::error,
                        message_has({"no synset with an example sentence"}));
}

BOOST_AUTO_TEST_CASE(tiny_synthetic_topic_task) {
  const WordNet wn = synthetic_wordnet();
  moerb::WordNetTopicOptions o;
  o.categories = {"noun.animal", "noun.location"};
  o.dev_fraction = 0.0;
  o.test_fraction = 0.5;
  const WordNetTask t = moerb::wordnet_topic_task(wn, o);
  BOOST_TEST(t.train.size() == 2u);
  BOOST_TEST(t.test.size() == 2u);
  BOOST_TEST(t.dev.empty());
  BOOST_TEST(t.summary.find("wordnet_topic/train: 2 examples") != std::string::npos);
}

// ---- real WordNet 3.0 -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(real_database_parses, *boost::unit_test::precondition(WordNetInstalled())) {
  const WordNet& wn = real_wordnet();
  BOOST_TEST(wn.nouns().size() == 82115u);  // WordNet 3.0
  BOOST_TEST(wn.verbs().size() == 13767u);
  const Synset* entity = wn.find_noun(1740);
  BOOST_REQUIRE(entity != nullptr);
  BOOST_TEST(entity->head_word() == "entity");
  BOOST_TEST(entity->lexname() == "noun.Tops");
  std::size_t with_examples = 0;
  for (const Synset& s : wn.nouns()) {
    with_examples += s.examples.empty() ? 0 : 1;
    BOOST_TEST_REQUIRE(!s.definition.empty());
  }
  BOOST_TEST(with_examples > 8000u);
}

BOOST_AUTO_TEST_CASE(real_topic_task, *boost::unit_test::precondition(WordNetInstalled())) {
  const WordNet& wn = real_wordnet();
  const WordNetTask t = moerb::wordnet_topic_task(wn);
  BOOST_TEST_MESSAGE(t.summary);
  BOOST_TEST(t.train.label_names == moerb::wordnet_default_topic_categories(),
             boost::test_tools::per_element());
  BOOST_TEST(t.train.size() == 12800u);
  BOOST_TEST(t.dev.size() == 1600u);
  BOOST_TEST(t.test.size() == 1600u);
  check_balanced(t.train, 1600);
  check_balanced(t.dev, 200);
  check_balanced(t.test, 200);
  const auto train = id_set(t.train), dev = id_set(t.dev), test = id_set(t.test);
  BOOST_TEST(train.size() == t.train.size());  // no synset twice
  BOOST_TEST(disjoint(train, test));
  BOOST_TEST(disjoint(train, dev));
  BOOST_TEST(disjoint(dev, test));
  for (const TextDataset* d : {&t.train, &t.test}) {
    for (const auto& e : d->examples) {
      const Synset& s = noun_synset(wn, e.id);
      BOOST_TEST_REQUIRE(e.label_name == std::string(s.lexname()));
      BOOST_TEST_REQUIRE(e.text_a == s.definition);
    }
  }
  BOOST_TEST(t.ood.empty());
  // Determinism: same seed → identical splits; another seed → different ones.
  BOOST_TEST(same_examples(moerb::wordnet_topic_task(wn).test, t.test));
  moerb::WordNetTopicOptions other;
  other.seed = 1;
  BOOST_TEST(!same_examples(moerb::wordnet_topic_task(wn, other).test, t.test));
}

BOOST_AUTO_TEST_CASE(real_subpopulation_task, *boost::unit_test::precondition(WordNetInstalled())) {
  const WordNet& wn = real_wordnet();
  const WordNetTask t = moerb::wordnet_subpopulation_task(wn);
  BOOST_TEST_MESSAGE(t.summary);
  BOOST_TEST(t.train.size() == 10800u);
  BOOST_TEST(t.dev.size() == 1200u);
  BOOST_TEST(t.test.size() == 4000u);
  check_balanced(t.train, 1350);
  check_balanced(t.dev, 150);
  check_balanced(t.test, 500);

  // Each subpopulation lies on one side; a synset belongs to one subpopulation.
  std::map<std::string, const moerb::WordNetSubpopulation*> group_of;
  std::map<std::string, bool> root_side;
  std::map<std::int32_t, std::pair<std::size_t, std::size_t>> sides_per_class;
  for (const auto& sub : t.subpopulations) {
    BOOST_TEST_REQUIRE(
        root_side.emplace(sub.root_id + "/" + std::to_string(sub.label), sub.target).second);
    BOOST_TEST_REQUIRE(sub.member_ids.size() >= 3u);
    (sub.target ? sides_per_class[sub.label].second : sides_per_class[sub.label].first) += 1;
    for (const auto& id : sub.member_ids) BOOST_TEST_REQUIRE(group_of.emplace(id, &sub).second);
  }
  BOOST_TEST(sides_per_class.size() == 8u);
  for (const auto& [label, counts] : sides_per_class) {
    BOOST_TEST(counts.first >= 5u);  // several subpopulations on each side
    BOOST_TEST(counts.second >= 5u);
  }
  std::set<std::string> train_groups, test_groups;
  auto check_side = [&](const TextDataset& d, bool target, std::set<std::string>& roots) {
    for (const auto& e : d.examples) {
      const auto it = group_of.find(e.id);
      BOOST_TEST_REQUIRE((it != group_of.end()));
      BOOST_TEST_REQUIRE(it->second->target == target);
      BOOST_TEST_REQUIRE(it->second->label == e.label);
      roots.insert(it->second->root_id);
      // Independent of the task's bookkeeping: the group root is an in-class ancestor.
      const Synset& s = noun_synset(wn, e.id);
      const Synset& root = noun_synset(wn, it->second->root_id);
      const auto chain = wn.hypernym_chain(s);
      BOOST_TEST_REQUIRE((std::find(chain.begin(), chain.end(), &root) != chain.end()));
      BOOST_TEST_REQUIRE(root.lex_filenum == s.lex_filenum);
    }
  };
  check_side(t.train, false, train_groups);
  check_side(t.dev, false, train_groups);
  check_side(t.test, true, test_groups);
  BOOST_TEST(disjoint(train_groups, test_groups));
  BOOST_TEST(disjoint(id_set(t.train), id_set(t.test)));
  BOOST_TEST(train_groups.size() > 100u);
  BOOST_TEST(test_groups.size() > 100u);

  BOOST_TEST(same_examples(moerb::wordnet_subpopulation_task(wn).train, t.train));
  moerb::WordNetSubpopulationOptions direct;
  direct.grouping = moerb::WordNetGrouping::direct_hypernym;
  direct.max_train_per_class = 300;
  direct.max_test_per_class = 100;
  direct.seed = 5;
  const WordNetTask d = moerb::wordnet_subpopulation_task(wn, direct);
  check_balanced(d.test, 100);
  std::map<std::string, const moerb::WordNetSubpopulation*> direct_group_of;
  for (const auto& sub : d.subpopulations) {
    for (const auto& id : sub.member_ids) direct_group_of.emplace(id, &sub);
  }
  for (const auto& e : d.test.examples) {
    const moerb::WordNetSubpopulation& sub = *direct_group_of.at(e.id);
    BOOST_TEST_REQUIRE(sub.target);
    BOOST_TEST_REQUIRE(wn.primary_hypernym(noun_synset(wn, e.id))->id() == sub.root_id);
  }
}

BOOST_AUTO_TEST_CASE(real_style_shift_task, *boost::unit_test::precondition(WordNetInstalled())) {
  const WordNet& wn = real_wordnet();
  const WordNetTask t = moerb::wordnet_style_shift_task(wn);
  BOOST_TEST_MESSAGE(t.summary);
  BOOST_TEST(t.train.size() == 12600u);
  BOOST_TEST(t.dev.size() == 1400u);
  BOOST_TEST(t.test.size() == 3500u);
  check_balanced(t.train, 1800);
  check_balanced(t.test, 500);
  const auto test = id_set(t.test);
  BOOST_TEST(test.size() == 3500u);
  BOOST_TEST(disjoint(id_set(t.train), test));
  BOOST_TEST(disjoint(id_set(t.dev), test));
  for (const auto& e : t.test.examples) {
    const Synset& s = noun_synset(wn, e.id);
    BOOST_TEST_REQUIRE(!s.examples.empty());
    BOOST_TEST_REQUIRE(e.text_a == s.examples.front());
    BOOST_TEST_REQUIRE(e.label_name == std::string(s.lexname()));
  }
  for (const auto& e : t.train.examples) {
    BOOST_TEST_REQUIRE(e.text_a == noun_synset(wn, e.id).definition);
  }
  BOOST_TEST(same_examples(moerb::wordnet_style_shift_task(wn).test, t.test));

  moerb::WordNetStyleShiftOptions all;
  all.all_examples = true;
  all.max_test_per_class = 50;
  all.max_train_per_class = 100;
  const WordNetTask a = moerb::wordnet_style_shift_task(wn, all);
  BOOST_TEST(id_set(a.test).size() == 350u);
  BOOST_TEST(a.test.size() > 350u);  // some synsets have several example sentences
}

BOOST_AUTO_TEST_CASE(real_ood_task, *boost::unit_test::precondition(WordNetInstalled())) {
  const WordNet& wn = real_wordnet();
  const WordNetTask t = moerb::wordnet_ood_task(wn);
  BOOST_TEST_MESSAGE(t.summary);
  // In-distribution part equals the topic task for the same seed.
  const WordNetTask topic = moerb::wordnet_topic_task(wn);
  BOOST_TEST(id_set(t.train) == id_set(topic.train));
  BOOST_TEST(id_set(t.test) == id_set(topic.test));
  BOOST_TEST(t.ood.size() == 1800u);
  BOOST_TEST(t.ood.label_names == t.train.label_names, boost::test_tools::per_element());
  std::map<std::string, std::size_t> origin;
  for (const auto& e : t.ood.examples) {
    BOOST_TEST_REQUIRE(e.label == -1);
    BOOST_TEST_REQUIRE(e.label_name == std::string(noun_synset(wn, e.id).lexname()));
    ++origin[e.label_name];
  }
  const Strings held_out = moerb::wordnet_default_ood_categories();
  BOOST_TEST(origin.size() == held_out.size());
  for (const auto& name : held_out) BOOST_TEST(origin[name] == 300u);
  const auto ood = id_set(t.ood);
  BOOST_TEST(disjoint(ood, id_set(t.train)));
  BOOST_TEST(disjoint(ood, id_set(t.test)));
  BOOST_TEST(same_examples(moerb::wordnet_ood_task(wn).ood, t.ood));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_data_wordnet
