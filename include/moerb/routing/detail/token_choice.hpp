#pragma once
// Builds the expert-grouped Routing from per-token choices, applying expert capacity.
#include <algorithm>
#include <cmath>
#include <vector>

#include "moerb/routing/routing.hpp"

namespace moerb::detail {

/// Expert capacity ⌈capacity_factor · tokens · k / experts⌉ (GShard / Switch); at least 1.
inline Index expert_capacity(double capacity_factor, Index tokens, Index k, Index experts) {
  const double c = capacity_factor * static_cast<double>(tokens * k) / static_cast<double>(experts);
  return std::max<Index>(1, static_cast<Index>(std::ceil(c - 1e-9)));
}

/// Fills r.offsets/token/weight/slot/assignment/load/dropped/unrouted_tokens from r.selected
/// (tokens × k, -1 = no choice) and `weights` (tokens × k).
///
/// Capacity (`capacity` < 0 means unlimited) is granted in priority order: every token's first
/// choice before any second choice, and within a choice rank by token order (GShard, Lepikhin et
/// al. 2021, Alg. 1). `choice_counts` receives how many tokens chose each expert before capacity.
template <class S>
void build_token_choice(Routing<S>& r, const Matrix<S>& weights, Index capacity,
                        std::vector<Index>& choice_counts, std::vector<Index>& scratch) {
  const Index T = r.selected.rows();
  const Index k = r.selected.cols();
  const Index E = r.num_experts;
  r.num_tokens = T;
  r.k = k;
  auto& kept = scratch;
  kept.assign(static_cast<std::size_t>(E), 0);
  choice_counts.assign(static_cast<std::size_t>(E), 0);
  r.assignment.setConstant(T, k, -1);
  r.dropped = 0;
  // Pass 1: decide which choices are kept, in priority order. Mark kept with assignment = 0.
  for (Index j = 0; j < k; ++j) {
    for (Index t = 0; t < T; ++t) {
      const Index e = r.selected(t, j);
      if (e < 0) continue;
      auto& c = kept[static_cast<std::size_t>(e)];
      ++choice_counts[static_cast<std::size_t>(e)];
      if (capacity < 0 || c < capacity) {
        ++c;
        r.assignment(t, j) = 0;
      } else {
        ++r.dropped;
      }
    }
  }
  // Pass 2: expert-grouped layout with ascending tokens inside each expert.
  r.offsets.assign(static_cast<std::size_t>(E) + 1, 0);
  for (Index e = 0; e < E; ++e)
    r.offsets[static_cast<std::size_t>(e) + 1] =
        r.offsets[static_cast<std::size_t>(e)] + kept[static_cast<std::size_t>(e)];
  const auto n = static_cast<std::size_t>(r.offsets.back());
  r.token.resize(n);
  r.weight.resize(n);
  r.slot.resize(n);
  r.load.assign(kept.begin(), kept.end());
  std::vector<Index>& cursor = kept;
  for (Index e = 0; e < E; ++e)
    cursor[static_cast<std::size_t>(e)] = r.offsets[static_cast<std::size_t>(e)];
  r.unrouted_tokens = 0;
  for (Index t = 0; t < T; ++t) {
    bool any = false;
    for (Index j = 0; j < k; ++j) {
      if (r.assignment(t, j) < 0) continue;
      const Index e = r.selected(t, j);
      const Index a = cursor[static_cast<std::size_t>(e)]++;
      r.assignment(t, j) = a;
      r.token[static_cast<std::size_t>(a)] = t;
      r.weight[static_cast<std::size_t>(a)] = weights(t, j);
      r.slot[static_cast<std::size_t>(a)] = j;
      any = true;
    }
    if (!any) ++r.unrouted_tokens;
  }
}

}  // namespace moerb::detail
