// Tests for include/moerb/data/jsonl.hpp
#include <boost/test/unit_test.hpp>
#include <string>

#include "data/data_testing.hpp"
#include "moerb/data/jsonl.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_data_jsonl {

using moerb::JsonlFields;
using moerb::ReadOptions;
using moerb::ReadReport;
using moerb::TextDataset;
using moerb::test::message_has;
using moerb::test::ScratchDir;

namespace {

const char* const snli_jsonl =
    R"({"annotator_labels": ["neutral"], "captionID": "3416050480.jpg#4", "gold_label": "neutral", "pairID": "3416050480.jpg#4r1n", "sentence1": "A person on a horse jumps over a broken down airplane.", "sentence2": "A person is training his horse for a competition."})"
    "\n"
    R"({"gold_label": "-", "pairID": "p2", "sentence1": "Two women are embracing.", "sentence2": "The sisters are hugging."})"
    "\n\n"
    R"({"gold_label": "contradiction", "pairID": "p3", "sentence1": "Un caf\u00e9 \u2014 \"quoted\"", "sentence2": "line one\nline two, 東京"})"
    "\n"
    R"({"gold_label": "entailment", "pairID": 17, "sentence1": "Children smiling.", "sentence2": "Kids are happy."})"
    "\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(jsonl)

BOOST_AUTO_TEST_CASE(snli_reads_pairs_and_drops_unlabeled) {
  ScratchDir dir;
  const auto file = dir.write("snli_dev.jsonl", snli_jsonl);
  ReadReport report;
  const TextDataset d = moerb::read_jsonl(file, JsonlFields::snli(), {}, &report);
  BOOST_REQUIRE(d.size() == 3u);
  BOOST_TEST(report.read == 3u);
  BOOST_TEST(report.unlabeled == 1u);
  BOOST_TEST(report.skipped == 0u);
  BOOST_TEST(d.examples[0].text_a == "A person on a horse jumps over a broken down airplane.");
  BOOST_TEST(d.examples[0].label == 1);
  BOOST_TEST(d.examples[0].label_name == "neutral");
  BOOST_TEST(d.examples[0].id == "3416050480.jpg#4r1n");
  BOOST_TEST(d.examples[1].text_a == "Un café — \"quoted\"");
  BOOST_TEST(d.examples[1].text_b == "line one\nline two, 東京");
  BOOST_TEST(d.examples[1].label == 2);
  BOOST_TEST(d.examples[2].id == "17");  // integer ids are written in decimal
  BOOST_TEST(d.label_names == (std::vector<std::string>{"entailment", "neutral", "contradiction"}),
             boost::test_tools::per_element());

  ReadOptions keep;
  keep.keep_unlabeled = true;
  const TextDataset all = moerb::read_jsonl(file, JsonlFields::multinli(), keep, &report);
  BOOST_REQUIRE(all.size() == 4u);
  BOOST_TEST(all.examples[1].label == -1);
  BOOST_TEST(all.examples[1].label_name == "-");
}

BOOST_AUTO_TEST_CASE(anli_letter_labels) {
  ScratchDir dir;
  const auto file = dir.write(
      "anli_r1_dev.jsonl",
      R"({"uid": "a1", "context": "The Parma trolleybus system forms part of the public transport network.", "hypothesis": "It is in Italy.", "label": "e", "reason": ""})"
      "\n"
      R"({"uid": "a2", "context": "c2", "hypothesis": "h2", "label": "c"})"
      "\n"
      R"({"uid": "a3", "context": "c3", "hypothesis": "h3", "label": "n"})"
      "\n");
  const TextDataset d = moerb::read_jsonl(file, JsonlFields::anli());
  BOOST_REQUIRE(d.size() == 3u);
  BOOST_TEST(d.examples[0].text_b == "It is in Italy.");
  BOOST_TEST(d.examples[0].label == 0);
  BOOST_TEST(d.examples[0].label_name == "entailment");
  BOOST_TEST(d.examples[1].label == 2);
  BOOST_TEST(d.examples[2].label == 1);
  BOOST_TEST(d.examples[2].id == "a3");
}

