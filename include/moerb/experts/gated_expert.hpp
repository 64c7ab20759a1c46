#pragma once
// GatedExpert: the gated-linear-unit FFN of Shazeer 2020 ("GLU Variants Improve Transformer"),
// y = (f(x·W_gate) ⊙ (x·W_up))·W_out — SwiGLU with f = SiLU (LLaMA, Mixtral, DeepSeekMoE), GeGLU
// with f = GELU.
#include <string_view>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/detail/dropout.hpp"
#include "moerb/core/detail/workspace.hpp"
#include "moerb/experts/expert.hpp"
#include "moerb/kernels/activation.hpp"

namespace moerb {

/// Gated FFN expert with the gate activation `Gate` fixed by the type (see the aliases below).
///
/// W_gate and W_up are fused into one `d_model × 2·d_ff` parameter "w_gate_up" (columns
/// [0, d_ff) are W_gate, [d_ff, 2·d_ff) are W_up) so that the input projection is a single GEMM.
/// Parameters (weights act as x·W, the transpose of PyTorch's nn.Linear.weight):
/// - "w_gate_up" d_model × 2·d_ff, "b_gate_up" 1 × 2·d_ff   (biases only with Options::bias;
/// - "w_out"     d_ff × d_model,   "b_out"     1 × d_model    Shazeer's variants have none)
///
/// Expert dropout (training only) acts on the hidden units h = f(gate) ⊙ up, the input of W_out.
template <FloatingScalar S, Activation Gate>
class GatedExpert {
 public:
  using Scalar = S;
  static constexpr Activation gate_activation = Gate;

  struct Options {
    Index d_model = 0;  ///< input and output width
    Index d_ff = 0;     ///< hidden width (the fused projection has 2·d_ff columns)
    bool bias = false;
    double expert_dropout = 0.0;  ///< in [0, 1); applied to the hidden units in training only
  };

  explicit GatedExpert(const Options& options) : options_(validated(options)) {
    w_gate_up_.resize(options_.d_model, 2 * options_.d_ff);
    w_out_.resize(options_.d_ff, options_.d_model);
    if (options_.bias) {
      b_gate_up_.resize(1, 2 * options_.d_ff);
      b_out_.resize(1, options_.d_model);
    }
  }

  /// Number of scalar parameters of an expert with these options: 3·d·h (+ 2·h + d with biases).
  [[nodiscard]] static Index parameter_count(const Options& o) {
    return 3 * o.d_model * o.d_ff + (o.bias ? 2 * o.d_ff + o.d_model : 0);
  }

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] Index input_dim() const { return options_.d_model; }
  [[nodiscard]] Index output_dim() const { return options_.d_model; }
  [[nodiscard]] Index hidden_dim() const { return options_.d_ff; }
  [[nodiscard]] static constexpr Activation activation() { return Gate; }
  [[nodiscard]] double expert_dropout() const { return options_.expert_dropout; }
  /// Changes the expert-dropout rate (e.g. a higher rate for fine-tuning).
  void set_expert_dropout(double rate) {
    require_rate(rate, "GatedExpert::set_expert_dropout", "rate");
    options_.expert_dropout = rate;
  }
  /// 2 · multiply-adds of one token's forward: 6·d_model·d_ff (biases and activation not counted).
  [[nodiscard]] double flops_per_token() const {
    return 6.0 * static_cast<double>(options_.d_model) * static_cast<double>(options_.d_ff);
  }

  Parameter<S>& w_gate_up() { return w_gate_up_; }
  Parameter<S>& w_out() { return w_out_; }
  /// 0 × 0 when Options::bias is false.
  Parameter<S>& b_gate_up() { return b_gate_up_; }
  Parameter<S>& b_out() { return b_out_; }
  const Parameter<S>& w_gate_up() const { return w_gate_up_; }
  const Parameter<S>& w_out() const { return w_out_; }
  const Parameter<S>& b_gate_up() const { return b_gate_up_; }
  const Parameter<S>& b_out() const { return b_out_; }
  /// Views of the two halves of the fused weight (d_model × d_ff each), e.g. to load checkpoints
  /// that store W_gate and W_up separately.
  auto w_gate() { return w_gate_up_.value.leftCols(options_.d_ff); }
  auto w_up() { return w_gate_up_.value.rightCols(options_.d_ff); }

  /// PyTorch nn.Linear's default: U(−1/√fan_in, 1/√fan_in) with fan_in = d_model for the fused
  /// projection (as two separate nn.Linear(d_model, d_ff) would have) and d_ff for w_out; draws in
  /// the order w_gate_up, b_gate_up, w_out, b_out.
  void initialize(Rng& rng) {
    w_gate_up_.init_uniform_fan_in(rng, options_.d_model);
    if (options_.bias) b_gate_up_.init_uniform_fan_in(rng, options_.d_model);
    w_out_.init_uniform_fan_in(rng, options_.d_ff);
    if (options_.bias) b_out_.init_uniform_fan_in(rng, options_.d_ff);
  }

