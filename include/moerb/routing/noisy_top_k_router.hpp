#pragma once
// Noisy top-k gating (Shazeer et al. 2017, "Outrageously Large Neural Networks", eqs. 3-5):
//
//   H(x)_i = (x·W_g)_i + ε_i · softplus((x·W_noise)_i)      ε_i ~ N(0, 1), training only
//   G(x)   = softmax(KeepTopK(H(x), k))                       (others set to −∞)
//
// so a token's k weights are the softmax over its k kept entries of H. In evaluation H is the
// clean logits x·W_g. Gradients flow to W_g, W_noise and x (through the noise term, for the fixed
// draw ε) by the usual chain rule; KeepTopK itself is piecewise constant. With k = 1 the single
// weight is softmax of one entry = 1, so the gate then learns only through auxiliary losses (the
// paper uses k > 1 for this reason).
//
// Noise: ε is drawn as a `tokens × experts` matrix in row-major order (token 0's experts first)
// with Rng::normal() from ctx.rng.split(rng_tag::router), so it is reproducible for a given
// ctx.rng. `set_noise_override(eps)` replaces the draw by a given `tokens × experts` matrix of
// standard-normal values (e.g. torch.randn saved to a golden file); it applies to training
// forwards only and stays until `clear_noise_override()`.
//
// Balancing losses: the paper's importance and load losses (its eqs. 6-10) are not implemented;
// instead the Switch load-balancing loss and the ST-MoE z-loss are offered, computed on the clean
// logits x·W_g and their softmax (Routing::logits and Routing::probs hold those), with the
// choices (top-k of H, before capacity) as the Switch loss's f. The noisy scores H of the last
// forward are available from gate_scores().
//
// `noise_epsilon` adds a floor to the noise scale (softplus(·) + noise_epsilon), as the paper's
// reference code does with 1e-2; the equations have 0, the default here.
#include <algorithm>
#include <cmath>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/kernels/softmax.hpp"
#include "moerb/kernels/topk.hpp"
#include "moerb/routing/detail/linear_gate.hpp"
#include "moerb/routing/detail/token_choice.hpp"
#include "moerb/routing/detail/token_choice_common.hpp"
#include "moerb/routing/router.hpp"
#include "moerb/routing/routing.hpp"

namespace moerb {

template <class Scalar_>
class NoisyTopKRouter {
  static_assert(FloatingScalar<Scalar_>, "NoisyTopKRouter: Scalar must be float or double");

 public:
  using Scalar = Scalar_;
  using S = Scalar_;
  static constexpr std::string_view name = "NoisyTopKRouter";

  struct Options {
    Index input_dim = 0;    ///< d_model (required)
    Index num_experts = 0;  ///< E (required)
    Index k = 2;            ///< experts per token in training (and evaluation unless overridden)
    /// Floor added to the noise scale: softplus(x·W_noise) + noise_epsilon (>= 0).
    double noise_epsilon = 0.0;
    /// Training expert capacity ⌈cf·T·k/E⌉; unset = unlimited.
    std::optional<double> capacity_factor = std::nullopt;
    /// Evaluation capacity factor; unset = unlimited (independent of capacity_factor).
    std::optional<double> eval_capacity_factor = std::nullopt;
    /// Weight of the Switch load-balancing loss (on softmax of the clean logits) in aux_loss.
    double load_balancing_weight = 0.01;
    /// Weight of the ST-MoE z-loss (on the clean logits) in aux_loss. 0 = off.
    double z_loss_weight = 0.0;
    /// Initialise W_g and W_noise to zero as the paper does (§A), instead of nn.Linear-style.
    bool zero_init = false;
  };

  explicit NoisyTopKRouter(const Options& options)
      : options_(validated(options)),
        gate_(options.input_dim, options.num_experts),
        noise_gate_(options.input_dim, options.num_experts),
        aux_(static_cast<S>(options.load_balancing_weight), static_cast<S>(options.z_loss_weight)),
        inference_k_(options.k) {}

  /// nn.Linear-style U(−1/√input_dim, 1/√input_dim) for W_g then W_noise, or zeros if zero_init.
  void initialize(Rng& rng) {
    if (options_.zero_init) {
      gate_.weight().value.setZero();
      noise_gate_.weight().value.setZero();
      return;
    }
    gate_.initialize(rng);
    noise_gate_.initialize(rng);
  }

