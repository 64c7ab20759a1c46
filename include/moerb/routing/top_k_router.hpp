#pragma once
// Token-choice top-k softmax gating as one driver, `TopKRouterType<Scalar, Convention>`, with the
// way combine weights are formed as a policy:
//
// - `SoftmaxThenTopK` (GShard, Lepikhin et al. 2021; Switch, Fedus et al. 2021): p = softmax over
//   all experts, keep the k largest, weight = p of the chosen expert, optionally renormalised over
//   the k chosen (`renormalize`, GShard's top-2 convention).
// - `TopKThenSoftmax` (Mixtral, Jiang et al. 2024): keep the k largest logits, weight = softmax
//   over those k logits only. (Mathematically equal to SoftmaxThenTopK with renormalisation; the
//   two are computed as their papers write them.)
// - `SwitchTop1` (Switch Transformer): SoftmaxThenTopK with k = 1, no renormalisation, and
//   separate train/eval capacity factors (defaults 1.25 / 2.0).
//
// Aliases: TopKRouter<S>, MixtralRouter<S>, SwitchRouter<S>.
//
// Per forward: logits = (x ⊙ J)·W / τ (Switch jitter J only in training, see
// detail::LinearGate), probs = softmax(logits), selection = top-k of the logits (ties -> lower
// expert index), weights by the convention, then expert capacity (GShard priority: all first
// choices before second choices, tokens in order). A choice dropped by capacity gets no expert
// output (the token passes through the residual for that choice); the kept choices keep the
// weights computed before capacity. The Switch load-balancing loss (on probs and the choices
// before capacity) and the ST-MoE z-loss (on the logits after jitter and temperature) are computed
// on every forward, and backward includes their weighted gradients.
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/kernels/softmax.hpp"
#include "moerb/kernels/topk.hpp"
#include "moerb/routing/detail/aux_losses.hpp"
#include "moerb/routing/detail/linear_gate.hpp"
#include "moerb/routing/detail/token_choice.hpp"
#include "moerb/routing/detail/token_choice_common.hpp"
#include "moerb/routing/router.hpp"
#include "moerb/routing/routing.hpp"

namespace moerb {

template <class Convention>
struct TopKRouterOptions;

/// GShard / Switch convention: softmax over all experts, then top-k; weights are the chosen
/// probabilities, renormalised over the k chosen when `renormalize` is set.
struct SoftmaxThenTopK {
  static constexpr std::string_view name = "TopKRouter";
  static constexpr Index default_k = 2;
  static constexpr bool default_renormalize = true;
  static constexpr std::optional<double> default_capacity_factor = std::nullopt;
  static constexpr std::optional<double> default_eval_capacity_factor = std::nullopt;

  template <class Options>
  static void validate(const Options&) {}

  /// w[j] for the k chosen experts `sel` of one token (rows of logits/probs have n_experts).
  template <class S>
  static void combine(const S* /*logits*/, const S* probs, const Index* sel, Index k,
                      bool renormalize, S* w) {
    S sum = 0;
    for (Index j = 0; j < k; ++j) {
      w[j] = probs[sel[j]];
      sum += w[j];
    }
    if (renormalize) {
      // sum >= the largest probability >= 1/num_experts, so this never divides by ~0.
      const S inv = S(1) / sum;
      for (Index j = 0; j < k; ++j) w[j] *= inv;
    }
  }

  /// Given dw = ∂L/∂w (k), adds ∂L/∂probs to d_probs and ∂L/∂logits (through paths that bypass
  /// the full softmax) to d_logits; both rows have n_experts entries.
  template <class S>
  static void combine_backward(const S* probs, const Index* sel, const S* w, const S* dw, Index k,
                               bool renormalize, S* d_probs, S* /*d_logits*/) {
    if (!renormalize) {
      for (Index j = 0; j < k; ++j) d_probs[sel[j]] += dw[j];
      return;
    }
    // w_j = p_j / Σ p  =>  ∂L/∂p_i = (dw_i − ⟨dw, w⟩) / Σ p.
    S sum = 0, dot = 0;
    for (Index j = 0; j < k; ++j) {
      sum += probs[sel[j]];
      dot += dw[j] * w[j];
    }
    for (Index j = 0; j < k; ++j) d_probs[sel[j]] += (dw[j] - dot) / sum;
  }
};

/// Mixtral convention: top-k of the logits, then softmax over those k logits only.
/// `renormalize` has no effect (the weights already sum to 1).
struct TopKThenSoftmax {
  static constexpr std::string_view name = "MixtralRouter";
  static constexpr Index default_k = 2;
  static constexpr bool default_renormalize = false;
  static constexpr std::optional<double> default_capacity_factor = std::nullopt;
  static constexpr std::optional<double> default_eval_capacity_factor = std::nullopt;

