#pragma once
// EncoderClassifier<FFN, Norm>: a bidirectional transformer encoder with a classification head,
// for single sentences (SST-2 style sentiment) and sentence pairs (NLI premise/hypothesis, with
// segment embeddings). The feed-forward part of each block is FFN: any MoELayer (sparse) or
// DenseFFN (dense counterpart), so an MoE model and its dense twin come from one template.
//
//   logits = Head(Pool(Trunk(ids)))      (B × num_classes)
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/models/feed_forward.hpp"
#include "moerb/models/model_trace.hpp"
#include "moerb/models/token_batch.hpp"
#include "moerb/models/transformer_config.hpp"
#include "moerb/models/transformer_trunk.hpp"
#include "moerb/nn/classification_head.hpp"
#include "moerb/nn/cross_entropy.hpp"
#include "moerb/nn/layer_norm.hpp"
#include "moerb/nn/pooling.hpp"
#include "moerb/routing/router.hpp"

namespace moerb {

template <class FFN, template <class> class Norm = LayerNorm>
class EncoderClassifier {
 public:
  using Trunk = TransformerTrunk<FFN, Norm>;
  using Scalar = typename Trunk::Scalar;
  using S = Scalar;
  using FeedForward = FFN;

  struct Options {
    TransformerConfig transformer{};  ///< causal attention is never used here
    Index num_classes = 2;
    Pooling pooling = Pooling::first;  ///< first token ([CLS]) or mean over the sequence
    Index head_hidden = 0;      ///< 0: linear head; > 0: linear → tanh → linear (BERT's pooler)
    double head_dropout = 0.1;  ///< dropout on the pooled vector in training (BERT: 0.1)
  };

  EncoderClassifier(const Options& options, const FeedForwardSpec<FFN>& spec)
      : options_(options),
        trunk_(options.transformer, spec, /*causal=*/false),
        pooling_(typename SequencePooling<S>::Options{options.pooling}),
        head_(head_options(options)) {}

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] const TransformerConfig& config() const { return trunk_.config(); }
  [[nodiscard]] Index num_classes() const { return options_.num_classes; }
  Trunk& trunk() { return trunk_; }
  const Trunk& trunk() const { return trunk_; }
  ClassificationHead<S>& head() { return head_; }

  void initialize(Rng& rng) {
    const Rng base(rng.next_u64());
    Rng r = base.split(rng_tag::trunk);
    trunk_.initialize(r);
    r = base.split(rng_tag::head);
    head_.initialize(r);
  }

