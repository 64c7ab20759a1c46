#pragma once
// DenseFFN<Expert>: the dense counterpart of an MoE layer — one expert-type block applied to every
// token — with helpers that size it to match an MoE layer's active or total parameter count, the
// two comparisons MoE-vs-dense studies make (e.g. MoE-RBench compares at equal active compute).
#include <algorithm>
#include <cmath>
#include <concepts>
#include <string_view>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/detail/workspace.hpp"
#include "moerb/experts/expert.hpp"

namespace moerb {

/// A dense feed-forward layer with the MoE layer's interface (forward / backward / aux_loss /
/// visit_parameters / counts), so that models can swap one for the other.
///
/// Its parameters are the block's own, visited without an extra name level ("w_in", "b_in", ...
/// under the prefix). Expert dropout of the block (if configured) draws from
/// ctx.rng.split(rng_tag::dense_ffn).
template <class X>
class DenseFFN {
  static_assert(Expert<X>,
                "DenseFFN<Expert>: Expert must model moerb::Expert (see moerb/experts/expert.hpp)");
  static_assert(std::constructible_from<X, const typename X::Options&>,
                "DenseFFN<Expert>: Expert must be constructible from its Options");

 public:
  using Scalar = typename X::Scalar;
  using ExpertType = X;
  /// The block's options; its hidden width (d_ff) is the dense layer's own.
  using Options = typename X::Options;

  explicit DenseFFN(const Options& options) : block_(options) {
    block_.visit_parameters(
        [&](std::string_view, Parameter<Scalar>& p) { parameters_ += p.size(); },
        std::string_view{});
  }

  [[nodiscard]] Index input_dim() const { return block_.input_dim(); }
  [[nodiscard]] Index output_dim() const { return block_.output_dim(); }
  [[nodiscard]] Index hidden_dim() const { return block_.hidden_dim(); }
  X& block() { return block_; }
  const X& block() const { return block_; }

  /// Draws one value from `rng` and initialises the block from the stream it seeds (as MoELayer
  /// does, so consecutive layers initialised from one rng differ).
  void initialize(Rng& rng) {
    Rng r(rng.next_u64());
    block_.initialize(r);
  }

  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    block_.visit_parameters(visitor, prefix);
  }

  /// Non-trainable state of the block (if its type has visit_buffers); nothing otherwise.
  template <class Visitor>
  void visit_buffers(Visitor&& visitor, std::string_view prefix) {
    if constexpr (requires { block_.visit_buffers(visitor, prefix); }) {
      block_.visit_buffers(visitor, prefix);
    }
  }

  [[nodiscard]] Index total_parameter_count() const { return parameters_; }
  /// Every parameter is active for every token.
  [[nodiscard]] double active_parameter_count() const { return static_cast<double>(parameters_); }
  [[nodiscard]] double flops_per_token() const { return block_.flops_per_token(); }

  /// y (tokens × output_dim, a member valid until the next forward) for x (tokens × input_dim).
  const Matrix<Scalar>& forward(const Matrix<Scalar>& x, const ForwardContext& ctx) {
    constexpr std::string_view where = "DenseFFN::forward";
    require_cols(x, input_dim(), where, "x");
    detail::require_all_finite(x, where, "x");
    has_forward_ = false;
    y_.resize(x.rows(), output_dim());
    block_.forward(x, y_, ctx.with_rng(ctx.rng.split(rng_tag::dense_ffn)));
    rows_ = x.rows();
    has_forward_ = true;
    return y_;
  }

  /// ∂L/∂x (a member valid until the next backward) for the x of the last forward and
  /// dy = ∂L/∂y; accumulates the gradients of the parameters that are not frozen.
  const Matrix<Scalar>& backward(const Matrix<Scalar>& x, const Matrix<Scalar>& dy) {
    constexpr std::string_view where = "DenseFFN::backward";
    MOERB_REQUIRE(has_forward_, where, ": called before forward");
    require_shape(x, rows_, input_dim(), where, "x");
    require_shape(dy, rows_, output_dim(), where, "dy");
    detail::require_all_finite(dy, where, "dy");
    dx_.resize(rows_, input_dim());
    block_.backward(x, dy, dx_);
    return dx_;
  }

