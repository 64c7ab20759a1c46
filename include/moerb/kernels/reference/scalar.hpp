#pragma once
// Scalar reference kernels: the plain loops that the xsimd kernels in moerb/kernels/ must match.
// Kept simple on purpose; tests compare the SIMD versions against these on odd lengths and extreme
// values.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "moerb/core/types.hpp"

namespace moerb::kernels::reference {

template <class S>
S max_value(const S* x, Index n) {
  S m = -std::numeric_limits<S>::infinity();
  for (Index i = 0; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

/// log Σ exp(x_i), stabilised by the maximum.
template <class S>
S logsumexp(const S* x, Index n) {
  const S m = max_value(x, n);
  if (!std::isfinite(m)) return m;
  S sum = 0;
  for (Index i = 0; i < n; ++i) sum += std::exp(x[i] - m);
  return m + std::log(sum);
}

template <class S>
void softmax(const S* x, S* y, Index n) {
  const S m = max_value(x, n);
  S sum = 0;
  for (Index i = 0; i < n; ++i) {
    y[i] = std::exp(x[i] - m);
    sum += y[i];
  }
  const S inv = S(1) / sum;
  for (Index i = 0; i < n; ++i) y[i] *= inv;
}

template <class S>
void log_softmax(const S* x, S* y, Index n) {
  const S lse = logsumexp(x, n);
  for (Index i = 0; i < n; ++i) y[i] = x[i] - lse;
}

/// The k largest values of x in descending order; equal values are ordered by lower index first.
template <class S>
void topk(const S* x, Index n, Index k, Index* idx, S* val) {
  for (Index j = 0; j < k; ++j) {
    Index best = -1;
    for (Index i = 0; i < n; ++i) {
      bool taken = false;
      for (Index q = 0; q < j; ++q) taken = taken || idx[q] == i;
      if (taken) continue;
      if (best < 0 || x[i] > x[best]) best = i;
    }
    idx[j] = best;
    val[j] = x[best];
  }
}

template <class S>
void relu(const S* x, S* y, Index n) {
  for (Index i = 0; i < n; ++i) y[i] = x[i] > S(0) ? x[i] : S(0);
}
template <class S>
void relu_backward(const S* x, const S* dy, S* dx, Index n) {
  for (Index i = 0; i < n; ++i) dx[i] = x[i] > S(0) ? dy[i] : S(0);
}

/// GELU, exact form: x·Φ(x) = x/2·(1 + erf(x/√2)) (Hendrycks & Gimpel 2016).
template <class S>
void gelu_erf(const S* x, S* y, Index n) {
  const S r = S(1) / std::numbers::sqrt2_v<S>;
  for (Index i = 0; i < n; ++i) y[i] = S(0.5) * x[i] * (S(1) + std::erf(x[i] * r));
}
template <class S>
void gelu_erf_backward(const S* x, const S* dy, S* dx, Index n) {
  const S r = S(1) / std::numbers::sqrt2_v<S>;
  const S c = S(1) / std::sqrt(S(2) * std::numbers::pi_v<S>);
  for (Index i = 0; i < n; ++i) {
    const S cdf = S(0.5) * (S(1) + std::erf(x[i] * r));
    const S pdf = c * std::exp(S(-0.5) * x[i] * x[i]);
    dx[i] = dy[i] * (cdf + x[i] * pdf);
  }
}

/// GELU, tanh approximation: x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
template <class S>
void gelu_tanh(const S* x, S* y, Index n) {
  const S a = std::sqrt(S(2) / std::numbers::pi_v<S>);
  for (Index i = 0; i < n; ++i) {
    const S u = a * (x[i] + S(0.044715) * x[i] * x[i] * x[i]);
    y[i] = S(0.5) * x[i] * (S(1) + std::tanh(u));
  }
}
template <class S>
void gelu_tanh_backward(const S* x, const S* dy, S* dx, Index n) {
  const S a = std::sqrt(S(2) / std::numbers::pi_v<S>);
  for (Index i = 0; i < n; ++i) {
    const S u = a * (x[i] + S(0.044715) * x[i] * x[i] * x[i]);
    const S t = std::tanh(u);
    const S du = a * (S(1) + S(3) * S(0.044715) * x[i] * x[i]);
    dx[i] = dy[i] * (S(0.5) * (S(1) + t) + S(0.5) * x[i] * (S(1) - t * t) * du);
  }
}

/// SiLU / swish: x·σ(x) (Elfwing et al. 2018).
template <class S>
void silu(const S* x, S* y, Index n) {
  for (Index i = 0; i < n; ++i) y[i] = x[i] / (S(1) + std::exp(-x[i]));
}
template <class S>
void silu_backward(const S* x, const S* dy, S* dx, Index n) {
  for (Index i = 0; i < n; ++i) {
    const S s = S(1) / (S(1) + std::exp(-x[i]));
    dx[i] = dy[i] * s * (S(1) + x[i] * (S(1) - s));
  }
}

}  // namespace moerb::kernels::reference
