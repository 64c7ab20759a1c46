// Tests for include/moerb/data/advglue.hpp
#include <boost/test/unit_test.hpp>
#include <string>

#include "data/data_testing.hpp"
#include "moerb/data/advglue.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_data_advglue {

using moerb::ReadOptions;
using moerb::ReadReport;
using moerb::TextDataset;
using moerb::test::message_has;
using moerb::test::ScratchDir;

namespace {

const char* const dev_json = R"({
  "sst2": [
    {"idx": 0, "label": 0, "sentence": "it 's an uneven treat that bores fun at the majority ."},
    {"idx": 1, "label": 1, "sentence": "a thoroughly engrossing , \"wonderful\" film — très bien"}
  ],
  "qqp": [
    {"question1": "How can I be a good geologist?", "question2": "What should I do to be a great geologist?", "label": 1, "idx": 5}
  ],
  "mnli": [
    {"premise": "The new rights are nice enough", "hypothesis": "Everyone really likes the newest benefits", "label": 1, "idx": 0}
  ],
  "mnli-mm": [
    {"premise": "Met my first girlfriend that way.", "hypothesis": "I did not meet my first girlfriend until later.", "label": 2, "idx": 3}
  ],
  "qnli": [
    {"question": "What came into force after the new constitution was herald?", "sentence": "As of that day, the new constitution heralding the Second Republic came into force.", "label": 0, "idx": 0}
  ],
  "rte": [
    {"sentence1": "Dana Reeve, the widow of the actor Christopher Reeve, has died of lung cancer at age 44.", "sentence2": "Christopher Reeve had an accident.", "label": 1, "idx": 0}
  ]
})";

}  // namespace

BOOST_AUTO_TEST_SUITE(advglue)

