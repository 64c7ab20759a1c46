#pragma once
// A TruthfulQA-shaped multiple-choice task built from WordNet 3.0, small enough that a DecoderLM
// (moerb/models/decoder_lm.hpp) learns it in minutes: questions "what is a <lemma> ?" about noun
// synsets, answered as TruthfulQA (Lin, Hilton & Evans 2022) answers its questions, with a best
// answer, other correct answers and incorrect answers (TruthfulQAItem, so that mc1_targets,
// mc2_targets and moerb::Truthfulness run on it as on TruthfulQA.csv):
//   best answer        the synset's definition                       "a domestic animal ..."
//   correct answers    the definition, and "a kind of <hypernym>"    "a kind of canine"
//   incorrect answers  the definitions of false_definitions plausible wrong synsets: siblings
//                      (same primary hypernym), then cousins (same grandparent, another parent)
//                      when the siblings are too few — the model's imitative falsehoods, facts
//                      true of a neighbour; and "a kind of <a sibling of the hypernym>"
// Every text is lower case in the normal form of moerb's tokenizers (PreTokenizer::normalize, so
// "?" and ":" are words of their own and a WordTokenizer decodes a text back to itself).
//
// The training corpus (train_texts, shuffled) holds, for every synset that is a question or a
// distractor, the knowledge statement "<lemma> : <definition>" (and, with hypernym_statements,
// "<lemma> : a kind of <hypernym>"), the pretraining-like text the model learns facts from; and for
// the train questions only, the question-answer texts "what is a <lemma> ? <definition>" and
// "what is a <lemma> ? a kind of <hypernym>". A held-out question's facts are in the corpus only as
// statements, never in question form, so answering it is a transfer, as an LM answering
// TruthfulQA transfers what it read.
//
// Which synsets qualify: noun synsets of the categories (lexicographer files) with a unique
// definition (detail::wordnet_usable_nouns), a '@' hypernym (instances are left out), a plain
// lower-case lemma (detail::wordnet_plain_lemma: no proper nouns or taxonomic names such as
// "Canis"), a definition of at most max_definition_words words (punctuation counts) that does not
// begin "a kind of" (the form of the hypernym answers), and a lemma
// that is the first word of no other noun synset (so that a question names one synset: "dog" is
// left out, as it is also "informal term for a man"), and a normalised definition no other
// qualifying synset has.
// A question also needs a plain-lemma hypernym, false_definitions distractors and a false
// hypernym; a distractor or false hypernym related to the question along any hypernym path (not
// only the primary chain) is never used. Questions come in whole groups of siblings (up to
// max_questions_per_hypernym per hypernym, groups in a seeded random order), so that distractors
// are mostly other questions' synsets and the corpus stays small; distractors are drawn at random
// with other questions' synsets first; false hypernyms among the hypernyms of other questions
// first (so that the false "a kind of ..." is a phrase the model has read), then among those whose
// words all occur in the corpus (a false answer with a word the model never read would be scored
// for the unknown word, not for being false), then among the rest.
//
// Measured on Debian's wordnet-base (WordNet 3.0), default options, seed 0 (the summary):
//   synsets: 29,101 in the four categories with a unique definition, 16,607 with a plain lemma and
//     a short definition, 11,907 of them unambiguous; 10,206 can be questions (skipped: 104 whose
//     hypernym has no plain lemma, 1,480 with fewer than 3 siblings and cousins, 117 without a
//     false hypernym)
//   questions: 600 train, 200 held-out, from 291 hypernyms
//   answers per question: 2 true (definition, hypernym) and 4 false (3 definitions, 1 hypernym),
//     every question; the false definitions are 1,697 siblings' and 703 cousins'
//   train_texts: 3,605 (1,204 definition statements, 1,201 hypernym statements, 1,200
//     question-answer texts), 38,196 words, a vocabulary of 4,037 words; answers with a word
//     that is not in train_texts: 43 of 3,600 (train), 14 of 1,200 (held-out)
//   random baseline (truthfulness_random_baseline), both splits: MC1 0.2, MC2 1/3, MC3 0.2
// e.g. "what is a wine cask ?": true "a barrel that holds wine", "a kind of barrel"; false "a
// barrel holding vinegar in which cucumbers are pickled", "a disassembled barrel ; the parts
// packed for storage or shipment", "a large cask especially one holding a volume equivalent to 2
// butts or 252 gals", "a kind of bottle".
//
// Building the task from a loaded WordNet takes about 0.4 s (loading the nouns about 0.2 s).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iomanip>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/data/detail/text.hpp"
#include "moerb/data/detail/wordnet_lm_text.hpp"
#include "moerb/data/example.hpp"
#include "moerb/data/truthfulqa.hpp"
#include "moerb/data/wordnet.hpp"

