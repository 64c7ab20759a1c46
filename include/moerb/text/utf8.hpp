#pragma once
// UTF-8 decoding, validation and encoding, code point iteration, simple lower-casing and the
// character classes BERT-style pre-tokenization needs (Devlin et al. 2019, "BERT", and its
// reference tokenizer): whitespace, control characters, punctuation and CJK ideographs.
//
// Everything here works on Unicode scalar values (char32_t) and needs no tables beyond a few
// ranges, so it stays in the standard library; it is deliberately not a full Unicode database.
// What each function covers is listed in its comment.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include "moerb/core/error.hpp"

namespace moerb::utf8 {

/// Largest Unicode code point.
inline constexpr char32_t max_code_point = 0x10FFFF;

/// True for Unicode scalar values: code points up to U+10FFFF except the surrogates
/// U+D800–U+DFFF, which UTF-8 must not encode.
[[nodiscard]] constexpr bool is_scalar_value(char32_t cp) noexcept {
  return cp <= max_code_point && !(cp >= 0xD800 && cp <= 0xDFFF);
}

/// Decodes the UTF-8 sequence that starts at byte `offset` of `text` (offset < text.size()).
///
/// Returns its length in bytes (1–4) and stores the code point in `code_point`, or returns 0 when
/// the bytes there are not well-formed UTF-8 (RFC 3629): a stray continuation byte, a lead byte
/// 0xF8–0xFF, a truncated sequence, an overlong encoding, a surrogate or a value above U+10FFFF.
[[nodiscard]] constexpr std::size_t decode(std::string_view text, std::size_t offset,
                                           char32_t& code_point) noexcept {
  if (offset >= text.size()) return 0;
  const auto lead = static_cast<unsigned char>(text[offset]);
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  }
  std::size_t length = 0;
  char32_t value = 0;
  char32_t smallest = 0;  // the smallest value that needs `length` bytes (rejects overlong forms)
  if ((lead & 0xE0u) == 0xC0u) {
    length = 2;
    value = lead & 0x1Fu;
    smallest = 0x80;
  } else if ((lead & 0xF0u) == 0xE0u) {
    length = 3;
    value = lead & 0x0Fu;
    smallest = 0x800;
  } else if ((lead & 0xF8u) == 0xF0u) {
    length = 4;
    value = lead & 0x07u;
    smallest = 0x10000;
  } else {
    return 0;  // continuation byte or 0xF8–0xFF as a lead byte
  }
  if (text.size() - offset < length) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    const auto byte = static_cast<unsigned char>(text[offset + k]);
    if ((byte & 0xC0u) != 0x80u) return 0;
    value = (value << 6) | (byte & 0x3Fu);
  }
  if (value < smallest || !is_scalar_value(value)) return 0;
  code_point = value;
  return length;
}

/// Byte offset of the first ill-formed sequence in `text`, or std::string_view::npos when the
/// whole text is valid UTF-8.
[[nodiscard]] constexpr std::size_t find_invalid(std::string_view text) noexcept {
  std::size_t offset = 0;
  while (offset < text.size()) {
    char32_t cp = 0;
    const std::size_t length = decode(text, offset, cp);
    if (length == 0) return offset;
    offset += length;
  }
  return std::string_view::npos;
}

[[nodiscard]] constexpr bool is_valid(std::string_view text) noexcept {
  return find_invalid(text) == std::string_view::npos;
}

namespace detail {

/// Lower-case hexadecimal digits of `value`, at least `width` of them.
[[nodiscard]] inline std::string to_hex(std::uint32_t value, int width) {
  constexpr char digits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), digits[value & 0x0Fu]);
    value >>= 4;
  } while (value != 0 || static_cast<int>(out.size()) < width);
  return out;
}

/// "invalid UTF-8 at byte offset 5 (byte 0xff)": the message part every UTF-8 error shares.
[[nodiscard]] inline std::string describe_invalid(std::string_view text, std::size_t offset) {
  const auto byte = static_cast<unsigned char>(text[offset]);
  return "invalid UTF-8 at byte offset " + std::to_string(offset) + " (byte 0x" + to_hex(byte, 2) +
         ")";
}

}  // namespace detail

