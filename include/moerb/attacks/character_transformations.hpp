#pragma once
// Character-level transformations: typo-like edits inside one word, as DeepWordBug (Gao et al.
// 2018, "Black-box Generation of Adversarial Text Sequences to Evade Deep Learning Classifiers":
// swap, substitute, delete, insert) and TextBugger (Li et al. 2019, "TextBugger: Generating
// Adversarial Text Against Real-world Applications": insert a space, delete, swap inner letters,
// substitute a visually similar character) use them.
//
// Each type satisfies Transformation: for every given position, in position order, it proposes
// the edited words of that slot and appends one candidate per word (AttackedText::with_word, so
// candidate.last_edit() is that one slot). Edits work on UTF-8 code points: a multi-byte
// character is moved, deleted or replaced whole, and every candidate is valid UTF-8.
//
// Per word, candidates come in a fixed order (by character position, then by the table order of
// the replacement); an edit that gives the word back (swapping "ll") or a word already proposed
// (deleting either 'l' of "hello") is dropped. With `candidates_per_word = n > 0`, n of them are
// drawn without replacement from `rng` (and kept in that order); 0 keeps them all. Words with
// fewer than `min_word_length` code points are left alone.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/attacks/attacked_text.hpp"
#include "moerb/attacks/transformation.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/text/utf8.hpp"

