#pragma once
// xsimd bodies of the activations: one policy struct per activation with
//   value(x)              f(x)
//   backward(x, g)        g·f'(x)
//   value_backward(x, g)  both, sharing the exponential (for GLU backward)
// and the loops that apply them to arrays in full batches (see simd.hpp for the padded tail).
// The formulas are those of moerb/kernels/reference/scalar.hpp, written for batches.
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "moerb/core/types.hpp"
#include "moerb/kernels/detail/activation_common.hpp"
#include "moerb/kernels/detail/simd.hpp"

#if MOERB_KERNELS_SIMD

namespace moerb::kernels::detail {

struct ReluOp {
  template <class B>
  static B value(const B& x) {
    using S = typename B::value_type;
    return xsimd::select(x > B(S(0)), x, B(S(0)));
  }
  template <class B>
  static B backward(const B& x, const B& g) {
    using S = typename B::value_type;
    return xsimd::select(x > B(S(0)), g, B(S(0)));
  }
  template <class B>
  static std::pair<B, B> value_backward(const B& x, const B& g) {
    return {value(x), backward(x, g)};
  }
};

/// erfc on a batch. xsimd 8.1's double erfc loses accuracy for |z| > 2 (measured against erfcl:
/// ~1.8e4 ulp at 2, ~1e6 ulp at 13, ~3e7 ulp at 26; 2 − that error for z < −2, and NaN for
/// |z| ~ 1e308), so for double those lanes, GELU inputs |x| > 2√2 (under 0.5% of N(0, 1)
/// pre-activations), are recomputed with std::erfc. Float erfc is within ~2z² ulp (the rounding
/// of z² inside exp(−z²)) and finite everywhere, and is used as is.
template <class B>
B erfc_batch(const B& z) {
  using S = typename B::value_type;
  B r = erfc_batch_raw(z);
  if constexpr (std::is_same_v<S, double>) {
    const auto tail = xsimd::abs(z) > B(S(2));
    if (xsimd::any(tail)) {
      alignas(64) S zs[B::size], rs[B::size];
      z.store_unaligned(zs);
      r.store_unaligned(rs);
      for (std::size_t l = 0; l < B::size; ++l) {
        if (std::abs(zs[l]) > S(2)) rs[l] = std::erfc(zs[l]);
      }
      r = B::load_unaligned(rs);
    }
  }
  return r;
}

struct GeluErfOp {
  // Φ(x) = erfc(−x/√2)/2 and x·φ(x).
  template <class B>
  static B cdf(const B& x) {
    using S = typename B::value_type;
    return B(S(0.5)) * erfc_batch(x * B(-ActivationConstants<S>::inv_sqrt2));
  }
  template <class B>
  static B x_pdf(const B& x) {
    using S = typename B::value_type;
    return x * (B(ActivationConstants<S>::inv_sqrt_2pi) * exp_batch(B(S(-0.5)) * x * x));
  }
  template <class B>
  static B value(const B& x) {
    return x * cdf(x);
  }
  template <class B>
  static B backward(const B& x, const B& g) {
    return g * (cdf(x) + x_pdf(x));
  }
  template <class B>
  static std::pair<B, B> value_backward(const B& x, const B& g) {
    const B c = cdf(x);
    return {x * c, g * (c + x_pdf(x))};
  }
};

struct GeluTanhOp {
  template <class B>
  static B z(const B& x) {
    using C = ActivationConstants<typename B::value_type>;
    return B(C::gelu_tanh_z_scale) * (x + B(C::gelu_tanh_cubic) * x * x * x);
  }
  template <class B>
  static B sigmoid_z(const B& x) {
    using S = typename B::value_type;
    return B(S(1)) / (B(S(1)) + exp_batch(-z(x)));
  }
  // f'(x) = s + x·s(1 − s)·z'; the second term is forced to 0 where s(1 − s) = 0 (huge |x|, z' =
  // ∞).
  template <class B>
  static B derivative(const B& x, const B& s) {
    using S = typename B::value_type;
    using C = ActivationConstants<S>;
    const B dz = B(C::gelu_tanh_z_scale) * (B(S(1)) + B(S(3) * C::gelu_tanh_cubic) * x * x);
    const B g = s * (B(S(1)) - s);
    return s + xsimd::select(g == B(S(0)), B(S(0)), g * x * dz);
  }
  template <class B>
  static B value(const B& x) {
    using S = typename B::value_type;
    return x / (B(S(1)) + exp_batch(-z(x)));
  }
  template <class B>
  static B backward(const B& x, const B& g) {
    return g * derivative(x, sigmoid_z(x));
  }
  template <class B>
  static std::pair<B, B> value_backward(const B& x, const B& g) {
    using S = typename B::value_type;
    const B den = B(S(1)) + exp_batch(-z(x));  // f = x/den exactly as in value()
    return {x / den, g * derivative(x, B(S(1)) / den)};
  }
};

struct SiluOp {
  template <class B>
  static B sigmoid(const B& x) {
    using S = typename B::value_type;
    return B(S(1)) / (B(S(1)) + exp_batch(-x));
  }
  template <class B>
  static B derivative(const B& x, const B& s) {
    using S = typename B::value_type;
    return s * (B(S(1)) + x * (B(S(1)) - s));
  }
  template <class B>
  static B value(const B& x) {
    using S = typename B::value_type;
    return x / (B(S(1)) + exp_batch(-x));
  }
  template <class B>
  static B backward(const B& x, const B& g) {
    return g * derivative(x, sigmoid(x));
  }
  template <class B>
  static std::pair<B, B> value_backward(const B& x, const B& g) {
    using S = typename B::value_type;
    const B den = B(S(1)) + exp_batch(-x);  // f = x/den exactly as in value()
    return {x / den, g * derivative(x, B(S(1)) / den)};
  }
};

/// Calls f(op) with the policy struct of activation a.
template <class F>
decltype(auto) with_activation_op(Activation a, F&& f) {
  switch (a) {
    case Activation::relu:
      return f(ReluOp{});
    case Activation::gelu_erf:
      return f(GeluErfOp{});
    case Activation::gelu_tanh:
      return f(GeluTanhOp{});
    case Activation::silu:
      return f(SiluOp{});
  }
  return f(ReluOp{});
}

// ---- array loops; each output may alias an input exactly (all loads of a block come first) ----

template <class Op, class S>
void apply_value(const S* x, S* y, Index n) {
  using B = batch<S>;
  constexpr Index W = simd_width<S>;
  Index i = 0;
  for (; i + W <= n; i += W) Op::value(B::load_unaligned(x + i)).store_unaligned(y + i);
  if (i < n) store_partial(y + i, Op::value(load_partial(x + i, n - i, S(0))), n - i);
}

template <class Op, class S>
void apply_backward(const S* x, const S* dy, S* dx, Index n) {
  using B = batch<S>;
  constexpr Index W = simd_width<S>;
  Index i = 0;
  for (; i + W <= n; i += W) {
    Op::backward(B::load_unaligned(x + i), B::load_unaligned(dy + i)).store_unaligned(dx + i);
  }
  if (i < n) {
    const Index r = n - i;
    store_partial(dx + i, Op::backward(load_partial(x + i, r, S(0)), load_partial(dy + i, r, S(0))),
                  r);
  }
}

template <class Op, class S>
void apply_glu(const S* gate, const S* up, S* y, Index n) {
  using B = batch<S>;
  constexpr Index W = simd_width<S>;
  Index i = 0;
  for (; i + W <= n; i += W) {
    (Op::value(B::load_unaligned(gate + i)) * B::load_unaligned(up + i)).store_unaligned(y + i);
  }
  if (i < n) {
    const Index r = n - i;
    store_partial(y + i, Op::value(load_partial(gate + i, r, S(0))) * load_partial(up + i, r, S(0)),
                  r);
  }
}

template <class Op, class S>
void apply_glu_backward(const S* gate, const S* up, const S* dy, S* d_gate, S* d_up, Index n) {
  using B = batch<S>;
  constexpr Index W = simd_width<S>;
  Index i = 0;
  for (; i + W <= n; i += W) {
    const B d = B::load_unaligned(dy + i);
    const auto [f, gf] =
        Op::value_backward(B::load_unaligned(gate + i), d * B::load_unaligned(up + i));
    (d * f).store_unaligned(d_up + i);
    gf.store_unaligned(d_gate + i);
  }
  if (i < n) {
    const Index r = n - i;
    const B d = load_partial(dy + i, r, S(0));
    const auto [f, gf] =
        Op::value_backward(load_partial(gate + i, r, S(0)), d * load_partial(up + i, r, S(0)));
    store_partial(d_up + i, d * f, r);
    store_partial(d_gate + i, gf, r);
  }
}

}  // namespace moerb::kernels::detail

#endif  // MOERB_KERNELS_SIMD
