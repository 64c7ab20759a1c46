#pragma once
// Sentence-level transformations and the word-level ones that need no lexicon:
//  - AppendDistractor: append a fixed sentence to the attacked side, the distraction tests of
//    Naik et al. 2018, "Stress Test Evaluation for Natural Language Inference" (the tautology
//    "and true is true" appended to the hypothesis changes no entailment label);
//  - CasingChange: upper-, lower- or title-case the words at the given positions;
//  - WordDeletion: delete one word (the slot becomes empty);
//  - WordRepetition: repeat one word ("good" → "good good").
// Each satisfies Transformation (transformation.hpp) and draws nothing from the rng.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/attacks/attacked_text.hpp"
#include "moerb/attacks/transformation.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/text/utf8.hpp"

namespace moerb {

/// Naik et al. 2018's distractors: a tautology (their word-overlap test) and a negated tautology
/// (their negation test); appended to the hypothesis, neither changes the gold label.
inline constexpr std::string_view tautology_distractor = "and true is true";
inline constexpr std::string_view negation_distractor = "and false is not true";

/// AppendDistractor: for each distractor sentence and each attacked side, one candidate with the
/// sentence appended to that side (AttackedText::with_appended: its words become new slots and
/// the candidate's last_edit()). A side that already ends with the sentence does not get it
/// again, so a search that keeps the edit cannot stack copies. `positions` is ignored: the edit is
/// to the side as a whole.
class AppendDistractor {
 public:
  /// The tautology "and true is true".
  AppendDistractor()
      : AppendDistractor(std::vector<std::string>{std::string(tautology_distractor)}) {}
  /// One candidate per sentence (per attacked side). Throws moerb::error for an empty list, a
  /// sentence without a word or invalid UTF-8.
  explicit AppendDistractor(std::vector<std::string> sentences) : sentences_(std::move(sentences)) {
    MOERB_REQUIRE(!sentences_.empty(),
                  "AppendDistractor: the list of distractor sentences is empty");
    words_.resize(sentences_.size());
    std::vector<std::string> gaps;
    for (std::size_t k = 0; k < sentences_.size(); ++k) {
      utf8::require_valid(sentences_[k], "AppendDistractor", "a distractor sentence");
      detail::attacks::split_words(sentences_[k], words_[k], gaps);
      MOERB_REQUIRE(!words_[k].empty(), "AppendDistractor: distractor sentence ", k, " ('",
                    sentences_[k], "') has no word");
    }
  }

  [[nodiscard]] const std::vector<std::string>& sentences() const { return sentences_; }

  void transform(const AttackedText& text, std::span<const WordPosition>,
                 std::vector<AttackedText>& out, Rng&) const {
    for (std::size_t k = 0; k < sentences_.size(); ++k) {
      for (std::size_t side = 0; side < text.num_sides(); ++side) {
        if (!text.is_attacked(side) || ends_with(text, side, words_[k])) continue;
        out.push_back(text.with_appended(side, sentences_[k]));
      }
    }
  }

 private:
  /// Whether the last slots of `side` hold exactly `words`.
  static bool ends_with(const AttackedText& text, std::size_t side,
                        const std::vector<std::string>& words) {
    const std::size_t n = text.num_words(side);
    if (n < words.size()) return false;
    for (std::size_t i = 0; i < words.size(); ++i) {
      const WordPosition p{static_cast<std::uint8_t>(side),
                           static_cast<std::uint32_t>(n - words.size() + i)};
      if (text.word(p) != words[i]) return false;
    }
    return true;
  }

