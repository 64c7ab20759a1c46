#pragma once
// DeepSeek-V3 auxiliary-loss-free load balancing (DeepSeek-AI 2024, "DeepSeek-V3 Technical
// Report", §2.1.2, eqs. 12-16):
//
//   s_{t,i} = sigmoid(x_t · W_i)                        affinities (Routing::probs)
//   selected = TopK_i(s_{t,i} + b_i, k)                 the bias b steers selection only
//   g_{t,i} = c · s_{t,i} / Σ_{j selected} s_{t,j}      for the selected i (c: routed scaling)
//
// The per-expert bias b is not a trained parameter: after each training step `update_bias()`
// moves b_i by +γ if expert i received fewer choices than the mean over the training forwards
// since the last update, and by −γ if it received more (unchanged when exactly at the mean). The
// selection is not differentiable, so b gets no gradient; W and x get the gradient of g through s.
// With k = 1 and normalisation on, g = c whatever s is, so the router gets no gradient at all.
//
// Checkpoints: b is a buffer, not a Parameter. It is *not* visited by visit_parameters (an
// optimizer, weight decay, set_frozen(…, false) or parameter_count must never see it); it is
// visited by `visit_buffers(visitor, prefix)` as "<prefix>.bias", a 1 × num_experts matrix, with
// `visitor(std::string_view name, Matrix<Scalar>& buffer)`. Save/load code should visit both.
//
// Not implemented: the complementary sequence-wise balance loss (eq. 17-20; its weight α is tiny
// in the paper), node-limited routing (§2.1.2, "node-limited routing") and the auxiliary losses
// of the softmax routers; Routing::load_balancing_loss, z_loss and aux_loss are 0.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/kernels/topk.hpp"
#include "moerb/routing/detail/linear_gate.hpp"
#include "moerb/routing/detail/token_choice.hpp"
#include "moerb/routing/detail/token_choice_common.hpp"
#include "moerb/routing/router.hpp"
#include "moerb/routing/routing.hpp"

namespace moerb {

template <class Scalar_>
class BiasBalancedRouter {
  static_assert(FloatingScalar<Scalar_>, "BiasBalancedRouter: Scalar must be float or double");

 public:
  using Scalar = Scalar_;
  using S = Scalar_;
  static constexpr std::string_view name = "BiasBalancedRouter";
  /// Added to Σ s_selected before dividing, so that affinities that all underflow to 0 give
  /// weights 0 instead of NaN (as in the public DeepSeek-V3 ports).
  static constexpr S normalization_floor = S(1e-20);

  struct Options {
    Index input_dim = 0;    ///< d_model (required)
    Index num_experts = 0;  ///< E (required)
    Index k = 2;            ///< experts per token (DeepSeek-V3: 8 of 256)
    /// Normalise the selected affinities to sum to 1 before scaling (DeepSeek-V3: yes).
    bool normalize = true;
    /// c > 0, multiplies the combine weights (DeepSeek-V3: 2.5).
    double routed_scaling_factor = 1.0;
    /// γ used by update_bias() (DeepSeek-V3: 0.001 for most of pre-training).
    double bias_update_rate = 0.001;
    /// Training expert capacity ⌈cf·T·k/E⌉; unset = unlimited (DeepSeek-V3 drops no tokens).
    std::optional<double> capacity_factor = std::nullopt;
    /// Evaluation capacity factor; unset = unlimited (independent of capacity_factor).
    std::optional<double> eval_capacity_factor = std::nullopt;
  };

  explicit BiasBalancedRouter(const Options& options)
      : options_(validated(options)),
        gate_(options.input_dim, options.num_experts),
        inference_k_(options.k),
        bias_(Matrix<S>::Zero(1, options.num_experts)),
        pending_load_(static_cast<std::size_t>(options.num_experts), 0) {}

  /// nn.Linear-style gate init U(−1/√input_dim, 1/√input_dim); the bias is left unchanged.
  void initialize(Rng& rng) { gate_.initialize(rng); }

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

