#pragma once
// Comparing two models on the same examples (MoE against its dense twin), and summarising results
// over training seeds:
// - McNemarTest: the exact McNemar test on per-example correctness (McNemar 1947; exact form as
//   statsmodels.stats.contingency_tables.mcnemar(exact=True)): under H0 the discordant pairs split
//   Binomial(b + c, 1/2), and the two-sided p-value is min(1, 2 · P(X <= min(b, c)));
// - paired_bootstrap_ci: percentile bootstrap of the difference of a per-example metric, resampling
//   the same example indices for both models (confidence.hpp);
// - across_seeds: mean, sample standard deviation and Student-t interval of one figure over several
//   training runs.
#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <type_traits>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"
#include "moerb/metrics/accumulator.hpp"
#include "moerb/metrics/confidence.hpp"
#include "moerb/metrics/detail/checks.hpp"
#include "moerb/metrics/detail/distributions.hpp"

namespace moerb {

/// Whether each of two models got one example right.
struct PairedCorrectness {
  bool first_correct = false;
  bool second_correct = false;
};

struct McNemarResult {
  std::int64_t both_correct = 0;
  std::int64_t only_first = 0;   ///< b: the first model right, the second wrong
  std::int64_t only_second = 0;  ///< c: the second model right, the first wrong
  std::int64_t neither = 0;
  double p_value = 1;  ///< exact two-sided; 1 when there is no discordant pair
  /// accuracy(first) − accuracy(second) = (b − c) / n.
  double accuracy_difference = 0;
  friend bool operator==(const McNemarResult&, const McNemarResult&) = default;
};

/// The exact McNemar test of two models' correctness on the same examples (counts only: merging is
/// exact).
class McNemarTest {
 public:
  using input_type = PairedCorrectness;
  using value_type = McNemarResult;

  struct State {
    std::int64_t both_correct = 0;
    std::int64_t only_first = 0;
    std::int64_t only_second = 0;
    std::int64_t neither = 0;
    friend bool operator==(const State&, const State&) = default;
  };

  McNemarTest() = default;
  explicit McNemarTest(const State& state) : state_(state) {
    MOERB_REQUIRE(state.both_correct >= 0 && state.only_first >= 0 && state.only_second >= 0 &&
                      state.neither >= 0,
                  "McNemarTest: invalid state (negative count)");
  }

  void add(const PairedCorrectness& example) {
    auto& count = example.first_correct
                      ? (example.second_correct ? state_.both_correct : state_.only_first)
                      : (example.second_correct ? state_.only_second : state_.neither);
    ++count;
  }
  /// A batch: both models' predictions and the labels.
  void add(std::span<const std::int32_t> predicted_first,
           std::span<const std::int32_t> predicted_second, std::span<const std::int32_t> labels) {
    detail::metrics::check_same_size(predicted_first.size(), labels.size(), "McNemarTest::add",
                                     "first predictions", "labels");
    detail::metrics::check_same_size(predicted_second.size(), labels.size(), "McNemarTest::add",
                                     "second predictions", "labels");
    for (std::size_t i = 0; i < labels.size(); ++i) {
      add(PairedCorrectness{predicted_first[i] == labels[i], predicted_second[i] == labels[i]});
    }
  }

  void merge(const McNemarTest& other) {
    state_.both_correct += other.state_.both_correct;
    state_.only_first += other.state_.only_first;
    state_.only_second += other.state_.only_second;
    state_.neither += other.state_.neither;
  }
  void reset() { state_ = {}; }

  [[nodiscard]] McNemarResult value() const {
    const std::int64_t n =
        state_.both_correct + state_.only_first + state_.only_second + state_.neither;
    MOERB_REQUIRE(n > 0, "McNemarTest::value: no examples");
    McNemarResult r{.both_correct = state_.both_correct,
                    .only_first = state_.only_first,
                    .only_second = state_.only_second,
                    .neither = state_.neither};
    const std::int64_t discordant = state_.only_first + state_.only_second;
    if (discordant > 0) {
      const std::int64_t smaller = std::min(state_.only_first, state_.only_second);
      r.p_value = std::min(1.0, 2 * detail::metrics::binomial_half_lower_tail(smaller, discordant));
    }
    r.accuracy_difference =
        static_cast<double>(state_.only_first - state_.only_second) / static_cast<double>(n);
    return r;
  }

  [[nodiscard]] const State& state() const { return state_; }