  /// A dense layer has no auxiliary loss.
  [[nodiscard]] Scalar aux_loss() const { return Scalar(0); }
  [[nodiscard]] const Matrix<Scalar>& output() const { return y_; }
  [[nodiscard]] const Matrix<Scalar>& input_grad() const { return dx_; }

 private:
  X block_;
  Index parameters_ = 0;
  bool has_forward_ = false;
  Index rows_ = 0;
  Matrix<Scalar> y_, dx_;
};

/// An expert type whose parameter count follows from its Options and whose hidden width is
/// Options::d_ff (FFNExpert, GatedExpert).
template <class X>
concept HiddenWidthSizable = Expert<X> && requires(typename X::Options o) {
  { X::parameter_count(o) } -> std::convertible_to<Index>;
  { o.d_ff } -> std::convertible_to<Index>;
};

/// The hidden width H for which an X with the other options of `base` has the parameter count
/// closest to `target_params`. X's count is affine in the hidden width, P(h) = a·h + c (FFN:
/// a = 2·d_model (+1 with biases), c = d_model with biases else 0; gated: a = 3·d_model (+2),
/// c = d_model with biases else 0), so H = max(1, round((target_params − c) / a)).
template <HiddenWidthSizable X>
Index dense_hidden_for_params(const typename X::Options& base, double target_params) {
  MOERB_REQUIRE(std::isfinite(target_params) && target_params > 0,
          "dense_hidden_for_params: "
          "target_params = ",
          target_params, ", expected a finite value > 0");
  typename X::Options o = base;
  o.d_ff = 0;
  const auto c = static_cast<double>(X::parameter_count(o));
  o.d_ff = 1;
  const double a = static_cast<double>(X::parameter_count(o)) - c;
  return std::max<Index>(1, static_cast<Index>(std::llround((target_params - c) / a)));
}

/// An MoE-like layer whose experts can be resized (MoELayer<Router, X> with X HiddenWidthSizable).
template <class M>
concept DenseMatchable = HiddenWidthSizable<typename M::ExpertType> && requires(const M& moe) {
  { moe.expert_options() } -> std::convertible_to<typename M::ExpertType::Options>;
  { moe.active_parameter_count() } -> std::convertible_to<double>;
  { moe.total_parameter_count() } -> std::convertible_to<Index>;
};

/// Hidden width of a dense FFN of the MoE's expert type with the MoE's active parameter count:
///   active = router + experts_per_token · P(d_ff) + num_shared · P(d_ff_shared),
/// e.g. top-k over E bias-free FFN experts: H = k·d_ff + E/2 (+ num_shared · d_ff_shared).
template <DenseMatchable M>
Index dense_hidden_for_active_params(const M& moe) {
  return dense_hidden_for_params<typename M::ExpertType>(moe.expert_options(),
                                                         moe.active_parameter_count());
}

/// Hidden width of a dense FFN of the MoE's expert type with the MoE's total parameter count:
///   total = router + E · P(d_ff) + num_shared · P(d_ff_shared),
/// e.g. E bias-free FFN experts: H = E·d_ff + E/2 (+ num_shared · d_ff_shared).
template <DenseMatchable M>
Index dense_hidden_for_total_params(const M& moe) {
  return dense_hidden_for_params<typename M::ExpertType>(
      moe.expert_options(), static_cast<double>(moe.total_parameter_count()));
}

/// The MoE's expert options with d_ff = dense_hidden_for_active_params(moe): ready for DenseFFN.
template <DenseMatchable M>
typename M::ExpertType::Options dense_options_for_active_params(const M& moe) {
  typename M::ExpertType::Options o = moe.expert_options();
  o.d_ff = dense_hidden_for_active_params(moe);
  return o;
}

/// The MoE's expert options with d_ff = dense_hidden_for_total_params(moe): ready for DenseFFN.
template <DenseMatchable M>
typename M::ExpertType::Options dense_options_for_total_params(const M& moe) {
  typename M::ExpertType::Options o = moe.expert_options();
  o.d_ff = dense_hidden_for_total_params(moe);
  return o;
}

}  // namespace moerb
