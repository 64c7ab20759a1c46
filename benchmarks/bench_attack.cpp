// Attack throughput (issue 9, section 8): examples/s, queries/s, and how an attack's time splits
// between the victim's forward/backward passes and everything else (transformations, constraints,
// encoding, bookkeeping), for the TextFooler-like recipe, PWWS and HotFlip against an MoE
// classifier with d_model 128, 2 layers, 8 experts, top-2 (float), on WordNet definitions (the
// style-shift task's dev texts, Debian's wordnet-base).
//
// The model is freshly initialised, not trained: the attacks' cost does not depend on what the
// weights say, and each example's label is the model's own clean prediction, so that no example
// is skipped and every one is attacked to the end of its search (TextFooler's cosine floor is
// lowered for the untrained embeddings, see BM_TextFooler). TextFooler also runs with
// batch_size 1 (one candidate per forward) to show what batching the search's candidates buys.
//
//   build/release/benchmarks/bench_attack --benchmark_min_time=2
//
// Counters: examples/s and queries/s (scored sequences per second), model_share (fraction of the
// time inside the victim's forward/backward), overhead (1 − model_share). BM_VictimForward times
// the model's forward alone at batch 1 and 64, against the machine's FMA peak.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fma_peak.hpp"
#include "moerb/attacks/hotflip.hpp"
#include "moerb/attacks/recipes.hpp"
#include "moerb/data/encode.hpp"
#include "moerb/data/wordnet.hpp"
#include "moerb/experts/gated_expert.hpp"
#include "moerb/layers/moe_layer.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "moerb/routing/top_k_router.hpp"
#include "moerb/text/word_tokenizer.hpp"

namespace {

using namespace moerb;
using MoE = MoELayer<TopKRouter<float>, SwiGLUExpert<float>>;
using Model = EncoderClassifier<MoE>;

constexpr std::size_t examples_per_iteration = 32;
constexpr std::size_t max_length = 32;

struct Setup {
  std::optional<WordTokenizer> tokenizer;
  std::optional<Model> model;
  std::vector<TextExample> examples;  ///< labelled with the model's own predictions
  std::vector<EncodedExample> encoded;
  std::shared_ptr<const WordNetSynonyms> lexicon;
  std::shared_ptr<const WordEmbeddingIndex<float>> embeddings;
  std::string error;
};

const Setup& setup() {
  static const Setup s = [] {
    Setup s;
    if (!WordNet::available()) {
      s.error = "WordNet is not installed (apt-get install wordnet-base)";
      return s;
    }
    WordNetStyleShiftOptions o;
    o.max_train_per_class = 200;
    o.max_test_per_class = 20;
    const WordNetTask task = wordnet_style_shift_task(o);
    std::vector<std::string> corpus;
    for (const auto& e : task.train.examples) corpus.push_back(e.text_a);
    for (const auto& e : task.dev.examples) corpus.push_back(e.text_a);
    s.tokenizer = WordTokenizer::train(corpus);
    Model::Options mo;
    mo.transformer.vocab_size = static_cast<Index>(s.tokenizer->vocab_size());
    mo.transformer.d_model = 128;
    mo.transformer.num_heads = 4;
    mo.transformer.num_layers = 2;
    mo.transformer.max_positions = static_cast<Index>(max_length);
    mo.transformer.dropout = 0;
    mo.num_classes = static_cast<Index>(task.train.label_names.size());
    FeedForwardSpec<MoE> spec;
    spec.router.input_dim = 128;
    spec.router.num_experts = 8;
    spec.router.k = 2;
    spec.moe.expert.d_model = 128;
    spec.moe.expert.d_ff = 256;
    s.model.emplace(mo, spec);
    Rng rng(1);
    s.model->initialize(rng);
    for (std::size_t i = 0;
         i < task.dev.examples.size() && s.examples.size() < examples_per_iteration; ++i) {
      TextExample e = task.dev.examples[i];
      const EncodedText x = encode_single(*s.tokenizer, e.text_a, max_length);
      TokenBatch b;
      b.push_back(x.ids);
      e.label = s.model->predict(b).front();
      s.examples.push_back(e);
      EncodedExample enc;
      enc.ids = x.ids;
      enc.label = e.label;
      s.encoded.push_back(enc);
    }
    s.lexicon = std::make_shared<const WordNetSynonyms>(WordNetSynonyms::load());
    s.embeddings = std::make_shared<const WordEmbeddingIndex<float>>(
        s.model->word_embedding_table(), s.tokenizer->vocabulary());
    return s;
  }();
  return s;
}

void report(benchmark::State& state, const std::vector<AttackResult>& all, double seconds) {
  double model = 0, queries = 0;
  for (const AttackResult& r : all) {
    model += r.model_seconds;
    queries += static_cast<double>(r.queries);
  }
  state.counters["examples/s"] = static_cast<double>(all.size()) / seconds;
  state.counters["queries/s"] = queries / seconds;
  state.counters["model_share"] = model / seconds;
  state.counters["overhead"] = 1 - model / seconds;
}

template <class MakeAttack>
void run_text_attack(benchmark::State& state, MakeAttack make, Index batch_size) {
  const Setup& s = setup();
  if (!s.error.empty()) {
    state.SkipWithError(s.error.c_str());
    return;
  }
  Model model = *s.model;
  auto attack = make(s);
  AttackOptions o;
  o.batch_size = batch_size;
  o.query_budget = 0;
  o.max_length = max_length;
  o.threads = 1;
  std::vector<AttackResult> all;
  double seconds = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<AttackResult> r = attack.attack_all(model, *s.tokenizer, s.examples, o);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    all.insert(all.end(), r.begin(), r.end());
  }
  report(state, all, seconds);
}

