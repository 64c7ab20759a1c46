// Training throughput of an MoE classifier and its dense counterparts (Google Benchmark).
//
// Model (float): EncoderClassifier, 4 pre-norm blocks, d_model = 256, 4 heads, learned positions,
// vocabulary 8192, linear head over the first token, 2 classes, dropout 0.1. Feed-forward part:
//   moe          MoELayer<TopKRouter, SwiGLUExpert>: 8 experts, top-2 with renormalisation, expert
//                d_ff = 512 (so the two active experts hold 2·512 = 4·d_model hidden units, the
//                usual dense width), Switch load-balancing loss weight 0.01, no capacity limit;
//   dense_active DenseFFN<SwiGLUExpert> with the MoE layer's active parameter count
//                (dense_options_for_active_params: d_ff = 1027);
//   dense_total  DenseFFN<SwiGLUExpert> with the MoE layer's total parameter count
//                (dense_options_for_total_params: d_ff = 4099).
// Batch: 32 synthetic sequences of 64 tokens (2048 tokens per optimizer step), token ids and labels
// drawn from moerb::Rng.
// The small shape (cases named small_<model>): the SST-2-sized classifier of issue 10, 2 blocks,
// d_model = 128, 4 heads, expert d_ff = 256 (dense_active: d_ff = 515), 32 sequences of 32 tokens
// (1024 tokens per step, SST-2's sentence length); the rest as above. At this width the router,
// dispatch and combine weigh as much as the experts' GEMMs. A step is what Trainer::fit does for
// one optimizer step: DataParallel::accumulate running ClassificationTask::work on one contiguous
// shard per worker (its reduction replaces the master's gradients), clip_grad_norm (1.0),
// AdamW::step (weight decay 0.01 on matrices).
//
// Cases (workers = DataParallel replicas; with 1 worker the layers themselves use every OpenMP
// thread, with 2 each worker's layers run single-threaded):
//   BM_TrainStep<model>/workers:W    the step loop above; tokens/s = items_per_second, and the
//                                    mean milliseconds per step spent in accumulate (forward +
//                                    backward + replica sync + gradient reduction), clipping and
//                                    AdamW as counters; page_faults = minor page faults per
//                                    step (buffers allocated and freed again in every step);
//                                    GFLOP/s (3 × the forward's active FLOPs per token) and
//                                    peak_fraction, over the FP32 FMA peak of Eigen::nbThreads()
//                                    cores measured at start-up (benchmarks/fma_peak.hpp)
//   BM_TrainStep/<model>_float_moments/workers:W   the same with AdamW's moments in float
//                                    (Recipe::adam_moments = MomentPrecision::parameter)
//   BM_TrainerFit<model>/workers:W   Trainer::fit over 8 steps per iteration, replica
//                                    construction and the optimizer's first-step allocation
//                                    included; fit_tokens_per_s is fit's own figure (timed after
//                                    DataParallel and the optimizer are built)
//   BM_StepPhases<model>             one worker, the phases of a step timed separately: forward
//                                    (with the loss), backward, clipping, AdamW
//   BM_DataParallelOverhead<model>/workers:W/replace:R   accumulate with empty work: parameter
//                                    sync and gradient reduction only, after zero_grad (R = 0)
//                                    or replacing the master's gradients (R = 1)
//
// Results, commands and the PyTorch reference (benchmarks/reference/train_step_torch.py) are in
// benchmarks/RESULTS.md, section "Training throughput (issue 3)".
#include <benchmark/benchmark.h>

#include "fma_peak.hpp"
#include "gemm_engine_context.hpp"

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#if __has_include(<sys/resource.h>)
#include <sys/resource.h>
#define MOERB_BENCH_HAS_RUSAGE 1
#endif

#include "moerb/core/rng.hpp"
#include "moerb/experts/gated_expert.hpp"
#include "moerb/layers/dense_ffn.hpp"
#include "moerb/layers/moe_layer.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "moerb/routing/top_k_router.hpp"
#include "moerb/train/adamw.hpp"
#include "moerb/train/data_parallel.hpp"
#include "moerb/train/grad_clip.hpp"
#include "moerb/train/recipe.hpp"
#include "moerb/train/trainer.hpp"

