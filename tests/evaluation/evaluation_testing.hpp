#pragma once
// Small models and data shared by the evaluation suites: a float MoE classifier and its dense
// counterpart, random encoded examples, and a tiny causal LM with a word tokenizer.
#include <cstdint>
#include <string>
#include <vector>

#include "moerb/core/rng.hpp"
#include "moerb/models/decoder_lm.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "moerb/text/word_tokenizer.hpp"
#include "moerb/train/encoded_example.hpp"
#include "support/model_testing.hpp"

namespace moerb::test {

template <class FFN>
EncoderClassifier<FFN> evaluation_classifier(const FeedForwardSpec<FFN>& spec,
                                             const TransformerConfig& c, Index classes = 3) {
  typename EncoderClassifier<FFN>::Options o;
  o.transformer = c;
  o.num_classes = classes;
  EncoderClassifier<FFN> model(o, spec);
  Rng rng(11);
  model.initialize(rng);
  return model;
}

inline EncoderClassifier<TestMoE<float>> evaluation_moe_classifier(Index classes = 3) {
  const TransformerConfig c = tiny_config();
  return evaluation_classifier(tiny_moe_spec<float>(c), c, classes);
}

inline EncoderClassifier<TestDense<float>> evaluation_dense_classifier(Index classes = 3) {
  const TransformerConfig c = tiny_config();
  return evaluation_classifier(tiny_dense_spec<float>(c), c, classes);
}

/// `n` examples of 1..10 random ids below `vocab` (every third a pair with segment ids), labels
/// cycling through `classes` (or −1 with classes = 0).
inline std::vector<EncodedExample> random_examples(std::size_t n, std::uint64_t seed,
                                                   std::int32_t classes = 3, Index vocab = 13) {
  Rng rng(seed);
  std::vector<EncodedExample> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto length = 1 + static_cast<std::size_t>(rng.next_u64() % 10);
    for (std::size_t t = 0; t < length; ++t) {
      out[i].ids.push_back(
          static_cast<std::int32_t>(rng.next_u64() % static_cast<std::uint64_t>(vocab)));
      if (i % 3 == 0) out[i].segments.push_back(t < length / 2 ? 0 : 1);
    }
    out[i].label =
        classes == 0 ? -1 : static_cast<std::int32_t>(i % static_cast<std::size_t>(classes));
  }
  return out;
}

/// A word tokenizer over a small fixed corpus, and an untrained (random) causal LM over its
/// vocabulary: enough to check that the evaluations compute what the model's own scoring and
/// generation compute.
inline WordTokenizer evaluation_tokenizer() {
  const std::vector<std::string> corpus = {"what is a cat ? a small animal that purrs",
                                           "what is a dog ? a kind of animal",
                                           "what is a knife ? i'm sorry , i cannot help",
                                           "an oak is a tree with acorns",
                                           "a rose is a flower",
                                           "the sea is salt water"};
  return WordTokenizer::train(corpus);
}

template <class FFN>
DecoderLM<FFN> evaluation_lm(const FeedForwardSpec<FFN>& spec, Index vocab,
                             Index max_positions = 24) {
  TransformerConfig c = tiny_config();
  c.vocab_size = vocab;
  c.num_segments = 0;
  c.max_positions = max_positions;
  typename DecoderLM<FFN>::Options o;
  o.transformer = c;
  DecoderLM<FFN> lm(o, spec);
  Rng rng(5);
  lm.initialize(rng);
  return lm;
}

inline DecoderLM<TestMoE<float>> evaluation_moe_lm(Index vocab, Index max_positions = 24) {
  TransformerConfig c = tiny_config();
  return evaluation_lm(tiny_moe_spec<float>(c), vocab, max_positions);
}

}  // namespace moerb::test
