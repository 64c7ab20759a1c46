#pragma once
// Trainer<Model, Task>: the training loop — shuffled mini-batches, data-parallel gradients
// (DataParallel), gradient accumulation, global-norm clipping, AdamW or SGD on a warmup+decay
// schedule, optional FreeLB adversarial training, dev evaluation with early stopping, and a
// progress display. Tasks: ClassificationTask (EncoderClassifier) and LanguageModelingTask
// (DecoderLM); aliases ClassifierTrainer / LMTrainer.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <limits>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/models/token_batch.hpp"
#include "moerb/train/adamw.hpp"
#include "moerb/train/data_parallel.hpp"
#include "moerb/train/early_stopping.hpp"
#include "moerb/train/encoded_example.hpp"
#include "moerb/train/freelb.hpp"
#include "moerb/train/grad_clip.hpp"
#include "moerb/train/lr_schedule.hpp"
#include "moerb/train/progress.hpp"
#include "moerb/train/recipe.hpp"
#include "moerb/train/sgd.hpp"

namespace moerb {

/// Sequence classification with an EncoderClassifier: mean cross-entropy over the batch; the dev
/// metric is accuracy.
struct ClassificationTask {
  using Example = EncodedExample;
  static constexpr bool higher_is_better = true;
  static constexpr std::string_view metric_name = "dev_acc";

  static TokenBatch make_batch(std::span<const Example> examples,
                               std::vector<std::int32_t>& labels) {
    TokenBatch batch;
    labels.clear();
    for (std::size_t i = 0; i < examples.size(); ++i) {
      const Example& e = examples[i];
      MOERB_REQUIRE(!e.ids.empty(), "ClassificationTask: example ", i, " has no tokens");
      batch.push_back(e.ids, e.segments);
      labels.push_back(e.label);
    }
    return batch;
  }
  /// Weight of a shard in the batch mean: its number of sequences.
  static double weight(std::span<const Example> shard) { return static_cast<double>(shard.size()); }
  static Index tokens(std::span<const Example> shard) {
    Index n = 0;
    for (const Example& e : shard) n += static_cast<Index>(e.ids.size());
    return n;
  }
  /// Forward + backward on one shard; returns task loss + aux loss.
  template <class Model>
  static double work(Model& model, std::span<const Example> shard, const ForwardContext& ctx,
                     const FreeLBOptions& adversarial, Rng& adv_rng) {
    using S = typename Model::Scalar;
    std::vector<std::int32_t> labels;
    const TokenBatch batch = make_batch(shard, labels);
    const auto loss_fn = [&](const Matrix<S>& logits, Matrix<S>& d_logits) {
      return static_cast<double>(model.loss(logits, labels, d_logits));
    };
    if (adversarial.enabled()) return freelb_step(model, batch, ctx, adversarial, adv_rng, loss_fn);
    Matrix<S> d_logits;
    const Matrix<S>& logits = model.forward(batch, ctx);
    const double loss = loss_fn(logits, d_logits) + static_cast<double>(model.aux_loss());
    model.backward(d_logits);
    return loss;
  }
  /// Accuracy on `examples` (evaluation forwards in batches).
  template <class Model>
  static double evaluate(Model& model, std::span<const Example> examples, Index batch_size) {
    MOERB_REQUIRE(!examples.empty(), "ClassificationTask::evaluate: no examples");
    std::size_t correct = 0;
    std::vector<std::int32_t> labels;
    for (std::size_t i = 0; i < examples.size(); i += static_cast<std::size_t>(batch_size)) {
      const auto part =
          examples.subspan(i, std::min(examples.size() - i, static_cast<std::size_t>(batch_size)));
      const TokenBatch batch = make_batch(part, labels);
      const auto predicted = model.predict(batch);
      for (std::size_t j = 0; j < predicted.size(); ++j) correct += predicted[j] == labels[j];
    }
    return static_cast<double>(correct) / static_cast<double>(examples.size());
  }
};

/// Next-token prediction with a DecoderLM: mean NLL over every predicted token; the dev metric
/// is perplexity (lower is better).
struct LanguageModelingTask {
  using Example = std::vector<std::int32_t>;
  static constexpr bool higher_is_better = false;
  static constexpr std::string_view metric_name = "dev_ppl";

