#pragma once
// The random-gate baseline of the MoE-RBench study: every token goes to k distinct experts drawn
// uniformly without replacement, each with weight 1/k, ignoring the token's content.
//
// Determinism: the draw comes from ctx.rng.split(rng_tag::router) in training and in evaluation
// alike, so a forward is a pure function of ctx.rng and the batch size (use a different ctx.rng
// per step for fresh routings). Token t's experts are the first k entries of a partial
// Fisher-Yates shuffle of 0..E-1 (continued from token t-1's permutation); slot j is the j-th draw.
//
// The router has no parameters (visit_parameters visits nothing) and its weights do not depend on
// x, so backward adds nothing to dx. Routing::logits are zeros and Routing::probs the uniform
// 1/E; there are no auxiliary losses. Capacity is honoured when a capacity factor is set.
#include <cstdint>
#include <numeric>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/routing/detail/token_choice.hpp"
#include "moerb/routing/detail/token_choice_common.hpp"
#include "moerb/routing/router.hpp"
#include "moerb/routing/routing.hpp"

namespace moerb {

template <class Scalar_>
class RandomRouter {
  static_assert(FloatingScalar<Scalar_>, "RandomRouter: Scalar must be float or double");

 public:
  using Scalar = Scalar_;
  using S = Scalar_;
  static constexpr std::string_view name = "RandomRouter";

  struct Options {
    Index input_dim = 0;    ///< d_model (required; x is checked against it)
    Index num_experts = 0;  ///< E (required)
    Index k = 2;            ///< experts per token (training, and evaluation unless overridden)
    /// Training expert capacity ⌈cf·T·k/E⌉; unset = unlimited.
    std::optional<double> capacity_factor = std::nullopt;
    /// Evaluation capacity factor; unset = unlimited (independent of capacity_factor).
    std::optional<double> eval_capacity_factor = std::nullopt;
  };

  explicit RandomRouter(const Options& options)
      : options_(validated(options)), inference_k_(options.k) {}

  /// No parameters: nothing to initialise (kept for the uniform layer interface).
  void initialize(Rng& /*rng*/) {}

  [[nodiscard]] Index input_dim() const { return options_.input_dim; }
  [[nodiscard]] Index num_experts() const { return options_.num_experts; }
  /// TokenIndependentRouting: no; the draw for a row depends on the forward it is in.
  [[nodiscard]] bool routes_tokens_independently() const { return false; }
  [[nodiscard]] Index k() const { return options_.k; }
  [[nodiscard]] Index inference_k() const { return inference_k_.get(); }
  void set_inference_k(Index k) { inference_k_.set(k, num_experts(), name); }
  void reset_inference_k() { inference_k_.reset(); }
  [[nodiscard]] const Options& options() const { return options_; }

  /// Expert capacity a forward of `num_tokens` tokens would use in the given mode; -1 = unlimited.
  [[nodiscard]] Index capacity(Index num_tokens, bool training) const {
    return detail::capacity_or_unlimited(
        training ? options_.capacity_factor : options_.eval_capacity_factor, num_tokens,
        inference_k_.for_mode(training), num_experts());
  }

  [[nodiscard]] const Routing<S>& routing() const { return routing_; }

  const Routing<S>& forward(const Matrix<S>& x, const ForwardContext& ctx) {
    detail::require_router_input(x, input_dim(), name);
    const Index T = x.rows();
    const Index E = num_experts();
    const Index k = inference_k_.for_mode(ctx.training);
    Routing<S>& r = routing_;
    r.num_experts = E;
    r.logits.setZero(T, E);
    r.probs.setConstant(T, E, S(1) / static_cast<S>(E));
    r.selected.resize(T, k);
    weights_.setConstant(T, k, S(1) / static_cast<S>(k));

    Rng rng = ctx.rng.split(rng_tag::router);
    permutation_.resize(static_cast<std::size_t>(E));
    std::iota(permutation_.begin(), permutation_.end(), Index{0});
    for (Index t = 0; t < T; ++t) {
      for (Index j = 0; j < k; ++j) {
        const auto pick =
            static_cast<std::size_t>(j) + rng.uniform_index(static_cast<std::uint64_t>(E - j));
        std::swap(permutation_[static_cast<std::size_t>(j)], permutation_[pick]);
        r.selected(t, j) = permutation_[static_cast<std::size_t>(j)];
      }
    }
    detail::build_token_choice(r, weights_, capacity(T, ctx.training), choice_counts_, scratch_);
    r.load_balancing_loss = 0;
    r.z_loss = 0;
    r.aux_loss = 0;
    has_forward_ = true;
    return r;
  }

  /// Checks its arguments and adds nothing: the weights do not depend on x.
  void backward(const Matrix<S>& x, std::span<const S> d_weight, Matrix<S>& dx) {
    detail::require_router_backward_args(has_forward_, routing_, input_dim(), x, d_weight, dx,
                                         name);
  }

  /// Visits nothing: the random router has no parameters.
  template <class Visitor>
  void visit_parameters(Visitor&& /*visitor*/, std::string_view /*prefix*/) {}

 private:
  static const Options& validated(const Options& o) {
    detail::require_router_dims(o.input_dim, o.num_experts, name);
    detail::require_k(o.k, o.num_experts, name, "k");
    detail::require_capacity_factor(o.capacity_factor, name, "capacity_factor");
    detail::require_capacity_factor(o.eval_capacity_factor, name, "eval_capacity_factor");
    return o;
  }

  Options options_;
  detail::InferenceK inference_k_;
  Routing<S> routing_;
  bool has_forward_ = false;
  Matrix<S> weights_;  // tokens × k, all 1/k
  std::vector<Index> permutation_, choice_counts_, scratch_;
};

static_assert(Router<RandomRouter<float>> && Router<RandomRouter<double>>,
              "RandomRouter must satisfy moerb::Router");
static_assert(InferenceKOverridable<RandomRouter<double>>,
              "RandomRouter must support an inference-time k");

}  // namespace moerb
