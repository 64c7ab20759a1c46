#pragma once
// Top-k per row. Values come out in descending order; equal values are ordered by lower index
// first (so routing is deterministic when logits tie, e.g. a zero-initialised router): the result
// is the first k elements of x under "value descending, then index ascending", exactly as the
// scalar reference (moerb/kernels/reference/scalar.hpp) and a std::partial_sort with that order.
// −0 and +0 are equal values (tie broken by index); val holds the input's own value.
//
// Input contract (not checked: routers reject NaN logits before calling): no NaN entries; ±inf
// are allowed. The implementation picks a SIMD strategy from n and k (moerb/kernels/detail/
// topk_simd.hpp): repeated SIMD max/first-index passes for k < 16, a SIMD threshold
// bisection for larger k (expert-choice routing over many tokens).
#include <limits>

#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"
#include "moerb/kernels/detail/simd.hpp"
#include "moerb/kernels/detail/topk_simd.hpp"
#include "moerb/kernels/reference/scalar.hpp"

namespace moerb::kernels {

/// idx[0..k) and val[0..k) receive the k largest of x[0..n). Requires 1 <= k <= n (throws
/// moerb::error otherwise; one comparison per call).
template <class S>
void topk(const S* x, Index n, Index k, Index* idx, S* val) {
  static_assert(FloatingScalar<S>, "moerb::kernels::topk: S must be float or double");
  MOERB_REQUIRE(k >= 1 && k <= n, "topk: k = ", k, ", expected in [1, n = ", n, "]");
#if MOERB_KERNELS_SIMD
  if constexpr (detail::simd_enabled<S>) {
    // Measured with benchmarks/bench_kernels.cpp (BM_topk_strategy, AVX2): selection is faster
    // up to k ≈ 12–16, threshold beyond. Threshold counts in S lanes, exact below 2^digits(S).
    constexpr Index max_threshold_n = Index(1) << std::numeric_limits<S>::digits;
    if (k < 16 || n >= max_threshold_n) {
      detail::topk_by_selection(x, n, k, idx, val);
    } else {
      detail::topk_by_threshold(x, n, k, idx, val);
    }
    return;
  }
#endif
  reference::topk(x, n, k, idx, val);
}

/// Row-wise top-k of `in` (rows × n) into `idx` and `val` (rows × k), resized (no allocation when
/// they already have that shape). Throws moerb::error unless 1 <= k <= n.
template <class S>
void topk_rows(const Matrix<S>& in, Index k, IndexMatrix& idx, Matrix<S>& val) {
  MOERB_REQUIRE(k >= 1 && k <= in.cols(), "topk_rows: k = ", k, ", expected in [1, ", in.cols(), "]");
  idx.resize(in.rows(), k);
  val.resize(in.rows(), k);
  for (Index r = 0; r < in.rows(); ++r) {
    topk(in.row(r).data(), in.cols(), k, idx.row(r).data(), val.row(r).data());
  }
}

}  // namespace moerb::kernels
