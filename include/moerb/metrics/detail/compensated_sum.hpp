#pragma once
// A floating-point sum that carries its own rounding error (Neumaier 1974, "Rundungsfehleranalyse
// einiger Verfahren zur Summation endlicher Summen"), for accumulators whose state is a sum of
// doubles: merging shards in any split and order then agrees with one pass to about one rounding
// of the result instead of drifting by one rounding per added term.
#include <cmath>

namespace moerb::detail::metrics {

struct CompensatedSum {
  double sum = 0;
  double compensation = 0;  ///< the rounding error lost by `sum` so far

  void add(double x) {
    const double t = sum + x;
    compensation += std::abs(sum) >= std::abs(x) ? (sum - t) + x : (x - t) + sum;
    sum = t;
  }
  void merge(const CompensatedSum& other) {
    add(other.sum);
    add(other.compensation);
  }
  [[nodiscard]] double value() const { return sum + compensation; }
  friend bool operator==(const CompensatedSum&, const CompensatedSum&) = default;
};

}  // namespace moerb::detail::metrics
