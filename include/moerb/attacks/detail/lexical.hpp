#pragma once
// Small word helpers shared by the lexical transformations and constraints (WordNet synonyms,
// embedding neighbours, part-of-speech and cosine constraints).
#include <cctype>
#include <string>
#include <string_view>

#include "moerb/attacks/attacked_text.hpp"
#include "moerb/text/utf8.hpp"

namespace moerb::detail::lexical {

/// Whether `s` is exactly one AttackedText word: non-empty, no whitespace or ASCII punctuation
/// except an apostrophe or hyphen between two word characters ("don't", "well-known"). Only such
/// strings are proposed as substitutes, so a candidate text splits into the same slots again.
[[nodiscard]] inline bool is_single_word(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!attacks::is_gap_byte(s[i])) continue;
    const bool joiner = (s[i] == '\'' || s[i] == '-') && i > 0 && i + 1 < s.size() &&
                        !attacks::is_gap_byte(s[i - 1]) && !attacks::is_gap_byte(s[i + 1]);
    if (!joiner) return false;
  }
  return true;
}

/// Lower case (utf8::to_lower: ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic), the form the
/// lexicons and the tokenizers' vocabularies store words in.
[[nodiscard]] inline std::string lower(std::string_view word, std::string_view where) {
  return utf8::to_lower(word, where);
}

[[nodiscard]] inline bool is_ascii_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
[[nodiscard]] inline bool is_ascii_lower(char c) {
  return c >= 'a' && c <= 'z';
}

}  // namespace moerb::detail::lexical
