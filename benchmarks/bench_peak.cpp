// The machine's FP32 FMA peak (Google Benchmark): register-only FMA chains at the widest vector
// width this build targets (benchmarks/fma_peak.hpp), on one core and on every core at once. The
// MoE-layer and dense benchmarks report their GFLOP/s as a fraction of the same measurement
// (`peak_fraction`), taken in their own process; this one shows the peak by itself. Counter:
// GFLOP/s (all threads together).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

#include "fma_peak.hpp"

namespace {

// Arg: threads, each running the chains on its own core (std::thread, started per iteration; the
// start costs about 0.1 % of an iteration).
void BM_FmaPeak(benchmark::State& state) {
  const auto threads = static_cast<int>(state.range(0));
  std::int64_t iterations = 10'000'000;
  std::vector<float> sink(static_cast<std::size_t>(threads));
  for (auto _ : state) {
    benchmark::DoNotOptimize(iterations);  // opaque: every iteration runs the chains again
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&sink, t, iterations] {
        sink[static_cast<std::size_t>(t)] = moerb_bench::fma_chains(iterations);
      });
    }
    for (std::thread& th : pool) th.join();
  }
  benchmark::DoNotOptimize(sink.data());
  state.counters["GFLOP/s"] =
      benchmark::Counter(threads * moerb_bench::fma_chain_flops(iterations) / 1e9,
                         benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(moerb_bench::fma_arch_name());
}
BENCHMARK(BM_FmaPeak)
    ->Arg(1)
    ->Arg(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())))
    ->ArgName("threads")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
