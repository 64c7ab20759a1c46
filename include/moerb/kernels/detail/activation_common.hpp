#pragma once
// The Activation enum and the constants of the activation formulas, shared by the scalar reference
// (moerb/kernels/reference/scalar.hpp) and the xsimd kernels (moerb/kernels/activation.hpp) so that
// both round the same constants. Users include moerb/kernels/activation.hpp, which re-exports the
// enum.
#include <numbers>
#include <string_view>

namespace moerb {

enum class Activation { relu, gelu_erf, gelu_tanh, silu };

[[nodiscard]] constexpr std::string_view to_string(Activation a) {
  switch (a) {
    case Activation::relu:
      return "relu";
    case Activation::gelu_erf:
      return "gelu";
    case Activation::gelu_tanh:
      return "gelu_tanh";
    case Activation::silu:
      return "silu";
  }
  return "?";
}

namespace kernels::detail {

/// Constants rounded once from double to S.
template <class S>
struct ActivationConstants {
  /// 1/√2, for Φ(x) = erfc(−x/√2)/2.
  static constexpr S inv_sqrt2 = static_cast<S>(1.0 / std::numbers::sqrt2);
  /// 1/√(2π), the standard normal density at 0.
  static constexpr S inv_sqrt_2pi = static_cast<S>(std::numbers::inv_sqrtpi / std::numbers::sqrt2);
  /// GELU-tanh writes x/2·(1 + tanh(u)) with u = √(2/π)·(x + 0.044715·x³); since
  /// (1 + tanh(u))/2 = σ(2u) the kernels evaluate x·σ(z) with z = 2u = z_scale·(x + cubic·x³).
  static constexpr S gelu_tanh_z_scale =
      static_cast<S>(2.0 * std::numbers::sqrt2 * std::numbers::inv_sqrtpi);
  static constexpr S gelu_tanh_cubic = static_cast<S>(0.044715);
};

}  // namespace kernels::detail
}  // namespace moerb