  /// out (n × d_model, preallocated) = GLU-FFN(in) for in (n × d_model). Keeps the projections,
  /// hidden units and dropout mask for backward.
  void forward(MatrixCRef<S> in, MatrixRef<S> out, const ForwardContext& ctx) {
    constexpr std::string_view where = "GatedExpert::forward";
    const Index n = in.rows();
    const Index d = options_.d_model;
    const Index h = options_.d_ff;
    require_cols(in, d, where, "in");
    require_shape(out, n, d, where, "out");
    detail::require_all_finite(in, where, "in");
    rows_ = n;
    dropout_active_ = ctx.training && options_.expert_dropout > 0.0;
    if (n == 0) return;
    auto gate_up = gate_up_.rows(n, 2 * h);
    auto hidden = hidden_.rows(n, h);
    gate_up.noalias() = in * w_gate_up_.value;  // one GEMM for both projections
    if (dropout_active_) {
      detail::fill_dropout_mask<S>(mask_.rows(n, h), options_.expert_dropout, ctx.rng);
    }
    auto mask = mask_.view(dropout_active_ ? n : 0);
    const bool bias = options_.bias;
    detail::for_each_row(n, h * 16, [&](Index r) {
      if (bias) gate_up.row(r) += b_gate_up_.value.row(0);
      const S* g = gate_up.row(r).data();
      kernels::glu(Gate, g, g + h, hidden.row(r).data(), h);
      if (dropout_active_) hidden.row(r).array() *= mask.row(r).array();
    });
    out.noalias() = hidden * w_out_.value;
    if (bias) out.rowwise() += b_out_.value.row(0);
  }

  /// For the `in` of the last forward and d_out = ∂L/∂out (n × d_model): overwrites d_in
  /// (n × d_model) with ∂L/∂in and accumulates the gradients of the parameters that are not frozen.
  void backward(MatrixCRef<S> in, MatrixCRef<S> d_out, MatrixRef<S> d_in) {
    constexpr std::string_view where = "GatedExpert::backward";
    MOERB_REQUIRE(rows_ >= 0, where, ": called before forward");
    const Index n = rows_;
    const Index d = options_.d_model;
    const Index h = options_.d_ff;
    require_shape(in, n, d, where, "in");
    require_shape(d_out, n, d, where, "d_out");
    require_shape(d_in, n, d, where, "d_in");
    if (n == 0) return;
    auto gate_up = gate_up_.view(n);
    auto hidden = hidden_.view(n);
    auto mask = mask_.view(dropout_active_ ? n : 0);
    if (!w_out_.frozen) w_out_.grad.noalias() += hidden.transpose() * d_out;
    if (options_.bias && !b_out_.frozen) b_out_.grad.row(0) += d_out.colwise().sum();
    auto d_hidden = d_hidden_.rows(n, h);
    auto d_gate_up = d_gate_up_.rows(n, 2 * h);
    d_hidden.noalias() = d_out * w_out_.value.transpose();
    detail::for_each_row(n, h * 24, [&](Index r) {
      if (dropout_active_) d_hidden.row(r).array() *= mask.row(r).array();
      const S* g = gate_up.row(r).data();
      S* dg = d_gate_up.row(r).data();
      kernels::glu_backward(Gate, g, g + h, d_hidden.row(r).data(), dg, dg + h, h);
    });
    if (!w_gate_up_.frozen) w_gate_up_.grad.noalias() += in.transpose() * d_gate_up;
    if (options_.bias && !b_gate_up_.frozen) b_gate_up_.grad.row(0) += d_gate_up.colwise().sum();
    d_in.noalias() = d_gate_up * w_gate_up_.value.transpose();
  }

  /// Visits "w_gate_up", "b_gate_up", "w_out", "b_out" (biases only with Options::bias).
  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    visitor(std::string_view(join_name(prefix, "w_gate_up")), w_gate_up_);
    if (options_.bias) visitor(std::string_view(join_name(prefix, "b_gate_up")), b_gate_up_);
    visitor(std::string_view(join_name(prefix, "w_out")), w_out_);
    if (options_.bias) visitor(std::string_view(join_name(prefix, "b_out")), b_out_);
  }

 private:
  static Options validated(const Options& o) {
    constexpr std::string_view where = "GatedExpert";
    require_positive(o.d_model, where, "Options::d_model");
    require_positive(o.d_ff, where, "Options::d_ff");
    require_rate(o.expert_dropout, where, "Options::expert_dropout");
    return o;
  }

  Options options_;
  Parameter<S> w_gate_up_, b_gate_up_, w_out_, b_out_;
  // Per-forward state (first rows_ rows of each buffer), kept for backward.
  detail::RowBuffer<S> gate_up_, hidden_, mask_, d_hidden_, d_gate_up_;
  Index rows_ = -1;
  bool dropout_active_ = false;
};

/// SwiGLU expert (Shazeer 2020): f = SiLU.
template <FloatingScalar S>
using SwiGLUExpert = GatedExpert<S, Activation::silu>;
/// GeGLU expert (Shazeer 2020): f = GELU (exact erf form).
template <FloatingScalar S>
using GeGLUExpert = GatedExpert<S, Activation::gelu_erf>;
/// ReGLU expert (Shazeer 2020): f = ReLU.
template <FloatingScalar S>
using ReGLUExpert = GatedExpert<S, Activation::relu>;

static_assert(Expert<SwiGLUExpert<float>> && Expert<GeGLUExpert<double>>,
              "GatedExpert must satisfy moerb::Expert");

}  // namespace moerb