  /// The gate W (input_dim × num_experts), visited as "weight".
  Parameter<S>& weight() { return gate_.weight(); }
  const Parameter<S>& weight() const { return gate_.weight(); }

  /// The selection bias b (1 × num_experts).
  [[nodiscard]] const Matrix<S>& bias() const { return bias_; }
  /// Sets b from any vector-shaped Eigen expression with num_experts finite entries.
  template <class Derived>
  void set_bias(const Eigen::DenseBase<Derived>& b) {
    MOERB_REQUIRE((b.rows() == 1 || b.cols() == 1) && b.size() == num_experts(), name,
            ": bias has shape ", b.rows(), "×", b.cols(),
            ", expected a vector of num_experts = ", num_experts(), " entries");
    require_finite(b, name, "bias");
    for (Index i = 0; i < num_experts(); ++i) bias_(0, i) = static_cast<S>(b.derived().coeff(i));
  }

  /// Choices (before capacity) each expert received over the training forwards since the last
  /// update_bias() — the load that the next update reads.
  [[nodiscard]] std::span<const Index> pending_load() const { return pending_load_; }
  /// Number of training forwards since the last update_bias().
  [[nodiscard]] Index pending_forwards() const { return pending_forwards_; }

  /// b_i += γ·sign(mean load − load_i) over the training forwards since the last update, then
  /// starts a new count. Call once per optimizer step (after it). Requires such a forward.
  void update_bias(S gamma) {
    MOERB_REQUIRE(std::isfinite(gamma) && gamma >= S(0), name, ": gamma = ", gamma,
            ", expected a finite value >= 0");
    MOERB_REQUIRE(pending_forwards_ > 0, name,
            ": update_bias called with no training forward since the last update (the load it "
            "balances is counted in training forwards only)");
    const Index E = num_experts();
    Index total = 0;
    for (Index load : pending_load_) total += load;
    // Compare load_i with total/E exactly in integers: load_i·E vs total.
    for (Index i = 0; i < E; ++i) {
      const Index scaled = pending_load_[static_cast<std::size_t>(i)] * E;
      if (scaled < total) bias_(0, i) += gamma;
      if (scaled > total) bias_(0, i) -= gamma;
    }
    std::fill(pending_load_.begin(), pending_load_.end(), Index{0});
    pending_forwards_ = 0;
  }
  /// update_bias with γ = Options::bias_update_rate.
  void update_bias() { update_bias(static_cast<S>(options_.bias_update_rate)); }

  [[nodiscard]] const Routing<S>& routing() const { return routing_; }

  const Routing<S>& forward(const Matrix<S>& x, const ForwardContext& ctx) {
    detail::require_router_input(x, input_dim(), name);
    require_finite(gate_.weight().value, name, "weight");
    require_finite(bias_, name, "bias");
    const Index T = x.rows();
    const Index E = num_experts();
    const Index k = inference_k_.for_mode(ctx.training);
    Routing<S>& r = routing_;
    r.num_experts = E;

    gate_.forward(x, ctx, S(0), S(1), r.logits);
    r.probs.resize(T, E);
    for (Index i = 0; i < r.probs.size(); ++i) r.probs.data()[i] = sigmoid(r.logits.data()[i]);
    biased_.resize(T, E);
    biased_.noalias() = r.probs + bias_.replicate(T, 1);
    kernels::topk_rows(biased_, k, r.selected, weights_);
    const S c = static_cast<S>(options_.routed_scaling_factor);
    for (Index t = 0; t < T; ++t) {
      S sum = 0;
      for (Index j = 0; j < k; ++j) {
        weights_(t, j) = r.probs(t, r.selected(t, j));
        sum += weights_(t, j);
      }
      // c·(s/D) rather than s·(c/D): a normalised single choice gets exactly c.
      const S denom = options_.normalize ? sum + normalization_floor : S(1);
      for (Index j = 0; j < k; ++j) weights_(t, j) = c * (weights_(t, j) / denom);
    }
    detail::build_token_choice(r, weights_, capacity(T, ctx.training), choice_counts_, scratch_);
    r.load_balancing_loss = 0;
    r.z_loss = 0;
    r.aux_loss = 0;
    if (ctx.training) {
      for (Index i = 0; i < E; ++i) {
        pending_load_[static_cast<std::size_t>(i)] += choice_counts_[static_cast<std::size_t>(i)];
      }
      ++pending_forwards_;
    }
    has_forward_ = true;
    return r;
  }