  std::vector<std::string> sentences_;
  std::vector<std::vector<std::string>> words_;  ///< the words of each sentence
};

enum class Casing : std::uint8_t { upper, lower, title };

namespace detail::attacks {

/// Simple upper-case mapping, the inverse of utf8::to_lower on the scripts that covers (ASCII,
/// Latin-1, Latin Extended-A, Greek, Cyrillic); other code points are returned unchanged. A
/// mapping is kept only where to_lower maps the result back, so the two agree exactly.
[[nodiscard]] constexpr char32_t to_upper_code_point(char32_t cp) noexcept {
  if (cp < 0x80) return cp >= U'a' && cp <= U'z' ? cp - 0x20 : cp;
  char32_t up = cp;
  if (cp >= 0xE0 && cp <= 0xFE) {
    up = cp - 0x20;
  } else if (cp == 0xFF) {
    up = 0x178;
  } else if (cp >= 0x101 && cp <= 0x17F) {
    up = cp - 1;  // upper/lower pairs are adjacent code points in Latin Extended-A
  } else if (cp == 0x3AC) {
    up = 0x386;
  } else if (cp >= 0x3AD && cp <= 0x3AF) {
    up = cp - 0x25;
  } else if (cp >= 0x3B1 && cp <= 0x3CB) {
    up = cp - 0x20;
  } else if (cp == 0x3CC) {
    up = 0x38C;
  } else if (cp == 0x3CD || cp == 0x3CE) {
    up = cp - 0x3F;
  } else if (cp >= 0x430 && cp <= 0x44F) {
    up = cp - 0x20;
  } else if (cp >= 0x450 && cp <= 0x45F) {
    up = cp - 0x50;
  }
  return up != cp && utf8::to_lower(up) == cp ? up : cp;
}

/// `word` in the given casing; title case: first code point upper, the rest lower.
[[nodiscard]] inline std::string recase_word(std::string_view word, Casing casing) {
  std::string out;
  out.reserve(word.size());
  bool first = true;
  for (const utf8::CodePoint& c : utf8::code_points(word, "CasingChange")) {
    const bool up = casing == Casing::upper || (casing == Casing::title && first);
    const char32_t v = up ? to_upper_code_point(c.value) : utf8::to_lower(c.value);
    if (v == c.value) {
      out.append(word.substr(c.offset, c.length));
    } else {
      utf8::append(out, v);
    }
    first = false;
  }
  return out;
}

}  // namespace detail::attacks

struct CasingChangeOptions {
  /// One casing, or (nullopt) one candidate for each of upper, lower and title case.
  std::optional<Casing> casing = std::nullopt;
  /// false: each candidate recases every given position at once (a sentence-level change);
  /// true: one candidate per position and casing.
  bool each_word = false;
};

/// CasingChange: recase the words at the given positions. Slots whose casing would not change are
/// left out of the edit, and a candidate that would change nothing is not made. Upper-casing maps
/// ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic letters (no 'ß' → "SS").
class CasingChange {
 public:
  CasingChange() = default;
  explicit CasingChange(CasingChangeOptions options) : options_(options) {}
  [[nodiscard]] const CasingChangeOptions& options() const { return options_; }

  void transform(const AttackedText& text, std::span<const WordPosition> positions,
                 std::vector<AttackedText>& out, Rng&) const {
    constexpr Casing all[] = {Casing::upper, Casing::lower, Casing::title};
    const std::span<const Casing> casings = options_.casing
                                                ? std::span<const Casing>(&*options_.casing, 1)
                                                : std::span<const Casing>(all);
    if (options_.each_word) {
      for (const WordPosition p : positions) {
        const std::string& word = text.word(p);
        for (const Casing c : casings) {
          std::string recased = detail::attacks::recase_word(word, c);
          if (recased != word) out.push_back(text.with_word(p, std::move(recased)));
        }
      }
      return;
    }
    std::vector<std::pair<WordPosition, std::string>> edits;
    for (const Casing c : casings) {
      edits.clear();
      for (const WordPosition p : positions) {
        const std::string& word = text.word(p);
        std::string recased = detail::attacks::recase_word(word, c);
        if (recased != word) edits.emplace_back(p, std::move(recased));
      }
      if (!edits.empty()) {
        out.push_back(
            text.with_words(std::span<const std::pair<WordPosition, std::string>>(edits)));
      }
    }
  }

 private:
  CasingChangeOptions options_;
};

/// WordDeletion: one candidate per position with the word deleted (with_word(p, "")). Empty
/// slots are skipped, and so is the last word left on a side (a side with no word is no text).
class WordDeletion {
 public:
  void transform(const AttackedText& text, std::span<const WordPosition> positions,
                 std::vector<AttackedText>& out, Rng&) const {
    std::size_t words_left[2] = {0, 0};
    for (std::size_t side = 0; side < text.num_sides(); ++side) {
      for (std::size_t i = 0; i < text.num_words(side); ++i) {
        const WordPosition p{static_cast<std::uint8_t>(side), static_cast<std::uint32_t>(i)};
        words_left[side] += text.word(p).empty() ? 0 : 1;
      }
    }
    for (const WordPosition p : positions) {
      if (text.word(p).empty() || words_left[p.side] < 2) continue;
      out.push_back(text.with_word(p, std::string()));
    }
  }
};

/// WordRepetition: one candidate per position with the word written `copies` times, joined by
/// spaces ("good" → "good good"). Empty slots are skipped.
class WordRepetition {
 public:
  WordRepetition() = default;
  /// Throws moerb::error unless copies ≥ 2.
  explicit WordRepetition(int copies) : copies_(copies) {
    MOERB_REQUIRE(copies >= 2, "WordRepetition: copies is ", copies,
                  ", expected at least 2 (one copy is the word itself)");
  }
  [[nodiscard]] int copies() const { return copies_; }

  void transform(const AttackedText& text, std::span<const WordPosition> positions,
                 std::vector<AttackedText>& out, Rng&) const {
    for (const WordPosition p : positions) {
      const std::string& word = text.word(p);
      if (word.empty()) continue;
      std::string repeated;
      repeated.reserve((word.size() + 1) * static_cast<std::size_t>(copies_));
      for (int k = 0; k < copies_; ++k) {
        if (k > 0) repeated.push_back(' ');
        repeated += word;
      }
      out.push_back(text.with_word(p, std::move(repeated)));
    }
  }

 private:
  int copies_ = 2;
};

static_assert(Transformation<AppendDistractor>);
static_assert(Transformation<CasingChange>);
static_assert(Transformation<WordDeletion>);
static_assert(Transformation<WordRepetition>);

}  // namespace moerb
