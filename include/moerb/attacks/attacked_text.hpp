#pragma once
// AttackedText: the state a textual attack edits — one text or a text pair, split into words and
// the gaps between them, with the original words kept for bookkeeping (which words changed, how
// many characters) and the positions the last edit touched (for constraints that look at one
// edit only).
//
// Words are maximal runs of characters that are neither whitespace nor ASCII punctuation, except
// that an apostrophe or hyphen between two word characters stays inside the word ("don't",
// "well-known"); bytes >= 0x80 (non-ASCII UTF-8) count as word characters. Gaps (whitespace and
// punctuation) are never edited, so text(side) reproduces the input exactly until a word changes.
//
// A word slot can become empty (deletion), hold several words ("good good": repetition) or be
// appended at the end of a side (a distractor sentence); slots keep their index, so positions stay
// valid across edits, and words_changed() counts slots that differ from the original.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/text/tokenizer.hpp"
#include "moerb/text/utf8.hpp"

namespace moerb {

/// A word slot: side 0 is the first text (NLI premise), side 1 the second (hypothesis).
struct WordPosition {
  std::uint8_t side = 0;
  std::uint32_t word = 0;
  friend bool operator==(const WordPosition&, const WordPosition&) = default;
  friend auto operator<=>(const WordPosition&, const WordPosition&) = default;
};

/// Which sides of an example an attack may edit. `automatic`: the only side of a single text, the
/// second side of a pair (the NLI convention: the premise is left alone).
enum class AttackedSides : std::uint8_t { automatic, first, second, both };

namespace detail::attacks {

[[nodiscard]] inline bool is_gap_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x80) return false;
  return std::isspace(u) != 0 || std::ispunct(u) != 0;
}

/// Splits `text` into gaps and words: gaps.size() == words.size() + 1.
inline void split_words(std::string_view text, std::vector<std::string>& words,
                        std::vector<std::string>& gaps) {
  words.clear();
  gaps.clear();
  std::size_t i = 0;
  const std::size_t n = text.size();
  const auto inner_joiner = [&](std::size_t k) {  // ' or - between two word characters
    return (text[k] == '\'' || text[k] == '-') && k > 0 && k + 1 < n && !is_gap_byte(text[k - 1]) &&
           !is_gap_byte(text[k + 1]);
  };
  std::string gap;
  while (i < n) {
    if (is_gap_byte(text[i])) {
      gap.push_back(text[i++]);
      continue;
    }
    gaps.push_back(std::move(gap));
    gap.clear();
    const std::size_t start = i;
    while (i < n && (!is_gap_byte(text[i]) || inner_joiner(i))) ++i;
    words.emplace_back(text.substr(start, i - start));
  }
  gaps.push_back(std::move(gap));
}

/// Levenshtein distance between two UTF-8 strings, in code points (two rows, O(|a|·|b|)).
[[nodiscard]] inline std::size_t edit_distance(std::string_view a, std::string_view b) {
  if (a == b) return 0;
  std::vector<char32_t> x, y;
  for (const utf8::CodePoint& c : utf8::code_points(a, "edit_distance")) x.push_back(c.value);
  for (const utf8::CodePoint& c : utf8::code_points(b, "edit_distance")) y.push_back(c.value);
  std::vector<std::size_t> prev(y.size() + 1), cur(y.size() + 1);
  for (std::size_t j = 0; j <= y.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= x.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= y.size(); ++j) {
      cur[j] =
          std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[y.size()];
}

}  // namespace detail::attacks

/// Levenshtein distance in code points (insertions, deletions, substitutions), as the
/// maximum-edit-distance constraint and the characters-changed count use it.
[[nodiscard]] inline std::size_t edit_distance(std::string_view a, std::string_view b) {
  return detail::attacks::edit_distance(a, b);
}

class AttackedText {
 public:
  AttackedText() = default;
  /// A single text (`text_b` empty and `pair` false) or a pair. Throws moerb::error for invalid
  /// UTF-8. A text without words is valid (it has nothing to attack).
  explicit AttackedText(std::string_view text_a, std::string_view text_b = {},
                        AttackedSides sides = AttackedSides::automatic)
      : AttackedText(text_a, text_b, !text_b.empty(), sides) {}
  AttackedText(std::string_view text_a, std::string_view text_b, bool pair, AttackedSides sides)
      : pair_(pair) {
    constexpr std::string_view where = "AttackedText";
    utf8::require_valid(text_a, where, "text_a");
    utf8::require_valid(text_b, where, "text_b");
    MOERB_REQUIRE(pair || text_b.empty(), where, ": text_b given for a single-text example");
    detail::attacks::split_words(text_a, sides_[0].words, sides_[0].gaps);
    if (pair) detail::attacks::split_words(text_b, sides_[1].words, sides_[1].gaps);
    for (Side& s : sides_) {
      s.original = s.words;
      s.modified.assign(s.words.size(), 0);
    }
    attacked_[0] = sides == AttackedSides::first || sides == AttackedSides::both ||
                   (sides == AttackedSides::automatic && !pair);
    attacked_[1] = pair && (sides == AttackedSides::second || sides == AttackedSides::both ||
                            sides == AttackedSides::automatic);
    MOERB_REQUIRE(pair || sides != AttackedSides::second, where,
                  ": the second side is attacked but the example is a single text");
  }

