#pragma once
// TransformerBlock<FFN, Norm>: one pre-norm transformer block (Xiong et al. 2020),
//   a = x + Dropout(Attention(Norm₁(x)))
//   y = a + Dropout(FFN(Norm₂(a)))
// where FFN is the block's FeedForwardSlot: an MoE layer or a dense FFN. A token that the MoE
// layer drops (capacity) gets 0 from the FFN and passes through on the residual.
#include <cstdint>
#include <string_view>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/models/feed_forward.hpp"
#include "moerb/models/transformer_config.hpp"
#include "moerb/nn/attention.hpp"
#include "moerb/nn/dropout.hpp"
#include "moerb/nn/sequence_batch.hpp"

namespace moerb {

/// Sub-streams of a block's ctx.rng.
namespace rng_tag {
inline constexpr std::uint64_t block_attention = 1;
inline constexpr std::uint64_t block_attention_dropout = 2;
inline constexpr std::uint64_t block_ffn = 3;
inline constexpr std::uint64_t block_ffn_dropout = 4;
}  // namespace rng_tag

template <class FFN, template <class> class Norm>
class TransformerBlock {
 public:
  using Slot = FeedForwardSlot<FFN>;
  using Scalar = typename Slot::Scalar;
  using S = Scalar;
  using NormType = Norm<S>;

  TransformerBlock(const TransformerConfig& config, const FeedForwardSpec<FFN>& spec, Index layer,
                   bool causal)
      : attn_norm_(norm_options(config)),
        attention_(attention_options(config, causal)),
        attn_dropout_(typename Dropout<S>::Options{config.dropout}),
        ffn_norm_(norm_options(config)),
        ffn_(spec, config.is_moe_block(layer)),
        ffn_dropout_(typename Dropout<S>::Options{config.dropout}),
        dropout_(config.dropout) {
    MOERB_REQUIRE(ffn_.input_dim() == config.d_model && ffn_.output_dim() == config.d_model,
                  "TransformerBlock ", layer, ": the feed-forward layer maps ", ffn_.input_dim(),
                  " -> ", ffn_.output_dim(), ", expected d_model = ", config.d_model, " -> ",
                  config.d_model);
  }

  void initialize(Rng& rng) {
    attn_norm_.initialize(rng);
    attention_.initialize(rng);
    ffn_norm_.initialize(rng);
    ffn_.initialize(rng);
  }

  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    attn_norm_.visit_parameters(visitor, join_name(prefix, "attn_norm"));
    attention_.visit_parameters(visitor, join_name(prefix, "attention"));
    ffn_norm_.visit_parameters(visitor, join_name(prefix, "ffn_norm"));
    ffn_.visit_parameters(visitor, join_name(prefix, "ffn"));
  }
  template <class Visitor>
  void visit_buffers(Visitor&& visitor, std::string_view prefix) {
    ffn_.visit_buffers(visitor, join_name(prefix, "ffn"));
  }

  Slot& ffn() { return ffn_; }
  const Slot& ffn() const { return ffn_; }
  MultiHeadAttention<S>& attention() { return attention_; }
  const MultiHeadAttention<S>& attention() const { return attention_; }

  /// y (tokens × d_model, a member) for x (tokens × d_model) packed as `batch`.
  const Matrix<S>& forward(const Matrix<S>& x, const SequenceBatch& batch,
                           const ForwardContext& ctx) {
    // Each sub-layer's input is kept (its backward needs it); the copies are the price of layers
    // that own their outputs. The residual sums are written in one pass each (x + sublayer, the
    // same additions as a copy followed by +=), and the sub-layers' outputs are copied only where
    // a dropout's backward takes them.
    attn_norm_out_ = attn_norm_.forward(x, ctx);
    const Matrix<S>& attention_out = attention_.forward(
        attn_norm_out_, batch, ctx.with_rng(ctx.rng.split(rng_tag::block_attention)));
    if (dropout_ > 0) {
      attn_out_ = attention_out;
      a_.noalias() =
          x + attn_dropout_.forward(attn_out_,
                                    ctx.with_rng(ctx.rng.split(rng_tag::block_attention_dropout)));
    } else {
      a_.noalias() = x + attention_out;
    }
    ffn_in_ = ffn_norm_.forward(a_, ctx);
    const Matrix<S>& f = ffn_.forward(ffn_in_, ctx.with_rng(ctx.rng.split(rng_tag::block_ffn)));
    if (dropout_ > 0) {
      ffn_out_ = f;
      y_.noalias() = a_ + ffn_dropout_.forward(
                              ffn_out_, ctx.with_rng(ctx.rng.split(rng_tag::block_ffn_dropout)));
    } else {
      y_.noalias() = a_ + f;
    }
    return y_;
  }

