#pragma once
// Synthetic classification and language-modelling data for the trainer tests: learnable in a
// few steps by tiny models, made deterministically from a seed.
#include <cstdint>
#include <vector>

#include "moerb/core/rng.hpp"
#include "moerb/train/trainer.hpp"

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

}  // namespace moerb::test
