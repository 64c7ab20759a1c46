#pragma once
// MoELayer<Router, Expert>: a sparse Mixture-of-Experts feed-forward layer (Shazeer et al. 2017;
// GShard, Lepikhin et al. 2021; Switch, Fedus et al. 2021) with optional always-active shared
// experts (DeepSeekMoE, Dai et al. 2024).
//
// Forward, for x (tokens × d_model):
//   1. routing = router.forward(x, ctx)   (assignments grouped by expert, see Routing)
//   2. dispatch: the rows x[routing.token[a]] are gathered into one contiguous buffer in Routing
//      order, so expert e's tokens are the contiguous block [offsets[e], offsets[e+1]) and each
//      expert runs as one GEMM per projection on its block (no per-token work on weights);
//   3. combine: y[t] = Σ_{a: token a = t} weight[a] · out[a]  (+ Σ_i shared_i(x)[t]).
// A token that no expert kept (dropped by capacity, or not taken by any expert under expert
// choice) gets 0 from the routed part: it passes through on the residual connection that the
// enclosing block adds around this layer.
//
// The objective of a model with this layer includes aux_loss() (the router's weighted
// load-balancing / z-loss terms); backward adds their gradients through the router.
#include <algorithm>
#include <cmath>
#include <concepts>
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
#include "moerb/core/detail/workspace.hpp"
#include "moerb/experts/expert.hpp"
#include "moerb/layers/detail/dispatch.hpp"
#include "moerb/routing/random_router.hpp"
#include "moerb/routing/router.hpp"
#include "moerb/routing/routing.hpp"

namespace moerb {

template <class R, class X>
class MoELayer {
  static_assert(Router<R>,
                "MoELayer<Router, Expert>: Router must model moerb::Router (Scalar, num_experts(), "
                "input_dim(), forward(x, ctx) -> const Routing&, backward(x, d_weight, dx), "
                "visit_parameters) — see moerb/routing/router.hpp");
  static_assert(Expert<X>,
                "MoELayer<Router, Expert>: Expert must model moerb::Expert (Scalar, Options, "
                "input_dim(), output_dim(), hidden_dim(), flops_per_token(), initialize(rng), "
                "forward(in, out, ctx), backward(in, d_out, d_in), visit_parameters) — see "
                "moerb/experts/expert.hpp");
  static_assert(std::same_as<typename R::Scalar, typename X::Scalar>,
                "MoELayer<Router, Expert>: Router and Expert must use the same Scalar type");
  static_assert(std::constructible_from<X, const typename X::Options&>,
                "MoELayer<Router, Expert>: Expert must be constructible from its Options");

 public:
  using Scalar = typename X::Scalar;
  using RouterType = R;
  using ExpertType = X;
  using ExpertOptions = typename X::Options;

  struct Options {
    /// Options of every routed expert (d_model must equal the router's input_dim).
    ExpertOptions expert{};
    /// DeepSeekMoE shared experts: applied to every token, output added with weight 1. >= 0.
    Index num_shared_experts = 0;
    /// Options of the shared experts; unset = the same as `expert`.
    std::optional<ExpertOptions> shared_expert = std::nullopt;
  };