namespace moerb {

namespace detail::attacks {

/// Buffers reused across the positions of one transform call: the word's code points, the words
/// proposed for it and the sample's indices.
struct CharacterEditScratch {
  std::vector<utf8::CodePoint> chars;
  std::vector<std::string> words;
  std::vector<std::size_t> picks;
};

/// Adds `candidate` unless it is the word itself or an earlier candidate.
inline void add_candidate_word(std::vector<std::string>& words, std::string_view word,
                               std::string candidate) {
  if (candidate == word || std::find(words.begin(), words.end(), candidate) != words.end()) return;
  words.push_back(std::move(candidate));
}

/// `word` with code point `c` replaced by the bytes `with` ("" deletes it).
[[nodiscard]] inline std::string splice_code_point(std::string_view word, const utf8::CodePoint& c,
                                                   std::string_view with) {
  std::string out;
  out.reserve(word.size() + with.size());
  out.append(word.substr(0, c.offset));
  out.append(with);
  out.append(word.substr(c.offset + c.length));
  return out;
}

/// One candidate per proposed word, or `per_word` of them drawn without replacement (partial
/// Fisher–Yates shuffle of the indices, then sorted so the generation order is kept).
inline void emit_word_candidates(const AttackedText& text, WordPosition p, CharacterEditScratch& s,
                                 std::size_t per_word, std::vector<AttackedText>& out, Rng& rng) {
  const std::size_t n = s.words.size();
  if (per_word == 0 || per_word >= n) {
    for (std::string& w : s.words) out.push_back(text.with_word(p, std::move(w)));
    return;
  }
  s.picks.resize(n);
  std::iota(s.picks.begin(), s.picks.end(), std::size_t{0});
  for (std::size_t i = 0; i < per_word; ++i) {
    const std::size_t j = i + static_cast<std::size_t>(rng.uniform_index(n - i));
    std::swap(s.picks[i], s.picks[j]);
  }
  std::sort(s.picks.begin(), s.picks.begin() + static_cast<std::ptrdiff_t>(per_word));
  for (std::size_t i = 0; i < per_word; ++i) {
    out.push_back(text.with_word(p, std::move(s.words[s.picks[i]])));
  }
}

/// The loop every character transformation shares. `propose(word, chars, words, rng)` fills
/// `words` with the edited forms of `word` (code points `chars`).
template <class Propose>
void transform_characters(const AttackedText& text, std::span<const WordPosition> positions,
                          std::vector<AttackedText>& out, Rng& rng, std::size_t per_word,
                          std::size_t min_word_length, std::string_view where, Propose&& propose) {
  CharacterEditScratch s;
  for (const WordPosition p : positions) {
    const std::string& word = text.word(p);
    if (word.empty()) continue;  // a deleted slot has no characters
    s.chars.clear();
    for (const utf8::CodePoint& c : utf8::code_points(word, where)) s.chars.push_back(c);
    if (s.chars.size() < min_word_length) continue;
    s.words.clear();
    propose(std::string_view(word), std::span<const utf8::CodePoint>(s.chars), s.words, rng);
    emit_word_candidates(text, p, s, per_word, out, rng);
  }
}

/// Code point indices [first, last) an edit may touch: all, or all but the first and last.
[[nodiscard]] inline std::pair<std::size_t, std::size_t> editable_range(std::size_t n,
                                                                        bool keep_first_and_last) {
  if (!keep_first_and_last) return {0, n};
  return n < 2 ? std::pair<std::size_t, std::size_t>{0, 0} : std::pair{std::size_t{1}, n - 1};
}

[[nodiscard]] constexpr bool is_ascii_upper(char32_t c) {
  return c >= U'A' && c <= U'Z';
}
[[nodiscard]] constexpr bool is_ascii_lower(char32_t c) {
  return c >= U'a' && c <= U'z';
}

/// The letter rows of a QWERTY keyboard. Each row is drawn half a key to the right of the one
/// above, so key i of row r touches keys i and i+1 of row r−1 and keys i−1 and i of row r+1.
inline constexpr std::array<std::string_view, 3> qwerty_rows = {"qwertyuiop", "asdfghjkl",
                                                                "zxcvbnm"};

/// The keyboard neighbours of an ASCII letter (case kept), in the order left, right, upper left,
/// upper right, lower left, lower right; none for any other character.
inline void qwerty_neighbours(char32_t c, std::vector<char32_t>& out) {
  out.clear();
  const bool upper = is_ascii_upper(c);
  if (!upper && !is_ascii_lower(c)) return;
  const char lower = static_cast<char>(upper ? c + 0x20 : c);
  for (std::size_t r = 0; r < qwerty_rows.size(); ++r) {
    const std::size_t i = qwerty_rows[r].find(lower);
    if (i == std::string_view::npos) continue;
    const auto key = [&](std::size_t row, std::ptrdiff_t col) {
      const std::string_view keys = qwerty_rows[row];
      if (col < 0 || static_cast<std::size_t>(col) >= keys.size()) return;
      const auto k = static_cast<char32_t>(keys[static_cast<std::size_t>(col)]);
      out.push_back(upper ? k - 0x20 : k);
    };
    const auto col = static_cast<std::ptrdiff_t>(i);
    key(r, col - 1);
    key(r, col + 1);
    if (r > 0) {
      key(r - 1, col);
      key(r - 1, col + 1);
    }
    if (r + 1 < qwerty_rows.size()) {
      key(r + 1, col - 1);
      key(r + 1, col);
    }
    return;
  }
}

/// A visually similar replacement for a character: `ascii` marks the look-alikes TextBugger uses
/// (o → 0, l → 1, a → @); the others are Unicode letters of other scripts (Cyrillic, Greek,
/// Armenian, IPA) that render like the Latin letter.
struct Homoglyph {
  char32_t from;
  char32_t to;
  bool ascii;
};

// Sorted by `from`; within one character, ASCII look-alikes first. One line per character;
// the comment shows the Unicode look-alikes.
// clang-format off
inline constexpr Homoglyph homoglyph_table[] = {
    {U'0', U'O', true}, {U'0', U'\u041E', false},  // О Cyrillic
    {U'1', U'l', true},
    {U'A', U'\u0410', false}, {U'A', U'\u0391', false},  // А Cyrillic, Α Greek
    {U'B', U'8', true}, {U'B', U'\u0412', false}, {U'B', U'\u0392', false},  // В, Β
    {U'C', U'\u0421', false}, {U'C', U'\u03F9', false},  // С, Ϲ
    {U'E', U'3', true}, {U'E', U'\u0415', false}, {U'E', U'\u0395', false},  // Е, Ε
    {U'H', U'\u041D', false}, {U'H', U'\u0397', false},  // Н, Η
    {U'I', U'l', true}, {U'I', U'\u0406', false}, {U'I', U'\u0399', false},  // І, Ι
    {U'J', U'\u0408', false},  // Ј
    {U'K', U'\u041A', false}, {U'K', U'\u039A', false},  // К, Κ
    {U'M', U'\u041C', false}, {U'M', U'\u039C', false},  // М, Μ
    {U'N', U'\u039D', false},  // Ν
    {U'O', U'0', true}, {U'O', U'\u041E', false}, {U'O', U'\u039F', false},  // О, Ο
    {U'P', U'\u0420', false}, {U'P', U'\u03A1', false},  // Р, Ρ
    {U'S', U'5', true}, {U'S', U'\u0405', false},  // Ѕ
    {U'T', U'7', true}, {U'T', U'\u0422', false}, {U'T', U'\u03A4', false},  // Т, Τ
    {U'X', U'\u0425', false}, {U'X', U'\u03A7', false},  // Х, Χ
    {U'Y', U'\u04AE', false}, {U'Y', U'\u03A5', false},  // Ү, Υ
    {U'Z', U'2', true}, {U'Z', U'\u0396', false},  // Ζ
    {U'a', U'@', true}, {U'a', U'\u0430', false}, {U'a', U'\u0251', false},  // а, ɑ
    {U'b', U'6', true}, {U'b', U'\u042C', false},  // Ь
    {U'c', U'\u0441', false}, {U'c', U'\u03F2', false},  // с, ϲ
    {U'd', U'\u0501', false},  // ԁ
    {U'e', U'3', true}, {U'e', U'\u0435', false},  // е
    {U'g', U'9', true}, {U'g', U'\u0261', false},  // ɡ
    {U'h', U'\u04BB', false},  // һ
    {U'i', U'1', true}, {U'i', U'\u0456', false},  // і
    {U'j', U'\u0458', false},  // ј
    {U'k', U'\u03BA', false},  // κ
    {U'l', U'1', true}, {U'l', U'\u04CF', false},  // ӏ
    {U'n', U'\u0578', false},  // ո Armenian
    {U'o', U'0', true}, {U'o', U'\u043E', false}, {U'o', U'\u03BF', false},  // о, ο
    {U'p', U'\u0440', false},  // р
    {U'q', U'\u051B', false},  // ԛ
    {U's', U'$', true}, {U's', U'\u0455', false},  // ѕ
    {U't', U'7', true},
    {U'u', U'\u03C5', false},  // υ
    {U'v', U'\u03BD', false},  // ν
    {U'w', U'\u051D', false},  // ԝ
    {U'x', U'\u0445', false},  // х
    {U'y', U'\u0443', false},  // у
    {U'z', U'2', true},
};
// clang-format on

[[nodiscard]] constexpr bool homoglyph_table_sorted() {
  for (std::size_t i = 1; i < std::size(homoglyph_table); ++i) {
    if (homoglyph_table[i].from < homoglyph_table[i - 1].from) return false;
  }
  return true;
}
static_assert(homoglyph_table_sorted(), "homoglyph_table must be sorted by the replaced character");

}  // namespace detail::attacks

/// NeighbourCharacterSwap: swap two adjacent characters of a word ("hello" → "hlelo"),
/// DeepWordBug's swap; with `keep_first_and_last` (the default) the first and last characters stay
/// in place, as in TextBugger's swap, so words of fewer than four characters get no candidate.
struct NeighbourCharacterSwapOptions {
  std::size_t candidates_per_word = 0;  ///< 0: all; n: n drawn from the rng
  std::size_t min_word_length = 1;      ///< in code points
  bool keep_first_and_last = true;
};

class NeighbourCharacterSwap {
 public:
  NeighbourCharacterSwap() = default;
  explicit NeighbourCharacterSwap(NeighbourCharacterSwapOptions options) : options_(options) {}
  [[nodiscard]] const NeighbourCharacterSwapOptions& options() const { return options_; }

