#pragma once
// Balanced assignment routing, after BASE layers (Lewis et al. 2021, "BASE Layers: Simplifying
// Training of Large, Sparse Models").
//
// scores = x·W (tokens × experts, W = one embedding w_e per expert). At training time every token
// goes to exactly one expert and every expert receives the same number of tokens, so no auxiliary
// balancing loss is needed. BASE solves that balanced linear assignment exactly (auction
// algorithm); here it is relaxed and rounded, as in S-BASE (Clark et al. 2022):
//   1. Sinkhorn (log domain) on exp(scores/τ): rows (tokens) scaled to mass 1 and columns (experts)
//      to mass T/E, alternately, until the column error is <= sinkhorn_tolerance or
//      sinkhorn_iterations is reached;
//   2. rounding: (token, expert) pairs are visited by descending transport-plan mass (ties: lower
//      token, then lower expert) and a pair is kept when the token is still unassigned and the
//      expert holds fewer than ⌈T/E⌉ tokens. Every token gets exactly one expert, every expert at
//      most ⌈T/E⌉ tokens, and exactly T/E when E divides T.
// At evaluation (ctx.training false) each token goes to its argmax expert (ties: lower index) with
// no balancing, as in BASE, which cannot balance at inference time without seeing the whole batch.
//
// The expert output is scaled by σ(score[t, e]) = σ(x_t·w_e) (BASE eq. 2), so the router learns
// through the sigmoid; the assignment itself is not differentiated.
#include <cmath>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/kernels/softmax.hpp"
#include "moerb/kernels/topk.hpp"
#include "moerb/routing/detail/linear_gate.hpp"
#include "moerb/routing/detail/router_checks.hpp"
#include "moerb/routing/detail/sinkhorn.hpp"
#include "moerb/routing/detail/token_choice.hpp"
#include "moerb/routing/router.hpp"

namespace moerb {

/// BASE-style balanced router. Scalar: float or double.
///
/// What it puts into Routing: `k = 1`; `selected` (tokens × 1) = the assigned expert (balanced at
/// training, argmax at evaluation) and `assignment` its index; `weight` = σ(score[t, e]); `slot =
/// 0`; `dropped = 0`, `unrouted_tokens = 0`; `load` = tokens per expert (all ≤ ⌈T/E⌉ at training);
/// `logits` = scores x·W (after jitter, not divided by τ); `probs` = softmax over experts of
/// scores/τ, i.e. the Sinkhorn kernel normalised by rows: the unbalanced preference of each token.
/// No auxiliary loss: BASE needs no load-balancing loss and has no softmax to stabilise, so
/// `load_balancing_loss = z_loss = aux_loss = 0`.
template <class S>
class BalancedRouter {
  static_assert(FloatingScalar<S>, "BalancedRouter<Scalar>: Scalar must be float or double");

 public:
  using Scalar = S;

  struct Options {
    Index input_dim = 0;    ///< d_model, the columns of x (required, > 0)
    Index num_experts = 0;  ///< E (required, > 0)
    /// Maximum Sinkhorn iterations (one row and one column normalisation each); >= 1.
    Index sinkhorn_iterations = 50;
    /// Stop once every expert's column mass is within this relative error of T/E; >= 0.
    double sinkhorn_tolerance = 1e-3;
    /// Entropic temperature τ of the Sinkhorn kernel exp(scores/τ); > 0. Smaller τ makes the plan
    /// closer to the exact (BASE) assignment and needs more iterations.
    double temperature = 1.0;
    /// Switch multiplicative jitter ε on x (training only; Fedus et al. 2021 §2.4), in [0, 1).
    double jitter = 0.0;
  };

  explicit BalancedRouter(const Options& options)
      : options_(validated(options)), gate_(options.input_dim, options.num_experts) {}

  /// W ~ U(-1/√d, 1/√d) (PyTorch's nn.Linear default).
  void initialize(Rng& rng) { gate_.initialize(rng); }

