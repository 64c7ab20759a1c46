#pragma once
// The Tokenizer concept and BERT-style model inputs built from it: [CLS] a [SEP] (b [SEP]) with
// segment ids, truncated to a maximum length (Devlin et al. 2019, §3 "Input/Output
// Representations").
#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/text/vocabulary.hpp"

namespace moerb {

/// What the model-input helpers need from a tokenizer (modelled by WordTokenizer and
/// WordPieceTokenizer): text → ids, ids → text, and the vocabulary with the special tokens at
/// their fixed ids (Vocabulary::cls_id, ...).
template <class T>
concept Tokenizer = requires(const T& tokenizer, std::string_view text,
                             std::span<const TokenId> ids) {
  { tokenizer.encode(text) } -> std::same_as<std::vector<TokenId>>;
  { tokenizer.decode(ids) } -> std::same_as<std::string>;
  { tokenizer.vocabulary() } -> std::same_as<const Vocabulary&>;
  { tokenizer.vocab_size() } -> std::convertible_to<std::size_t>;
};

/// One model input: ids[i] is the token at position i and segment_ids[i] its segment (0 for the
/// first text with [CLS] and its [SEP], 1 for the second text and the final [SEP]).
struct EncodedText {
  std::vector<TokenId> ids;
  std::vector<std::int32_t> segment_ids;
  friend bool operator==(const EncodedText&, const EncodedText&) = default;
};

/// Pass as max_length to keep every token.
inline constexpr std::size_t no_max_length = std::numeric_limits<std::size_t>::max();

namespace detail::text {

/// Lengths (kept_a, kept_b) after "longest first" truncation of two token sequences to `budget`
/// tokens in all: one token at a time is removed from the end of the longer sequence (of the
/// second when both are equally long) until they fit.
[[nodiscard]] inline std::pair<std::size_t, std::size_t> longest_first(std::size_t length_a,
                                                                       std::size_t length_b,
                                                                       std::size_t budget) {
  if (length_a + length_b <= budget) return {length_a, length_b};
  // Removing from the longer one first evens the lengths out; once they are equal, removals
  // alternate b, a, b, ... so b ends up with the rounded-down half.
  const std::size_t shorter = std::min(length_a, length_b);
  if (2 * shorter >= budget) {
    const std::size_t half_down = budget / 2;
    return {budget - half_down, half_down};
  }
  return length_a < length_b ? std::pair{length_a, budget - length_a}
                             : std::pair{budget - length_b, length_b};
}

inline void append_segment(EncodedText& out, std::span<const TokenId> ids, std::int32_t segment) {
  out.ids.insert(out.ids.end(), ids.begin(), ids.end());
  out.ids.push_back(Vocabulary::sep_id);
  out.segment_ids.insert(out.segment_ids.end(), ids.size() + 1, segment);
}

}  // namespace detail::text

/// [CLS] a [SEP] with all segment ids 0, a's tokens cut from the end to fit max_length (>= 2, the
/// two special tokens; use no_max_length to keep everything). Throws moerb::error for a smaller
/// max_length or invalid UTF-8.
template <Tokenizer T>
[[nodiscard]] EncodedText encode_single(const T& tokenizer, std::string_view a,
                                        std::size_t max_length) {
  MOERB_REQUIRE(max_length >= 2, "encode_single: max_length = ", max_length,
          ", expected >= 2 (room for [CLS] and [SEP])");
  std::vector<TokenId> ids_a = tokenizer.encode(a);
  if (ids_a.size() > max_length - 2) ids_a.resize(max_length - 2);
  EncodedText out;
  out.ids.reserve(ids_a.size() + 2);
  out.segment_ids.reserve(ids_a.size() + 2);
  out.ids.push_back(Vocabulary::cls_id);
  out.segment_ids.push_back(0);
  detail::text::append_segment(out, ids_a, 0);
  return out;
}

/// [CLS] a [SEP] b [SEP] with segment ids 0 for "[CLS] a [SEP]" and 1 for "b [SEP]". When the
/// total exceeds max_length (>= 3, the three special tokens; use no_max_length to keep
/// everything), tokens are removed "longest first": one at a time from the end of whichever of a
/// and b is longer at that moment (b when they are equally long). Throws moerb::error for a
/// smaller max_length or invalid UTF-8.
template <Tokenizer T>
[[nodiscard]] EncodedText encode_pair(const T& tokenizer, std::string_view a, std::string_view b,
                                      std::size_t max_length) {
  MOERB_REQUIRE(max_length >= 3, "encode_pair: max_length = ", max_length,
          ", expected >= 3 (room for [CLS] and two [SEP])");
  std::vector<TokenId> ids_a = tokenizer.encode(a);
  std::vector<TokenId> ids_b = tokenizer.encode(b);
  const auto [kept_a, kept_b] =
      detail::text::longest_first(ids_a.size(), ids_b.size(), max_length - 3);
  ids_a.resize(kept_a);
  ids_b.resize(kept_b);
  EncodedText out;
  out.ids.reserve(kept_a + kept_b + 3);
  out.segment_ids.reserve(kept_a + kept_b + 3);
  out.ids.push_back(Vocabulary::cls_id);
  out.segment_ids.push_back(0);
  detail::text::append_segment(out, ids_a, 0);
  detail::text::append_segment(out, ids_b, 1);
  return out;
}

}  // namespace moerb