  /// E = router.num_experts() routed experts built from options.expert, plus the shared ones.
  /// Parameters are zero until initialize().
  MoELayer(R router, const Options& options) : router_(std::move(router)), options_(options) {
    constexpr std::string_view where = "MoELayer";
    const Index E = router_.num_experts();
    MOERB_REQUIRE(E > 0, where, ": router.num_experts() = ", E, ", expected > 0");
    MOERB_REQUIRE(options_.num_shared_experts >= 0, where,
            ": Options::num_shared_experts = ", options_.num_shared_experts, ", expected >= 0");
    experts_.reserve(static_cast<std::size_t>(E));
    for (Index e = 0; e < E; ++e) experts_.emplace_back(options_.expert);
    const X& first = experts_.front();
    MOERB_REQUIRE(first.input_dim() == router_.input_dim(), where,
            ": expert input_dim = ", first.input_dim(),
            ", expected the router's input_dim = ", router_.input_dim());
    const ExpertOptions shared_options = options_.shared_expert.value_or(options_.expert);
    shared_.reserve(static_cast<std::size_t>(options_.num_shared_experts));
    for (Index i = 0; i < options_.num_shared_experts; ++i) shared_.emplace_back(shared_options);
    if (!shared_.empty()) {
      MOERB_REQUIRE(shared_.front().input_dim() == input_dim(), where,
              ": shared expert input_dim = ", shared_.front().input_dim(), ", expected ",
              input_dim());
      MOERB_REQUIRE(shared_.front().output_dim() == output_dim(), where,
              ": shared expert output_dim = ", shared_.front().output_dim(), ", expected ",
              output_dim(), " (the routed experts' output_dim)");
    }
    router_parameters_ = count_parameters(router_);
    expert_parameters_ = count_parameters(experts_.front());
    shared_parameters_ = shared_.empty() ? 0 : count_parameters(shared_.front());
  }

  /// Builds the router from its options (for routers with an Options type).
  template <class RouterT = R>
  MoELayer(const typename RouterT::Options& router_options, const Options& options) requires
      std::constructible_from<RouterT, const typename RouterT::Options&>
      : MoELayer(RouterT(router_options), options) {}

  // ---- shape and structure ------------------------------------------------------------------
  [[nodiscard]] Index input_dim() const { return router_.input_dim(); }
  [[nodiscard]] Index output_dim() const { return experts_.front().output_dim(); }
  [[nodiscard]] Index num_experts() const { return static_cast<Index>(experts_.size()); }
  [[nodiscard]] Index num_shared_experts() const { return static_cast<Index>(shared_.size()); }
  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] const ExpertOptions& expert_options() const { return options_.expert; }

  R& router() { return router_; }
  const R& router() const { return router_; }
  X& expert(Index i) { return experts_[checked(i, num_experts(), "expert")]; }
  const X& expert(Index i) const { return experts_[checked(i, num_experts(), "expert")]; }
  X& shared_expert(Index i) { return shared_[checked(i, num_shared_experts(), "shared_expert")]; }
  const X& shared_expert(Index i) const {
    return shared_[checked(i, num_shared_experts(), "shared_expert")];
  }

  // ---- parameters ---------------------------------------------------------------------------
  /// Draws one value from `rng` and derives independent streams from it for the router
  /// (split(rng_tag::router)), expert e (split(rng_tag::expert_base + e)) and shared expert i
  /// (split(rng_tag::shared_expert_base + i)), so each component's initial values do not depend on
  /// the others and consecutive layers initialised from one rng differ.
  void initialize(Rng& rng) {
    const Rng base(rng.next_u64());
    if constexpr (requires(Rng & r) { router_.initialize(r); }) {
      Rng r = base.split(rng_tag::router);
      router_.initialize(r);
    }
    for (std::size_t e = 0; e < experts_.size(); ++e) {
      Rng r = base.split(rng_tag::expert_base + e);
      experts_[e].initialize(r);
    }
    for (std::size_t i = 0; i < shared_.size(); ++i) {
      Rng r = base.split(rng_tag::shared_expert_base + i);
      shared_[i].initialize(r);
    }
  }