namespace {

using moerb::Index;
using MoE = moerb::MoELayer<moerb::TopKRouter<float>, moerb::SwiGLUExpert<float>>;
using Dense = moerb::DenseFFN<moerb::SwiGLUExpert<float>>;
using MoEClassifier = moerb::EncoderClassifier<MoE>;
using DenseClassifier = moerb::EncoderClassifier<Dense>;
using Clock = std::chrono::steady_clock;

// The model's size and the batch's.
struct Shape {
  Index vocab, d_model, heads, layers, seq_len, batch, expert_d_ff;
  [[nodiscard]] constexpr Index tokens_per_step() const { return batch * seq_len; }
};
constexpr Shape kStandard{.vocab = 8192,
                          .d_model = 256,
                          .heads = 4,
                          .layers = 4,
                          .seq_len = 64,
                          .batch = 32,
                          .expert_d_ff = 512};
constexpr Shape kSmall{.vocab = 8192,
                       .d_model = 128,
                       .heads = 4,
                       .layers = 2,
                       .seq_len = 32,
                       .batch = 32,
                       .expert_d_ff = 256};
constexpr Index kExperts = 8;
constexpr Index kTopK = 2;
constexpr Index kDistinctBatches = 8;  // the synthetic set cycles through this many batches

// The training knobs shared by every case; `workers` data-parallel replicas.
moerb::Recipe recipe(const Shape& shape, int workers) {
  moerb::Recipe r;
  r.learning_rate = 1e-4;
  r.batch_size = shape.batch;
  r.epochs = 1;
  r.warmup_ratio = 0.0;
  r.weight_decay = 0.01;
  r.max_grad_norm = 1.0;
  r.dropout = 0.1;
  r.load_balancing_weight = 0.01;
  r.z_loss_weight = 0.0;
  r.threads = workers;
  r.progress = false;
  r.seed = 7;
  return r;
}

moerb::TransformerConfig config(const Shape& shape) {
  moerb::TransformerConfig c;
  c.vocab_size = shape.vocab;
  c.d_model = shape.d_model;
  c.num_heads = shape.heads;
  c.num_layers = shape.layers;
  c.max_positions = shape.seq_len;
  c.position = moerb::PositionEncoding::learned;
  c.moe_every = 1;
  return c;
}

moerb::FeedForwardSpec<MoE> moe_spec(const Shape& shape) {
  moerb::FeedForwardSpec<MoE> spec;
  spec.router.input_dim = shape.d_model;
  spec.router.num_experts = kExperts;
  spec.router.k = kTopK;
  spec.router.renormalize = true;
  spec.moe.expert.d_model = shape.d_model;
  spec.moe.expert.d_ff = shape.expert_d_ff;
  return spec;
}

enum class Kind { moe, dense_active, dense_total };

moerb::FeedForwardSpec<Dense> dense_spec(const Shape& shape, Kind kind) {
  const auto m = moe_spec(shape);
  const MoE layer(m.router, m.moe);
  moerb::FeedForwardSpec<Dense> spec;
  spec.dense = kind == Kind::dense_active ? moerb::dense_options_for_active_params(layer)
                                          : moerb::dense_options_for_total_params(layer);
  return spec;
}

template <class Model>
Model make_model(const Shape& shape,
                 const moerb::FeedForwardSpec<typename Model::FeedForward>& base_spec,
                 const moerb::Recipe& r) {
  typename Model::Options o;
  o.transformer = config(shape);
  o.num_classes = 2;
  o.head_dropout = r.dropout;
  auto spec = base_spec;
  moerb::apply_recipe(r, o.transformer, spec);
  Model model(o, spec);
  moerb::Rng rng(1);
  model.initialize(rng);
  return model;
}

// The classifier of `kind` in `shape`, initialised from a fixed seed.
template <const Shape& S, Kind K>
auto make(const moerb::Recipe& r) {
  if constexpr (K == Kind::moe) {
    return make_model<MoEClassifier>(S, moe_spec(S), r);
  } else {
    return make_model<DenseClassifier>(S, dense_spec(S, K), r);
  }
}

// kDistinctBatches · batch sequences of seq_len uniform token ids with uniform binary labels.
std::vector<moerb::EncodedExample> synthetic_examples(const Shape& shape) {
  moerb::Rng rng(2024);
  std::vector<moerb::EncodedExample> out(static_cast<std::size_t>(kDistinctBatches * shape.batch));
  for (auto& e : out) {
    e.ids.resize(static_cast<std::size_t>(shape.seq_len));
    for (auto& id : e.ids) id = static_cast<std::int32_t>(rng.uniform_index(shape.vocab));
    e.label = static_cast<std::int32_t>(rng.uniform_index(2));
  }
  return out;
}

// Minor page faults of the process so far (0 where getrusage is missing): a step that keeps
// allocating and freeing large buffers shows up as faults per step.
double minor_page_faults() {
#ifdef MOERB_BENCH_HAS_RUSAGE
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_minflt);
#else
  return 0.0;
#endif
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One optimizer step exactly as Trainer::fit runs it (one micro-batch, no FreeLB):
// DataParallel::accumulate over contiguous shards weighted by their share of the batch with
// ClassificationTask::work (replacing the master's gradients, so no zero_grad pass),
// clip_grad_norm, AdamW::step. Times each part.
template <class Model>
class TrainingStep {
 public:
  TrainingStep(Model& model, const moerb::Recipe& r)
      : model_(&model), recipe_(r), workers_(model, r.threads), optimizer_(adamw_options(r)) {}

