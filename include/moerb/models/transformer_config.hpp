#pragma once
// TransformerConfig: the architecture of the trunk that EncoderClassifier and DecoderLM share.
// Plain data, so recipes, sweeps and checkpoints can read and write it.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"

namespace moerb {

enum class PositionEncoding {
  learned,  ///< a learned table added to the token embeddings (BERT, GPT-2)
  rotary,   ///< RoPE inside attention (Su et al. 2021); no table
};

/// Throws moerb::error naming `where` and the first (key, value) of `expected`, in its order, that
/// `file` (a checkpoint's metadata) lacks or has another value for.
template <class Pairs>
void require_metadata_matches(const Pairs& expected, const std::map<std::string, std::string>& file,
                              std::string_view where) {
  for (const auto& [key, value] : expected) {
    const auto it = file.find(key);
    MOERB_REQUIRE(it != file.end(), where, ": the checkpoint's metadata lacks '", key, "'");
    MOERB_REQUIRE(it->second == value, where, ": the checkpoint has ", key, " = ", it->second,
            " but the model has ", key, " = ", value);
  }
}

struct TransformerConfig {
  Index vocab_size = 0;       ///< tokenizer vocabulary size (required)
  Index d_model = 0;          ///< width of the residual stream (required)
  Index num_heads = 0;        ///< attention heads; d_model % num_heads == 0 (required)
  Index num_layers = 0;       ///< transformer blocks (required)
  Index max_positions = 512;  ///< longest sequence (learned positions; a sanity bound for rotary)
  PositionEncoding position = PositionEncoding::learned;
  /// Token-type (segment) embeddings for sentence pairs: 2 for BERT-style pairs, 0 = none.
  Index num_segments = 0;
  /// Residual dropout after attention and after the feed-forward part, and on the embeddings
  /// (Vaswani et al. 2017 §5.4), training only.
  double dropout = 0.1;
  /// Dropout on the attention probabilities, training only.
  double attention_dropout = 0.0;
  double norm_eps = 1e-5;
  bool attention_bias = true;
  /// MoE placement: block i (0-based) uses the sparse feed-forward layer when
  /// i % moe_every == moe_every − 1, the dense one otherwise. 1 = every block; 2 = every other
  /// block (Switch Transformer, Fedus et al. 2021 §2: "every other FFN layer").
  Index moe_every = 1;

  [[nodiscard]] bool is_moe_block(Index layer) const { return layer % moe_every == moe_every - 1; }

  /// Throws moerb::error naming the first invalid field.
  void validate(std::string_view where) const {
    MOERB_REQUIRE(vocab_size > 0, where, ": TransformerConfig::vocab_size = ", vocab_size,
            ", expected > 0");
    MOERB_REQUIRE(d_model > 0, where, ": TransformerConfig::d_model = ", d_model, ", expected > 0");
    MOERB_REQUIRE(num_heads > 0 && d_model % num_heads == 0, where,
            ": TransformerConfig::num_heads = ", num_heads,
            ", expected > 0 and dividing d_model = ", d_model);
    MOERB_REQUIRE(num_layers > 0, where, ": TransformerConfig::num_layers = ", num_layers,
            ", expected > 0");
    MOERB_REQUIRE(max_positions > 0, where, ": TransformerConfig::max_positions = ", max_positions,
            ", expected > 0");
    MOERB_REQUIRE(num_segments >= 0, where, ": TransformerConfig::num_segments = ", num_segments,
            ", expected >= 0");
    require_rate(dropout, where, "TransformerConfig::dropout");
    require_rate(attention_dropout, where, "TransformerConfig::attention_dropout");
    MOERB_REQUIRE(norm_eps > 0, where, ": TransformerConfig::norm_eps = ", norm_eps, ", expected > 0");
    MOERB_REQUIRE(moe_every >= 1, where, ": TransformerConfig::moe_every = ", moe_every,
            ", expected >= 1");
    MOERB_REQUIRE(position != PositionEncoding::rotary || (d_model / num_heads) % 2 == 0, where,
            ": rotary positions need an even head dimension, got d_model / num_heads = ",
            d_model / num_heads);
  }

  /// The configuration as strings, for a checkpoint's __metadata__.
  [[nodiscard]] std::map<std::string, std::string> to_metadata() const {
    return {{"vocab_size", std::to_string(vocab_size)},
            {"d_model", std::to_string(d_model)},
            {"num_heads", std::to_string(num_heads)},
            {"num_layers", std::to_string(num_layers)},
            {"max_positions", std::to_string(max_positions)},
            {"position", position == PositionEncoding::learned ? "learned" : "rotary"},
            {"num_segments", std::to_string(num_segments)},
            {"moe_every", std::to_string(moe_every)},
            {"attention_bias", attention_bias ? "true" : "false"}};
  }

  /// Throws moerb::error naming the first architecture field of `metadata` (written by
  /// to_metadata) that differs from this configuration; dropout rates may differ.
  void check_metadata(const std::map<std::string, std::string>& metadata,
                      std::string_view where) const {
    require_metadata_matches(to_metadata(), metadata, where);
  }
};

}  // namespace moerb