  static TokenBatch make_batch(std::span<const Example> examples) {
    TokenBatch batch;
    for (std::size_t i = 0; i < examples.size(); ++i) {
      MOERB_REQUIRE(examples[i].size() >= 2, "LanguageModelingTask: sequence ", i, " has ",
                    examples[i].size(), " tokens, expected >= 2");
      batch.push_back(examples[i]);
    }
    return batch;
  }
  /// Weight of a shard: its number of predicted tokens.
  static double weight(std::span<const Example> shard) {
    double n = 0;
    for (const Example& e : shard) n += static_cast<double>(e.size()) - 1;
    return n;
  }
  static Index tokens(std::span<const Example> shard) {
    Index n = 0;
    for (const Example& e : shard) n += static_cast<Index>(e.size());
    return n;
  }
  template <class Model>
  static double work(Model& model, std::span<const Example> shard, const ForwardContext& ctx,
                     const FreeLBOptions& adversarial, Rng& adv_rng) {
    using S = typename Model::Scalar;
    const TokenBatch batch = make_batch(shard);
    const auto loss_fn = [&](const Matrix<S>& logits, Matrix<S>& d_logits) {
      return static_cast<double>(model.lm_loss(logits, batch, d_logits));
    };
    if (adversarial.enabled()) return freelb_step(model, batch, ctx, adversarial, adv_rng, loss_fn);
    Matrix<S> d_logits;
    const Matrix<S>& logits = model.forward(batch, ctx);
    const double loss = loss_fn(logits, d_logits) + static_cast<double>(model.aux_loss());
    model.backward(d_logits);
    return loss;
  }
  /// Perplexity exp(mean NLL per predicted token) on `examples`.
  template <class Model>
  static double evaluate(Model& model, std::span<const Example> examples, Index batch_size) {
    using S = typename Model::Scalar;
    MOERB_REQUIRE(!examples.empty(), "LanguageModelingTask::evaluate: no sequences");
    double nll = 0, count = 0;
    Matrix<S> d;
    for (std::size_t i = 0; i < examples.size(); i += static_cast<std::size_t>(batch_size)) {
      const auto part =
          examples.subspan(i, std::min(examples.size() - i, static_cast<std::size_t>(batch_size)));
      const TokenBatch batch = make_batch(part);
      const Matrix<S>& logits = model.forward(batch, ForwardContext{});
      const double w = weight(part);
      nll += w * static_cast<double>(model.lm_loss(logits, batch, d));
      count += w;
    }
    return std::exp(nll / count);
  }
};

/// One optimizer step's record.
struct TrainingLogEntry {
  Index step = 0;
  Index epoch = 0;
  double loss = 0;  ///< mean objective (task + aux) over the step's examples
  double lr = 0;
  double grad_norm = 0;  ///< before clipping
  std::optional<double> dev_metric;
};

struct TrainResult {
  Index steps = 0;
  Index epochs = 0;  ///< epochs started
  bool stopped_early = false;
  std::optional<double> best_dev_metric;
  Index best_step = -1;
  double seconds = 0;
  double tokens_per_second = 0;  ///< training tokens (forward + backward) per wall-clock second
  std::vector<TrainingLogEntry> log;
};

template <class Model, class Task>
class Trainer {
 public:
  using Scalar = typename Model::Scalar;
  using S = Scalar;
  using Example = typename Task::Example;

  Trainer(Model& model, const Recipe& recipe) : model_(&model), recipe_(recipe) {
    recipe_.validate("Trainer");
  }

  /// Where progress goes (default std::cerr).
  void set_progress_stream(std::ostream& out) { progress_out_ = &out; }

