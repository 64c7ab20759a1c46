#pragma once
// Top-k per row. Values come out in descending order; equal values are ordered by lower index
// first (so routing is deterministic when logits tie, e.g. a zero-initialised router).
//
// TODO(kernels): xsimd implementation; this currently forwards to the scalar reference.
#include "moerb/core/error.hpp"
#include "moerb/kernels/reference/scalar.hpp"

namespace moerb::kernels {

/// idx[0..k) and val[0..k) receive the k largest of x[0..n). Requires 1 <= k <= n.
template <class S>
void topk(const S* x, Index n, Index k, Index* idx, S* val) {
  reference::topk(x, n, k, idx, val);
}

/// Row-wise top-k of `in` (rows × n) into `idx` and `val` (rows × k).
template <class S>
void topk_rows(const Matrix<S>& in, Index k, IndexMatrix& idx, Matrix<S>& val) {
  require(k >= 1 && k <= in.cols(), "topk_rows: k = ", k, ", expected in [1, ", in.cols(), "]");
  idx.resize(in.rows(), k);
  val.resize(in.rows(), k);
  for (Index r = 0; r < in.rows(); ++r) topk(in.row(r).data(), in.cols(), k, idx.row(r).data(), val.row(r).data());
}

}  // namespace moerb::kernels