BOOST_AUTO_TEST_CASE(named_fields_with_integer_labels) {
  ScratchDir dir;
  const auto file = dir.write("reviews.jsonl",
                              "{\"text\": \"great\", \"stars\": 1}\r\n"
                              "{\"text\": \"awful\", \"stars\": 0, \"extra\": [1, 2]}\r\n"
                              "{\"text\": \"meh\", \"stars\": null}\r\n");
  const JsonlFields f = JsonlFields::named("text", "", "stars", {"bad", "good"});
  ReadReport report;
  const TextDataset d = moerb::read_jsonl(file, f, {}, &report);
  BOOST_REQUIRE(d.size() == 2u);
  BOOST_TEST(d.examples[0].label == 1);
  BOOST_TEST(d.examples[0].label_name == "good");
  BOOST_TEST(d.examples[1].text_a == "awful");
  BOOST_TEST(report.unlabeled == 1u);  // null label
}

BOOST_AUTO_TEST_CASE(errors_name_file_and_line) {
  ScratchDir dir;
  const std::string good = R"({"sentence1": "a", "sentence2": "b", "gold_label": "neutral"})";
  const auto malformed = dir.write("malformed.jsonl", good + "\n{\"sentence1\": \"a\",,}\n");
  BOOST_CHECK_EXCEPTION((void)moerb::read_jsonl(malformed, JsonlFields{}), moerb::error,
                        message_has({malformed.string() + ":2:", "malformed JSON"}));
  const auto missing = dir.write(
      "missing.jsonl", good + "\n" + good + "\n{\"sentence1\": \"a\", \"gold_label\": 1}\n");
  BOOST_CHECK_EXCEPTION((void)moerb::read_jsonl(missing, JsonlFields{}), moerb::error,
                        message_has({missing.string() + ":3:", "no member 'sentence2'"}));
  const auto type =
      dir.write("type.jsonl", R"({"sentence1": ["a"], "sentence2": "b", "gold_label": "neutral"})"
                              "\n");
  BOOST_CHECK_EXCEPTION(
      (void)moerb::read_jsonl(type, JsonlFields{}), moerb::error,
      message_has({type.string() + ":1:", "member 'sentence1' is a array, expected a string"}));
  const auto label =
      dir.write("label.jsonl", R"({"sentence1": "a", "sentence2": "b", "gold_label": "maybe"})"
                               "\n");
  BOOST_CHECK_EXCEPTION((void)moerb::read_jsonl(label, JsonlFields{}), moerb::error,
                        message_has({label.string() + ":1:", "label \"maybe\"",
                                     "'entailment', 'neutral', 'contradiction'"}));
  const auto label_type =
      dir.write("label_type.jsonl", R"({"sentence1": "a", "sentence2": "b", "gold_label": 0.5})"
                                    "\n");
  BOOST_CHECK_EXCEPTION((void)moerb::read_jsonl(label_type, JsonlFields{}), moerb::error,
                        message_has({":1:", "'gold_label' is a number"}));
  const auto array = dir.write("array.jsonl", "[1, 2]\n");
  BOOST_CHECK_EXCEPTION((void)moerb::read_jsonl(array, JsonlFields{}), moerb::error,
                        message_has({array.string() + ":1:", "expected a JSON object"}));
}

