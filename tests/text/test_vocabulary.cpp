// Tests for include/moerb/text/vocabulary.hpp
#include <boost/test/unit_test.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "moerb/text/vocabulary.hpp"
#include "text/text_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_text_vocabulary {

using moerb::TokenId;
using moerb::Vocabulary;
using moerb::test::message_has;
using moerb::test::message_of;
using moerb::test::ScratchDir;
using moerb::test::special_lines;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

Vocabulary sample() {
  Vocabulary v;
  v.add("hello");
  v.add("##lo");
  v.add("\xC3\xA9t\xC3\xA9");  // "été"
  v.add("\xE4\xB8\x96");       // 世
  v.add("\xF0\x9F\x98\x80");   // 😀
  return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(vocabulary)

BOOST_AUTO_TEST_CASE(special_tokens_have_fixed_ids) {
  static_assert(std::is_same_v<TokenId, std::int32_t>);
  const Vocabulary v;
  BOOST_TEST(v.size() == 7u);
  const std::vector<std::string> expected = {"[PAD]",  "[UNK]", "[CLS]", "[SEP]",
                                             "[MASK]", "[BOS]", "[EOS]"};
  BOOST_TEST(v.tokens() == expected, boost::test_tools::per_element());
  BOOST_TEST(v.find("[PAD]").value() == Vocabulary::pad_id);
  BOOST_TEST(v.find("[UNK]").value() == Vocabulary::unk_id);
  BOOST_TEST(v.find("[CLS]").value() == Vocabulary::cls_id);
  BOOST_TEST(v.find("[SEP]").value() == Vocabulary::sep_id);
  BOOST_TEST(v.find("[MASK]").value() == Vocabulary::mask_id);
  BOOST_TEST(v.find("[BOS]").value() == Vocabulary::bos_id);
  BOOST_TEST(v.find("[EOS]").value() == Vocabulary::eos_id);
  BOOST_TEST(Vocabulary::pad_id == 0);
  BOOST_TEST(Vocabulary::eos_id == 6);
  for (TokenId id = 0; id < 7; ++id) {
    BOOST_TEST(Vocabulary::is_special(id));
    BOOST_TEST(v.token(id) == Vocabulary::special_tokens[static_cast<std::size_t>(id)]);
  }
  BOOST_TEST(!Vocabulary::is_special(7));
  BOOST_TEST(!Vocabulary::is_special(-1));
}

BOOST_AUTO_TEST_CASE(add_assigns_consecutive_ids_and_is_idempotent) {
  Vocabulary v;
  BOOST_TEST(v.add("cat") == 7);
  BOOST_TEST(v.add("dog") == 8);
  BOOST_TEST(v.add("cat") == 7);
  BOOST_TEST(v.add("[SEP]") == Vocabulary::sep_id);
  BOOST_TEST(v.size() == 9u);
  BOOST_TEST(v.contains("dog"));
  BOOST_TEST(!v.contains("bird"));
  BOOST_TEST(!v.find("bird").has_value());
  BOOST_TEST(v.id_or_unk("bird") == Vocabulary::unk_id);
  BOOST_TEST(v.id_or_unk("dog") == 8);
  BOOST_TEST(v.token(8) == "dog");
  BOOST_TEST(v.contains_id(8));
  BOOST_TEST(!v.contains_id(9));
  BOOST_TEST(!v.contains_id(-1));
}

BOOST_AUTO_TEST_CASE(token_rejects_ids_outside_the_vocabulary) {
  const Vocabulary v = sample();
  BOOST_CHECK_EXCEPTION((void)v.token(12), moerb::error,
                        message_has({"Vocabulary::token: id = 12, expected in [0, 12)"}));
  BOOST_CHECK_EXCEPTION((void)v.token(-1), moerb::error, message_has({"id = -1"}));
}

BOOST_AUTO_TEST_CASE(add_rejects_tokens_the_file_format_cannot_hold) {
  Vocabulary v;
  BOOST_CHECK_EXCEPTION(v.add(""), moerb::error, message_has({"Vocabulary::add: empty token"}));
  BOOST_CHECK_EXCEPTION(v.add("a\nb"), moerb::error, message_has({"contains a line break"}));
  BOOST_CHECK_EXCEPTION(v.add("a\rb"), moerb::error, message_has({"contains a line break"}));
  BOOST_CHECK_EXCEPTION(v.add("ab\xC3"), moerb::error,
                        message_has({"Vocabulary::add: token has invalid UTF-8 at byte offset 2"}));
  BOOST_TEST(v.size() == 7u);
}

BOOST_AUTO_TEST_CASE(text_round_trip_with_non_ascii_tokens) {
  const Vocabulary v = sample();
  const std::string text = v.to_text();
  BOOST_TEST(text == std::string(special_lines) +
                         "hello\n##lo\n\xC3\xA9t\xC3\xA9\n\xE4\xB8\x96\n\xF0\x9F\x98\x80\n");
  const Vocabulary back = Vocabulary::from_text(text);
  BOOST_TEST((back == v));
  BOOST_TEST(back.find("\xE4\xB8\x96").value() == 10);
  // The last line may lack its '\n'.
  BOOST_TEST((Vocabulary::from_text(text.substr(0, text.size() - 1)) == v));
}

BOOST_AUTO_TEST_CASE(save_and_load_round_trip_atomically) {
  const ScratchDir dir;
  const auto path = dir / "vocab.txt";
  const Vocabulary v = sample();
  v.save(path);
  BOOST_TEST(moerb::test::read_bytes(path) == v.to_text());
  BOOST_TEST((Vocabulary::load(path) == v));
  // Saving again replaces the file and leaves no temporary file behind.
  Vocabulary bigger = v;
  bigger.add("more");
  bigger.save(path);
  BOOST_TEST((Vocabulary::load(path) == bigger));
  const std::vector<std::string> entries = dir.entries();
  BOOST_TEST(entries == std::vector<std::string>{"vocab.txt"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(save_into_a_missing_directory_names_the_file) {
  const ScratchDir dir;
  const auto path = dir / "no_such_dir" / "vocab.txt";
  const std::string msg = message_of([&] { Vocabulary().save(path); });
  BOOST_TEST(contains(msg, "Vocabulary::save: cannot create a temporary file"));
  BOOST_TEST(contains(msg, path.string()));
}

BOOST_AUTO_TEST_CASE(load_names_a_missing_file) {
  const ScratchDir dir;
  const auto path = dir / "absent.txt";
  BOOST_CHECK_EXCEPTION((void)Vocabulary::load(path), moerb::error,
                        message_has({"Vocabulary::load: cannot open '" + path.string() + "'"}));
}

BOOST_AUTO_TEST_CASE(load_rejects_malformed_files_naming_file_and_line) {
  const ScratchDir dir;
  const auto path = dir / "bad.txt";
  const std::string file = path.string();
  struct Case {
    std::string content;
    std::string expected;
  };
  const std::string specials(special_lines);
  const std::vector<Case> cases = {
      {specials + "cat\ndog\ncat\n", file + ":10: duplicate token 'cat' (first on line 8)"},
      {specials + "cat\n[UNK]\n", file + ":9: duplicate token '[UNK]' (first on line 2)"},
      {specials + "cat\n\ndog\n", file + ":9: empty line"},
      {"\n", file + ":1: empty line"},
      {specials + "cat\nd\xFFg\n",
       file + ":9: invalid UTF-8 at byte offset 1 (byte 0xff) of the line"},
      {specials + "cat\r\ndog\r\n", file + ":8: carriage return"},
      {"", file + ":1: missing special token [PAD] (id 0)"},
      {"[PAD]\n[UNK]\n[CLS]\n", file + ":4: missing special token [SEP] (id 3)"},
      {"[PAD]\n[UNK]\n[SEP]\n[CLS]\n[MASK]\n[BOS]\n[EOS]\n",
       file + ":3: expected special token [CLS] (id 2), found '[SEP]'"},
      {"hello\n" + specials, file + ":1: expected special token [PAD] (id 0), found 'hello'"},
  };
  for (const Case& c : cases) {
    moerb::test::write_bytes(path, c.content);
    BOOST_TEST_CONTEXT("expected: " << c.expected) {
      BOOST_CHECK_EXCEPTION((void)Vocabulary::load(path), moerb::error,
                            message_has({"Vocabulary::load: " + c.expected}));
    }
  }
}

BOOST_AUTO_TEST_CASE(from_text_numbers_lines_from_first_line) {
  const std::string text = std::string(special_lines) + "a\na\n";
  BOOST_CHECK_EXCEPTION(
      (void)Vocabulary::from_text(text, "tok.txt", 2, "Reader::load"), moerb::error,
      message_has({"Reader::load: tok.txt:10: duplicate token 'a' (first on line 9)"}));
  BOOST_CHECK_EXCEPTION((void)Vocabulary::from_text(text), moerb::error,
                        message_has({"Vocabulary::from_text: <text>:9: duplicate token 'a'"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_text_vocabulary
