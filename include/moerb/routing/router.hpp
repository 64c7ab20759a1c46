#pragma once
// The moerb::Router concept: the contract every gating policy satisfies.
#include <concepts>
#include <span>

#include "moerb/core/context.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/routing/routing.hpp"

namespace moerb {

/// A gating policy.
///
/// - `forward(x, ctx)`: x is `tokens × input_dim()`; returns the Routing for this batch and keeps
///   what its backward needs (the routing, noise draws, jitter) until the next forward.
/// - `backward(x, d_weight, dx)`: `d_weight[a]` is ∂L/∂(routing.weight[a]) for every kept
///   assignment, in Routing order; adds ∂L/∂x to `dx` (`tokens × input_dim()`), adds the gradients
///   of its own parameters (unless frozen), and includes the gradients of its auxiliary losses
///   (load balancing, z-loss) scaled by the weights it was configured with.
/// - `visit_parameters(visitor, prefix)`: the uniform parameter interface.
template <class R>
concept Router = requires(R& router, const R& crouter, const Matrix<typename R::Scalar>& x,
                          const ForwardContext& ctx, std::span<const typename R::Scalar> d_weight,
                          Matrix<typename R::Scalar>& dx,
                          detail::ParameterVisitorArchetype<typename R::Scalar> visitor) {
  typename R::Scalar;
  requires FloatingScalar<typename R::Scalar>;
  { crouter.num_experts() } -> std::convertible_to<Index>;
  { crouter.input_dim() } -> std::convertible_to<Index>;
  { router.forward(x, ctx) } -> std::same_as<const Routing<typename R::Scalar>&>;
  { router.backward(x, d_weight, dx) } -> std::same_as<void>;
  router.visit_parameters(visitor, std::string_view{});
};

/// A router that passes a gradient with respect to its logits back to its input — what losses
/// defined on the routing itself need (the router attack of moerb/attacks/router_attack.hpp).
///
/// - `backward_logits(x, d_logits, dx)`: `d_logits` is ∂L/∂(routing.logits) (`tokens × experts`)
///   for the x and routing of the last forward; adds ∂L/∂x to `dx` (`tokens × input_dim()`) and
///   the gradients of the gate's parameters (unless frozen). Only this path: the combine weights
///   and the auxiliary losses are backward()'s.
///
/// The routers with a linear gate (moerb/routing/detail/linear_gate.hpp) model it: TopKRouter,
/// MixtralRouter, SwitchRouter, NoisyTopKRouter, ExpertChoiceRouter, BiasBalancedRouter and
/// BalancedRouter. HashRouter and RandomRouter have no logits.
template <class R>
concept RouterLogitsDifferentiable = Router<R> &&
    requires(R& router, const Matrix<typename R::Scalar>& x,
             const Matrix<typename R::Scalar>& d_logits, Matrix<typename R::Scalar>& dx) {
  { router.backward_logits(x, d_logits, dx) } -> std::same_as<void>;
};

/// A router that says whether, in evaluation, each token's routing depends on that token alone
/// (its row of x and its id), not on the other tokens of the forward: no evaluation capacity, no
/// assignment across tokens, no random draw. A token routed on its own (incremental decoding with
/// a key-value cache, DecoderLM::generate) then goes where it would go in any batch.
template <class R>
concept TokenIndependentRouting = Router<R> && requires(const R& router) {
  { router.routes_tokens_independently() } -> std::convertible_to<bool>;
};

/// A router whose number of experts per token can be changed at inference time (the study
/// evaluates models trained with k = 2 at k = 1 or k = 4).
template <class R>
concept InferenceKOverridable = Router<R> && requires(R& router, Index k) {
  router.set_inference_k(k);
  { router.inference_k() } -> std::convertible_to<Index>;
};

}  // namespace moerb
