#pragma once
// TransformerTrunk<FFN, Norm>: embeddings, a stack of pre-norm blocks and the final norm — the part
// EncoderClassifier and DecoderLM share.
//
//   e   = TokenEmbedding(ids)                       ("word embeddings": what embedding-space
//                                                    attacks and FreeLB perturb)
//   h₀  = Dropout(e + Positions + Segments)         (positions only with learned encodings)
//   hᵢ₊₁ = Blockᵢ(hᵢ),  i = 0..L−1
//   out = FinalNorm(h_L)
//
// hidden_state(i) is hᵢ (i = 0..L), kept for backward, traces and early exit (DoLa).
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "moerb/core/context.hpp"
#include "moerb/core/detail/serial_scope.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/models/feed_forward.hpp"
#include "moerb/models/token_batch.hpp"
#include "moerb/models/transformer_block.hpp"
#include "moerb/models/transformer_config.hpp"
#include "moerb/nn/dropout.hpp"
#include "moerb/nn/embedding.hpp"
#include "moerb/nn/layer_norm.hpp"
#include "moerb/nn/position_embedding.hpp"
#include "moerb/nn/rms_norm.hpp"
#include "moerb/routing/router.hpp"

namespace moerb {

namespace rng_tag {
inline constexpr std::uint64_t embedding_dropout = 11;
inline constexpr std::uint64_t block_base = 100;  // block i uses block_base + i
inline constexpr std::uint64_t trunk = 20;        // a model's trunk, from the model's stream
inline constexpr std::uint64_t head = 21;         // a model's head
}  // namespace rng_tag

template <class FFN, template <class> class Norm>
class TransformerTrunk {
 public:
  using Block = TransformerBlock<FFN, Norm>;
  using Scalar = typename Block::Scalar;
  using S = Scalar;

  TransformerTrunk(const TransformerConfig& config, const FeedForwardSpec<FFN>& spec, bool causal)
      : config_(validated(config)),
        causal_(causal),
        tokens_(typename TokenEmbedding<S>::Options{config.vocab_size, config.d_model}),
        embedding_dropout_(typename Dropout<S>::Options{config.dropout}),
        final_norm_(norm_options(config)),
        ffn_metadata_(feed_forward_metadata(spec)) {
    if (config_.position == PositionEncoding::learned) {
      typename LearnedPositionEmbedding<S>::Options o{};
      o.max_positions = config_.max_positions;
      o.d_model = config_.d_model;
      positions_.emplace(o);
    }
    if (config_.num_segments > 0) {
      segments_.emplace(typename TokenEmbedding<S>::Options{config_.num_segments, config_.d_model});
    }
    blocks_.reserve(static_cast<std::size_t>(config_.num_layers));
    for (Index i = 0; i < config_.num_layers; ++i) blocks_.emplace_back(config_, spec, i, causal);
    hidden_.resize(static_cast<std::size_t>(config_.num_layers) + 1);
  }

  [[nodiscard]] const TransformerConfig& config() const { return config_; }
  [[nodiscard]] bool causal() const { return causal_; }
  [[nodiscard]] Index num_layers() const { return config_.num_layers; }
  Block& block(Index i) { return blocks_[checked_layer(i)]; }
  const Block& block(Index i) const { return blocks_[checked_layer(i)]; }
  TokenEmbedding<S>& token_embedding() { return tokens_; }
  const TokenEmbedding<S>& token_embedding() const { return tokens_; }
  Norm<S>& final_norm() { return final_norm_; }

  /// Initialises every component from its own stream derived from one draw of `rng`.
  void initialize(Rng& rng) {
    const Rng base(rng.next_u64());
    Rng r = base.split(1);
    tokens_.initialize(r);
    if (positions_) {
      r = base.split(2);
      positions_->initialize(r);
    }
    if (segments_) {
      r = base.split(3);
      segments_->initialize(r);
    }
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      r = base.split(rng_tag::block_base + i);
      blocks_[i].initialize(r);
    }
    r = base.split(4);
    final_norm_.initialize(r);
  }

