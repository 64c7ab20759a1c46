#pragma once
// The machine's FP32 FMA peak, measured in the same process as the benchmark that reports against
// it: independent chains of fused multiply-adds on registers, at the widest vector width the build
// targets (xsimd's default architecture), on a given number of threads at once.
//
// Each thread runs `kChains` independent accumulators, acc ← acc · a + b, so that the FMA units
// never wait for a previous result (latency 4 cycles × 2 FMA ports on current x86 cores needs at
// least 8 chains; 12 leave a margin). One FMA of a batch of N floats is 2·N FLOPs.
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace moerb_bench {

using FmaArch = xsimd::default_arch;
inline constexpr int kChains = 12;

/// Runs `iterations` rounds of kChains independent FMAs on one thread; returns a value that
/// depends on every accumulator (so the compiler keeps them).
inline float fma_chains(std::int64_t iterations) {
  using Batch = xsimd::batch<float, FmaArch>;
  // acc · a + b with a slightly below 1 and b small stays finite and normal for any count. The
  // values come through volatiles so that the compiler cannot fold the chains at compile time.
  static volatile float a_value = 0.999999f, b_value = 1e-6f, start = 1.0f;
  const Batch a(a_value), b(b_value);
  Batch acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = Batch(start + 0.01f * static_cast<float>(c));
  for (std::int64_t i = 0; i < iterations; ++i) {
    for (int c = 0; c < kChains; ++c) acc[c] = xsimd::fma(acc[c], a, b);
  }
  Batch sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum += acc[c];
  return xsimd::hadd(sum);  // the horizontal sum (xsimd 8)
}

/// FLOPs of fma_chains(iterations).
inline double fma_chain_flops(std::int64_t iterations) {
  return 2.0 * static_cast<double>(iterations) * kChains *
         static_cast<double>(xsimd::batch<float, FmaArch>::size);
}

/// The FP32 FMA peak of `threads` cores running at once, in GFLOP/s: the best of a few short
/// rounds (about 0.1 s each), so a core that is briefly busy elsewhere does not lower it.
inline double measure_fma_peak_gflops(int threads, int rounds = 5) {
  constexpr std::int64_t iterations = 20'000'000;
  threads = std::max(threads, 1);
  double best = 0;
  std::vector<float> sink(static_cast<std::size_t>(threads));
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::thread> pool;
    const auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&sink, t] { sink[static_cast<std::size_t>(t)] = fma_chains(iterations); });
    }
    for (std::thread& th : pool) th.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, threads * fma_chain_flops(iterations) / seconds / 1e9);
  }
  volatile float keep = 0;
  for (float s : sink) keep = keep + s;
  return best;
}

/// The instruction set of FmaArch, for reports ("avx512f", "avx2+fma", …).
inline std::string fma_arch_name() {
  return FmaArch::name();
}

}  // namespace moerb_bench
