// Tests for include/moerb/io/attack_results.hpp
#include "moerb/io/attack_results.hpp"

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "moerb/data/csv.hpp"
#include "support/messages.hpp"
#include "support/scratch_dir.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_io_attack_results {

using namespace moerb;
using namespace moerb::test;

namespace {

std::vector<AttackResult> two_results() {
  AttackResult a;
  a.index = 0;
  a.status = AttackStatus::succeeded;
  a.label = 1;
  a.original_prediction = 1;
  a.final_prediction = 0;
  a.original_confidence = 0.9;
  a.final_confidence = 0.1 + 0.2;  // not exactly 0.3: written with 17 digits
  a.queries = 12;
  a.num_words = 3;
  a.words_changed = 1;
  a.characters_changed = 4;
  a.original_text = "a \"good\", movie";
  a.perturbed_text = "a \"fine\", movie\nsecond line";
  a.original_tokens = {2, 7, 8, 3};
  a.perturbed_tokens = {2, 7, 9, 3};
  AttackResult b;
  b.index = 1;
  b.status = AttackStatus::skipped;
  b.original_text = b.perturbed_text = "plain";
  return {a, b};
}

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(attack_results)

BOOST_AUTO_TEST_CASE(jsonl_round_trips) {
  const ScratchDir dir("attack-results");
  const auto path = dir.path() / "r.jsonl";
  const auto results = two_results();
  write_attack_results(path, results);
  std::istringstream lines(read(path));
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(lines, line)) rows.push_back(nlohmann::json::parse(line));
  BOOST_REQUIRE(rows.size() == 2u);
  BOOST_TEST(rows[0]["status"] == "succeeded");
  BOOST_TEST(rows[0]["perturbed_text"] == results[0].perturbed_text);
  BOOST_TEST(rows[0]["final_confidence"].get<double>() == results[0].final_confidence);
  BOOST_TEST(rows[0]["queries"] == 12);
  BOOST_TEST(rows[0]["perturbed_tokens"] == nlohmann::json({2, 7, 9, 3}));
  BOOST_TEST(rows[1]["status"] == "skipped");
  // Only the result file is left: the temporary file was renamed.
  BOOST_TEST(std::distance(std::filesystem::directory_iterator(dir.path()),
                           std::filesystem::directory_iterator{}) == 1);
  // The summary converts too.
  const nlohmann::json s = summarize_attacks(results);
  BOOST_TEST(s["succeeded"] == 1);
  BOOST_TEST(s["success_rate"]["estimate"].get<double>() == 1.0);
}

BOOST_AUTO_TEST_CASE(csv_round_trips_through_the_csv_reader) {
  const ScratchDir dir("attack-results");
  const auto path = dir.path() / "r.csv";
  const auto results = two_results();
  write_attack_results(path, results);
  std::istringstream in(read(path));
  const CsvTable table = read_csv_table(in, "r.csv", CsvDialect::csv());
  BOOST_REQUIRE(table.rows.size() == 2u);
  BOOST_TEST(table.at(0, "perturbed_text") == results[0].perturbed_text);
  BOOST_TEST(std::stod(table.at(0, "final_confidence")) == results[0].final_confidence);
  BOOST_TEST(table.at(0, "perturbed_tokens") == "2 7 9 3");
  BOOST_TEST(table.at(1, "status") == "skipped");
  BOOST_TEST(table.header.size() == 19u);
}

BOOST_AUTO_TEST_CASE(streams_publish_only_on_commit) {
  const ScratchDir dir("attack-results");
  const auto path = dir.path() / "r.jsonl";
  {
    AttackResultStream stream(path, AttackResultFormat::jsonl);
    stream.write(two_results()[0]);
    BOOST_TEST(!std::filesystem::exists(path));
  }  // destroyed without commit: nothing published, nothing left behind
  BOOST_TEST(!std::filesystem::exists(path));
  BOOST_TEST(std::filesystem::is_empty(dir.path()));
  AttackResultStream stream(path, AttackResultFormat::jsonl);
  stream.write(two_results()[1]);
  stream.commit();
  BOOST_TEST(stream.written() == 1u);
  BOOST_TEST(std::filesystem::exists(path));
  BOOST_CHECK_EXCEPTION(stream.write(two_results()[0]), moerb::error,
                        message_has({"write after commit"}));
}

BOOST_AUTO_TEST_CASE(bad_paths_are_named) {
  BOOST_CHECK_EXCEPTION((void)attack_result_format("results.txt"), moerb::error,
                        message_has({"results.txt", ".csv or .jsonl"}));
  BOOST_CHECK_EXCEPTION(AttackResultStream("/nonexistent-dir/r.jsonl", AttackResultFormat::jsonl),
                        moerb::error, message_has({"cannot create", "/nonexistent-dir/r.jsonl"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_io_attack_results
