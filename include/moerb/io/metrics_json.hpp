#pragma once
// JSON round trips of the metric accumulators (moerb/metrics) with nlohmann-json, so that a
// shard's partial result can cross processes and files and be merged elsewhere:
//
//   nlohmann::json j = accuracy;                 // {"metric": "Accuracy", "state": {...}}
//   moerb::Accuracy restored = j.get<moerb::Accuracy>();
//   total.merge(restored);
//
// Each accumulator is written as {"metric": <name>, "options": {...}, "state": {...}} ("options"
// only where the metric has options); a MetricSet as {"metric": "MetricSet", "members": [...]}.
// Doubles are written with enough digits to read back bit for bit. Reading checks the metric name
// and restores through the accumulator's validating constructor: a wrong name, a missing field or
// an inconsistent state throws moerb::error naming the metric. The summaries that value() returns
// (CalibrationSummary, OodSummary, ...) and ConfidenceInterval convert too, for reports; NaN and
// ±∞ figures become null.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "moerb/core/error.hpp"
#include "moerb/metrics/calibration.hpp"
#include "moerb/metrics/classification.hpp"
#include "moerb/metrics/confidence.hpp"
#include "moerb/metrics/metric_set.hpp"
#include "moerb/metrics/ood.hpp"
#include "moerb/metrics/paired.hpp"
#include "moerb/metrics/routing.hpp"
#include "moerb/metrics/safety.hpp"
#include "moerb/metrics/truthfulness.hpp"

namespace moerb {

namespace detail::metrics_json {

using json = nlohmann::json;

inline json envelope(std::string_view metric) {
  return json{{"metric", std::string(metric)}};
}

/// Runs `read` (which reads j["options"] / j["state"]) after checking j["metric"], turning every
/// nlohmann error into a moerb::error that names the metric.
template <class Read>
void read_metric(const json& j, std::string_view metric, Read&& read) {
  const std::string where = "from_json(" + std::string(metric) + ")";
  try {
    MOERB_REQUIRE(j.is_object() && j.contains("metric"), where,
                  ": expected an object with a \"metric\" field");
    const auto name = j.at("metric").get<std::string>();
    MOERB_REQUIRE(name == metric, where, ": the JSON holds metric \"", name, "\"");
    read();
  } catch (const nlohmann::json::exception& e) {
    throw error(where + ": " + e.what());
  }
}

}  // namespace detail::metrics_json

namespace detail::metrics {
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CompensatedSum, sum, compensation)
}  // namespace detail::metrics

NLOHMANN_JSON_SERIALIZE_ENUM(CalibrationBinning, {{CalibrationBinning::equal_width, "equal_width"},
                                                  {CalibrationBinning::equal_mass, "equal_mass"}})

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ConfidenceInterval, estimate, lower, upper, level)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(BootstrapOptions, resamples, level, seed)

// ---- options and states ----------------------------------------------------------------------
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Accuracy::State, correct, total)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ConfusionMatrix::Options, num_classes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ConfusionMatrix::State, num_classes, counts)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Calibration::Options, num_bins, binning, num_classes,
                                   sum_tolerance)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Calibration::State, num_classes, confidence, correct,
                                   label_probability, squared_error)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OodDetection::Options, tpr)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OodDetection::State, in_distribution, out_of_distribution)
NLOHMANN_JSON_SERIALIZE_ENUM(AnswerScoring, {{AnswerScoring::sum_log_prob, "sum_log_prob"},
                                             {AnswerScoring::mean_log_prob, "mean_log_prob"}})
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Truthfulness::Options, scoring)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Truthfulness::State, mc1, mc2, mc3)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RefusalRate::State, refusals, total)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Harmfulness::Options, threshold)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Harmfulness::State, scores)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ExpertLoad::State, load, tokens, requested, dropped, unrouted)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ModelExpertLoad::State, layers, per_layer)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ExpertLabelCounts::Options, num_experts, num_classes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ExpertLabelCounts::State, num_experts, num_classes, counts)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RoutingStability::State, tokens, top1_changes, infinite_kl,
                                   jaccard, kl, js)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(McNemarTest::State, both_correct, only_first, only_second,
                                   neither)

inline void to_json(nlohmann::json& j, const RefusalMatcher& m) {
  j = nlohmann::json{{"phrases", m.phrases()}, {"anywhere", m.anywhere()}};
}
inline void from_json(const nlohmann::json& j, RefusalMatcher& m) {
  m = RefusalMatcher(j.at("phrases").get<std::vector<std::string>>(), j.at("anywhere").get<bool>());
}
inline void to_json(nlohmann::json& j, const RefusalRate::Options& o) {
  j = o.matcher;
}
inline void from_json(const nlohmann::json& j, RefusalRate::Options& o) {
  o.matcher = j.get<RefusalMatcher>();
}