  void transform(const AttackedText& text, std::span<const WordPosition> positions,
                 std::vector<AttackedText>& out, Rng& rng) const {
    detail::attacks::transform_characters(
        text, positions, out, rng, options_.candidates_per_word, options_.min_word_length,
        "NeighbourCharacterSwap",
        [&](std::string_view word, std::span<const utf8::CodePoint> chars,
            std::vector<std::string>& words, Rng&) {
          const auto [first, last] =
              detail::attacks::editable_range(chars.size(), options_.keep_first_and_last);
          for (std::size_t i = first; i + 1 < last; ++i) {
            const utf8::CodePoint& a = chars[i];
            const utf8::CodePoint& b = chars[i + 1];
            std::string w;
            w.reserve(word.size());
            w.append(word.substr(0, a.offset));
            w.append(word.substr(b.offset, b.length));
            w.append(word.substr(a.offset, a.length));
            w.append(word.substr(b.offset + b.length));
            detail::attacks::add_candidate_word(words, word, std::move(w));
          }
        });
  }

 private:
  NeighbourCharacterSwapOptions options_;
};

/// What CharacterInsertion inserts: a space that splits the word in two (TextBugger's insert,
/// "hello" → "hel lo"), or a letter a–z drawn from the rng for each insertion point (DeepWordBug's
/// insert), upper-case when the characters on both sides (at an end of the word: the two nearest)
/// are upper-case ASCII letters, so "CAT" gets an upper-case letter and "Cat" a lower-case one.
enum class InsertedCharacter : std::uint8_t { space, random_letter };

struct CharacterInsertionOptions {
  InsertedCharacter character = InsertedCharacter::random_letter;
  std::size_t candidates_per_word = 0;  ///< 0: all; n: n drawn from the rng
  std::size_t min_word_length = 1;      ///< in code points
  /// Insert only between two characters of the word, never before the first or after the last.
  /// A space always goes inside (one at an end would only widen the gap).
  bool keep_first_and_last = false;
};

/// CharacterInsertion: one candidate per insertion point (before character 0 ... after the last,
/// or only the inner points); a random letter is drawn for every point before any sampling.
class CharacterInsertion {
 public:
  CharacterInsertion() = default;
  explicit CharacterInsertion(CharacterInsertionOptions options) : options_(options) {}
  [[nodiscard]] const CharacterInsertionOptions& options() const { return options_; }

