// Fuzzes the UTF-8 utilities (include/moerb/text/utf8.hpp) with arbitrary bytes.
//
// Checks: find_invalid, is_valid, length, code_points and to_lower agree on whether the text is
// valid UTF-8 (the throwing ones throw moerb::error, and only then); for valid text, decoding code
// point by code point and re-encoding with append gives back the same bytes, every decoded value
// is a Unicode scalar value encoded in the shortest form, and to_lower keeps the number of code
// points, gives valid UTF-8 and is idempotent; for invalid text, the prefix before find_invalid is
// valid and decode fails exactly there. Every 4-byte group of the input, read as a code point,
// encodes to a sequence decode reads back when it is a scalar value; the first one that is not
// is rejected by append.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "moerb/text/utf8.hpp"

namespace {

namespace utf8 = moerb::utf8;

std::size_t encoded_length(char32_t cp) {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

void check_valid(std::string_view text) {
  std::string reencoded;
  std::size_t count = 0;
  std::size_t offset = 0;
  while (offset < text.size()) {
    char32_t cp = 0;
    const std::size_t n = utf8::decode(text, offset, cp);
    MOERB_FUZZ_CHECK(n != 0, "valid text decodes everywhere");
    MOERB_FUZZ_CHECK(utf8::is_scalar_value(cp) && n == encoded_length(cp), "shortest form");
    utf8::append(reencoded, cp);
    offset += n;
    ++count;
  }
  MOERB_FUZZ_CHECK(reencoded == text, "decode then append gives the bytes back");
  MOERB_FUZZ_CHECK(utf8::length(text) == count, "length counts the code points");

  std::size_t iterated = 0;
  std::size_t expected_offset = 0;
  for (const utf8::CodePoint& c : utf8::code_points(text)) {
    MOERB_FUZZ_CHECK(c.offset == expected_offset, "code_points walks the bytes in order");
    expected_offset += c.length;
    ++iterated;
  }
  MOERB_FUZZ_CHECK(iterated == count && expected_offset == text.size(), "code_points covers all");

  const std::string lower = utf8::to_lower(text);
  MOERB_FUZZ_CHECK(utf8::is_valid(lower), "to_lower gives valid UTF-8");
  MOERB_FUZZ_CHECK(utf8::length(lower) == count, "to_lower maps code points one to one");
  MOERB_FUZZ_CHECK(utf8::to_lower(lower) == lower, "to_lower is idempotent");
}

void check_invalid(std::string_view text, std::size_t bad) {
  MOERB_FUZZ_CHECK(bad < text.size(), "find_invalid points into the text");
  MOERB_FUZZ_CHECK(utf8::is_valid(text.substr(0, bad)), "the prefix before the error is valid");
  char32_t cp = 0;
  MOERB_FUZZ_CHECK(utf8::decode(text, bad, cp) == 0, "decode fails at find_invalid");
  MOERB_FUZZ_CHECK(!moerb::fuzz::parses([&] { (void)utf8::length(text); }), "length throws");
  MOERB_FUZZ_CHECK(!moerb::fuzz::parses([&] { (void)utf8::to_lower(text); }), "to_lower throws");
  MOERB_FUZZ_CHECK(!moerb::fuzz::parses([&] {
    for (const auto& c : utf8::code_points(text)) (void)c;
  }),
                   "code_points throws");
  MOERB_FUZZ_CHECK(!moerb::fuzz::parses([&] { utf8::require_valid(text, "fuzz", "text"); }),
                   "require_valid throws");
}

// `check_rejection`: whether to call append on a non-scalar value and check that it throws. Most
// random 32-bit groups are not code points, and a caught exception costs far more than the rest
// of a group's checks, so the harness checks the rejection for the first such group of an input
// only (about 1 in 2 inputs has one) and spends its time on the encodings instead.
void check_code_point(char32_t cp, bool check_rejection) {
  std::string encoded;
  if (!utf8::is_scalar_value(cp)) {
    if (check_rejection) {
      MOERB_FUZZ_CHECK(!moerb::fuzz::parses([&] { utf8::append(encoded, cp); }),
                       "append rejects non-scalar values");
    }
    return;
  }
  MOERB_FUZZ_CHECK(moerb::fuzz::parses([&] { utf8::append(encoded, cp); }),
                   "append accepts every scalar value");
  char32_t back = 0;
  MOERB_FUZZ_CHECK(utf8::decode(encoded, 0, back) == encoded.size() && back == cp,
                   "append then decode gives the code point back");
  MOERB_FUZZ_CHECK(utf8::is_scalar_value(utf8::to_lower(cp)), "to_lower gives a scalar value");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = moerb::fuzz::as_text(data, size);
  const std::size_t bad = utf8::find_invalid(text);
  MOERB_FUZZ_CHECK(utf8::is_valid(text) == (bad == std::string_view::npos), "is_valid");
  moerb::fuzz::must_not_throw(
      [&] {
        if (bad == std::string_view::npos) {
          check_valid(text);
        } else {
          check_invalid(text, bad);
        }
      },
      "checking the text");
  bool rejection_checked = false;
  for (std::size_t i = 0; i + 4 <= size; i += 4) {
    std::uint32_t value = 0;
    std::memcpy(&value, data + i, 4);
    const auto cp = static_cast<char32_t>(value);
    check_code_point(cp, !rejection_checked);
    rejection_checked = rejection_checked || !utf8::is_scalar_value(cp);
  }
  return 0;
}
