#pragma once
// SequenceBatch: how a batch of variable-length sequences is laid out in one activation matrix.
//
// moerb packs sequences without padding (the "varlen" layout of FlashAttention): the activations
// of B sequences are one `tokens × d_model` matrix whose rows [offsets[b], offsets[b+1]) are
// sequence b, so token-wise layers (norms, experts, MoE routing) never see padding and padding
// never uses expert capacity. Attention works per sequence on its contiguous row block.
// Users who bring padded batches give a key mask instead (see MultiHeadAttention).
#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"

namespace moerb {

class SequenceBatch {
 public:
  SequenceBatch() : offsets_{0} {}

  /// From sequence lengths (each >= 1).
  static SequenceBatch from_lengths(std::span<const Index> lengths) {
    SequenceBatch b;
    b.offsets_.reserve(lengths.size() + 1);
    for (std::size_t i = 0; i < lengths.size(); ++i) {
      MOERB_REQUIRE(lengths[i] >= 1, "SequenceBatch::from_lengths: lengths[", i, "] = ", lengths[i],
              ", expected >= 1");
      b.offsets_.push_back(b.offsets_.back() + lengths[i]);
    }
    return b;
  }
  static SequenceBatch from_lengths(std::initializer_list<Index> lengths) {
    return from_lengths(std::span<const Index>(lengths.begin(), lengths.size()));
  }
  /// One sequence of `length` tokens.
  static SequenceBatch single(Index length) { return from_lengths({length}); }

  /// Appends a sequence of `length` (>= 1) tokens.
  void push_back(Index length) {
    MOERB_REQUIRE(length >= 1, "SequenceBatch::push_back: length = ", length, ", expected >= 1");
    offsets_.push_back(offsets_.back() + length);
  }

  [[nodiscard]] Index num_sequences() const { return static_cast<Index>(offsets_.size()) - 1; }
  [[nodiscard]] Index num_tokens() const { return offsets_.back(); }
  [[nodiscard]] Index begin(Index b) const { return offsets_[checked(b)]; }
  [[nodiscard]] Index end(Index b) const { return offsets_[checked(b) + 1]; }
  [[nodiscard]] Index length(Index b) const { return end(b) - begin(b); }
  [[nodiscard]] Index max_length() const {
    Index m = 0;
    for (Index b = 0; b < num_sequences(); ++b) m = std::max(m, length(b));
    return m;
  }
  /// offsets (num_sequences + 1 entries, offsets[0] = 0).
  [[nodiscard]] std::span<const Index> offsets() const { return offsets_; }

  /// Throws moerb::error naming `where` unless the batch covers exactly `rows` rows.
  void require_rows(Index rows, std::string_view where) const {
    MOERB_REQUIRE(rows == num_tokens(), where, ": the activations have ", rows,
            " rows but the SequenceBatch covers ", num_tokens(), " tokens in ", num_sequences(),
            " sequences");
  }

  bool operator==(const SequenceBatch&) const = default;

 private:
  [[nodiscard]] std::size_t checked(Index b) const {
    MOERB_REQUIRE(b >= 0 && b < num_sequences(), "SequenceBatch: sequence index ", b,
            ", expected in [0, ", num_sequences(), ")");
    return static_cast<std::size_t>(b);
  }
  std::vector<Index> offsets_;
};

}  // namespace moerb
