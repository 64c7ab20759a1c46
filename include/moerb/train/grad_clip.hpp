#pragma once
// Gradient-norm utilities: the global L2 norm, clipping by it (Pascanu, Mikolov & Bengio, "On the
// difficulty of training recurrent neural networks", ICML 2013; scaling as
// torch.nn.utils.clip_grad_norm_) and uniform scaling (averaging accumulated gradients).
//
// All of them act on the non-frozen parameters of any model exposing
// `visit_parameters(visitor, prefix)`; frozen parameters are neither counted nor scaled.
#include <algorithm>
#include <cmath>
#include <string_view>
#include <type_traits>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/types.hpp"
#include "moerb/train/detail/optimizer_state.hpp"

namespace moerb {

namespace detail {

/// Entries per chunk of global_grad_norm (a constant, so the summation order does not depend on
/// the thread count).
inline constexpr Index grad_norm_chunk = Index{1} << 14;
/// Interleaved accumulators per chunk: independent additions that keep the FP adder busy instead
/// of one chain of dependent additions (about 4 cycles each).
inline constexpr int grad_norm_lanes = 8;

/// Σ g[i]² in double over n entries: entry i goes to accumulator i mod grad_norm_lanes, in
/// increasing i; the accumulators are then added in lane order.
template <class S>
double sum_of_squares(const S* g, Index n) {
  double lane[grad_norm_lanes] = {};
  Index i = 0;
  for (; i + grad_norm_lanes <= n; i += grad_norm_lanes) {
    for (int l = 0; l < grad_norm_lanes; ++l) {
      const double v = static_cast<double>(g[i + l]);
      lane[l] += v * v;
    }
  }
  for (int l = 0; i < n; ++i, ++l) {
    const double v = static_cast<double>(g[i]);
    lane[l] += v * v;
  }
  double sum = 0.0;
  for (int l = 0; l < grad_norm_lanes; ++l) sum += lane[l];
  return sum;
}

}  // namespace detail

/// sqrt(Σ g²) over every gradient entry of every non-frozen parameter.
///
/// The squares are accumulated in double in a fixed order: each gradient (in visiting order,
/// row-major) is cut into chunks of detail::grad_norm_chunk entries, each chunk is summed by
/// detail::sum_of_squares (8 interleaved accumulators), the chunks on OpenMP threads, and the chunk
/// sums are added in order. The operations do not depend on the thread count, so the result is
/// bit-identical across runs and thread counts. Returns NaN or +Inf when a gradient holds one (or
/// when the sum overflows); clip_grad_norm turns that into an error.
template <class Model>
double global_grad_norm(Model& model) {
  struct Chunk {
    const float* f = nullptr;
    const double* d = nullptr;
    Index n = 0;
  };
  std::vector<Chunk> chunks;
  model.visit_parameters(
      [&](std::string_view, auto& p) {
        if (p.frozen) return;
        using S = detail::parameter_scalar_t<decltype(p)>;
        static_assert(std::is_same_v<S, float> || std::is_same_v<S, double>,
                      "global_grad_norm: parameters must be float or double");
        const S* g = p.grad.data();
        for (Index begin = 0; begin < p.grad.size(); begin += detail::grad_norm_chunk) {
          Chunk c;
          c.n = std::min(detail::grad_norm_chunk, p.grad.size() - begin);
          if constexpr (std::is_same_v<S, float>) {
            c.f = g + begin;
          } else {
            c.d = g + begin;
          }
          chunks.push_back(c);
        }
      },
      std::string_view{});
  const auto count = static_cast<Index>(chunks.size());
  std::vector<double> sums(chunks.size());
#pragma omp parallel for schedule(static) if (count > 1)
  for (Index c = 0; c < count; ++c) {
    const Chunk& chunk = chunks[static_cast<std::size_t>(c)];
    sums[static_cast<std::size_t>(c)] = chunk.f != nullptr
                                            ? detail::sum_of_squares(chunk.f, chunk.n)
                                            : detail::sum_of_squares(chunk.d, chunk.n);
  }
  double sum_sq = 0.0;
  for (const double v : sums) sum_sq += v;
  return std::sqrt(sum_sq);
}

/// Multiplies every non-frozen gradient by `factor` (finite), e.g. 1/k after accumulating k
/// micro-batches.
template <class Model>
void scale_grads(Model& model, double factor) {
  MOERB_REQUIRE(std::isfinite(factor), "scale_grads: factor = ", factor,
                ", expected a finite value");
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
