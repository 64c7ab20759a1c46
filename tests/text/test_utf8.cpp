// Tests for include/moerb/text/utf8.hpp
#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/text/utf8.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_text_utf8 {

namespace u8 = moerb::utf8;

namespace {

/// Runs `f`, which must throw moerb::error, and returns the message.
template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const moerb::error& e) {
    return e.what();
  }
  BOOST_FAIL("expected moerb::error, nothing was thrown");
  return {};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// "aé世😀": 1-, 2-, 3- and 4-byte sequences.
constexpr std::string_view kMixed = "a\xC3\xA9\xE4\xB8\x96\xF0\x9F\x98\x80";

}  // namespace

BOOST_AUTO_TEST_SUITE(utf8)

BOOST_AUTO_TEST_CASE(decode_reads_one_to_four_byte_sequences) {
  char32_t cp = 0;
  BOOST_TEST(u8::decode(kMixed, 0, cp) == 1u);
  BOOST_TEST(static_cast<std::uint32_t>(cp) == 0x61u);
  BOOST_TEST(u8::decode(kMixed, 1, cp) == 2u);
  BOOST_TEST(static_cast<std::uint32_t>(cp) == 0xE9u);
  BOOST_TEST(u8::decode(kMixed, 3, cp) == 3u);
  BOOST_TEST(static_cast<std::uint32_t>(cp) == 0x4E16u);
  BOOST_TEST(u8::decode(kMixed, 6, cp) == 4u);
  BOOST_TEST(static_cast<std::uint32_t>(cp) == 0x1F600u);
  BOOST_TEST(u8::decode(kMixed, kMixed.size(), cp) == 0u);  // past the end
}

BOOST_AUTO_TEST_CASE(decode_rejects_every_kind_of_ill_formed_sequence) {
  const std::vector<std::string> bad = {
      "\x80",              // continuation byte without a lead byte
      "\xBF",              // same
      "\xF8\x88\x80\x80",  // 5-byte lead (not UTF-8 since RFC 3629)
      "\xFF",              // never valid
      "\xC3",              // truncated 2-byte sequence
      "\xE4\xB8",          // truncated 3-byte sequence
      "\xF0\x9F\x98",      // truncated 4-byte sequence
      "\xC3\x28",          // second byte not a continuation byte
      "\xC0\xAF",          // overlong '/'
      "\xC1\xBF",          // overlong U+007F
      "\xE0\x80\xAF",      // overlong '/' in 3 bytes
      "\xF0\x80\x80\xAF",  // overlong '/' in 4 bytes
      "\xED\xA0\x80",      // U+D800, a surrogate
      "\xED\xBF\xBF",      // U+DFFF, a surrogate
      "\xF4\x90\x80\x80",  // U+110000, above the Unicode range
      "\xF5\x80\x80\x80",  // lead byte of values above U+10FFFF
  };
  for (const std::string& s : bad) {
    char32_t cp = 0;
    BOOST_TEST_CONTEXT("bytes of length " << s.size()) {
      BOOST_TEST(u8::decode(s, 0, cp) == 0u);
      BOOST_TEST(!u8::is_valid(s));
      BOOST_TEST(u8::find_invalid(s) == 0u);
    }
  }
  // The boundary values on the valid side.
  char32_t cp = 0;
  BOOST_TEST(u8::decode("\xC2\x80", 0, cp) == 2u);          // U+0080
  BOOST_TEST(u8::decode("\xED\x9F\xBF", 0, cp) == 3u);      // U+D7FF
  BOOST_TEST(u8::decode("\xEE\x80\x80", 0, cp) == 3u);      // U+E000
  BOOST_TEST(u8::decode("\xF4\x8F\xBF\xBF", 0, cp) == 4u);  // U+10FFFF
  BOOST_TEST(static_cast<std::uint32_t>(cp) == 0x10FFFFu);
}