  void transform(const AttackedText& text, std::span<const WordPosition> positions,
                 std::vector<AttackedText>& out, Rng& rng) const {
    const bool space = options_.character == InsertedCharacter::space;
    const bool inner_only = space || options_.keep_first_and_last;
    detail::attacks::transform_characters(
        text, positions, out, rng, options_.candidates_per_word, options_.min_word_length,
        "CharacterInsertion",
        [&](std::string_view word, std::span<const utf8::CodePoint> chars,
            std::vector<std::string>& words, Rng& r) {
          const std::size_t n = chars.size();
          // Insertion point k goes before code point k (k == n: at the end).
          const std::size_t first = inner_only ? 1 : 0;
          const std::size_t last = inner_only ? n - 1 : n;  // inclusive; n ≥ 1 here
          for (std::size_t k = first; k <= last && k <= n; ++k) {
            char inserted = ' ';
            if (!space) {
              // The characters either side; at an end, the two nearest ones.
              const std::size_t left = k > 0 ? k - 1 : std::min<std::size_t>(1, n - 1);
              const std::size_t right = k < n ? k : (n >= 2 ? n - 2 : 0);
              const bool upper = detail::attacks::is_ascii_upper(chars[left].value) &&
                                 detail::attacks::is_ascii_upper(chars[right].value);
              const auto letter = static_cast<char>('a' + r.uniform_index(26));
              inserted = upper ? static_cast<char>(letter - 0x20) : letter;
            }
            const std::size_t at = k < n ? chars[k].offset : word.size();
            std::string w;
            w.reserve(word.size() + 1);
            w.append(word.substr(0, at));
            w.push_back(inserted);
            w.append(word.substr(at));
            detail::attacks::add_candidate_word(words, word, std::move(w));
          }
        });
  }

 private:
  CharacterInsertionOptions options_;
};

struct CharacterDeletionOptions {
  std::size_t candidates_per_word = 0;  ///< 0: all; n: n drawn from the rng
  std::size_t min_word_length = 1;      ///< in code points
  bool keep_first_and_last = false;     ///< TextBugger deletes inner characters only
};

/// CharacterDeletion: delete one character ("hello" → "hllo"), DeepWordBug's and TextBugger's
/// delete. A one-character word is left alone (deleting it is WordDeletion's job).
class CharacterDeletion {
 public:
  CharacterDeletion() = default;
  explicit CharacterDeletion(CharacterDeletionOptions options) : options_(options) {}
  [[nodiscard]] const CharacterDeletionOptions& options() const { return options_; }

  void transform(const AttackedText& text, std::span<const WordPosition> positions,
                 std::vector<AttackedText>& out, Rng& rng) const {
    detail::attacks::transform_characters(
        text, positions, out, rng, options_.candidates_per_word, options_.min_word_length,
        "CharacterDeletion",
        [&](std::string_view word, std::span<const utf8::CodePoint> chars,
            std::vector<std::string>& words, Rng&) {
          if (chars.size() < 2) return;
          const auto [first, last] =
              detail::attacks::editable_range(chars.size(), options_.keep_first_and_last);
          for (std::size_t i = first; i < last; ++i) {
            detail::attacks::add_candidate_word(
                words, word, detail::attacks::splice_code_point(word, chars[i], {}));
          }
        });
  }

 private:
  CharacterDeletionOptions options_;
};

struct QwertySubstitutionOptions {
  std::size_t candidates_per_word = 0;  ///< 0: all; n: n drawn from the rng
  std::size_t min_word_length = 1;      ///< in code points
  bool keep_first_and_last = false;
};

/// QwertySubstitution: replace an ASCII letter by a neighbouring key of a QWERTY keyboard, case
/// kept ("cat" → "xat", "Cat" → "Xat"), the keyboard typo of DeepWordBug's substitution as
/// TextAttack's WordSwapQWERTY makes it. Other characters have no neighbours and stay.
class QwertySubstitution {
 public:
  QwertySubstitution() = default;
  explicit QwertySubstitution(QwertySubstitutionOptions options) : options_(options) {}
  [[nodiscard]] const QwertySubstitutionOptions& options() const { return options_; }