  template <class Options>
  static void validate(const Options&) {}

  template <class S>
  static void combine(const S* logits, const S* /*probs*/, const Index* sel, Index k,
                      bool /*renormalize*/, S* w) {
    for (Index j = 0; j < k; ++j) w[j] = logits[sel[j]];
    kernels::softmax(w, w, k);
  }

  template <class S>
  static void combine_backward(const S* /*probs*/, const Index* sel, const S* w, const S* dw,
                               Index k, bool /*renormalize*/, S* /*d_probs*/, S* d_logits) {
    S dot = 0;
    for (Index j = 0; j < k; ++j) dot += dw[j] * w[j];
    for (Index j = 0; j < k; ++j) d_logits[sel[j]] += w[j] * (dw[j] - dot);
  }
};

/// Switch Transformer top-1 (Fedus et al. 2021, §2.1-2.2): weight = softmax probability of the
/// chosen expert (not renormalised), capacity factor 1.25 in training and 2.0 in evaluation.
/// Options.k must be 1 and renormalize false; `set_inference_k` may still evaluate at k > 1.
struct SwitchTop1 : SoftmaxThenTopK {
  static constexpr std::string_view name = "SwitchRouter";
  static constexpr Index default_k = 1;
  static constexpr bool default_renormalize = false;
  static constexpr std::optional<double> default_capacity_factor = 1.25;
  static constexpr std::optional<double> default_eval_capacity_factor = 2.0;

  template <class Options>
  static void validate(const Options& o) {
    MOERB_REQUIRE(o.k == 1, name, ": k = ", o.k,
            ", expected 1 (Switch routes each token to one expert; use TopKRouter for k > 1)");
    MOERB_REQUIRE(!o.renormalize, name,
            ": renormalize = true, expected false (a renormalised top-1 weight is the constant 1 "
            "and the router would get no gradient)");
  }
};

/// What TopKRouterType needs from a convention policy.
template <class C>
concept TopKConvention = requires(const double* cd, double* d, const float* cf, float* f,
                                  const Index* sel, Index k, bool renorm,
                                  const TopKRouterOptions<C>& options) {
  { C::name } -> std::convertible_to<std::string_view>;
  { C::default_k } -> std::convertible_to<Index>;
  { C::default_renormalize } -> std::convertible_to<bool>;
  { C::default_capacity_factor } -> std::convertible_to<std::optional<double>>;
  { C::default_eval_capacity_factor } -> std::convertible_to<std::optional<double>>;
  C::validate(options);
  C::combine(cd, cd, sel, k, renorm, d);
  C::combine(cf, cf, sel, k, renorm, f);
  C::combine_backward(cd, sel, cd, cd, k, renorm, d, d);
  C::combine_backward(cf, sel, cf, cf, k, renorm, f, f);
};

/// Options of TopKRouterType; defaults depend on the convention (shown for TopKRouter / Switch).
template <class Convention>
struct TopKRouterOptions {
  Index input_dim = 0;    ///< d_model (required)
  Index num_experts = 0;  ///< E (required)
  /// Experts per token in training (and in evaluation unless set_inference_k). 2 / Switch: 1.
  Index k = Convention::default_k;
  /// Renormalise the k chosen probabilities to sum to 1 (SoftmaxThenTopK). true / Switch: false.
  bool renormalize = Convention::default_renormalize;
  /// τ > 0: logits = x·W / τ.
  double temperature = 1.0;
  /// Switch multiplicative input jitter ε in [0, 1): x ⊙ U(1−ε, 1+ε) in training only. 0 = off.
  double jitter = 0.0;
  /// Training expert capacity ⌈cf·T·k/E⌉; unset = unlimited. unset / Switch: 1.25.
  std::optional<double> capacity_factor = Convention::default_capacity_factor;
  /// Evaluation (ctx.training == false) capacity factor; unset = unlimited (it does not fall back
  /// to capacity_factor). unset / Switch: 2.0.
  std::optional<double> eval_capacity_factor = Convention::default_eval_capacity_factor;
  /// Weight α of the Switch load-balancing loss in Routing::aux_loss (Switch/GShard use 1e-2).
  double load_balancing_weight = 0.01;
  /// Weight of the ST-MoE router z-loss in Routing::aux_loss (ST-MoE uses 1e-3). 0 = off.
  double z_loss_weight = 0.0;
};

/// Token-choice top-k softmax router; see the file comment. Satisfies moerb::Router and
/// moerb::InferenceKOverridable.
template <class Scalar_, class Convention>
class TopKRouterType {
  static_assert(FloatingScalar<Scalar_>, "TopKRouterType: Scalar must be float or double");
  static_assert(TopKConvention<Convention>,
                "TopKRouterType: Convention must provide name, default_k, default_renormalize, "
                "default_capacity_factor, default_eval_capacity_factor, validate(options), "
                "combine(...) and combine_backward(...) like SoftmaxThenTopK");