  [[nodiscard]] Index input_dim() const { return options_.input_dim; }
  [[nodiscard]] Index num_experts() const { return options_.num_experts; }
  /// TokenIndependentRouting: no; the assignment balances all the forward's tokens.
  [[nodiscard]] bool routes_tokens_independently() const { return false; }
  [[nodiscard]] const Options& options() const { return options_; }
  /// The expert embeddings W (input_dim × num_experts).
  Parameter<S>& weight() { return gate_.weight(); }
  const Parameter<S>& weight() const { return gate_.weight(); }

  /// Most tokens an expert receives at training time: ⌈num_tokens/E⌉.
  [[nodiscard]] Index capacity(Index num_tokens) const {
    MOERB_REQUIRE(num_tokens >= 0, "BalancedRouter::capacity: num_tokens = ", num_tokens,
            ", expected >= 0");
    return (num_tokens + options_.num_experts - 1) / options_.num_experts;
  }

  /// Sinkhorn iterations and column error of the last training forward (zeros before one).
  [[nodiscard]] const detail::SinkhornStats& sinkhorn_stats() const { return stats_; }

  /// The transport plan of the last training forward (tokens × experts; rows sum to ≈ 1,
  /// columns to T/E).
  [[nodiscard]] Matrix<double> transport_plan() const {
    MOERB_REQUIRE(plan_valid_, "BalancedRouter::transport_plan: no training forward yet");
    const Index T = log_kernel_.rows();
    const Index E = log_kernel_.cols();
    Matrix<double> p(T, E);
    for (Index t = 0; t < T; ++t) {
      for (Index e = 0; e < E; ++e) {
        p(t, e) =
            std::exp(static_cast<double>(log_kernel_(t, e)) + log_u_[static_cast<std::size_t>(t)] +
                     log_v_[static_cast<std::size_t>(e)]);
      }
    }
    return p;
  }

  /// x: tokens × input_dim. Training: balanced assignment (whole batch; not causal); evaluation:
  /// argmax per token. Jitter (training only) draws from ctx.rng.split(rng_tag::router_jitter).
  const Routing<S>& forward(const Matrix<S>& x, const ForwardContext& ctx) {
    static constexpr std::string_view where = "BalancedRouter::forward";
    require_cols(x, input_dim(), where, "x");
    require_finite(x, where, "x");
    require_finite(gate_.weight().value, where, "weight");
    has_forward_ = false;
    plan_valid_ = false;

    const Index T = x.rows();
    const Index E = num_experts();
    Routing<S>& r = routing_;
    r.num_experts = E;
    gate_.forward(x, ctx, static_cast<S>(options_.jitter), S(1), r.logits);
    require_finite(r.logits, where, "scores (x·weight overflowed)");
    log_kernel_.noalias() = r.logits * static_cast<S>(1.0 / options_.temperature);
    kernels::softmax_rows(log_kernel_, r.probs);

    r.selected.resize(T, 1);
    if (ctx.training) {
      stats_ =
          detail::log_sinkhorn(log_kernel_, 1.0, static_cast<double>(T) / static_cast<double>(E),
                               options_.sinkhorn_iterations, options_.sinkhorn_tolerance, log_u_,
                               log_v_, col_max_, col_sum_);
      detail::greedy_capacity_rounding(log_kernel_, log_u_, log_v_, capacity(T), expert_of_token_,
                                       load_scratch_, key_, order_);
      for (Index t = 0; t < T; ++t)
        r.selected(t, 0) = expert_of_token_[static_cast<std::size_t>(t)];
      plan_valid_ = true;
    } else {
      for (Index t = 0; t < T; ++t) {
        Index best = 0;
        S best_score = 0;
        kernels::topk(r.logits.row(t).data(), E, Index{1}, &best, &best_score);
        r.selected(t, 0) = best;
      }
    }
    weights_.resize(T, 1);
    for (Index t = 0; t < T; ++t) weights_(t, 0) = sigmoid(r.logits(t, r.selected(t, 0)));
    detail::build_token_choice(r, weights_, Index{-1}, choice_counts_, scratch_);
    r.load_balancing_loss = 0;
    r.z_loss = 0;
    r.aux_loss = 0;
    has_forward_ = true;
    return r;
  }

