#pragma once
// LearnedPositionEmbedding<S>: one trained vector per position, added to the token embeddings
// (learned absolute positions: Gehring et al. 2017, "Convolutional Sequence to Sequence
// Learning"; used by BERT, Devlin et al. 2019, and GPT-2, Radford et al. 2019).
//
// Sequences are packed (moerb/nn/sequence_batch.hpp), so the position of a row is its index within
// its own sequence, restarting at 0 for every sequence: no padding, no position ids to pass.
#include <string_view>

#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/nn/embedding.hpp"
#include "moerb/nn/sequence_batch.hpp"

namespace moerb {

/// Learned absolute position embeddings for packed batches.
///
/// Parameter "weight": max_positions × d_model; row p is position p's vector.
template <FloatingScalar S>
class LearnedPositionEmbedding {
 public:
  using Scalar = S;

  struct Options {
    Index max_positions = 0;  ///< longest sequence the table covers
    Index d_model = 0;
    /// N(0, init_std²) initialisation, 0.02 as GPT-2's and BERT's position tables (see
    /// TokenEmbedding::Options::init_std).
    double init_std = 0.02;
  };

  explicit LearnedPositionEmbedding(const Options& options) : options_(validated(options)) {
    weight_.resize(options_.max_positions, options_.d_model);
  }

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] Index max_positions() const { return options_.max_positions; }
  [[nodiscard]] Index d_model() const { return options_.d_model; }

  Parameter<S>& weight() { return weight_; }
  const Parameter<S>& weight() const { return weight_; }

  /// Every entry N(0, init_std²), drawn row by row.
  void initialize(Rng& rng) {
    for (Index i = 0; i < weight_.value.size(); ++i) {
      weight_.value.data()[i] = static_cast<S>(rng.normal(0.0, options_.init_std));
    }
  }

  /// Visits "weight" under `prefix`.
  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    visitor(std::string_view(join_name(prefix, "weight")), weight_);
  }

  /// The position vectors of every token of `batch` (tokens × d_model, a member valid until the
  /// next forward): row begin(b) + p is weight.row(p). Throws moerb::error naming the sequence when
  /// one is longer than max_positions.
  const Matrix<S>& forward(const SequenceBatch& batch) {
    require_lengths(batch, "LearnedPositionEmbedding::forward");
    out_.resize(batch.num_tokens(), options_.d_model);
    for (Index b = 0; b < batch.num_sequences(); ++b) {
      const Index len = batch.length(b);
      out_.middleRows(batch.begin(b), len) = weight_.value.topRows(len);
    }
    return out_;
  }

  /// Accumulates d_out = ∂L/∂(forward(batch)) (tokens × d_model) into weight.grad: position p
  /// gains the sum of the d_out rows at position p of every sequence, sequence by sequence (a fixed
  /// order). Nothing is accumulated when the table is frozen (the checks still run).
  void backward(const SequenceBatch& batch, const Matrix<S>& d_out) {
    constexpr std::string_view where = "LearnedPositionEmbedding::backward";
    require_lengths(batch, where);
    require_shape(d_out, batch.num_tokens(), options_.d_model, where, "d_out");
    require_finite(d_out, where, "d_out");
    if (weight_.frozen) return;
    for (Index b = 0; b < batch.num_sequences(); ++b) {
      const Index len = batch.length(b);
      weight_.grad.topRows(len) += d_out.middleRows(batch.begin(b), len);
    }
  }

  [[nodiscard]] const Matrix<S>& output() const { return out_; }

 private:
  static Options validated(const Options& o) {
    constexpr std::string_view where = "LearnedPositionEmbedding";
    require_positive(o.max_positions, where, "Options::max_positions");
    require_positive(o.d_model, where, "Options::d_model");
    detail::require_init_std(o.init_std, where);
    return o;
  }

  void require_lengths(const SequenceBatch& batch, std::string_view where) const {
    for (Index b = 0; b < batch.num_sequences(); ++b) {
      MOERB_REQUIRE(batch.length(b) <= options_.max_positions, where, ": sequence ", b, " has ",
              batch.length(b),
              " tokens, more than Options::max_positions = ", options_.max_positions);
    }
  }

  Options options_;
  Parameter<S> weight_;
  Matrix<S> out_;
};

}  // namespace moerb
