#pragma once
// Synthetic classification and language-modelling data for the trainer and attack tests:
// learnable in a few steps by tiny models, made deterministically from a seed.
#include <cstdint>
#include <vector>

#include "moerb/core/rng.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "moerb/text/vocabulary.hpp"
#include "moerb/train/trainer.hpp"
#include "support/model_testing.hpp"

namespace moerb::test {

/// Sequences of 3–6 random ids in [2, 13); label 1 when id 5 occurs, else 0 (about balanced).
inline std::vector<EncodedExample> toy_classification(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<EncodedExample> out;
  while (out.size() < n) {
    EncodedExample e;
    const auto len = 3 + static_cast<std::size_t>(rng.uniform_index(4));
    const bool positive = out.size() % 2 == 0;
    for (std::size_t i = 0; i < len; ++i) {
      std::int32_t id = 2 + static_cast<std::int32_t>(rng.uniform_index(11));
      if (id == 5) id = 6;
      e.ids.push_back(id);
    }
    if (positive) e.ids[static_cast<std::size_t>(rng.uniform_index(len))] = 5;
    e.label = positive ? 1 : 0;
    out.push_back(std::move(e));
  }
  return out;
}

/// Sequences that count up modulo 11 from a random start (ids 2..12): predictable after one token.
inline std::vector<std::vector<std::int32_t>> toy_language(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<std::int32_t>> out;
  for (std::size_t s = 0; s < n; ++s) {
    const auto start = static_cast<std::int32_t>(rng.uniform_index(11));
    const auto len = 4 + static_cast<std::size_t>(rng.uniform_index(5));
    std::vector<std::int32_t> seq;
    for (std::size_t i = 0; i < len; ++i) {
      seq.push_back(2 + (start + static_cast<std::int32_t>(i)) % 11);
    }
    out.push_back(std::move(seq));
  }
  return out;
}

/// The attack tests' marker task: [CLS] w... [SEP] with 3-6 words w in 7..19; label 1 iff word 9
/// occurs (every other example, at a random position).
inline std::vector<EncodedExample> toy_marker_task(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<EncodedExample> out;
  while (out.size() < n) {
    const bool positive = out.size() % 2 == 0;
    const auto len = 3 + static_cast<std::size_t>(rng.uniform_index(4));
    EncodedExample e;
    e.ids.push_back(Vocabulary::cls_id);
    for (std::size_t i = 0; i < len; ++i) {
      const auto id = 7 + static_cast<std::int32_t>(rng.uniform_index(13));
      e.ids.push_back(id == 9 ? 10 : id);
    }
    if (positive) e.ids[1 + static_cast<std::size_t>(rng.uniform_index(len))] = 9;
    e.ids.push_back(Vocabulary::sep_id);
    e.label = positive ? 1 : 0;
    out.push_back(std::move(e));
  }
  return out;
}

/// tiny_config() for the marker task: vocabulary 20, d_model 16, one block.
inline TransformerConfig toy_marker_config(Index num_segments) {
  TransformerConfig c = tiny_config();
  c.vocab_size = 20;
  c.d_model = 16;
  c.num_layers = 1;
  c.num_segments = num_segments;
  return c;
}

/// A 2-class classifier (mean pooling, no head dropout) initialised from seed 1.
template <class FFN>
EncoderClassifier<FFN> untrained_toy_classifier(const FeedForwardSpec<FFN>& spec,
                                                const TransformerConfig& c) {
  typename EncoderClassifier<FFN>::Options o;
  o.transformer = c;
  o.num_classes = 2;
  o.head_dropout = 0;
  o.pooling = Pooling::mean;
  EncoderClassifier<FFN> model(o, spec);
  Rng rng(1);
  model.initialize(rng);
  return model;
}

/// untrained_toy_classifier after 40 AdamW steps on toy_marker_task(160, 1) (a few hundredths of
/// a second).
template <class FFN>
EncoderClassifier<FFN> trained_toy_classifier(const FeedForwardSpec<FFN>& spec,
                                              const TransformerConfig& c) {
  EncoderClassifier<FFN> model = untrained_toy_classifier(spec, c);
  Recipe r;
  r.progress = false;
  r.learning_rate = 1e-2;
  r.batch_size = 16;
  r.epochs = 4;
  r.warmup_ratio = 0;
  r.dropout = 0;
  r.seed = 3;
  r.threads = 1;
  ClassifierTrainer<EncoderClassifier<FFN>> trainer(model, r);
  (void)trainer.fit(toy_marker_task(160, 1));
  return model;
}

}  // namespace moerb::test
