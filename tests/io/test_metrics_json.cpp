// Tests for include/moerb/io/metrics_json.hpp
//
// Every accumulator survives a JSON round trip (through text) with its options and state bit for
// bit; a restored shard merges like the original; bad JSON throws moerb::error naming the metric.
#include "moerb/io/metrics_json.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moerb/core/rng.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_io_metrics_json {

namespace {

using moerb::Index;
using moerb::test::message_has;
using nlohmann::json;

using Labels = std::vector<std::int32_t>;

/// Writes `m` to JSON text and reads it back.
template <class M>
M round_trip(const M& m) {
  const std::string text = json(m).dump();
  return json::parse(text).get<M>();
}

/// Random probability rows (some with tied maxima) and labels.
void fill_calibration(moerb::Calibration& c, int n, std::uint64_t seed) {
  moerb::Rng rng(seed);
  for (int i = 0; i < n; ++i) {
    std::vector<double> p{rng.uniform(), rng.uniform(), i % 4 == 0 ? 0.0 : rng.uniform()};
    const double sum = p[0] + p[1] + p[2];
    for (double& v : p) v /= sum;
    c.add(moerb::LabeledProbabilities<double>{p, static_cast<std::int32_t>(rng.uniform_index(3))});
  }
}

moerb::MoELayerTrace<float> trace(std::uint64_t seed) {
  moerb::Rng rng(seed);
  moerb::MoELayerTrace<float> t;
  t.probs.resize(5, 3);
  t.selected.resize(5, 2);
  for (Index i = 0; i < 5; ++i) {
    for (Index e = 0; e < 3; ++e) t.probs(i, e) = static_cast<float>(rng.uniform()) + 0.01f;
    t.selected(i, 0) = static_cast<Index>(rng.uniform_index(3));
    t.selected(i, 1) = (t.selected(i, 0) + 1) % 3;
  }
  t.chosen = t.selected;
  t.load = {3, 4, 3};
  return t;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(metrics_json)

BOOST_AUTO_TEST_CASE(counting_metrics_round_trip) {
  moerb::Accuracy accuracy;
  accuracy.add(Labels{0, 1, 2, 2}, Labels{0, 1, 1, 2});
  BOOST_TEST((round_trip(accuracy).state() == accuracy.state()));
  BOOST_TEST(round_trip(accuracy).value() == 0.75);
  BOOST_TEST(json(accuracy)["metric"] == "Accuracy");

  moerb::MacroF1 f1({.num_classes = 4});
  f1.add(Labels{0, 1, 2, 2}, Labels{0, 1, 1, 2});
  const moerb::MacroF1 f1_back = round_trip(f1);
  BOOST_TEST(f1_back.options().num_classes == 4);
  BOOST_TEST(f1_back.value() == f1.value());
  BOOST_TEST(json(f1)["metric"] == "MacroF1");

  moerb::ConfusionMatrix confusion;
  confusion.add(Labels{0, 3}, Labels{1, 1});
  BOOST_TEST((round_trip(confusion).value() == confusion.value()));

  moerb::RefusalRate refusals(moerb::RefusalRate::Options{moerb::RefusalMatcher({"nope"}, false)});
  refusals.add("nope, sorry");
  refusals.add("sure");
  const moerb::RefusalRate refusals_back = round_trip(refusals);
  BOOST_TEST((refusals_back.options() == refusals.options()));
  BOOST_TEST(refusals_back.value() == 0.5);
  BOOST_TEST(!refusals_back.options().matcher.anywhere());

  moerb::McNemarTest mcnemar({.both_correct = 3, .only_first = 4, .only_second = 1, .neither = 2});
  BOOST_TEST((round_trip(mcnemar).value() == mcnemar.value()));
}

BOOST_AUTO_TEST_CASE(per_example_metrics_round_trip_bit_for_bit) {
  moerb::Calibration calibration(
      {.num_bins = 7, .binning = moerb::CalibrationBinning::equal_mass, .sum_tolerance = 1e-6});
  fill_calibration(calibration, 50, 1);
  const moerb::Calibration calibration_back = round_trip(calibration);
  BOOST_TEST((calibration_back.options() == calibration.options()));
  BOOST_TEST((calibration_back.state() == calibration.state()));
  BOOST_TEST((calibration_back.value() == calibration.value()));

  moerb::OodDetection ood({.tpr = 0.9});
  moerb::Rng rng(2);
  for (int i = 0; i < 40; ++i) ood.add(moerb::OodExample{rng.normal() / 3, i % 3 == 0});
  const moerb::OodDetection ood_back = round_trip(ood);
  BOOST_TEST(ood_back.options().tpr == 0.9);
  BOOST_TEST((ood_back.value() == ood.value()));

  moerb::Truthfulness truth({.scoring = moerb::AnswerScoring::mean_log_prob});
  const std::vector<double> t{-0.1 / 3, -2}, f{-1.0 / 7};
  truth.add(moerb::MultipleChoiceScores{t, f, 1});
  truth.add(moerb::MultipleChoiceScores{t, f, 0});
  const moerb::Truthfulness truth_back = round_trip(truth);
  BOOST_TEST((truth_back.state() == truth.state()));
  BOOST_TEST((truth_back.options() == truth.options()));

  moerb::Harmfulness harm({.threshold = 0.3});
  harm.add(std::vector<double>{0.1, 1.0 / 3, 0.7});
  BOOST_TEST((round_trip(harm).value() == harm.value()));
}

BOOST_AUTO_TEST_CASE(routing_metrics_round_trip) {
  moerb::ExpertLoad load;
  load.add(trace(1));
  BOOST_TEST((round_trip(load).state() == load.state()));

  moerb::ModelTrace<float> model_trace;
  model_trace.moe_layers = {trace(1), trace(2)};
  model_trace.moe_layers[1].layer = 3;
  moerb::ModelExpertLoad model_load;
  model_load.add(model_trace);
  const moerb::ModelExpertLoad model_load_back = round_trip(model_load);
  BOOST_TEST((model_load_back.layers() == model_load.layers()));
  BOOST_TEST((model_load_back.state() == model_load.state()));

  moerb::ExpertLabelCounts counts;
  counts.add(trace(3), Labels{0, 1, 1, 2, 0});
  BOOST_TEST((round_trip(counts).value() == counts.value()));

  moerb::RoutingStability stability;
  stability.add(trace(4), trace(5));
  const moerb::RoutingStability stability_back = round_trip(stability);
  BOOST_TEST((stability_back.state() == stability.state()));
  BOOST_TEST((stability_back.value() == stability.value()));
}

BOOST_AUTO_TEST_CASE(a_restored_shard_merges_like_the_original) {
  // Two processes each evaluate half and write their MetricSet; a third reads and merges them.
  using Metrics = moerb::MetricSet<moerb::Accuracy, moerb::Calibration>;
  moerb::Calibration half_a, half_b, whole;
  fill_calibration(half_a, 30, 7);
  fill_calibration(half_b, 21, 8);
  Metrics a(moerb::Accuracy{}, half_a), b(moerb::Accuracy{}, half_b);
  a.add(moerb::LabeledPrediction{1, 1});
  b.add(moerb::LabeledPrediction{0, 1});
  const std::string file_a = json(a).dump(), file_b = json(b).dump();

  Metrics merged = json::parse(file_a).get<Metrics>();
  merged.merge(json::parse(file_b).get<Metrics>());
  Metrics direct = a;
  direct.merge(b);
  BOOST_TEST((merged.values() == direct.values()));
  BOOST_TEST(std::get<0>(merged.values()) == 0.5);
}

BOOST_AUTO_TEST_CASE(summaries_convert_for_reports) {
  moerb::Calibration c({.num_bins = 3});
  fill_calibration(c, 10, 3);
  const json summary = c.value();
  BOOST_TEST(summary["bins"].size() == 3u);
  BOOST_TEST(summary["ece"].get<double>() == c.value().ece);
  const json interval = moerb::wilson_interval(3, 4);
  BOOST_TEST(interval["estimate"].get<double>() == 0.75);
  BOOST_TEST(interval["level"].get<double>() == 0.95);
  const json seeds = moerb::across_seeds(std::vector<double>{0.8, 0.9});
  BOOST_TEST(seeds["runs"].get<Index>() == 2);
}

BOOST_AUTO_TEST_CASE(bad_json_throws_naming_the_metric) {
  BOOST_CHECK_EXCEPTION(
      (void)json::parse(R"({"metric": "MacroF1", "state": {}})").get<moerb::Accuracy>(),
      moerb::error, message_has({"from_json(Accuracy)", "holds metric \"MacroF1\""}));
  BOOST_CHECK_EXCEPTION((void)json::parse(R"({"metric": "Accuracy"})").get<moerb::Accuracy>(),
                        moerb::error, message_has({"from_json(Accuracy)", "state"}));
  BOOST_CHECK_EXCEPTION((void)json::parse("[1, 2]").get<moerb::Accuracy>(), moerb::error,
                        message_has({"from_json(Accuracy)", "expected an object"}));
  BOOST_CHECK_EXCEPTION(
      (void)json::parse(R"({"metric": "Accuracy", "state": {"correct": 5, "total": 2}})")
          .get<moerb::Accuracy>(),
      moerb::error, message_has({"Accuracy", "invalid state"}));
  BOOST_CHECK_EXCEPTION(
      (void)json::parse(R"({"metric": "Accuracy", "state": {"correct": "x", "total": 2}})")
          .get<moerb::Accuracy>(),
      moerb::error, message_has({"from_json(Accuracy)", "type must be number"}));
  BOOST_CHECK_EXCEPTION(
      (void)json::parse(R"({"metric": "Calibration", "options": {"num_bins": 15, "binning":
          "equal_width", "num_classes": 0, "sum_tolerance": 0.0001}, "state": {"num_classes": 2,
          "confidence": [0.5], "correct": [1], "label_probability": [], "squared_error": [0.5]}})")
          .get<moerb::Calibration>(),
      moerb::error, message_has({"Calibration", "invalid state"}));
  using Metrics = moerb::MetricSet<moerb::Accuracy, moerb::McNemarTest>;
  BOOST_CHECK_EXCEPTION(
      (void)json::parse(R"({"metric": "MetricSet", "members": [{"metric": "Accuracy",
          "state": {"correct": 1, "total": 2}}]})")
          .get<Metrics>(),
      moerb::error, message_has({"from_json(MetricSet)", "2 members"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_io_metrics_json
