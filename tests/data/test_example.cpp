// Tests for include/moerb/data/example.hpp
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <set>
#include <string>
#include <vector>

#include "data/data_testing.hpp"
#include "moerb/data/example.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_data_example {

using moerb::TextDataset;
using moerb::TextExample;
using moerb::test::message_has;

namespace {

/// n examples with labels cycling through `pattern` (e.g. {0, 0, 1, -1}).
TextDataset make_dataset(std::size_t n, const std::vector<std::int32_t>& pattern) {
  TextDataset d;
  d.name = "toy";
  d.label_names = {"neg", "pos", "mixed"};
  for (std::size_t i = 0; i < n; ++i) {
    TextExample e;
    e.text_a = "text " + std::to_string(i);
    e.label = pattern[i % pattern.size()];
    e.id = std::to_string(i);
    d.examples.push_back(e);
  }
  return d;
}

std::vector<std::string> ids(const TextDataset& d) {
  std::vector<std::string> out;
  for (const auto& e : d.examples) out.push_back(e.id);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(example)

BOOST_AUTO_TEST_CASE(label_counts_and_majority_fraction) {
  const TextDataset d = make_dataset(12, {0, 0, 1, -1});  // 6 × neg, 3 × pos, 3 unlabeled
  BOOST_TEST(d.label_counts() == (std::vector<std::size_t>{6, 3, 0}),
             boost::test_tools::per_element());
  BOOST_TEST(d.unlabeled_count() == 3u);
  BOOST_TEST(d.majority_fraction() == 6.0 / 9.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(d.size() == 12u);
  const std::string summary = d.balance_summary();
  BOOST_TEST(summary.find("toy: 12 examples") != std::string::npos);
  BOOST_TEST(summary.find("neg 6 (50.0%)") != std::string::npos);
  BOOST_TEST(summary.find("unlabeled 3") != std::string::npos);
  BOOST_TEST(summary.find("majority 0.667") != std::string::npos);

  TextDataset empty;
  BOOST_TEST(empty.majority_fraction() == 0.0);
  BOOST_TEST(empty.label_counts().empty());
}

BOOST_AUTO_TEST_CASE(out_of_range_label_is_reported) {
  TextDataset d = make_dataset(4, {0, 1});
  d.examples[2].label = 3;
  BOOST_CHECK_EXCEPTION((void)d.label_counts(), moerb::error,
                        message_has({"toy", "example 2", "label 3", "[0, 3)"}));
}

BOOST_AUTO_TEST_CASE(shuffle_is_a_seeded_permutation) {
  const TextDataset d = make_dataset(50, {0, 1, 2});
  const TextDataset a = moerb::shuffled(d, 7);
  const TextDataset b = moerb::shuffled(d, 7);
  const TextDataset c = moerb::shuffled(d, 8);
  BOOST_TEST(ids(a) == ids(b), boost::test_tools::per_element());
  BOOST_TEST(ids(a) != ids(c));
  BOOST_TEST(ids(a) != ids(d));
  std::vector<std::string> sorted_a = ids(a), sorted_d = ids(d);
  std::sort(sorted_a.begin(), sorted_a.end());
  std::sort(sorted_d.begin(), sorted_d.end());
  BOOST_TEST(sorted_a == sorted_d, boost::test_tools::per_element());
  BOOST_TEST(a.label_counts() == d.label_counts(), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(stratified_split_keeps_balance_and_order) {
  const TextDataset d = make_dataset(100, {0, 0, 1, 2, -1});  // 40 / 20 / 20 / 20 unlabeled
  const moerb::DatasetSplit s = moerb::split_dataset(d, 0.25, 3);
  BOOST_TEST(s.first.label_counts() == (std::vector<std::size_t>{10, 5, 5}),
             boost::test_tools::per_element());
  BOOST_TEST(s.first.unlabeled_count() == 5u);
  BOOST_TEST(s.second.size() == 75u);
  BOOST_TEST(s.first.label_names == d.label_names, boost::test_tools::per_element());
  BOOST_TEST(s.first.name == "toy/first");
  // Disjoint, complete and in the original order.
  std::vector<std::string> both = ids(s.first);
  const std::vector<std::string> second = ids(s.second);
  both.insert(both.end(), second.begin(), second.end());
  BOOST_TEST(std::set<std::string>(both.begin(), both.end()).size() == 100u);
  const auto by_number = [](const std::string& x, const std::string& y) {
    return std::stoi(x) < std::stoi(y);
  };
  BOOST_TEST(std::is_sorted(
      s.first.examples.begin(), s.first.examples.end(),
      [&](const TextExample& x, const TextExample& y) { return by_number(x.id, y.id); }));
  // Deterministic for a seed, different for another.
  BOOST_TEST(ids(moerb::split_dataset(d, 0.25, 3).first) == ids(s.first),
             boost::test_tools::per_element());
  BOOST_TEST(ids(moerb::split_dataset(d, 0.25, 4).first) != ids(s.first));
  // Unstratified: the overall count is what it promises.
  BOOST_TEST(moerb::split_dataset(d, 0.3, 3, false).first.size() == 30u);
}

BOOST_AUTO_TEST_CASE(split_rejects_bad_fraction) {
  const TextDataset d = make_dataset(10, {0, 1});
  BOOST_CHECK_EXCEPTION((void)moerb::split_dataset(d, 1.5, 0), moerb::error,
                        message_has({"split_dataset", "first_fraction = 1.5"}));
}

BOOST_AUTO_TEST_CASE(label_mapping_resolves_values_names_and_integers) {
  const moerb::detail::LabelMapping m({"entailment", "neutral", "contradiction"}, {"e", "n", "c"},
                                      "test");
  BOOST_TEST(m.from_string("e").value() == 0);
  BOOST_TEST(m.from_string("neutral").value() == 1);
  BOOST_TEST(m.from_string("2").value() == 2);
  BOOST_TEST(!m.from_string("3").has_value());
  BOOST_TEST(!m.from_string("x").has_value());
  BOOST_TEST(!m.from_string("-1").has_value());
  BOOST_TEST(m.from_integer(1).value() == 1);
  BOOST_TEST(!m.from_integer(-1).has_value());
  BOOST_TEST(m.expected().find("'e', 'n', 'c' (or 0..2)") != std::string::npos);
  BOOST_CHECK_EXCEPTION(moerb::detail::LabelMapping({"a", "b"}, {"x"}, "where"), moerb::error,
                        message_has({"where", "1 label_values for 2 label_names"}));
  BOOST_CHECK_EXCEPTION(moerb::detail::LabelMapping({"a", "a"}, {}, "where"), moerb::error,
                        message_has({"label name 'a' appears twice"}));
  BOOST_CHECK_EXCEPTION(moerb::detail::LabelMapping({"a", "b"}, {"x", "x"}, "where"), moerb::error,
                        message_has({"label value 'x' appears twice"}));
}

// Regression (found by clang's UBSan under the fuzzer): with no label_values the constructor's
// duplicate check used to build its message from values_[i] on the success path, indexing an empty
// vector. The common case (GLUE, SNLI: names only) must construct and resolve cleanly.
BOOST_AUTO_TEST_CASE(label_mapping_without_values_uses_names_and_integers) {
  const moerb::detail::LabelMapping m({"entailment", "neutral", "contradiction"}, {}, "test");
  BOOST_TEST(m.size() == 3u);
  BOOST_TEST(m.from_string("contradiction").value() == 2);
  BOOST_TEST(m.from_string("1").value() == 1);
  BOOST_TEST(!m.from_string("e").has_value());
}

BOOST_AUTO_TEST_CASE(bad_line_policy_throws_or_counts) {
  moerb::ReadReport report;
  moerb::ReadOptions strict;
  moerb::detail::BadLinePolicy throwing(strict, report);
  BOOST_CHECK_EXCEPTION(throwing.bad_line("f.tsv:3: broken"), moerb::error,
                        message_has({"f.tsv:3: broken"}));
  moerb::ReadOptions lenient;
  lenient.skip_bad_lines = true;
  lenient.max_examples = 2;
  moerb::detail::BadLinePolicy skipping(lenient, report);
  for (int i = 0; i < 12; ++i) skipping.bad_line("line " + std::to_string(i));
  BOOST_TEST(report.skipped == 12u);
  BOOST_TEST(report.first_errors.size() == moerb::ReadReport::max_kept_errors);
  BOOST_TEST(report.first_errors.front() == "line 0");
  BOOST_TEST(!skipping.unlabeled());
  BOOST_TEST(report.unlabeled == 1u);
  BOOST_TEST(!skipping.added());
  BOOST_TEST(skipping.added());  // max_examples reached
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_data_example
