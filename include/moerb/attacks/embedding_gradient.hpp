#pragma once
// ∂loss/∂(word embeddings) of a white-box classifier victim: the gradient that HotFlip ranks token
// swaps by and that embedding-space FGSM / PGD ascend.
//
//   E = victim.embed(batch)                     (tokens × d_model), or given (perturbed) embeddings
//   logits = victim.forward_embeddings(E, batch, ForwardContext{})     evaluation mode
//   loss = Σ_b −log softmax(logits_b)[label_b]  summed over the sequences, not averaged
//   gradient = victim.backward(∂loss/∂logits, false)                  (tokens × d_model)
//
// The loss is summed so that the gradient rows of sequence b are ∂loss_b/∂e of that sequence
// alone, unscaled by the batch size: an attack that batches several candidates gets each one's own
// gradient. For a targeted attack pass the target classes as `labels`: the loss is then
// Σ_b −log p_b(target_b), which the attack descends instead of ascends.
//
// MoE victims: the victim's backward always includes the gradients of the routers' auxiliary
// losses (load balancing, z-loss), which are computed in evaluation forwards too. The gradient is
// therefore ∂(loss + aux_loss)/∂E, with aux_loss reported separately (the victim's aux_loss() when
// it has one). The auxiliary terms are small (weights 1e-2 / 1e-3) and the load-balancing term
// couples the sequences of a batch slightly.
//
// Parameter gradients: backward accumulates into the victim's parameter gradients. With
// ParameterGradients::zeroed (the default) they are set to zero after the call when the victim
// exposes visit_parameters (moerb's models do); with ::accumulated they keep what they held plus
// this call's gradients. Parameter values are never changed.
#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "moerb/attacks/victim.hpp"
#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/types.hpp"
#include "moerb/models/token_batch.hpp"

