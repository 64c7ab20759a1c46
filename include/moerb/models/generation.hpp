#pragma once
// Next-token selection for generation: greedy, temperature sampling and nucleus (top-p) sampling
// (Holtzman et al. 2020).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"

namespace moerb {

struct GenerationOptions {
  Index max_new_tokens = 16;
  /// 0 = greedy (argmax, ties to the lower id); > 0 divides the logits before sampling.
  double temperature = 0.0;
  /// Nucleus sampling: sample from the smallest set of most probable tokens whose probability
  /// reaches top_p (at least one token). 1 = the whole vocabulary. Ignored when greedy.
  double top_p = 1.0;
  /// Generation stops after this id is produced (−1 = never).
  std::int32_t eos_id = -1;
  std::uint64_t seed = 0;
  /// Decode with a key-value cache (each new token costs one row of attention per layer) when the
  /// model allows it exactly (TransformerTrunk::supports_cached_decoding: no capacity, expert
  /// choice, balanced or random routing); false re-runs the whole prefix for every token, the
  /// reference the cache is tested against.
  bool kv_cache = true;

  void validate(std::string_view where) const {
    MOERB_REQUIRE(max_new_tokens >= 0, where, ": GenerationOptions::max_new_tokens = ", max_new_tokens,
            ", expected >= 0");
    MOERB_REQUIRE(std::isfinite(temperature) && temperature >= 0, where,
            ": GenerationOptions::temperature = ", temperature, ", expected a finite value >= 0");
    MOERB_REQUIRE(top_p > 0 && top_p <= 1, where, ": GenerationOptions::top_p = ", top_p,
            ", expected in (0, 1]");
  }
};

/// Picks the next token from `logits` (vocab scores; −inf allowed for excluded tokens) as
/// `options` say, drawing from `rng` when sampling. `order` is a workspace.
template <class Derived>
std::int32_t select_next_token(const Eigen::DenseBase<Derived>& logits,
                               const GenerationOptions& options, Rng& rng,
                               std::vector<Index>& order) {
  const Index V = logits.size();
  MOERB_REQUIRE(V > 0, "select_next_token: empty logits");
  Index best = 0;
  for (Index i = 1; i < V; ++i) {
    if (logits(i) > logits(best)) best = i;
  }
  MOERB_REQUIRE(std::isfinite(static_cast<double>(logits(best))),
          "select_next_token: no token has a finite score");
  if (options.temperature == 0) return static_cast<std::int32_t>(best);
  const double m = static_cast<double>(logits(best));
  std::vector<double> p(static_cast<std::size_t>(V));
  double z = 0;
  for (Index i = 0; i < V; ++i) {
    const double l = static_cast<double>(logits(i));
    p[static_cast<std::size_t>(i)] = std::isinf(l) ? 0.0 : std::exp((l - m) / options.temperature);
    z += p[static_cast<std::size_t>(i)];
  }
  order.resize(static_cast<std::size_t>(V));
  std::iota(order.begin(), order.end(), Index{0});
  std::stable_sort(order.begin(), order.end(), [&](Index a, Index b) {
    return p[static_cast<std::size_t>(a)] > p[static_cast<std::size_t>(b)];
  });
  // Nucleus: the shortest prefix of the sorted tokens with mass >= top_p.
  double mass = 0;
  std::size_t keep = 0;
  while (keep < order.size()) {
    mass += p[static_cast<std::size_t>(order[keep])] / z;
    ++keep;
    if (mass >= options.top_p) break;
  }
  double kept = 0;
  for (std::size_t i = 0; i < keep; ++i) kept += p[static_cast<std::size_t>(order[i])];
  double u = rng.uniform() * kept;
  for (std::size_t i = 0; i < keep; ++i) {
    u -= p[static_cast<std::size_t>(order[i])];
    if (u < 0) return static_cast<std::int32_t>(order[i]);
  }
  return static_cast<std::int32_t>(order[keep - 1]);
}

}  // namespace moerb
