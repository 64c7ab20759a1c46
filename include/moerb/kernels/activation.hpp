#pragma once
// Elementwise activations (ReLU, GELU erf/tanh, SiLU) and their backward, dispatched on a runtime
// enum so that expert types can choose their activation by configuration.
//
// TODO(kernels): xsimd implementations; these currently forward to the scalar reference.
#include <string_view>

#include "moerb/core/error.hpp"
#include "moerb/kernels/reference/scalar.hpp"

namespace moerb {

enum class Activation { relu, gelu_erf, gelu_tanh, silu };

[[nodiscard]] constexpr std::string_view to_string(Activation a) {
  switch (a) {
    case Activation::relu: return "relu";
    case Activation::gelu_erf: return "gelu";
    case Activation::gelu_tanh: return "gelu_tanh";
    case Activation::silu: return "silu";
  }
  return "?";
}

namespace kernels {

/// y = f(x), elementwise over n values (x and y may alias).
template <class S>
void activate(Activation a, const S* x, S* y, Index n) {
  switch (a) {
    case Activation::relu: return reference::relu(x, y, n);
    case Activation::gelu_erf: return reference::gelu_erf(x, y, n);
    case Activation::gelu_tanh: return reference::gelu_tanh(x, y, n);
    case Activation::silu: return reference::silu(x, y, n);
  }
}

/// dx = dy · f'(x), elementwise (dx may alias dy).
template <class S>
void activate_backward(Activation a, const S* x, const S* dy, S* dx, Index n) {
  switch (a) {
    case Activation::relu: return reference::relu_backward(x, dy, dx, n);
    case Activation::gelu_erf: return reference::gelu_erf_backward(x, dy, dx, n);
    case Activation::gelu_tanh: return reference::gelu_tanh_backward(x, dy, dx, n);
    case Activation::silu: return reference::silu_backward(x, dy, dx, n);
  }
}

}  // namespace kernels
}  // namespace moerb