 public:
  using Scalar = Scalar_;
  using S = Scalar_;
  using Options = TopKRouterOptions<Convention>;
  static constexpr std::string_view name = Convention::name;

  explicit TopKRouterType(const Options& options)
      : options_(validated(options)),
        gate_(options.input_dim, options.num_experts),
        aux_(static_cast<S>(options.load_balancing_weight), static_cast<S>(options.z_loss_weight)),
        inference_k_(options.k) {}

  /// PyTorch nn.Linear-style gate init: W ~ U(−1/√input_dim, 1/√input_dim).
  void initialize(Rng& rng) { gate_.initialize(rng); }

  [[nodiscard]] Index input_dim() const { return options_.input_dim; }
  [[nodiscard]] Index num_experts() const { return options_.num_experts; }
  /// Whether evaluation routes each token by itself (TokenIndependentRouting): yes unless an
  /// evaluation capacity factor is set (capacity makes a token's fate depend on the others).
  [[nodiscard]] bool routes_tokens_independently() const {
    return !options_.eval_capacity_factor.has_value();
  }
  /// Training k.
  [[nodiscard]] Index k() const { return options_.k; }
  /// k used when ctx.training == false: the override if set, else k().
  [[nodiscard]] Index inference_k() const { return inference_k_.get(); }
  /// Overrides k for evaluation forwards only; must be in [1, num_experts].
  void set_inference_k(Index k) { inference_k_.set(k, num_experts(), name); }
  void reset_inference_k() { inference_k_.reset(); }
  [[nodiscard]] const Options& options() const { return options_; }

  /// Expert capacity a forward of `num_tokens` tokens would use in the given mode; -1 = unlimited.
  [[nodiscard]] Index capacity(Index num_tokens, bool training) const {
    return detail::capacity_or_unlimited(
        training ? options_.capacity_factor : options_.eval_capacity_factor, num_tokens,
        inference_k_.for_mode(training), num_experts());
  }

  /// The gate W (input_dim × num_experts), visited as "weight".
  Parameter<S>& weight() { return gate_.weight(); }
  const Parameter<S>& weight() const { return gate_.weight(); }

  /// The routing of the last forward.
  [[nodiscard]] const Routing<S>& routing() const { return routing_; }

  /// x: tokens × input_dim. Jitter (if any) draws from ctx.rng.split(rng_tag::router_jitter).
  const Routing<S>& forward(const Matrix<S>& x, const ForwardContext& ctx) {
    detail::require_router_input(x, input_dim(), name);
    require_finite(gate_.weight().value, name, "weight");
    const Index T = x.rows();
    const Index E = num_experts();
    const Index k = inference_k_.for_mode(ctx.training);
    Routing<S>& r = routing_;
    r.num_experts = E;

    gate_.forward(x, ctx, static_cast<S>(options_.jitter), static_cast<S>(options_.temperature),
                  r.logits);
    kernels::softmax_rows(r.logits, r.probs);
    kernels::topk_rows(r.logits, k, r.selected, top_values_);
    weights_.resize(T, k);
    for (Index t = 0; t < T; ++t) {
      Convention::combine(r.logits.row(t).data(), r.probs.row(t).data(), r.selected.row(t).data(),
                          k, options_.renormalize, weights_.row(t).data());
    }
    detail::build_token_choice(r, weights_, capacity(T, ctx.training), choice_counts_, scratch_);
    aux_.forward(r, choice_counts_);
    has_forward_ = true;
    return r;
  }

