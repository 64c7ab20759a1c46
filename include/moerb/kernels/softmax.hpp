#pragma once
// Row softmax, log-softmax and logsumexp, stable for logits of ±1e4 (max subtraction).
//
// TODO(kernels): xsimd implementations; these currently forward to the scalar reference.
#include "moerb/core/error.hpp"
#include "moerb/kernels/reference/scalar.hpp"

namespace moerb::kernels {

template <class S>
S logsumexp(const S* x, Index n) {
  return reference::logsumexp(x, n);
}

/// y = softmax(x) over n values (x and y may alias).
template <class S>
void softmax(const S* x, S* y, Index n) {
  reference::softmax(x, y, n);
}

template <class S>
void log_softmax(const S* x, S* y, Index n) {
  reference::log_softmax(x, y, n);
}

/// Softmax of every row of `in` into `out` (resized to in's shape).
template <class S>
void softmax_rows(const Matrix<S>& in, Matrix<S>& out) {
  out.resize(in.rows(), in.cols());
  for (Index r = 0; r < in.rows(); ++r) softmax(in.row(r).data(), out.row(r).data(), in.cols());
}

template <class S>
void log_softmax_rows(const Matrix<S>& in, Matrix<S>& out) {
  out.resize(in.rows(), in.cols());
  for (Index r = 0; r < in.rows(); ++r) log_softmax(in.row(r).data(), out.row(r).data(), in.cols());
}

}  // namespace moerb::kernels
