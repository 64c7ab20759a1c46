#pragma once
// WordPieceTokenizer: subword tokenization with a vocabulary trained by the WordPiece algorithm
// (Schuster & Nakajima 2012) and BERT's greedy longest-match-first segmentation (Devlin et al.
// 2019), so that rare words become sequences of known pieces instead of [UNK].
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/text/detail/tokenizer_file.hpp"
#include "moerb/text/detail/wordpiece_trainer.hpp"
#include "moerb/text/pre_tokenizer.hpp"
#include "moerb/text/utf8.hpp"
#include "moerb/text/vocabulary.hpp"
#include "moerb/text/word_tokenizer.hpp"  // TextCorpus, count_words

namespace moerb {

/// Pre-tokenizes text (moerb::PreTokenizer), then splits each word into vocabulary pieces by
/// greedy longest-match-first: take the longest prefix of the rest of the word that is in the
/// vocabulary — plain for the word's first piece, with the prefix "##" for the others — and
/// repeat. A word that cannot be covered this way, or that is longer than
/// max_input_chars_per_word code points, becomes a single [UNK] ("unaffable" → "un" "##aff"
/// "##able"). decode glues "##" pieces to the piece before them and separates words with single
/// spaces, so for text whose words all have a segmentation decode(encode(text)) ==
/// PreTokenizer::normalize(text).
///
/// train() learns the vocabulary with the WordPiece merge loop (detail::text::WordPieceTrainer):
/// start from the characters, then repeatedly merge the adjacent pair with the highest
/// count(ab) / (count(a)·count(b)).
///
/// Saved as a tokenizer file (see moerb/text/detail/tokenizer_file.hpp): the header
/// "#moerb-tokenizer wordpiece v1 lowercase=true vocab_size=... min_frequency=...
/// max_input_chars_per_word=100", then the vocabulary.
class WordPieceTokenizer {
 public:
  struct Options {
    /// Target vocabulary size, the 7 special tokens included (>= 7). Training stops merging when
    /// it is reached; the character alphabet is always kept whole, so a corpus with more
    /// distinct characters gives a larger vocabulary.
    std::size_t vocab_size = 30000;
    /// A pair must occur at least this often in the corpus to be merged (>= 1).
    std::size_t min_frequency = 2;
    /// Lower-case before splitting (PreTokenizer::Options::lowercase).
    bool lowercase = true;
    /// Longer words (in code points) encode to [UNK] and are left out of training (>= 1).
    std::size_t max_input_chars_per_word = 100;
  };

  static constexpr std::string_view file_kind = "wordpiece";
  /// Marks a piece that continues a word.
  static constexpr std::string_view continuation_prefix = detail::text::continuation_prefix;

  /// A tokenizer over an existing vocabulary. Throws moerb::error for invalid options.
  WordPieceTokenizer(Vocabulary vocabulary, const Options& options)
      : options_(checked(options, "WordPieceTokenizer")),
        pre_tokenizer_(PreTokenizer::Options{options.lowercase}),
        vocabulary_(std::move(vocabulary)) {
    // The longest piece bounds the match search (in code points, "##" not counted).
    for (const std::string& token : vocabulary_.tokens()) {
      std::string_view piece = token;
      if (piece.size() > continuation_prefix.size() && piece.starts_with(continuation_prefix)) {
        piece.remove_prefix(continuation_prefix.size());
      }
      longest_piece_ = std::max(longest_piece_, utf8::length(piece));
    }
  }

  /// Trains a vocabulary on `corpus` (see the class comment and detail::text::WordPieceTrainer for
  /// the tie-breaking and the vocabulary order); if `merges` is not null, every merge is appended
  /// to it in order. The result depends only on the multiset of words, not on the corpus order.
  /// Throws moerb::error for invalid options or invalid UTF-8 in the corpus.
  template <TextCorpus Corpus>
  [[nodiscard]] static WordPieceTokenizer train(Corpus&& corpus, const Options& options,
                                                std::vector<WordPieceMerge>* merges = nullptr) {
    checked(options, "WordPieceTokenizer::train");
    const PreTokenizer pre_tokenizer(PreTokenizer::Options{options.lowercase});
    const detail::text::WordCounts counts = detail::text::count_words(corpus, pre_tokenizer);
    std::vector<std::pair<std::string_view, std::uint64_t>> entries;
    entries.reserve(counts.size());
    for (const auto& [word, count] : counts) {
      // Such words always encode to [UNK]; leaving them out also bounds the training cost.
      if (utf8::length(word) <= options.max_input_chars_per_word) entries.emplace_back(word, count);
    }
    std::sort(entries.begin(), entries.end());  // a fixed word order, whatever the hash order
    std::vector<std::string_view> words;
    std::vector<std::uint64_t> word_counts;
    words.reserve(entries.size());
    word_counts.reserve(entries.size());
    for (const auto& [word, count] : entries) {
      words.push_back(word);
      word_counts.push_back(count);
    }
    detail::text::WordPieceTrainer trainer(words, word_counts);
    trainer.train(options.vocab_size, options.min_frequency, merges);
    return WordPieceTokenizer(trainer.vocabulary(), options);
  }
  template <TextCorpus Corpus>
  [[nodiscard]] static WordPieceTokenizer train(Corpus&& corpus) {
    return train(std::forward<Corpus>(corpus), Options{});
  }

  /// The piece ids of `text` (empty text → no ids). Throws moerb::error for invalid UTF-8.
  [[nodiscard]] std::vector<TokenId> encode(std::string_view text) const {
    std::vector<TokenId> ids;
    encode_into(text, ids);
    return ids;
  }

