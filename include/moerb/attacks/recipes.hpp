#pragma once
// Attack recipes: the published attacks as aliases over the four parts (goal × transformation ×
// constraints × search) and small factories that fill in the papers' settings. Each recipe is an
// Attack like any other, so a user can take its parts and swap one (a beam search instead of the
// greedy one, an extra language-model constraint, ...).
//
//   TextFoolerAttack<S>   Jin et al. 2020, "Is BERT Really Robust? A Strong Baseline for Natural
//                         Language Attack on Text Classification and Entailment": deletion word
//                         importance, swaps with the k nearest embedding neighbours (cos >= 0.5),
//                         part-of-speech match, stop words kept. TextFooler's Universal Sentence
//                         Encoder similarity has no counterpart here (no pretrained encoder can be
//                         downloaded); the maximum fraction of modified words bounds the change
//                         instead, hence "TextFooler-like".
//   PWWSAttack            Ren et al. 2019, "Generating Natural Language Adversarial Examples
//   through
//                         Probability Weighted Word Saliency": WordNet synonyms, words ordered by
//                         softmax([UNK] saliency) × best swap gain.
//   DeepWordBugAttack     Gao et al. 2018, "Black-box Generation of Adversarial Text Sequences to
//                         Evade Deep Learning Classifiers": [UNK] importance (their replace-one
//                         score), one character swap, substitution (QWERTY), deletion or insertion
//                         per word.
//   TextBuggerAttack<S>   Li et al. 2019, "TextBugger: Generating Adversarial Text Against
//                         Real-world Applications": deletion importance, the five bugs (space
//                         insertion, inner-character deletion, swap, homoglyph, 5 nearest
//                         embedding neighbours); their semantic-similarity filter is replaced by
//                         the modified-words bound, hence "-like".
//   RandomCorruptionAttack  no search: severity (1-5) × 10 % of the words get one random character
//                         edit each (the corruption sweeps of out-of-distribution evaluation).
//
// HotFlip (Ebrahimi et al. 2018) works on token ids with the embedding gradient: hotflip.hpp.
#include <cstddef>
#include <memory>

#include "moerb/attacks/attack.hpp"
#include "moerb/attacks/character_transformations.hpp"
#include "moerb/attacks/goal.hpp"
#include "moerb/attacks/lexical_constraints.hpp"
#include "moerb/attacks/search.hpp"
#include "moerb/attacks/transformation.hpp"
#include "moerb/attacks/word_constraints.hpp"
#include "moerb/attacks/word_embeddings.hpp"
#include "moerb/attacks/word_substitutions.hpp"
#include "moerb/attacks/wordnet_synonyms.hpp"
#include "moerb/core/error.hpp"

