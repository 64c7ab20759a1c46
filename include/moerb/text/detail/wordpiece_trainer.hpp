#pragma once
// The WordPiece training loop (Schuster & Nakajima 2012, "Japanese and Korean Voice Search"):
// start from characters and repeatedly add the merge of two adjacent pieces that most increases
// the likelihood of the training data under a unigram model of pieces. The gain of merging a and b
// is scored, as in common WordPiece implementations, by
//   score(a, b) = count(ab) / (count(a) · count(b))
// — the pair's count relative to what independent pieces would give — not by count(ab) alone as
// in BPE. Words are segmented BERT-style (Devlin et al. 2019): the first piece of a word is plain,
// the others carry the continuation prefix "##".
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/text/utf8.hpp"
#include "moerb/text/vocabulary.hpp"

namespace moerb {

/// One merge of WordPiece training, in the order they happened.
struct WordPieceMerge {
  std::string left;              ///< e.g. "a" or "##a"
  std::string right;             ///< always a continuation piece, e.g. "##b"
  std::string merged;            ///< left + right without its "##": "ab" or "##ab"
  std::uint64_t pair_count = 0;  ///< count(left right) in the corpus when merged
  double score = 0.0;            ///< count(ab) / (count(a) · count(b)) when merged
  friend bool operator==(const WordPieceMerge&, const WordPieceMerge&) = default;
};

namespace detail::text {

inline constexpr std::string_view continuation_prefix = "##";

/// Trains a WordPiece vocabulary on word counts (`words[i]` seen `counts[i]` times; every word
/// valid UTF-8 and non-empty, the list free of duplicates).
///
/// Vocabulary order: the special tokens; the alphabet — every character that starts a word, then
/// every "##"-prefixed character that continues one, each group in byte-wise order; then the
/// merged pieces in merge order. The alphabet is always kept whole (a character outside it could
/// never be encoded), so the result can exceed vocab_size when the alphabet alone does. Merging
/// stops when the vocabulary has vocab_size tokens or no pair occurs min_pair_count times.
///
/// Ties are broken deterministically and independently of the word order: highest score, then
/// highest pair count, then byte-wise smallest merged piece, then smallest left piece. Scores are
/// compared as doubles; equal rationals give equal doubles as long as count(a)·count(b) < 2^53.
///
/// Cost: each merge scans all distinct adjacent pairs (to find the best score, which changes for
/// every pair that shares a piece with the merged one) and rewrites only the words that contain
/// the merged pair.
class WordPieceTrainer {
 public:
  WordPieceTrainer(const std::vector<std::string_view>& words,
                   const std::vector<std::uint64_t>& counts) {
    MOERB_REQUIRE(words.size() == counts.size(), "WordPieceTrainer: ", words.size(), " words but ",
            counts.size(), " counts");
    MOERB_REQUIRE(words.size() < std::numeric_limits<std::uint32_t>::max(),
            "WordPieceTrainer: ", words.size(), " distinct words, expected fewer than 2^32");
    build_alphabet(words);
    words_.reserve(words.size());
    counts_ = counts;
    symbol_counts_.assign(symbols_.size(), 0);
    for (std::size_t w = 0; w < words.size(); ++w) {
      std::vector<std::int32_t> pieces;
      std::string piece;
      for (const utf8::CodePoint& c : utf8::code_points(words[w], "WordPieceTrainer")) {
        piece.assign(c.offset == 0 ? std::string_view{} : continuation_prefix);
        piece.append(words[w].substr(c.offset, c.length));
        pieces.push_back(symbol_ids_.at(piece));
      }
      words_.push_back(std::move(pieces));
      add_word(w, +1);
    }
  }

  /// Runs the merges; see the class comment.
  void train(std::size_t vocab_size, std::uint64_t min_pair_count,
             std::vector<WordPieceMerge>* merges) {
    while (Vocabulary::special_token_count + symbols_.size() < vocab_size) {
      const auto best = best_pair(min_pair_count);
      if (!best) break;
      const auto [left, right] = split_key(best->key);
      std::string merged = symbols_[static_cast<std::size_t>(left)];
      merged.append(std::string_view(symbols_[static_cast<std::size_t>(right)])
                        .substr(continuation_prefix.size()));
      if (merges != nullptr) {
        merges->push_back(WordPieceMerge{symbols_[static_cast<std::size_t>(left)],
                                         symbols_[static_cast<std::size_t>(right)], merged,
                                         best->count, best->score});
      }
      // A merge can rebuild a piece another segmentation already made ("a"+"##bc" and
      // "ab"+"##c"); it then reuses that piece and the vocabulary does not grow.
      const std::int32_t merged_id = symbol_id(merged);
      apply_merge(best->key, left, right, merged_id);
    }
  }

  /// Special tokens, alphabet, merged pieces.
  [[nodiscard]] Vocabulary vocabulary() const {
    Vocabulary vocab;
    for (const std::string& s : symbols_) vocab.add(s);
    return vocab;
  }

 private:
  using Key = std::uint64_t;  // (left symbol << 32) | right symbol
  struct Candidate {
    Key key;
    std::uint64_t count;
    double score;
  };

  static Key make_key(std::int32_t left, std::int32_t right) {
    return (static_cast<Key>(static_cast<std::uint32_t>(left)) << 32) |
           static_cast<std::uint32_t>(right);
  }
  static std::pair<std::int32_t, std::int32_t> split_key(Key key) {
    return {static_cast<std::int32_t>(key >> 32), static_cast<std::int32_t>(key & 0xFFFFFFFFu)};
  }

