#pragma once
// Scalar reference kernels: the plain loops that the xsimd kernels in moerb/kernels/ must match.
// Kept simple on purpose; tests compare the SIMD versions against these on odd lengths and extreme
// values. The formulas are the numerically careful ones (max subtraction, erfc and sigmoid forms
// without cancellation); the fast kernels evaluate the same formulas with xsimd.
#include <algorithm>
#include <cmath>
#include <limits>

#include "moerb/core/types.hpp"
#include "moerb/kernels/detail/activation_common.hpp"

namespace moerb::kernels::reference {

template <class S>
S max_value(const S* x, Index n) {
  S m = -std::numeric_limits<S>::infinity();
  for (Index i = 0; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

/// log Σ exp(x_i), stabilised by the maximum. -inf for n = 0 or an all -inf row.
template <class S>
S logsumexp(const S* x, Index n) {
  const S m = max_value(x, n);
  if (!std::isfinite(m)) return m;
  S sum = 0;
  for (Index i = 0; i < n; ++i) sum += std::exp(x[i] - m);
  return m + std::log(sum);
}

/// y = softmax(x). Entries may be -inf (masked); a row that is entirely -inf has no softmax and
/// gets the uniform distribution 1/n (the limit of equal logits) instead of NaN. NaN and +inf
/// entries are not allowed.
template <class S>
void softmax(const S* x, S* y, Index n) {
  const S m = max_value(x, n);
  if (m == -std::numeric_limits<S>::infinity()) {
    for (Index i = 0; i < n; ++i) y[i] = S(1) / static_cast<S>(n);
    return;
  }
  S sum = 0;
  for (Index i = 0; i < n; ++i) {
    y[i] = std::exp(x[i] - m);
    sum += y[i];
  }
  const S inv = S(1) / sum;
  for (Index i = 0; i < n; ++i) y[i] *= inv;
}

/// y = log softmax(x) = (x − max) − log Σ exp(x − max). An all -inf row gives −log n (see softmax).
template <class S>
void log_softmax(const S* x, S* y, Index n) {
  const S m = max_value(x, n);
  if (m == -std::numeric_limits<S>::infinity()) {
    for (Index i = 0; i < n; ++i) y[i] = -std::log(static_cast<S>(n));
    return;
  }
  S sum = 0;
  for (Index i = 0; i < n; ++i) sum += std::exp(x[i] - m);
  const S log_sum = std::log(sum);
  for (Index i = 0; i < n; ++i) y[i] = (x[i] - m) - log_sum;
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

// ---- activations, one value at a time: f(x) and f'(x) ----------------------------------------

template <class S>
S relu_value(S x) {
  return x > S(0) ? x : S(0);
}
template <class S>
S relu_derivative(S x) {
  return x > S(0) ? S(1) : S(0);
}

/// Φ(x), the standard normal CDF, as erfc(−x/√2)/2: no cancellation for negative x (unlike
/// (1 + erf(x/√2))/2), so GELU keeps its relative accuracy in the left tail.
template <class S>
S normal_cdf(S x) {
  return S(0.5) * std::erfc(-x * detail::ActivationConstants<S>::inv_sqrt2);
}

/// GELU, exact form: x·Φ(x) (Hendrycks & Gimpel 2016).
template <class S>
S gelu_erf_value(S x) {
  return x * normal_cdf(x);
}
/// Φ(x) + x·φ(x).
template <class S>
S gelu_erf_derivative(S x) {
  const S pdf = detail::ActivationConstants<S>::inv_sqrt_2pi * std::exp(S(-0.5) * x * x);
  return normal_cdf(x) + x * pdf;
}

/// GELU, tanh approximation: x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))), evaluated as x·σ(z) with
/// z = 2√(2/π)·(x + 0.044715·x³), which equals it and has no cancellation for negative x.
template <class S>
S gelu_tanh_value(S x) {
  using C = detail::ActivationConstants<S>;
  const S z = C::gelu_tanh_z_scale * (x + C::gelu_tanh_cubic * x * x * x);
  return x / (S(1) + std::exp(-z));
}
/// σ(z) + x·σ(z)(1 − σ(z))·z'. Where σ(1 − σ) is exactly 0 the second term is 0 (written out so
/// that z' = ∞ for huge |x| does not make 0·∞ = NaN).
template <class S>
S gelu_tanh_derivative(S x) {
  using C = detail::ActivationConstants<S>;
  const S z = C::gelu_tanh_z_scale * (x + C::gelu_tanh_cubic * x * x * x);
  const S dz = C::gelu_tanh_z_scale * (S(1) + S(3) * C::gelu_tanh_cubic * x * x);
  const S s = S(1) / (S(1) + std::exp(-z));
  const S g = s * (S(1) - s);
  return s + (g == S(0) ? S(0) : g * x * dz);
}

/// SiLU / swish: x·σ(x) = x/(1 + e^−x) (Elfwing et al. 2018). For x → −∞, e^−x overflows to ∞
/// and the quotient is −0, not NaN.
template <class S>
S silu_value(S x) {
  return x / (S(1) + std::exp(-x));
}
/// σ(x)·(1 + x·(1 − σ(x))).
template <class S>
S silu_derivative(S x) {
  const S s = S(1) / (S(1) + std::exp(-x));
  return s * (S(1) + x * (S(1) - s));
}

template <class S>
S activation_value(Activation a, S x) {
  switch (a) {
    case Activation::relu:
      return relu_value(x);
    case Activation::gelu_erf:
      return gelu_erf_value(x);
    case Activation::gelu_tanh:
      return gelu_tanh_value(x);
    case Activation::silu:
      return silu_value(x);
  }
  return x;
}

/// g·f'(x). ReLU passes g through or gives +0 (never −0 or NaN from 0·g).
template <class S>
S activation_backward(Activation a, S x, S g) {
  switch (a) {
    case Activation::relu:
      return x > S(0) ? g : S(0);
    case Activation::gelu_erf:
      return g * gelu_erf_derivative(x);
    case Activation::gelu_tanh:
      return g * gelu_tanh_derivative(x);
    case Activation::silu:
      return g * silu_derivative(x);
  }
  return g;
}

// ---- activations over arrays (x and y may alias; dx may alias dy) -----------------------------

template <class S>
void activate(Activation a, const S* x, S* y, Index n) {
  for (Index i = 0; i < n; ++i) y[i] = activation_value(a, x[i]);
}
template <class S>
void activate_backward(Activation a, const S* x, const S* dy, S* dx, Index n) {
  for (Index i = 0; i < n; ++i) dx[i] = activation_backward(a, x[i], dy[i]);
}

template <class S>
void relu(const S* x, S* y, Index n) {
  activate(Activation::relu, x, y, n);
}
template <class S>
void relu_backward(const S* x, const S* dy, S* dx, Index n) {
  activate_backward(Activation::relu, x, dy, dx, n);
}
template <class S>
void gelu_erf(const S* x, S* y, Index n) {
  activate(Activation::gelu_erf, x, y, n);
}
template <class S>
void gelu_erf_backward(const S* x, const S* dy, S* dx, Index n) {
  activate_backward(Activation::gelu_erf, x, dy, dx, n);
}
template <class S>
void gelu_tanh(const S* x, S* y, Index n) {
  activate(Activation::gelu_tanh, x, y, n);
}
template <class S>
void gelu_tanh_backward(const S* x, const S* dy, S* dx, Index n) {
  activate_backward(Activation::gelu_tanh, x, dy, dx, n);
}
template <class S>
void silu(const S* x, S* y, Index n) {
  activate(Activation::silu, x, y, n);
}
template <class S>
void silu_backward(const S* x, const S* dy, S* dx, Index n) {
  activate_backward(Activation::silu, x, dy, dx, n);
}

/// Gated linear unit (Shazeer 2020, "GLU variants improve Transformer"): y = f(gate)·up.
template <class S>
void glu(Activation a, const S* gate, const S* up, S* y, Index n) {
  for (Index i = 0; i < n; ++i) y[i] = activation_value(a, gate[i]) * up[i];
}

/// Backward of glu: d_up = dy·f(gate), d_gate = dy·up·f'(gate).
template <class S>
void glu_backward(Activation a, const S* gate, const S* up, const S* dy, S* d_gate, S* d_up,
                  Index n) {
  for (Index i = 0; i < n; ++i) {
    const S g = gate[i], u = up[i], d = dy[i];
    d_up[i] = d * activation_value(a, g);
    d_gate[i] = activation_backward(a, g, d * u);
  }
}

}  // namespace moerb::kernels::reference