// ---- summaries (value() results) ----------------------------------------------------------------
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ReliabilityBin, lower, upper, mean_confidence, accuracy, count)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CalibrationSummary, ece, mce, brier, nll, accuracy,
                                   mean_confidence, count, bins)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OodSummary, auroc, aupr_in, aupr_out, fpr_at_tpr,
                                   num_in_distribution, num_out_of_distribution)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TruthfulnessScores, mc1, mc2, mc3, questions)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(HarmfulnessSummary, harmful_rate, mean_score, count)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ExpertLoadSummary, load, load_fraction, normalized_entropy,
                                   coefficient_of_variation, max_over_mean, drop_rate,
                                   unrouted_rate, tokens)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RoutingStabilitySummary, mean_jaccard, top1_change_rate, mean_kl,
                                   mean_js, tokens)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(McNemarResult, both_correct, only_first, only_second, neither,
                                   p_value, accuracy_difference)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SeedSummary, mean, stddev, runs, interval)

// ---- accumulators -------------------------------------------------------------------------------
// Metrics with a state only.
#define MOERB_METRIC_JSON_STATE_ONLY(Metric)                                                    \
  inline void to_json(nlohmann::json& j, const Metric& m) {                                     \
    j = detail::metrics_json::envelope(#Metric);                                                \
    j["state"] = m.state();                                                                     \
  }                                                                                             \
  inline void from_json(const nlohmann::json& j, Metric& m) {                                   \
    detail::metrics_json::read_metric(j, #Metric,                                               \
                                      [&] { m = Metric(j.at("state").get<Metric::State>()); }); \
  }

// Metrics with options and a state.
#define MOERB_METRIC_JSON_OPTIONS_STATE(Metric)                                               \
  inline void to_json(nlohmann::json& j, const Metric& m) {                                   \
    j = detail::metrics_json::envelope(#Metric);                                              \
    j["options"] = m.options();                                                               \
    j["state"] = m.state();                                                                   \
  }                                                                                           \
  inline void from_json(const nlohmann::json& j, Metric& m) {                                 \
    detail::metrics_json::read_metric(j, #Metric, [&] {                                       \
      m = Metric(j.at("options").get<Metric::Options>(), j.at("state").get<Metric::State>()); \
    });                                                                                       \
  }

MOERB_METRIC_JSON_STATE_ONLY(Accuracy)
MOERB_METRIC_JSON_OPTIONS_STATE(ConfusionMatrix)
MOERB_METRIC_JSON_OPTIONS_STATE(MacroF1)
MOERB_METRIC_JSON_OPTIONS_STATE(Calibration)
MOERB_METRIC_JSON_OPTIONS_STATE(OodDetection)
MOERB_METRIC_JSON_OPTIONS_STATE(Truthfulness)
MOERB_METRIC_JSON_OPTIONS_STATE(RefusalRate)
MOERB_METRIC_JSON_OPTIONS_STATE(Harmfulness)
MOERB_METRIC_JSON_STATE_ONLY(ExpertLoad)
MOERB_METRIC_JSON_STATE_ONLY(ModelExpertLoad)
MOERB_METRIC_JSON_OPTIONS_STATE(ExpertLabelCounts)
MOERB_METRIC_JSON_STATE_ONLY(RoutingStability)
MOERB_METRIC_JSON_STATE_ONLY(McNemarTest)

#undef MOERB_METRIC_JSON_STATE_ONLY
#undef MOERB_METRIC_JSON_OPTIONS_STATE

template <class... Metrics>
void to_json(nlohmann::json& j, const MetricSet<Metrics...>& set) {
  j = detail::metrics_json::envelope("MetricSet");
  nlohmann::json members = nlohmann::json::array();
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (members.push_back(nlohmann::json(set.template get<I>())), ...);
  }
  (std::index_sequence_for<Metrics...>{});
  j["members"] = std::move(members);
}

template <class... Metrics>
void from_json(const nlohmann::json& j, MetricSet<Metrics...>& set) {
  detail::metrics_json::read_metric(j, "MetricSet", [&] {
    const nlohmann::json& members = j.at("members");
    MOERB_REQUIRE(members.is_array() && members.size() == sizeof...(Metrics),
                  "from_json(MetricSet): expected an array of ", sizeof...(Metrics),
                  " members, got ", members.is_array() ? members.size() : 0);
    MetricSet<Metrics...> restored;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (members.at(I).get_to(restored.template get<I>()), ...);
    }
    (std::index_sequence_for<Metrics...>{});
    set = std::move(restored);
  });
}

}  // namespace moerb
