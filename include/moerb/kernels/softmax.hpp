#pragma once
// Row softmax, log-softmax and logsumexp, stable for logits of ±1e4 (max subtraction), on xsimd
// batches (moerb/kernels/detail/simd.hpp); tests compare them with moerb/kernels/reference/.
//
// Input contract (not checked here: these run once per token in hot loops; routers validate their
// logits before): entries are finite or −inf (a masked entry gets probability 0). NaN and +inf are
// not allowed. A row that is entirely −inf (every entry masked) has no softmax; the caller should
// not pass one, but if it does the result is NaN-free: softmax gives the uniform 1/n (the limit of
// equal logits), log_softmax −log n and logsumexp −inf. n = 0 is allowed (logsumexp = −inf).
#include <cmath>
#include <limits>

#include "moerb/core/types.hpp"
#include "moerb/kernels/detail/simd.hpp"
#include "moerb/kernels/detail/softmax_simd.hpp"
#include "moerb/kernels/reference/scalar.hpp"

namespace moerb::kernels {

/// log Σ_i exp(x_i) over n values.
template <class S>
S logsumexp(const S* x, Index n) {
  static_assert(FloatingScalar<S>, "moerb::kernels::logsumexp: S must be float or double");
#if MOERB_KERNELS_SIMD
  if constexpr (detail::simd_enabled<S>) {
    const S m = detail::max_simd(x, n);
    if (!std::isfinite(m)) return m;
    return m + std::log(detail::exp_shifted_sum_simd<false>(x, m, static_cast<S*>(nullptr), n));
  }
#endif
  return reference::logsumexp(x, n);
}

/// y = softmax(x) over n values (x and y may alias).
template <class S>
void softmax(const S* x, S* y, Index n) {
  static_assert(FloatingScalar<S>, "moerb::kernels::softmax: S must be float or double");
#if MOERB_KERNELS_SIMD
  if constexpr (detail::simd_enabled<S>) {
    const S m = detail::max_simd(x, n);
    if (m == -std::numeric_limits<S>::infinity()) {  // all masked (or n = 0): uniform
      for (Index i = 0; i < n; ++i) y[i] = S(1) / static_cast<S>(n);
      return;
    }
    const S sum = detail::exp_shifted_sum_simd<true>(x, m, y, n);
    detail::scale_simd(y, S(1) / sum, y, n);
    return;
  }
#endif
  reference::softmax(x, y, n);
}

/// y = log softmax(x) = (x − max) − log Σ exp(x − max) over n values (x and y may alias).
template <class S>
void log_softmax(const S* x, S* y, Index n) {
  static_assert(FloatingScalar<S>, "moerb::kernels::log_softmax: S must be float or double");
#if MOERB_KERNELS_SIMD
  if constexpr (detail::simd_enabled<S>) {
    const S m = detail::max_simd(x, n);
    if (m == -std::numeric_limits<S>::infinity()) {  // all masked (or n = 0): −log n
      for (Index i = 0; i < n; ++i) y[i] = -std::log(static_cast<S>(n));
      return;
    }
    const S log_sum =
        std::log(detail::exp_shifted_sum_simd<false>(x, m, static_cast<S*>(nullptr), n));
    detail::shift_twice_simd(x, m, log_sum, y, n);
    return;
  }
#endif
  reference::log_softmax(x, y, n);
}

/// Softmax of every row of `in` (rows × n) into `out`, resized to in's shape; no allocation when
/// `out` already has it. `out` may be `in`.
template <class S>
void softmax_rows(const Matrix<S>& in, Matrix<S>& out) {
  out.resize(in.rows(), in.cols());
  for (Index r = 0; r < in.rows(); ++r) softmax(in.row(r).data(), out.row(r).data(), in.cols());
}

/// Log-softmax of every row of `in` into `out`; see softmax_rows.
template <class S>
void log_softmax_rows(const Matrix<S>& in, Matrix<S>& out) {
  out.resize(in.rows(), in.cols());
  for (Index r = 0; r < in.rows(); ++r) log_softmax(in.row(r).data(), out.row(r).data(), in.cols());
}

}  // namespace moerb::kernels
