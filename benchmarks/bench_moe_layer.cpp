// Throughput of MoELayer<TopKRouter, SwiGLUExpert> and of the dense counterpart (Google Benchmark).
//
// Shape of record: T = 2048 tokens, d_model = 512, d_ff = 1024, E = 8 experts, k = 2, SwiGLU,
// float. Counters: tokens/s (items_per_second) and GFLOP/s of *active* FLOPs,
//   forward: 2·T·k·3·d·d_ff + 2·T·d·E,   forward + backward: three times that
// (the convention of the issue and of benchmarks/reference/moe_block_torch.py, which times the
// same block written as a PyTorch loop over experts). Sweeps: E ∈ {4..64} at k = 2 (cost per
// token should stay flat in E), k ∈ {1, 2, 4}, T ∈ {128 .. 8192}; the dense SwiGLU FFN at equal
// active parameters (d_ff_dense = k·d_ff). BM_ExpertGemms: the experts' GEMMs alone, the ceiling
// the layer's GEMM engine sets; BM_ExpertForwardVariants: one expert's forward with and without the
// gate/up GEMM fusion, and without its SwiGLU pass.
//
// Threads: Eigen's GEMMs and moerb's loops use OpenMP; set OMP_NUM_THREADS to pin the count.
// peak_fraction: GFLOP/s over the FP32 FMA peak of that many cores, measured at start-up in the
// same process (benchmarks/fma_peak.hpp; bench_peak shows it alone). Results and the command used
// are recorded in benchmarks/RESULTS.md.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "fma_peak.hpp"
#include "gemm_engine_context.hpp"

#include "moerb/experts/gated_expert.hpp"
#include "moerb/kernels/activation.hpp"
#include "moerb/layers/dense_ffn.hpp"
#include "moerb/layers/moe_layer.hpp"
#include "moerb/routing/top_k_router.hpp"

