#pragma once
// Quantiles and tail probabilities of the distributions behind the confidence intervals and tests
// in moerb/metrics: the standard normal (Wilson intervals), Student's t (intervals across seeds)
// and the binomial with p = 1/2 (the exact McNemar test).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>

#include "moerb/metrics/detail/compensated_sum.hpp"

namespace moerb::detail::metrics {

/// Φ⁻¹(p) for 0 < p < 1: Acklam's rational approximation (relative error 1.15e-9), refined by two
/// Halley steps on Φ(x) = erfc(−x/√2)/2, which bring it to a few ulps. Upper-tail p are mapped to
/// the lower tail (1 − p is exact for p >= 1/2), where erfc carries full relative precision.
[[nodiscard]] inline double normal_quantile(double p) {
  if (p > 0.5) return -normal_quantile(1 - p);
  constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                          1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                          6.680131188771972e+01, -1.328068155288572e+01};
  constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                          -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                          3.754408661907416e+00};
  constexpr double p_low = 0.02425;
  double x = 0;
  if (p < p_low) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - p_low) {
    const double q = p - 0.5;
    const double r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  for (int step = 0; step < 2; ++step) {
    const double e = 0.5 * std::erfc(-x / std::numbers::sqrt2) - p;
    const double u = e * std::sqrt(2 * std::numbers::pi) * std::exp(x * x / 2);
    x = x - u / (1 + x * u / 2);
  }
  return x;
}

/// The continued fraction of the regularised incomplete beta function, evaluated by the modified
/// Lentz method; converges fast for x < (a + 1) / (a + b + 2).
[[nodiscard]] inline double incomplete_beta_fraction(double a, double b, double x) {
  constexpr double tiny = 1e-300;
  constexpr double eps = 1e-15;  // a few ulps: a tighter test may never pass and only adds rounding
  const auto guard = [](double v) { return std::abs(v) < tiny ? tiny : v; };
  double c = 1;
  double d = 1 / guard(1 - (a + b) * x / (a + 1));
  double h = d;
  for (int m = 1; m <= 10000; ++m) {
    const double m2 = 2.0 * m;
    // Even step: m (b − m) x / ((a + 2m − 1)(a + 2m)).
    double coefficient = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    d = 1 / guard(1 + coefficient * d);
    c = guard(1 + coefficient / c);
    h *= d * c;
    // Odd step: −(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
    coefficient = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    d = 1 / guard(1 + coefficient * d);
    c = guard(1 + coefficient / c);
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1) < eps) break;
  }
  return h;
}

/// I_x(a, b), the regularised incomplete beta function, for a, b > 0 and 0 <= x <= 1.
[[nodiscard]] inline double regularized_incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(log_front);
  if (x < (a + 1) / (a + b + 2)) return front * incomplete_beta_fraction(a, b, x) / a;
  return 1 - front * incomplete_beta_fraction(b, a, 1 - x) / b;
}

/// P(T <= t) for Student's t with `dof` > 0 degrees of freedom:
/// 1 − I_{ν/(ν+t²)}(ν/2, 1/2) / 2 for t >= 0, symmetric for t < 0.
[[nodiscard]] inline double student_t_cdf(double t, double dof) {
  const double tail = 0.5 * regularized_incomplete_beta(dof / 2, 0.5, dof / (dof + t * t));
  return t >= 0 ? 1 - tail : tail;
}

/// The p-quantile of Student's t with `dof` degrees of freedom (0 < p < 1), by bisection on the
/// CDF to the resolution of doubles.
[[nodiscard]] inline double student_t_quantile(double p, double dof) {
  if (p == 0.5) return 0;
  if (p < 0.5) return -student_t_quantile(1 - p, dof);
  double lo = 0;
  double hi = 1;
  while (student_t_cdf(hi, dof) < p && hi < 1e300) {
    lo = hi;
    hi *= 2;
  }
  for (int i = 0; i < 2000; ++i) {
    const double mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) break;
    (student_t_cdf(mid, dof) < p ? lo : hi) = mid;
  }
  return lo + (hi - lo) / 2;
}

/// P(X <= k) for X ~ Binomial(n, 1/2) and 0 <= k <= n/2. The terms C(n, i) 2⁻ⁿ grow with i up to
/// k, so they are summed relative to the last one, whose logarithm
///   log C(n, k) − n log 2 = Σ_{i=1..k} [log((n − i + 1) / i) − 2 log 2] − (n − 2k) log 2
/// is a compensated sum of terms of order one: no underflow for large n, and an error that grows
/// with √k ulps instead of with log C(n, k).
[[nodiscard]] inline double binomial_half_lower_tail(std::int64_t k, std::int64_t n) {
  CompensatedSum log_last;
  for (std::int64_t i = 1; i <= k; ++i) {
    log_last.add(std::log(static_cast<double>(n - i + 1) / static_cast<double>(i)) -
                 2 * std::numbers::ln2);
  }
  log_last.add(-static_cast<double>(n - 2 * k) * std::numbers::ln2);
  // Σ_{i<=k} C(n, i) / C(n, k), from i = k down: C(n, i − 1) / C(n, i) = i / (n − i + 1).
  double relative_sum = 0;
  double ratio = 1;
  for (std::int64_t i = k; i >= 0 && ratio >= 1e-300; --i) {
    relative_sum += ratio;
    ratio *= static_cast<double>(i) / static_cast<double>(n - i + 1);
  }
  return std::exp(log_last.value() + std::log(relative_sum));
}

}  // namespace moerb::detail::metrics