  struct Timing {
    double accumulate = 0, clip = 0, optimizer = 0;
  };

  double run(std::span<const moerb::EncodedExample> batch, Index step, Timing& timing) {
    using Task = moerb::ClassificationTask;
    const moerb::Rng step_rng =
        moerb::Rng(recipe_.seed).split(2).split(static_cast<std::uint64_t>(step));
    const moerb::Rng micro_rng = step_rng.split(0);
    const auto n =
        std::min<std::size_t>(static_cast<std::size_t>(workers_.num_workers()), batch.size());
    shards_.clear();
    weights_.clear();
    for (std::size_t s = 0; s < n; ++s) {
      const std::size_t b = batch.size() * s / n, e = batch.size() * (s + 1) / n;
      shards_.push_back(batch.subspan(b, e - b));
      weights_.push_back(Task::weight(shards_.back()) / static_cast<double>(batch.size()));
    }
    auto t = Clock::now();
    const double loss = workers_.accumulate(
        weights_,
        [&](Model& replica, Index s) {
          const auto us = static_cast<std::uint64_t>(s);
          moerb::ForwardContext ctx;
          ctx.training = true;
          ctx.rng = micro_rng.split(us);
          moerb::Rng adv_rng = micro_rng.split(1000 + us);
          return Task::work(replica, shards_[static_cast<std::size_t>(s)], ctx, recipe_.adversarial,
                            adv_rng);
        },
        moerb::MasterGradients::replace);
    timing.accumulate += seconds_since(t);

    t = Clock::now();
    moerb::clip_grad_norm(*model_, recipe_.max_grad_norm);
    timing.clip += seconds_since(t);

    t = Clock::now();
    optimizer_.step(*model_, recipe_.learning_rate);
    timing.optimizer += seconds_since(t);
    return loss;
  }

 private:
  static moerb::AdamW::Options adamw_options(const moerb::Recipe& r) {
    moerb::AdamW::Options o;
    o.lr = r.learning_rate;
    o.beta1 = r.adam_beta1;
    o.beta2 = r.adam_beta2;
    o.eps = r.adam_eps;
    o.moments = r.adam_moments;
    o.weight_decay = r.weight_decay;
    o.decay_policy = moerb::WeightDecayPolicy::matrices_only;
    return o;
  }