  /// Names: "embeddings.tokens.*", "embeddings.positions.*", "embeddings.segments.*",
  /// "blocks.<i>.{attn_norm,attention,ffn_norm,ffn}.*", "final_norm.*".
  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    const std::string emb = join_name(prefix, "embeddings");
    tokens_.visit_parameters(visitor, join_name(emb, "tokens"));
    if (positions_) positions_->visit_parameters(visitor, join_name(emb, "positions"));
    if (segments_) segments_->visit_parameters(visitor, join_name(emb, "segments"));
    const std::string blocks = join_name(prefix, "blocks");
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      blocks_[i].visit_parameters(visitor, join_name(blocks, std::to_string(i)));
    }
    final_norm_.visit_parameters(visitor, join_name(prefix, "final_norm"));
  }
  template <class Visitor>
  void visit_buffers(Visitor&& visitor, std::string_view prefix) {
    const std::string blocks = join_name(prefix, "blocks");
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      blocks_[i].visit_buffers(visitor, join_name(blocks, std::to_string(i)));
    }
  }

  /// The word embeddings e (tokens × d_model, a member) of `input`'s ids.
  const Matrix<S>& embed(const TokenBatch& input) {
    input.validate("TransformerTrunk::embed");
    return tokens_.forward(std::span<const std::int32_t>(input.ids));
  }

  /// out (tokens × d_model) from the word embeddings `word_embeddings` (tokens × d_model; e.g.
  /// embed(input) plus an adversarial perturbation) of `input`.
  const Matrix<S>& forward_embeddings(const Matrix<S>& word_embeddings, const TokenBatch& input,
                                      const ForwardContext& ctx) {
    constexpr std::string_view where = "TransformerTrunk::forward";
    input.validate(where);
    require_shape(word_embeddings, input.num_tokens(), config_.d_model, where, "word_embeddings");
    require_finite(word_embeddings, where, "word_embeddings");
    MOERB_REQUIRE(input.sequences.max_length() <= config_.max_positions, where, ": a sequence has ",
                  input.sequences.max_length(),
                  " tokens, more than max_positions = ", config_.max_positions);
    has_forward_ = false;
    // A few tokens run faster on this thread alone (core/detail/serial_scope.hpp).
    const detail::SerialScope serial(detail::small_forward(input.num_tokens(), config_.d_model));
    ForwardContext c = ctx;
    c.token_ids = std::span<const std::int32_t>(input.ids);  // hash routing reads them
    Matrix<S>& h0 = hidden_[0];
    h0 = word_embeddings;
    if (positions_) h0 += positions_->forward(input.sequences);
    if (segments_) h0 += segments_->forward(segment_ids(input));
    if (config_.dropout > 0 && c.training) {
      embedding_input_ = h0;
      h0 = embedding_dropout_.forward(embedding_input_,
                                      c.with_rng(c.rng.split(rng_tag::embedding_dropout)));
    }
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      hidden_[i + 1] = blocks_[i].forward(hidden_[i], input.sequences,
                                          c.with_rng(c.rng.split(rng_tag::block_base + i)));
    }
    input_ = input;
    dropout_active_ = config_.dropout > 0 && c.training;
    has_forward_ = true;
    return final_norm_.forward(hidden_.back(), c);
  }

  /// forward_embeddings(embed(input), input, ctx).
  const Matrix<S>& forward(const TokenBatch& input, const ForwardContext& ctx) {
    word_embeddings_ = embed(input);
    return forward_embeddings(word_embeddings_, input, ctx);
  }

  /// For d_out = ∂L/∂out of the last forward: accumulates every parameter's gradient (the token
  /// embedding table's only when `update_token_embedding`; the caller then runs
  /// token_embedding().backward itself) and returns ∂L/∂e, the gradient with respect to the word
  /// embeddings (tokens × d_model, a member).
  /// Per-block key-value caches of one sequence being decoded (forward_cached).
  struct DecodingCache {
    std::vector<typename MultiHeadAttention<S>::KeyValueCache> blocks;
    Index length = 0;  ///< tokens seen so far
  };

  /// Whether forward_cached is exact for this model: a causal trunk whose every feed-forward
  /// layer maps tokens independently in evaluation (dense, or MoE routing without capacity,
  /// expert choice, balanced assignment or random routing).
  [[nodiscard]] bool supports_cached_decoding() const {
    if (!causal_) return false;
    for (const Block& b : blocks_) {
      if (!b.routes_tokens_independently()) return false;
    }
    return true;
  }

  /// Evaluation forward of the next tokens `ids` of one unsegmented sequence whose earlier tokens
  /// `cache` holds (an empty cache: the sequence starts here): final-norm outputs (ids.size() ×
  /// d_model, a member), equal to the rows of these tokens in a whole-sequence forward (to
  /// rounding) when supports_cached_decoding(). Each block attends from the new tokens only;
  /// the cache gains their keys and values. Invalidates backward and hidden_state.
  const Matrix<S>& forward_cached(std::span<const std::int32_t> ids, DecodingCache& cache) {
    constexpr std::string_view where = "TransformerTrunk::forward_cached";
    MOERB_REQUIRE(causal_, where, ": needs a causal trunk (a decoder)");
    MOERB_REQUIRE(!ids.empty(), where, ": no tokens");
    const Index n = static_cast<Index>(ids.size());
    const Index past = cache.length;
    MOERB_REQUIRE(past >= 0 && past + n <= config_.max_positions, where, ": ", past, " cached + ",
                  n, " new tokens, more than max_positions = ", config_.max_positions);
    MOERB_REQUIRE(past == 0 || cache.blocks.size() == blocks_.size(), where, ": the cache has ",
                  cache.blocks.size(), " blocks, the trunk ", blocks_.size());
    has_forward_ = false;
    const detail::SerialScope serial(detail::small_forward(n, config_.d_model));
    cache.blocks.resize(blocks_.size());
    ForwardContext c;
    c.token_ids = ids;  // hash routing reads them
    Matrix<S>& h = cached_hidden_;
    h = tokens_.forward(ids);
    // The same additions, in the same order, as forward_embeddings: positions, then segment 0.
    if (positions_) h += positions_->weight().value.middleRows(past, n);
    if (segments_) h.rowwise() += segments_->weight().value.row(0);
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      h = blocks_[i].forward_cached(h, cache.blocks[i],
                                    c.with_rng(c.rng.split(rng_tag::block_base + i)));
    }
    cache.length = past + n;
    return final_norm_.forward(h, c);
  }

  const Matrix<S>& backward(const Matrix<S>& d_out, bool update_token_embedding = true) {
    constexpr std::string_view where = "TransformerTrunk::backward";
    MOERB_REQUIRE(has_forward_, where, ": called before forward");
    const TokenBatch& input = input_;
    require_shape(d_out, input.num_tokens(), config_.d_model, where, "d_out");
    d_h_ = final_norm_.backward(hidden_.back(), d_out);
    for (std::size_t i = blocks_.size(); i-- > 0;) d_h_ = blocks_[i].backward(hidden_[i], d_h_);
    if (dropout_active_) d_h_ = embedding_dropout_.backward(embedding_input_, d_h_);
    if (positions_) positions_->backward(input.sequences, d_h_);
    if (segments_) segments_->backward(segment_ids(input), d_h_);
    if (update_token_embedding) {
      tokens_.backward(std::span<const std::int32_t>(input.ids), d_h_);
    }
    return d_h_;
  }

  /// hᵢ of the last forward: 0 = block 0's input (embeddings), L = the last block's output
  /// before the final norm.
  [[nodiscard]] const Matrix<S>& hidden_state(Index i) const {
    MOERB_REQUIRE(has_forward_, "TransformerTrunk::hidden_state: no forward yet");
    MOERB_REQUIRE(i >= 0 && i <= num_layers(), "TransformerTrunk::hidden_state: layer ", i,
                  ", expected in [0, ", num_layers(), "]");
    return hidden_[static_cast<std::size_t>(i)];
  }
  [[nodiscard]] bool has_forward() const { return has_forward_; }

  /// The architecture as checkpoint metadata: the TransformerConfig's fields, the norm
  /// ("layer_norm", "rms_norm" or "custom") and the feed-forward configuration
  /// (feed_forward_metadata).
  [[nodiscard]] std::map<std::string, std::string> metadata() const {
    auto m = config_.to_metadata();
    m["norm"] = std::is_same_v<Norm<S>, LayerNorm<S>> ? "layer_norm"
                : std::is_same_v<Norm<S>, RMSNorm<S>> ? "rms_norm"
                                                      : "custom";
    m.insert(ffn_metadata_.begin(), ffn_metadata_.end());
    return m;
  }
  /// Throws moerb::error naming the first key of metadata() that `file` lacks or has another
  /// value for.
  void check_metadata(const std::map<std::string, std::string>& file,
                      std::string_view where) const {
    require_metadata_matches(metadata(), file, where);
  }
  /// The input of the last forward.
  [[nodiscard]] const TokenBatch& last_input() const {
    MOERB_REQUIRE(has_forward_, "TransformerTrunk::last_input: no forward yet");
    return input_;
  }

  /// Top-k at inference (MoE-RBench §5): evaluation forwards of every MoE block whose router
  /// supports it (InferenceKOverridable) use k experts per token. Returns the number of blocks
  /// changed; k must be in [1, num_experts] of each.
  Index set_inference_k(Index k) {
    Index n = 0;
    for_each_moe([&](Index, auto& moe) {
      using R = std::remove_cvref_t<decltype(moe.router())>;
      if constexpr (InferenceKOverridable<R>) {
        moe.router().set_inference_k(k);
        ++n;
      }
    });
    return n;
  }
  /// Random-routing baseline at evaluation in every MoE block
  /// (MoELayer::set_random_inference_routing).
  void set_random_inference_routing(bool on) {
    for_each_moe([&](Index, auto& moe) { moe.set_random_inference_routing(on); });
  }

  /// Σ over MoE blocks of their weighted auxiliary losses in the last forward.
  [[nodiscard]] S aux_loss() const {
    S total = 0;
    for (const Block& b : blocks_) total += b.aux_loss();
    return total;
  }

  /// Calls f(layer_index, moe_layer) for every MoE block (never for a dense model, where f is
  /// not even instantiated).
  template <class F>
  void for_each_moe(F&& f) {
    if constexpr (is_moe_layer_v<FFN>) {
      for (std::size_t i = 0; i < blocks_.size(); ++i) {
        if (auto* m = blocks_[i].ffn().sparse()) f(static_cast<Index>(i), *m);
      }
    }
  }
  template <class F>
  void for_each_moe(F&& f) const {
    if constexpr (is_moe_layer_v<FFN>) {
      for (std::size_t i = 0; i < blocks_.size(); ++i) {
        if (const auto* m = blocks_[i].ffn().sparse()) f(static_cast<Index>(i), *m);
      }
    }
  }

 private:
  // The batch's segment ids; a batch without them is all segment 0 (TokenBatch's convention).
  std::span<const std::int32_t> segment_ids(const TokenBatch& input) {
    if (!input.segments.empty()) return input.segments;
    zero_segments_.assign(input.ids.size(), 0);
    return zero_segments_;
  }

  static TransformerConfig validated(const TransformerConfig& c) {
    c.validate("TransformerTrunk");
    return c;
  }
  static typename Norm<S>::Options norm_options(const TransformerConfig& c) {
    typename Norm<S>::Options o{};
    o.dim = c.d_model;
    o.eps = c.norm_eps;
    return o;
  }
  std::size_t checked_layer(Index i) const {
    MOERB_REQUIRE(i >= 0 && i < num_layers(), "TransformerTrunk::block: index ", i,
                  ", expected in [0, ", num_layers(), ")");
    return static_cast<std::size_t>(i);
  }

  TransformerConfig config_;
  bool causal_;
  TokenEmbedding<S> tokens_;
  std::optional<LearnedPositionEmbedding<S>> positions_;
  std::optional<TokenEmbedding<S>> segments_;
  Dropout<S> embedding_dropout_;
  std::vector<Block> blocks_;
  Norm<S> final_norm_;

  bool has_forward_ = false;
  bool dropout_active_ = false;
  TokenBatch input_;  // the last forward's input (backward needs its ids and layout)
  std::vector<Matrix<S>> hidden_;
  Matrix<S> word_embeddings_, embedding_input_, d_h_;
  Matrix<S> cached_hidden_;  // forward_cached's hidden state
  std::vector<std::int32_t> zero_segments_;
  std::map<std::string, std::string> ffn_metadata_;
};

}  // namespace moerb
