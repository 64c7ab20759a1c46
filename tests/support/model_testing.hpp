#pragma once
// Small models and batches shared by the model test suites.
#include <cstdint>
#include <vector>

#include "moerb/experts/gated_expert.hpp"
#include "moerb/layers/dense_ffn.hpp"
#include "moerb/layers/moe_layer.hpp"
#include "moerb/models/feed_forward.hpp"
#include "moerb/models/token_batch.hpp"
#include "moerb/models/transformer_config.hpp"
#include "moerb/routing/top_k_router.hpp"

namespace moerb::test {

template <class S>
using TestMoE = MoELayer<TopKRouter<S>, SwiGLUExpert<S>>;
template <class S>
using TestDense = DenseFFN<SwiGLUExpert<S>>;

inline TransformerConfig tiny_config(PositionEncoding position = PositionEncoding::learned) {
  TransformerConfig c;
  c.vocab_size = 13;
  c.d_model = 8;
  c.num_heads = 2;
  c.num_layers = 2;
  c.max_positions = 16;
  c.position = position;
  c.num_segments = 2;
  c.dropout = 0.0;
  c.moe_every = 1;
  return c;
}

/// Top-2 of 4 SwiGLU experts (d_ff 6) with the load-balancing and z losses on.
template <class S>
FeedForwardSpec<TestMoE<S>> tiny_moe_spec(const TransformerConfig& c, Index num_experts = 4) {
  FeedForwardSpec<TestMoE<S>> spec;
  spec.router.input_dim = c.d_model;
  spec.router.num_experts = num_experts;
  spec.router.k = 2;
  spec.router.load_balancing_weight = 0.01;
  spec.router.z_loss_weight = 0.001;
  spec.moe.expert.d_model = c.d_model;
  spec.moe.expert.d_ff = 6;
  return spec;
}

template <class S>
FeedForwardSpec<TestDense<S>> tiny_dense_spec(const TransformerConfig& c) {
  FeedForwardSpec<TestDense<S>> spec;
  spec.dense.d_model = c.d_model;
  spec.dense.d_ff = 12;
  return spec;
}

/// Three sequences of lengths 5, 1 and 3 with segment ids (a pair in the first).
inline TokenBatch tiny_batch() {
  TokenBatch b;
  b.push_back(std::vector<std::int32_t>{2, 7, 3, 9, 3}, std::vector<std::int32_t>{0, 0, 0, 1, 1});
  b.push_back(std::vector<std::int32_t>{4});
  b.push_back(std::vector<std::int32_t>{2, 11, 12});
  return b;
}

}  // namespace moerb::test
