#pragma once
// TokenBatch: the input of a model — token ids of B packed sequences (see SequenceBatch), with
// optional segment (token-type) ids for sentence pairs.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/nn/sequence_batch.hpp"

namespace moerb {

struct TokenBatch {
  std::vector<std::int32_t> ids;       ///< num_tokens ids, sequences back to back
  std::vector<std::int32_t> segments;  ///< num_tokens segment ids, or empty (all 0)
  SequenceBatch sequences;

  [[nodiscard]] Index num_tokens() const { return sequences.num_tokens(); }
  [[nodiscard]] Index num_sequences() const { return sequences.num_sequences(); }

  /// Appends one sequence (non-empty); `segment_ids` empty or of the same length.
  void push_back(std::span<const std::int32_t> token_ids,
                 std::span<const std::int32_t> segment_ids = {}) {
    MOERB_REQUIRE(!token_ids.empty(), "TokenBatch::push_back: empty sequence");
    MOERB_REQUIRE(segment_ids.empty() || segment_ids.size() == token_ids.size(),
            "TokenBatch::push_back: ", segment_ids.size(), " segment ids for ", token_ids.size(),
            " tokens");
    if (!segment_ids.empty() && segments.empty()) segments.assign(ids.size(), 0);
    const bool has_segments = !segments.empty() || !segment_ids.empty();
    ids.insert(ids.end(), token_ids.begin(), token_ids.end());
    if (has_segments && segment_ids.empty()) {
      segments.resize(ids.size(), 0);
    } else if (has_segments) {
      segments.insert(segments.end(), segment_ids.begin(), segment_ids.end());
    }
    sequences.push_back(static_cast<Index>(token_ids.size()));
  }

  /// Throws moerb::error naming `where` unless ids, segments and sequences agree.
  void validate(std::string_view where) const {
    MOERB_REQUIRE(static_cast<Index>(ids.size()) == sequences.num_tokens(), where, ": TokenBatch has ",
            ids.size(), " ids but its sequences cover ", sequences.num_tokens(), " tokens");
    MOERB_REQUIRE(segments.empty() || segments.size() == ids.size(), where, ": TokenBatch has ",
            segments.size(), " segment ids for ", ids.size(), " ids");
    MOERB_REQUIRE(sequences.num_sequences() > 0, where, ": empty TokenBatch");
  }

  /// Sequences [first, first + count) as their own batch.
  [[nodiscard]] TokenBatch slice(Index first, Index count) const {
    TokenBatch out;
    for (Index b = first; b < first + count; ++b) {
      const auto begin = static_cast<std::size_t>(sequences.begin(b));
      const auto n = static_cast<std::size_t>(sequences.length(b));
      out.push_back(std::span<const std::int32_t>(ids).subspan(begin, n),
                    segments.empty() ? std::span<const std::int32_t>{}
                                     : std::span<const std::int32_t>(segments).subspan(begin, n));
    }
    return out;
  }
};

}  // namespace moerb