  Model* model_;
  moerb::Recipe recipe_;
  moerb::DataParallel<Model> workers_;
  moerb::AdamW optimizer_;
  std::vector<std::span<const moerb::EncodedExample>> shards_;
  std::vector<double> weights_;
};

std::span<const moerb::EncodedExample> batch_of(const std::vector<moerb::EncodedExample>& data,
                                                const Shape& shape, Index step) {
  const auto b = static_cast<std::size_t>(step % kDistinctBatches);
  const auto size = static_cast<std::size_t>(shape.batch);
  return std::span<const moerb::EncodedExample>(data).subspan(b * size, size);
}

/// FLOPs of one training step per token: 3 × the forward's (attention at seq_len keys and the
/// feed-forward layers' active FLOPs; the backward pass costs about twice the forward).
template <class Model>
double training_flops_per_token(const Model& model, const Shape& shape) {
  double forward = 0;
  for (Index i = 0; i < model.trunk().num_layers(); ++i) {
    const auto& block = model.trunk().block(i);
    forward += block.attention().flops_per_token(static_cast<double>(shape.seq_len)) +
               block.ffn().flops_per_token();
  }
  return 3.0 * forward;
}

/// The FP32 FMA peak of the cores training runs on (Eigen::nbThreads() of them, all at once),
/// measured once per process (benchmarks/fma_peak.hpp).
double fma_peak_gflops() {
  static const double peak = moerb_bench::measure_fma_peak_gflops(Eigen::nbThreads());
  return peak;
}

void set_parameter_counters(benchmark::State& state, Index parameters) {
  state.counters["params_M"] = static_cast<double>(parameters) / 1e6;
}

void set_milliseconds_per_step(benchmark::State& state, const char* name, double seconds) {
  state.counters[name] = benchmark::Counter(1e3 * seconds, benchmark::Counter::kAvgIterations);
}

// Args: workers.
template <const Shape& S, Kind K,
          moerb::MomentPrecision Moments = moerb::MomentPrecision::double_precision>
void BM_TrainStep(benchmark::State& state) {
  moerb::Recipe r = recipe(S, static_cast<int>(state.range(0)));
  r.adam_moments = Moments;
  auto model = make<S, K>(r);
  const auto data = synthetic_examples(S);
  TrainingStep<decltype(model)> trainer(model, r);
  typename TrainingStep<decltype(model)>::Timing timing;
  Index step = 0;
  trainer.run(batch_of(data, S, step), step, timing);  // warm-up: workspaces, optimizer state
  ++step;
  timing = {};
  double loss = 0;
  const double faults = minor_page_faults();
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    loss = trainer.run(batch_of(data, S, step), step, timing);
    ++step;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  state.counters["page_faults"] =
      benchmark::Counter(minor_page_faults() - faults, benchmark::Counter::kAvgIterations);
  state.SetItemsProcessed(state.iterations() * S.tokens_per_step());
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(S.tokens_per_step()), benchmark::Counter::kIsIterationInvariantRate);
  const double step_gflop =
      training_flops_per_token(model, S) * static_cast<double>(S.tokens_per_step()) / 1e9;
  state.counters["GFLOP/s"] =
      benchmark::Counter(step_gflop, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_fraction"] =
      step_gflop * static_cast<double>(state.iterations()) / seconds / fma_peak_gflops();
  set_milliseconds_per_step(state, "ms_accumulate", timing.accumulate);
  set_milliseconds_per_step(state, "ms_clip", timing.clip);
  set_milliseconds_per_step(state, "ms_adamw", timing.optimizer);
  set_parameter_counters(state, moerb::parameter_count(model));
  state.counters["last_loss"] = loss;
}

// Trainer::fit over kDistinctBatches steps per iteration (one epoch of the synthetic set). Args:
// workers.
template <const Shape& S, Kind K>
void BM_TrainerFit(benchmark::State& state) {
  moerb::Recipe r = recipe(S, static_cast<int>(state.range(0)));
  r.max_steps = kDistinctBatches;
  auto model = make<S, K>(r);
  const auto data = synthetic_examples(S);
  double fit_tokens_per_s = 0;
  Index steps = 0;
  for (auto _ : state) {
    moerb::ClassifierTrainer<decltype(model)> trainer(model, r);
    const moerb::TrainResult result = trainer.fit(data);
    fit_tokens_per_s += result.tokens_per_second;
    steps += result.steps;
  }
  state.SetItemsProcessed(steps * S.tokens_per_step());
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(steps * S.tokens_per_step()), benchmark::Counter::kIsRate);
  state.counters["fit_tokens_per_s"] =
      benchmark::Counter(fit_tokens_per_s, benchmark::Counter::kAvgIterations);
}

