#pragma once
// Word embedding tables for the lexical attacks: the nearest-neighbour swap (TextFooler: Jin et al.
// 2020, "Is BERT Really Robust? A Strong Baseline for Natural Language Attack on Text
// Classification and Entailment", §3.2 step 2) and the embedding-cosine constraint.
//
//   WordEmbeddings<S>      a table the user loads (e.g. counter-fitted vectors): words and vectors.
//   WordEmbeddingIndex<S>  words ↔ unit-norm rows, built once from such a table or from a victim's
//                          own word_embedding_table() with the tokenizer's Vocabulary; cosines and
//                          the k nearest neighbours of a row by one GEMV.
//
// Rows that can never be proposed as substitutes: the special tokens ([PAD], [UNK], ...: ids < 7 of
// a Vocabulary, or those strings in a user table), tokens that are not one AttackedText word
// (WordPiece continuations "##ing", punctuation) and all-zero rows.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "moerb/attacks/detail/lexical.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"
#include "moerb/text/vocabulary.hpp"

namespace moerb {

/// A word embedding table given by the user: vectors.row(i) is the vector of words[i].
template <FloatingScalar S>
struct WordEmbeddings {
  std::vector<std::string> words;  ///< distinct, non-empty
  Matrix<S> vectors;               ///< words.size() × dim, finite
};

/// One neighbour of a word: its row and its cosine similarity.
struct WordNeighbour {
  Index row = 0;
  double cosine = 0;
  friend bool operator==(const WordNeighbour&, const WordNeighbour&) = default;
};

template <FloatingScalar S>
class WordEmbeddingIndex {
 public:
  /// From a user table. Throws moerb::error for an empty table, a size mismatch between words and
  /// rows, an empty or duplicate word, or a non-finite value.
  explicit WordEmbeddingIndex(const WordEmbeddings<S>& table) : words_(table.words) {
    constexpr std::string_view where = "WordEmbeddingIndex";
    MOERB_REQUIRE(static_cast<Index>(table.words.size()) == table.vectors.rows(), where, ": ",
                  table.words.size(), " words for ", table.vectors.rows(), " vectors");
    proposable_.assign(words_.size(), 1);
    for (std::size_t i = 0; i < words_.size(); ++i) {
      const std::string& w = words_[i];
      MOERB_REQUIRE(!w.empty(), where, ": words[", i, "] is empty");
      const bool special =
          std::find(Vocabulary::special_tokens.begin(), Vocabulary::special_tokens.end(), w) !=
          Vocabulary::special_tokens.end();
      if (special || !detail::lexical::is_single_word(w)) proposable_[i] = 0;
    }
    build(table.vectors, where);
  }

  /// From a victim's embedding table (vocab_size × d_model, e.g. word_embedding_table()) whose row
  /// i embeds vocabulary.token(i). The special tokens (ids < 7) are never proposed. Throws when the
  /// table's row count differs from the vocabulary's size.
  WordEmbeddingIndex(const Matrix<S>& table, const Vocabulary& vocabulary)
      : words_(vocabulary.tokens()) {
    constexpr std::string_view where = "WordEmbeddingIndex";
    MOERB_REQUIRE(static_cast<std::size_t>(table.rows()) == vocabulary.size(), where,
                  ": the embedding table has ", table.rows(), " rows but the vocabulary has ",
                  vocabulary.size(), " tokens");
    proposable_.assign(words_.size(), 1);
    for (std::size_t i = 0; i < words_.size(); ++i) {
      if (Vocabulary::is_special(static_cast<TokenId>(i)) ||
          !detail::lexical::is_single_word(words_[i])) {
        proposable_[i] = 0;
      }
    }
    build(table, where);
  }

  [[nodiscard]] Index size() const { return unit_.rows(); }
  [[nodiscard]] Index dim() const { return unit_.cols(); }
  [[nodiscard]] const std::string& word(Index row) const {
    MOERB_REQUIRE(row >= 0 && row < size(), "WordEmbeddingIndex::word: row ", row,
                  ", expected in [0, ", size(), ")");
    return words_[static_cast<std::size_t>(row)];
  }
  /// Whether row `row` may be proposed as a substitute.
  [[nodiscard]] bool proposable(Index row) const {
    return row >= 0 && row < size() && proposable_[static_cast<std::size_t>(row)] != 0;
  }
  /// The unit-norm rows (size × dim; an all-zero input row stays zero).
  [[nodiscard]] const Matrix<S>& unit_rows() const { return unit_; }

