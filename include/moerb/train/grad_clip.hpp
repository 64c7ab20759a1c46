#pragma once
// Gradient-norm utilities: the global L2 norm, clipping by it (Pascanu, Mikolov & Bengio, "On the
// difficulty of training recurrent neural networks", ICML 2013; scaling as
// torch.nn.utils.clip_grad_norm_) and uniform scaling (averaging accumulated gradients).
//
// All of them act on the non-frozen parameters of any model exposing
// `visit_parameters(visitor, prefix)`; frozen parameters are neither counted nor scaled.
#include <cmath>
#include <string_view>

#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/types.hpp"
#include "moerb/train/detail/optimizer_state.hpp"

namespace moerb {

/// sqrt(Σ g²) over every gradient entry of every non-frozen parameter.
///
/// The squares are accumulated in double in one fixed order (visiting order, then row-major), one
/// scalar addition at a time, so the result is bit-identical across runs and builds. Returns NaN or
/// +Inf when a gradient holds one (or when the sum overflows); clip_grad_norm turns that into an
/// error.
template <class Model>
double global_grad_norm(Model& model) {
  double sum_sq = 0.0;
  model.visit_parameters(
      [&](std::string_view, auto& p) {
        if (p.frozen) return;
        const auto* g = p.grad.data();
        for (Index i = 0; i < p.grad.size(); ++i) {
          const double v = static_cast<double>(g[i]);
          sum_sq += v * v;
        }
      },
      std::string_view{});
  return std::sqrt(sum_sq);
}

/// Multiplies every non-frozen gradient by `factor` (finite), e.g. 1/k after accumulating k
/// micro-batches.
template <class Model>
void scale_grads(Model& model, double factor) {
  MOERB_REQUIRE(std::isfinite(factor), "scale_grads: factor = ", factor, ", expected a finite value");
  model.visit_parameters(
      [&](std::string_view, auto& p) {
        if (p.frozen) return;
        using S = detail::parameter_scalar_t<decltype(p)>;
        p.grad *= static_cast<S>(factor);
      },
      std::string_view{});
}

/// Clips the global gradient norm to `max_norm` (> 0; +Inf disables clipping) and returns the norm
/// before clipping.
///
/// As torch.nn.utils.clip_grad_norm_: with n = global_grad_norm(model), every non-frozen gradient
/// is multiplied by min(1, max_norm / (n + 1e-6)). A non-finite norm throws moerb::error naming the
/// first parameter (in visiting order) whose gradient is not finite, and leaves gradients
/// unchanged.
template <class Model>
double clip_grad_norm(Model& model, double max_norm) {
  constexpr std::string_view where = "clip_grad_norm";
  MOERB_REQUIRE(max_norm > 0.0, where, ": max_norm = ", max_norm, ", expected > 0");
  const double norm = global_grad_norm(model);
  if (!std::isfinite(norm)) {
    // Throws at the first parameter with a non-finite entry, naming it and the entry.
    model.visit_parameters(
        [&](std::string_view name, auto& p) {
          if (p.frozen) return;
          for (Index r = 0; r < p.grad.rows(); ++r) {
            for (Index c = 0; c < p.grad.cols(); ++c) {
              if (!std::isfinite(p.grad(r, c))) {
                throw error(detail::concat(where, ": gradient norm is ", norm, "; gradient of '",
                                           name, "' at (", r, ", ", c, ") is ", p.grad(r, c)));
              }
            }
          }
        },
        std::string_view{});
    throw error(detail::concat(where, ": gradient norm overflowed (", norm,
                               ") although every gradient entry is finite"));
  }
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0) {
    model.visit_parameters(
        [&](std::string_view, auto& p) {
          if (p.frozen) return;
          using S = detail::parameter_scalar_t<decltype(p)>;
          p.grad *= static_cast<S>(coef);
        },
        std::string_view{});
  }
  return norm;
}

}  // namespace moerb