  /// Adds ∂L/∂x to dx and ∂L/∂W to weight().grad (unless frozen), where L is the loss whose
  /// gradient w.r.t. routing().weight is d_weight plus the weighted auxiliary losses.
  void backward(const Matrix<S>& x, std::span<const S> d_weight, Matrix<S>& dx) {
    const Routing<S>& r = routing_;
    detail::require_router_backward_args(has_forward_, r, input_dim(), x, d_weight, dx, name);
    const Index T = r.num_tokens;
    const Index E = r.num_experts;
    const Index k = r.k;
    d_probs_.setZero(T, E);
    d_logits_.setZero(T, E);
    aux_.add_probs_grad(r, choice_counts_, d_probs_);
    detail::selection_weight_grad(r, d_weight, d_selected_);
    for (Index t = 0; t < T; ++t) {
      S* dp = d_probs_.row(t).data();
      S* dl = d_logits_.row(t).data();
      Convention::combine_backward(r.probs.row(t).data(), r.selected.row(t).data(),
                                   weights_.row(t).data(), d_selected_.row(t).data(), k,
                                   options_.renormalize, dp, dl);
      detail::softmax_backward(r.probs.row(t).data(), dp, dp, E);
      for (Index e = 0; e < E; ++e) dl[e] += dp[e];
    }
    aux_.add_logits_grad(r, d_logits_);
    gate_.backward(x, d_logits_, dx);
  }

  /// For d_logits = ∂L/∂(routing().logits) (tokens × experts) of the last forward: adds ∂L/∂x to
  /// dx and ∂L/∂W to the gate's grad (unless frozen), through the gate alone (no combine-weight
  /// or auxiliary-loss terms; see RouterLogitsDifferentiable).
  void backward_logits(const Matrix<S>& x, const Matrix<S>& d_logits, Matrix<S>& dx) {
    detail::require_router_logits_backward_args(has_forward_, routing_, input_dim(), x, d_logits,
                                                dx, name);
    gate_.backward(x, d_logits, dx);
  }

  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    gate_.visit(std::forward<Visitor>(visitor), prefix, "weight");
  }

 private:
  static const Options& validated(const Options& o) {
    detail::require_router_dims(o.input_dim, o.num_experts, name);
    detail::require_k(o.k, o.num_experts, name, "k");
    detail::require_positive_finite(o.temperature, name, "temperature");
    require_rate(o.jitter, name, "jitter");
    detail::require_capacity_factor(o.capacity_factor, name, "capacity_factor");
    detail::require_capacity_factor(o.eval_capacity_factor, name, "eval_capacity_factor");
    detail::require_nonnegative_finite(o.load_balancing_weight, name, "load_balancing_weight");
    detail::require_nonnegative_finite(o.z_loss_weight, name, "z_loss_weight");
    Convention::validate(o);
    return o;
  }

  Options options_;
  detail::LinearGate<S> gate_;
  detail::SwitchAuxLosses<S> aux_;
  detail::InferenceK inference_k_;
  Routing<S> routing_;
  bool has_forward_ = false;
  // Workspaces (reused across calls; same-size resizes do not allocate).
  Matrix<S> weights_;     // tokens × k, combine weights before capacity
  Matrix<S> top_values_;  // tokens × k
  Matrix<S> d_selected_, d_probs_, d_logits_;
  std::vector<Index> choice_counts_, scratch_;
};

/// GShard-style top-k: softmax over all experts, top-k, optional renormalisation.
template <class Scalar>
using TopKRouter = TopKRouterType<Scalar, SoftmaxThenTopK>;
/// Mixtral-style top-k: softmax over the k selected logits.
template <class Scalar>
using MixtralRouter = TopKRouterType<Scalar, TopKThenSoftmax>;
/// Switch Transformer top-1 router with train/eval capacity factors 1.25 / 2.0.
template <class Scalar>
using SwitchRouter = TopKRouterType<Scalar, SwitchTop1>;

static_assert(Router<TopKRouter<float>> && Router<TopKRouter<double>>,
              "TopKRouter must satisfy moerb::Router");
static_assert(Router<MixtralRouter<float>> && Router<MixtralRouter<double>>,
              "MixtralRouter must satisfy moerb::Router");
static_assert(Router<SwitchRouter<float>> && Router<SwitchRouter<double>>,
              "SwitchRouter must satisfy moerb::Router");
static_assert(InferenceKOverridable<TopKRouter<float>> &&
                  InferenceKOverridable<MixtralRouter<double>> &&
                  InferenceKOverridable<SwitchRouter<double>>,
              "the top-k routers must support an inference-time k");

static_assert(RouterLogitsDifferentiable<TopKRouter<float>> &&
                  RouterLogitsDifferentiable<MixtralRouter<double>> &&
                  RouterLogitsDifferentiable<SwitchRouter<double>>,
              "the top-k routers must pass a router-logits gradient back (backward_logits)");

}  // namespace moerb
