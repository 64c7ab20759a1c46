#pragma once
// Lexical constraints on word substitutions, checked per candidate (CandidateConstraint):
//
//   PartOfSpeechMatch         the substitute shares a WordNet part of speech with the word it
//                             replaces (PWWS and TextFooler keep the part of speech: Ren et al.
//                             2019, §3.1; Jin et al. 2020, §3.2 step 2).
//   EmbeddingCosineFloor<S>   cos(word, substitute) in a word embedding table >= a floor
//                             (TextFooler §3.2 step 2; TextAttack's WordEmbeddingDistance).
//
// Both look at the slots of candidate.last_edit() and compare each with the same slot of the
// original text (so several edits cannot drift step by step). Only substitutions are checked: a
// slot whose original or new text is not a single word (a deletion, a repetition "good good", an
// appended slot) or whose word is unchanged passes.
//
// TextAttack's PartOfSpeech constraint tags the words in context with a tagger; WordNet gives the
// parts of speech a word can have, so PartOfSpeechMatch asks that the two sets intersect (a
// weaker test: "run" the noun may be replaced by a verb synonym of "run" that is also a noun).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "moerb/attacks/attacked_text.hpp"
#include "moerb/attacks/constraint.hpp"
#include "moerb/attacks/detail/lexical.hpp"
#include "moerb/attacks/word_embeddings.hpp"
#include "moerb/attacks/wordnet_synonyms.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"
#include "moerb/text/vocabulary.hpp"

namespace moerb {

namespace detail::lexical {

/// Calls check(original word, new word) for each substituted slot of the candidate's last edit;
/// false as soon as a check fails.
template <class Check>
[[nodiscard]] bool all_substitutions(const AttackedText& candidate, const AttackedText& original,
                                     Check&& check) {
  for (const WordPosition p : candidate.last_edit()) {
    if (p.side >= original.num_sides() || p.word >= original.num_words(p.side)) continue;
    const std::string& before = original.word(p);
    const std::string& after = candidate.word(p);
    if (before == after || !is_single_word(before) || !is_single_word(after)) continue;
    if (!check(before, after)) return false;
  }
  return true;
}

}  // namespace detail::lexical

/// What a lexical constraint does with a word its lexicon or table does not know.
enum class UnknownWords : std::uint8_t { allow, reject };

struct PartOfSpeechMatchOptions {
  UnknownWords unknown = UnknownWords::allow;
};

/// Allows a candidate when each substituted word and its substitute share a WordNet part of
/// speech. When either word is not in WordNet ("the", "dogs": no morphology), `unknown` decides.
class PartOfSpeechMatch {
 public:
  using Options = PartOfSpeechMatchOptions;

  explicit PartOfSpeechMatch(std::shared_ptr<const WordNetSynonyms> lexicon,
                             const Options& options = {})
      : lexicon_(std::move(lexicon)), options_(options) {
    MOERB_REQUIRE(lexicon_ != nullptr, "PartOfSpeechMatch: no lexicon");
  }
  explicit PartOfSpeechMatch(WordNetSynonyms lexicon, const Options& options = {})
      : PartOfSpeechMatch(std::make_shared<const WordNetSynonyms>(std::move(lexicon)), options) {}

  [[nodiscard]] const Options& options() const { return options_; }

  /// Whether `substitute` may replace `word` (both single words).
  [[nodiscard]] bool allows_substitution(std::string_view word, std::string_view substitute) const {
    const PartsOfSpeech a = lexicon_->parts_of_speech(word);
    const PartsOfSpeech b = lexicon_->parts_of_speech(substitute);
    if (a.empty() || b.empty()) return options_.unknown == UnknownWords::allow;
    return a.intersects(b);
  }

  [[nodiscard]] bool allows(const AttackedText& candidate, const AttackedText& original) const {
    return detail::lexical::all_substitutions(
        candidate, original, [&](const std::string& before, const std::string& after) {
          return allows_substitution(before, after);
        });
  }

 private:
  std::shared_ptr<const WordNetSynonyms> lexicon_;
  Options options_;
};

static_assert(CandidateConstraint<PartOfSpeechMatch> && Constraint<PartOfSpeechMatch>);

/// Allows a candidate when cos(word, substitute) >= min_cosine for each substituted slot, in a
/// user table (WordEmbeddings) or a victim's embedding table with its Vocabulary. Words are looked
/// up as written, then in lower case; a substitution involving a word outside the table is
/// rejected.
template <FloatingScalar S>
class EmbeddingCosineFloor {
 public:
  EmbeddingCosineFloor(std::shared_ptr<const WordEmbeddingIndex<S>> index, double min_cosine)
      : index_(std::move(index)), min_cosine_(min_cosine) {
    MOERB_REQUIRE(index_ != nullptr, "EmbeddingCosineFloor: no embedding index");
    MOERB_REQUIRE(min_cosine >= -1.0 && min_cosine <= 1.0,
                  "EmbeddingCosineFloor: min_cosine = ", min_cosine, ", expected in [-1, 1]");
  }
  EmbeddingCosineFloor(const WordEmbeddings<S>& table, double min_cosine)
      : EmbeddingCosineFloor(std::make_shared<const WordEmbeddingIndex<S>>(table), min_cosine) {}
  EmbeddingCosineFloor(const Matrix<S>& table, const Vocabulary& vocabulary, double min_cosine)
      : EmbeddingCosineFloor(std::make_shared<const WordEmbeddingIndex<S>>(table, vocabulary),
                             min_cosine) {}

  [[nodiscard]] double min_cosine() const { return min_cosine_; }
  [[nodiscard]] const WordEmbeddingIndex<S>& index() const { return *index_; }

  /// Whether `substitute` may replace `word`: both in the table and cos >= min_cosine.
  [[nodiscard]] bool allows_substitution(std::string_view word, std::string_view substitute) const {
    const std::optional<double> c = index_->cosine(word, substitute);
    return c.has_value() && *c >= min_cosine_;
  }

  [[nodiscard]] bool allows(const AttackedText& candidate, const AttackedText& original) const {
    return detail::lexical::all_substitutions(
        candidate, original, [&](const std::string& before, const std::string& after) {
          return allows_substitution(before, after);
        });
  }

 private:
  std::shared_ptr<const WordEmbeddingIndex<S>> index_;
  double min_cosine_;
};

static_assert(CandidateConstraint<EmbeddingCosineFloor<float>> &&
              Constraint<EmbeddingCosineFloor<double>>);

}  // namespace moerb