  /// Appends the piece ids of `text` to `ids` (reuse one buffer across calls).
  void encode_into(std::string_view text, std::vector<TokenId>& ids) const {
    std::vector<std::size_t> boundaries;  // byte offset of each code point of the word, and end
    std::string candidate;                // "##" + piece, for the lookups
    pre_tokenizer_.for_each_word(
        text, [&](std::string_view word) { encode_word(word, ids, boundaries, candidate); });
  }

  /// The pieces of `ids` as text: "##" pieces are glued to the piece before them (a leading one
  /// loses its "##"), other pieces are separated by single spaces; special tokens appear as their
  /// text unless skip_special_tokens. Throws moerb::error naming the first id outside the
  /// vocabulary.
  [[nodiscard]] std::string decode(std::span<const TokenId> ids,
                                   bool skip_special_tokens = false) const {
    detail::text::require_ids_in_vocabulary(ids, vocabulary_, "WordPieceTokenizer::decode");
    std::string text;
    for (const TokenId id : ids) {
      if (skip_special_tokens && Vocabulary::is_special(id)) continue;
      const std::string_view token = vocabulary_.tokens()[static_cast<std::size_t>(id)];
      if (token.size() > continuation_prefix.size() && token.starts_with(continuation_prefix)) {
        text += token.substr(continuation_prefix.size());
      } else {
        if (!text.empty()) text += ' ';
        text += token;
      }
    }
    return text;
  }

  [[nodiscard]] const Vocabulary& vocabulary() const noexcept { return vocabulary_; }
  [[nodiscard]] std::size_t vocab_size() const noexcept { return vocabulary_.size(); }
  [[nodiscard]] const Options& options() const noexcept { return options_; }
  [[nodiscard]] const PreTokenizer& pre_tokenizer() const noexcept { return pre_tokenizer_; }

  /// Writes the tokenizer file atomically.
  void save(const std::filesystem::path& path) const {
    detail::text::save_tokenizer_file(
        path, file_kind,
        {{"lowercase", options_.lowercase ? "true" : "false"},
         {"vocab_size", std::to_string(options_.vocab_size)},
         {"min_frequency", std::to_string(options_.min_frequency)},
         {"max_input_chars_per_word", std::to_string(options_.max_input_chars_per_word)}},
        vocabulary_, "WordPieceTokenizer::save");
  }

  /// Reads a tokenizer file written by save; errors name the file and the line.
  [[nodiscard]] static WordPieceTokenizer load(const std::filesystem::path& path) {
    detail::text::TokenizerFileReader reader(path, file_kind, "WordPieceTokenizer::load");
    Options options;
    options.lowercase = reader.take_bool("lowercase");
    options.vocab_size = reader.take_size("vocab_size");
    options.min_frequency = reader.take_size("min_frequency");
    options.max_input_chars_per_word = reader.take_size("max_input_chars_per_word");
    reader.finish();
    if (const std::string problem = validate(options); !problem.empty()) {
      reader.fail_at(1, problem);
    }
    return WordPieceTokenizer(reader.vocabulary(), options);
  }

 private:
  /// What is wrong with `options`, or "" when nothing is.
  static std::string validate(const Options& options) {
    if (options.vocab_size < Vocabulary::special_token_count) {
      return detail::concat("vocab_size = ", options.vocab_size,
                            ", expected >= ", Vocabulary::special_token_count,
                            " (the special tokens)");
    }
    if (options.min_frequency < 1) return "min_frequency = 0, expected >= 1";
    if (options.max_input_chars_per_word < 1) return "max_input_chars_per_word = 0, expected >= 1";
    return {};
  }

  static const Options& checked(const Options& options, std::string_view where) {
    if (const std::string problem = validate(options); !problem.empty()) {
      throw error(detail::concat(where, ": ", problem));
    }
    return options;
  }

  void encode_word(std::string_view word, std::vector<TokenId>& ids,
                   std::vector<std::size_t>& boundaries, std::string& candidate) const {
    boundaries.clear();
    std::size_t offset = 0;
    while (offset < word.size()) {
      if (boundaries.size() == options_.max_input_chars_per_word) {  // one character too many
        ids.push_back(Vocabulary::unk_id);
        return;
      }
      boundaries.push_back(offset);
      char32_t cp = 0;
      offset += utf8::decode(word, offset, cp);  // the pre-tokenizer already validated the word
    }
    boundaries.push_back(word.size());
    const std::size_t chars = boundaries.size() - 1;
    const std::size_t first_id = ids.size();
    std::size_t start = 0;
    while (start < chars) {
      std::size_t end = std::min(chars, start + longest_piece_);
      std::optional<TokenId> match;
      for (; end > start; --end) {
        const std::string_view piece =
            word.substr(boundaries[start], boundaries[end] - boundaries[start]);
        if (start == 0) {
          match = vocabulary_.find(piece);
        } else {
          candidate.assign(continuation_prefix);
          candidate.append(piece);
          match = vocabulary_.find(candidate);
        }
        if (match) break;
      }
      if (!match) {  // no segmentation: the whole word is unknown
        ids.resize(first_id);
        ids.push_back(Vocabulary::unk_id);
        return;
      }
      ids.push_back(*match);
      start = end;
    }
  }

  Options options_;
  PreTokenizer pre_tokenizer_;
  Vocabulary vocabulary_;
  std::size_t longest_piece_ = 1;
};

}  // namespace moerb
