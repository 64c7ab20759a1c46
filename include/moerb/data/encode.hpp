#pragma once
// From text data sets to model inputs: tokenizes every example of a TextDataset as
// [CLS] a [SEP] (b [SEP]) with segment ids, for ClassifierTrainer and the evaluation helpers.
#include <cstddef>
#include <vector>

#include "moerb/data/example.hpp"
#include "moerb/text/tokenizer.hpp"
#include "moerb/train/encoded_example.hpp"

namespace moerb {

/// Encodes `dataset` with `tokenizer`: single texts as encode_single, pairs (text_b non-empty) as
/// encode_pair, truncated to max_length tokens; labels are copied (−1 for unlabeled examples).
template <Tokenizer T>
std::vector<EncodedExample> encode_dataset(const T& tokenizer, const TextDataset& dataset,
                                           std::size_t max_length) {
  std::vector<EncodedExample> out;
  out.reserve(dataset.examples.size());
  for (const TextExample& e : dataset.examples) {
    EncodedText text = e.text_b.empty() ? encode_single(tokenizer, e.text_a, max_length)
                                        : encode_pair(tokenizer, e.text_a, e.text_b, max_length);
    EncodedExample x;
    x.ids = std::move(text.ids);
    if (!e.text_b.empty()) x.segments = std::move(text.segment_ids);
    x.label = e.label;
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace moerb