namespace moerb {

/// What an attack's gradient call leaves in the victim's parameter gradients.
enum class ParameterGradients : std::uint8_t {
  zeroed,       ///< all zero after the call (victims with visit_parameters)
  accumulated,  ///< what they held plus this call's gradients (as the victim's backward leaves
                ///< them)
};

template <FloatingScalar S>
struct EmbeddingGradient {
  double loss = 0;               ///< Σ over sequences of −log p_b(label_b)
  double aux_loss = 0;           ///< the victim's aux_loss() of the forward (0 when it has none)
  std::vector<double> losses;    ///< −log p_b(label_b), one per sequence
  Matrix<double> probabilities;  ///< sequences × classes
  Matrix<S> gradient;            ///< tokens × d_model: ∂(loss + aux_loss)/∂(word embeddings)
};

namespace detail::gradient_attacks {

/// Checks one label per sequence, each in [0, classes).
inline void require_labels(std::span<const std::int32_t> labels, Index sequences, Index classes,
                           std::string_view where) {
  MOERB_REQUIRE(static_cast<Index>(labels.size()) == sequences, where, ": ", labels.size(),
                " labels for ", sequences, " sequences");
  for (std::size_t i = 0; i < labels.size(); ++i) {
    MOERB_REQUIRE(labels[i] >= 0 && labels[i] < classes, where, ": label ", labels[i],
                  " of sequence ", i, " is outside [0, ", classes, ")");
  }
}

template <class V>
void finish_parameter_gradients(V& victim, ParameterGradients mode) {
  if constexpr (HasParameters<V>) {
    if (mode == ParameterGradients::zeroed) zero_grad(victim);
  }
}

/// Fills out.losses, out.loss and out.probabilities from `logits` and writes ∂loss/∂logits
/// (p − onehot(label), per row) into `d_logits`.
template <FloatingScalar S, class Derived>
void summed_cross_entropy(const Eigen::MatrixBase<Derived>& logits,
                          std::span<const std::int32_t> labels, EmbeddingGradient<S>& out,
                          Matrix<S>& d_logits, std::string_view where) {
  out.probabilities = softmax_rows(logits, where);
  const Index rows = logits.rows();
  out.losses.resize(static_cast<std::size_t>(rows));
  out.loss = 0;
  d_logits.resize(rows, logits.cols());
  for (Index b = 0; b < rows; ++b) {
    const auto y = static_cast<Index>(labels[static_cast<std::size_t>(b)]);
    // −log p_y = log Σ exp(l − l_y), stable through the max.
    const double m = static_cast<double>(logits.row(b).maxCoeff());
    double sum = 0;
    for (Index j = 0; j < logits.cols(); ++j)
      sum += std::exp(static_cast<double>(logits(b, j)) - m);
    const double loss = std::log(sum) + m - static_cast<double>(logits(b, y));
    out.losses[static_cast<std::size_t>(b)] = loss;
    out.loss += loss;
    for (Index j = 0; j < logits.cols(); ++j) {
      d_logits(b, j) = static_cast<S>(out.probabilities(b, j) - (j == y ? 1.0 : 0.0));
    }
  }
}

}  // namespace detail::gradient_attacks

/// The gradient at given word embeddings (tokens × d_model of `batch`, e.g. embed(batch) plus a
/// perturbation), written into `out` (whose buffers are reused). See the file comment for the
/// loss and what happens to the parameter gradients. Throws moerb::error for a wrong shape,
/// non-finite embeddings, or a label count or label outside [0, num_classes).
template <WhiteBoxClassifierVictim V>
void embedding_gradient_at(V& victim, const TokenBatch& batch,
                           const Matrix<typename V::Scalar>& word_embeddings,
                           std::span<const std::int32_t> labels,
                           EmbeddingGradient<typename V::Scalar>& out,
                           ParameterGradients parameter_gradients = ParameterGradients::zeroed) {
  using S = typename V::Scalar;
  constexpr std::string_view where = "embedding_gradient";
  batch.validate(where);
  const Index classes = static_cast<Index>(victim.num_classes());
  detail::gradient_attacks::require_labels(labels, batch.num_sequences(), classes, where);
  const Index d_model = victim.word_embedding_table().cols();
  require_shape(word_embeddings, batch.num_tokens(), d_model, where, "word_embeddings");
  require_finite(word_embeddings, where, "word_embeddings");

  const Matrix<S>& logits = victim.forward_embeddings(word_embeddings, batch, ForwardContext{});
  MOERB_REQUIRE(logits.rows() == batch.num_sequences() && logits.cols() == classes, where,
                ": the victim gave ", logits.rows(), " × ", logits.cols(), " logits for ",
                batch.num_sequences(), " sequences of ", classes, " classes");
  Matrix<S> d_logits;
  detail::gradient_attacks::summed_cross_entropy(logits, labels, out, d_logits, where);
  out.aux_loss = 0;
  if constexpr (requires { victim.aux_loss(); }) {
    out.aux_loss = static_cast<double>(victim.aux_loss());
  }
  const Matrix<S>& gradient = victim.backward(d_logits, false);
  require_shape(gradient, batch.num_tokens(), d_model, where, "the victim's embedding gradient");
  out.gradient = gradient;
  detail::gradient_attacks::finish_parameter_gradients(victim, parameter_gradients);
}

/// As above, returning a new EmbeddingGradient.
template <WhiteBoxClassifierVictim V>
[[nodiscard]] EmbeddingGradient<typename V::Scalar> embedding_gradient_at(
    V& victim, const TokenBatch& batch, const Matrix<typename V::Scalar>& word_embeddings,
    std::span<const std::int32_t> labels,
    ParameterGradients parameter_gradients = ParameterGradients::zeroed) {
  EmbeddingGradient<typename V::Scalar> out;
  embedding_gradient_at(victim, batch, word_embeddings, labels, out, parameter_gradients);
  return out;
}

/// The gradient at the batch's own word embeddings (victim.embed(batch)). Also throws for ids the
/// victim rejects.
template <WhiteBoxClassifierVictim V>
void embedding_gradient(V& victim, const TokenBatch& batch, std::span<const std::int32_t> labels,
                        EmbeddingGradient<typename V::Scalar>& out,
                        ParameterGradients parameter_gradients = ParameterGradients::zeroed) {
  batch.validate("embedding_gradient");
  // A copy: a victim may return a member that its forward overwrites.
  const Matrix<typename V::Scalar> embeddings = victim.embed(batch);
  embedding_gradient_at(victim, batch, embeddings, labels, out, parameter_gradients);
}

template <WhiteBoxClassifierVictim V>
[[nodiscard]] EmbeddingGradient<typename V::Scalar> embedding_gradient(
    V& victim, const TokenBatch& batch, std::span<const std::int32_t> labels,
    ParameterGradients parameter_gradients = ParameterGradients::zeroed) {
  EmbeddingGradient<typename V::Scalar> out;
  embedding_gradient(victim, batch, labels, out, parameter_gradients);
  return out;
}

}  // namespace moerb
