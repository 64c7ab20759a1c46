#pragma once
// A seedable, splittable random number generator.
//
// Reproducibility rule: every random draw in moerb comes from an Rng derived from one user seed by
// `split(tag)` chains, never from shared mutable state. A component that needs randomness derives
// its own stream from the forward context (e.g. expert e's dropout uses `ctx.rng.split(e)`), so the
// numbers do not depend on the order in which threads run. Generator: xoshiro256** (Blackman &
// Vigna 2021, "Scrambled linear pseudorandom number generators"), seeded through SplitMix64.
// Distributions are written here (not std::*_distribution, whose output is implementation-defined).
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>

namespace moerb {

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0x6d6f657262ULL) : key_(seed) { reseed(); }

  /// An independent stream identified by `tag`; does not advance this generator.
  [[nodiscard]] Rng split(std::uint64_t tag) const {
    Rng child(0);
    child.key_ = mix(key_ ^ mix(tag + 0x9e3779b97f4a7c15ULL));
    child.reseed();
    return child;
  }

  /// The seed-derived key that identifies this stream (stable across runs).
  [[nodiscard]] std::uint64_t key() const { return key_; }

  std::uint64_t next_u64() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

  /// Uniform integer in [0, n), unbiased (rejection on the top bits). n must be > 0.
  std::uint64_t uniform_index(std::uint64_t n) {
    const std::uint64_t limit =
        std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % n;
    std::uint64_t v = next_u64();
    while (v >= limit) v = next_u64();
    return v % n;
  }

  /// Standard normal by the Box-Muller transform (one value per call, no cached spare so that the
  /// stream position does not depend on the call history of other distributions).
  double normal() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

  double normal(double mean, double stddev) { return mean + stddev * normal(); }

  /// True with probability p.
  bool bernoulli(double p) { return uniform() < p; }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  // SplitMix64 finaliser (Steele, Lea & Flood 2014).
  static constexpr std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  void reseed() {
    std::uint64_t x = key_;
    for (auto& s : s_) {
      x += 0x9e3779b97f4a7c15ULL;
      s = mix(x);
    }
  }

  std::uint64_t key_;
  std::uint64_t s_[4]{};
};

}  // namespace moerb
