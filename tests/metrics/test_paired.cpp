// Tests for include/moerb/metrics/paired.hpp
//
// Reference values: scipy 1.10 (stats.binomtest(min(b, c), b + c, 0.5).pvalue for the exact
// McNemar test; the t interval with quantiles from bisection on scipy.special.stdtr).
#include "moerb/metrics/paired.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <vector>

#include "moerb/core/rng.hpp"
#include "moerb/metrics/calibration.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_metrics_paired {

namespace {

using moerb::ConfidenceInterval;
using moerb::McNemarResult;
using moerb::McNemarTest;
using moerb::test::message_has;

using Values = std::vector<double>;
using Labels = std::vector<std::int32_t>;

bool near(double a, double b, double rel) {
  return std::abs(a - b) <= rel * std::max(1.0, std::abs(b));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(paired)

BOOST_AUTO_TEST_CASE(mcnemar_matches_the_exact_binomial_test) {
  struct Case {
    std::int64_t b, c;
    double p;
  };
  const Case cases[] = {{1, 5, 0.21875},
                        {0, 0, 1.0},
                        {3, 3, 1.0},
                        {0, 10, 0.001953125},
                        {12, 2, 0.012939453125},
                        {480, 520, 0.2174482932041409},
                        {4000, 4210, 0.021070767756658837},
                        {150, 300, 1.3466300407987257e-12},
                        {49500, 50500, 0.0015823598788515165}};
  for (const Case& k : cases) {
    BOOST_TEST_CONTEXT("b " << k.b << ", c " << k.c) {
      const McNemarTest test(
          {.both_correct = 7, .only_first = k.b, .only_second = k.c, .neither = 2});
      const McNemarResult r = test.value();
      BOOST_TEST(std::abs(r.p_value - k.p) <= 1e-11 * k.p);  // relative
      BOOST_TEST(r.only_first == k.b);
      BOOST_TEST(r.only_second == k.c);
      BOOST_TEST(r.accuracy_difference ==
                 static_cast<double>(k.b - k.c) / static_cast<double>(9 + k.b + k.c));
    }
  }
}

BOOST_AUTO_TEST_CASE(mcnemar_from_predictions) {
  McNemarTest test;
  // first right on 0, 1, 2; second right on 0, 3.
  test.add(Labels{0, 1, 1, 0, 2}, Labels{0, 0, 0, 1, 0}, Labels{0, 1, 1, 1, 1});
  const McNemarResult r = test.value();
  BOOST_TEST(r.both_correct == 1);
  BOOST_TEST(r.only_first == 2);
  BOOST_TEST(r.only_second == 1);
  BOOST_TEST(r.neither == 1);
  BOOST_TEST(r.p_value == 1.0);  // 2 · P(X <= 1 | n = 3) = 2 · 4/8
  BOOST_TEST(r.accuracy_difference == 0.2);
  test.add(moerb::PairedCorrectness{true, false});
  BOOST_TEST(test.value().only_first == 3);
  BOOST_CHECK_EXCEPTION((void)McNemarTest{}.value(), moerb::error,
                        message_has({"McNemarTest::value", "no examples"}));
  BOOST_CHECK_EXCEPTION(test.add(Labels{0}, Labels{0, 1}, Labels{0, 1}), moerb::error,
                        message_has({"McNemarTest::add", "1 first predictions", "2 labels"}));
}

BOOST_AUTO_TEST_CASE(paired_bootstrap_of_per_example_values) {
  const Values ones(50, 1.0), zeros(50, 0.0);
  const ConfidenceInterval all_better = moerb::paired_bootstrap_ci(ones, zeros);
  BOOST_TEST(all_better.estimate == 1.0);
  BOOST_TEST(all_better.lower == 1.0);
  BOOST_TEST(all_better.upper == 1.0);
  const ConfidenceInterval same = moerb::paired_bootstrap_ci(ones, ones);
  BOOST_TEST(same.lower == 0.0);
  BOOST_TEST(same.upper == 0.0);

  // Paired resampling sees the per-example differences only: a shared per-example offset (what an
  // unpaired bootstrap would count as noise) does not widen the interval.
  moerb::Rng rng(8);
  Values a, b;
  for (int i = 0; i < 200; ++i) {
    const double difficulty = rng.normal(0, 5);
    a.push_back(difficulty + 0.3);
    b.push_back(difficulty);
  }
  const ConfidenceInterval shift = moerb::paired_bootstrap_ci(a, b, {.resamples = 300, .seed = 4});
  BOOST_TEST(near(shift.estimate, 0.3, 1e-12));
  BOOST_TEST(near(shift.lower, 0.3, 1e-12));
  BOOST_TEST(near(shift.upper, 0.3, 1e-12));
  BOOST_TEST((moerb::paired_bootstrap_ci(a, b, {.resamples = 300, .seed = 4}) == shift));

  BOOST_CHECK_EXCEPTION((void)moerb::paired_bootstrap_ci(ones, Values(3, 0.0)), moerb::error,
                        message_has({"paired_bootstrap_ci", "50 first values", "3 second values"}));
  BOOST_CHECK_EXCEPTION((void)moerb::paired_bootstrap_ci(Values{}, Values{}), moerb::error,
                        message_has({"paired_bootstrap_ci", "no values"}));
  BOOST_CHECK_EXCEPTION((void)moerb::paired_bootstrap_ci(Values{1, NAN}, Values{1, 1}),
                        moerb::error, message_has({"paired_bootstrap_ci", "value 1"}));
}

BOOST_AUTO_TEST_CASE(paired_bootstrap_of_a_metric) {
  // Two models' probability rows on the same examples; the Brier difference resampled through the
  // accumulators equals the one through per-example squared errors (Brier is their mean).
  moerb::Rng rng(6);
  moerb::Calibration first, second;
  Values sq_first, sq_second;
  for (int i = 0; i < 120; ++i) {
    const double p = rng.uniform(0.05, 0.95), q = rng.uniform(0.05, 0.95);
    const std::int32_t label = rng.bernoulli(0.5) ? 1 : 0;
    const Values row_first{1 - p, p}, row_second{1 - q, q};
    first.add(moerb::LabeledProbabilities<double>{row_first, label});
    second.add(moerb::LabeledProbabilities<double>{row_second, label});
    sq_first.push_back(first.state().squared_error.back());
    sq_second.push_back(second.state().squared_error.back());
  }
  const moerb::BootstrapOptions options{.resamples = 200, .seed = 12};
  const ConfidenceInterval via_metric =
      moerb::paired_bootstrap_ci(first, second, options, &moerb::CalibrationSummary::brier);
  const ConfidenceInterval via_values = moerb::paired_bootstrap_ci(sq_first, sq_second, options);
  BOOST_TEST(near(via_metric.estimate, first.value().brier - second.value().brier, 1e-15));
  BOOST_TEST(near(via_metric.estimate, via_values.estimate, 1e-12));
  BOOST_TEST(near(via_metric.lower, via_values.lower, 1e-12));
  BOOST_TEST(near(via_metric.upper, via_values.upper, 1e-12));
  moerb::Calibration shorter;
  shorter.add(moerb::LabeledProbabilities<double>{Values{0.5, 0.5}, 0});
  BOOST_CHECK_EXCEPTION(
      (void)moerb::paired_bootstrap_ci(first, shorter, options, &moerb::CalibrationSummary::ece),
      moerb::error, message_has({"paired_bootstrap_ci", "120 and 1 examples"}));
}

BOOST_AUTO_TEST_CASE(mean_and_interval_across_seeds) {
  const moerb::SeedSummary s = moerb::across_seeds(Values{0.81, 0.84, 0.79, 0.86, 0.83});
  BOOST_TEST(near(s.mean, 0.826, 1e-15));
  BOOST_TEST(near(s.stddev, 0.02701851217221256, 1e-14));
  BOOST_TEST(s.runs == 5);
  BOOST_TEST(near(s.interval.lower, 0.7924520861507335, 1e-13));
  BOOST_TEST(near(s.interval.upper, 0.8595479138492664, 1e-13));
  BOOST_TEST(s.interval.estimate == s.mean);
  const moerb::SeedSummary same = moerb::across_seeds(Values{0.5, 0.5, 0.5});
  BOOST_TEST(same.interval.lower == 0.5);
  BOOST_TEST(same.interval.upper == 0.5);
  BOOST_CHECK_EXCEPTION((void)moerb::across_seeds(Values{0.8}), moerb::error,
                        message_has({"across_seeds", "1 runs", "at least 2"}));
  BOOST_CHECK_EXCEPTION((void)moerb::across_seeds(Values{0.8, INFINITY}), moerb::error,
                        message_has({"across_seeds", "inf"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_metrics_paired