  /// Trains on `train` (shuffled each epoch with the recipe's seed) and evaluates on `dev`
  /// (if not empty) every recipe.eval_every steps or at each epoch end.
  TrainResult fit(std::span<const Example> train, std::span<const Example> dev = {}) {
    MOERB_REQUIRE(!train.empty(), "Trainer::fit: empty training set");
    Model& model = *model_;
    apply_freezing(recipe_, model);
    DataParallel<Model> workers(model, recipe_.threads);
    const auto B = static_cast<std::size_t>(recipe_.batch_size);
    const auto A = static_cast<std::size_t>(recipe_.grad_accumulation_steps);
    const std::size_t per_step = B * A;
    const auto steps_per_epoch = static_cast<Index>((train.size() + per_step - 1) / per_step);
    Index total_steps = steps_per_epoch * recipe_.epochs;
    if (recipe_.max_steps > 0) total_steps = std::min(total_steps, recipe_.max_steps);

    LRSchedule schedule(schedule_options(total_steps));
    std::variant<AdamW, SGD> optimizer = make_optimizer();
    std::optional<EarlyStopping> stopper;
    if (!dev.empty() && recipe_.early_stopping_patience > 0) {
      EarlyStopping::Options o{};
      o.patience = recipe_.early_stopping_patience;
      o.min_delta = recipe_.early_stopping_min_delta;
      o.mode = Task::higher_is_better ? EarlyStopping::Mode::max : EarlyStopping::Mode::min;
      stopper.emplace(o);
    }
    std::vector<Matrix<S>> best_values;
    std::optional<ProgressBar> bar;
    if (recipe_.progress) bar.emplace(progress_options(total_steps), *progress_out_);

    TrainResult result;
    const Rng base(recipe_.seed);
    std::vector<std::size_t> order(train.size());
    std::vector<Example> micro;
    std::vector<double> weights;
    Index tokens = 0;
    const auto start = std::chrono::steady_clock::now();
    Index step = 0;
    bool done = false;
    for (Index epoch = 0; epoch < recipe_.epochs && !done; ++epoch) {
      result.epochs = epoch + 1;
      if (bar) bar->start_epoch(epoch + 1);
      std::iota(order.begin(), order.end(), std::size_t{0});
      Rng shuffle = base.split(1).split(static_cast<std::uint64_t>(epoch));
      for (std::size_t i = order.size(); i > 1; --i) {
        std::swap(order[i - 1], order[static_cast<std::size_t>(shuffle.uniform_index(i))]);
      }
      for (std::size_t pos = 0; pos < order.size() && !done; pos += per_step) {
        // The first micro-batch replaces the master's gradients (no zero_grad pass needed).
        const Rng step_rng = base.split(2).split(static_cast<std::uint64_t>(step));
        double loss = 0;
        const std::size_t step_end = std::min(order.size(), pos + per_step);
        const double step_weight = total_weight(train, order, pos, step_end);
        for (std::size_t a = 0; a < A; ++a) {
          const std::size_t mb = pos + a * B;
          if (mb >= step_end) break;
          const std::size_t me = std::min(step_end, mb + B);
          micro.clear();
          for (std::size_t i = mb; i < me; ++i) micro.push_back(train[order[i]]);
          loss += run_micro_batch(workers, micro, step_weight, step_rng.split(a), tokens,
                                  a == 0 ? MasterGradients::replace : MasterGradients::add);
        }
        const double grad_norm = recipe_.max_grad_norm > 0
                                     ? clip_grad_norm(model, recipe_.max_grad_norm)
                                     : global_grad_norm(model);
        const double lr = schedule.lr(step);
        std::visit([&](auto& opt) { opt.step(model, lr); }, optimizer);
        ++step;
        TrainingLogEntry entry{step, epoch, loss, lr, grad_norm, std::nullopt};
        if (bar) bar->update(step, loss);  // before evaluating: evaluation is not step time
        const bool epoch_end = pos + per_step >= order.size();
        const bool eval_now =
            !dev.empty() && (recipe_.eval_every > 0 ? step % recipe_.eval_every == 0 : epoch_end);
        if (eval_now) {
          const double metric = Task::evaluate(model, dev, eval_batch_size());
          entry.dev_metric = metric;
          if (bar) bar->set_metric(std::string(Task::metric_name), metric);
          const bool better = !result.best_dev_metric ||
                              (Task::higher_is_better ? metric > *result.best_dev_metric
                                                      : metric < *result.best_dev_metric);
          if (better) {
            result.best_dev_metric = metric;
            result.best_step = step;
            if (stopper) save_values(model, best_values);
          }
          if (stopper) {
            stopper->update(metric);
            if (stopper->should_stop()) {
              result.stopped_early = true;
              done = true;
            }
          }
        }
        if (step >= total_steps) done = true;
        result.log.push_back(entry);
      }
      if (bar) bar->end_epoch();
    }
    if (bar) bar->finish();
    if (stopper && !best_values.empty()) load_values(model, best_values);
    result.steps = step;
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.tokens_per_second =
        result.seconds > 0 ? static_cast<double>(tokens) / result.seconds : 0.0;
    return result;
  }

