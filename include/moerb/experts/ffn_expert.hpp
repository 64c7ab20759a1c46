#pragma once
// FFNExpert: the Transformer's two-layer feed-forward block, y = f(x·W_in + b_in)·W_out + b_out
// (Vaswani et al. 2017), used as an MoE expert (Shazeer et al. 2017; Fedus et al. 2021) and as
// the dense FFN.
#include <string_view>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/detail/dropout.hpp"
#include "moerb/core/detail/workspace.hpp"
#include "moerb/experts/expert.hpp"
#include "moerb/kernels/activation.hpp"

namespace moerb {

/// Two-layer FFN expert on row-major `tokens × d_model` blocks.
///
/// Parameters (weights act as x·W, i.e. the transpose of PyTorch's nn.Linear.weight):
/// - "w_in"  d_model × d_ff,  "b_in"  1 × d_ff     (biases only with Options::bias)
/// - "w_out" d_ff × d_model,  "b_out" 1 × d_model
///
/// Expert dropout (training only) zeroes each hidden unit f(x·W_in + b_in) with probability
/// `expert_dropout` and scales the kept ones by 1 / (1 − rate), drawing from `ctx.rng` (the MoE
/// layer hands every expert its own split stream).
template <FloatingScalar S>
class FFNExpert {
 public:
  using Scalar = S;

  struct Options {
    Index d_model = 0;  ///< input and output width
    Index d_ff = 0;     ///< hidden width
    Activation activation = Activation::gelu_erf;
    bool bias = true;
    double expert_dropout = 0.0;  ///< in [0, 1); applied to the hidden units in training only
  };

  explicit FFNExpert(const Options& options) : options_(validated(options)) {
    w_in_.resize(options_.d_model, options_.d_ff);
    w_out_.resize(options_.d_ff, options_.d_model);
    if (options_.bias) {
      b_in_.resize(1, options_.d_ff);
      b_out_.resize(1, options_.d_model);
    }
  }

  /// Number of scalar parameters of an expert with these options: 2·d·h (+ h + d with biases).
  [[nodiscard]] static Index parameter_count(const Options& o) {
    return 2 * o.d_model * o.d_ff + (o.bias ? o.d_ff + o.d_model : 0);
  }

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] Index input_dim() const { return options_.d_model; }
  [[nodiscard]] Index output_dim() const { return options_.d_model; }
  [[nodiscard]] Index hidden_dim() const { return options_.d_ff; }
  [[nodiscard]] Activation activation() const { return options_.activation; }
  [[nodiscard]] double expert_dropout() const { return options_.expert_dropout; }
  /// Changes the expert-dropout rate (e.g. a higher rate for fine-tuning).
  void set_expert_dropout(double rate) {
    require_rate(rate, "FFNExpert::set_expert_dropout", "rate");
    options_.expert_dropout = rate;
  }
  /// 2 · multiply-adds of one token's forward: 4·d_model·d_ff (biases and activation not counted).
  [[nodiscard]] double flops_per_token() const {
    return 4.0 * static_cast<double>(options_.d_model) * static_cast<double>(options_.d_ff);
  }

  Parameter<S>& w_in() { return w_in_; }
  Parameter<S>& w_out() { return w_out_; }
  /// 0 × 0 when Options::bias is false.
  Parameter<S>& b_in() { return b_in_; }
  Parameter<S>& b_out() { return b_out_; }
  const Parameter<S>& w_in() const { return w_in_; }
  const Parameter<S>& w_out() const { return w_out_; }
  const Parameter<S>& b_in() const { return b_in_; }
  const Parameter<S>& b_out() const { return b_out_; }

  /// PyTorch nn.Linear's default: every tensor U(−1/√fan_in, 1/√fan_in), fan_in = d_model for
  /// w_in/b_in and d_ff for w_out/b_out; draws in the order w_in, b_in, w_out, b_out.
  void initialize(Rng& rng) {
    w_in_.init_uniform_fan_in(rng, options_.d_model);
    if (options_.bias) b_in_.init_uniform_fan_in(rng, options_.d_model);
    w_out_.init_uniform_fan_in(rng, options_.d_ff);
    if (options_.bias) b_out_.init_uniform_fan_in(rng, options_.d_ff);
  }

