#pragma once
// Expert-choice routing (Zhou et al. 2022, "Mixture-of-Experts with Expert Choice Routing").
//
// Token choice lets every token pick its top-k experts and then drops what overflows an expert's
// capacity. Expert choice turns this around: with the token-to-expert affinities
//   S = softmax_experts(x·W_g / τ)                                  (tokens × experts, eq. 1)
// every expert e takes the c tokens with the largest S[:, e] (eq. 2), and its output for token t is
// scaled by S[t, e] (eq. 3). Every expert processes exactly c tokens, so the load is perfectly
// balanced without an auxiliary loss, while a token may be processed by any number of experts from
// 0 (it then passes through the residual only) to E.
//
// Not causal: whether expert e takes token t depends on the affinities of every other token of the
// batch, later tokens of the sequence included. Use it for encoders or teacher-forced training, not
// for token-by-token autoregressive decoding.
#include <algorithm>
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
#include "moerb/routing/detail/aux_losses.hpp"
#include "moerb/routing/detail/linear_gate.hpp"
#include "moerb/routing/detail/router_checks.hpp"
#include "moerb/routing/detail/token_choice.hpp"
#include "moerb/routing/router.hpp"

namespace moerb {

/// Expert-choice router. Scalar: float or double.
///
/// What it puts into Routing:
/// - `k = 0`; `selected`, `assignment` are empty (0 × 0): tokens choose nothing.
/// - `offsets[e] = e·c`; `token[offsets[e] .. offsets[e+1])` are the c tokens expert e took, in
///   ascending token order; `weight` = S[token, e].
/// - `slot[a]`: rank of this expert among the experts that took the token, by descending S[t, ·]
///   (ties: lower expert index first), so slot 0 is the token's most affine expert that took it.
/// - `load[e] = c` for every expert; `dropped = 0`; `unrouted_tokens` = tokens no expert took.
/// - `logits` = x·W_g/τ (after jitter), `probs` = S.
/// - `z_loss`: ST-MoE z-loss of `logits`, always reported; it enters `aux_loss` (and backward)
///   with weight `z_loss_weight`. `load_balancing_loss = 0`: expert choice is balanced by
///   construction, so the Switch loss is not offered.
template <class S>
class ExpertChoiceRouter {
  static_assert(FloatingScalar<S>, "ExpertChoiceRouter<Scalar>: Scalar must be float or double");

 public:
  using Scalar = S;

  struct Options {
    Index input_dim = 0;    ///< d_model, the columns of x (required, > 0)
    Index num_experts = 0;  ///< E (required, > 0)
    /// The paper's capacity factor c: the average number of experts per token (EC-CF2 = 2).
    /// Tokens per expert = ⌈T·capacity_factor/E⌉ clamped to [1, T] (the paper's k = n·c/e,
    /// rounded up so that the batch is never under-served). Must be > 0.
    double capacity_factor = 2.0;
    double temperature = 1.0;  ///< τ in softmax(x·W_g/τ); > 0
    /// Switch multiplicative jitter ε on x (training only; Fedus et al. 2021 §2.4), in [0, 1).
    double jitter = 0.0;
    /// Weight of the ST-MoE router z-loss (Zoph et al. 2022 use 1e-3); >= 0.
    double z_loss_weight = 0.0;
  };

  explicit ExpertChoiceRouter(const Options& options)
      : options_(validated(options)), gate_(options.input_dim, options.num_experts) {}

  /// W_g ~ U(-1/√d, 1/√d) (PyTorch's nn.Linear default).
  void initialize(Rng& rng) { gate_.initialize(rng); }

  [[nodiscard]] Index input_dim() const { return options_.input_dim; }
  [[nodiscard]] Index num_experts() const { return options_.num_experts; }
  /// TokenIndependentRouting: no; experts choose among all the forward's tokens.
  [[nodiscard]] bool routes_tokens_independently() const { return false; }
  [[nodiscard]] const Options& options() const { return options_; }
  /// The gate W_g (input_dim × num_experts).
  Parameter<S>& weight() { return gate_.weight(); }
  const Parameter<S>& weight() const { return gate_.weight(); }

  /// Tokens per expert for a batch of `num_tokens`: ⌈num_tokens·capacity_factor/E⌉ clamped to
  /// [1, num_tokens] (0 for an empty batch).
  [[nodiscard]] Index capacity(Index num_tokens) const {
    MOERB_REQUIRE(num_tokens >= 0, "ExpertChoiceRouter::capacity: num_tokens = ", num_tokens,
            ", expected >= 0");
    if (num_tokens == 0) return 0;
    return std::min(num_tokens, detail::expert_capacity(options_.capacity_factor, num_tokens, 1,
                                                        options_.num_experts));
  }

