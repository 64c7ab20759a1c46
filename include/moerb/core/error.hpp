#pragma once
// moerb::error and the argument checks that raise it.
//
// Every check names the parameter, the expected value and the actual value, so a user who passes a
// wrong shape or a NaN learns where and what without a debugger.
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "moerb/core/types.hpp"

/// Throws moerb::error with the concatenated message parts when `condition` is false.
///
/// A macro, not a function, so that the message parts are evaluated only when the check fails: a
/// part may index or dereference what the condition guards (`MOERB_REQUIRE(i < v.size(), v[i])`),
/// and building the message costs nothing on the success path.
#define MOERB_REQUIRE(condition, ...)     \
  do {                                    \
    if (!(condition)) [[unlikely]]        \
      ::moerb::detail::fail(__VA_ARGS__); \
  } while (false)

namespace moerb {

/// Raised for every invalid argument or input moerb detects (shapes, ranges, non-finite values).
class error : public std::invalid_argument {
 public:
  explicit error(const std::string& what) : std::invalid_argument(what) {}
};

namespace detail {

template <class... Parts>
[[nodiscard]] std::string concat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

/// Builds the message and throws; out of line and cold so that the checks cost one branch.
template <class... Parts>
[[noreturn, gnu::noinline, gnu::cold]] void fail(const Parts&... parts) {
  throw error(concat(parts...));
}

}  // namespace detail

/// `where`: the calling function, e.g. "MoELayer::forward"; `what`: the argument, e.g. "x".
template <class Derived>
void require_shape(const Eigen::DenseBase<Derived>& m, Index rows, Index cols,
                   std::string_view where, std::string_view what) {
  if (m.rows() != rows || m.cols() != cols) {
    throw error(detail::concat(where, ": ", what, " has shape ", m.rows(), "×", m.cols(),
                               ", expected ", rows, "×", cols));
  }
}

template <class Derived>
void require_cols(const Eigen::DenseBase<Derived>& m, Index cols, std::string_view where,
                  std::string_view what) {
  if (m.cols() != cols) {
    throw error(detail::concat(where, ": ", what, " has ", m.cols(), " columns (shape ", m.rows(),
                               "×", m.cols(), "), expected ", cols));
  }
}

/// Rejects NaN and ±Inf, naming the first offending element.
///
/// Fast path: Σ x·0 is 0 exactly when every entry is finite (x·0 is NaN for NaN and ±Inf), and the
/// vectorised sum costs far less than a per-element test; the element scan runs only to name the
/// offending element.
template <class Derived>
void require_finite(const Eigen::DenseBase<Derived>& m, std::string_view where,
                    std::string_view what) {
  using S = typename Derived::Scalar;
  if (m.size() == 0) return;
  if ((m.derived().array() * S(0)).sum() == S(0)) return;
  for (Index r = 0; r < m.rows(); ++r) {
    for (Index c = 0; c < m.cols(); ++c) {
      const auto v = m(r, c);
      if (!std::isfinite(v)) {
        throw error(detail::concat(where, ": ", what, "(", r, ", ", c, ") is ", v,
                                   ", expected a finite value"));
      }
    }
  }
}

template <class T>
void require_positive(T value, std::string_view where, std::string_view what) {
  if (!(value > T(0))) {
    throw error(detail::concat(where, ": ", what, " = ", value, ", expected > 0"));
  }
}

template <class T>
void require_in_range(T value, T lo, T hi, std::string_view where, std::string_view what) {
  if (!(value >= lo && value <= hi)) {
    throw error(
        detail::concat(where, ": ", what, " = ", value, ", expected in [", lo, ", ", hi, "]"));
  }
}

/// Dropout-style rates: 0 <= p < 1.
template <class T>
void require_rate(T value, std::string_view where, std::string_view what) {
  if (!(value >= T(0) && value < T(1))) {
    throw error(detail::concat(where, ": ", what, " = ", value, ", expected in [0, 1)"));
  }
}

}  // namespace moerb
