#pragma once
// Constraints that need no model or lexicon (constraint.hpp), after TextAttack's (Morris et al.
// 2020, "TextAttack: A Framework for Adversarial Attacks, Data Augmentation, and Adversarial
// Training in NLP") MaxModificationRate, RepeatModification, StopwordModification and
// LevenshteinEditDistance:
//  - MaxWordsModifiedFraction: at most a fraction of the original words changed;
//  - NoRepeatModification: no word slot edited twice;
//  - StopWords: stop words left alone;
//  - MaxCharacterEditDistance: each edited word within a Levenshtein distance of the original.
// All of them are cheap per call (no allocation for ASCII words) and compare with the original
// text, so a chain of edits cannot drift past a bound step by step.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/attacks/attacked_text.hpp"
#include "moerb/attacks/constraint.hpp"
#include "moerb/core/error.hpp"
#include "moerb/text/utf8.hpp"

namespace moerb {

/// MaxWordsModifiedFraction: of the original words, at most the fraction `bound` may change.
///   allows_position: only while (modified original slots) / (original words) < bound, the
///     pre-transformation check of TextAttack's MaxModificationRate;
///   allows: candidate.words_changed() / candidate.num_original_words() ≤ bound (appended slots
///     count as changed words).
/// `min_words` (TextAttack's min_threshold) lets that many words change whatever the fraction, so
/// a short text can still be attacked; the default 0 applies the fraction alone.
class MaxWordsModifiedFraction {
 public:
  /// Throws moerb::error unless 0 ≤ bound ≤ 1.
  explicit MaxWordsModifiedFraction(double bound, std::size_t min_words = 0)
      : bound_(bound), min_words_(min_words) {
    MOERB_REQUIRE(bound >= 0.0 && bound <= 1.0, "MaxWordsModifiedFraction: bound is ", bound,
                  ", expected a fraction in [0, 1]");
  }
  [[nodiscard]] double bound() const { return bound_; }
  [[nodiscard]] std::size_t min_words() const { return min_words_; }

  [[nodiscard]] bool allows_position(const AttackedText& text, WordPosition) const {
    const std::size_t n = text.num_original_words();
    std::size_t modified = 0;
    for (std::size_t side = 0; side < text.num_sides(); ++side) {
      for (std::size_t i = 0; i < text.num_words(side); ++i) {
        const WordPosition q{static_cast<std::uint8_t>(side), static_cast<std::uint32_t>(i)};
        // Original slots are the non-empty original words (split_words makes no empty word).
        if (text.modified(q) && !text.original_word(q).empty()) ++modified;
      }
    }
    if (modified < min_words_) return true;
    return n > 0 && static_cast<double>(modified) / static_cast<double>(n) < bound_;
  }

  [[nodiscard]] bool allows(const AttackedText& candidate, const AttackedText&) const {
    const std::size_t changed = candidate.words_changed();
    const std::size_t n = candidate.num_original_words();
    if (changed <= min_words_) return true;
    return n > 0 && static_cast<double>(changed) / static_cast<double>(n) <= bound_;
  }