  /// Experts that took each token in the last forward (tokens entries, each in [0, E]).
  [[nodiscard]] const std::vector<Index>& experts_per_token() const { return experts_per_token_; }

  /// x: tokens × input_dim. Deterministic unless training with jitter (then it draws from
  /// ctx.rng.split(rng_tag::router_jitter)).
  const Routing<S>& forward(const Matrix<S>& x, const ForwardContext& ctx) {
    static constexpr std::string_view where = "ExpertChoiceRouter::forward";
    require_cols(x, input_dim(), where, "x");
    require_finite(x, where, "x");
    require_finite(gate_.weight().value, where, "weight");
    has_forward_ = false;

    const Index T = x.rows();
    const Index E = num_experts();
    Routing<S>& r = routing_;
    r.num_tokens = T;
    r.num_experts = E;
    r.k = 0;
    r.selected.resize(0, 0);
    r.assignment.resize(0, 0);

    gate_.forward(x, ctx, static_cast<S>(options_.jitter), static_cast<S>(options_.temperature),
                  r.logits);
    require_finite(r.logits, where, "logits (x·weight/temperature overflowed)");
    kernels::softmax_rows(r.logits, r.probs);

    const Index c = capacity(T);
    const auto A = static_cast<std::size_t>(E * c);
    r.offsets.resize(static_cast<std::size_t>(E) + 1);
    r.token.resize(A);
    r.weight.resize(A);
    r.slot.resize(A);
    r.load.assign(static_cast<std::size_t>(E), c);
    r.dropped = 0;

    // Each expert's top-c tokens by S[:, e] (ties to the lower token), then in token order.
    column_.resize(static_cast<std::size_t>(T));
    top_value_.resize(static_cast<std::size_t>(c));
    for (Index e = 0; e < E; ++e) {
      const Index first = e * c;
      r.offsets[static_cast<std::size_t>(e)] = first;
      if (c == 0) continue;
      for (Index t = 0; t < T; ++t) column_[static_cast<std::size_t>(t)] = r.probs(t, e);
      Index* chosen = r.token.data() + first;
      kernels::topk(column_.data(), T, c, chosen, top_value_.data());
      std::sort(chosen, chosen + c);
      for (Index j = 0; j < c; ++j) {
        r.weight[static_cast<std::size_t>(first + j)] = r.probs(chosen[j], e);
      }
    }
    r.offsets[static_cast<std::size_t>(E)] = E * c;
    assign_slots(r, c);

    r.z_loss = detail::router_z_loss(r.logits, S(0), static_cast<Matrix<S>*>(nullptr), z_scratch_);
    r.load_balancing_loss = 0;
    r.aux_loss = static_cast<S>(options_.z_loss_weight) * r.z_loss;
    has_forward_ = true;
    return r;
  }

  /// Backward through S[t, e] = softmax(logits_t)_e to W_g and x, plus the weighted z-loss.
  void backward(const Matrix<S>& x, std::span<const S> d_weight, Matrix<S>& dx) {
    static constexpr std::string_view where = "ExpertChoiceRouter::backward";
    const Routing<S>& r = routing_;
    detail::require_router_backward_args(has_forward_, r, input_dim(), x, d_weight, dx, where);
    const Index T = r.num_tokens;
    const Index E = r.num_experts;
    d_logits_.setZero(T, E);  // first ∂L/∂S, then ∂L/∂logits in place
    for (Index e = 0; e < E; ++e) {
      for (Index a = r.begin(e); a < r.end(e); ++a) {
        d_logits_(r.token[static_cast<std::size_t>(a)], e) += d_weight[static_cast<std::size_t>(a)];
      }
    }
    for (Index t = 0; t < T; ++t) {
      detail::softmax_backward(r.probs.row(t).data(), d_logits_.row(t).data(),
                               d_logits_.row(t).data(), E);
    }
    const auto z_coef = static_cast<S>(options_.z_loss_weight);
    if (z_coef != S(0)) detail::router_z_loss(r.logits, z_coef, &d_logits_, z_scratch_);
    gate_.backward(x, d_logits_, dx);
  }

