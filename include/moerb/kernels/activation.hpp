#pragma once
// Elementwise activations (ReLU, GELU erf/tanh, SiLU), their backward and the gated (GLU) forms,
// dispatched on a runtime enum so that expert types can choose their activation by configuration.
//
// The kernels run on xsimd batches (moerb/kernels/detail/simd.hpp) and evaluate the formulas of
// the scalar reference (moerb/kernels/reference/scalar.hpp): GELU-erf as x·erfc(−x/√2)/2 and
// GELU-tanh and SiLU as x/(1 + e^−z), forms without cancellation in the left tail. Results stay
// within 8 ulp (relative) of the reference, up to (32 + x²) ulp for GELU-erf and (8 + 4|z|) ulp
// for GELU-tanh far in the left tail, where exp amplifies the rounding of its argument
// (tests/kernels/test_activation.cpp). Finite inputs of any size give finite outputs (e.g.
// silu(−1e4) = −0, gelu(1e4) = 1e4, derivatives 0 and 1); NaN and ±inf inputs are not supported.
//
// Aliasing: an output may be the same pointer as an input (in-place), but must not overlap it
// partially; the two outputs of glu_backward must be distinct.
#include "moerb/core/types.hpp"
#include "moerb/kernels/detail/activation_common.hpp"
#include "moerb/kernels/detail/activation_simd.hpp"
#include "moerb/kernels/detail/simd.hpp"
#include "moerb/kernels/reference/scalar.hpp"

namespace moerb::kernels {

/// y = f(x), elementwise over n values (x and y may alias).
template <class S>
void activate(Activation a, const S* x, S* y, Index n) {
  static_assert(FloatingScalar<S>, "moerb::kernels::activate: S must be float or double");
#if MOERB_KERNELS_SIMD
  if constexpr (detail::simd_enabled<S>) {
    detail::with_activation_op(a, [&](auto op) { detail::apply_value<decltype(op)>(x, y, n); });
    return;
  }
#endif
  reference::activate(a, x, y, n);
}

/// dx = dy · f'(x), elementwise (dx may alias dy or x).
template <class S>
void activate_backward(Activation a, const S* x, const S* dy, S* dx, Index n) {
  static_assert(FloatingScalar<S>, "moerb::kernels::activate_backward: S must be float or double");
#if MOERB_KERNELS_SIMD
  if constexpr (detail::simd_enabled<S>) {
    detail::with_activation_op(
        a, [&](auto op) { detail::apply_backward<decltype(op)>(x, dy, dx, n); });
    return;
  }
#endif
  reference::activate_backward(a, x, dy, dx, n);
}

/// Gated linear unit (Shazeer 2020, "GLU variants improve Transformer"): y = f(gate)·up,
/// elementwise over n values (SwiGLU is silu, GEGLU gelu). y may alias gate or up.
template <class S>
void glu(Activation a, const S* gate, const S* up, S* y, Index n) {
  static_assert(FloatingScalar<S>, "moerb::kernels::glu: S must be float or double");
#if MOERB_KERNELS_SIMD
  if constexpr (detail::simd_enabled<S>) {
    detail::with_activation_op(a,
                               [&](auto op) { detail::apply_glu<decltype(op)>(gate, up, y, n); });
    return;
  }
#endif
  reference::glu(a, gate, up, y, n);
}

/// Backward of glu: d_gate = dy·up·f'(gate) and d_up = dy·f(gate). Outputs are written, not
/// accumulated; each may alias an input, d_gate and d_up must differ.
template <class S>
void glu_backward(Activation a, const S* gate, const S* up, const S* dy, S* d_gate, S* d_up,
                  Index n) {
  static_assert(FloatingScalar<S>, "moerb::kernels::glu_backward: S must be float or double");
#if MOERB_KERNELS_SIMD
  if constexpr (detail::simd_enabled<S>) {
    detail::with_activation_op(a, [&](auto op) {
      detail::apply_glu_backward<decltype(op)>(gate, up, dy, d_gate, d_up, n);
    });
    return;
  }
#endif
  reference::glu_backward(a, gate, up, dy, d_gate, d_up, n);
}

}  // namespace moerb::kernels