  [[nodiscard]] bool is_pair() const { return pair_; }
  [[nodiscard]] std::size_t num_sides() const { return pair_ ? 2 : 1; }
  [[nodiscard]] bool is_attacked(std::size_t side) const { return side < 2 && attacked_[side]; }
  [[nodiscard]] std::size_t num_words(std::size_t side) const {
    return checked_side(side).words.size();
  }
  [[nodiscard]] const std::string& word(WordPosition p) const {
    return checked_side(p.side).words[checked_word(p)];
  }
  /// The word the slot held before any edit ("" for a slot appended by an edit).
  [[nodiscard]] const std::string& original_word(WordPosition p) const {
    const Side& s = checked_side(p.side);
    const std::size_t i = checked_word(p);
    return i < s.original.size() ? s.original[i] : empty_;
  }
  /// Whether any edit has touched the slot (even one that restored the original word).
  [[nodiscard]] bool modified(WordPosition p) const {
    return checked_side(p.side).modified[checked_word(p)] != 0;
  }

  /// Every word slot of the attacked sides, in order (side 0 first), skipping empty slots.
  [[nodiscard]] std::vector<WordPosition> attackable_positions() const {
    std::vector<WordPosition> out;
    for (std::size_t s = 0; s < num_sides(); ++s) {
      if (!attacked_[s]) continue;
      for (std::size_t i = 0; i < sides_[s].words.size(); ++i) {
        if (!sides_[s].words[i].empty()) {
          out.push_back({static_cast<std::uint8_t>(s), static_cast<std::uint32_t>(i)});
        }
      }
    }
    return out;
  }

  /// The text of a side: its gaps and words in order. A deleted word takes one side of its
  /// surrounding whitespace with it ("the good movie" → "the movie", "the movie was" → "the
  /// movie", "a good." → "a."); punctuation stays.
  [[nodiscard]] std::string text(std::size_t side = 0) const {
    const Side& s = checked_side(side);
    std::string out = s.gaps.front();
    for (std::size_t i = 0; i < s.words.size(); ++i) {
      const std::string& gap = s.gaps[i + 1];
      if (!s.words[i].empty()) {
        out += s.words[i];
        out += gap;
      } else {
        append_after_deleted_word(out, gap);
      }
    }
    // A deleted last word leaves no trailing space the text did not have.
    if (!s.gaps.back().empty() && is_space(s.gaps.back().back())) return out;
    while (!out.empty() && is_space(out.back()) && s.gaps.back().empty()) out.pop_back();
    return out;
  }
  /// "text_a" or "text_a <sep> text_b", for logs and result files.
  [[nodiscard]] std::string display(std::string_view separator = " ||| ") const {
    return pair_ ? text(0) + std::string(separator) + text(1) : text(0);
  }

  /// The model input: encode_single of side 0, or encode_pair of both sides, truncated to
  /// `max_length` tokens.
  template <Tokenizer T>
  [[nodiscard]] EncodedText encode(const T& tokenizer, std::size_t max_length) const {
    return pair_ ? encode_pair(tokenizer, text(0), text(1), max_length)
                 : encode_single(tokenizer, text(0), max_length);
  }

