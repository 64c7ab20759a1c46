#pragma once
// ClassificationHead<S>: logits over num_classes for pooled (or per-token) vectors.
//
// Two shapes: one linear layer (hidden = 0), or BERT's pooler + classifier (Devlin et al. 2019,
// §3 / Fig. 1: the [CLS] vector through a dense layer with tanh, then a linear classifier),
// logits = tanh(x·W_dense + b_dense)·W_out + b_out. Dropout (Srivastava et al. 2014) acts on the
// head's input during training, as the first dropout of RoBERTa's classification head.
#include <string_view>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/detail/dropout.hpp"
#include "moerb/nn/linear.hpp"

namespace moerb {

/// Classification head on `rows × d_model` inputs (rows = sequences after SequencePooling, or
/// tokens for token classification).
///
/// Parameters (x·W convention, see Linear):
/// - "dense.weight" d_model × hidden, "dense.bias" 1 × hidden   (only with hidden > 0)
/// - "out.weight"   in × num_classes, "out.bias" 1 × num_classes (in = hidden, or d_model)
///
/// Dropout draws its mask from `ctx.rng` directly (row r from ctx.rng.split(r)); the model hands
/// the head its own split stream, so a given stream always drops the same units.
template <FloatingScalar S>
class ClassificationHead {
 public:
  using Scalar = S;

  struct Options {
    Index d_model = 0;      ///< input width
    Index num_classes = 0;  ///< >= 2
    /// 0: logits = x·W_out + b_out. > 0: the BERT-style tanh layer of this width comes first.
    Index hidden = 0;
    /// Inverted dropout on the input in training (rate in [0, 1)); identity in evaluation.
    double dropout = 0.0;
  };

  explicit ClassificationHead(const Options& options)
      : options_(validated(options)),
        dense_({.in_features = options_.d_model,
                .out_features = options_.hidden > 0 ? options_.hidden : 1}),
        out_({.in_features = options_.hidden > 0 ? options_.hidden : options_.d_model,
              .out_features = options_.num_classes}) {}

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] Index d_model() const { return options_.d_model; }
  [[nodiscard]] Index num_classes() const { return options_.num_classes; }
  [[nodiscard]] bool has_hidden() const { return options_.hidden > 0; }

  /// The tanh layer's Linear (meaningful only with hidden > 0; otherwise unused and unvisited).
  Linear<S>& dense() { return dense_; }
  const Linear<S>& dense() const { return dense_; }
  /// The output Linear.
  Linear<S>& out() { return out_; }
  const Linear<S>& out() const { return out_; }

  /// PyTorch nn.Linear's default for each layer (see Linear::initialize): dense first (when
  /// present), then out.
  void initialize(Rng& rng) {
    if (has_hidden()) dense_.initialize(rng);
    out_.initialize(rng);
  }

  /// Visits "dense.weight", "dense.bias" (with hidden > 0), "out.weight", "out.bias" under prefix.
  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    if (has_hidden()) dense_.visit_parameters(visitor, join_name(prefix, "dense"));
    out_.visit_parameters(visitor, join_name(prefix, "out"));
  }

  /// Logits (rows × num_classes, a member valid until the next forward) for x (rows × d_model).
  /// Keeps the dropout mask and the tanh outputs for backward.
  const Matrix<S>& forward(const Matrix<S>& x, const ForwardContext& ctx) {
    constexpr std::string_view where = "ClassificationHead::forward";
    require_cols(x, options_.d_model, where, "x");
    require_finite(x, where, "x");
    has_forward_ = false;
    dropout_active_ = ctx.training && options_.dropout > 0.0;
    const Matrix<S>* in = &x;
    if (dropout_active_) {
      mask_.resize(x.rows(), x.cols());
      detail::fill_dropout_mask<S>(mask_, options_.dropout, ctx.rng);
      dropped_.resize(x.rows(), x.cols());
      dropped_ = x.cwiseProduct(mask_);
      in = &dropped_;
    }
    rows_ = x.rows();
    has_forward_ = true;
    if (!has_hidden()) return out_.forward(*in, ctx);
    hidden_.resize(x.rows(), options_.hidden);
    hidden_ = dense_.forward(*in, ctx).array().tanh();
    return out_.forward(hidden_, ctx);
  }

  /// ∂L/∂x (rows × d_model, a member valid until the next backward) for the x of the last forward
  /// and dy = ∂L/∂logits (rows × num_classes); accumulates the gradients of the parameters that
  /// are not frozen. tanh' = 1 − tanh², from the kept outputs.
  const Matrix<S>& backward(const Matrix<S>& x, const Matrix<S>& dy) {
    constexpr std::string_view where = "ClassificationHead::backward";
    MOERB_REQUIRE(has_forward_, where, ": called before forward");
    require_shape(x, rows_, options_.d_model, where, "x");
    require_shape(dy, rows_, options_.num_classes, where, "dy");
    require_finite(dy, where, "dy");
    const Matrix<S>& in = dropout_active_ ? dropped_ : x;
    const Matrix<S>* d_in = nullptr;
    if (has_hidden()) {
      const Matrix<S>& d_hidden = out_.backward(hidden_, dy);
      d_pre_.resize(rows_, options_.hidden);
      d_pre_.array() = d_hidden.array() * (S(1) - hidden_.array().square());
      d_in = &dense_.backward(in, d_pre_);
    } else {
      d_in = &out_.backward(in, dy);
    }
    if (!dropout_active_) return *d_in;
    dx_.resize(rows_, options_.d_model);
    dx_ = d_in->cwiseProduct(mask_);
    return dx_;
  }

  [[nodiscard]] const Matrix<S>& output() const { return out_.output(); }

 private:
  static Options validated(const Options& o) {
    constexpr std::string_view where = "ClassificationHead";
    require_positive(o.d_model, where, "Options::d_model");
    MOERB_REQUIRE(o.num_classes >= 2, where, ": Options::num_classes = ", o.num_classes,
            ", expected >= 2");
    MOERB_REQUIRE(o.hidden >= 0, where, ": Options::hidden = ", o.hidden,
            ", expected >= 0 (0: no hidden layer)");
    require_rate(o.dropout, where, "Options::dropout");
    return o;
  }

  Options options_;
  Linear<S> dense_, out_;
  // Per-forward state kept for backward.
  Matrix<S> mask_, dropped_, hidden_, d_pre_, dx_;
  Index rows_ = 0;
  bool has_forward_ = false;
  bool dropout_active_ = false;
};

}  // namespace moerb