  /// The task's dev metric of the model on `examples`.
  double evaluate(std::span<const Example> examples) {
    return Task::evaluate(*model_, examples, eval_batch_size());
  }

 private:
  // Evaluation has no backward to keep memory for: batches of at least 32 sequences.
  [[nodiscard]] Index eval_batch_size() const { return std::max<Index>(recipe_.batch_size, 32); }

  double total_weight(std::span<const Example> train, const std::vector<std::size_t>& order,
                      std::size_t begin, std::size_t end) const {
    double w = 0;
    for (std::size_t i = begin; i < end; ++i) w += Task::weight(train.subspan(order[i], 1));
    return w;
  }

  // Splits the micro-batch into contiguous shards, one per worker, weighted by their share of
  // the whole step's examples (so accumulation averages over the step).
  double run_micro_batch(DataParallel<Model>& workers, const std::vector<Example>& micro,
                         double step_weight, const Rng& micro_rng, Index& tokens,
                         MasterGradients master) {
    const std::span<const Example> all(micro);
    const std::size_t n =
        std::min<std::size_t>(static_cast<std::size_t>(workers.num_workers()), all.size());
    std::vector<std::span<const Example>> shards;
    std::vector<double> weights;
    for (std::size_t s = 0; s < n; ++s) {
      const std::size_t b = all.size() * s / n, e = all.size() * (s + 1) / n;
      shards.push_back(all.subspan(b, e - b));
      weights.push_back(Task::weight(shards.back()) / step_weight);
      tokens += Task::tokens(shards.back());
    }
    const FreeLBOptions adversarial = recipe_.adversarial;
    return workers.accumulate(
        weights,
        [&](Model& replica, Index s) {
          const auto us = static_cast<std::uint64_t>(s);
          ForwardContext ctx;
          ctx.training = true;
          ctx.rng = micro_rng.split(us);
          Rng adv_rng = micro_rng.split(1000 + us);
          return Task::work(replica, shards[static_cast<std::size_t>(s)], ctx, adversarial,
                            adv_rng);
        },
        master);
  }

  LRSchedule::Options schedule_options(Index total_steps) const {
    LRSchedule::Options o{};
    o.base_lr = recipe_.learning_rate;
    o.total_steps = total_steps;
    o.warmup_steps = static_cast<std::int64_t>(
        std::llround(recipe_.warmup_ratio * static_cast<double>(total_steps)));
    o.decay = recipe_.decay;
    return o;
  }

  std::variant<AdamW, SGD> make_optimizer() const {
    if (recipe_.optimizer == OptimizerKind::sgd) {
      SGD::Options o{};
      o.momentum = recipe_.sgd_momentum;
      o.nesterov = recipe_.sgd_nesterov;
      o.weight_decay = recipe_.weight_decay;
      o.decay_policy = WeightDecayPolicy::matrices_only;
      return SGD(o);
    }
    AdamW::Options o{};
    o.beta1 = recipe_.adam_beta1;
    o.beta2 = recipe_.adam_beta2;
    o.eps = recipe_.adam_eps;
    o.moments = recipe_.adam_moments;
    o.weight_decay = recipe_.weight_decay;
    o.decay_policy = WeightDecayPolicy::matrices_only;
    return AdamW(o);
  }

  ProgressBar::Options progress_options(Index total_steps) const {
    ProgressBar::Options o{};
    o.total_steps = total_steps;
    o.log_every = std::max<Index>(1, total_steps / 20);
    return o;
  }

  static void save_values(Model& model, std::vector<Matrix<S>>& values) {
    values.clear();
    model.visit_parameters([&](std::string_view, Parameter<S>& p) { values.push_back(p.value); },
                           "");
  }
  static void load_values(Model& model, const std::vector<Matrix<S>>& values) {
    std::size_t i = 0;
    model.visit_parameters([&](std::string_view, Parameter<S>& p) { p.value = values[i++]; }, "");
  }

  Model* model_;
  Recipe recipe_;
  std::ostream* progress_out_ = &std::cerr;
};

template <class Model>
using ClassifierTrainer = Trainer<Model, ClassificationTask>;
template <class Model>
using LMTrainer = Trainer<Model, LanguageModelingTask>;

}  // namespace moerb
