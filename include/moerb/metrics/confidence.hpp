#pragma once
// Confidence intervals for metric values: the seeded percentile bootstrap for any per-example
// metric (Efron & Tibshirani 1993, "An Introduction to the Bootstrap", §13.3) and the Wilson score
// interval for proportions (Wilson 1927, "Probable inference, the law of succession, and
// statistical inference"), with the normal and Student's t quantiles they rest on.
//
// Reproducibility: resample r draws its indices from Rng(seed).split(r), so the same seed, the same
// examples in the same order and the same number of resamples give the same interval bit for bit,
// independent of anything else the program draws.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"
#include "moerb/metrics/accumulator.hpp"
#include "moerb/metrics/detail/checks.hpp"
#include "moerb/metrics/detail/distributions.hpp"

namespace moerb {

/// A point estimate and a two-sided interval at confidence `level` (e.g. 0.95).
struct ConfidenceInterval {
  double estimate = 0;
  double lower = 0;
  double upper = 0;
  double level = 0.95;
  friend bool operator==(const ConfidenceInterval&, const ConfidenceInterval&) = default;
};

struct BootstrapOptions {
  Index resamples = 1000;  ///< B, the number of bootstrap resamples (>= 1)
  double level = 0.95;     ///< two-sided confidence level, in (0, 1)
  std::uint64_t seed = 0;  ///< resample r uses Rng(seed).split(r)
};

/// Φ⁻¹(p), the standard normal quantile, for 0 < p < 1 (accurate to a few ulps).
[[nodiscard]] inline double normal_quantile(double p) {
  MOERB_REQUIRE(p > 0 && p < 1, "normal_quantile: p = ", p, ", expected in (0, 1)");
  return detail::metrics::normal_quantile(p);
}

/// The p-quantile of Student's t distribution with `dof` > 0 degrees of freedom, 0 < p < 1
/// (relative accuracy about 1e-13).
[[nodiscard]] inline double student_t_quantile(double p, double dof) {
  MOERB_REQUIRE(p > 0 && p < 1, "student_t_quantile: p = ", p, ", expected in (0, 1)");
  MOERB_REQUIRE(dof > 0 && std::isfinite(dof), "student_t_quantile: dof = ", dof,
                ", expected a finite value > 0");
  return detail::metrics::student_t_quantile(p, dof);
}

/// The Wilson score interval of a proportion `successes` / `trials` (trials >= 1):
///   centre = (p̂ + z²/2n) / (1 + z²/n),  half-width = z / (1 + z²/n) · √(p̂(1 − p̂)/n + z²/4n²),
/// with z = Φ⁻¹((1 + level)/2). Unlike the normal (Wald) interval it stays inside [0, 1] and has
/// non-zero width at p̂ = 0 or 1. estimate = p̂.
[[nodiscard]] inline ConfidenceInterval wilson_interval(std::int64_t successes, std::int64_t trials,
                                                        double level = 0.95) {
  MOERB_REQUIRE(trials >= 1, "wilson_interval: trials = ", trials, ", expected >= 1");
  MOERB_REQUIRE(successes >= 0 && successes <= trials, "wilson_interval: successes = ", successes,
                ", expected in [0, ", trials, "]");
  MOERB_REQUIRE(level > 0 && level < 1, "wilson_interval: level = ", level, ", expected in (0, 1)");
  const double n = static_cast<double>(trials);
  const double p = static_cast<double>(successes) / n;
  const double z = detail::metrics::normal_quantile((1 + level) / 2);
  const double z2 = z * z;
  const double denominator = 1 + z2 / n;
  const double centre = (p + z2 / (2 * n)) / denominator;
  const double half = z / denominator * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n));
  return {.estimate = p,
          .lower = std::max(0.0, centre - half),
          .upper = std::min(1.0, centre + half),
          .level = level};
}