// One worker, without DataParallel: forward (with the loss), backward, clipping and AdamW timed
// separately, as the step runs them.
template <const Shape& Sh, Kind K>
void BM_StepPhases(benchmark::State& state) {
  const moerb::Recipe r = recipe(Sh, 1);
  auto model = make<Sh, K>(r);
  using Model = decltype(model);
  using S = typename Model::Scalar;
  const auto data = synthetic_examples(Sh);
  moerb::AdamW::Options ao;
  ao.weight_decay = r.weight_decay;
  ao.decay_policy = moerb::WeightDecayPolicy::matrices_only;
  moerb::AdamW optimizer(ao);
  std::vector<std::int32_t> labels;
  moerb::Matrix<S> d_logits;
  double forward = 0, backward = 0, clip = 0, adamw = 0;
  const auto one_step = [&](Index step) {
    const moerb::TokenBatch batch =
        moerb::ClassificationTask::make_batch(batch_of(data, Sh, step), labels);
    moerb::ForwardContext ctx;
    ctx.training = true;
    ctx.rng = moerb::Rng(r.seed).split(static_cast<std::uint64_t>(step));
    moerb::zero_grad(model);
    auto t = Clock::now();
    const auto& logits = model.forward(batch, ctx);
    benchmark::DoNotOptimize(model.loss(logits, labels, d_logits) + model.aux_loss());
    forward += seconds_since(t);
    t = Clock::now();
    model.backward(d_logits);
    backward += seconds_since(t);
    t = Clock::now();
    moerb::clip_grad_norm(model, r.max_grad_norm);
    clip += seconds_since(t);
    t = Clock::now();
    optimizer.step(model, r.learning_rate);
    adamw += seconds_since(t);
  };
  Index step = 0;
  one_step(step++);
  forward = backward = clip = adamw = 0;
  const double faults = minor_page_faults();
  for (auto _ : state) one_step(step++);
  state.counters["page_faults"] =
      benchmark::Counter(minor_page_faults() - faults, benchmark::Counter::kAvgIterations);
  state.SetItemsProcessed(state.iterations() * Sh.tokens_per_step());
  set_milliseconds_per_step(state, "ms_forward", forward);
  set_milliseconds_per_step(state, "ms_backward", backward);
  set_milliseconds_per_step(state, "ms_clip", clip);
  set_milliseconds_per_step(state, "ms_adamw", adamw);
}

// DataParallel::accumulate with work that does nothing: copying the master's parameters into the
// replicas, zeroing their gradients and reducing them into the master's. Args: workers, replace
// (0: zero_grad on the master, then accumulate adding to it, as Trainer::fit did up to a6264a8;
// 1: accumulate with MasterGradients::replace, as it does now).
template <const Shape& S, Kind K>
void BM_DataParallelOverhead(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  const bool replace = state.range(1) != 0;
  auto model = make<S, K>(recipe(S, workers));
  moerb::DataParallel<decltype(model)> parallel(model, workers);
  const std::vector<double> weights(static_cast<std::size_t>(workers), 1.0 / workers);
  const auto nothing = [](auto&, Index) { return 0.0; };
  for (auto _ : state) {
    if (replace) {
      benchmark::DoNotOptimize(
          parallel.accumulate(weights, nothing, moerb::MasterGradients::replace));
    } else {
      moerb::zero_grad(model);
      benchmark::DoNotOptimize(parallel.accumulate(weights, nothing));
    }
  }
}