 private:
  double bound_;
  std::size_t min_words_;
};

/// NoRepeatModification: a slot an earlier edit touched is not edited again (TextAttack's
/// RepeatModification).
struct NoRepeatModification {
  [[nodiscard]] bool allows_position(const AttackedText& text, WordPosition p) const {
    return !text.modified(p);
  }
};

namespace detail::attacks {

/// The default English stop words: articles, pronouns, auxiliaries and modals, prepositions,
/// conjunctions, negations and common contractions (our own list of function words).
inline constexpr std::string_view english_stop_word_list[] = {
    "a",        "about",      "above",    "after",      "again",     "against", "all",
    "also",     "although",   "am",       "among",      "an",        "and",     "another",
    "any",      "are",        "aren't",   "as",         "at",        "be",      "because",
    "been",     "before",     "being",    "below",      "beside",    "besides", "between",
    "both",     "but",        "by",       "can",        "can't",     "cannot",  "could",
    "couldn't", "did",        "didn't",   "do",         "does",      "doesn't", "doing",
    "don't",    "down",       "during",   "each",       "either",    "else",    "even",
    "ever",     "every",      "few",      "for",        "from",      "further", "had",
    "hadn't",   "has",        "hasn't",   "have",       "haven't",   "having",  "he",
    "hence",    "her",        "here",     "hers",       "herself",   "him",     "himself",
    "his",      "how",        "however",  "i",          "i'm",       "if",      "in",
    "into",     "is",         "isn't",    "it",         "it's",      "its",     "itself",
    "just",     "may",        "me",       "might",      "more",      "most",    "must",
    "my",       "myself",     "neither",  "no",         "nor",       "not",     "now",
    "of",       "off",        "on",       "once",       "only",      "onto",    "or",
    "other",    "our",        "ours",     "ourselves",  "out",       "over",    "own",
    "same",     "shall",      "she",      "should",     "shouldn't", "since",   "so",
    "some",     "such",       "than",     "that",       "the",       "their",   "theirs",
    "them",     "themselves", "then",     "there",      "these",     "they",    "this",
    "those",    "though",     "through",  "thus",       "to",        "too",     "toward",
    "towards",  "under",      "unless",   "until",      "up",        "upon",    "us",
    "very",     "via",        "was",      "wasn't",     "we",        "were",    "weren't",
    "what",     "whatever",   "when",     "where",      "whereas",   "whether", "which",
    "while",    "who",        "whom",     "whose",      "why",       "will",    "with",
    "within",   "without",    "won't",    "would",      "wouldn't",  "yet",     "you",
    "your",     "yours",      "yourself", "yourselves",
};

/// A sorted, de-duplicated set of lower-cased words, shared between copies.
using StopWordSet = std::shared_ptr<const std::vector<std::string>>;

[[nodiscard]] inline StopWordSet make_stop_word_set(std::span<const std::string> words) {
  auto set = std::make_shared<std::vector<std::string>>();
  set->reserve(words.size());
  for (std::size_t i = 0; i < words.size(); ++i) {
    utf8::require_valid(words[i], "StopWords", "a stop word");
    MOERB_REQUIRE(!words[i].empty(), "StopWords: stop word ", i, " is empty");
    set->push_back(utf8::to_lower(words[i], "StopWords"));
  }
  std::sort(set->begin(), set->end());
  set->erase(std::unique(set->begin(), set->end()), set->end());
  return set;
}

[[nodiscard]] inline const StopWordSet& english_stop_word_set() {
  static const StopWordSet set = [] {
    const std::vector<std::string> words(std::begin(english_stop_word_list),
                                         std::end(english_stop_word_list));
    return make_stop_word_set(words);
  }();
  return set;
}

}  // namespace detail::attacks

/// StopWords: a slot whose original word, lower-cased, is a stop word is not edited (TextAttack's
/// StopwordModification). Appended slots (no original word) are allowed.
class StopWords {
 public:
  /// The default English list (179 function words and contractions).
  StopWords() : set_(detail::attacks::english_stop_word_set()) {}
  /// A user-given set, lower-cased on the way in. Throws moerb::error for an empty word or invalid
  /// UTF-8; an empty set protects no word.
  explicit StopWords(std::span<const std::string> words)
      : set_(detail::attacks::make_stop_word_set(words)) {}
  explicit StopWords(const std::vector<std::string>& words)
      : StopWords(std::span<const std::string>(words)) {}

  /// The words of the default English list.
  [[nodiscard]] static std::span<const std::string_view> english() {
    return detail::attacks::english_stop_word_list;
  }
  /// The set, sorted and lower-cased.
  [[nodiscard]] const std::vector<std::string>& words() const { return *set_; }

  /// Whether `word` (any casing) is a stop word.
  [[nodiscard]] bool contains(std::string_view word) const {
    // ASCII words up to 32 bytes are lower-cased on the stack (no allocation per check).
    std::array<char, 32> buffer{};
    if (word.size() <= buffer.size() && std::all_of(word.begin(), word.end(), [](char c) {
          return static_cast<unsigned char>(c) < 0x80;
        })) {
      for (std::size_t i = 0; i < word.size(); ++i) {
        const char c = word[i];
        buffer[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
      }
      return lookup(std::string_view(buffer.data(), word.size()));
    }
    return lookup(utf8::to_lower(word, "StopWords"));
  }

  [[nodiscard]] bool allows_position(const AttackedText& text, WordPosition p) const {
    const std::string& original = text.original_word(p);
    return original.empty() || !contains(original);
  }

 private:
  [[nodiscard]] bool lookup(std::string_view lower) const {
    return std::binary_search(set_->begin(), set_->end(), lower,
                              [](std::string_view a, std::string_view b) { return a < b; });
  }

  detail::attacks::StopWordSet set_;
};

/// MaxCharacterEditDistance: every slot of the candidate's last edit stays within `bound`
/// Levenshtein edits (code points) of the slot's original word (TextAttack's
/// LevenshteinEditDistance, taken per word). An appended slot's original is "" (its distance is
/// its length).
class MaxCharacterEditDistance {
 public:
  /// Throws moerb::error for a negative bound.
  explicit MaxCharacterEditDistance(int bound) : bound_(bound) {
    MOERB_REQUIRE(bound >= 0, "MaxCharacterEditDistance: bound is ", bound,
                  ", expected a number of edits ≥ 0");
  }
  [[nodiscard]] int bound() const { return bound_; }

  [[nodiscard]] bool allows(const AttackedText& candidate, const AttackedText&) const {
    const auto bound = static_cast<std::size_t>(bound_);
    for (const WordPosition p : candidate.last_edit()) {
      if (edit_distance(candidate.original_word(p), candidate.word(p)) > bound) return false;
    }
    return true;
  }

 private:
  int bound_;
};

static_assert(Constraint<MaxWordsModifiedFraction> &&
              PositionConstraint<MaxWordsModifiedFraction> &&
              CandidateConstraint<MaxWordsModifiedFraction>);
static_assert(Constraint<NoRepeatModification> && PositionConstraint<NoRepeatModification>);
static_assert(Constraint<StopWords> && PositionConstraint<StopWords>);
static_assert(Constraint<MaxCharacterEditDistance> &&
              CandidateConstraint<MaxCharacterEditDistance>);

}  // namespace moerb