  /// Visits the router's parameters as "router.<name>", routed expert e's as
  /// "experts.<e>.<name>" and shared expert i's as "shared_experts.<i>.<name>", under `prefix`.
  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    router_.visit_parameters(visitor, join_name(prefix, "router"));
    const std::string experts = join_name(prefix, "experts");
    for (std::size_t e = 0; e < experts_.size(); ++e) {
      experts_[e].visit_parameters(visitor, join_name(experts, std::to_string(e)));
    }
    const std::string shared = join_name(prefix, "shared_experts");
    for (std::size_t i = 0; i < shared_.size(); ++i) {
      shared_[i].visit_parameters(visitor, join_name(shared, std::to_string(i)));
    }
  }

  /// Visits non-trainable state that checkpoints must save (e.g. the DeepSeek-V3 router's
  /// selection bias as "router.bias"): `visitor(std::string_view name, Matrix<Scalar>& buffer)`
  /// for the router's and experts' `visit_buffers`, where they have one.
  template <class Visitor>
  void visit_buffers(Visitor&& visitor, std::string_view prefix) {
    if constexpr (requires { router_.visit_buffers(visitor, prefix); }) {
      router_.visit_buffers(visitor, join_name(prefix, "router"));
    }
    if constexpr (requires(X & x) { x.visit_buffers(visitor, prefix); }) {
      const std::string experts = join_name(prefix, "experts");
      for (std::size_t e = 0; e < experts_.size(); ++e) {
        experts_[e].visit_buffers(visitor, join_name(experts, std::to_string(e)));
      }
      const std::string shared = join_name(prefix, "shared_experts");
      for (std::size_t i = 0; i < shared_.size(); ++i) {
        shared_[i].visit_buffers(visitor, join_name(shared, std::to_string(i)));
      }
    }
  }

  /// Routed experts a token uses as configured: the router's k() (token choice), its capacity
  /// factor (expert choice: the mean), or 1 (hash, BASE).
  [[nodiscard]] double experts_per_token() const {
    return detail::nominal_experts_per_token(router_);
  }
  /// All parameters: router + E routed experts + shared experts.
  [[nodiscard]] Index total_parameter_count() const {
    return router_parameters_ + num_experts() * expert_parameters_ +
           num_shared_experts() * shared_parameters_;
  }
  /// Parameters one token uses: router + experts_per_token · one routed expert + shared experts.
  [[nodiscard]] double active_parameter_count(double experts_per_token) const {
    return static_cast<double>(router_parameters_) +
           experts_per_token * static_cast<double>(expert_parameters_) +
           static_cast<double>(num_shared_experts() * shared_parameters_);
  }
  [[nodiscard]] double active_parameter_count() const {
    return active_parameter_count(experts_per_token());
  }
  [[nodiscard]] Index router_parameter_count() const { return router_parameters_; }
  [[nodiscard]] Index expert_parameter_count() const { return expert_parameters_; }
  [[nodiscard]] Index shared_expert_parameter_count() const { return shared_parameters_; }

  /// Forward FLOPs per token (2 · multiply-adds): the router's x·W (2·d_model·E) +
  /// experts_per_token · expert.flops_per_token() + the shared experts'.
  [[nodiscard]] double flops_per_token(double experts_per_token) const {
    double f = 2.0 * static_cast<double>(input_dim()) * static_cast<double>(num_experts());
    f += experts_per_token * experts_.front().flops_per_token();
    for (const X& s : shared_) f += s.flops_per_token();
    return f;
  }
  [[nodiscard]] double flops_per_token() const { return flops_per_token(experts_per_token()); }

  // ---- inference-time routing override ------------------------------------------------------
  /// The random-routing baseline of MoE-RBench (Chen et al. 2024, §5): when on, EVALUATION
  /// forwards (ctx.training == false) ignore the trained router and send each token to
  /// k = max(1, round(experts_per_token())) distinct uniformly random experts with weight 1/k
  /// (RandomRouter, drawing from ctx.rng.split(rng_tag::router)); training forwards are unchanged.
  /// The router's evaluation capacity factor is not applied to random routing (unlimited).
  /// Gradients still flow to x and the experts; the random gate itself has none.
  void set_random_inference_routing(bool on) {
    if (!on) {
      random_.reset();
      return;
    }
    typename RandomRouter<Scalar>::Options o;
    o.input_dim = input_dim();
    o.num_experts = num_experts();
    o.k =
        std::clamp<Index>(static_cast<Index>(std::llround(experts_per_token())), 1, num_experts());
    random_.emplace(o);
  }
  [[nodiscard]] bool random_inference_routing() const { return random_.has_value(); }
  /// Whether an evaluation forward maps each token independently of the others in it, so that a
  /// token run alone (incremental decoding with a key-value cache) gets what any batch gives it:
  /// the router says so (TokenIndependentRouting) and random inference routing is off. A router
  /// that does not say is taken not to.
  [[nodiscard]] bool routes_tokens_independently() const {
    if constexpr (TokenIndependentRouting<R>) {
      return !random_inference_routing() && router_.routes_tokens_independently();
    } else {
      return false;
    }
  }

  // ---- forward / backward -------------------------------------------------------------------
  /// y (tokens × output_dim) for x (tokens × input_dim). The result is a member, valid until the
  /// next forward. Expert e draws (expert dropout) from ctx.rng.split(rng_tag::expert_base + e),
  /// shared expert i from ctx.rng.split(rng_tag::shared_expert_base + i); the router from ctx.
  const Matrix<Scalar>& forward(const Matrix<Scalar>& x, const ForwardContext& ctx) {
    constexpr std::string_view where = "MoELayer::forward";
    require_cols(x, input_dim(), where, "x");
    detail::require_all_finite(x, where, "x");
    has_forward_ = false;
    has_router_logits_grad_ = false;  // a pending gradient belonged to the previous forward
    last_random_ = random_.has_value() && !ctx.training;
    const Routing<Scalar>& r = last_random_ ? random_->forward(x, ctx) : router_.forward(x, ctx);
    routing_ptr_.p = &r;
    const Index T = x.rows();
    const Index d_in = input_dim();
    const Index d_out = output_dim();
    index_.build(r, T, num_experts(), where);
    const Index A = index_.num_assignments();

    // Dispatch: one contiguous buffer, grouped by expert.
    auto x_disp = x_disp_.rows(A, d_in);
    detail::for_each_row(
        A, d_in, [&](Index a) { x_disp.row(a) = x.row(r.token[static_cast<std::size_t>(a)]); });
    auto out_disp = out_disp_.rows(A, d_out);
    for_each_busy_expert(r, [&](Index e, Index b, Index n) {
      experts_[static_cast<std::size_t>(e)].forward(
          x_disp.middleRows(b, n), out_disp.middleRows(b, n),
          ctx.with_rng(ctx.rng.split(rng_tag::expert_base + static_cast<std::uint64_t>(e))));
    });

    // Shared experts write y first (weight 1), then the routed outputs are added.
    y_.resize(T, d_out);
    const bool has_shared = !shared_.empty();
    for (std::size_t i = 0; i < shared_.size(); ++i) {
      const ForwardContext shared_ctx =
          ctx.with_rng(ctx.rng.split(rng_tag::shared_expert_base + i));
      if (i == 0) {
        shared_[i].forward(x, y_, shared_ctx);
      } else {
        auto tmp = shared_out_tmp_.rows(T, d_out);
        shared_[i].forward(x, tmp, shared_ctx);
        y_ += tmp;
      }
    }

    // Combine in the fixed per-token order of index_ (deterministic for any thread count).
    const Index per_token = T > 0 ? (A / T + 1) * d_out : d_out;
    detail::for_each_row(T, per_token, [&](Index t) {
      auto yt = y_.row(t);
      if (!has_shared) yt.setZero();
      for (Index i = index_.begin(t); i < index_.end(t); ++i) {
        const Index a = index_.assignment(i);
        yt += r.weight[static_cast<std::size_t>(a)] * out_disp.row(a);
      }
    });
    rows_ = T;
    has_forward_ = true;
    return y_;
  }

  /// For the x of the last forward and dy = ∂L/∂y (tokens × output_dim): returns ∂L/∂x
  /// (tokens × input_dim; a member, valid until the next backward) and accumulates the gradients of
  /// every parameter that is not frozen. The router's auxiliary losses (aux_loss()) are part of L:
  /// their gradients are included. Through the combine weights:
  ///   ∂L/∂out[a] = weight[a] · dy[t_a],   ∂L/∂weight[a] = ⟨dy[t_a], out[a]⟩.
  const Matrix<Scalar>& backward(const Matrix<Scalar>& x, const Matrix<Scalar>& dy) {
    constexpr std::string_view where = "MoELayer::backward";
    MOERB_REQUIRE(has_forward_, where, ": called before forward");
    require_shape(x, rows_, input_dim(), where, "x");
    require_shape(dy, rows_, output_dim(), where, "dy");
    detail::require_all_finite(dy, where, "dy");
    const Routing<Scalar>& r = last_routing();
    const Index T = rows_;
    const Index d_in = input_dim();
    const Index d_out = output_dim();
    const Index A = index_.num_assignments();

    auto out_disp = out_disp_.view(A);
    auto d_out_disp = d_out_disp_.rows(A, d_out);
    d_weight_.resize(static_cast<std::size_t>(A));
    detail::for_each_row(A, 2 * d_out, [&](Index a) {
      const auto sa = static_cast<std::size_t>(a);
      const auto dy_t = dy.row(r.token[sa]);
      d_out_disp.row(a) = r.weight[sa] * dy_t;
      d_weight_[sa] = dy_t.dot(out_disp.row(a));
    });

    dx_.resize(T, d_in);
    if (shared_.empty()) dx_.setZero();
    for (std::size_t i = 0; i < shared_.size(); ++i) {
      if (i == 0) {
        shared_[i].backward(x, dy, dx_);
      } else {
        auto tmp = shared_in_tmp_.rows(T, d_in);
        shared_[i].backward(x, dy, tmp);
        dx_ += tmp;
      }
    }
    if (!last_random_) {  // the random gate has no parameters and does not depend on x
      router_.backward(x, std::span<const Scalar>(d_weight_.data(), d_weight_.size()), dx_);
    }
    if constexpr (RouterLogitsDifferentiable<R>) {
      if (has_router_logits_grad_) {  // set only after a forward through router_ (not random_)
        router_.backward_logits(x, d_router_logits_, dx_);
        has_router_logits_grad_ = false;
      }
    }

    auto x_disp = x_disp_.view(A);
    auto d_in_disp = d_in_disp_.rows(A, d_in);
    for_each_busy_expert(r, [&](Index e, Index b, Index n) {
      experts_[static_cast<std::size_t>(e)].backward(
          x_disp.middleRows(b, n), d_out_disp.middleRows(b, n), d_in_disp.middleRows(b, n));
    });
    // Scatter-add in the fixed per-token order.
    const Index per_token = T > 0 ? (A / T + 1) * d_in : d_in;
    detail::for_each_row(T, per_token, [&](Index t) {
      auto dxt = dx_.row(t);
      for (Index i = index_.begin(t); i < index_.end(t); ++i)
        dxt += d_in_disp.row(index_.assignment(i));
    });
    return dx_;
  }

  /// Adds d_logits = ∂L'/∂(routing().logits) (tokens × experts, for the last forward) to the next
  /// backward: it then returns ∂(L + L')/∂x and accumulates the gate's share of L' in the router's
  /// parameter gradients. L' is any loss defined on the router logits — the router attack's
  /// routing objectives (moerb/attacks/router_attack.hpp). Calls before one backward add up;
  /// backward consumes the sum and the next forward discards an unconsumed one. Needs a router
  /// modelling RouterLogitsDifferentiable and a forward through the trained router (not the
  /// random-routing baseline).
  void add_router_logits_gradient(const Matrix<Scalar>& d_logits) requires
      RouterLogitsDifferentiable<R> {
    constexpr std::string_view where = "MoELayer::add_router_logits_gradient";
    MOERB_REQUIRE(has_forward_, where, ": called before forward");
    MOERB_REQUIRE(!last_random_, where,
                  ": the last forward used the random-routing baseline, whose routing has no "
                  "logits to differentiate");
    require_shape(d_logits, rows_, num_experts(), where, "d_logits");
    require_finite(d_logits, where, "d_logits");
    if (has_router_logits_grad_) {
      d_router_logits_ += d_logits;
    } else {
      d_router_logits_ = d_logits;
      has_router_logits_grad_ = true;
    }
  }
  /// Whether a router-logits gradient waits for the next backward.
  [[nodiscard]] bool has_router_logits_gradient() const { return has_router_logits_grad_; }

  /// The routing of the last forward (throws moerb::error before the first forward).
  [[nodiscard]] const Routing<Scalar>& routing() const {
    MOERB_REQUIRE(has_forward_, "MoELayer::routing: no forward yet");
    return last_routing();
  }
  /// The router's weighted auxiliary loss of the last forward (0 before one); add it to the
  /// objective — backward includes its gradient.
  [[nodiscard]] Scalar aux_loss() const {
    return has_forward_ ? last_routing().aux_loss : Scalar(0);
  }
  /// y of the last forward.
  [[nodiscard]] const Matrix<Scalar>& output() const { return y_; }
  /// ∂L/∂x of the last backward.
  [[nodiscard]] const Matrix<Scalar>& input_grad() const { return dx_; }

 private:
  // A pointer that copies and moves as null: the routing it points at lives inside router_, which
  // a copied or moved layer does not share.
  struct RoutingPtr {
    const Routing<Scalar>* p = nullptr;
    RoutingPtr() = default;
    RoutingPtr(const RoutingPtr&) {}
    RoutingPtr& operator=(const RoutingPtr&) {
      p = nullptr;
      return *this;
    }
  };

  const Routing<Scalar>& last_routing() const {
    if (last_random_) return random_->routing();
    if constexpr (requires(const R& cr) {
                    { cr.routing() } -> std::same_as<const Routing<Scalar>&>;
                  }) {
      return router_.routing();
    } else {
      MOERB_REQUIRE(routing_ptr_.p != nullptr,
              "MoELayer: the routing was lost when the layer was "
              "copied or moved after forward; run forward again");
      return *routing_ptr_.p;
    }
  }

  static std::size_t checked(Index i, Index n, std::string_view what) {
    MOERB_REQUIRE(i >= 0 && i < n, "MoELayer::", what, ": index ", i, ", expected in [0, ", n, ")");
    return static_cast<std::size_t>(i);
  }

  template <class L>
  static Index count_parameters(L& layer) {
    Index n = 0;
    layer.visit_parameters([&](std::string_view, Parameter<Scalar>& p) { n += p.size(); },
                           std::string_view{});
    return n;
  }

  R router_;
  Options options_;
  std::vector<X> experts_;
  std::vector<X> shared_;
  Index router_parameters_ = 0, expert_parameters_ = 0, shared_parameters_ = 0;

  /// f(e, begin, rows) for every expert with tokens in r, over detail::for_each_expert (most
  /// loaded first on several threads); expert e owns rows [begin, begin + rows) of the dispatch
  /// buffers.
  template <class F>
  void for_each_busy_expert(const Routing<Scalar>& r, F&& f) {
    detail::for_each_expert(
        num_experts(), [&](Index e) { return r.end(e) - r.begin(e); }, expert_order_,
        [&](Index e) {
          const Index b = r.begin(e);
          const Index n = r.end(e) - b;
          if (n > 0) f(e, b, n);
        });
  }

  // State of the last forward, kept for backward.
  bool has_forward_ = false;
  bool last_random_ = false;  // the last forward used random_ instead of router_
  Index rows_ = 0;
  RoutingPtr routing_ptr_;
  std::optional<RandomRouter<Scalar>> random_;
  detail::TokenIndex index_;
  std::vector<Index> expert_order_;  // scratch: experts, most loaded first (for_each_expert)
  detail::RowBuffer<Scalar> x_disp_, out_disp_;  // A × d_in, A × d_out, grouped by expert
  detail::RowBuffer<Scalar> shared_out_tmp_;     // T × d_out, shared experts after the first
  Matrix<Scalar> y_;
  // Backward workspaces.
  detail::RowBuffer<Scalar> d_out_disp_, d_in_disp_, shared_in_tmp_;
  std::vector<Scalar> d_weight_;
  Matrix<Scalar> dx_;
  // ∂L'/∂(router logits) added by add_router_logits_gradient, for the next backward.
  Matrix<Scalar> d_router_logits_;
  bool has_router_logits_grad_ = false;
};

}  // namespace moerb
