#pragma once
// What an attack needs from the model it attacks, as concepts: an attack is written against these,
// never against a moerb class, so a user's own model (or a wrapper around another library's) is a
// victim as soon as it has the few members below.
//
//   ClassifierVictim   black-box: logits (sequences × classes) for a batch of token sequences.
//                      EncoderClassifier models it; a model that gives probabilities can return
//                      their logarithms.
//   WhiteBoxVictim     also the word embeddings of a batch, logits from (perturbed) word embeddings
//                      and ∂loss/∂(word embeddings) through backward, plus the embedding table
//                      (HotFlip, embedding PGD, GCG, the router attack).
//   LanguageModelVictim a causal LM: next-token logits for a batch (scoring, generation); DecoderLM
//                      models it, and with the WhiteBoxVictim members it is a white-box LM victim.
//
// class_probabilities and the helpers below turn logits into the probability rows that goals and
// metrics read.
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"
#include "moerb/models/token_batch.hpp"

namespace moerb {

template <class V>
concept ClassifierVictim = requires(V& victim, const TokenBatch& batch, const ForwardContext& ctx) {
  typename V::Scalar;
  requires FloatingScalar<typename V::Scalar>;
  { victim.num_classes() } -> std::convertible_to<Index>;
  { victim.forward(batch, ctx) } -> std::convertible_to<const Matrix<typename V::Scalar>&>;
};

template <class V>
concept WhiteBoxVictim = requires(V& victim, const TokenBatch& batch, const ForwardContext& ctx,
                                  const Matrix<typename V::Scalar>& m) {
  typename V::Scalar;
  requires FloatingScalar<typename V::Scalar>;
  { victim.embed(batch) } -> std::convertible_to<const Matrix<typename V::Scalar>&>;
  {
    victim.forward_embeddings(m, batch, ctx)
    } -> std::convertible_to<const Matrix<typename V::Scalar>&>;
  { victim.backward(m, false) } -> std::convertible_to<const Matrix<typename V::Scalar>&>;
  { victim.word_embedding_table() } -> std::convertible_to<const Matrix<typename V::Scalar>&>;
};

template <class V>
concept WhiteBoxClassifierVictim = ClassifierVictim<V> && WhiteBoxVictim<V>;

/// A causal language model: forward gives next-token logits (tokens × vocab) and the victim names
/// its vocabulary size.
template <class V>
concept LanguageModelVictim = requires(V& victim, const TokenBatch& batch,
                                       const ForwardContext& ctx) {
  typename V::Scalar;
  requires FloatingScalar<typename V::Scalar>;
  { victim.vocab_size() } -> std::convertible_to<Index>;
  { victim.forward(batch, ctx) } -> std::convertible_to<const Matrix<typename V::Scalar>&>;
};

/// Row-wise softmax of logits (rows × classes) in double, computed stably (max subtracted). Throws
/// moerb::error naming `where` when a logit is not finite.
template <class Derived>
[[nodiscard]] Matrix<double> softmax_rows(const Eigen::MatrixBase<Derived>& logits,
                                          std::string_view where) {
  Matrix<double> p(logits.rows(), logits.cols());
  for (Index i = 0; i < logits.rows(); ++i) {
    double m = -std::numeric_limits<double>::infinity();
    for (Index j = 0; j < logits.cols(); ++j) {
      const auto v = static_cast<double>(logits(i, j));
      if (!std::isfinite(v)) {
        throw error(detail::concat(where, ": the victim gave a non-finite logit (", v,
                                   ") for sequence ", i, ", class ", j));
      }
      m = std::max(m, v);
    }
    double sum = 0;
    for (Index j = 0; j < logits.cols(); ++j) {
      p(i, j) = std::exp(static_cast<double>(logits(i, j)) - m);
      sum += p(i, j);
    }
    p.row(i) /= sum;
  }
  return p;
}

/// Class probabilities (sequences × classes, double) of a black-box victim for `batch`, in
/// evaluation mode. Checks the logits' shape.
template <ClassifierVictim V>
[[nodiscard]] Matrix<double> class_probabilities(V& victim, const TokenBatch& batch,
                                                 const ForwardContext& ctx = {}) {
  constexpr std::string_view where = "class_probabilities";
  const auto& logits = victim.forward(batch, ctx);
  const Index classes = static_cast<Index>(victim.num_classes());
  MOERB_REQUIRE(logits.rows() == batch.num_sequences() && logits.cols() == classes, where,
                ": the victim gave ", logits.rows(), " × ", logits.cols(), " logits for ",
                batch.num_sequences(), " sequences of ", classes, " classes");
  return softmax_rows(logits, where);
}

/// Arg max of a probability row (lowest index among ties).
[[nodiscard]] inline std::int32_t predicted_class(std::span<const double> probabilities) {
  MOERB_REQUIRE(!probabilities.empty(), "predicted_class: empty probability row");
  std::size_t best = 0;
  for (std::size_t j = 1; j < probabilities.size(); ++j) {
    if (probabilities[j] > probabilities[best]) best = j;
  }
  return static_cast<std::int32_t>(best);
}

}  // namespace moerb