namespace {

using moerb::Index;
using Mat = moerb::Matrix<float>;
constexpr Index kDModel = 512;
constexpr Index kDFF = 1024;

double active_forward_flops(Index T, Index E, Index k) {
  return 2.0 * T * k * 3.0 * kDModel * kDFF + 2.0 * T * kDModel * E;
}

Mat random_tokens(Index T, std::uint64_t seed) {
  moerb::Rng rng(seed);
  Mat x(T, kDModel);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(rng.normal());
  return x;
}

using SwiGLUMoE = moerb::MoELayer<moerb::TopKRouter<float>, moerb::SwiGLUExpert<float>>;

SwiGLUMoE make_moe(Index E, Index k) {
  SwiGLUMoE layer(moerb::TopKRouter<float>::Options{.input_dim = kDModel, .num_experts = E, .k = k},
                  {.expert = {.d_model = kDModel, .d_ff = kDFF}});
  moerb::Rng rng(1);
  layer.initialize(rng);
  return layer;
}

/// The FP32 FMA peak of the cores the layer runs on (Eigen::nbThreads() of them, all at once),
/// measured once per process (benchmarks/fma_peak.hpp).
double fma_peak_gflops() {
  static const double peak = moerb_bench::measure_fma_peak_gflops(Eigen::nbThreads());
  return peak;
}

/// Wall time of the benchmark loop, for peak_fraction (a plain number, not a rate).
using Clock = std::chrono::steady_clock;

void set_counters(benchmark::State& state, Index T, double flops_per_iteration,
                  Clock::time_point loop_start) {
  const double seconds = std::chrono::duration<double>(Clock::now() - loop_start).count();
  state.SetItemsProcessed(state.iterations() * T);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops_per_iteration / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  const double gflops =
      flops_per_iteration * static_cast<double>(state.iterations()) / seconds / 1e9;
  state.counters["peak_fraction"] = gflops / fma_peak_gflops();
}

// Args: T, E, k
void BM_MoEForward(benchmark::State& state) {
  const Index T = state.range(0), E = state.range(1), k = state.range(2);
  SwiGLUMoE layer = make_moe(E, k);
  const Mat x = random_tokens(T, 2);
  const moerb::ForwardContext ctx{};
  layer.forward(x, ctx);  // untimed: the first call sizes the buffers (steady state is measured)
  const Clock::time_point start = Clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(layer.forward(x, ctx).data());
  set_counters(state, T, active_forward_flops(T, E, k), start);
  state.counters["drop_rate"] = layer.routing().drop_rate();
}

void BM_MoEForwardBackward(benchmark::State& state) {
  const Index T = state.range(0), E = state.range(1), k = state.range(2);
  SwiGLUMoE layer = make_moe(E, k);
  const Mat x = random_tokens(T, 2);
  const Mat dy = random_tokens(T, 3);
  const moerb::ForwardContext ctx{.training = true, .rng = moerb::Rng(4)};
  layer.forward(x, ctx);  // untimed: the first pass sizes the buffers (steady state is measured)
  layer.backward(x, dy);
  const Clock::time_point start = Clock::now();
  for (auto _ : state) {
    layer.forward(x, ctx);
    benchmark::DoNotOptimize(layer.backward(x, dy).data());
  }
  set_counters(state, T, 3.0 * active_forward_flops(T, E, k), start);
}

// The dense SwiGLU FFN with d_ff = k·1024 (the MoE's active expert parameters). Args: T, k.
void BM_DenseForward(benchmark::State& state) {
  const Index T = state.range(0), k = state.range(1);
  moerb::DenseFFN<moerb::SwiGLUExpert<float>> dense({.d_model = kDModel, .d_ff = k * kDFF});
  moerb::Rng rng(1);
  dense.initialize(rng);
  const Mat x = random_tokens(T, 2);
  dense.forward(x, {});  // untimed warm-up, as above
  const Clock::time_point start = Clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(dense.forward(x, {}).data());
  set_counters(state, T, 2.0 * T * k * 3.0 * kDModel * kDFF, start);
}

void BM_DenseForwardBackward(benchmark::State& state) {
  const Index T = state.range(0), k = state.range(1);
  moerb::DenseFFN<moerb::SwiGLUExpert<float>> dense({.d_model = kDModel, .d_ff = k * kDFF});
  moerb::Rng rng(1);
  dense.initialize(rng);
  const Mat x = random_tokens(T, 2);
  const Mat dy = random_tokens(T, 3);
  const moerb::ForwardContext ctx{.training = true};
  dense.forward(x, ctx);  // untimed warm-up, as above
  dense.backward(x, dy);
  const Clock::time_point start = Clock::now();
  for (auto _ : state) {
    dense.forward(x, ctx);
    benchmark::DoNotOptimize(dense.backward(x, dy).data());
  }
  set_counters(state, T, 3.0 * 2.0 * T * k * 3.0 * kDModel * kDFF, start);
}

/// The ceiling the layer's GEMMs set: the six products of one SwiGLU expert's forward and backward
/// at the shape of record's mean load (T·k/E = 512 rows), as GatedExpert computes them (same
/// Eigen expressions: gate_up = in·W_gu, out = hidden·W_out; ∂W_out += hiddenᵀ·∂out, ∂hidden =
/// ∂out·W_outᵀ, ∂W_gu += inᵀ·∂gate_up, ∂in = ∂gate_up·W_guᵀ), run the way the layer runs its
/// experts: every thread its own expert's operands, all threads at once, each product on its
/// calling thread. No routing, activation, dispatch or combine: the layer's GFLOP/s over this one's
/// is the share of its time it spends outside the GEMM kernels.
void BM_ExpertGemms(benchmark::State& state) {
  constexpr Index rows = 512;
  struct Operands {
    Mat in, d_out, hidden, d_gate_up, w_gate_up, w_out;            // inputs
    Mat gate_up, out, grad_w_gate_up, grad_w_out, d_hidden, d_in;  // outputs
  };
  const int threads = std::max(1, Eigen::nbThreads());
  std::vector<Operands> ops(static_cast<std::size_t>(threads));
  std::uint64_t seed = 10;
  for (Operands& o : ops) {
    o.in = random_tokens(rows, seed++);
    o.d_out = random_tokens(rows, seed++);
    o.hidden = Mat::Random(rows, kDFF);
    o.d_gate_up = Mat::Random(rows, 2 * kDFF);
    o.w_gate_up = Mat::Random(kDModel, 2 * kDFF);
    o.w_out = Mat::Random(kDFF, kDModel);
    o.gate_up.resize(rows, 2 * kDFF);
    o.out.resize(rows, kDModel);
    o.grad_w_gate_up = Mat::Zero(kDModel, 2 * kDFF);
    o.grad_w_out = Mat::Zero(kDFF, kDModel);
    o.d_hidden.resize(rows, kDFF);
    o.d_in.resize(rows, kDModel);
  }
  const auto all_products = [&] {
#pragma omp parallel for schedule(static, 1) num_threads(threads)
    for (int t = 0; t < threads; ++t) {
      Operands& o = ops[static_cast<std::size_t>(t)];
      o.gate_up.noalias() = o.in * o.w_gate_up;
      o.out.noalias() = o.hidden * o.w_out;
      o.grad_w_out.noalias() += o.hidden.transpose() * o.d_out;
      o.d_hidden.noalias() = o.d_out * o.w_out.transpose();
      o.grad_w_gate_up.noalias() += o.in.transpose() * o.d_gate_up;
      o.d_in.noalias() = o.d_gate_up * o.w_gate_up.transpose();
    }
  };
  all_products();  // untimed warm-up: first touches of the outputs
  const auto start = Clock::now();
  for (auto _ : state) {
    all_products();
    benchmark::DoNotOptimize(ops.front().d_in.data());
  }
  // Forward 2·rows·3·d·d_ff, backward twice that, per thread.
  set_counters(state, rows * threads, 3.0 * 2.0 * rows * 3.0 * kDModel * kDFF * threads, start);
}

/// One expert's forward at the shape of record's mean load (512 rows), every thread its own
/// expert, all at once, in three variants, to measure the fusions issue 10 lists:
///   0: as GatedExpert: one GEMM for the concatenated gate and up weights, SwiGLU, the down GEMM;
///   1: separate gate and up GEMMs (two products of half the width), SwiGLU, the down GEMM;
///   2: variant 0's two GEMMs without the SwiGLU pass: what applying the activation on the GEMM's
///      output tiles could at most save (a separate pass reads gate_up and writes hidden once).
/// GFLOP/s counts the three projections (2·rows·3·d·d_ff per thread) in every variant.
void BM_ExpertForwardVariants(benchmark::State& state) {
  constexpr Index rows = 512;
  const auto variant = state.range(0);
  struct Operands {
    Mat in, w_gate_up, w_gate, w_up, w_out;  // inputs
    Mat gate_up, gate, up, hidden, out;      // outputs
  };
  const int threads = std::max(1, Eigen::nbThreads());
  std::vector<Operands> ops(static_cast<std::size_t>(threads));
  std::uint64_t seed = 30;
  for (Operands& o : ops) {
    o.in = random_tokens(rows, seed++);
    o.w_gate_up = Mat::Random(kDModel, 2 * kDFF) * 0.05f;
    o.w_gate = o.w_gate_up.leftCols(kDFF);
    o.w_up = o.w_gate_up.rightCols(kDFF);
    o.w_out = Mat::Random(kDFF, kDModel) * 0.05f;
    o.gate_up.resize(rows, 2 * kDFF);
    o.gate.resize(rows, kDFF);
    o.up.resize(rows, kDFF);
    o.hidden = Mat::Zero(rows, kDFF);
    o.out.resize(rows, kDModel);
  }
  constexpr auto silu = moerb::Activation::silu;
  const auto forward = [&] {
#pragma omp parallel for schedule(static, 1) num_threads(threads)
    for (int t = 0; t < threads; ++t) {
      Operands& o = ops[static_cast<std::size_t>(t)];
      if (variant == 1) {
        o.gate.noalias() = o.in * o.w_gate;
        o.up.noalias() = o.in * o.w_up;
        for (Index r = 0; r < rows; ++r) {
          moerb::kernels::glu(silu, o.gate.row(r).data(), o.up.row(r).data(),
                              o.hidden.row(r).data(), kDFF);
        }
      } else {
        o.gate_up.noalias() = o.in * o.w_gate_up;
        if (variant == 0) {
          for (Index r = 0; r < rows; ++r) {
            const float* g = o.gate_up.row(r).data();
            moerb::kernels::glu(silu, g, g + kDFF, o.hidden.row(r).data(), kDFF);
          }
        }
      }
      o.out.noalias() = o.hidden * o.w_out;
    }
  };
  forward();  // untimed warm-up: first touches of the outputs
  const auto start = Clock::now();
  for (auto _ : state) {
    forward();
    benchmark::DoNotOptimize(ops.front().out.data());
  }
  set_counters(state, rows * threads, 2.0 * rows * 3.0 * kDModel * kDFF * threads, start);
}

void shape_of_record_and_sweeps(benchmark::internal::Benchmark* b) {
  b->ArgNames({"T", "E", "k"});
  b->Args({2048, 8, 2});                                  // shape of record
  for (Index E : {4, 16, 32, 64}) b->Args({2048, E, 2});  // E sweep
  for (Index k : {1, 4}) b->Args({2048, 8, k});           // k sweep
  for (Index T : {128, 512, 8192}) b->Args({T, 8, 2});    // T sweep
}

}  // namespace

BENCHMARK(BM_ExpertForwardVariants)
    ->ArgName("variant")
    ->DenseRange(0, 2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MoEForward)
    ->Apply(shape_of_record_and_sweeps)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MoEForwardBackward)
    ->Apply(shape_of_record_and_sweeps)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DenseForward)
    ->ArgNames({"T", "k"})
    ->Args({2048, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DenseForwardBackward)
    ->ArgNames({"T", "k"})
    ->Args({2048, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK(BM_ExpertGemms)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
