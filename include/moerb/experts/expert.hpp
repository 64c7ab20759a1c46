#pragma once
// The moerb::Expert concept: a feed-forward block that maps a contiguous block of tokens.
#include <concepts>

#include "moerb/core/context.hpp"
#include "moerb/core/parameter.hpp"

namespace moerb {

/// An expert (also the dense FFN's building block).
///
/// - `forward(in, out, ctx)`: `in` is `n × input_dim()`, `out` is a preallocated
///   `n × output_dim()` block; keeps what backward needs (hidden activations, dropout mask).
/// - `backward(in, d_out, d_in)`: for the same `in` as the last forward, *overwrites* `d_in`
///   (`n × input_dim()`) with ∂L/∂in and accumulates parameter gradients (unless frozen).
/// - `flops_per_token()`: multiply-adds × 2 of one forward, for throughput reports.
template <class X>
concept Expert = requires(X& expert, const X& cexpert, MatrixCRef<typename X::Scalar> in,
                          MatrixRef<typename X::Scalar> out, const ForwardContext& ctx, Rng& rng,
                          detail::ParameterVisitorArchetype<typename X::Scalar> visitor) {
  typename X::Scalar;
  typename X::Options;
  requires FloatingScalar<typename X::Scalar>;
  { cexpert.input_dim() } -> std::convertible_to<Index>;
  { cexpert.output_dim() } -> std::convertible_to<Index>;
  { cexpert.hidden_dim() } -> std::convertible_to<Index>;
  { cexpert.flops_per_token() } -> std::convertible_to<double>;
  expert.initialize(rng);
  expert.forward(in, out, ctx);
  expert.backward(in, in, out);
  expert.visit_parameters(visitor, std::string_view{});
};

}  // namespace moerb
