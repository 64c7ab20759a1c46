#pragma once
// Argument checks shared by the expert-choice, hash and balanced (BASE) routers.
#include <cmath>
#include <cstddef>
#include <span>
#include <string_view>

#include "moerb/core/error.hpp"
#include "moerb/routing/routing.hpp"

namespace moerb::detail {

/// Checks the arguments of `Router::backward` against the routing of the last forward: x and dx
/// are `tokens × input_dim`, d_weight has one finite entry per kept assignment.
template <class S>
void require_router_backward_args(bool has_forward, const Routing<S>& routing, Index input_dim,
                                  const Matrix<S>& x, std::span<const S> d_weight,
                                  const Matrix<S>& dx, std::string_view where) {
  MOERB_REQUIRE(has_forward, where, ": called before forward");
  require_shape(x, routing.num_tokens, input_dim, where, "x");
  require_shape(dx, routing.num_tokens, input_dim, where, "dx");
  MOERB_REQUIRE(d_weight.size() == routing.token.size(), where, ": d_weight has ", d_weight.size(),
          " entries, expected ", routing.token.size(), " (one per kept assignment)");
  for (std::size_t a = 0; a < d_weight.size(); ++a) {
    MOERB_REQUIRE(std::isfinite(d_weight[a]), where, ": d_weight[", a, "] is ", d_weight[a],
            ", expected a finite value");
  }
}

/// Checks the arguments of `Router::backward_logits` (RouterLogitsDifferentiable) against the
/// routing of the last forward: x and dx are `tokens × input_dim`, d_logits is `tokens × experts`
/// and finite. `router` names the router, e.g. "TopKRouter".
template <class S>
void require_router_logits_backward_args(bool has_forward, const Routing<S>& routing,
                                         Index input_dim, const Matrix<S>& x,
                                         const Matrix<S>& d_logits, const Matrix<S>& dx,
                                         std::string_view router) {
  // The checks name "<router>::backward_logits"; the name is built only when one fails.
  MOERB_REQUIRE(has_forward, router, "::backward_logits: called before forward");
  const auto shape = [&](const Matrix<S>& m, Index rows, Index cols, std::string_view what) {
    MOERB_REQUIRE(m.rows() == rows && m.cols() == cols, router, "::backward_logits: ", what,
                  " has shape ", m.rows(), "×", m.cols(), ", expected ", rows, "×", cols);
  };
  shape(x, routing.num_tokens, input_dim, "x");
  shape(dx, routing.num_tokens, input_dim, "dx");
  shape(d_logits, routing.num_tokens, routing.num_experts, "d_logits");
  if (!d_logits.allFinite()) {
    require_finite(d_logits, detail::concat(router, "::backward_logits"), "d_logits");
  }
}

/// Checks a router's Options fields shared by the gated routers.
inline void require_router_dims(Index input_dim, Index num_experts, std::string_view where) {
  MOERB_REQUIRE(input_dim > 0, where, ": input_dim = ", input_dim, ", expected > 0");
  MOERB_REQUIRE(num_experts > 0, where, ": num_experts = ", num_experts, ", expected > 0");
}

}  // namespace moerb::detail