  /// The row of `word`: the word as written, else its lower-case form; nullopt when neither is in
  /// the table.
  [[nodiscard]] std::optional<Index> find(std::string_view word) const {
    if (const auto it = rows_.find(word); it != rows_.end()) return it->second;
    const std::string lower = detail::lexical::lower(word, "WordEmbeddingIndex::find");
    if (const auto it = rows_.find(lower); it != rows_.end()) return it->second;
    return std::nullopt;
  }

  /// cos(row a, row b) (0 when either row is all zero).
  [[nodiscard]] double cosine(Index a, Index b) const {
    MOERB_REQUIRE(a >= 0 && a < size() && b >= 0 && b < size(), "WordEmbeddingIndex::cosine: rows ",
                  a, " and ", b, ", expected in [0, ", size(), ")");
    return static_cast<double>(unit_.row(a).dot(unit_.row(b)));
  }
  /// cos(a, b) of two words, nullopt when either is not in the table.
  [[nodiscard]] std::optional<double> cosine(std::string_view a, std::string_view b) const {
    const std::optional<Index> ra = find(a);
    if (!ra) return std::nullopt;
    const std::optional<Index> rb = find(b);
    if (!rb) return std::nullopt;
    return cosine(*ra, *rb);
  }

  /// The (at most) k proposable rows other than `row` with the largest cosine to it, all with
  /// cosine >= min_cosine, best first (ties: lower row first). One GEMV over the table; `scores` is
  /// scratch space (size()).
  void nearest(Index row, std::size_t k, double min_cosine, std::vector<WordNeighbour>& out,
               Vector<S>& scores) const {
    constexpr std::string_view where = "WordEmbeddingIndex::nearest";
    MOERB_REQUIRE(row >= 0 && row < size(), where, ": row ", row, ", expected in [0, ", size(),
                  ")");
    check_neighbour_options(k, min_cosine, where);
    out.clear();
    scores.noalias() = unit_ * unit_.row(row).transpose();
    for (Index j = 0; j < size(); ++j) {
      const auto c = static_cast<double>(scores(j));
      if (j != row && proposable_[static_cast<std::size_t>(j)] != 0 && c >= min_cosine) {
        out.push_back({j, c});
      }
    }
    const auto better = [](const WordNeighbour& a, const WordNeighbour& b) {
      return a.cosine != b.cosine ? a.cosine > b.cosine : a.row < b.row;
    };
    if (out.size() > k) {
      std::nth_element(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(k), out.end(),
                       better);
      out.resize(k);
    }
    std::sort(out.begin(), out.end(), better);
  }

  /// Throws moerb::error naming `where` unless k >= 1 and min_cosine is in [-1, 1].
  static void check_neighbour_options(std::size_t k, double min_cosine, std::string_view where) {
    MOERB_REQUIRE(k >= 1, where, ": k = 0, expected >= 1 neighbour");
    MOERB_REQUIRE(min_cosine >= -1.0 && min_cosine <= 1.0, where, ": min_cosine = ", min_cosine,
                  ", expected in [-1, 1]");
  }

 private:
  void build(const Matrix<S>& vectors, std::string_view where) {
    MOERB_REQUIRE(vectors.rows() > 0 && vectors.cols() > 0, where, ": empty embedding table (",
                  vectors.rows(), " × ", vectors.cols(), ")");
    unit_.resize(vectors.rows(), vectors.cols());
    rows_.reserve(words_.size());
    for (Index i = 0; i < vectors.rows(); ++i) {
      const auto row = vectors.row(i).template cast<double>();
      MOERB_REQUIRE(row.allFinite(), where, ": the vector of '",
                    words_[static_cast<std::size_t>(i)], "' (row ", i, ") is not finite");
      const double norm = row.norm();
      if (norm > 0) {
        unit_.row(i) = (row / norm).template cast<S>();
      } else {
        unit_.row(i).setZero();
        proposable_[static_cast<std::size_t>(i)] = 0;
      }
      const bool inserted = rows_.emplace(words_[static_cast<std::size_t>(i)], i).second;
      MOERB_REQUIRE(inserted, where, ": the word '", words_[static_cast<std::size_t>(i)],
                    "' appears twice (row ", i, ")");
    }
  }

  std::vector<std::string> words_;
  std::vector<std::uint8_t> proposable_;
  Matrix<S> unit_;
  std::unordered_map<std::string, Index, detail::text::StringHash, std::equal_to<>> rows_;
};

}  // namespace moerb