  /// The trunk's names (see TransformerTrunk) and "head.*".
  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    trunk_.visit_parameters(visitor, prefix);
    head_.visit_parameters(visitor, join_name(prefix, "head"));
  }
  template <class Visitor>
  void visit_buffers(Visitor&& visitor, std::string_view prefix) {
    trunk_.visit_buffers(visitor, prefix);
  }

  /// Logits (num_sequences × num_classes, a member) for the batch.
  const Matrix<S>& forward(const TokenBatch& input, const ForwardContext& ctx) {
    word_embeddings_ = trunk_.embed(input);
    return forward_embeddings(word_embeddings_, input, ctx);
  }
  /// Logits from given word embeddings (tokens × d_model), e.g. perturbed ones.
  const Matrix<S>& forward_embeddings(const Matrix<S>& word_embeddings, const TokenBatch& input,
                                      const ForwardContext& ctx) {
    const Matrix<S>& out = trunk_.forward_embeddings(word_embeddings, input, ctx);
    pooled_ = pooling_.forward(out, input.sequences);
    return head_.forward(pooled_, ctx.with_rng(ctx.rng.split(rng_tag::head)));
  }
  /// The token embedding table (vocab_size × d_model): what HotFlip and GCG score swaps against.
  [[nodiscard]] const Matrix<S>& word_embedding_table() const {
    return trunk_.token_embedding().weight().value;
  }
  /// Word embeddings of `input` (tokens × d_model, a member of the trunk).
  const Matrix<S>& embed(const TokenBatch& input) { return trunk_.embed(input); }

  /// For d_logits = ∂L/∂logits of the last forward: accumulates all parameter gradients
  /// (including the MoE auxiliary losses') and returns ∂L/∂(word embeddings), tokens × d_model.
  const Matrix<S>& backward(const Matrix<S>& d_logits, bool update_token_embedding = true) {
    const Matrix<S>& d_pooled = head_.backward(pooled_, d_logits);
    const Matrix<S>& d_out = pooling_.backward(trunk_last_sequences(), d_pooled);
    return trunk_.backward(d_out, update_token_embedding);
  }

  /// Mean cross-entropy of the last logits against `labels` (one per sequence) and its gradient.
  S loss(const Matrix<S>& logits, std::span<const std::int32_t> labels, Matrix<S>& d_logits) const {
    MOERB_REQUIRE(static_cast<Index>(labels.size()) == logits.rows(),
            "EncoderClassifier::loss: ", labels.size(), " labels for ", logits.rows(),
            " sequences");
    return static_cast<S>(softmax_cross_entropy(logits, labels, d_logits));
  }

  /// Σ of the MoE blocks' weighted auxiliary losses in the last forward (0 for dense models).
  [[nodiscard]] S aux_loss() const { return trunk_.aux_loss(); }
  [[nodiscard]] ModelTrace<S> trace(bool hidden_states = false) const {
    return make_trace(trunk_, hidden_states);
  }

  /// Argmax class of each sequence (evaluation forward).
  std::vector<std::int32_t> predict(const TokenBatch& input, const ForwardContext& ctx = {}) {
    const Matrix<S>& logits = forward(input, ctx);
    std::vector<std::int32_t> out(static_cast<std::size_t>(logits.rows()));
    for (Index i = 0; i < logits.rows(); ++i) {
      Index best = 0;
      logits.row(i).maxCoeff(&best);
      out[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(best);
    }
    return out;
  }

  // ---- inference techniques ------------------------------------------------------------------
  /// Evaluates every MoE block with k experts per token (routers that support it); returns the
  /// number of blocks changed.
  Index set_inference_k(Index k) { return trunk_.set_inference_k(k); }
  /// Random-routing baseline at evaluation in every MoE block.
  void set_random_inference_routing(bool on) { trunk_.set_random_inference_routing(on); }

  // ---- checkpoints -----------------------------------------------------------------------------
  [[nodiscard]] std::map<std::string, std::string> config_metadata() const {
    auto m = trunk_.metadata();
    for (auto& [key, value] : model_metadata()) m[key] = value;
    return m;
  }
  /// Throws moerb::error naming the first architecture key where `metadata` differs from
  /// config_metadata(): the trunk's, then the model's ("model" first).
  void check_config_metadata(const std::map<std::string, std::string>& metadata) const {
    constexpr std::string_view where = "EncoderClassifier checkpoint";
    trunk_.check_metadata(metadata, where);
    require_metadata_matches(model_metadata(), metadata, where);
  }

 private:
  std::vector<std::pair<std::string, std::string>> model_metadata() const {
    return {{"model", "EncoderClassifier"},
            {"num_classes", std::to_string(options_.num_classes)},
            {"pooling", options_.pooling == Pooling::mean ? "mean" : "first"},
            {"head_hidden", std::to_string(options_.head_hidden)}};
  }
  static typename ClassificationHead<S>::Options head_options(const Options& o) {
    MOERB_REQUIRE(o.num_classes >= 2, "EncoderClassifier: num_classes = ", o.num_classes,
            ", expected >= 2");
    typename ClassificationHead<S>::Options h{};
    h.d_model = o.transformer.d_model;
    h.num_classes = o.num_classes;
    h.hidden = o.head_hidden;
    h.dropout = o.head_dropout;
    return h;
  }
  const SequenceBatch& trunk_last_sequences() const { return trunk_.last_input().sequences; }

  Options options_;
  Trunk trunk_;
  SequencePooling<S> pooling_;
  ClassificationHead<S> head_;
  Matrix<S> word_embeddings_, pooled_;
};

}  // namespace moerb
