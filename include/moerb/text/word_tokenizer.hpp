#pragma once
// WordTokenizer: one id per pre-tokenized word, with a vocabulary of a corpus' most frequent words
// — the simplest baseline tokenizer, and the one whose unknown-word rate a subword tokenizer is
// meant to beat.
#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/text/detail/tokenizer_file.hpp"
#include "moerb/text/pre_tokenizer.hpp"
#include "moerb/text/vocabulary.hpp"

namespace moerb {

/// A range of texts a tokenizer can be trained on (std::vector<std::string>, a span of
/// string_views, ...).
template <class R>
concept TextCorpus = std::ranges::input_range<R> &&
    std::convertible_to<std::ranges::range_reference_t<R>, std::string_view>;

namespace detail::text {

using WordCounts = std::unordered_map<std::string, std::uint64_t, StringHash, std::equal_to<>>;

/// How often each pre-tokenized word occurs in `corpus`.
template <class Corpus>
[[nodiscard]] WordCounts count_words(Corpus&& corpus, const PreTokenizer& pre_tokenizer) {
  WordCounts counts;
  for (auto&& document : corpus) {
    pre_tokenizer.for_each_word(std::string_view(document), [&counts](std::string_view word) {
      if (const auto it = counts.find(word); it != counts.end()) {
        ++it->second;
      } else {
        counts.emplace(std::string(word), 1);
      }
    });
  }
  return counts;
}

/// Throws moerb::error naming the first id outside the vocabulary.
inline void require_ids_in_vocabulary(std::span<const TokenId> ids, const Vocabulary& vocab,
                                      std::string_view where) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!vocab.contains_id(ids[i])) {
      throw error(
          concat(where, ": ids[", i, "] = ", ids[i], ", expected in [0, ", vocab.size(), ")"));
    }
  }
}

}  // namespace detail::text

/// Maps each word of the pre-tokenized text (moerb::PreTokenizer) to its id; words outside the
/// vocabulary become [UNK]. decode joins the tokens with single spaces, so for text whose words
/// are all in the vocabulary decode(encode(text)) == PreTokenizer::normalize(text).
///
/// Saved as a tokenizer file (see moerb/text/detail/tokenizer_file.hpp): the header
/// "#moerb-tokenizer word v1 lowercase=true min_count=1 max_size=0", then the vocabulary.
class WordTokenizer {
 public:
  struct Options {
    /// Words seen fewer times in the training corpus are left out (and encode to [UNK]); >= 1.
    std::size_t min_count = 1;
    /// Largest vocabulary size, the 7 special tokens included (0 = unlimited; otherwise >= 7).
    /// The most frequent words are kept; ties go to the byte-wise smaller word, so the vocabulary
    /// never depends on the corpus order.
    std::size_t max_size = 0;
    /// Lower-case before splitting (PreTokenizer::Options::lowercase).
    bool lowercase = true;
  };

  static constexpr std::string_view file_kind = "word";

  /// A tokenizer over an existing vocabulary. Throws moerb::error for invalid options.
  WordTokenizer(Vocabulary vocabulary, const Options& options)
      : options_(checked(options, "WordTokenizer")),
        pre_tokenizer_(PreTokenizer::Options{options.lowercase}),
        vocabulary_(std::move(vocabulary)) {}

  /// Builds the vocabulary from `corpus`: the special tokens, then the words seen at least
  /// min_count times ordered by decreasing count (ties: byte-wise increasing word), cut to
  /// max_size. Throws moerb::error for invalid options or invalid UTF-8 in the corpus.
  template <TextCorpus Corpus>
  [[nodiscard]] static WordTokenizer train(Corpus&& corpus, const Options& options) {
    checked(options, "WordTokenizer::train");
    const PreTokenizer pre_tokenizer(PreTokenizer::Options{options.lowercase});
    const detail::text::WordCounts counts = detail::text::count_words(corpus, pre_tokenizer);

    std::vector<std::pair<std::string_view, std::uint64_t>> kept;
    kept.reserve(counts.size());
    for (const auto& [word, count] : counts) {
      if (count >= options.min_count) kept.emplace_back(word, count);
    }
    std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (options.max_size != 0) {
      const std::size_t room = options.max_size - Vocabulary::special_token_count;
      if (kept.size() > room) kept.resize(room);
    }
    Vocabulary vocabulary;
    for (const auto& entry : kept) vocabulary.add(entry.first);
    return WordTokenizer(std::move(vocabulary), options);
  }
  template <TextCorpus Corpus>
  [[nodiscard]] static WordTokenizer train(Corpus&& corpus) {
    return train(std::forward<Corpus>(corpus), Options{});
  }