BOOST_AUTO_TEST_CASE(every_scalar_value_round_trips_through_append_and_decode) {
  std::string bytes;
  for (char32_t cp = 0; cp <= u8::max_code_point; ++cp) {
    if (!u8::is_scalar_value(cp)) continue;
    bytes.clear();
    u8::append(bytes, cp);
    char32_t back = 0;
    const std::size_t length = u8::decode(bytes, 0, back);
    if (length != bytes.size() || back != cp) {
      BOOST_FAIL("code point " << static_cast<std::uint32_t>(cp) << " does not round trip");
    }
  }
  BOOST_TEST(u8::is_valid(kMixed));
}

BOOST_AUTO_TEST_CASE(append_rejects_surrogates_and_values_above_the_range) {
  std::string out;
  const std::string msg = message_of([&] { u8::append(out, char32_t{0xD800}); });
  BOOST_TEST(contains(msg, "utf8::append: code point 0xd800 is not a Unicode scalar value"));
  BOOST_CHECK_THROW(u8::append(out, char32_t{0x110000}), moerb::error);
  BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_CASE(find_invalid_and_require_valid_name_the_byte_offset) {
  const std::string text = std::string(kMixed) + "ok\xFFrest";
  BOOST_TEST(u8::find_invalid(text) == kMixed.size() + 2);
  BOOST_TEST(u8::find_invalid("") == std::string_view::npos);
  BOOST_TEST(u8::is_valid(""));
  BOOST_CHECK_NO_THROW(u8::require_valid(kMixed, "f", "x"));
  const std::string msg = message_of([&] { u8::require_valid(text, "Caller::f", "name"); });
  BOOST_TEST(msg == "Caller::f: name has invalid UTF-8 at byte offset 12 (byte 0xff)");
}

BOOST_AUTO_TEST_CASE(code_points_iterates_values_offsets_and_lengths) {
  static_assert(std::forward_iterator<u8::CodePointIterator>);
  std::vector<u8::CodePoint> seen;
  for (const u8::CodePoint& c : u8::code_points(kMixed)) seen.push_back(c);
  const std::vector<u8::CodePoint> expected = {
      {U'a', 0, 1}, {char32_t{0xE9}, 1, 2}, {char32_t{0x4E16}, 3, 3}, {char32_t{0x1F600}, 6, 4}};
  BOOST_TEST_REQUIRE(seen.size() == expected.size());
  for (std::size_t i = 0; i < seen.size(); ++i) {
    BOOST_TEST_CONTEXT("code point " << i) {
      BOOST_TEST(static_cast<std::uint32_t>(seen[i].value) ==
                 static_cast<std::uint32_t>(expected[i].value));
      BOOST_TEST(seen[i].offset == expected[i].offset);
      BOOST_TEST(seen[i].length == expected[i].length);
    }
  }
  BOOST_TEST(u8::length(kMixed) == 4u);
  BOOST_TEST(u8::length("") == 0u);
  int count = 0;
  for ([[maybe_unused]] const auto& c : u8::code_points("")) ++count;
  BOOST_TEST(count == 0);
}

BOOST_AUTO_TEST_CASE(code_points_throws_at_the_first_ill_formed_sequence) {
  const std::string text = "ab\xE4\xB8";  // truncated 世 at offset 2
  std::vector<char32_t> before;
  const std::string msg = message_of([&] {
    for (const u8::CodePoint& c : u8::code_points(text, "Reader::scan")) before.push_back(c.value);
  });
  BOOST_TEST(msg == "Reader::scan: text has invalid UTF-8 at byte offset 2 (byte 0xe4)");
  BOOST_TEST(before.size() == 2u);  // 'a' and 'b' were read first
  BOOST_TEST(contains(message_of([&] { (void)u8::length(text); }), "byte offset 2"));
}

BOOST_AUTO_TEST_CASE(to_lower_covers_ascii_latin1_latin_extended_a_greek_cyrillic) {
  const auto lower = [](std::uint32_t cp) {
    return static_cast<std::uint32_t>(u8::to_lower(static_cast<char32_t>(cp)));
  };
  // ASCII
  BOOST_TEST(lower('A') == std::uint32_t{'a'});
  BOOST_TEST(lower('Z') == std::uint32_t{'z'});
  BOOST_TEST(lower('a') == std::uint32_t{'a'});
  BOOST_TEST(lower('@') == std::uint32_t{'@'});
  BOOST_TEST(lower('[') == std::uint32_t{'['});
  // Latin-1 Supplement: À→à, Ö→ö, Ø→ø, Þ→þ; × and ß unchanged
  BOOST_TEST(lower(0xC0) == 0xE0u);
  BOOST_TEST(lower(0xD6) == 0xF6u);
  BOOST_TEST(lower(0xD8) == 0xF8u);
  BOOST_TEST(lower(0xDE) == 0xFEu);
  BOOST_TEST(lower(0xD7) == 0xD7u);
  BOOST_TEST(lower(0xDF) == 0xDFu);
  BOOST_TEST(lower(0xE9) == 0xE9u);
  // Latin Extended-A: Ā→ā, Ĳ→ĳ, Ł→ł (odd-start run), Ŋ→ŋ, Ž→ž, İ→i, Ÿ→ÿ; ı and ſ unchanged
  BOOST_TEST(lower(0x100) == 0x101u);
  BOOST_TEST(lower(0x101) == 0x101u);
  BOOST_TEST(lower(0x132) == 0x133u);
  BOOST_TEST(lower(0x141) == 0x142u);
  BOOST_TEST(lower(0x142) == 0x142u);
  BOOST_TEST(lower(0x14A) == 0x14Bu);
  BOOST_TEST(lower(0x17D) == 0x17Eu);
  BOOST_TEST(lower(0x130) == std::uint32_t{'i'});
  BOOST_TEST(lower(0x178) == 0xFFu);
  BOOST_TEST(lower(0x131) == 0x131u);
  BOOST_TEST(lower(0x17F) == 0x17Fu);
  // Greek: Α→α, Σ→σ, Ά→ά, Ώ→ώ; U+03A2 (unassigned) unchanged
  BOOST_TEST(lower(0x391) == 0x3B1u);
  BOOST_TEST(lower(0x3A3) == 0x3C3u);
  BOOST_TEST(lower(0x386) == 0x3ACu);
  BOOST_TEST(lower(0x38F) == 0x3CEu);
  BOOST_TEST(lower(0x3A2) == 0x3A2u);
  // Cyrillic: Ё→ё, А→а, Я→я
  BOOST_TEST(lower(0x401) == 0x451u);
  BOOST_TEST(lower(0x410) == 0x430u);
  BOOST_TEST(lower(0x42F) == 0x44Fu);
  // Outside the documented coverage: unchanged (Armenian Ա, fullwidth Ａ, CJK, emoji)
  BOOST_TEST(lower(0x531) == 0x531u);
  BOOST_TEST(lower(0xFF21) == 0xFF21u);
  BOOST_TEST(lower(0x4E16) == 0x4E16u);
  BOOST_TEST(lower(0x1F600) == 0x1F600u);
}

BOOST_AUTO_TEST_CASE(to_lower_is_idempotent_and_maps_upper_to_a_different_letter) {
  for (char32_t cp = 0; cp < 0x500; ++cp) {
    const char32_t l = u8::to_lower(cp);
    if (u8::to_lower(l) != l) {
      BOOST_FAIL("to_lower is not idempotent at " << static_cast<std::uint32_t>(cp));
    }
  }
}

BOOST_AUTO_TEST_CASE(to_lower_on_strings_keeps_unmapped_bytes) {
  BOOST_TEST(u8::to_lower("ÉCOLE Ünïcode ŁÓDŹ ΑΘΉΝΑ МОСКВА 世界 😀") ==
             "école ünïcode łódź αθήνα москва 世界 😀");
  BOOST_TEST(u8::to_lower("").empty());
  BOOST_TEST(contains(message_of([] { (void)u8::to_lower("AB\xC3"); }), "byte offset 2"));
}

BOOST_AUTO_TEST_CASE(whitespace_class) {
  for (char32_t cp : {U' ', U'\t', U'\n', U'\r', U'\v', U'\f', char32_t{0x85}, char32_t{0xA0},
                      char32_t{0x1680}, char32_t{0x2000}, char32_t{0x200A}, char32_t{0x2028},
                      char32_t{0x2029}, char32_t{0x202F}, char32_t{0x205F}, char32_t{0x3000}}) {
    BOOST_TEST(u8::is_whitespace(cp), "U+" << static_cast<std::uint32_t>(cp));
  }
  for (char32_t cp : {U'a', U'0', U'_', char32_t{0}, char32_t{0x200B}, char32_t{0x4E16}}) {
    BOOST_TEST(!u8::is_whitespace(cp), "U+" << static_cast<std::uint32_t>(cp));
  }
}

BOOST_AUTO_TEST_CASE(control_class_excludes_whitespace) {
  for (char32_t cp : {char32_t{0}, char32_t{0x01}, char32_t{0x1F}, char32_t{0x7F}, char32_t{0x9F},
                      char32_t{0xAD}, char32_t{0x200B}, char32_t{0x200F}, char32_t{0x202E},
                      char32_t{0x2060}, char32_t{0xFEFF}, char32_t{0xFFFD}}) {
    BOOST_TEST(u8::is_control(cp), "U+" << static_cast<std::uint32_t>(cp));
  }
  for (char32_t cp : {U'\t', U'\n', U'\r', U' ', char32_t{0x85}, U'a', char32_t{0xE9}}) {
    BOOST_TEST(!u8::is_control(cp), "U+" << static_cast<std::uint32_t>(cp));
  }
}

BOOST_AUTO_TEST_CASE(punctuation_class_follows_bert_for_ascii_and_adds_unicode_ranges) {
  // Every printable ASCII character that is not a letter, digit or space.
  for (char32_t cp = 33; cp < 127; ++cp) {
    const bool alnum =
        (cp >= U'0' && cp <= U'9') || (cp >= U'a' && cp <= U'z') || (cp >= U'A' && cp <= U'Z');
    BOOST_TEST(u8::is_punctuation(cp) == !alnum, "U+" << static_cast<std::uint32_t>(cp));
  }
  // ¡ « » ¿, en dash, em dash, ‘ ’ “ ”, …, ‰, ⁂, the ideographic comma and full stop, 「 」,
  // fullwidth ！ and ？.
  for (std::uint32_t cp :
       {0xA1u, 0xABu, 0xBBu, 0xBFu, 0x2013u, 0x2014u, 0x2018u, 0x2019u, 0x201Cu, 0x201Du, 0x2026u,
        0x2030u, 0x2042u, 0x3001u, 0x3002u, 0x300Cu, 0x300Du, 0xFF01u, 0xFF1Fu}) {
    BOOST_TEST(u8::is_punctuation(static_cast<char32_t>(cp)), "U+" << cp);
  }
  // Letters, digits, spaces, symbols outside the ranges, CJK and emoji are not.
  for (char32_t cp : {U' ', char32_t{0xE9}, char32_t{0xD7}, char32_t{0x2000}, char32_t{0x20AC},
                      char32_t{0x4E16}, char32_t{0x1F600}}) {
    BOOST_TEST(!u8::is_punctuation(cp), "U+" << static_cast<std::uint32_t>(cp));
  }
}

BOOST_AUTO_TEST_CASE(cjk_class_matches_berts_ideograph_blocks) {
  for (std::uint32_t cp :
       {0x4E00u, 0x4E16u, 0x754Cu, 0x9FFFu, 0x3400u, 0x20000u, 0x2A700u, 0xF900u, 0x2F800u}) {
    BOOST_TEST(u8::is_cjk(static_cast<char32_t>(cp)), "U+" << cp);
  }
  // Hiragana, Katakana and Hangul stay inside words, as in BERT; so do Latin and emoji.
  for (std::uint32_t cp : {0x3042u, 0x30A2u, 0xAC00u, 0x61u, 0x1F600u, 0x3000u}) {
    BOOST_TEST(!u8::is_cjk(static_cast<char32_t>(cp)), "U+" << cp);
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_text_utf8