  /// Incremental evaluation forward of a causal block (decoding with a key-value cache): y (n ×
  /// d_model, a member) for the next n tokens x of one sequence, whose earlier tokens' keys and
  /// values `cache` holds (and gains these). Exact when the feed-forward layer maps tokens
  /// independently (routes_tokens_independently()); invalidates backward.
  const Matrix<S>& forward_cached(const Matrix<S>& x,
                                  typename MultiHeadAttention<S>::KeyValueCache& cache,
                                  const ForwardContext& ctx) {
    MOERB_REQUIRE(!ctx.training, "TransformerBlock::forward_cached: evaluation only");
    attn_norm_out_ = attn_norm_.forward(x, ctx);
    a_.noalias() = x + attention_.forward_cached(attn_norm_out_, cache);
    ffn_in_ = ffn_norm_.forward(a_, ctx);
    y_.noalias() = a_ + ffn_.forward(ffn_in_, ctx.with_rng(ctx.rng.split(rng_tag::block_ffn)));
    return y_;
  }
  [[nodiscard]] bool routes_tokens_independently() const {
    return ffn_.routes_tokens_independently();
  }

  /// ∂L/∂x (a member) for the x of the last forward and dy = ∂L/∂y; accumulates parameter
  /// gradients, including those of the MoE layer's auxiliary losses.
  const Matrix<S>& backward(const Matrix<S>& x, const Matrix<S>& dy) {
    const Matrix<S>& d_f = dropout_ > 0 ? ffn_dropout_.backward(ffn_out_, dy) : dy;
    const Matrix<S>& d_n2 = ffn_.backward(ffn_in_, d_f);
    d_a_.noalias() = dy + ffn_norm_.backward(a_, d_n2);
    const Matrix<S>& d_att = dropout_ > 0 ? attn_dropout_.backward(attn_out_, d_a_) : d_a_;
    const Matrix<S>& d_n1 = attention_.backward(attn_norm_out_, d_att);
    dx_.noalias() = d_a_ + attn_norm_.backward(x, d_n1);
    return dx_;
  }

  [[nodiscard]] S aux_loss() const { return ffn_.aux_loss(); }

 private:
  static typename NormType::Options norm_options(const TransformerConfig& c) {
    typename NormType::Options o{};
    o.dim = c.d_model;
    o.eps = c.norm_eps;
    return o;
  }
  static typename MultiHeadAttention<S>::Options attention_options(const TransformerConfig& c,
                                                                   bool causal) {
    typename MultiHeadAttention<S>::Options o{};
    o.d_model = c.d_model;
    o.num_heads = c.num_heads;
    o.causal = causal;
    o.bias = c.attention_bias;
    o.rotary = c.position == PositionEncoding::rotary;
    o.attention_dropout = c.attention_dropout;
    return o;
  }

  NormType attn_norm_;
  MultiHeadAttention<S> attention_;
  Dropout<S> attn_dropout_;
  NormType ffn_norm_;
  Slot ffn_;
  Dropout<S> ffn_dropout_;
  double dropout_;

  Matrix<S> attn_norm_out_, attn_out_, a_, ffn_in_, ffn_out_, y_;
  Matrix<S> d_a_, dx_;
};

}  // namespace moerb