namespace moerb {

struct RecipeOptions {
  /// Upper bound on the fraction of the original words an attack may change.
  double max_modified_fraction = 0.3;
  /// Embedding neighbours per word (TextFooler: 50).
  std::size_t neighbours = 50;
  /// Cosine floor of an embedding neighbour (TextFooler: 0.5).
  double min_cosine = 0.5;
  /// Character-level recipes: candidates each character edit proposes per word (0: all; the
  /// papers' random edits propose 1).
  std::size_t character_candidates = 1;
};

template <FloatingScalar S>
using TextFoolerAttack =
    Attack<UntargetedClassification, EmbeddingNeighbourSwap<S>, GreedyWordSwap, StopWords,
           NoRepeatModification, MaxWordsModifiedFraction, PartOfSpeechMatch>;

using PWWSAttack = Attack<UntargetedClassification, WordNetSynonymSwap, GreedyWordSwap, StopWords,
                          NoRepeatModification, MaxWordsModifiedFraction>;

using DeepWordBugTransformation =
    CompositeTransformation<NeighbourCharacterSwap, QwertySubstitution, CharacterDeletion,
                            CharacterInsertion>;
using DeepWordBugAttack =
    Attack<UntargetedClassification, DeepWordBugTransformation, GreedyWordSwap, StopWords,
           NoRepeatModification, MaxWordsModifiedFraction>;

template <FloatingScalar S>
using TextBuggerTransformation =
    CompositeTransformation<CharacterInsertion, CharacterDeletion, NeighbourCharacterSwap,
                            HomoglyphSubstitution, EmbeddingNeighbourSwap<S>>;
template <FloatingScalar S>
using TextBuggerAttack =
    Attack<UntargetedClassification, TextBuggerTransformation<S>, GreedyWordSwap, StopWords,
           NoRepeatModification, MaxWordsModifiedFraction>;

using CorruptionTransformation = CompositeTransformation<NeighbourCharacterSwap, QwertySubstitution,
                                                         CharacterDeletion, CharacterInsertion>;
using RandomCorruptionAttack = Attack<UntargetedClassification, CorruptionTransformation,
                                      RandomCorruption, NoRepeatModification>;

namespace detail::attacks {
inline void check_recipe(const RecipeOptions& o, std::string_view recipe) {
  MOERB_REQUIRE(o.max_modified_fraction > 0 && o.max_modified_fraction <= 1, recipe,
                ": max_modified_fraction = ", o.max_modified_fraction, ", expected in (0, 1]");
}
template <class T>
void require_present(const std::shared_ptr<T>& p, std::string_view recipe, std::string_view what) {
  MOERB_REQUIRE(p != nullptr, recipe, ": no ", what, " given");
}
}  // namespace detail::attacks

/// TextFooler-like. `embeddings`: the victim's own table (WordEmbeddingIndex(table, vocabulary))
/// or one the user loads; `lexicon`: WordNet for the part-of-speech match.
template <FloatingScalar S>
[[nodiscard]] TextFoolerAttack<S> make_textfooler(
    std::shared_ptr<const WordEmbeddingIndex<S>> embeddings,
    std::shared_ptr<const WordNetSynonyms> lexicon, const RecipeOptions& o = {}) {
  detail::attacks::check_recipe(o, "make_textfooler");
  detail::attacks::require_present(embeddings, "make_textfooler", "embedding index");
  detail::attacks::require_present(lexicon, "make_textfooler", "WordNet lexicon");
  EmbeddingNeighbourSwapOptions swap;
  swap.k = o.neighbours;
  swap.min_cosine = o.min_cosine;
  return TextFoolerAttack<S>(
      UntargetedClassification{}, EmbeddingNeighbourSwap<S>(std::move(embeddings), swap),
      GreedyWordSwap{GreedyWordSwap::Options{WordImportance::deletion}}, StopWords{},
      NoRepeatModification{}, MaxWordsModifiedFraction(o.max_modified_fraction),
      PartOfSpeechMatch(std::move(lexicon)));
}

/// PWWS with WordNet synonyms.
[[nodiscard]] inline PWWSAttack make_pwws(std::shared_ptr<const WordNetSynonyms> lexicon,
                                          const RecipeOptions& o = {}) {
  detail::attacks::check_recipe(o, "make_pwws");
  detail::attacks::require_present(lexicon, "make_pwws", "WordNet lexicon");
  return PWWSAttack(UntargetedClassification{}, WordNetSynonymSwap(std::move(lexicon)),
                    GreedyWordSwap{GreedyWordSwap::Options{WordImportance::weighted_saliency}},
                    StopWords{}, NoRepeatModification{},
                    MaxWordsModifiedFraction(o.max_modified_fraction));
}

namespace detail::attacks {
inline CorruptionTransformation character_edits(std::size_t n) {
  NeighbourCharacterSwapOptions swap;
  swap.candidates_per_word = n;
  QwertySubstitutionOptions qwerty;
  qwerty.candidates_per_word = n;
  CharacterDeletionOptions deletion;
  deletion.candidates_per_word = n;
  CharacterInsertionOptions insertion;
  insertion.candidates_per_word = n;
  return CorruptionTransformation(NeighbourCharacterSwap(swap), QwertySubstitution(qwerty),
                                  CharacterDeletion(deletion), CharacterInsertion(insertion));
}
}  // namespace detail::attacks

/// DeepWordBug.
[[nodiscard]] inline DeepWordBugAttack make_deepwordbug(const RecipeOptions& o = {}) {
  detail::attacks::check_recipe(o, "make_deepwordbug");
  return DeepWordBugAttack(
      UntargetedClassification{}, detail::attacks::character_edits(o.character_candidates),
      GreedyWordSwap{GreedyWordSwap::Options{WordImportance::unk}}, StopWords{},
      NoRepeatModification{}, MaxWordsModifiedFraction(o.max_modified_fraction));
}

/// TextBugger-like; `embeddings` as for make_textfooler (5 neighbours, as in the paper).
template <FloatingScalar S>
[[nodiscard]] TextBuggerAttack<S> make_textbugger(
    std::shared_ptr<const WordEmbeddingIndex<S>> embeddings, const RecipeOptions& o = {}) {
  detail::attacks::check_recipe(o, "make_textbugger");
  detail::attacks::require_present(embeddings, "make_textbugger", "embedding index");
  CharacterInsertionOptions space;
  space.character = InsertedCharacter::space;
  space.candidates_per_word = o.character_candidates;
  CharacterDeletionOptions deletion;
  deletion.keep_first_and_last = true;
  deletion.candidates_per_word = o.character_candidates;
  NeighbourCharacterSwapOptions swap;
  swap.candidates_per_word = o.character_candidates;
  HomoglyphSubstitutionOptions homoglyph;
  homoglyph.candidates_per_word = o.character_candidates;
  EmbeddingNeighbourSwapOptions neighbours;
  neighbours.k = 5;
  neighbours.min_cosine = o.min_cosine;
  return TextBuggerAttack<S>(
      UntargetedClassification{},
      TextBuggerTransformation<S>(CharacterInsertion(space), CharacterDeletion(deletion),
                                  NeighbourCharacterSwap(swap), HomoglyphSubstitution(homoglyph),
                                  EmbeddingNeighbourSwap<S>(std::move(embeddings), neighbours)),
      GreedyWordSwap{GreedyWordSwap::Options{WordImportance::deletion}}, StopWords{},
      NoRepeatModification{}, MaxWordsModifiedFraction(o.max_modified_fraction));
}

/// Random corruption at `severity` 1 to 5 (no search; one query besides the original).
[[nodiscard]] inline RandomCorruptionAttack make_random_corruption(int severity) {
  return RandomCorruptionAttack(UntargetedClassification{}, detail::attacks::character_edits(1),
                                RandomCorruption{RandomCorruption::Options{severity}},
                                NoRepeatModification{});
}

}  // namespace moerb
