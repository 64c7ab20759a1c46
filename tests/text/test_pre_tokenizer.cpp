// Tests for include/moerb/text/pre_tokenizer.hpp
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/text/pre_tokenizer.hpp"
#include "text/text_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_text_pre_tokenizer {

using moerb::PreTokenizer;
using moerb::test::message_has;
using Words = std::vector<std::string>;

namespace {

PreTokenizer cased() {
  return PreTokenizer(PreTokenizer::Options{.lowercase = false});
}

}  // namespace

BOOST_AUTO_TEST_SUITE(pre_tokenizer)

BOOST_AUTO_TEST_CASE(splits_on_whitespace_and_punctuation_and_lower_cases) {
  const PreTokenizer pt;
  BOOST_TEST(pt.options().lowercase);
  BOOST_TEST(pt.split("Hello, World!") == (Words{"hello", ",", "world", "!"}),
             boost::test_tools::per_element());
  BOOST_TEST(pt.split("  don't\tstop\n\nnow...  ") ==
                 (Words{"don", "'", "t", "stop", "now", ".", ".", "."}),
             boost::test_tools::per_element());
  BOOST_TEST(pt.split("e-mail: a+b=c $5") ==
                 (Words{"e", "-", "mail", ":", "a", "+", "b", "=", "c", "$", "5"}),
             boost::test_tools::per_element());
  BOOST_TEST(pt.split("x_1 2.5") == (Words{"x", "_", "1", "2", ".", "5"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(lowercase_off_keeps_case) {
  BOOST_TEST(cased().split("Hello, WORLD") == (Words{"Hello", ",", "WORLD"}),
             boost::test_tools::per_element());
  BOOST_TEST(cased().normalize("\xC3\x89T\xC3\x89") == "\xC3\x89T\xC3\x89");  // ÉTÉ unchanged
}

BOOST_AUTO_TEST_CASE(empty_and_blank_text_have_no_words) {
  const PreTokenizer pt;
  BOOST_TEST(pt.split("").empty());
  BOOST_TEST(pt.split(" \t\r\n ").empty());
  BOOST_TEST(pt.normalize("").empty());
  int calls = 0;
  pt.for_each_word("   ", [&](std::string_view) { ++calls; });
  BOOST_TEST(calls == 0);
}

BOOST_AUTO_TEST_CASE(non_ascii_letters_accents_cjk_and_emoji) {
  const PreTokenizer pt;
  // Accented capitals are lower-cased and keep their accents; Greek and Cyrillic too.
  BOOST_TEST(pt.split("\xC3\x89"
                      "COLE \xC5\x81\xC3\x93"
                      "D\xC5\xB9 \xCE\x91\xCE\x98\xCE\x97\xCE\x9D"
                      "\xCE\x91 \xD0\x9C\xD0\x98\xD0\xA0") ==
                 (Words{"\xC3\xA9"
                        "cole",
                        "\xC5\x82\xC3\xB3"
                        "d\xC5\xBA",
                        "\xCE\xB1\xCE\xB8\xCE\xB7\xCE\xBD\xCE\xB1", "\xD0\xBC\xD0\xB8\xD1\x80"}),
             boost::test_tools::per_element());
  // Every CJK ideograph is a word; kana stays together.
  BOOST_TEST(pt.split("\xE4\xBD\xA0\xE5\xA5\xBD"
                      "ab\xE4\xB8\x96"
                      "c") ==  // 你好ab世c
                 (Words{"\xE4\xBD\xA0", "\xE5\xA5\xBD", "ab", "\xE4\xB8\x96", "c"}),
             boost::test_tools::per_element());
  BOOST_TEST(pt.split("\xE3\x81\x93\xE3\x82\x93") == (Words{"\xE3\x81\x93\xE3\x82\x93"}),  // こん
             boost::test_tools::per_element());
  // Emoji are neither punctuation nor CJK: they stay in their word.
  BOOST_TEST(pt.split("Hi\xF0\x9F\x98\x80 \xF0\x9F\x91\x8D!") ==
                 (Words{"hi\xF0\x9F\x98\x80", "\xF0\x9F\x91\x8D", "!"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(unicode_whitespace_and_punctuation) {
  const PreTokenizer pt;
  // no-break space, ideographic space, line separator
  BOOST_TEST(pt.split("a\xC2\xA0"
                      "b\xE3\x80\x80"
                      "c\xE2\x80\xA8"
                      "d") == (Words{"a", "b", "c", "d"}),
             boost::test_tools::per_element());
  // “quoted” — em dash … ellipsis, ideographic full stop, fullwidth question mark
  BOOST_TEST(
      pt.split("\xE2\x80\x9Cquoted\xE2\x80\x9D\xE2\x80\x94"
               "dash\xE2\x80\xA6\xE3\x80\x82"
               "\xEF\xBC\x9F") == (Words{"\xE2\x80\x9C", "quoted", "\xE2\x80\x9D", "\xE2\x80\x94",
                                         "dash", "\xE2\x80\xA6", "\xE3\x80\x82", "\xEF\xBC\x9F"}),
      boost::test_tools::per_element());
  BOOST_TEST(pt.split("\xC2\xBF"
                      "Qu\xC3\xA9?") == (Words{"\xC2\xBF", "qu\xC3\xA9", "?"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(control_and_format_characters_are_dropped_without_splitting) {
  const PreTokenizer pt;
  // NUL, BEL, zero-width space, byte order mark, soft hyphen, U+FFFD
  const std::string text = std::string("ab") + '\0' +
                           "c\x07"
                           "d\xE2\x80\x8B"
                           "e\xEF\xBB\xBF"
                           "f" +
                           "\xC2\xAD"
                           "g\xEF\xBF\xBD"
                           "h i";
  BOOST_TEST(pt.split(text) == (Words{"abcdefgh", "i"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(normalize_joins_words_with_single_spaces) {
  const PreTokenizer pt;
  BOOST_TEST(pt.normalize("  Hello,World!  How   ARE you? ") == "hello , world ! how are you ?");
  // Normalising is idempotent.
  const std::string once = pt.normalize("Ça va?  Très\tbien—merci…");
  BOOST_TEST(pt.normalize(once) == once);
}

BOOST_AUTO_TEST_CASE(for_each_word_matches_split) {
  const PreTokenizer pt;
  const std::string text = "One, two; THREE four!";
  Words seen;
  pt.for_each_word(text, [&](std::string_view w) { seen.emplace_back(w); });
  BOOST_TEST(seen == pt.split(text), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(invalid_utf8_throws_naming_the_byte_offset) {
  const PreTokenizer pt;
  BOOST_CHECK_EXCEPTION(
      (void)pt.split("ab \xFF"
                     "cd"),
      moerb::error,
      message_has({"PreTokenizer: text has invalid UTF-8 at byte offset 3 (byte 0xff)"}));
  BOOST_CHECK_EXCEPTION((void)pt.split("caf\xC3\xA9 \xC3"), moerb::error,
                        message_has({"byte offset 6 (byte 0xc3)"}));  // truncated at the end
  BOOST_CHECK_EXCEPTION((void)pt.normalize("\xED\xA0\x80"), moerb::error,
                        message_has({"byte offset 0"}));  // a surrogate
  BOOST_CHECK_EXCEPTION((void)cased().split("ok \xC0\xAF"), moerb::error,
                        message_has({"byte offset 3"}));  // overlong
}

BOOST_AUTO_TEST_CASE(very_long_input) {
  const PreTokenizer pt;
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "Word ";  // 100k characters
  BOOST_TEST(text.size() == 100000u);
  const auto start = std::chrono::steady_clock::now();
  const Words words = pt.split(text);
  BOOST_TEST(words.size() == 20000u);
  BOOST_TEST(words.front() == "word");
  // One 100k-character word.
  const Words single = pt.split(std::string(100000, 'Q'));
  BOOST_TEST_REQUIRE(single.size() == 1u);
  BOOST_TEST(single.front() == std::string(100000, 'q'));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  BOOST_TEST(seconds < 2.0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_text_pre_tokenizer