  /// ∂L/∂score[t, e] = d_weight · σ(1 − σ) for the assigned pair, then through x·W.
  void backward(const Matrix<S>& x, std::span<const S> d_weight, Matrix<S>& dx) {
    static constexpr std::string_view where = "BalancedRouter::backward";
    const Routing<S>& r = routing_;
    detail::require_router_backward_args(has_forward_, r, input_dim(), x, d_weight, dx, where);
    d_scores_.setZero(r.num_tokens, r.num_experts);
    for (Index t = 0; t < r.num_tokens; ++t) {
      const Index a = r.assignment(t, 0);
      const S w = r.weight[static_cast<std::size_t>(a)];
      d_scores_(t, r.selected(t, 0)) = d_weight[static_cast<std::size_t>(a)] * w * (S(1) - w);
    }
    gate_.backward(x, d_scores_, dx);
  }

  /// For d_logits = ∂L/∂(routing's logits, the scores x·W) (tokens × experts) of the last forward:
  /// adds ∂L/∂x to dx and ∂L/∂W to the expert embeddings' grad (unless frozen), through the gate
  /// alone (no combine-weight terms; see RouterLogitsDifferentiable).
  void backward_logits(const Matrix<S>& x, const Matrix<S>& d_logits, Matrix<S>& dx) {
    detail::require_router_logits_backward_args(has_forward_, routing_, input_dim(), x, d_logits,
                                                dx, "BalancedRouter");
    gate_.backward(x, d_logits, dx);
  }

  /// Visits the expert embeddings as `<prefix>.weight`.
  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    gate_.visit(visitor, prefix, "weight");
  }

  /// The routing of the last forward.
  [[nodiscard]] const Routing<S>& routing() const { return routing_; }

 private:
  static Options validated(const Options& o) {
    static constexpr std::string_view where = "BalancedRouter";
    detail::require_router_dims(o.input_dim, o.num_experts, where);
    MOERB_REQUIRE(o.sinkhorn_iterations >= 1, where, ": sinkhorn_iterations = ", o.sinkhorn_iterations,
            ", expected >= 1");
    MOERB_REQUIRE(std::isfinite(o.sinkhorn_tolerance) && o.sinkhorn_tolerance >= 0, where,
            ": sinkhorn_tolerance = ", o.sinkhorn_tolerance, ", expected a finite value >= 0");
    MOERB_REQUIRE(std::isfinite(o.temperature) && o.temperature > 0, where,
            ": temperature = ", o.temperature, ", expected a finite value > 0");
    require_rate(o.jitter, where, "jitter");
    return o;
  }

  // σ(s) without overflow for large |s|.
  static S sigmoid(S s) {
    if (s >= S(0)) return S(1) / (S(1) + std::exp(-s));
    const S z = std::exp(s);
    return z / (S(1) + z);
  }

  Options options_;
  detail::LinearGate<S> gate_;
  Routing<S> routing_;
  bool has_forward_ = false;
  bool plan_valid_ = false;
  detail::SinkhornStats stats_{0, 0.0};
  // Workspaces, reused across calls.
  Matrix<S> log_kernel_, weights_, d_scores_;
  std::vector<double> log_u_, log_v_, col_max_, col_sum_, key_;
  std::vector<Index> expert_of_token_, load_scratch_, order_, choice_counts_, scratch_;
};

static_assert(Router<BalancedRouter<float>>, "BalancedRouter<float> must model moerb::Router");
static_assert(Router<BalancedRouter<double>>, "BalancedRouter<double> must model moerb::Router");

static_assert(RouterLogitsDifferentiable<BalancedRouter<float>> &&
                  RouterLogitsDifferentiable<BalancedRouter<double>>,
              "BalancedRouter must pass a router-logits gradient back (backward_logits)");

}  // namespace moerb