  void transform(const AttackedText& text, std::span<const WordPosition> positions,
                 std::vector<AttackedText>& out, Rng& rng) const {
    std::vector<char32_t> neighbours;
    detail::attacks::transform_characters(
        text, positions, out, rng, options_.candidates_per_word, options_.min_word_length,
        "QwertySubstitution",
        [&](std::string_view word, std::span<const utf8::CodePoint> chars,
            std::vector<std::string>& words, Rng&) {
          const auto [first, last] =
              detail::attacks::editable_range(chars.size(), options_.keep_first_and_last);
          for (std::size_t i = first; i < last; ++i) {
            detail::attacks::qwerty_neighbours(chars[i].value, neighbours);
            for (const char32_t k : neighbours) {
              const char key = static_cast<char>(k);
              detail::attacks::add_candidate_word(
                  words, word,
                  detail::attacks::splice_code_point(word, chars[i], std::string_view(&key, 1)));
            }
          }
        });
  }

 private:
  QwertySubstitutionOptions options_;
};

/// Which look-alikes HomoglyphSubstitution uses: ASCII ones (TextBugger's 'o' → '0', 'l' → '1',
/// 'a' → '@'), Unicode letters of other scripts (Cyrillic 'а' U+0430 for Latin 'a'), or both.
enum class HomoglyphSet : std::uint8_t { ascii, unicode, all };

struct HomoglyphSubstitutionOptions {
  HomoglyphSet set = HomoglyphSet::all;
  std::size_t candidates_per_word = 0;  ///< 0: all; n: n drawn from the rng
  std::size_t min_word_length = 1;      ///< in code points
  bool keep_first_and_last = false;
};

/// HomoglyphSubstitution: replace one character by a visually similar one (TextBugger's Sub-C).
/// The candidate differs from the word in exactly one code point.
class HomoglyphSubstitution {
 public:
  HomoglyphSubstitution() = default;
  explicit HomoglyphSubstitution(HomoglyphSubstitutionOptions options) : options_(options) {}
  [[nodiscard]] const HomoglyphSubstitutionOptions& options() const { return options_; }

  /// The look-alikes of `c` in this transformation's set, in table order.
  [[nodiscard]] std::vector<char32_t> homoglyphs(char32_t c) const {
    std::vector<char32_t> out;
    for_each_homoglyph(c, [&](char32_t h) { out.push_back(h); });
    return out;
  }

  void transform(const AttackedText& text, std::span<const WordPosition> positions,
                 std::vector<AttackedText>& out, Rng& rng) const {
    std::string encoded;
    detail::attacks::transform_characters(
        text, positions, out, rng, options_.candidates_per_word, options_.min_word_length,
        "HomoglyphSubstitution",
        [&](std::string_view word, std::span<const utf8::CodePoint> chars,
            std::vector<std::string>& words, Rng&) {
          const auto [first, last] =
              detail::attacks::editable_range(chars.size(), options_.keep_first_and_last);
          for (std::size_t i = first; i < last; ++i) {
            for_each_homoglyph(chars[i].value, [&](char32_t h) {
              encoded.clear();
              utf8::append(encoded, h);
              detail::attacks::add_candidate_word(
                  words, word, detail::attacks::splice_code_point(word, chars[i], encoded));
            });
          }
        });
  }

 private:
  template <class F>
  void for_each_homoglyph(char32_t c, F&& f) const {
    const auto& table = detail::attacks::homoglyph_table;
    const auto* it = std::lower_bound(
        std::begin(table), std::end(table), c,
        [](const detail::attacks::Homoglyph& h, char32_t v) { return h.from < v; });
    for (; it != std::end(table) && it->from == c; ++it) {
      if (options_.set == HomoglyphSet::all || it->ascii == (options_.set == HomoglyphSet::ascii)) {
        f(it->to);
      }
    }
  }

  HomoglyphSubstitutionOptions options_;
};

static_assert(Transformation<NeighbourCharacterSwap>);
static_assert(Transformation<CharacterInsertion>);
static_assert(Transformation<CharacterDeletion>);
static_assert(Transformation<QwertySubstitution>);
static_assert(Transformation<HomoglyphSubstitution>);

}  // namespace moerb
