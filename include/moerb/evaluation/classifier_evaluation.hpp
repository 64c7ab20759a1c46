#pragma once
// Classifier evaluation: runs a sequence classifier (EncoderClassifier, or any type with the same
// forward/trace members) over an encoded data set in batches, on every core, and feeds each batch
// to a set of metric accumulators.
//
//   MetricSet<Accuracy, Calibration, ModelExpertLoad> metrics;
//   const ClassifierOutputs out = evaluate_classifier(model, examples, metrics);
//   auto [accuracy, calibration, load] = metrics.values();
//
// What each member of the MetricSet receives, per batch, by the first form it accepts:
//   1. add(const ClassifierBatch<S>&)                    — everything (a user's own metric);
//   2. add(const Matrix<double>& probabilities, labels)  — Accuracy, MacroF1, ConfusionMatrix,
//                                                          Calibration, ...;
//   3. add(const ModelTrace<S>&)                         — ModelExpertLoad (MoE models only: the
//                                                          trace of a dense model is skipped).
// A member that takes none of them is a compile-time error naming this function.
//
// Determinism: batch b holds examples [b·batch_size, (b+1)·batch_size) in data-set order and is
// run with ForwardContext{training = false, rng = Rng(seed).split(b)} (the stream matters only for
// random inference routing); the accumulators receive the batches in order. The same seed and
// thread count give the same values bit for bit (see detail/ordered_parallel.hpp).
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <span>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"
#include "moerb/evaluation/detail/ordered_parallel.hpp"
#include "moerb/metrics/metric_set.hpp"
#include "moerb/models/model_trace.hpp"
#include "moerb/models/token_batch.hpp"
#include "moerb/train/encoded_example.hpp"

namespace moerb {

/// How an evaluation runs: examples per forward, threads, and the seed of the forward contexts.
struct EvaluationOptions {
  Index batch_size = 64;
  int threads = 0;  ///< 0: every core (available_threads())
  std::uint64_t seed = 0;

  void validate(std::string_view where) const {
    MOERB_REQUIRE(batch_size >= 1, where, ": batch_size = ", batch_size, ", expected >= 1");
    MOERB_REQUIRE(threads >= 0, where, ": threads = ", threads, ", expected >= 0 (0 = all cores)");
  }
};

/// A sequence classifier as the evaluation uses it: forward(TokenBatch, ForwardContext) giving
/// logits (sequences × classes), num_classes(), and trace() (a ModelTrace of the last forward).
template <class M>
concept EvaluableClassifier = std::copyable<M> &&
    requires(M& m, const M& cm, const TokenBatch& b, const ForwardContext& ctx) {
  typename M::Scalar;
  { m.forward(b, ctx) } -> std::convertible_to<const Matrix<typename M::Scalar>&>;
  { cm.num_classes() } -> std::convertible_to<Index>;
  { cm.trace() } -> std::convertible_to<ModelTrace<typename M::Scalar>>;
};

/// One evaluated batch, as a metric of form 1 sees it. Rows are examples first .. first + size − 1
/// of the data set.
template <class S>
struct ClassifierBatch {
  Index first = 0;
  std::span<const EncodedExample> examples;
  const TokenBatch* tokens = nullptr;
  const Matrix<S>* logits = nullptr;              ///< examples × classes
  const Matrix<double>* probabilities = nullptr;  ///< softmax of the logits, in double
  std::span<const std::int32_t> labels;
  std::span<const std::int32_t> predicted;  ///< arg max, the lowest index among ties
  /// The model's trace of this batch's forward, or nullptr when no metric asked for one.
  const ModelTrace<S>* trace = nullptr;
};

/// Everything an evaluation computed per example, for paired comparisons (McNemarTest,
/// paired_bootstrap_ci) and for a user's own analysis.
template <class S>
struct ClassifierOutputs {
  Matrix<S> logits;              ///< examples × classes
  Matrix<double> probabilities;  ///< examples × classes
  std::vector<std::int32_t> labels;
  std::vector<std::int32_t> predicted;

