// Tests for include/moerb/metrics/calibration.hpp
//
// Hand-computed cases, edge cases, and the golden files of tests/reference/make_golden_metrics.py:
// sklearn.metrics.log_loss, the multi-class Brier score (and brier_score_loss on two classes), and
// ECE / MCE computed independently with numpy.
#include "moerb/metrics/calibration.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "moerb/metrics/accumulator.hpp"
#include "moerb/metrics/confidence.hpp"
#include "support/golden.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_metrics_calibration {

namespace {

using moerb::Calibration;
using moerb::CalibrationBinning;
using moerb::CalibrationSummary;
using moerb::Index;
using moerb::LabeledProbabilities;
using moerb::test::message_has;

using Labels = std::vector<std::int32_t>;

// Confidences 0.9 (right), 0.6 (wrong), 0.6 (right), 0.5 (wrong); squared errors 0.015, 0.86,
// 0.24, 0.875; label probabilities 0.9, 0.3, 0.6, 0.25.
moerb::Matrix<double> example_rows() {
  moerb::Matrix<double> p(4, 3);
  p << 0.9, 0.05, 0.05,  //
      0.3, 0.6, 0.1,     //
      0.2, 0.2, 0.6,     //
      0.5, 0.25, 0.25;
  return p;
}
const Labels kLabels{0, 0, 2, 1};

bool near(double a, double b, double tolerance = 1e-15) {
  return std::abs(a - b) <= tolerance;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(calibration)

BOOST_AUTO_TEST_CASE(hand_computed_equal_width) {
  Calibration c({.num_bins = 5});
  c.add(example_rows(), kLabels);
  const CalibrationSummary s = c.value();
  BOOST_TEST(s.count == 4);
  BOOST_TEST(s.accuracy == 0.5);
  BOOST_TEST(near(s.mean_confidence, 0.65));
  // Bins (0.4, 0.6]: 0.6, 0.6, 0.5, one right → gap |1/3 − 17/30| = 7/30; (0.8, 1]: 0.9, right →
  // 0.1.
  BOOST_TEST(near(s.ece, 0.75 * 7.0 / 30.0 + 0.25 * 0.1));
  BOOST_TEST(near(s.mce, 7.0 / 30.0));
  BOOST_TEST(near(s.brier, (0.015 + 0.86 + 0.24 + 0.875) / 4));
  BOOST_TEST(near(s.nll, -(std::log(0.9) + std::log(0.3) + std::log(0.6) + std::log(0.25)) / 4));
  BOOST_TEST_REQUIRE(s.bins.size() == 5u);
  const Index counts[] = {0, 0, 3, 0, 1};
  for (Index b = 0; b < 5; ++b) {
    BOOST_TEST(s.bins[static_cast<std::size_t>(b)].count == counts[b]);
    BOOST_TEST(s.bins[static_cast<std::size_t>(b)].lower == static_cast<double>(b) / 5.0);
    BOOST_TEST(s.bins[static_cast<std::size_t>(b)].upper == static_cast<double>(b + 1) / 5.0);
  }
  BOOST_TEST(near(s.bins[2].mean_confidence, 1.7 / 3.0));
  BOOST_TEST(near(s.bins[2].accuracy, 1.0 / 3.0));
  BOOST_TEST(s.bins[4].mean_confidence == 0.9);
  BOOST_TEST(s.bins[4].accuracy == 1.0);
  BOOST_TEST(s.bins[0].accuracy == 0.0);  // empty bins report 0
}

BOOST_AUTO_TEST_CASE(hand_computed_equal_mass) {
  // Sorted by (confidence, correct): (0.5, 0) (0.6, 0) | (0.6, 1) (0.9, 1).
  Calibration c({.num_bins = 2, .binning = CalibrationBinning::equal_mass});
  c.add(example_rows(), kLabels);
  const CalibrationSummary s = c.value();
  BOOST_TEST(near(s.ece, 0.5 * 0.55 + 0.5 * 0.25));
  BOOST_TEST(near(s.mce, 0.55));
  BOOST_TEST(s.bins[0].count == 2);
  BOOST_TEST(s.bins[0].lower == 0.5);
  BOOST_TEST(s.bins[0].upper == 0.6);
  BOOST_TEST(s.bins[1].lower == 0.6);
  BOOST_TEST(s.bins[1].upper == 0.9);
  // More bins than examples: some are empty and take the previous bin's upper end.
  Calibration many({.num_bins = 10, .binning = CalibrationBinning::equal_mass});
  many.add(example_rows(), kLabels);
  const CalibrationSummary m = many.value();
  Index total = 0;
  for (const auto& bin : m.bins) total += bin.count;
  BOOST_TEST(total == 4);
  BOOST_TEST(m.bins[0].count == 0);
  BOOST_TEST(m.bins[0].upper == 0.0);
  // Each non-empty bin holds one example, so ECE = mean |correct − confidence|.
  BOOST_TEST(near(m.ece, (0.1 + 0.6 + 0.4 + 0.5) / 4));
}

BOOST_AUTO_TEST_CASE(bin_edges_belong_to_the_lower_bin) {
  // 0.6 = 3/5 lies in (0.4, 0.6]; a confidence just above it in the next bin.
  Calibration c({.num_bins = 5});
  const std::vector<double> at_edge{0.6, 0.4};
  const std::vector<double> above{std::nextafter(0.6, 1.0), 1 - std::nextafter(0.6, 1.0)};
  c.add(LabeledProbabilities<double>{at_edge, 0});
  c.add(LabeledProbabilities<double>{above, 0});
  const CalibrationSummary s = c.value();
  BOOST_TEST(s.bins[2].count == 1);
  BOOST_TEST(s.bins[3].count == 1);
}

BOOST_AUTO_TEST_CASE(edge_cases) {
  // One class: every probability is 1 and every prediction right.
  Calibration one;
  const std::vector<double> certain{1.0};
  for (int i = 0; i < 3; ++i) one.add(LabeledProbabilities<double>{certain, 0});
  const CalibrationSummary s1 = one.value();
  BOOST_TEST(s1.ece == 0.0);
  BOOST_TEST(s1.brier == 0.0);
  BOOST_TEST(s1.nll == 0.0);
  BOOST_TEST(s1.accuracy == 1.0);
  BOOST_TEST(s1.bins.back().count == 3);

  // Constant confidence 0.5 with a 50 % accurate predictor: perfectly calibrated.
  Calibration constant;
  const std::vector<float> half{0.5f, 0.5f};
  for (int i = 0; i < 6; ++i) constant.add(LabeledProbabilities<float>{half, i % 2});
  const CalibrationSummary s2 = constant.value();
  BOOST_TEST(s2.ece == 0.0);
  BOOST_TEST(s2.accuracy == 0.5);
  BOOST_TEST(s2.brier == 0.5);
  BOOST_TEST(near(s2.nll, std::log(2.0)));

  // Zero probability on the label: NLL is +∞, the rest stays finite.
  Calibration zero;
  const std::vector<double> wrong{1.0, 0.0};
  zero.add(LabeledProbabilities<double>{wrong, 1});
  BOOST_TEST(zero.value().nll == std::numeric_limits<double>::infinity());
  BOOST_TEST(zero.value().brier == 2.0);
  BOOST_TEST(zero.value().ece == 1.0);
}

BOOST_AUTO_TEST_CASE(bad_input_throws_naming_the_metric) {
  BOOST_CHECK_EXCEPTION((void)Calibration{}.value(), moerb::error,
                        message_has({"Calibration::value", "no examples"}));
  Calibration c;
  const std::vector<double> three{0.2, 0.3, 0.5};
  c.add(LabeledProbabilities<double>{three, 2});
  const std::vector<double> two{0.5, 0.5};
  BOOST_CHECK_EXCEPTION(c.add(LabeledProbabilities<double>{two, 0}), moerb::error,
                        message_has({"Calibration::add", "2 entries, expected 3"}));
  const std::vector<double> logits{2.0, -1.0, 0.5};
  BOOST_CHECK_EXCEPTION(c.add(LabeledProbabilities<double>{logits, 0}), moerb::error,
                        message_has({"Calibration::add", "probability 0 is 2"}));
  const std::vector<double> short_sum{0.2, 0.3, 0.4};
  BOOST_CHECK_EXCEPTION(c.add(LabeledProbabilities<double>{short_sum, 0}), moerb::error,
                        message_has({"Calibration::add", "sum to 0.9"}));
  BOOST_CHECK_EXCEPTION(c.add(LabeledProbabilities<double>{three, 3}), moerb::error,
                        message_has({"Calibration::add", "label 3 is out of range [0, 3)"}));
  const std::vector<double> nan{std::nan(""), 0.5, 0.5};
  BOOST_CHECK_EXCEPTION(c.add(LabeledProbabilities<double>{nan, 0}), moerb::error,
                        message_has({"Calibration::add", "nan"}));
  BOOST_CHECK_EXCEPTION(c.add(example_rows(), Labels{0, 1}), moerb::error,
                        message_has({"Calibration::add", "4 probability rows", "2 labels"}));
  BOOST_TEST(c.num_examples() == 1);  // nothing bad was kept
  BOOST_CHECK_EXCEPTION(Calibration({.num_bins = 0}), moerb::error,
                        message_has({"Calibration", "num_bins = 0"}));
  Calibration fixed({.num_classes = 2});
  BOOST_CHECK_EXCEPTION(fixed.add(LabeledProbabilities<double>{three, 0}), moerb::error,
                        message_has({"Calibration::add", "expected 2"}));
  BOOST_CHECK_EXCEPTION(c.merge(Calibration({.num_bins = 10})), moerb::error,
                        message_has({"Calibration::merge", "options differ"}));
  Calibration other;
  other.add(LabeledProbabilities<double>{two, 0});
  BOOST_CHECK_EXCEPTION(c.merge(other), moerb::error,
                        message_has({"Calibration::merge", "3 and 2 classes"}));
  Calibration::State bad;
  bad.confidence = {0.5};
  BOOST_CHECK_EXCEPTION(Calibration({}, bad), moerb::error,
                        message_has({"Calibration", "invalid state"}));
}

BOOST_AUTO_TEST_CASE(resampling_and_the_bootstrap) {
  Calibration c({.num_bins = 5});
  c.add(example_rows(), kLabels);
  // Example 0 four times: one bin, confidence 0.9, all right.
  const std::vector<Index> repeat{0, 0, 0, 0};
  const CalibrationSummary s = c.value_on(repeat);
  BOOST_TEST(s.count == 4);
  BOOST_TEST(near(s.ece, 0.1));
  BOOST_TEST(near(s.brier, 0.015));
  const std::vector<Index> all{3, 2, 1, 0};  // any order gives the same summary
  BOOST_TEST((c.value_on(all) == c.value()));
  const moerb::ConfidenceInterval ci =
      moerb::bootstrap_ci(c, {.resamples = 200, .seed = 1}, &CalibrationSummary::brier);
  BOOST_TEST(ci.estimate == c.value().brier);
  BOOST_TEST(ci.lower >= 0.015 - 1e-15);
  BOOST_TEST(ci.upper <= 0.875 + 1e-15);
  BOOST_CHECK_EXCEPTION((void)c.value_on(std::vector<Index>{4}), moerb::error,
                        message_has({"Calibration::value_on", "example 4"}));
}

BOOST_AUTO_TEST_CASE(matches_scikit_learn_and_numpy) {
  const moerb::test::GoldenFile golden("metrics_calibration.txt");
  for (const std::string set : {"dirichlet5", "tied3", "binary"}) {
    BOOST_TEST_CONTEXT(set) {
      const moerb::Matrix<double> p = golden.tensor(set + ".probabilities");
      const moerb::Matrix<double> y = golden.tensor(set + ".labels");
      Labels labels;
      for (Index i = 0; i < y.rows(); ++i) labels.push_back(static_cast<std::int32_t>(y(i, 0)));
      Calibration width;  // 15 equal-width bins by default
      Calibration mass({.num_bins = 10, .binning = CalibrationBinning::equal_mass});
      width.add(p, labels);
      mass.add(p, labels);
      const CalibrationSummary w = width.value();
      const CalibrationSummary m = mass.value();
      BOOST_TEST(near(w.nll, golden.scalar(set + ".nll"), 1e-12));
      BOOST_TEST(near(w.brier, golden.scalar(set + ".brier"), 1e-12));
      BOOST_TEST(w.accuracy == golden.scalar(set + ".accuracy"));
      BOOST_TEST(near(w.ece, golden.scalar(set + ".ece15"), 1e-12));
      BOOST_TEST(near(w.mce, golden.scalar(set + ".mce15"), 1e-12));
      BOOST_TEST(near(m.ece, golden.scalar(set + ".ece_mass10"), 1e-12));
      BOOST_TEST(near(m.mce, golden.scalar(set + ".mce_mass10"), 1e-12));
      if (golden.has_scalar(set + ".brier_score_loss")) {
        BOOST_TEST(near(w.brier, 2 * golden.scalar(set + ".brier_score_loss"), 1e-12));
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_metrics_calibration