 private:
  State state_;
};

/// Percentile bootstrap interval of mean(first) − mean(second) for per-example values of two
/// models on the same examples (e.g. 0/1 correctness, per-example losses): each resample draws one
/// set of example indices and applies it to both.
[[nodiscard]] inline ConfidenceInterval paired_bootstrap_ci(std::span<const double> first,
                                                            std::span<const double> second,
                                                            const BootstrapOptions& options = {}) {
  detail::metrics::check_same_size(first.size(), second.size(), "paired_bootstrap_ci",
                                   "first values", "second values");
  MOERB_REQUIRE(!first.empty(), "paired_bootstrap_ci: no values");
  for (std::size_t i = 0; i < first.size(); ++i) {
    MOERB_REQUIRE(std::isfinite(first[i]) && std::isfinite(second[i]),
                  "paired_bootstrap_ci: value ", i, " is not finite (", first[i], ", ", second[i],
                  ")");
  }
  auto difference = [&](std::span<const Index> sample) {
    double sum = 0;
    for (const Index i : sample) {
      sum += first[static_cast<std::size_t>(i)] - second[static_cast<std::size_t>(i)];
    }
    return sum / static_cast<double>(sample.size());
  };
  return detail::metrics::stratified_bootstrap_ci({static_cast<Index>(first.size())}, difference,
                                                  options, "paired_bootstrap_ci");
}

/// Percentile bootstrap interval of projection(first.value()) − projection(second.value()) for two
/// accumulators of the same metric that saw the same examples in the same order (one per model).
/// Only metrics that number their examples in the order added can be paired.
template <ResamplableMetric A, class Projection = std::identity>
[[nodiscard]] ConfidenceInterval paired_bootstrap_ci(const A& first, const A& second,
                                                     const BootstrapOptions& options = {},
                                                     Projection projection = {}) {
  static_assert(
      std::is_convertible_v<std::invoke_result_t<Projection&, typename A::value_type>, double>,
      "paired_bootstrap_ci: the metric's value is not a number; pass a projection to one, e.g. "
      "&CalibrationSummary::ece");
  static_assert(A::resamples_in_added_order,
                "paired_bootstrap_ci: this metric keeps counts only and numbers its examples "
                "canonically, so two of them cannot be paired example by example; pass per-example "
                "values (e.g. 0/1 correctness) instead");
  MOERB_REQUIRE(first.num_examples() == second.num_examples() && first.num_examples() >= 1,
                "paired_bootstrap_ci: the metrics have ", first.num_examples(), " and ",
                second.num_examples(), " examples, expected the same number >= 1");
  std::vector<Index> strata{first.num_examples()};
  if constexpr (HasBootstrapStrata<A>) {
    strata = first.bootstrap_strata();
    MOERB_REQUIRE(strata == second.bootstrap_strata(),
                  "paired_bootstrap_ci: the metrics' bootstrap strata differ");
  }
  auto difference = [&](std::span<const Index> sample) {
    return static_cast<double>(std::invoke(projection, first.value_on(sample))) -
           static_cast<double>(std::invoke(projection, second.value_on(sample)));
  };
  return detail::metrics::stratified_bootstrap_ci(strata, difference, options,
                                                  "paired_bootstrap_ci");
}

/// One figure over several training runs (seeds).
struct SeedSummary {
  double mean = 0;
  double stddev = 0;  ///< sample standard deviation (n − 1 in the denominator)
  Index runs = 0;
  /// mean ± t_{(1+level)/2, n−1} · stddev / √n (Student 1908).
  ConfidenceInterval interval;
  friend bool operator==(const SeedSummary&, const SeedSummary&) = default;
};

/// Mean, standard deviation and t-interval of `values` (one per run, at least two, finite).
[[nodiscard]] inline SeedSummary across_seeds(std::span<const double> values, double level = 0.95) {
  MOERB_REQUIRE(values.size() >= 2, "across_seeds: ", values.size(),
                " runs, expected at least 2 for an interval");
  MOERB_REQUIRE(level > 0 && level < 1, "across_seeds: level = ", level, ", expected in (0, 1)");
  for (std::size_t i = 0; i < values.size(); ++i) {
    detail::metrics::check_finite(values[i], "across_seeds", "a run's value");
  }
  const double n = static_cast<double>(values.size());
  double sum = 0;
  for (const double v : values) sum += v;
  const double mean = sum / n;
  double squares = 0;
  for (const double v : values) squares += (v - mean) * (v - mean);
  const double stddev = std::sqrt(squares / (n - 1));
  const double t = detail::metrics::student_t_quantile((1 + level) / 2, n - 1);
  const double half = t * stddev / std::sqrt(n);
  return {
      .mean = mean,
      .stddev = stddev,
      .runs = static_cast<Index>(values.size()),
      .interval = {.estimate = mean, .lower = mean - half, .upper = mean + half, .level = level}};
}

}  // namespace moerb