  /// 1 where the prediction equals the label, else 0 (for McNemarTest, paired bootstrap).
  [[nodiscard]] std::vector<double> correctness() const {
    std::vector<double> out(labels.size());
    for (std::size_t i = 0; i < labels.size(); ++i) out[i] = predicted[i] == labels[i] ? 1.0 : 0.0;
    return out;
  }
};

namespace detail::evaluation {

template <class M, class S>
concept TakesClassifierBatch = requires(M& m, const ClassifierBatch<S>& b) {
  m.add(b);
};
template <class M>
concept TakesProbabilities = requires(M& m, const Matrix<double>& p,
                                      std::span<const std::int32_t> labels) {
  m.add(p, labels);
};
template <class M, class S>
concept TakesTrace = requires(M& m, const ModelTrace<S>& t) {
  m.add(t);
};

template <class M, class S>
constexpr bool metric_wants_trace() {
  // A batch metric may read the trace; a trace metric gets it unless it takes probabilities first.
  return TakesClassifierBatch<M, S> || (!TakesProbabilities<M> && TakesTrace<M, S>);
}

template <class S, class M>
void feed_metric(M& metric, const ClassifierBatch<S>& batch) {
  if constexpr (TakesClassifierBatch<M, S>) {
    metric.add(batch);
  } else if constexpr (TakesProbabilities<M>) {
    metric.add(*batch.probabilities, batch.labels);
  } else if constexpr (TakesTrace<M, S>) {
    if (batch.trace != nullptr && !batch.trace->moe_layers.empty()) metric.add(*batch.trace);
  } else {
    static_assert(TakesTrace<M, S>,
                  "evaluate_classifier: a metric in the MetricSet takes none of "
                  "add(const ClassifierBatch<S>&), add(const Matrix<double>& probabilities, "
                  "std::span<const std::int32_t> labels) and add(const ModelTrace<S>&)");
  }
}

template <class S, class... Metrics, std::size_t... I>
void feed_all(MetricSet<Metrics...>& metrics, const ClassifierBatch<S>& batch,
              std::index_sequence<I...>) {
  (feed_metric(metrics.template get<I>(), batch), ...);
}

/// Softmax of each row in double (max-shifted) and the arg max (lowest index among ties).
template <class S>
void probabilities_and_predictions(const Matrix<S>& logits, Matrix<double>& probabilities,
                                   std::int32_t* predicted, std::string_view where, Index first) {
  probabilities.resize(logits.rows(), logits.cols());
  for (Index i = 0; i < logits.rows(); ++i) {
    Index best = 0;
    double max = static_cast<double>(logits(i, 0));
    for (Index k = 0; k < logits.cols(); ++k) {
      const double z = static_cast<double>(logits(i, k));
      MOERB_REQUIRE(std::isfinite(z), where, ": example ", first + i, " has logit ", k, " = ", z,
                    " (the model produced a non-finite value)");
      if (z > max) {
        max = z;
        best = k;
      }
    }
    double sum = 0;
    for (Index k = 0; k < logits.cols(); ++k) {
      probabilities(i, k) = std::exp(static_cast<double>(logits(i, k)) - max);
      sum += probabilities(i, k);
    }
    probabilities.row(i) /= sum;
    predicted[i] = static_cast<std::int32_t>(best);
  }
}

/// What one thread computed for one batch.
template <class S>
struct ClassifierSlot {
  TokenBatch tokens;
  Matrix<S> logits;
  ModelTrace<S> trace;
};

/// Runs `model` over `examples` and calls on_batch(const ClassifierBatch<S>&) for every batch in
/// order; fills `outputs`. Labels are checked against the classes unless `labels_optional` (then
/// −1 marks an unlabeled example, e.g. an OOD input).
template <class Model, class OnBatch>
ClassifierOutputs<typename Model::Scalar> run_classifier(
    Model& model, std::span<const EncodedExample> examples, const EvaluationOptions& options,
    bool want_trace, bool labels_optional, std::string_view where, OnBatch&& on_batch) {
  using S = typename Model::Scalar;
  options.validate(where);
  MOERB_REQUIRE(!examples.empty(), where, ": no examples");
  const Index classes = model.num_classes();
  const auto n = static_cast<Index>(examples.size());
  for (Index i = 0; i < n; ++i) {
    const EncodedExample& e = examples[static_cast<std::size_t>(i)];
    MOERB_REQUIRE(!e.ids.empty(), where, ": example ", i, " has no tokens");
    MOERB_REQUIRE(e.segments.empty() || e.segments.size() == e.ids.size(), where, ": example ", i,
                  " has ", e.segments.size(), " segment ids for ", e.ids.size(), " tokens");
    MOERB_REQUIRE((labels_optional && e.label == -1) || (e.label >= 0 && e.label < classes), where,
                  ": example ", i, " has label ", e.label, ", expected a class in [0, ", classes,
                  ")", labels_optional ? " or -1" : "");
  }

  ClassifierOutputs<S> out;
  out.logits.resize(n, classes);
  out.probabilities.resize(n, classes);
  out.labels.resize(static_cast<std::size_t>(n));
  out.predicted.resize(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    out.labels[static_cast<std::size_t>(i)] = examples[static_cast<std::size_t>(i)].label;
  }
  const Index B = options.batch_size;
  const Index num_batches = (n + B - 1) / B;
  const Rng base(options.seed);
  Matrix<double> probabilities;

  const auto compute = [&](Model& replica, Index b, ClassifierSlot<S>& slot) {
    const Index first = b * B;
    const Index count = std::min(B, n - first);
    slot.tokens = TokenBatch{};
    for (Index i = first; i < first + count; ++i) {
      const EncodedExample& e = examples[static_cast<std::size_t>(i)];
      slot.tokens.push_back(e.ids, e.segments);
    }
    ForwardContext ctx;
    ctx.rng = base.split(static_cast<std::uint64_t>(b));
    slot.logits = replica.forward(slot.tokens, ctx);
    MOERB_REQUIRE(slot.logits.rows() == count && slot.logits.cols() == classes, where,
                  ": the model returned ", slot.logits.rows(), " × ", slot.logits.cols(),
                  " logits for ", count, " examples and ", classes, " classes");
    if (want_trace) slot.trace = replica.trace();
  };
  const auto consume = [&](Index b, ClassifierSlot<S>& slot) {
    const Index first = b * B;
    const Index count = slot.logits.rows();
    out.logits.middleRows(first, count) = slot.logits;
    probabilities_and_predictions(slot.logits, probabilities,
                                  out.predicted.data() + static_cast<std::size_t>(first), where,
                                  first);
    out.probabilities.middleRows(first, count) = probabilities;
    ClassifierBatch<S> batch;
    batch.first = first;
    batch.examples =
        examples.subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(count));
    batch.tokens = &slot.tokens;
    batch.logits = &slot.logits;
    batch.probabilities = &probabilities;
    batch.labels = std::span<const std::int32_t>(out.labels)
                       .subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(count));
    batch.predicted =
        std::span<const std::int32_t>(out.predicted)
            .subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(count));
    batch.trace = want_trace ? &slot.trace : nullptr;
    on_batch(batch);
  };
  ordered_parallel<ClassifierSlot<S>>(model, num_batches, options.threads, compute, consume);
  return out;
}

}  // namespace detail::evaluation