  [[nodiscard]] Index input_dim() const { return options_.input_dim; }
  [[nodiscard]] Index num_experts() const { return options_.num_experts; }
  /// Whether evaluation routes each token by itself (TokenIndependentRouting): yes unless an
  /// evaluation capacity factor is set (capacity makes a token's fate depend on the others).
  [[nodiscard]] bool routes_tokens_independently() const {
    return !options_.eval_capacity_factor.has_value();
  }
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

  /// W_g (input_dim × num_experts), visited as "weight".
  Parameter<S>& weight() { return gate_.weight(); }
  const Parameter<S>& weight() const { return gate_.weight(); }
  /// W_noise (input_dim × num_experts), visited as "noise_weight".
  Parameter<S>& noise_weight() { return noise_gate_.weight(); }
  const Parameter<S>& noise_weight() const { return noise_gate_.weight(); }

  /// Uses `standard_normal` (tokens × experts) as ε in every training forward until cleared;
  /// forward checks its shape against the batch.
  void set_noise_override(const Matrix<S>& standard_normal) {
    MOERB_REQUIRE(standard_normal.cols() == num_experts(), name, ": noise override has ",
            standard_normal.cols(), " columns, expected num_experts = ", num_experts());
    require_finite(standard_normal, name, "noise override");
    noise_override_ = standard_normal;
  }
  void clear_noise_override() { noise_override_.reset(); }
  [[nodiscard]] bool has_noise_override() const { return noise_override_.has_value(); }

  /// ε of the last forward (tokens × experts; empty after an evaluation forward).
  [[nodiscard]] const Matrix<S>& noise() const { return noise_; }
  /// H of the last forward (tokens × experts): the scores KeepTopK selected from.
  [[nodiscard]] const Matrix<S>& gate_scores() const { return scores_; }
  [[nodiscard]] const Routing<S>& routing() const { return routing_; }

  const Routing<S>& forward(const Matrix<S>& x, const ForwardContext& ctx) {
    detail::require_router_input(x, input_dim(), name);
    require_finite(gate_.weight().value, name, "weight");
    const Index T = x.rows();
    const Index E = num_experts();
    const Index k = inference_k_.for_mode(ctx.training);
    Routing<S>& r = routing_;
    r.num_experts = E;

    gate_.forward(x, ctx, S(0), S(1), r.logits);  // clean logits x·W_g (no jitter)
    kernels::softmax_rows(r.logits, r.probs);
    noisy_ = ctx.training;
    if (noisy_) {
      require_finite(noise_gate_.weight().value, name, "noise_weight");
      noise_gate_.forward(x, ctx, S(0), S(1), noise_logits_);
      if (noise_override_) {
        require_shape(*noise_override_, T, E, name, "noise override");
        noise_ = *noise_override_;
      } else {
        Rng rng = ctx.rng.split(rng_tag::router);
        noise_.resize(T, E);
        for (Index i = 0; i < noise_.size(); ++i) noise_.data()[i] = static_cast<S>(rng.normal());
      }
      const S floor = static_cast<S>(options_.noise_epsilon);
      scores_.resize(T, E);
      for (Index i = 0; i < scores_.size(); ++i) {
        scores_.data()[i] =
            r.logits.data()[i] + noise_.data()[i] * (softplus(noise_logits_.data()[i]) + floor);
      }
    } else {
      noise_.resize(0, E);
      scores_ = r.logits;
    }
    kernels::topk_rows(scores_, k, r.selected, weights_);
    for (Index t = 0; t < T; ++t)
      kernels::softmax(weights_.row(t).data(), weights_.row(t).data(), k);
    detail::build_token_choice(r, weights_, capacity(T, ctx.training), choice_counts_, scratch_);
    aux_.forward(r, choice_counts_);
    has_forward_ = true;
    return r;
  }