void workers_1_and_2(benchmark::internal::Benchmark* b) {
  b->ArgName("workers")->Arg(1)->Arg(2);
  b->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(4.0);
}

void single(benchmark::internal::Benchmark* b) {
  b->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(4.0);
}

}  // namespace

constexpr Kind kMoE = Kind::moe;
constexpr Kind kDenseActive = Kind::dense_active;
constexpr Kind kDenseTotal = Kind::dense_total;
constexpr auto kFloatMoments = moerb::MomentPrecision::parameter;

BENCHMARK(BM_TrainStep<kStandard, kMoE>)->Name("BM_TrainStep/moe")->Apply(workers_1_and_2);
BENCHMARK(BM_TrainStep<kStandard, kDenseActive>)
    ->Name("BM_TrainStep/dense_active")
    ->Apply(workers_1_and_2);
BENCHMARK(BM_TrainStep<kStandard, kDenseTotal>)
    ->Name("BM_TrainStep/dense_total")
    ->Apply(workers_1_and_2);
// AdamW with float moments (MomentPrecision::parameter, torch's precision) instead of double.
BENCHMARK(BM_TrainStep<kStandard, kMoE, kFloatMoments>)
    ->Name("BM_TrainStep/moe_float_moments")
    ->Apply(workers_1_and_2);
BENCHMARK(BM_TrainStep<kStandard, kDenseActive, kFloatMoments>)
    ->Name("BM_TrainStep/dense_active_float_moments")
    ->Apply(workers_1_and_2);
// The small shape (issue 10's SST-2-sized classifier), MoE against its dense twin.
BENCHMARK(BM_TrainStep<kSmall, kMoE>)->Name("BM_TrainStep/small_moe")->Apply(workers_1_and_2);
BENCHMARK(BM_TrainStep<kSmall, kDenseActive>)
    ->Name("BM_TrainStep/small_dense_active")
    ->Apply(workers_1_and_2);
BENCHMARK(BM_TrainStep<kSmall, kMoE, kFloatMoments>)
    ->Name("BM_TrainStep/small_moe_float_moments")
    ->Apply(workers_1_and_2);
BENCHMARK(BM_TrainStep<kSmall, kDenseActive, kFloatMoments>)
    ->Name("BM_TrainStep/small_dense_active_float_moments")
    ->Apply(workers_1_and_2);
BENCHMARK(BM_TrainerFit<kStandard, kMoE>)->Name("BM_TrainerFit/moe")->Apply(workers_1_and_2);
BENCHMARK(BM_TrainerFit<kStandard, kDenseActive>)
    ->Name("BM_TrainerFit/dense_active")
    ->Apply(workers_1_and_2);
BENCHMARK(BM_StepPhases<kStandard, kMoE>)->Name("BM_StepPhases/moe")->Apply(single);
BENCHMARK(BM_StepPhases<kStandard, kDenseActive>)
    ->Name("BM_StepPhases/dense_active")
    ->Apply(single);
BENCHMARK(BM_StepPhases<kSmall, kMoE>)->Name("BM_StepPhases/small_moe")->Apply(single);
BENCHMARK(BM_StepPhases<kSmall, kDenseActive>)
    ->Name("BM_StepPhases/small_dense_active")
    ->Apply(single);
BENCHMARK(BM_DataParallelOverhead<kStandard, kMoE>)
    ->Name("BM_DataParallelOverhead/moe")
    ->ArgNames({"workers", "replace"})
    ->ArgsProduct({{1, 2}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DataParallelOverhead<kSmall, kMoE>)
    ->Name("BM_DataParallelOverhead/small_moe")
    ->ArgNames({"workers", "replace"})
    ->ArgsProduct({{1, 2}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DataParallelOverhead<kSmall, kDenseActive>)
    ->Name("BM_DataParallelOverhead/small_dense_active")
    ->ArgNames({"workers", "replace"})
    ->ArgsProduct({{1, 2}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
