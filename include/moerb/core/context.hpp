#pragma once
// What a forward pass needs besides its input: mode, randomness and optional token ids.
#include <cstdint>
#include <span>

#include "moerb/core/rng.hpp"

namespace moerb {

struct ForwardContext {
  /// Training mode turns on router noise/jitter, dropout and expert dropout; evaluation is
  /// deterministic and uses the routers' inference-time settings (e.g. an overridden k).
  bool training = false;
  /// The stream this forward draws from; layers derive sub-streams with `rng.split(tag)`.
  /// Use a new split per step (e.g. `Rng(seed).split(step)`) so that steps differ.
  Rng rng{0};
  /// Token ids of the rows of x (needed by hash routing; empty otherwise).
  std::span<const std::int32_t> token_ids{};

  [[nodiscard]] ForwardContext with_rng(Rng r) const {
    ForwardContext c = *this;
    c.rng = r;
    return c;
  }
};

/// Tags for `ForwardContext::rng.split` so that components never share a stream.
namespace rng_tag {
inline constexpr std::uint64_t router = 1;
inline constexpr std::uint64_t router_jitter = 2;
inline constexpr std::uint64_t expert_base = 1000;  // expert e uses expert_base + e
inline constexpr std::uint64_t shared_expert_base = 500000;
inline constexpr std::uint64_t dense_ffn = 3;
}  // namespace rng_tag

}  // namespace moerb
