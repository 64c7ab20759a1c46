#pragma once
// TokenEmbedding<S>: the lookup table that maps token ids to d_model-wide vectors.
//
// Embedding-space attacks and adversarial training (Miyato et al. 2017, "Adversarial Training
// Methods for Semi-Supervised Text Classification"; Ebrahimi et al. 2018, "HotFlip"; Schwinn et al.
// 2024, "Soft Prompt Threats") need ∂L/∂(embedding output), not ∂L/∂(table): the model exposes that
// gradient (the d_out it hands to this layer's backward), and HotFlip's first-order score of
// swapping token i for token v is d_out.row(i)·(E.row(v) − E.row(ids[i])). This layer's backward
// therefore needs only d_out; it turns it into the table's gradient.
#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>

#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"

namespace moerb {

namespace detail {

/// Throws moerb::error naming the first id outside [0, vocab_size) by its position.
inline void require_token_ids(std::span<const std::int32_t> ids, Index vocab_size,
                              std::string_view where) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size) {
      throw error(detail::concat(where, ": ids[", i, "] = ", ids[i], ", expected in [0, ",
                                 vocab_size, ")"));
    }
  }
}

/// Embedding tables are initialised N(0, init_std²); init_std must be finite and >= 0.
inline void require_init_std(double init_std, std::string_view where) {
  MOERB_REQUIRE(std::isfinite(init_std) && init_std >= 0.0, where, ": Options::init_std = ", init_std,
          ", expected a finite value >= 0");
}

}  // namespace detail

/// Token embedding table.
///
/// Parameter "weight": vocab_size × d_model; row v is token v's vector. An LMHead with tied weights
/// (Press & Wolf 2017) reads the same table and accumulates its gradient into this parameter.
template <FloatingScalar S>
class TokenEmbedding {
 public:
  using Scalar = S;

  struct Options {
    Index vocab_size = 0;
    Index d_model = 0;
    /// Standard deviation of the N(0, init_std²) initialisation. 0.02 is GPT's (Radford et al.
    /// 2018, §4.1: "a simple weight initialization of N(0, 0.02)"), kept by GPT-2 and BERT
    /// (initializer_range = 0.02); PyTorch's nn.Embedding default N(0, 1) is far too large for a
    /// table that is tied to the output layer.
    double init_std = 0.02;
  };

  explicit TokenEmbedding(const Options& options) : options_(validated(options)) {
    weight_.resize(options_.vocab_size, options_.d_model);
  }

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] Index vocab_size() const { return options_.vocab_size; }
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

  /// The rows of the table for `ids` (tokens × d_model, a member valid until the next forward).
  /// Throws moerb::error naming the position and value of an id outside [0, vocab_size).
  const Matrix<S>& forward(std::span<const std::int32_t> ids) {
    detail::require_token_ids(ids, options_.vocab_size, "TokenEmbedding::forward");
    const auto n = static_cast<Index>(ids.size());
    out_.resize(n, options_.d_model);
    for (Index i = 0; i < n; ++i) out_.row(i) = weight_.value.row(ids[static_cast<std::size_t>(i)]);
    return out_;
  }

  /// Accumulates d_out = ∂L/∂(forward(ids)) (tokens × d_model) into weight.grad: row ids[i] gains
  /// d_out.row(i), in the order of i, so repeated ids sum deterministically. Nothing is
  /// accumulated when the table is frozen (the checks still run).
  void backward(std::span<const std::int32_t> ids, const Matrix<S>& d_out) {
    constexpr std::string_view where = "TokenEmbedding::backward";
    detail::require_token_ids(ids, options_.vocab_size, where);
    require_shape(d_out, static_cast<Index>(ids.size()), options_.d_model, where, "d_out");
    require_finite(d_out, where, "d_out");
    if (weight_.frozen) return;
    for (Index i = 0; i < d_out.rows(); ++i) {
      weight_.grad.row(ids[static_cast<std::size_t>(i)]) += d_out.row(i);
    }
  }

  [[nodiscard]] const Matrix<S>& output() const { return out_; }

 private:
  static Options validated(const Options& o) {
    constexpr std::string_view where = "TokenEmbedding";
    require_positive(o.vocab_size, where, "Options::vocab_size");
    require_positive(o.d_model, where, "Options::d_model");
    detail::require_init_std(o.init_std, where);
    return o;
  }

  Options options_;
  Parameter<S> weight_;
  Matrix<S> out_;
};

}  // namespace moerb
