// Tests for include/moerb/metrics/confidence.hpp
//
// Reference values: scipy 1.10 (stats.norm.ppf, stats.t.ppf, binomtest(...).proportion_ci with
// method="wilson").
#include "moerb/metrics/confidence.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <numeric>
#include <span>
#include <vector>

#include "moerb/core/rng.hpp"
#include "moerb/metrics/classification.hpp"
#include "moerb/metrics/ood.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_metrics_confidence {

namespace {

using moerb::BootstrapOptions;
using moerb::ConfidenceInterval;
using moerb::Index;
using moerb::test::message_has;

bool close(double a, double b, double rel) {
  return std::abs(a - b) <= rel * std::max(1.0, std::abs(b));
}

std::vector<double> coin_flips(Index n, double p, std::uint64_t seed) {
  moerb::Rng rng(seed);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = rng.bernoulli(p) ? 1.0 : 0.0;
  return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(confidence)

BOOST_AUTO_TEST_CASE(normal_quantile_matches_scipy) {
  BOOST_TEST(close(moerb::normal_quantile(0.975), 1.959963984540054, 1e-14));
  BOOST_TEST(close(moerb::normal_quantile(0.995), 2.5758293035489004, 1e-14));
  BOOST_TEST(close(moerb::normal_quantile(0.9), 1.2815515655446004, 1e-14));
  BOOST_TEST(close(moerb::normal_quantile(0.999999), 4.753424308817087, 1e-13));
  BOOST_TEST(close(moerb::normal_quantile(0.01), -2.3263478740408408, 1e-14));
  BOOST_TEST(close(moerb::normal_quantile(1e-10), -6.361340902404056, 1e-13));
  BOOST_TEST(moerb::normal_quantile(0.5) == 0.0);
  BOOST_TEST(close(moerb::normal_quantile(0.025), -moerb::normal_quantile(0.975), 1e-15));
  BOOST_CHECK_EXCEPTION((void)moerb::normal_quantile(1.0), moerb::error,
                        message_has({"normal_quantile", "p = 1"}));
  BOOST_CHECK_EXCEPTION((void)moerb::normal_quantile(std::nan("")), moerb::error,
                        message_has({"normal_quantile"}));
}

BOOST_AUTO_TEST_CASE(student_t_quantile_matches_scipy) {
  // References: bisection on scipy.special.stdtr (scipy 1.10's stats.t.ppf is off by up to 1e-10).
  struct Case {
    double dof, q975, q995, q10;
  };
  const Case cases[] = {
      {1, 12.706204736174655, 63.65674116287063, -3.077683537175254},
      {2, 4.302652729749456, 9.924843200918247, -1.8856180831641267},
      {3, 3.1824463052837038, 5.840909309733327, -1.6377443536962093},
      {4.5, 2.6589123472043994, 4.272823993011283, -1.5008853175085566},
      {9, 2.2621571627982036, 3.249835541592117, -1.3830287383966322},
      {30, 2.0422724563012373, 2.749995653567222, -1.3104150253913955},
      {1000, 1.9623390808264065, 2.5807546980659453, -1.2823987214609245},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT("dof " << c.dof) {
      BOOST_TEST(close(moerb::student_t_quantile(0.975, c.dof), c.q975, 1e-12));
      BOOST_TEST(close(moerb::student_t_quantile(0.995, c.dof), c.q995, 1e-12));
      BOOST_TEST(close(moerb::student_t_quantile(0.1, c.dof), c.q10, 1e-12));
    }
  }
  // Closed forms: dof 1 is Cauchy, tan(π (p − 1/2)).
  BOOST_TEST(close(moerb::student_t_quantile(0.8, 1), std::tan(std::numbers::pi * 0.3), 1e-13));
  // dof 2: (2p − 1) / √(2p(1 − p)).
  BOOST_TEST(close(moerb::student_t_quantile(0.7, 2), 0.4 / std::sqrt(2 * 0.7 * 0.3), 1e-13));
  BOOST_CHECK_EXCEPTION((void)moerb::student_t_quantile(0.9, 0), moerb::error,
                        message_has({"student_t_quantile", "dof = 0"}));
}

BOOST_AUTO_TEST_CASE(wilson_interval_matches_scipy) {
  struct Case {
    std::int64_t k, n;
    double lower, upper;
  };
  const Case cases[] = {
      {8, 10, 0.4901624715366418, 0.9433178485456248},
      {0, 10, 0.0, 0.27753279986288926},
      {10, 10, 0.7224672001371109, 1.0},
      {1, 1, 0.20654931437723745, 1.0},
      {437, 1000, 0.40655624686835734, 0.4679259247008226},
      {1, 3, 0.06149194472039626, 0.7923403991979523},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.k << "/" << c.n) {
      const ConfidenceInterval ci = moerb::wilson_interval(c.k, c.n);
      BOOST_TEST(close(ci.lower, c.lower, 1e-13));
      BOOST_TEST(close(ci.upper, c.upper, 1e-13));
      BOOST_TEST(ci.estimate == static_cast<double>(c.k) / static_cast<double>(c.n));
      BOOST_TEST(ci.level == 0.95);
    }
  }
  const ConfidenceInterval ci90 = moerb::wilson_interval(8, 10, 0.9);
  BOOST_TEST(close(ci90.lower, 0.5407928056874879, 1e-13));
  BOOST_TEST(close(ci90.upper, 0.9314420122624679, 1e-13));
  BOOST_CHECK_EXCEPTION((void)moerb::wilson_interval(0, 0), moerb::error,
                        message_has({"wilson_interval", "trials = 0"}));
  BOOST_CHECK_EXCEPTION((void)moerb::wilson_interval(11, 10), moerb::error,
                        message_has({"wilson_interval", "successes = 11"}));
  BOOST_CHECK_EXCEPTION((void)moerb::wilson_interval(1, 10, 1.0), moerb::error,
                        message_has({"wilson_interval", "level = 1"}));
}

BOOST_AUTO_TEST_CASE(same_seed_gives_the_same_interval_bit_for_bit) {
  const std::vector<double> v = coin_flips(500, 0.7, 1);
  const BootstrapOptions options{.resamples = 300, .level = 0.95, .seed = 42};
  const ConfidenceInterval a = moerb::bootstrap_mean_ci(v, options);
  const ConfidenceInterval b = moerb::bootstrap_mean_ci(v, options);
  BOOST_TEST((a == b));
  BOOST_TEST(a.estimate == std::accumulate(v.begin(), v.end(), 0.0) / 500.0);
  BOOST_TEST(a.lower < a.estimate);
  BOOST_TEST(a.upper > a.estimate);
  const ConfidenceInterval other_seed =
      moerb::bootstrap_mean_ci(v, {.resamples = 300, .level = 0.95, .seed = 43});
  BOOST_TEST(!(other_seed == a));
}

BOOST_AUTO_TEST_CASE(bootstrap_of_a_proportion_agrees_with_the_normal_interval) {
  // n = 2000, p̂ ≈ 0.3: the percentile bootstrap and p̂ ± 1.96 √(p̂(1−p̂)/n) agree to a few 1e-3.
  const std::vector<double> v = coin_flips(2000, 0.3, 5);
  const ConfidenceInterval ci = moerb::bootstrap_mean_ci(v, {.resamples = 1000, .seed = 9});
  const double p = ci.estimate;
  const double half = 1.959963984540054 * std::sqrt(p * (1 - p) / 2000.0);
  BOOST_TEST(std::abs(ci.lower - (p - half)) < 4e-3);
  BOOST_TEST(std::abs(ci.upper - (p + half)) < 4e-3);
  const ConfidenceInterval ci80 =
      moerb::bootstrap_mean_ci(v, {.resamples = 1000, .level = 0.8, .seed = 9});
  BOOST_TEST(ci80.lower > ci.lower);
  BOOST_TEST(ci80.upper < ci.upper);
  BOOST_TEST(ci80.level == 0.8);
}

BOOST_AUTO_TEST_CASE(percentiles_interpolate_linearly) {
  // With B = 2 the ends interpolate between the two sorted statistics at 0.025 and 0.975.
  // The statistic here returns the resample index sum, which differs per resample.
  Index calls = 0;
  auto statistic = [&](std::span<const Index> sample) {
    ++calls;
    return static_cast<double>(std::accumulate(sample.begin(), sample.end(), Index(0)));
  };
  const ConfidenceInterval ci = moerb::bootstrap_ci(10, statistic, {.resamples = 2, .seed = 3});
  BOOST_TEST(calls == 3);  // two resamples and the estimate
  BOOST_TEST(ci.estimate == 45.0);
  BOOST_TEST(ci.lower <= ci.upper);
}

BOOST_AUTO_TEST_CASE(constant_values_give_a_zero_width_interval) {
  const std::vector<double> v(40, 0.25);
  const ConfidenceInterval ci = moerb::bootstrap_mean_ci(v);
  BOOST_TEST(ci.lower == 0.25);
  BOOST_TEST(ci.upper == 0.25);
  BOOST_TEST(ci.estimate == 0.25);
}

BOOST_AUTO_TEST_CASE(resamplable_metrics_and_projections) {
  moerb::Accuracy accuracy;
  for (int i = 0; i < 200; ++i) accuracy.add(moerb::LabeledPrediction{i % 4 == 0 ? 1 : 0, 0});
  const ConfidenceInterval ci = moerb::bootstrap_ci(accuracy, {.resamples = 500, .seed = 1});
  BOOST_TEST(ci.estimate == 0.75);
  BOOST_TEST(ci.lower < 0.75);
  BOOST_TEST(ci.upper > 0.75);
  BOOST_TEST(ci.lower > 0.65);
  BOOST_TEST(ci.upper < 0.85);

  // A summary-valued metric through a projection; OOD resamples keep both groups' sizes.
  moerb::OodDetection ood;
  std::vector<double> in, out;
  moerb::Rng rng(4);
  for (int i = 0; i < 60; ++i) in.push_back(rng.normal(1, 1));
  for (int i = 0; i < 3; ++i) out.push_back(rng.normal(0, 1));
  ood.add_in_distribution(in);
  ood.add_out_of_distribution(out);
  const ConfidenceInterval auroc =
      moerb::bootstrap_ci(ood, {.resamples = 200, .seed = 2}, &moerb::OodSummary::auroc);
  BOOST_TEST(auroc.estimate == ood.value().auroc);
  BOOST_TEST(auroc.lower <= auroc.estimate);
  BOOST_TEST(auroc.upper >= auroc.estimate);
}

BOOST_AUTO_TEST_CASE(bad_options_and_empty_input_throw) {
  const std::vector<double> v{1, 2, 3};
  BOOST_CHECK_EXCEPTION((void)moerb::bootstrap_mean_ci(v, {.resamples = 0}), moerb::error,
                        message_has({"bootstrap_mean_ci", "resamples = 0"}));
  BOOST_CHECK_EXCEPTION((void)moerb::bootstrap_mean_ci(v, {.level = 1.5}), moerb::error,
                        message_has({"bootstrap_mean_ci", "level = 1.5"}));
  BOOST_CHECK_EXCEPTION((void)moerb::bootstrap_mean_ci(std::vector<double>{}), moerb::error,
                        message_has({"bootstrap_mean_ci", "no values"}));
  BOOST_CHECK_EXCEPTION((void)moerb::bootstrap_mean_ci(std::vector<double>{1, std::nan("")}),
                        moerb::error, message_has({"bootstrap_mean_ci", "value 1", "nan"}));
  BOOST_CHECK_EXCEPTION((void)moerb::bootstrap_ci(moerb::Accuracy{}), moerb::error,
                        message_has({"bootstrap_ci", "no examples"}));
  auto nan_statistic = [](std::span<const Index>) { return std::nan(""); };
  BOOST_CHECK_EXCEPTION((void)moerb::bootstrap_ci(5, nan_statistic), moerb::error,
                        message_has({"bootstrap_ci", "statistic is nan", "resample 0"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_metrics_confidence
