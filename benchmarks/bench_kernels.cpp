// Benchmarks for the xsimd kernels (moerb/kernels/) against the scalar reference
// (moerb/kernels/reference/scalar.hpp): row softmax over router logits, top-k selection and the
// elementwise activations over an expert's hidden layer.
//
//   bench_kernels --benchmark_filter=softmax   (items = rows, bytes = logits read)
#include <benchmark/benchmark.h>

#include <string>

#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"
#include "moerb/kernels/activation.hpp"
#include "moerb/kernels/reference/scalar.hpp"
#include "moerb/kernels/softmax.hpp"
#include "moerb/kernels/topk.hpp"

namespace {

using moerb::Activation;
using moerb::Index;
using moerb::IndexMatrix;
using moerb::Matrix;
namespace kernels = moerb::kernels;
namespace ref = moerb::kernels::reference;

enum class Impl { simd, reference };

template <class S>
Matrix<S> random_matrix(Index rows, Index cols, double scale, std::uint64_t seed) {
  moerb::Rng rng(seed);
  Matrix<S> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<S>(scale * rng.normal());
  return m;
}

// ---- softmax over router logits: tokens × experts ----------------------------------------------

template <class S, Impl I>
void BM_softmax_rows(benchmark::State& state) {
  const Index tokens = 2048, experts = state.range(0);
  const Matrix<S> logits = random_matrix<S>(tokens, experts, 3.0, 1);
  Matrix<S> probs(tokens, experts);
  for (auto _ : state) {
    if constexpr (I == Impl::simd) {
      kernels::softmax_rows(logits, probs);
    } else {
      for (Index t = 0; t < tokens; ++t) {
        ref::softmax(logits.row(t).data(), probs.row(t).data(), experts);
      }
    }
    benchmark::DoNotOptimize(probs.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * tokens);
  state.SetBytesProcessed(state.iterations() * tokens * experts * Index(sizeof(S)));
}
BENCHMARK_TEMPLATE(BM_softmax_rows, float, Impl::simd)->Arg(8)->Arg(64);
BENCHMARK_TEMPLATE(BM_softmax_rows, float, Impl::reference)->Arg(8)->Arg(64);
BENCHMARK_TEMPLATE(BM_softmax_rows, double, Impl::simd)->Arg(8)->Arg(64);
BENCHMARK_TEMPLATE(BM_softmax_rows, double, Impl::reference)->Arg(8)->Arg(64);

template <class S, Impl I>
void BM_log_softmax_rows(benchmark::State& state) {
  const Index tokens = 2048, experts = state.range(0);
  const Matrix<S> logits = random_matrix<S>(tokens, experts, 3.0, 2);
  Matrix<S> out(tokens, experts);
  for (auto _ : state) {
    if constexpr (I == Impl::simd) {
      kernels::log_softmax_rows(logits, out);
    } else {
      for (Index t = 0; t < tokens; ++t) {
        ref::log_softmax(logits.row(t).data(), out.row(t).data(), experts);
      }
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * tokens);
}
BENCHMARK_TEMPLATE(BM_log_softmax_rows, float, Impl::simd)->Arg(8)->Arg(64);
BENCHMARK_TEMPLATE(BM_log_softmax_rows, float, Impl::reference)->Arg(8)->Arg(64);

// ---- top-k over router logits
// --------------------------------------------------------------------

template <class S, Impl I>
void BM_topk_rows(benchmark::State& state) {
  const Index tokens = 2048, experts = state.range(0), k = state.range(1);
  const Matrix<S> logits = random_matrix<S>(tokens, experts, 1.0, 3);
  IndexMatrix idx(tokens, k);
  Matrix<S> val(tokens, k);
  for (auto _ : state) {
    if constexpr (I == Impl::simd) {
      kernels::topk_rows(logits, k, idx, val);
    } else {
      for (Index t = 0; t < tokens; ++t) {
        ref::topk(logits.row(t).data(), experts, k, idx.row(t).data(), val.row(t).data());
      }
    }
    benchmark::DoNotOptimize(idx.data());
    benchmark::DoNotOptimize(val.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * tokens);
}
BENCHMARK_TEMPLATE(BM_topk_rows, float, Impl::simd)->Args({64, 2})->Args({8, 2})->Args({256, 8});
BENCHMARK_TEMPLATE(BM_topk_rows, float, Impl::reference)
    ->Args({64, 2})
    ->Args({8, 2})
    ->Args({256, 8});
BENCHMARK_TEMPLATE(BM_topk_rows, double, Impl::simd)->Args({64, 2});
BENCHMARK_TEMPLATE(BM_topk_rows, double, Impl::reference)->Args({64, 2});

#if MOERB_KERNELS_SIMD
// The two strategies behind kernels::topk, for choosing the crossover in topk.hpp. Rows are
// logits in random order (range 2 = 0) or ascending (range 2 = 1).
enum class Strategy { selection, threshold };

template <Strategy St>
void BM_topk_strategy(benchmark::State& state) {
  const Index tokens = 512, n = state.range(0), k = state.range(1);
  Matrix<float> logits = random_matrix<float>(tokens, n, 1.0, 4);
  if (state.range(2) == 1) {
    for (Index t = 0; t < tokens; ++t) {
      for (Index i = 0; i < n; ++i) logits(t, i) = static_cast<float>(i) + 1e-3f * float(t);
    }
  }
  IndexMatrix idx(tokens, k);
  Matrix<float> val(tokens, k);
  for (auto _ : state) {
    for (Index t = 0; t < tokens; ++t) {
      if constexpr (St == Strategy::selection) {
        kernels::detail::topk_by_selection(logits.row(t).data(), n, k, idx.row(t).data(),
                                           val.row(t).data());
      } else {
        kernels::detail::topk_by_threshold(logits.row(t).data(), n, k, idx.row(t).data(),
                                           val.row(t).data());
      }
    }
    benchmark::DoNotOptimize(idx.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * tokens);
}
void topk_strategy_args(benchmark::internal::Benchmark* b) {
  for (const int order : {0, 1}) {
    for (const int n : {16, 64, 256, 2048}) {
      for (const int k : {2, 8, 12, 16, 64, 256}) {
        if (k <= n) b->Args({n, k, order});
      }
    }
  }
}
BENCHMARK_TEMPLATE(BM_topk_strategy, Strategy::selection)->Apply(topk_strategy_args);
BENCHMARK_TEMPLATE(BM_topk_strategy, Strategy::threshold)->Apply(topk_strategy_args);
#endif

// ---- activations over an expert's hidden layer: 2048 × 1024 floats ------------------------------

void activation_args(benchmark::internal::Benchmark* b) {
  for (const Activation a :
       {Activation::silu, Activation::gelu_erf, Activation::gelu_tanh, Activation::relu}) {
    b->Arg(static_cast<int>(a));
  }
}

template <Impl I>
void BM_activate(benchmark::State& state) {
  const auto a = static_cast<Activation>(state.range(0));
  const Index n = 2048 * 1024;
  const Matrix<float> x = random_matrix<float>(2048, 1024, 2.0, 5);
  Matrix<float> y(2048, 1024);
  for (auto _ : state) {
    if constexpr (I == Impl::simd) {
      kernels::activate(a, x.data(), y.data(), n);
    } else {
      ref::activate(a, x.data(), y.data(), n);
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string(moerb::to_string(a)));
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK_TEMPLATE(BM_activate, Impl::simd)->Apply(activation_args);
BENCHMARK_TEMPLATE(BM_activate, Impl::reference)->Apply(activation_args);

template <Impl I>
void BM_activate_backward(benchmark::State& state) {
  const auto a = static_cast<Activation>(state.range(0));
  const Index n = 2048 * 1024;
  const Matrix<float> x = random_matrix<float>(2048, 1024, 2.0, 6);
  const Matrix<float> dy = random_matrix<float>(2048, 1024, 1.0, 7);
  Matrix<float> dx(2048, 1024);
  for (auto _ : state) {
    if constexpr (I == Impl::simd) {
      kernels::activate_backward(a, x.data(), dy.data(), dx.data(), n);
    } else {
      ref::activate_backward(a, x.data(), dy.data(), dx.data(), n);
    }
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string(moerb::to_string(a)));
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK_TEMPLATE(BM_activate_backward, Impl::simd)->Apply(activation_args);
BENCHMARK_TEMPLATE(BM_activate_backward, Impl::reference)->Apply(activation_args);

template <Impl I>
void BM_glu(benchmark::State& state) {
  const auto a = static_cast<Activation>(state.range(0));
  const Index n = 2048 * 1024;
  const Matrix<float> gate = random_matrix<float>(2048, 1024, 2.0, 8);
  const Matrix<float> up = random_matrix<float>(2048, 1024, 1.0, 9);
  Matrix<float> y(2048, 1024);
  for (auto _ : state) {
    if constexpr (I == Impl::simd) {
      kernels::glu(a, gate.data(), up.data(), y.data(), n);
    } else {
      ref::glu(a, gate.data(), up.data(), y.data(), n);
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string(moerb::to_string(a)));
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK_TEMPLATE(BM_glu, Impl::simd)->Arg(static_cast<int>(Activation::silu));
BENCHMARK_TEMPLATE(BM_glu, Impl::reference)->Arg(static_cast<int>(Activation::silu));

}  // namespace

BENCHMARK_MAIN();
