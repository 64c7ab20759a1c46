#pragma once
// SequencePooling<S>: one vector per sequence of a packed batch, for sequence-level heads
// (classification, retrieval).
//
// Pooling::first takes the sequence's first token, the [CLS] vector of BERT (Devlin et al. 2019);
// Pooling::mean averages all its tokens, as Sentence-BERT (Reimers & Gurevych 2019) does. Packed
// sequences (moerb/nn/sequence_batch.hpp) have no padding, so the mean needs no mask.
#include <string_view>

#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/nn/sequence_batch.hpp"

namespace moerb {

enum class Pooling {
  mean,   ///< average of the sequence's token vectors
  first,  ///< the sequence's first token vector ([CLS])
};

/// Pools a packed `tokens × d` activation to `num_sequences × d`. Has no parameters.
template <FloatingScalar S>
class SequencePooling {
 public:
  using Scalar = S;

  struct Options {
    Pooling pooling = Pooling::mean;
  };

  explicit SequencePooling(const Options& options = {}) : options_(validated(options)) {}

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] Pooling pooling() const { return options_.pooling; }

  /// Nothing to initialise.
  void initialize(Rng&) {}

  /// No parameters: visits nothing (kept so that models treat every block alike).
  template <class Visitor>
  void visit_parameters(Visitor&&, std::string_view) {}

  /// y (num_sequences × d, a member valid until the next forward) for x (tokens × d) laid out
  /// by `batch`: y.row(b) is the mean of rows [begin(b), end(b)) of x, or row begin(b).
  const Matrix<S>& forward(const Matrix<S>& x, const SequenceBatch& batch) {
    constexpr std::string_view where = "SequencePooling::forward";
    batch.require_rows(x.rows(), where);
    require_finite(x, where, "x");
    cols_ = x.cols();
    y_.resize(batch.num_sequences(), cols_);
    for (Index b = 0; b < batch.num_sequences(); ++b) {
      if (options_.pooling == Pooling::first) {
        y_.row(b) = x.row(batch.begin(b));
      } else {
        y_.row(b) = x.middleRows(batch.begin(b), batch.length(b)).colwise().sum() /
                    static_cast<S>(batch.length(b));
      }
    }
    return y_;
  }

  /// ∂L/∂x (tokens × d, a member valid until the next backward) for dy = ∂L/∂y
  /// (num_sequences × d): dy.row(b) / length(b) on every token of sequence b (mean), or dy.row(b)
  /// on its first token and 0 elsewhere (first). d is the width of the last forward.
  const Matrix<S>& backward(const SequenceBatch& batch, const Matrix<S>& dy) {
    constexpr std::string_view where = "SequencePooling::backward";
    MOERB_REQUIRE(cols_ >= 0, where, ": called before forward");
    require_shape(dy, batch.num_sequences(), cols_, where, "dy");
    require_finite(dy, where, "dy");
    dx_.resize(batch.num_tokens(), cols_);
    if (options_.pooling == Pooling::first) dx_.setZero();
    for (Index b = 0; b < batch.num_sequences(); ++b) {
      if (options_.pooling == Pooling::first) {
        dx_.row(batch.begin(b)) = dy.row(b);
      } else {
        const Index len = batch.length(b);
        dx_.middleRows(batch.begin(b), len).rowwise() = dy.row(b) / static_cast<S>(len);
      }
    }
    return dx_;
  }

  [[nodiscard]] const Matrix<S>& output() const { return y_; }
  [[nodiscard]] const Matrix<S>& input_grad() const { return dx_; }

 private:
  static Options validated(const Options& o) {
    MOERB_REQUIRE(o.pooling == Pooling::mean || o.pooling == Pooling::first,
            "SequencePooling: Options::pooling = ", static_cast<int>(o.pooling),
            ", expected Pooling::mean or Pooling::first");
    return o;
  }

  Options options_;
  Index cols_ = -1;  ///< width of the last forward's x (-1 before the first)
  Matrix<S> y_, dx_;
};

}  // namespace moerb