  /// The ids of the words of `text` (empty text → no ids). Throws moerb::error for invalid UTF-8.
  [[nodiscard]] std::vector<TokenId> encode(std::string_view text) const {
    std::vector<TokenId> ids;
    encode_into(text, ids);
    return ids;
  }

  /// Appends the ids of the words of `text` to `ids` (reuse one buffer across calls).
  void encode_into(std::string_view text, std::vector<TokenId>& ids) const {
    pre_tokenizer_.for_each_word(
        text, [&](std::string_view word) { ids.push_back(vocabulary_.id_or_unk(word)); });
  }

  /// The tokens of `ids` joined by single spaces; special tokens appear as their text ("[UNK]")
  /// unless skip_special_tokens. Throws moerb::error naming the first id outside the vocabulary.
  [[nodiscard]] std::string decode(std::span<const TokenId> ids,
                                   bool skip_special_tokens = false) const {
    detail::text::require_ids_in_vocabulary(ids, vocabulary_, "WordTokenizer::decode");
    std::string text;
    for (const TokenId id : ids) {
      if (skip_special_tokens && Vocabulary::is_special(id)) continue;
      if (!text.empty()) text += ' ';
      text += vocabulary_.tokens()[static_cast<std::size_t>(id)];
    }
    return text;
  }

  [[nodiscard]] const Vocabulary& vocabulary() const noexcept { return vocabulary_; }
  [[nodiscard]] std::size_t vocab_size() const noexcept { return vocabulary_.size(); }
  [[nodiscard]] const Options& options() const noexcept { return options_; }
  [[nodiscard]] const PreTokenizer& pre_tokenizer() const noexcept { return pre_tokenizer_; }

  /// Writes the tokenizer file atomically.
  void save(const std::filesystem::path& path) const {
    detail::text::save_tokenizer_file(path, file_kind,
                                      {{"lowercase", options_.lowercase ? "true" : "false"},
                                       {"min_count", std::to_string(options_.min_count)},
                                       {"max_size", std::to_string(options_.max_size)}},
                                      vocabulary_, "WordTokenizer::save");
  }

  /// Reads a tokenizer file written by save; errors name the file and the line.
  [[nodiscard]] static WordTokenizer load(const std::filesystem::path& path) {
    detail::text::TokenizerFileReader reader(path, file_kind, "WordTokenizer::load");
    Options options;
    options.lowercase = reader.take_bool("lowercase");
    options.min_count = reader.take_size("min_count");
    options.max_size = reader.take_size("max_size");
    reader.finish();
    if (options.min_count < 1 ||
        (options.max_size != 0 && options.max_size < Vocabulary::special_token_count)) {
      reader.fail_at(1, "invalid options min_count=", options.min_count,
                     " max_size=", options.max_size);
    }
    return WordTokenizer(reader.vocabulary(), options);
  }

 private:
  static const Options& checked(const Options& options, std::string_view where) {
    MOERB_REQUIRE(options.min_count >= 1, where, ": min_count = 0, expected >= 1");
    MOERB_REQUIRE(options.max_size == 0 || options.max_size >= Vocabulary::special_token_count, where,
            ": max_size = ", options.max_size,
            ", expected 0 (unlimited) or >= ", Vocabulary::special_token_count,
            " (the special tokens)");
    return options;
  }

  Options options_;
  PreTokenizer pre_tokenizer_;
  Vocabulary vocabulary_;
};

}  // namespace moerb