/// Evaluates `model` on `examples` (labels in [0, num_classes)) and feeds every batch to each
/// member of `metrics` (see the top of this header). Returns the per-example outputs.
template <EvaluableClassifier Model, class... Metrics>
ClassifierOutputs<typename Model::Scalar> evaluate_classifier(
    Model& model, std::span<const EncodedExample> examples, MetricSet<Metrics...>& metrics,
    const EvaluationOptions& options = {}) {
  using S = typename Model::Scalar;
  constexpr bool want_trace = (detail::evaluation::metric_wants_trace<Metrics, S>() || ...);
  return detail::evaluation::run_classifier(
      model, examples, options, want_trace, /*labels_optional=*/false, "evaluate_classifier",
      [&](const ClassifierBatch<S>& batch) {
        detail::evaluation::feed_all(metrics, batch, std::index_sequence_for<Metrics...>{});
      });
}

/// The outputs alone (no metrics).
template <EvaluableClassifier Model>
ClassifierOutputs<typename Model::Scalar> classifier_outputs(
    Model& model, std::span<const EncodedExample> examples, const EvaluationOptions& options = {}) {
  return detail::evaluation::run_classifier(model, examples, options, false,
                                            /*labels_optional=*/true, "classifier_outputs",
                                            [](const auto&) {});
}

}  // namespace moerb
