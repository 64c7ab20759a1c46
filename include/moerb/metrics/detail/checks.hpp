#pragma once
// Input checks shared by the metric accumulators; every message starts with the metric's name.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"

namespace moerb::detail::metrics {

/// Default tolerance on |Σ p − 1| of a probability row: loose enough for a float softmax over
/// tens of thousands of classes, tight enough to catch logits passed by mistake.
inline constexpr double default_sum_tolerance = 1e-4;

/// The index of the largest entry, the lowest among ties (numpy.argmax). `row` has size() and
/// operator[] (std::span, an Eigen row).
template <class Row>
[[nodiscard]] std::int32_t arg_max(const Row& row) {
  std::int32_t best = 0;
  for (Index k = 1; k < static_cast<Index>(row.size()); ++k) {
    if (row[k] > row[best]) best = static_cast<std::int32_t>(k);
  }
  return best;
}

/// Throws unless `row` is a probability row over `num_classes` classes (every entry finite and in
/// [0, 1], |Σ − 1| <= tolerance) and 0 <= label < num_classes.
template <class Row>
void check_probability_row(const Row& row, std::int32_t label, Index num_classes,
                           double sum_tolerance, std::string_view where) {
  const auto n = static_cast<Index>(row.size());
  MOERB_REQUIRE(n >= 1, where, ": empty probability row");
  MOERB_REQUIRE(n == num_classes, where, ": probability row has ", n, " entries, expected ",
                num_classes, " (one per class)");
  double sum = 0;
  for (Index k = 0; k < n; ++k) {
    const double p = static_cast<double>(row[k]);
    MOERB_REQUIRE(std::isfinite(p) && p >= 0 && p <= 1, where, ": probability ", k, " is ", p,
                  ", expected a value in [0, 1]");
    sum += p;
  }
  MOERB_REQUIRE(std::abs(sum - 1) <= sum_tolerance, where, ": probabilities sum to ", sum,
                ", expected 1 within ", sum_tolerance);
  MOERB_REQUIRE(label >= 0 && label < num_classes, where, ": label ", label,
                " is out of range [0, ", num_classes, ")");
}

/// Throws unless `value` is finite; `what` names it ("score", "log-probability").
inline void check_finite(double value, std::string_view where, std::string_view what) {
  MOERB_REQUIRE(std::isfinite(value), where, ": ", what, " is ", value,
                ", expected a finite value");
}

/// Throws unless two batch inputs have the same length.
inline void check_same_size(std::size_t a, std::size_t b, std::string_view where,
                            std::string_view what_a, std::string_view what_b) {
  MOERB_REQUIRE(a == b, where, ": ", a, " ", what_a, " but ", b, " ", what_b);
}

/// numpy.quantile's default (linear interpolation between order statistics, Hyndman & Fan 1996
/// type 7) of an ascending range of size n >= 1, for 0 <= q <= 1.
template <class Sorted>
[[nodiscard]] double sorted_quantile(const Sorted& sorted, double q) {
  const auto n = static_cast<std::size_t>(sorted.size());
  const double position = q * static_cast<double>(n - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = below + 1 < n ? below + 1 : below;
  const double fraction = position - static_cast<double>(below);
  return sorted[below] + fraction * (sorted[above] - sorted[below]);
}

}  // namespace moerb::detail::metrics