BOOST_AUTO_TEST_CASE(reads_each_task_layout) {
  ScratchDir dir;
  const auto file = dir.write("dev.json", dev_json);
  ReadReport report;
  const TextDataset sst2 = moerb::read_advglue(file, "sst2", {}, &report);
  BOOST_REQUIRE(sst2.size() == 2u);
  BOOST_TEST(report.read == 2u);
  BOOST_TEST(sst2.name == "advglue/sst2");
  BOOST_TEST(sst2.examples[1].text_a == "a thoroughly engrossing , \"wonderful\" film — très bien");
  BOOST_TEST(sst2.examples[1].label == 1);
  BOOST_TEST(sst2.examples[1].label_name == "positive");
  BOOST_TEST(sst2.examples[1].id == "1");
  BOOST_TEST(sst2.examples[1].text_b.empty());

  const TextDataset qqp = moerb::read_advglue(file, "qqp");
  BOOST_TEST(qqp.examples[0].text_b == "What should I do to be a great geologist?");
  BOOST_TEST(qqp.examples[0].label_name == "duplicate");
  BOOST_TEST(qqp.examples[0].id == "5");

  const TextDataset mm = moerb::read_advglue(file, "mnli-mm");
  BOOST_TEST(mm.examples[0].text_a == "Met my first girlfriend that way.");
  BOOST_TEST(mm.examples[0].label_name == "contradiction");
  BOOST_TEST(mm.label_names.size() == 3u);

  const TextDataset qnli = moerb::read_advglue(file, "qnli");
  BOOST_TEST(qnli.examples[0].text_a ==
             "What came into force after the new constitution was herald?");
  BOOST_TEST(qnli.examples[0].label_name == "entailment");

  const TextDataset rte = moerb::read_advglue(file, "rte");
  BOOST_TEST(rte.examples[0].text_b == "Christopher Reeve had an accident.");
  BOOST_TEST(rte.examples[0].label_name == "not_entailment");

  BOOST_TEST(moerb::read_advglue(file, "mnli").examples[0].label == 1);
  BOOST_TEST(moerb::advglue_tasks_in(file) ==
                 (std::vector<std::string>{"sst2", "qqp", "mnli", "mnli-mm", "qnli", "rte"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(unknown_task_lists_the_file_tasks) {
  ScratchDir dir;
  const auto file = dir.write("dev.json", R"({"sst2": [], "rte": []})");
  BOOST_CHECK_EXCEPTION(
      (void)moerb::read_advglue(file, "cola"), moerb::error,
      message_has({file.string(), "no task 'cola'", "tasks in the file: sst2, rte"}));
  const auto odd = dir.write("odd.json", R"({"wsc": []})");
  BOOST_CHECK_EXCEPTION((void)moerb::read_advglue(odd, "wsc"), moerb::error,
                        message_has({"unknown task 'wsc'", "sst2, qqp, mnli, mnli-mm, qnli, rte"}));
  BOOST_TEST(moerb::read_advglue(file, "sst2").empty());
}

BOOST_AUTO_TEST_CASE(bad_records_name_task_and_index) {
  ScratchDir dir;
  const auto file = dir.write("bad.json", R"({"sst2": [
    {"idx": 0, "label": 0, "sentence": "fine"},
    {"idx": 1, "label": 0},
    {"idx": 2, "label": 5, "sentence": "label out of range"},
    {"idx": 3, "label": "1", "sentence": "string label"},
    7
  ]})");
  BOOST_CHECK_EXCEPTION((void)moerb::read_advglue(file, "sst2"), moerb::error,
                        message_has({file.string() + ": sst2[1]", "no member 'sentence'"}));
  ReadOptions options;
  options.skip_bad_lines = true;
  ReadReport report;
  const TextDataset d = moerb::read_advglue(file, "sst2", options, &report);
  BOOST_TEST(d.size() == 2u);
  BOOST_TEST(d.examples[1].label == 1);  // "1" resolves as the integer 1
  BOOST_TEST(report.skipped == 3u);
  BOOST_REQUIRE(report.first_errors.size() == 3u);
  BOOST_TEST(report.first_errors[1].find("sst2[2]: label 5") != std::string::npos);
  BOOST_TEST(report.first_errors[2].find("sst2[4]: expected a JSON object") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(malformed_and_truncated_files) {
  ScratchDir dir;
  const auto cut = dir.write("cut.json", "{\"sst2\": [\n  {\"idx\": 0, \"label\": 0, \"sent");
  BOOST_CHECK_EXCEPTION((void)moerb::read_advglue(cut, "sst2"), moerb::error,
                        message_has({"read_advglue", cut.string(), "malformed JSON", "line 2"}));
  const auto list = dir.write("list.json", "[]");
  BOOST_CHECK_EXCEPTION((void)moerb::read_advglue(list, "sst2"), moerb::error,
                        message_has({list.string(), "expected a JSON object", "array"}));
  const auto not_list = dir.write("notlist.json", R"({"sst2": {"idx": 0}})");
  BOOST_CHECK_EXCEPTION((void)moerb::read_advglue(not_list, "sst2"), moerb::error,
                        message_has({"task 'sst2' is a object", "expected a list"}));
  BOOST_CHECK_EXCEPTION((void)moerb::read_advglue(dir.path() / "nope.json", "sst2"), moerb::error,
                        message_has({"nope.json", "no such file"}));
}

BOOST_AUTO_TEST_CASE(nul_byte_is_malformed_json) {
  // nlohmann's parser takes a NUL byte for the end of its input: the file must be rejected, not
  // read up to the NUL (found by tests/fuzz/fuzz_advglue; corpus/advglue/regression-nul-byte).
  ScratchDir dir;
  const auto file =
      dir.write("nul.json", std::string(R"({"sst2": []})") + "\n" + '\0' + R"({"rte": [)");
  BOOST_CHECK_EXCEPTION((void)moerb::read_advglue(file, "sst2"), moerb::error,
                        message_has({"read_advglue: " + file.string() + ":2:", "malformed JSON",
                                     "NUL byte at byte offset 13"}));
  BOOST_CHECK_EXCEPTION((void)moerb::advglue_tasks_in(file), moerb::error,
                        message_has({"advglue_tasks_in: " + file.string() + ":2:", "NUL byte"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_data_advglue