  /// For d_logits = ∂L/∂(routing().logits) (tokens × experts) of the last forward: adds ∂L/∂x to
  /// dx and ∂L/∂W to the gate's grad (unless frozen), through the gate alone (no combine-weight
  /// or auxiliary-loss terms; see RouterLogitsDifferentiable).
  void backward_logits(const Matrix<S>& x, const Matrix<S>& d_logits, Matrix<S>& dx) {
    detail::require_router_logits_backward_args(has_forward_, routing_, input_dim(), x, d_logits,
                                                dx, "ExpertChoiceRouter");
    gate_.backward(x, d_logits, dx);
  }

  /// Visits the gate as `<prefix>.weight`.
  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    gate_.visit(visitor, prefix, "weight");
  }

  /// The routing of the last forward.
  [[nodiscard]] const Routing<S>& routing() const { return routing_; }

 private:
  static Options validated(const Options& o) {
    static constexpr std::string_view where = "ExpertChoiceRouter";
    detail::require_router_dims(o.input_dim, o.num_experts, where);
    MOERB_REQUIRE(std::isfinite(o.capacity_factor) && o.capacity_factor > 0, where,
            ": capacity_factor = ", o.capacity_factor, ", expected a finite value > 0");
    MOERB_REQUIRE(std::isfinite(o.temperature) && o.temperature > 0, where,
            ": temperature = ", o.temperature, ", expected a finite value > 0");
    require_rate(o.jitter, where, "jitter");
    MOERB_REQUIRE(std::isfinite(o.z_loss_weight) && o.z_loss_weight >= 0, where,
            ": z_loss_weight = ", o.z_loss_weight, ", expected a finite value >= 0");
    return o;
  }

  // slot = rank of the expert among the token's experts by descending S (ties: lower expert);
  // also counts experts per token and unrouted tokens.
  void assign_slots(Routing<S>& r, Index c) {
    const Index T = r.num_tokens;
    experts_per_token_.assign(static_cast<std::size_t>(T), 0);
    for (const Index t : r.token) ++experts_per_token_[static_cast<std::size_t>(t)];
    token_offsets_.resize(static_cast<std::size_t>(T) + 1);
    token_offsets_[0] = 0;
    r.unrouted_tokens = 0;
    for (Index t = 0; t < T; ++t) {
      const Index n = experts_per_token_[static_cast<std::size_t>(t)];
      token_offsets_[static_cast<std::size_t>(t) + 1] =
          token_offsets_[static_cast<std::size_t>(t)] + n;
      if (n == 0) ++r.unrouted_tokens;
    }
    by_token_.resize(r.token.size());
    cursor_.assign(token_offsets_.begin(), token_offsets_.end() - 1);
    for (std::size_t a = 0; a < r.token.size(); ++a) {
      by_token_[static_cast<std::size_t>(cursor_[static_cast<std::size_t>(r.token[a])]++)] =
          static_cast<Index>(a);
    }
    // Assignment a belongs to expert a / c (every expert holds exactly c).
    const auto before = [&r, c](Index a, Index b) {
      const S wa = r.weight[static_cast<std::size_t>(a)];
      const S wb = r.weight[static_cast<std::size_t>(b)];
      return wa > wb || (wa == wb && a / c < b / c);
    };
    for (Index t = 0; t < T; ++t) {
      const auto first = by_token_.begin() + token_offsets_[static_cast<std::size_t>(t)];
      const auto last = by_token_.begin() + token_offsets_[static_cast<std::size_t>(t) + 1];
      std::sort(first, last, before);
      Index rank = 0;
      for (auto it = first; it != last; ++it) r.slot[static_cast<std::size_t>(*it)] = rank++;
    }
  }

  Options options_;
  detail::LinearGate<S> gate_;
  Routing<S> routing_;
  bool has_forward_ = false;
  // Workspaces, reused across calls.
  std::vector<S> column_, top_value_;
  std::vector<Index> experts_per_token_, token_offsets_, by_token_, cursor_;
  std::vector<S> z_scratch_;
  Matrix<S> d_logits_;
};

static_assert(Router<ExpertChoiceRouter<float>>,
              "ExpertChoiceRouter<float> must model moerb::Router");
static_assert(Router<ExpertChoiceRouter<double>>,
              "ExpertChoiceRouter<double> must model moerb::Router");

static_assert(RouterLogitsDifferentiable<ExpertChoiceRouter<float>> &&
                  RouterLogitsDifferentiable<ExpertChoiceRouter<double>>,
              "ExpertChoiceRouter must pass a router-logits gradient back (backward_logits)");

}  // namespace moerb
