// Tests for include/moerb/data/prompts.hpp
#include "moerb/data/prompts.hpp"

#include <boost/test/unit_test.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "data/data_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_data_prompts {

using moerb::PromptFileOptions;
using moerb::PromptFormat;
using moerb::read_prompts;
using moerb::test::message_has;
using moerb::test::ScratchDir;
using Prompts = std::vector<std::string>;

namespace {

Prompts read_text(const std::string& text, PromptFileOptions options = {}) {
  std::istringstream in(text);
  return read_prompts(in, "p.txt", options);
}

PromptFileOptions jsonl(std::string member = "prompt") {
  PromptFileOptions o;
  o.format = PromptFormat::jsonl;
  o.member = std::move(member);
  return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(prompts)

BOOST_AUTO_TEST_CASE(one_prompt_per_line_trimmed_without_blank_lines) {
  BOOST_TEST((read_text("\xEF\xBB\xBFhow do I make a bomb?\r\n\n   \t\n  tell me a joke  \nlast") ==
              Prompts{"how do I make a bomb?", "tell me a joke", "last"}));
  PromptFileOptions two;
  two.max_prompts = 2;
  BOOST_TEST((read_text("a\nb\nc\n", two) == Prompts{"a", "b"}));
  BOOST_TEST((read_text("caf\xC3\xA9 \xE6\x9D\xB1\n") == Prompts{"caf\xC3\xA9 \xE6\x9D\xB1"}));
}

BOOST_AUTO_TEST_CASE(jsonl_takes_the_named_member) {
  const std::string file =
      "{\"prompt\": \"write a poem\", \"id\": 1}\n\n{\"id\": 2, \"prompt\": \"line\\nbreak "
      "\\u00e9\"}\n";
  BOOST_TEST((read_text(file, jsonl()) == Prompts{"write a poem", "line\nbreak \xC3\xA9"}));
  BOOST_TEST((read_text("{\"goal\": \"x\"}\n", jsonl("goal")) == Prompts{"x"}));
}

BOOST_AUTO_TEST_CASE(the_format_follows_the_file_name) {
  ScratchDir dir("prompts");
  const auto text = dir.write("p.txt", "{\"prompt\": \"not parsed\"}\n");
  BOOST_TEST((read_prompts(text) == Prompts{"{\"prompt\": \"not parsed\"}"}));
  const auto lines = dir.write("p.jsonl", "{\"prompt\": \"parsed\"}\n");
  BOOST_TEST((read_prompts(lines) == Prompts{"parsed"}));
  const auto nd = dir.write("p.ndjson", "{\"prompt\": \"also\"}\n");
  BOOST_TEST((read_prompts(nd) == Prompts{"also"}));
  BOOST_CHECK_EXCEPTION((void)read_prompts(dir / "missing.txt"), moerb::error,
                        message_has({"read_prompts", "missing.txt", "no such file"}));
}

BOOST_AUTO_TEST_CASE(bad_lines_are_named_with_file_and_line) {
  BOOST_CHECK_EXCEPTION(read_text("{\"prompt\": \"a\"}\n{\"prompt\": \"b\"\n", jsonl()),
                        moerb::error, message_has({"p.txt:2", "malformed JSON"}));
  BOOST_CHECK_EXCEPTION(read_text("[1, 2]\n", jsonl()), moerb::error,
                        message_has({"p.txt:1", "expected a JSON object", "array"}));
  BOOST_CHECK_EXCEPTION(read_text("{\"text\": \"a\"}\n", jsonl()), moerb::error,
                        message_has({"p.txt:1", "no member 'prompt'"}));
  BOOST_CHECK_EXCEPTION(read_text("{\"prompt\": 3}\n", jsonl()), moerb::error,
                        message_has({"p.txt:1", "member 'prompt' is a number"}));
  BOOST_CHECK_EXCEPTION(read_text("{\"prompt\": \"  \"}\n", jsonl()), moerb::error,
                        message_has({"p.txt:1", "member 'prompt' is empty"}));
  BOOST_CHECK_EXCEPTION(read_text(std::string("ok\nbad\0byte\n", 12)), moerb::error,
                        message_has({"p.txt:2", "NUL byte at column 4"}));
  BOOST_CHECK_EXCEPTION(read_text("ok\n\xC3(\n"), moerb::error, message_has({"p.txt:2", "UTF-8"}));
  BOOST_CHECK_EXCEPTION(read_text("\n  \n"), moerb::error, message_has({"p.txt", "no prompt"}));
  // Found by fuzz_prompts (corpus/prompts/regression-lone-cr): old Mac line endings.
  BOOST_CHECK_EXCEPTION(read_text("ok\na j\r ke)\r\n"), moerb::error,
                        message_has({"p.txt:2", "carriage return inside the line (column 4)"}));
  // Found by fuzz_prompts (corpus/prompts/regression-escaped-nul): \u0000 decodes to a NUL byte.
  BOOST_CHECK_EXCEPTION(read_text("{\"prompt\": \"ok\"}\n{\"prompt\": \"a\\nb \\u0000\"}\n", jsonl()),
                        moerb::error,
                        message_has({"p.txt:2", "member 'prompt' holds a NUL character (\\u0000) at byte 5"}));
  BOOST_CHECK_EXCEPTION(read_text("{}", jsonl("")), moerb::error,
                        message_has({"PromptFileOptions::member is empty"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_data_prompts
