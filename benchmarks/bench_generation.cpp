// Generation speed of DecoderLM::generate with and without the key-value cache (Google Benchmark).
//
// The model: a causal MoE language model of the size the safety and refusal evaluations train
// (d_model 128, 4 heads, 2 layers, 8 SwiGLU experts with d_ff 256, top-2, learned positions,
// vocabulary 4096, float), freshly initialised: the cost of a token does not depend on what the
// weights say. Each iteration greedily generates 32 tokens after a prompt of 16 or 128 tokens
// (eos never produced). Counter: generated tokens/s (items_per_second).
//
// Without the cache every step re-runs the whole prefix (O(n²) per answer); with it the prompt
// runs once and every new token costs one row of attention per layer. Both give the same tokens
// (tests/models/test_decoder_lm.cpp). Threads: OpenMP inside the model; set OMP_NUM_THREADS to pin.
// Results and the command used are recorded in benchmarks/RESULTS.md.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "moerb/experts/gated_expert.hpp"
#include "moerb/layers/moe_layer.hpp"
#include "moerb/models/decoder_lm.hpp"
#include "moerb/routing/top_k_router.hpp"

namespace {

using moerb::Index;
using MoE = moerb::MoELayer<moerb::TopKRouter<float>, moerb::SwiGLUExpert<float>>;
using LM = moerb::DecoderLM<MoE>;

constexpr Index kVocab = 4096;
constexpr Index kNewTokens = 32;

LM make_lm() {
  LM::Options o;
  o.transformer.vocab_size = kVocab;
  o.transformer.d_model = 128;
  o.transformer.num_heads = 4;
  o.transformer.num_layers = 2;
  o.transformer.max_positions = 256;
  o.transformer.num_segments = 0;
  o.transformer.dropout = 0;
  moerb::FeedForwardSpec<MoE> spec;
  spec.router.input_dim = 128;
  spec.router.num_experts = 8;
  spec.router.k = 2;
  spec.moe.expert.d_model = 128;
  spec.moe.expert.d_ff = 256;
  LM lm(o, spec);
  moerb::Rng rng(1);
  lm.initialize(rng);
  return lm;
}

void BM_Generate(benchmark::State& state) {
  const auto prompt_length = static_cast<Index>(state.range(0));
  const bool cache = state.range(1) != 0;
  LM lm = make_lm();
  moerb::Rng rng(2);
  std::vector<std::int32_t> prompt(static_cast<std::size_t>(prompt_length));
  for (auto& id : prompt) id = static_cast<std::int32_t>(rng.next_u64() % kVocab);
  moerb::GenerationOptions g;
  g.max_new_tokens = kNewTokens;
  g.kv_cache = cache;
  if (cache && !lm.trunk().supports_cached_decoding()) {
    state.SkipWithError("this model does not support the key-value cache");
    return;
  }
  std::int64_t generated = 0;
  for (auto _ : state) {
    const std::vector<std::int32_t> out = lm.generate(prompt, g);
    benchmark::DoNotOptimize(out.data());
    generated += static_cast<std::int64_t>(out.size());
  }
  state.SetItemsProcessed(generated);
}
BENCHMARK(BM_Generate)
    ->ArgsProduct({{16, 128}, {0, 1}})
    ->ArgNames({"prompt", "kv_cache"})
    ->UseRealTime()  // the model runs on OpenMP threads: wall time, not the main thread's CPU
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