BOOST_AUTO_TEST_CASE(skip_bad_lines_counts_them) {
  ScratchDir dir;
  const auto file =
      dir.write("mixed.jsonl", R"({"sentence1": "a", "sentence2": "b", "gold_label": "neutral"})"
                               "\nnot json at all\n"
                               R"({"sentence1": "c", "sentence2": "d", "gold_label": "-"})"
                               "\n"
                               R"({"sentence1": "e", "gold_label": "neutral"})"
                               "\n"
                               R"({"sentence1": "f", "sentence2": "g", "gold_label": 2})"
                               "\n");
  ReadOptions options;
  options.skip_bad_lines = true;
  ReadReport report;
  const TextDataset d = moerb::read_jsonl(file, JsonlFields{}, options, &report);
  BOOST_TEST(d.size() == 2u);
  BOOST_TEST(report.read == 2u);
  BOOST_TEST(report.skipped == 2u);
  BOOST_TEST(report.unlabeled == 1u);
  BOOST_REQUIRE(report.first_errors.size() == 2u);
  BOOST_TEST(report.first_errors[0].find(file.string() + ":2:") == 0u);
  BOOST_TEST(report.first_errors[1].find(":4: no member 'sentence2'") != std::string::npos);
  BOOST_TEST(d.examples[1].label == 2);
}

BOOST_AUTO_TEST_CASE(truncated_last_line) {
  ScratchDir dir;
  const auto file =
      dir.write("cut.jsonl", R"({"sentence1": "a", "sentence2": "b", "gold_label": "neutral"})"
                             "\n"
                             R"({"sentence1": "a", "sentence2": "b", "gold_lab)");
  BOOST_CHECK_EXCEPTION((void)moerb::read_jsonl(file, JsonlFields{}), moerb::error,
                        message_has({file.string() + ":2:", "malformed JSON"}));
  ReadOptions options;
  options.skip_bad_lines = true;
  ReadReport report;
  BOOST_TEST(moerb::read_jsonl(file, JsonlFields{}, options, &report).size() == 1u);
  BOOST_TEST(report.skipped == 1u);
}

BOOST_AUTO_TEST_CASE(nul_byte_is_malformed_json) {
  // nlohmann's parser takes a NUL byte for the end of its input: the line must be rejected, not
  // read up to the NUL (found by tests/fuzz/fuzz_jsonl; corpus/jsonl/regression-nul-byte).
  ScratchDir dir;
  const std::string good = R"({"sentence1": "a", "sentence2": "b", "gold_label": "neutral"})";
  const auto file = dir.write("nul.jsonl", good + "\n" + good + '\0' + "garbage\n" + good + "\n");
  BOOST_CHECK_EXCEPTION((void)moerb::read_jsonl(file, JsonlFields{}), moerb::error,
                        message_has({file.string() + ":2:", "malformed JSON",
                                     "NUL byte at column " + std::to_string(good.size() + 1)}));
  ReadOptions options;
  options.skip_bad_lines = true;
  ReadReport report;
  BOOST_TEST(moerb::read_jsonl(file, JsonlFields{}, options, &report).size() == 2u);
  BOOST_TEST(report.skipped == 1u);
}

BOOST_AUTO_TEST_CASE(escaped_nul_in_a_text_is_a_bad_line) {
  // JSON can spell a NUL character inside a string as \u0000; a text holding one is bad input,
  // as a raw NUL is (the same reader helper serves read_advglue).
  ScratchDir dir;
  const std::string good = R"({"sentence1": "a", "sentence2": "b", "gold_label": "neutral"})";
  const std::string bad = R"({"sentence1": "a", "sentence2": "b\u0000c", "gold_label": "neutral"})";
  const auto file = dir.write("escaped.jsonl", good + "\n" + bad + "\n" + good + "\n");
  BOOST_CHECK_EXCEPTION(
      (void)moerb::read_jsonl(file, JsonlFields{}), moerb::error,
      message_has({file.string() + ":2:", "member 'sentence2' holds a NUL character", "at byte 2"}));
  ReadOptions options;
  options.skip_bad_lines = true;
  ReadReport report;
  BOOST_TEST(moerb::read_jsonl(file, JsonlFields{}, options, &report).size() == 2u);
  BOOST_TEST(report.skipped == 1u);
}

BOOST_AUTO_TEST_CASE(max_examples_stops_early) {
  ScratchDir dir;
  const auto file = dir.write("snli.jsonl", snli_jsonl);
  ReadOptions options;
  options.max_examples = 1;
  BOOST_TEST(moerb::read_jsonl(file, JsonlFields::snli(), options).size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_data_jsonl