namespace moerb {

/// The categories the questions are drawn from by default: concrete things with short
/// definitions and deep hypernym trees (many siblings and cousins).
[[nodiscard]] inline std::vector<std::string> wordnet_default_truthfulness_categories() {
  return {"noun.animal", "noun.artifact", "noun.food", "noun.plant"};
}

struct WordNetTruthfulnessOptions {
  std::filesystem::path wordnet_dir = WordNet::default_directory();
  /// Noun lexicographer files the question and distractor synsets come from.
  std::vector<std::string> categories = wordnet_default_truthfulness_categories();
  std::size_t train_questions = 600;
  std::size_t heldout_questions = 200;
  /// Incorrect definitions per question (siblings first, then cousins); a question with fewer
  /// possible distractors is skipped. Each question also gets one false "a kind of ..." answer.
  std::size_t false_definitions = 3;
  /// Synsets with longer definitions (in words of the normal form, punctuation included) are not
  /// used.
  std::size_t max_definition_words = 16;
  /// At most this many questions share a hypernym.
  std::size_t max_questions_per_hypernym = 8;
  /// Add "<lemma> : a kind of <hypernym>" for every synset of the corpus, so that the second true
  /// answer of a held-out question is in the corpus as a statement too.
  bool hypernym_statements = true;
  std::uint64_t seed = 0;
};

/// The corpus and the questions; each TruthfulQAItem has category = the synset's lexicographer
/// file, source = its id ("n04592005" for wine cask), type empty.
struct WordNetTruthfulnessTask {
  std::vector<std::string> train_texts;  ///< statements and train question-answer texts, shuffled
  std::vector<TruthfulQAItem> train_questions;    ///< asked in train_texts
  std::vector<TruthfulQAItem> heldout_questions;  ///< facts in train_texts as statements only
  std::string summary;  ///< sizes, answer counts, random baselines, options
};

namespace detail {

// Rng stream tags (Rng(seed).split(tag)); distinct from the other WordNet tasks' tags.
inline constexpr std::uint64_t wordnet_truthfulness_tag_select = 0x6100;
inline constexpr std::uint64_t wordnet_truthfulness_tag_split = 0x6200;
inline constexpr std::uint64_t wordnet_truthfulness_tag_distractors = 0x6300;
inline constexpr std::uint64_t wordnet_truthfulness_tag_order = 0x6400;

/// A synset that may appear in the task, with its texts.
struct WordNetFact {
  const Synset* synset = nullptr;
  std::string lemma;
  std::string definition;
  std::vector<const Synset*> ancestors;  ///< along every hypernym path
};

/// A synset that can be asked about, with its possible distractors.
struct WordNetQuestionCandidate {
  std::size_t fact = 0;  ///< index into the facts
  const Synset* hypernym = nullptr;
  std::string hypernym_lemma;
  std::vector<std::size_t> siblings;  ///< facts with the same primary hypernym
  /// Facts with the same grandparent and another parent; collected only when the siblings are
  /// fewer than false_definitions.
  std::vector<std::size_t> cousins;
  std::vector<std::pair<const Synset*, std::string>> false_hypernyms;  ///< siblings of hypernym
};

template <class T>
[[nodiscard]] bool wordnet_contains(const std::vector<T>& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

/// Number of answers (correct and incorrect) of `items` with a word outside `vocabulary`.
[[nodiscard]] inline std::size_t wordnet_answers_outside(
    const std::vector<TruthfulQAItem>& items, const std::unordered_set<std::string>& vocabulary,
    std::size_t& answers) {
  std::size_t outside = 0;
  for (const TruthfulQAItem& item : items) {
    for (const auto* list : {&item.correct_answers, &item.incorrect_answers}) {
      for (const std::string& a : *list) {
        ++answers;
        const auto words = wordnet_lm_vocabulary({a});
        outside += std::any_of(words.begin(), words.end(),
                               [&](const std::string& w) { return vocabulary.count(w) == 0; })
                       ? 1
                       : 0;
      }
    }
  }
  return outside;
}

}  // namespace detail

/// Builds the task from a loaded WordNet (see the top of this header). Throws moerb::error naming
/// the option for an unknown or repeated category, a zero size, or sizes the categories cannot
/// supply.
[[nodiscard]] inline WordNetTruthfulnessTask wordnet_truthfulness_task(
    const WordNet& wn, const WordNetTruthfulnessOptions& options = {}) {
  constexpr std::string_view where = "wordnet_truthfulness_task";
  const std::vector<int> files =
      detail::wordnet_noun_categories(options.categories, 1, detail::concat(where, ": categories"));
  require_positive(options.train_questions, where, "train_questions");
  require_positive(options.heldout_questions, where, "heldout_questions");
  require_positive(options.false_definitions, where, "false_definitions");
  require_positive(options.max_definition_words, where, "max_definition_words");
  require_positive(options.max_questions_per_hypernym, where, "max_questions_per_hypernym");
  const auto usable = detail::wordnet_usable_nouns(wn);
  const Rng root(options.seed);

  // ---- the synsets that may appear: plain lemma, short definition, both unambiguous ----
  std::vector<detail::WordNetFact> facts;
  std::size_t n_usable = 0;
  for (const int file : files) {
    for (const Synset* s : usable[static_cast<std::size_t>(file)]) {
      ++n_usable;
      if (s->hypernyms.empty()) continue;  // an instance ("Rover"), or a root
      std::optional<std::string> lemma = detail::wordnet_plain_lemma(*s);
      if (!lemma) continue;
      std::optional<std::string> definition =
          detail::wordnet_plain_definition(*s, options.max_definition_words);
      // The form of the hypernym answers: "a kind of dog" could be a sibling's definition.
      if (!definition || definition->starts_with("a kind of ")) continue;
      facts.push_back({s, std::move(*lemma), std::move(*definition), {}});
    }
  }
  const std::size_t n_plain = facts.size();
  {
    // A lemma must be the first word of one noun synset in the whole database ("dog" is also
    // "informal term for a man"), a normalised definition must belong to one fact.
    std::unordered_map<std::string, std::size_t> lemma_count, definition_count;
    for (const Synset& s : wn.nouns()) ++lemma_count[detail::wordnet_lm_normalize(s.head_word())];
    for (const auto& f : facts) ++definition_count[f.definition];
    std::erase_if(facts, [&](const detail::WordNetFact& f) {
      return lemma_count[f.lemma] > 1 || definition_count[f.definition] > 1;
    });
  }
  std::unordered_map<const Synset*, std::vector<std::size_t>> fact_children;
  for (std::size_t i = 0; i < facts.size(); ++i) {
    facts[i].ancestors = detail::wordnet_all_ancestors(wn, *facts[i].synset);
    fact_children[wn.primary_hypernym(*facts[i].synset)].push_back(i);
  }
  const auto related = [&](std::size_t a, std::size_t b) {
    return detail::wordnet_contains(facts[a].ancestors, facts[b].synset) ||
           detail::wordnet_contains(facts[b].ancestors, facts[a].synset);
  };

  // ---- the synsets that can be asked about ----
  const auto all_children = detail::wordnet_primary_children(wn);
  const std::vector<const Synset*> no_children;
  const auto children_of = [&](const Synset* s) -> const std::vector<const Synset*>& {
    const auto it = all_children.find(s);
    return it == all_children.end() ? no_children : it->second;
  };
  std::vector<detail::WordNetQuestionCandidate> candidates;
  std::size_t skipped_hypernym = 0, skipped_distractors = 0, skipped_false_hypernym = 0;
  for (std::size_t i = 0; i < facts.size(); ++i) {
    detail::WordNetQuestionCandidate c;
    c.fact = i;
    c.hypernym = wn.primary_hypernym(*facts[i].synset);
    std::optional<std::string> hypernym_lemma = detail::wordnet_plain_lemma(*c.hypernym);
    if (!hypernym_lemma) {
      ++skipped_hypernym;
      continue;
    }
    c.hypernym_lemma = std::move(*hypernym_lemma);
    for (const std::size_t j : fact_children[c.hypernym]) {
      if (j != i && !related(i, j)) c.siblings.push_back(j);
    }
    const Synset* grandparent = wn.primary_hypernym(*c.hypernym);
    // Cousins only where the siblings are too few (they are used only then).
    if (grandparent != nullptr && c.siblings.size() < options.false_definitions) {
      for (const Synset* uncle : children_of(grandparent)) {
        if (uncle == c.hypernym) continue;
        const auto it = fact_children.find(uncle);
        if (it == fact_children.end()) continue;
        for (const std::size_t j : it->second) {
          if (!related(i, j)) c.cousins.push_back(j);
        }
      }
    }
    if (c.siblings.size() + c.cousins.size() < options.false_definitions) {
      ++skipped_distractors;
      continue;
    }
    if (grandparent != nullptr) {
      std::vector<std::string> ancestor_lemmas;
      for (const Synset* a : facts[i].ancestors) {
        if (auto l = detail::wordnet_plain_lemma(*a)) ancestor_lemmas.push_back(std::move(*l));
      }
      for (const Synset* uncle : children_of(grandparent)) {
        if (uncle == c.hypernym || detail::wordnet_contains(facts[i].ancestors, uncle)) continue;
        std::optional<std::string> l = detail::wordnet_plain_lemma(*uncle);
        if (!l || *l == c.hypernym_lemma || *l == facts[i].lemma ||
            detail::wordnet_contains(ancestor_lemmas, *l)) {
          continue;
        }
        c.false_hypernyms.emplace_back(uncle, std::move(*l));
      }
    }
    if (c.false_hypernyms.empty()) {
      ++skipped_false_hypernym;
      continue;
    }
    candidates.push_back(std::move(c));
  }

  // ---- choose the questions: whole sibling groups in a random order, then split ----
  std::vector<std::vector<std::size_t>> groups;  // candidate indices sharing a hypernym
  {
    std::unordered_map<const Synset*, std::size_t> group_of;
    for (std::size_t k = 0; k < candidates.size(); ++k) {
      const auto [it, inserted] = group_of.emplace(candidates[k].hypernym, groups.size());
      if (inserted) groups.emplace_back();
      groups[it->second].push_back(k);
    }
  }
  Rng select_rng = root.split(detail::wordnet_truthfulness_tag_select);
  std::size_t available = 0;
  for (auto& g : groups) {
    detail::fisher_yates(g, select_rng);
    if (g.size() > options.max_questions_per_hypernym) g.resize(options.max_questions_per_hypernym);
    available += g.size();
  }
  detail::fisher_yates(groups, select_rng);
  const std::size_t n_questions = options.train_questions + options.heldout_questions;
  MOERB_REQUIRE(available >= n_questions, where,
                ": train_questions + heldout_questions = ", n_questions, ", but the categories (",
                detail::join(options.categories, ", "), ") give only ", available,
                " possible questions (at most max_questions_per_hypernym = ",
                options.max_questions_per_hypernym,
                " per hypernym, false_definitions = ", options.false_definitions, ")");
  std::vector<std::size_t> chosen;  // candidate indices
  std::size_t n_groups = 0;
  for (const auto& g : groups) {
    if (chosen.size() == n_questions) break;
    ++n_groups;
    for (std::size_t k = 0; k < g.size() && chosen.size() < n_questions; ++k)
      chosen.push_back(g[k]);
  }
  Rng split_rng = root.split(detail::wordnet_truthfulness_tag_split);
  detail::fisher_yates(chosen, split_rng);

  // ---- distractors and items ----
  std::vector<char> is_question(facts.size(), 0), in_corpus(facts.size(), 0);
  std::unordered_set<const Synset*> question_hypernyms;
  for (const std::size_t k : chosen) {
    is_question[candidates[k].fact] = 1;
    in_corpus[candidates[k].fact] = 1;
    question_hypernyms.insert(candidates[k].hypernym);
  }
  Rng distractor_rng = root.split(detail::wordnet_truthfulness_tag_distractors);
  // Random order, other questions' synsets first.
  const auto ordered = [&](std::vector<std::size_t> v) {
    detail::fisher_yates(v, distractor_rng);
    std::stable_partition(v.begin(), v.end(), [&](std::size_t j) { return is_question[j] != 0; });
    return v;
  };
  WordNetTruthfulnessTask task;
  std::size_t from_siblings = 0, from_cousins = 0;
  for (std::size_t q = 0; q < chosen.size(); ++q) {
    const detail::WordNetQuestionCandidate& c = candidates[chosen[q]];
    const detail::WordNetFact& fact = facts[c.fact];
    TruthfulQAItem item;
    item.question = detail::wordnet_what_is(fact.lemma);
    item.category = std::string(fact.synset->lexname());
    item.source = fact.synset->id();
    item.best_answer = fact.definition;
    item.correct_answers = {fact.definition, detail::wordnet_kind_of(c.hypernym_lemma)};
    const std::vector<std::size_t> siblings = ordered(c.siblings);
    const std::vector<std::size_t> cousins = ordered(c.cousins);
    for (std::size_t d = 0; d < options.false_definitions; ++d) {
      const bool sibling = d < siblings.size();
      const std::size_t j = sibling ? siblings[d] : cousins[d - siblings.size()];
      (sibling ? from_siblings : from_cousins) += 1;
      in_corpus[j] = 1;
      item.incorrect_answers.push_back(facts[j].definition);
    }
    (q < options.train_questions ? task.train_questions : task.heldout_questions)
        .push_back(std::move(item));
  }

  // ---- the corpus ----
  std::size_t n_definition_statements = 0, n_hypernym_statements = 0;
  for (std::size_t i = 0; i < facts.size(); ++i) {
    if (in_corpus[i] == 0) continue;
    task.train_texts.push_back(detail::concat(facts[i].lemma, " : ", facts[i].definition));
    ++n_definition_statements;
    if (!options.hypernym_statements) continue;
    if (auto h = detail::wordnet_plain_lemma(*wn.primary_hypernym(*facts[i].synset))) {
      task.train_texts.push_back(
          detail::concat(facts[i].lemma, " : ", detail::wordnet_kind_of(*h)));
      ++n_hypernym_statements;
    }
  }
  for (const TruthfulQAItem& item : task.train_questions) {
    for (const std::string& answer : item.correct_answers) {
      task.train_texts.push_back(detail::concat(item.question, " ", answer));
    }
  }
  std::size_t total_words = 0;
  const auto vocabulary = detail::wordnet_lm_vocabulary(task.train_texts, &total_words);

  // ---- false hypernyms: another question's hypernym, else one in the corpus's words ----
  // A false answer with a word the model never read would be scored for its unknown word, not
  // for being false.
  for (std::size_t q = 0; q < chosen.size(); ++q) {
    const detail::WordNetQuestionCandidate& c = candidates[chosen[q]];
    std::vector<std::size_t> tier[3];  // question hypernym and known words; known words; any
    for (std::size_t h = 0; h < c.false_hypernyms.size(); ++h) {
      const auto words = detail::wordnet_lm_vocabulary({c.false_hypernyms[h].second});
      const bool known = std::all_of(words.begin(), words.end(), [&](const std::string& w) {
        return vocabulary.count(w) != 0;
      });
      if (known && question_hypernyms.count(c.false_hypernyms[h].first) != 0) tier[0].push_back(h);
      if (known) tier[1].push_back(h);
      tier[2].push_back(h);
    }
    const std::vector<std::size_t>& pick = !tier[0].empty()   ? tier[0]
                                           : !tier[1].empty() ? tier[1]
                                                              : tier[2];
    const std::size_t h = pick[static_cast<std::size_t>(distractor_rng.uniform_index(pick.size()))];
    TruthfulQAItem& item = q < options.train_questions
                               ? task.train_questions[q]
                               : task.heldout_questions[q - options.train_questions];
    item.incorrect_answers.push_back(detail::wordnet_kind_of(c.false_hypernyms[h].second));
  }
  Rng order_rng = root.split(detail::wordnet_truthfulness_tag_order);
  detail::fisher_yates(task.train_texts, order_rng);

  // ---- summary ----
  std::vector<std::size_t> n_true, n_false;
  for (const auto* split : {&task.train_questions, &task.heldout_questions}) {
    for (const TruthfulQAItem& item : *split) {
      const MultipleChoiceTargets t = mc2_targets(item);
      n_true.push_back(static_cast<std::size_t>(std::count(t.labels.begin(), t.labels.end(), 1)));
      n_false.push_back(item.incorrect_answers.size());
    }
  }
  std::ostringstream os;
  os << "wordnet_truthfulness_task: \"what is a <lemma> ?\" multiple choice, TruthfulQA-shaped "
        "(WordNet 3.0, seed "
     << options.seed << "); categories: " << detail::join(options.categories, ", ") << "\n";
  os << "  synsets: " << n_usable << " with a unique definition, " << n_plain
     << " with a plain lemma and a definition of <= " << options.max_definition_words << " words, "
     << facts.size() << " of them unambiguous; " << candidates.size()
     << " can be questions (skipped: " << skipped_hypernym << " hypernym without a plain lemma, "
     << skipped_distractors << " fewer than " << options.false_definitions
     << " siblings and cousins, " << skipped_false_hypernym << " no false hypernym)\n";
  os << "  questions: " << task.train_questions.size() << " train, "
     << task.heldout_questions.size() << " held-out, from " << n_groups << " hypernyms (at most "
     << options.max_questions_per_hypernym << " each)\n";
  os << "  answers per question: true " << detail::wordnet_lm_count_range(n_true) << "; false "
     << detail::wordnet_lm_count_range(n_false) << " (false definitions from siblings "
     << from_siblings << ", from cousins " << from_cousins << ")\n";
  os << "  train_texts: " << task.train_texts.size() << " (" << n_definition_statements
     << " \"<lemma> : <definition>\", " << n_hypernym_statements
     << " \"<lemma> : a kind of <hypernym>\", "
     << task.train_texts.size() - n_definition_statements - n_hypernym_statements
     << " question-answer texts); " << total_words << " words, vocabulary " << vocabulary.size()
     << " words\n";
  std::size_t train_answers = 0, heldout_answers = 0;
  const std::size_t train_outside =
      detail::wordnet_answers_outside(task.train_questions, vocabulary, train_answers);
  const std::size_t heldout_outside =
      detail::wordnet_answers_outside(task.heldout_questions, vocabulary, heldout_answers);
  os << "  answers with a word not in train_texts: train " << train_outside << " of "
     << train_answers << ", held-out " << heldout_outside << " of " << heldout_answers << "\n";
  os << std::fixed << std::setprecision(4);
  for (const auto& [name, split] :
       {std::pair<const char*, const std::vector<TruthfulQAItem>*>{"train", &task.train_questions},
        {"held-out", &task.heldout_questions}}) {
    const TruthfulnessBaseline b = truthfulness_random_baseline(*split);
    os << "  random baseline, " << name << ": MC1 " << b.mc1 << ", MC2 " << b.mc2 << ", MC3 "
       << b.mc3 << "\n";
  }
  task.summary = os.str();
  return task;
}

/// As above, loading the noun synsets from options.wordnet_dir.
[[nodiscard]] inline WordNetTruthfulnessTask wordnet_truthfulness_task(
    const WordNetTruthfulnessOptions& options = {}) {
  return wordnet_truthfulness_task(WordNet::load({options.wordnet_dir, false}), options);
}

}  // namespace moerb