  /// Adds ∂L/∂x to dx and ∂L/∂W to weight().grad (unless frozen). The bias gets no gradient.
  void backward(const Matrix<S>& x, std::span<const S> d_weight, Matrix<S>& dx) {
    const Routing<S>& r = routing_;
    detail::require_router_backward_args(has_forward_, r, input_dim(), x, d_weight, dx, name);
    const Index T = r.num_tokens;
    const Index E = r.num_experts;
    const Index k = r.k;
    const S c = static_cast<S>(options_.routed_scaling_factor);
    detail::selection_weight_grad(r, d_weight, d_selected_);
    d_logits_.setZero(T, E);
    for (Index t = 0; t < T; ++t) {
      const Index* sel = r.selected.row(t).data();
      const S* dg = d_selected_.row(t).data();
      // g_j = c·s_j / D with D = Σ s + floor  =>  ∂L/∂s_i = (c/D)·(dg_i − Σ_j dg_j·s_j / D).
      S scale = c;
      S dot = 0;
      if (options_.normalize) {
        S sum = 0;
        for (Index j = 0; j < k; ++j) sum += r.probs(t, sel[j]);
        const S denom = sum + normalization_floor;
        for (Index j = 0; j < k; ++j) dot += dg[j] * r.probs(t, sel[j]) / denom;
        scale = c / denom;
      }
      for (Index j = 0; j < k; ++j) {
        const S s = r.probs(t, sel[j]);
        d_logits_(t, sel[j]) += scale * (dg[j] - dot) * s * (S(1) - s);
      }
    }
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

  /// Visits the non-trained state: "bias" (1 × num_experts) as `visitor(name, Matrix<S>&)`.
  template <class Visitor>
  void visit_buffers(Visitor&& visitor, std::string_view prefix) {
    const std::string full = join_name(prefix, "bias");
    visitor(std::string_view(full), bias_);
  }

 private:
  static const Options& validated(const Options& o) {
    detail::require_router_dims(o.input_dim, o.num_experts, name);
    detail::require_k(o.k, o.num_experts, name, "k");
    detail::require_positive_finite(o.routed_scaling_factor, name, "routed_scaling_factor");
    detail::require_nonnegative_finite(o.bias_update_rate, name, "bias_update_rate");
    detail::require_capacity_factor(o.capacity_factor, name, "capacity_factor");
    detail::require_capacity_factor(o.eval_capacity_factor, name, "eval_capacity_factor");
    return o;
  }

  static S sigmoid(S z) {
    if (z >= S(0)) return S(1) / (S(1) + std::exp(-z));
    const S e = std::exp(z);
    return e / (S(1) + e);
  }

  Options options_;
  detail::LinearGate<S> gate_;
  detail::InferenceK inference_k_;
  Matrix<S> bias_;  // 1 × num_experts
  std::vector<Index> pending_load_;
  Index pending_forwards_ = 0;
  Routing<S> routing_;
  bool has_forward_ = false;
  Matrix<S> biased_;   // tokens × experts: s + b
  Matrix<S> weights_;  // tokens × k
  Matrix<S> d_selected_, d_logits_;
  std::vector<Index> choice_counts_, scratch_;
};

static_assert(Router<BiasBalancedRouter<float>> && Router<BiasBalancedRouter<double>>,
              "BiasBalancedRouter must satisfy moerb::Router");
static_assert(InferenceKOverridable<BiasBalancedRouter<double>>,
              "BiasBalancedRouter must support an inference-time k");

static_assert(RouterLogitsDifferentiable<BiasBalancedRouter<float>> &&
                  RouterLogitsDifferentiable<BiasBalancedRouter<double>>,
              "BiasBalancedRouter must pass a router-logits gradient back (backward_logits)");

}  // namespace moerb