  /// A copy with the word at `p` replaced ("" deletes it); `p` becomes modified and the copy's
  /// last_edit() is {p}.
  [[nodiscard]] AttackedText with_word(WordPosition p, std::string replacement) const {
    AttackedText out = *this;
    out.last_edit_.clear();
    out.set_word(p, std::move(replacement));
    return out;
  }
  /// A copy with several slots replaced at once (one edit; last_edit() lists them).
  [[nodiscard]] AttackedText with_words(
      std::span<const std::pair<WordPosition, std::string>> replacements) const {
    AttackedText out = *this;
    out.last_edit_.clear();
    for (const auto& [p, w] : replacements) out.set_word(p, w);
    return out;
  }
  /// A copy with `sentence` appended to a side as new word slots (separated from the text by a
  /// space); the new slots are the edit. Throws when the sentence has no word.
  [[nodiscard]] AttackedText with_appended(std::size_t side, std::string_view sentence) const {
    utf8::require_valid(sentence, "AttackedText::with_appended", "sentence");
    std::vector<std::string> words, gaps;
    detail::attacks::split_words(sentence, words, gaps);
    MOERB_REQUIRE(!words.empty(), "AttackedText::with_appended: the sentence '", sentence,
                  "' has no word");
    MOERB_REQUIRE(is_attacked(side), "AttackedText::with_appended: side ", side,
                  " is not attacked");
    AttackedText out = *this;
    out.last_edit_.clear();
    Side& s = out.sides_[checked_index(side)];
    s.gaps.back() += s.words.empty() && s.gaps.back().empty() ? gaps.front() : " " + gaps.front();
    for (std::size_t i = 0; i < words.size(); ++i) {
      out.last_edit_.push_back(
          {static_cast<std::uint8_t>(side), static_cast<std::uint32_t>(s.words.size())});
      s.words.push_back(std::move(words[i]));
      s.gaps.push_back(std::move(gaps[i + 1]));
      s.modified.push_back(1);
    }
    return out;
  }

  /// The slots the edit that produced this text changed (empty for an unedited text).
  [[nodiscard]] std::span<const WordPosition> last_edit() const { return last_edit_; }

  /// Words in the original text (all sides), the denominator of the perturbed-word percentage.
  [[nodiscard]] std::size_t num_original_words() const {
    std::size_t n = 0;
    for (std::size_t s = 0; s < num_sides(); ++s) n += sides_[s].original.size();
    return n;
  }
  /// Word slots whose text differs from the original (appended slots count).
  [[nodiscard]] std::size_t words_changed() const {
    std::size_t n = 0;
    for (std::size_t s = 0; s < num_sides(); ++s) {
      const Side& side = sides_[s];
      for (std::size_t i = 0; i < side.words.size(); ++i) {
        n += i >= side.original.size() || side.words[i] != side.original[i] ? 1 : 0;
      }
    }
    return n;
  }
  /// Σ over slots of the edit distance (code points) between the original and current word.
  [[nodiscard]] std::size_t characters_changed() const {
    std::size_t n = 0;
    for (std::size_t s = 0; s < num_sides(); ++s) {
      const Side& side = sides_[s];
      for (std::size_t i = 0; i < side.words.size(); ++i) {
        n += edit_distance(i < side.original.size() ? side.original[i] : empty_, side.words[i]);
        if (i >= side.original.size()) n += 1;  // the space that joins an appended word
      }
    }
    return n;
  }

  /// Same words in every slot (modification marks and last edit ignored).
  [[nodiscard]] bool same_words(const AttackedText& other) const {
    return pair_ == other.pair_ && sides_[0].words == other.sides_[0].words &&
           sides_[1].words == other.sides_[1].words;
  }

 private:
  static bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
  // After an empty slot: no double space, no space before punctuation or at either end.
  static void append_after_deleted_word(std::string& out, const std::string& gap) {
    std::size_t k = 0;
    if (out.empty() || is_space(out.back())) {
      while (k < gap.size() && is_space(gap[k])) ++k;
      if (k == 0 && !gap.empty()) {  // punctuation right after the deleted word
        while (!out.empty() && is_space(out.back())) out.pop_back();
      }
    }
    out.append(gap, k);
  }

  struct Side {
    std::vector<std::string> words;
    std::vector<std::string> gaps;  ///< words.size() + 1
    std::vector<std::string> original;
    std::vector<std::uint8_t> modified;
  };

  void set_word(WordPosition p, std::string replacement) {
    Side& s = sides_[checked_index(p.side)];
    const std::size_t i = checked_word(p);
    MOERB_REQUIRE(attacked_[p.side], "AttackedText: side ", int{p.side}, " is not attacked");
    s.words[i] = std::move(replacement);
    s.modified[i] = 1;
    last_edit_.push_back(p);
  }
  std::size_t checked_index(std::size_t side) const {
    MOERB_REQUIRE(side < num_sides(), "AttackedText: side ", side, ", the text has ", num_sides());
    return side;
  }
  const Side& checked_side(std::size_t side) const { return sides_[checked_index(side)]; }
  std::size_t checked_word(WordPosition p) const {
    const Side& s = sides_[checked_index(p.side)];
    MOERB_REQUIRE(p.word < s.words.size(), "AttackedText: word ", p.word, " of side ", int{p.side},
                  ", which has ", s.words.size(), " word slots");
    return p.word;
  }

  bool pair_ = false;
  bool attacked_[2] = {true, false};
  Side sides_[2];
  std::vector<WordPosition> last_edit_;
  inline static const std::string empty_{};
};

}  // namespace moerb
