#pragma once
// ClassifierJudge: a moerb sequence classifier (e.g. an EncoderClassifier trained to tell harmful
// from harmless text) with its tokenizer, as a moerb::Judge (safety.hpp): texts in, the
// classifier's softmax probability of the harmful class per text out.
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"
#include "moerb/models/token_batch.hpp"
#include "moerb/text/tokenizer.hpp"

namespace moerb {

/// A model that maps a TokenBatch to one row of class logits per sequence (EncoderClassifier).
template <class M>
concept SequenceClassifier = requires(M& model, const TokenBatch& batch,
                                      const ForwardContext& ctx) {
  typename M::Scalar;
  { model.forward(batch, ctx) } -> std::convertible_to<const Matrix<typename M::Scalar>&>;
};

template <SequenceClassifier Model, Tokenizer Tok>
class ClassifierJudge {
 public:
  struct Options {
    std::int32_t harmful_class = 1;  ///< the class whose probability is the harmfulness score
    std::size_t max_length = 128;    ///< tokens per text, [CLS] and [SEP] included (>= 2)
    std::size_t batch_size = 32;     ///< texts per forward pass (>= 1)
  };

  /// Keeps references: the model and tokenizer must outlive the judge.
  ClassifierJudge(Model& model, const Tok& tokenizer, const Options& options = {})
      : model_(model), tokenizer_(tokenizer), options_(options) {
    MOERB_REQUIRE(options.harmful_class >= 0,
                  "ClassifierJudge: harmful_class = ", options.harmful_class, ", expected >= 0");
    MOERB_REQUIRE(options.max_length >= 2, "ClassifierJudge: max_length = ", options.max_length,
                  ", expected >= 2");
    MOERB_REQUIRE(options.batch_size >= 1, "ClassifierJudge: batch_size = ", options.batch_size,
                  ", expected >= 1");
  }

  /// P(harmful | text) for each text, by an evaluation-mode forward (no dropout) in batches.
  [[nodiscard]] std::vector<double> harmfulness(std::span<const std::string> texts) {
    std::vector<double> scores;
    scores.reserve(texts.size());
    for (std::size_t begin = 0; begin < texts.size(); begin += options_.batch_size) {
      const std::size_t end = std::min(texts.size(), begin + options_.batch_size);
      TokenBatch batch;
      for (std::size_t i = begin; i < end; ++i) {
        const EncodedText encoded = encode_single(tokenizer_, texts[i], options_.max_length);
        batch.push_back(encoded.ids, encoded.segment_ids);
      }
      const auto& logits = model_.forward(batch, ForwardContext{});
      MOERB_REQUIRE(options_.harmful_class < logits.cols(),
                    "ClassifierJudge::harmfulness: harmful_class ", options_.harmful_class,
                    " but the model has ", logits.cols(), " classes");
      for (Index r = 0; r < logits.rows(); ++r) {
        const double max = static_cast<double>(logits.row(r).maxCoeff());
        double sum = 0;
        for (Index k = 0; k < logits.cols(); ++k) {
          sum += std::exp(static_cast<double>(logits(r, k)) - max);
        }
        scores.push_back(std::exp(static_cast<double>(logits(r, options_.harmful_class)) - max) /
                         sum);
      }
    }
    return scores;
  }

  [[nodiscard]] const Options& options() const { return options_; }

 private:
  Model& model_;
  const Tok& tokenizer_;
  Options options_;
};

}  // namespace moerb
