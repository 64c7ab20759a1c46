#pragma once
// Shared by the attack tests: a victim that is not a moerb model (a bag-of-words linear
// classifier that counts its forwards), a word tokenizer over a fixed vocabulary and a
// deletion transformation.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "moerb/attacks/attacked_text.hpp"
#include "moerb/core/context.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"
#include "moerb/models/token_batch.hpp"
#include "moerb/text/word_tokenizer.hpp"

namespace moerb::test {

/// logits(sequence) = Σ over its tokens of weights.row(id): a linear bag-of-words model with
/// `classes` columns. Counts forwards and scored sequences.
struct BagOfWordsVictim {
  using Scalar = double;
  Matrix<double> weights;  ///< vocab × classes
  Matrix<double> logits;
  std::int64_t forwards = 0;
  std::int64_t sequences = 0;

  [[nodiscard]] Index num_classes() const { return weights.cols(); }
  const Matrix<double>& forward(const TokenBatch& batch, const ForwardContext&) {
    ++forwards;
    sequences += batch.num_sequences();
    logits = Matrix<double>::Zero(batch.num_sequences(), weights.cols());
    for (Index b = 0; b < batch.num_sequences(); ++b) {
      for (Index t = batch.sequences.begin(b); t < batch.sequences.end(b); ++t) {
        logits.row(b) += weights.row(batch.ids[static_cast<std::size_t>(t)]);
      }
    }
    return logits;
  }
};

/// A word tokenizer over the words "good bad great awful fine movie plot the a is" (ids 7..16).
inline WordTokenizer sentiment_tokenizer() {
  const std::vector<std::string> corpus{"good bad great awful fine movie plot the a is"};
  return WordTokenizer::train(corpus);
}

/// Sentiment weights for sentiment_tokenizer(): class 1 (positive) for good/great/fine, class 0
/// for bad/awful, the rest neutral.
inline BagOfWordsVictim sentiment_victim(const WordTokenizer& tokenizer) {
  BagOfWordsVictim v;
  v.weights = Matrix<double>::Zero(static_cast<Index>(tokenizer.vocab_size()), 2);
  const auto set = [&](const char* word, double negative, double positive) {
    const auto id = tokenizer.encode(word).at(0);
    v.weights(id, 0) = negative;
    v.weights(id, 1) = positive;
  };
  set("good", 0, 2);
  set("great", 0, 3);
  set("fine", 0, 1);
  set("bad", 2, 0);
  set("awful", 3, 0);
  return v;
}

/// Candidates: each given word deleted.
struct DeleteWord {
  void transform(const AttackedText& text, std::span<const WordPosition> positions,
                 std::vector<AttackedText>& out, Rng&) const {
    for (const WordPosition p : positions) out.push_back(text.with_word(p, ""));
  }
};

/// Candidates: each given word replaced by each word of `substitutes`.
struct SwapWords {
  std::vector<std::string> substitutes;
  void transform(const AttackedText& text, std::span<const WordPosition> positions,
                 std::vector<AttackedText>& out, Rng&) const {
    for (const WordPosition p : positions) {
      for (const std::string& w : substitutes) out.push_back(text.with_word(p, w));
    }
  }
};

}  // namespace moerb::test