  /// Adds ∂L/∂x to dx and ∂L/∂W_g, ∂L/∂W_noise (unless frozen; W_noise only after a training
  /// forward) to the parameters' grads, including the weighted auxiliary losses.
  void backward(const Matrix<S>& x, std::span<const S> d_weight, Matrix<S>& dx) {
    const Routing<S>& r = routing_;
    detail::require_router_backward_args(has_forward_, r, input_dim(), x, d_weight, dx, name);
    const Index T = r.num_tokens;
    const Index E = r.num_experts;
    const Index k = r.k;
    detail::selection_weight_grad(r, d_weight, d_selected_);
    // ∂L/∂H: softmax over the kept entries of H.
    d_scores_.setZero(T, E);
    for (Index t = 0; t < T; ++t) {
      const S* w = weights_.row(t).data();
      const S* dw = d_selected_.row(t).data();
      const Index* sel = r.selected.row(t).data();
      S dot = 0;
      for (Index j = 0; j < k; ++j) dot += dw[j] * w[j];
      for (Index j = 0; j < k; ++j) d_scores_(t, sel[j]) += w[j] * (dw[j] - dot);
    }
    // ∂L/∂(clean logits) = ∂L/∂H + the auxiliary losses' gradients.
    d_probs_.setZero(T, E);
    aux_.add_probs_grad(r, choice_counts_, d_probs_);
    d_logits_ = d_scores_;
    for (Index t = 0; t < T; ++t) {
      S* dp = d_probs_.row(t).data();
      detail::softmax_backward(r.probs.row(t).data(), dp, dp, E);
    }
    d_logits_ += d_probs_;
    aux_.add_logits_grad(r, d_logits_);
    gate_.backward(x, d_logits_, dx);
    if (noisy_) {
      // H = clean + ε·(softplus(z) + floor), z = x·W_noise  =>  ∂L/∂z = ∂L/∂H · ε · σ(z).
      d_noise_logits_.resize(T, E);
      for (Index i = 0; i < d_noise_logits_.size(); ++i) {
        d_noise_logits_.data()[i] =
            d_scores_.data()[i] * noise_.data()[i] * sigmoid(noise_logits_.data()[i]);
      }
      noise_gate_.backward(x, d_noise_logits_, dx);
    }
  }

  /// For d_logits = ∂L/∂(routing().logits) (tokens × experts) of the last forward: adds ∂L/∂x to
  /// dx and ∂L/∂W to the gate's grad (unless frozen), through the clean gate W_g alone (no
  /// combine-weight or auxiliary-loss terms; see RouterLogitsDifferentiable).
  void backward_logits(const Matrix<S>& x, const Matrix<S>& d_logits, Matrix<S>& dx) {
    detail::require_router_logits_backward_args(has_forward_, routing_, input_dim(), x, d_logits,
                                                dx, name);
    gate_.backward(x, d_logits, dx);
  }

  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    gate_.visit(visitor, prefix, "weight");
    noise_gate_.visit(visitor, prefix, "noise_weight");
  }

 private:
  static const Options& validated(const Options& o) {
    detail::require_router_dims(o.input_dim, o.num_experts, name);
    detail::require_k(o.k, o.num_experts, name, "k");
    detail::require_nonnegative_finite(o.noise_epsilon, name, "noise_epsilon");
    detail::require_capacity_factor(o.capacity_factor, name, "capacity_factor");
    detail::require_capacity_factor(o.eval_capacity_factor, name, "eval_capacity_factor");
    detail::require_nonnegative_finite(o.load_balancing_weight, name, "load_balancing_weight");
    detail::require_nonnegative_finite(o.z_loss_weight, name, "z_loss_weight");
    return o;
  }

  // log(1 + e^z) without overflow for large z or loss of precision for very negative z.
  static S softplus(S z) { return std::max(z, S(0)) + std::log1p(std::exp(-std::abs(z))); }
  static S sigmoid(S z) {
    if (z >= S(0)) return S(1) / (S(1) + std::exp(-z));
    const S e = std::exp(z);
    return e / (S(1) + e);
  }

  Options options_;
  detail::LinearGate<S> gate_, noise_gate_;
  detail::SwitchAuxLosses<S> aux_;
  detail::InferenceK inference_k_;
  std::optional<Matrix<S>> noise_override_;
  Routing<S> routing_;
  bool has_forward_ = false;
  bool noisy_ = false;
  Matrix<S> noise_logits_, noise_, scores_;  // tokens × experts
  Matrix<S> weights_;                        // tokens × k: top-k of H, then softmax in place
  Matrix<S> d_selected_, d_scores_, d_probs_, d_logits_, d_noise_logits_;
  std::vector<Index> choice_counts_, scratch_;
};

static_assert(Router<NoisyTopKRouter<float>> && Router<NoisyTopKRouter<double>>,
              "NoisyTopKRouter must satisfy moerb::Router");
static_assert(InferenceKOverridable<NoisyTopKRouter<double>>,
              "NoisyTopKRouter must support an inference-time k");

static_assert(RouterLogitsDifferentiable<NoisyTopKRouter<float>> &&
                  RouterLogitsDifferentiable<NoisyTopKRouter<double>>,
              "NoisyTopKRouter must pass a router-logits gradient back (backward_logits)");

}  // namespace moerb