  /// out (n × d_model, preallocated) = FFN(in) for in (n × d_model). Keeps the pre-activations,
  /// hidden units and dropout mask for backward.
  void forward(MatrixCRef<S> in, MatrixRef<S> out, const ForwardContext& ctx) {
    constexpr std::string_view where = "FFNExpert::forward";
    const Index n = in.rows();
    const Index d = options_.d_model;
    const Index h = options_.d_ff;
    require_cols(in, d, where, "in");
    require_shape(out, n, d, where, "out");
    detail::require_all_finite(in, where, "in");
    rows_ = n;
    dropout_active_ = ctx.training && options_.expert_dropout > 0.0;
    if (n == 0) return;
    auto pre = pre_.rows(n, h);
    auto hidden = hidden_.rows(n, h);
    pre.noalias() = in * w_in_.value;
    if (dropout_active_)
      detail::fill_dropout_mask<S>(mask_.rows(n, h), options_.expert_dropout, ctx.rng);
    auto mask = mask_.view(dropout_active_ ? n : 0);
    const bool bias = options_.bias;
    const Activation f = options_.activation;
    detail::for_each_row(n, h * 16, [&](Index r) {
      if (bias) pre.row(r) += b_in_.value.row(0);
      kernels::activate(f, pre.row(r).data(), hidden.row(r).data(), h);
      if (dropout_active_) hidden.row(r).array() *= mask.row(r).array();
    });
    out.noalias() = hidden * w_out_.value;
    if (bias) out.rowwise() += b_out_.value.row(0);
  }

  /// For the `in` of the last forward and d_out = ∂L/∂out (n × d_model): overwrites d_in
  /// (n × d_model) with ∂L/∂in and accumulates the gradients of the parameters that are not frozen.
  void backward(MatrixCRef<S> in, MatrixCRef<S> d_out, MatrixRef<S> d_in) {
    constexpr std::string_view where = "FFNExpert::backward";
    MOERB_REQUIRE(rows_ >= 0, where, ": called before forward");
    const Index n = rows_;
    const Index d = options_.d_model;
    const Index h = options_.d_ff;
    require_shape(in, n, d, where, "in");
    require_shape(d_out, n, d, where, "d_out");
    require_shape(d_in, n, d, where, "d_in");
    if (n == 0) return;
    auto pre = pre_.view(n);
    auto hidden = hidden_.view(n);
    auto mask = mask_.view(dropout_active_ ? n : 0);
    if (!w_out_.frozen) w_out_.grad.noalias() += hidden.transpose() * d_out;
    if (options_.bias && !b_out_.frozen) b_out_.grad.row(0) += d_out.colwise().sum();
    auto d_hidden = d_hidden_.rows(n, h);
    d_hidden.noalias() = d_out * w_out_.value.transpose();
    const Activation f = options_.activation;
    detail::for_each_row(n, h * 16, [&](Index r) {
      if (dropout_active_) d_hidden.row(r).array() *= mask.row(r).array();
      kernels::activate_backward(f, pre.row(r).data(), d_hidden.row(r).data(),
                                 d_hidden.row(r).data(), h);
    });
    if (!w_in_.frozen) w_in_.grad.noalias() += in.transpose() * d_hidden;
    if (options_.bias && !b_in_.frozen) b_in_.grad.row(0) += d_hidden.colwise().sum();
    d_in.noalias() = d_hidden * w_in_.value.transpose();
  }

  /// Visits "w_in", "b_in", "w_out", "b_out" (biases only with Options::bias) under `prefix`.
  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    visitor(std::string_view(join_name(prefix, "w_in")), w_in_);
    if (options_.bias) visitor(std::string_view(join_name(prefix, "b_in")), b_in_);
    visitor(std::string_view(join_name(prefix, "w_out")), w_out_);
    if (options_.bias) visitor(std::string_view(join_name(prefix, "b_out")), b_out_);
  }

 private:
  static Options validated(const Options& o) {
    constexpr std::string_view where = "FFNExpert";
    require_positive(o.d_model, where, "Options::d_model");
    require_positive(o.d_ff, where, "Options::d_ff");
    require_rate(o.expert_dropout, where, "Options::expert_dropout");
    return o;
  }

  Options options_;
  Parameter<S> w_in_, b_in_, w_out_, b_out_;
  // Per-forward state (first rows_ rows of each buffer), kept for backward.
  detail::RowBuffer<S> pre_, hidden_, mask_, d_hidden_;
  Index rows_ = -1;
  bool dropout_active_ = false;
};

static_assert(Expert<FFNExpert<float>> && Expert<FFNExpert<double>>,
              "FFNExpert must satisfy moerb::Expert");

}  // namespace moerb