  void build_alphabet(const std::vector<std::string_view>& words) {
    std::vector<std::string> initial;
    std::vector<std::string> continuation;
    for (std::string_view word : words) {
      for (const utf8::CodePoint& c : utf8::code_points(word, "WordPieceTrainer")) {
        const std::string_view ch = word.substr(c.offset, c.length);
        if (c.offset == 0) {
          initial.emplace_back(ch);
        } else {
          continuation.emplace_back(std::string(continuation_prefix) + std::string(ch));
        }
      }
      // Keep the scratch lists short on large corpora.
      if (initial.size() + continuation.size() > 4096) {
        unique_sorted(initial);
        unique_sorted(continuation);
      }
    }
    unique_sorted(initial);
    unique_sorted(continuation);
    for (const std::string& s : initial) symbol_id(s);
    for (const std::string& s : continuation) symbol_id(s);
  }

  static void unique_sorted(std::vector<std::string>& v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  }

  /// The id of piece `s`, creating it if new.
  std::int32_t symbol_id(const std::string& s) {
    if (const auto it = symbol_ids_.find(s); it != symbol_ids_.end()) return it->second;
    MOERB_REQUIRE(Vocabulary::special_token_count + symbols_.size() <
                static_cast<std::size_t>(std::numeric_limits<TokenId>::max()),
            "WordPieceTrainer: too many pieces for 32-bit ids");
    const auto id = static_cast<std::int32_t>(symbols_.size());
    symbols_.push_back(s);
    symbol_ids_.emplace(s, id);
    symbol_counts_.push_back(0);
    return id;
  }

  /// Adds (sign +1) or removes (sign -1) word w's pieces and adjacent pairs from the counts. When
  /// adding, w is recorded as holding each of its pairs that contains `indexed_piece` (any pair
  /// when it is `all_pieces`): after a merge only the pairs with the new piece are new to w.
  static constexpr std::int32_t all_pieces = -1;
  void add_word(std::size_t w, int sign, std::int32_t indexed_piece = all_pieces) {
    const std::vector<std::int32_t>& pieces = words_[w];
    const std::uint64_t n = counts_[w];
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      auto& sc = symbol_counts_[static_cast<std::size_t>(pieces[i])];
      sc = sign > 0 ? sc + n : sc - n;
      if (i + 1 == pieces.size()) continue;
      const Key key = make_key(pieces[i], pieces[i + 1]);
      if (sign > 0) {
        pair_counts_[key] += n;
        if (indexed_piece == all_pieces || pieces[i] == indexed_piece ||
            pieces[i + 1] == indexed_piece) {
          pair_words_[key].push_back(static_cast<std::uint32_t>(w));
        }
      } else {
        const auto it = pair_counts_.find(key);
        it->second -= n;
        if (it->second == 0) pair_counts_.erase(it);
      }
    }
  }

  [[nodiscard]] std::optional<Candidate> best_pair(std::uint64_t min_pair_count) const {
    std::optional<Candidate> best;
    for (const auto& [key, count] : pair_counts_) {
      if (count < min_pair_count) continue;
      const auto [left, right] = split_key(key);
      const double denominator =
          static_cast<double>(symbol_counts_[static_cast<std::size_t>(left)]) *
          static_cast<double>(symbol_counts_[static_cast<std::size_t>(right)]);
      const Candidate c{key, count, static_cast<double>(count) / denominator};
      if (!best || better(c, *best)) best = c;
    }
    return best;
  }

  [[nodiscard]] bool better(const Candidate& a, const Candidate& b) const {
    if (a.score != b.score) return a.score > b.score;
    if (a.count != b.count) return a.count > b.count;
    const auto [al, ar] = split_key(a.key);
    const auto [bl, br] = split_key(b.key);
    const std::string_view a_left = symbols_[static_cast<std::size_t>(al)];
    const std::string_view b_left = symbols_[static_cast<std::size_t>(bl)];
    const std::string a_merged =
        std::string(a_left) +
        symbols_[static_cast<std::size_t>(ar)].substr(continuation_prefix.size());
    const std::string b_merged =
        std::string(b_left) +
        symbols_[static_cast<std::size_t>(br)].substr(continuation_prefix.size());
    if (a_merged != b_merged) return a_merged < b_merged;
    return a_left < b_left;
  }

  void apply_merge(Key key, std::int32_t left, std::int32_t right, std::int32_t merged) {
    std::vector<std::uint32_t> affected = std::move(pair_words_[key]);
    pair_words_.erase(key);
    std::sort(affected.begin(), affected.end());
    affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
    std::vector<std::int32_t> rewritten;
    for (const std::uint32_t w : affected) {
      const std::vector<std::int32_t>& pieces = words_[w];
      rewritten.clear();
      bool changed = false;
      for (std::size_t i = 0; i < pieces.size(); ++i) {
        if (i + 1 < pieces.size() && pieces[i] == left && pieces[i + 1] == right) {
          rewritten.push_back(merged);
          ++i;
          changed = true;
        } else {
          rewritten.push_back(pieces[i]);
        }
      }
      if (!changed) continue;  // a stale entry: an earlier merge already rewrote the word
      add_word(w, -1);
      words_[w].swap(rewritten);
      add_word(w, +1, merged);
    }
  }

  std::vector<std::string> symbols_;  // piece id → piece; vocabulary id = special count + piece id
  std::unordered_map<std::string, std::int32_t> symbol_ids_;
  std::vector<std::uint64_t> symbol_counts_;            // count(piece) in the current segmentation
  std::vector<std::vector<std::int32_t>> words_;        // current segmentation of each word
  std::vector<std::uint64_t> counts_;                   // how often each word occurs
  std::unordered_map<Key, std::uint64_t> pair_counts_;  // count(ab) of every pair that occurs
  std::unordered_map<Key, std::vector<std::uint32_t>> pair_words_;  // words holding the pair
};

}  // namespace detail::text
}  // namespace moerb
