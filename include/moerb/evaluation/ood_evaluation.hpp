#pragma once
// OOD-detection evaluation: runs a classifier over an in-distribution set and an
// out-of-distribution set (e.g. wordnet_ood_task's held-out categories, or a style-shifted set),
// scores every example from its logits with an OodScore (MaxSoftmaxProbability, MaxLogit, Energy or
// a user's own) and feeds an OodDetection accumulator (AUROC, AUPR-in/out, FPR at 95 % TPR).
//
//   OodDetection msp, energy;
//   const OodOutputs out = evaluate_ood(model, in_examples, ood_examples, MaxSoftmaxProbability{},
//                                       msp);
//   add_ood_scores(energy, Energy{}, out);  // a second score from the same forwards
//
// Labels are not used (−1 is allowed on both sides). Batching, threads and determinism are those
// of evaluate_classifier (classifier_evaluation.hpp).
#include <span>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/evaluation/classifier_evaluation.hpp"
#include "moerb/metrics/ood.hpp"

namespace moerb {

/// The classifier outputs of both sets, kept so that further scores need no new forward.
template <class S>
struct OodOutputs {
  ClassifierOutputs<S> in_distribution;
  ClassifierOutputs<S> out_of_distribution;
};

/// Adds score(logit row) of every example of `outputs` to `detection`: in-distribution ones first,
/// then the OOD ones, each in data-set order.
template <class S, OodScore<S> Score>
void add_ood_scores(OodDetection& detection, const Score& score, const OodOutputs<S>& outputs) {
  detection.reserve(static_cast<std::size_t>(outputs.in_distribution.logits.rows()),
                    static_cast<std::size_t>(outputs.out_of_distribution.logits.rows()));
  detection.add_logits(score, outputs.in_distribution.logits, /*out_of_distribution=*/false);
  detection.add_logits(score, outputs.out_of_distribution.logits, /*out_of_distribution=*/true);
}

/// Runs `model` over both sets and adds `score` of every example to `detection`. Returns the
/// outputs (logits, probabilities, predictions) of both sets.
template <EvaluableClassifier Model, OodScore<typename Model::Scalar> Score>
OodOutputs<typename Model::Scalar> evaluate_ood(Model& model,
                                                std::span<const EncodedExample> in_distribution,
                                                std::span<const EncodedExample> out_of_distribution,
                                                const Score& score, OodDetection& detection,
                                                const EvaluationOptions& options = {}) {
  MOERB_REQUIRE(!in_distribution.empty(), "evaluate_ood: no in-distribution examples");
  MOERB_REQUIRE(!out_of_distribution.empty(), "evaluate_ood: no out-of-distribution examples");
  OodOutputs<typename Model::Scalar> out;
  const auto ignore = [](const auto&) {};
  out.in_distribution = detail::evaluation::run_classifier(
      model, in_distribution, options, false, /*labels_optional=*/true,
      "evaluate_ood (in-distribution set)", ignore);
  EvaluationOptions ood_options = options;
  // The OOD set's batches draw from streams of their own (matters only for random routing).
  ood_options.seed = Rng(options.seed).split(1).next_u64();
  out.out_of_distribution = detail::evaluation::run_classifier(
      model, out_of_distribution, ood_options, false, /*labels_optional=*/true,
      "evaluate_ood (out-of-distribution set)", ignore);
  add_ood_scores(detection, score, out);
  return out;
}

}  // namespace moerb