/// Throws moerb::error "<where>: <what> has invalid UTF-8 at byte offset N (byte 0x..)" unless
/// `text` is valid UTF-8.
inline void require_valid(std::string_view text, std::string_view where, std::string_view what) {
  const std::size_t bad = find_invalid(text);
  if (bad != std::string_view::npos) {
    throw error(
        moerb::detail::concat(where, ": ", what, " has ", detail::describe_invalid(text, bad)));
  }
}

/// Appends the UTF-8 encoding of `code_point` to `out`; throws moerb::error for a value that is
/// not a Unicode scalar value (a surrogate or above U+10FFFF).
inline void append(std::string& out, char32_t code_point) {
  if (!is_scalar_value(code_point)) {
    throw error("utf8::append: code point 0x" +
                detail::to_hex(static_cast<std::uint32_t>(code_point), 4) +
                " is not a Unicode scalar value (a surrogate or above U+10FFFF)");
  }
  const auto put = [&out](std::uint32_t byte) { out.push_back(static_cast<char>(byte)); };
  const auto cp = static_cast<std::uint32_t>(code_point);
  if (cp < 0x80) {
    put(cp);
  } else if (cp < 0x800) {
    put(0xC0u | (cp >> 6));
    put(0x80u | (cp & 0x3Fu));
  } else if (cp < 0x10000) {
    put(0xE0u | (cp >> 12));
    put(0x80u | ((cp >> 6) & 0x3Fu));
    put(0x80u | (cp & 0x3Fu));
  } else {
    put(0xF0u | (cp >> 18));
    put(0x80u | ((cp >> 12) & 0x3Fu));
    put(0x80u | ((cp >> 6) & 0x3Fu));
    put(0x80u | (cp & 0x3Fu));
  }
}

/// One decoded code point and where its bytes are: text.substr(offset, length).
struct CodePoint {
  char32_t value = 0;
  std::size_t offset = 0;
  std::size_t length = 0;
  friend bool operator==(const CodePoint&, const CodePoint&) = default;
};

/// Forward iterator over the code points of a UTF-8 string. Decoding happens as it advances; an
/// ill-formed sequence throws moerb::error naming `where` and the byte offset.
class CodePointIterator {
 public:
  using value_type = CodePoint;
  using difference_type = std::ptrdiff_t;
  using iterator_category = std::forward_iterator_tag;
  using iterator_concept = std::forward_iterator_tag;

  CodePointIterator() = default;
  CodePointIterator(std::string_view text, std::size_t offset, std::string_view where)
      : text_(text), where_(where) {
    load(offset);
  }

  const CodePoint& operator*() const noexcept { return current_; }
  const CodePoint* operator->() const noexcept { return &current_; }
  CodePointIterator& operator++() {
    load(current_.offset + current_.length);
    return *this;
  }
  CodePointIterator operator++(int) {
    CodePointIterator before = *this;
    ++*this;
    return before;
  }
  /// Iterators compare by position (both must walk the same string).
  friend bool operator==(const CodePointIterator& a, const CodePointIterator& b) noexcept {
    return a.current_.offset == b.current_.offset;
  }

 private:
  void load(std::size_t offset) {
    current_ = CodePoint{0, offset, 0};
    if (offset >= text_.size()) {
      current_.offset = text_.size();
      return;
    }
    current_.length = decode(text_, offset, current_.value);
    if (current_.length == 0) {
      throw error(
          moerb::detail::concat(where_, ": text has ", detail::describe_invalid(text_, offset)));
    }
  }

  std::string_view text_;
  std::string_view where_;
  CodePoint current_;
};

/// The code points of a UTF-8 string as a forward range:
/// `for (const utf8::CodePoint& c : utf8::code_points(text)) ...`. The range views `text` (which
/// must outlive it); `where` names the caller in the error an ill-formed sequence raises.
class CodePointRange {
 public:
  explicit CodePointRange(std::string_view text, std::string_view where = "utf8::code_points")
      : text_(text), where_(where) {}
  [[nodiscard]] CodePointIterator begin() const { return {text_, 0, where_}; }
  [[nodiscard]] CodePointIterator end() const { return {text_, text_.size(), where_}; }