namespace detail::metrics {

inline void check_bootstrap_options(const BootstrapOptions& options, std::string_view where) {
  MOERB_REQUIRE(options.resamples >= 1, where, ": resamples = ", options.resamples,
                ", expected >= 1");
  MOERB_REQUIRE(options.level > 0 && options.level < 1, where, ": level = ", options.level,
                ", expected in (0, 1)");
}

/// Runs `statistic` (double(std::span<const Index>)) on B resamples, each drawing strata[s]
/// indices with replacement from the s-th consecutive group of strata[s] examples, and returns the
/// sorted statistics.
template <class Statistic>
std::vector<double> bootstrap_distribution(const std::vector<Index>& strata, Statistic& statistic,
                                           const BootstrapOptions& options,
                                           std::string_view where) {
  check_bootstrap_options(options, where);
  Index n = 0;
  for (const Index size : strata) {
    MOERB_REQUIRE(size >= 1, where, ": a bootstrap stratum has ", size, " examples, expected >= 1");
    n += size;
  }
  const Rng root(options.seed);
  std::vector<Index> sample(static_cast<std::size_t>(n));
  std::vector<double> statistics(static_cast<std::size_t>(options.resamples));
  for (Index r = 0; r < options.resamples; ++r) {
    Rng rng = root.split(static_cast<std::uint64_t>(r));
    std::size_t i = 0;
    Index offset = 0;
    for (const Index size : strata) {
      for (Index j = 0; j < size; ++j) {
        sample[i++] =
            offset + static_cast<Index>(rng.uniform_index(static_cast<std::uint64_t>(size)));
      }
      offset += size;
    }
    const double value = statistic(std::span<const Index>(sample));
    MOERB_REQUIRE(std::isfinite(value), where, ": the statistic is ", value, " on resample ", r,
                  ", expected a finite value");
    statistics[static_cast<std::size_t>(r)] = value;
  }
  std::sort(statistics.begin(), statistics.end());
  return statistics;
}

inline ConfidenceInterval percentile_interval(double estimate, const std::vector<double>& sorted,
                                              double level) {
  const double alpha = 1 - level;
  return {.estimate = estimate,
          .lower = sorted_quantile(sorted, alpha / 2),
          .upper = sorted_quantile(sorted, 1 - alpha / 2),
          .level = level};
}

template <class Statistic>
ConfidenceInterval stratified_bootstrap_ci(const std::vector<Index>& strata, Statistic& statistic,
                                           const BootstrapOptions& options,
                                           std::string_view where) {
  const std::vector<double> sorted = bootstrap_distribution(strata, statistic, options, where);
  const Index n = std::accumulate(strata.begin(), strata.end(), Index(0));
  std::vector<Index> all(static_cast<std::size_t>(n));
  std::iota(all.begin(), all.end(), Index(0));
  return percentile_interval(statistic(std::span<const Index>(all)), sorted, options.level);
}

}  // namespace detail::metrics

/// Percentile bootstrap interval of any statistic of `num_examples` examples. `statistic` maps a
/// resample — num_examples indices into the examples, drawn with replacement — to a double; the
/// interval's ends are the (1 ∓ level)/2 quantiles of the B resampled statistics (linear
/// interpolation, numpy.quantile's default). estimate = the statistic on all examples (0 .. n−1).
template <class Statistic>
requires std::is_invocable_r_v<double, Statistic&, std::span<const Index>>
[[nodiscard]] ConfidenceInterval bootstrap_ci(Index num_examples, Statistic&& statistic,
                                              const BootstrapOptions& options = {}) {
  MOERB_REQUIRE(num_examples >= 1, "bootstrap_ci: no examples");
  return detail::metrics::stratified_bootstrap_ci({num_examples}, statistic, options,
                                                  "bootstrap_ci");
}

/// Percentile bootstrap interval of a resamplable metric's value (see accumulator.hpp), or of
/// `projection(value)` for metrics whose value is a summary (e.g. `&CalibrationSummary::ece`).
/// Metrics with bootstrap_strata() are resampled within each stratum.
template <ResamplableMetric A, class Projection = std::identity>
[[nodiscard]] ConfidenceInterval bootstrap_ci(const A& metric, const BootstrapOptions& options = {},
                                              Projection projection = {}) {
  static_assert(
      std::is_convertible_v<std::invoke_result_t<Projection&, typename A::value_type>, double>,
      "bootstrap_ci: the metric's value is not a number; pass a projection to one, e.g. "
      "&CalibrationSummary::ece");
  MOERB_REQUIRE(metric.num_examples() >= 1, "bootstrap_ci: the metric has no examples");
  std::vector<Index> strata{metric.num_examples()};
  if constexpr (HasBootstrapStrata<A>) strata = metric.bootstrap_strata();
  auto statistic = [&](std::span<const Index> sample) {
    return static_cast<double>(std::invoke(projection, metric.value_on(sample)));
  };
  return detail::metrics::stratified_bootstrap_ci(strata, statistic, options, "bootstrap_ci");
}

/// Percentile bootstrap interval of the mean of per-example values (e.g. 0/1 correctness, a
/// per-example loss). Non-finite values are rejected.
[[nodiscard]] inline ConfidenceInterval bootstrap_mean_ci(std::span<const double> values,
                                                          const BootstrapOptions& options = {}) {
  MOERB_REQUIRE(!values.empty(), "bootstrap_mean_ci: no values");
  for (std::size_t i = 0; i < values.size(); ++i) {
    MOERB_REQUIRE(std::isfinite(values[i]), "bootstrap_mean_ci: value ", i, " is ", values[i],
                  ", expected a finite value");
  }
  auto mean = [&](std::span<const Index> sample) {
    double sum = 0;
    for (const Index i : sample) sum += values[static_cast<std::size_t>(i)];
    return sum / static_cast<double>(sample.size());
  };
  return detail::metrics::stratified_bootstrap_ci({static_cast<Index>(values.size())}, mean,
                                                  options, "bootstrap_mean_ci");
}

}  // namespace moerb