void BM_TextFooler(benchmark::State& state) {
  run_text_attack(
      state,
      [](const Setup& s) {
        // Untrained embeddings have no neighbour at cosine 0.5; with the floor at −1 every word
        // gets TextFooler's k = 50 nearest neighbours, the search's real shape.
        RecipeOptions o;
        o.min_cosine = -1;
        return make_textfooler<float>(s.embeddings, s.lexicon, o);
      },
      state.range(0));
}
BENCHMARK(BM_TextFooler)->Arg(64)->Arg(1)->ArgName("batch_size")->Unit(benchmark::kMillisecond);

void BM_PWWS(benchmark::State& state) {
  run_text_attack(
      state, [](const Setup& s) { return make_pwws(s.lexicon); }, state.range(0));
}
BENCHMARK(BM_PWWS)->Arg(64)->ArgName("batch_size")->Unit(benchmark::kMillisecond);

void BM_HotFlip(benchmark::State& state) {
  const Setup& s = setup();
  if (!s.error.empty()) {
    state.SkipWithError(s.error.c_str());
    return;
  }
  Model model = *s.model;
  HotFlipOptions o;
  std::vector<AttackResult> all;
  double seconds = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<AttackResult> r = hotflip(model, std::span<const EncodedExample>(s.encoded), o);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    all.insert(all.end(), r.begin(), r.end());
  }
  report(state, all, seconds);
}
BENCHMARK(BM_HotFlip)->Unit(benchmark::kMillisecond);

/// The victim's forward alone (class probabilities) on `batch_size` of the examples, cycling
/// through them: what a search step costs the model at batch 1 and at a full batch. GFLOP/s count
/// the forward's active FLOPs (attention at each sequence's own length, the feed-forward layers'
/// active FLOPs); peak_fraction divides by the FMA peak of the cores the model runs on, measured in
/// this process (fma_peak.hpp). The ratio of the peak to the batch-1 rate bounds what any batching
/// of a search's candidates can gain in model time on this machine.
void BM_VictimForward(benchmark::State& state) {
  const Setup& s = setup();
  if (!s.error.empty()) {
    state.SkipWithError(s.error.c_str());
    return;
  }
  Model model = *s.model;
  const auto batch_size = static_cast<std::size_t>(state.range(0));
  TokenBatch batch;
  double flops = 0;
  for (std::size_t i = 0; i < batch_size; ++i) {
    const EncodedExample& e = s.encoded[i % s.encoded.size()];
    batch.push_back(e.ids);
    const auto length = static_cast<double>(e.ids.size());
    for (Index l = 0; l < model.trunk().num_layers(); ++l) {
      const auto& block = model.trunk().block(l);
      flops += length * (block.attention().flops_per_token(length) + block.ffn().flops_per_token());
    }
  }
  static const double peak = moerb_bench::measure_fma_peak_gflops(Eigen::nbThreads());
  double checksum = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    const Matrix<double> p = class_probabilities(model, batch);
    checksum += p(0, 0);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  benchmark::DoNotOptimize(checksum);
  const auto n = static_cast<double>(state.iterations());
  state.counters["us/sequence"] = seconds / (n * static_cast<double>(batch_size)) * 1e6;
  state.counters["GFLOP/s"] = flops * n / seconds / 1e9;
  state.counters["peak_fraction"] = flops * n / seconds / 1e9 / peak;
}
BENCHMARK(BM_VictimForward)->Arg(1)->Arg(64)->ArgName("batch_size")->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
