#pragma once
// LMHead<S>: next-token logits over the vocabulary from the final hidden states.
//
// With tied weights (Press & Wolf 2017, "Using the Output Embedding to Improve Language Models";
// Inan et al. 2017) the output layer is the token embedding table E (vocab × d_model) itself,
// logits = x·Eᵀ, and the gradient of the logits flows into E's gradient next to the gradient of
// the input lookup. The head does not own E: the caller passes the TokenEmbedding's parameter to
// forward and backward, so a model copy always ties to its own table.
#include <string_view>

#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"

namespace moerb {

/// Language-model output layer on `tokens × d_model` hidden states.
///
/// Parameters:
/// - "weight" d_model × vocab_size (x·W convention; only untied; tied heads read the embedding's
///   vocab_size × d_model "weight", which the embedding visits)
/// - "bias"   1 × vocab_size (only with Options::bias)
template <FloatingScalar S>
class LMHead {
 public:
  using Scalar = S;

  struct Options {
    Index d_model = 0;
    Index vocab_size = 0;
    /// Use the token embedding table as the output weight (passed to forward/backward).
    bool tied = true;
    /// Add a learned 1 × vocab_size bias (GPT-2 and most tied models have none).
    bool bias = false;
  };

  explicit LMHead(const Options& options) : options_(validated(options)) {
    if (!options_.tied) weight_.resize(options_.d_model, options_.vocab_size);
    if (options_.bias) bias_.resize(1, options_.vocab_size);
  }

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] Index d_model() const { return options_.d_model; }
  [[nodiscard]] Index vocab_size() const { return options_.vocab_size; }
  [[nodiscard]] bool tied() const { return options_.tied; }

  /// d_model × vocab_size when untied, 0 × 0 when tied.
  Parameter<S>& weight() { return weight_; }
  const Parameter<S>& weight() const { return weight_; }
  /// 1 × vocab_size with Options::bias, 0 × 0 otherwise.
  Parameter<S>& bias() { return bias_; }
  const Parameter<S>& bias() const { return bias_; }

  /// PyTorch nn.Linear's default for the head's own tensors: U(−1/√d_model, 1/√d_model) for the
  /// untied weight and the bias (weight first). A tied head initialises nothing: E belongs to
  /// the embedding.
  void initialize(Rng& rng) {
    if (!options_.tied) weight_.init_uniform_fan_in(rng, options_.d_model);
    if (options_.bias) bias_.init_uniform_fan_in(rng, options_.d_model);
  }

  /// Visits "weight" (untied only) and "bias" (with Options::bias) under `prefix`.
  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    if (!options_.tied) visitor(std::string_view(join_name(prefix, "weight")), weight_);
    if (options_.bias) visitor(std::string_view(join_name(prefix, "bias")), bias_);
  }

  /// Logits (tokens × vocab_size, a member valid until the next forward) for x (tokens × d_model):
  /// x·Eᵀ (+ b) when tied, with E = tied_weight->value (vocab_size × d_model); x·W (+ b) when
  /// untied. tied_weight must be non-null exactly when the head is tied.
  const Matrix<S>& forward(const Matrix<S>& x, const Parameter<S>* tied_weight) {
    constexpr std::string_view where = "LMHead::forward";
    require_tied_weight(tied_weight, where);
    require_cols(x, options_.d_model, where, "x");
    require_finite(x, where, "x");
    logits_.resize(x.rows(), options_.vocab_size);
    if (options_.tied) {
      logits_.noalias() = x * tied_weight->value.transpose();
    } else {
      logits_.noalias() = x * weight_.value;
    }
    if (options_.bias) logits_.rowwise() += bias_.value.row(0);
    return logits_;
  }

  /// ∂L/∂x (tokens × d_model, a member valid until the next backward) for x and
  /// dy = ∂L/∂logits (tokens × vocab_size): dy·E when tied, dy·Wᵀ when untied. Accumulates
  /// ∂L/∂E = dyᵀ·x into tied_weight->grad (tied, unless that parameter is frozen), ∂L/∂W = xᵀ·dy
  /// (untied, unless frozen) and ∂L/∂b = Σ_rows dy (unless frozen).
  const Matrix<S>& backward(const Matrix<S>& x, const Matrix<S>& dy, Parameter<S>* tied_weight) {
    constexpr std::string_view where = "LMHead::backward";
    require_tied_weight(tied_weight, where);
    require_cols(x, options_.d_model, where, "x");
    require_shape(dy, x.rows(), options_.vocab_size, where, "dy");
    require_finite(dy, where, "dy");
    dx_.resize(x.rows(), options_.d_model);
    if (options_.tied) {
      if (!tied_weight->frozen) tied_weight->grad.noalias() += dy.transpose() * x;
      dx_.noalias() = dy * tied_weight->value;
    } else {
      if (!weight_.frozen) weight_.grad.noalias() += x.transpose() * dy;
      dx_.noalias() = dy * weight_.value.transpose();
    }
    if (options_.bias && !bias_.frozen) bias_.grad.row(0) += dy.colwise().sum();
    return dx_;
  }

  [[nodiscard]] const Matrix<S>& output() const { return logits_; }
  [[nodiscard]] const Matrix<S>& input_grad() const { return dx_; }

 private:
  static Options validated(const Options& o) {
    constexpr std::string_view where = "LMHead";
    require_positive(o.d_model, where, "Options::d_model");
    require_positive(o.vocab_size, where, "Options::vocab_size");
    return o;
  }

  /// Null iff untied; when tied, value and grad must be vocab_size × d_model.
  void require_tied_weight(const Parameter<S>* tied_weight, std::string_view where) const {
    if (!options_.tied) {
      MOERB_REQUIRE(tied_weight == nullptr, where,
              ": tied_weight given but the head is untied (Options::tied = false); pass nullptr");
      return;
    }
    MOERB_REQUIRE(tied_weight != nullptr, where,
            ": the head is tied (Options::tied = true) but tied_weight is null; pass the token "
            "embedding's weight");
    require_shape(tied_weight->value, options_.vocab_size, options_.d_model, where,
                  "tied_weight->value");
    require_shape(tied_weight->grad, options_.vocab_size, options_.d_model, where,
                  "tied_weight->grad");
  }

  Options options_;
  Parameter<S> weight_, bias_;
  Matrix<S> logits_, dx_;
};

}  // namespace moerb