 private:
  std::string_view text_;
  std::string_view where_;
};

[[nodiscard]] inline CodePointRange code_points(std::string_view text,
                                                std::string_view where = "utf8::code_points") {
  return CodePointRange(text, where);
}

/// Number of code points in `text`; throws moerb::error (naming `where` and the byte offset) if it
/// is not valid UTF-8.
[[nodiscard]] inline std::size_t length(std::string_view text,
                                        std::string_view where = "utf8::length") {
  std::size_t count = 0;
  std::size_t offset = 0;
  while (offset < text.size()) {
    char32_t cp = 0;
    const std::size_t n = decode(text, offset, cp);
    if (n == 0) {
      throw error(
          moerb::detail::concat(where, ": text has ", detail::describe_invalid(text, offset)));
    }
    offset += n;
    ++count;
  }
  return count;
}

/// Simple (one-to-one) lower-case mapping, as in UnicodeData.txt's simple lowercase field, for
///  - Basic Latin: A–Z;
///  - Latin-1 Supplement: U+00C0–U+00DE except U+00D7 (×);
///  - Latin Extended-A (U+0100–U+017F): every cased pair, U+0130 (İ) → i and U+0178 (Ÿ) → ÿ;
///  - Greek: U+0386, U+0388–U+038A, U+038C, U+038E–U+038F, U+0391–U+03AB;
///  - Cyrillic: U+0400–U+042F.
/// Every other code point (lower-case letters, other scripts, symbols) is returned unchanged.
/// Accents are kept: unlike BERT's uncased models there is no NFD accent stripping.
[[nodiscard]] constexpr char32_t to_lower(char32_t cp) noexcept {
  if (cp < 0x80) return (cp >= U'A' && cp <= U'Z') ? cp + 0x20 : cp;
  if (cp < 0xC0) return cp;
  if (cp <= 0xDE) return cp == 0xD7 ? cp : cp + 0x20;
  if (cp < 0x100) return cp;
  if (cp <= 0x17F) {
    // Pairs (upper, lower) start on an even code point in these runs ...
    if ((cp <= 0x12F) || (cp >= 0x132 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177)) {
      return cp | 1u;
    }
    // ... and on an odd one in these.
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) {
      return (cp & 1u) ? cp + 1 : cp;
    }
    if (cp == 0x130) return U'i';
    if (cp == 0x178) return 0xFF;
    return cp;  // ı, ĸ, ŉ, ſ: lower-case letters without an upper-case partner in this block
  }
  if (cp < 0x386) return cp;
  if (cp <= 0x3AB) {
    if (cp >= 0x391) return cp == 0x3A2 ? cp : cp + 0x20;  // U+03A2 is unassigned
    switch (cp) {
      case 0x386:
        return 0x3AC;
      case 0x388:
      case 0x389:
      case 0x38A:
        return cp + 0x25;
      case 0x38C:
        return 0x3CC;
      case 0x38E:
      case 0x38F:
        return cp + 0x3F;
      default:
        return cp;
    }
  }
  if (cp >= 0x400 && cp <= 0x40F) return cp + 0x50;
  if (cp >= 0x410 && cp <= 0x42F) return cp + 0x20;
  return cp;
}

/// Lower-cases every code point of a UTF-8 string with to_lower; throws moerb::error naming the
/// byte offset of the first ill-formed sequence.
[[nodiscard]] inline std::string to_lower(std::string_view text,
                                          std::string_view where = "utf8::to_lower") {
  std::string out;
  out.reserve(text.size());
  for (const CodePoint& c : code_points(text, where)) {
    const char32_t lower = to_lower(c.value);
    if (lower == c.value) {
      out.append(text.substr(c.offset, c.length));
    } else {
      append(out, lower);
    }
  }
  return out;
}

/// Whitespace for word splitting: tab, line feed, vertical tab, form feed, carriage return,
/// U+0085 (next line), U+2028/U+2029 (line/paragraph separators) and the space separators
/// (general category Zs: U+0020, U+00A0, U+1680, U+2000–U+200A, U+202F, U+205F, U+3000).
[[nodiscard]] constexpr bool is_whitespace(char32_t cp) noexcept {
  if (cp < 0x80) return cp == U' ' || (cp >= 0x09 && cp <= 0x0D);
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/// Characters that pre-tokenization drops, as BERT's text cleaning does: control characters
/// (general category Cc: U+0000–U+001F and U+007F–U+009F) other than whitespace, the common format
/// characters (Cf: U+00AD soft hyphen, U+200B–U+200F zero-width and direction marks,
/// U+202A–U+202E embeddings, U+2060–U+2064, U+FEFF byte order mark) and U+FFFD, the replacement
/// character.
[[nodiscard]] constexpr bool is_control(char32_t cp) noexcept {
  if (is_whitespace(cp)) return false;
  return cp <= 0x1F || (cp >= 0x7F && cp <= 0x9F) || cp == 0xAD || (cp >= 0x200B && cp <= 0x200F) ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2064) || cp == 0xFEFF ||
         cp == 0xFFFD;
}

/// Punctuation that becomes a token of its own:
///  - every printable ASCII character that is neither a letter, a digit nor a space (as BERT does,
///    so symbols such as $ + < = > ^ ` | ~ count as punctuation too);
///  - Latin-1 punctuation ¡ § « ¶ · » ¿;
///  - the General Punctuation block U+2010–U+2027 and U+2030–U+205E (dashes, quotes, daggers,
///    ellipsis, per mille, primes, ..., and the two math symbols ⁄ U+2044 and ⁒ U+2052 among them;
///    the spaces and format characters of the block are not included);
///  - the Supplemental Punctuation block U+2E00–U+2E7F (whole block);
///  - CJK Symbols and Punctuation U+3001–U+3003 and U+3008–U+3011, U+3014–U+301F (ideographic
///    comma and full stop, brackets);
///  - the fullwidth forms of the ASCII characters above and the halfwidth CJK punctuation:
///    U+FF01–U+FF0F, U+FF1A–U+FF20, U+FF3B–U+FF40, U+FF5B–U+FF65.
/// These are ranges, not the exact general category P*: ranges keep the test cheap and agree with
/// BERT's choice of splitting ASCII symbols as well.
[[nodiscard]] constexpr bool is_punctuation(char32_t cp) noexcept {
  if (cp < 0x80) {
    return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
           (cp >= 123 && cp <= 126);
  }
  if (cp < 0x100) {
    return cp == 0xA1 || cp == 0xA7 || cp == 0xAB || cp == 0xB6 || cp == 0xB7 || cp == 0xBB ||
           cp == 0xBF;
  }
  return (cp >= 0x2010 && cp <= 0x2027) || (cp >= 0x2030 && cp <= 0x205E) ||
         (cp >= 0x2E00 && cp <= 0x2E7F) || (cp >= 0x3001 && cp <= 0x3003) ||
         (cp >= 0x3008 && cp <= 0x3011) || (cp >= 0x3014 && cp <= 0x301F) ||
         (cp >= 0xFF01 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
         (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65);
}

/// CJK ideographs, which BERT treats as words of their own because Chinese is written without
/// spaces: the CJK Unified Ideographs block and its extensions A–F, and the two compatibility
/// ideograph blocks. (Hiragana, Katakana and Hangul are not included, as in BERT, and stay
/// inside words.)
[[nodiscard]] constexpr bool is_cjk(char32_t cp) noexcept {
  return (cp >= 0x4E00 && cp <= 0x9FFF) ||    // CJK Unified Ideographs
         (cp >= 0x3400 && cp <= 0x4DBF) ||    // Extension A
         (cp >= 0x20000 && cp <= 0x2A6DF) ||  // Extension B
         (cp >= 0x2A700 && cp <= 0x2B73F) ||  // Extension C
         (cp >= 0x2B740 && cp <= 0x2B81F) ||  // Extension D
         (cp >= 0x2B820 && cp <= 0x2CEAF) ||  // Extension E
         (cp >= 0x2CEB0 && cp <= 0x2EBEF) ||  // Extension F
         (cp >= 0xF900 && cp <= 0xFAFF) ||    // CJK Compatibility Ideographs
         (cp >= 0x2F800 && cp <= 0x2FA1F);    // CJK Compatibility Ideographs Supplement
}

}  // namespace moerb::utf8
