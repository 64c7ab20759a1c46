// Tests for include/moerb/metrics/metric_set.hpp
#include "moerb/metrics/metric_set.hpp"

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <span>
#include <tuple>
#include <vector>

#include "moerb/metrics/calibration.hpp"
#include "moerb/metrics/classification.hpp"
#include "moerb/metrics/ood.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_metrics_metric_set {

namespace {

using moerb::Accuracy;
using moerb::Calibration;
using moerb::LabeledPrediction;
using moerb::LabeledProbabilities;
using moerb::MacroF1;
using moerb::MetricSet;
using moerb::test::message_has;

using Labels = std::vector<std::int32_t>;
using ClassifierMetrics = MetricSet<Accuracy, MacroF1, Calibration>;

moerb::Matrix<double> probabilities() {
  moerb::Matrix<double> p(4, 3);
  p << 0.7, 0.2, 0.1,  //
      0.1, 0.6, 0.3,   //
      0.2, 0.2, 0.6,   //
      0.5, 0.4, 0.1;
  return p;
}
const Labels kLabels{0, 1, 1, 1};  // predicted 0 1 2 0: two right

}  // namespace

BOOST_AUTO_TEST_SUITE(metric_set)

BOOST_AUTO_TEST_CASE(one_call_feeds_every_member) {
  ClassifierMetrics metrics;
  metrics.add(probabilities(), std::span<const std::int32_t>(kLabels));
  const auto [accuracy, f1, calibration] = metrics.values();
  Accuracy a;
  MacroF1 f;
  Calibration c;
  a.add(probabilities(), kLabels);
  f.add(probabilities(), kLabels);
  c.add(probabilities(), kLabels);
  BOOST_TEST(accuracy == 0.5);
  BOOST_TEST(accuracy == a.value());
  BOOST_TEST(f1 == f.value());
  BOOST_TEST((calibration == c.value()));
  BOOST_TEST(calibration.count == 4);
  BOOST_TEST(metrics.get<Accuracy>().num_examples() == 4);
  BOOST_TEST(metrics.get<2>().num_examples() == 4);
  static_assert(ClassifierMetrics::size() == 3);
  static_assert(moerb::MetricAccumulator<ClassifierMetrics>);
}

BOOST_AUTO_TEST_CASE(members_that_do_not_take_an_input_are_skipped) {
  ClassifierMetrics metrics;
  // Bare predictions: Accuracy and MacroF1 take them, Calibration (which needs probabilities) not.
  metrics.add(LabeledPrediction{1, 1});
  metrics.add(Labels{0, 2}, Labels{0, 1});
  BOOST_TEST(metrics.get<Accuracy>().value() == 2.0 / 3.0);
  BOOST_TEST(metrics.get<MacroF1>().num_examples() == 3);
  BOOST_TEST(metrics.get<Calibration>().num_examples() == 0);
  static_assert(moerb::AcceptsExample<Calibration, LabeledProbabilities<float>>);
  static_assert(!moerb::AcceptsExample<Calibration, LabeledPrediction>);
  static_assert(!moerb::AcceptsExample<Accuracy, moerb::OodExample>);
}

BOOST_AUTO_TEST_CASE(a_tuple_of_inputs_goes_member_by_member) {
  MetricSet<Accuracy, moerb::OodDetection> metrics;
  metrics.add({LabeledPrediction{0, 0}, moerb::OodExample{0.9, false}});
  metrics.add({LabeledPrediction{1, 0}, moerb::OodExample{0.1, true}});
  const auto [accuracy, ood] = metrics.values();
  BOOST_TEST(accuracy == 0.5);
  BOOST_TEST(ood.auroc == 1.0);
}

BOOST_AUTO_TEST_CASE(merge_and_reset_act_on_all_members) {
  ClassifierMetrics a, b;
  a.add(probabilities(), kLabels);
  b.add(LabeledProbabilities<double>{std::vector<double>{0.0, 0.0, 1.0}, 2});
  a.merge(b);
  BOOST_TEST(a.get<Accuracy>().value() == 3.0 / 5.0);
  BOOST_TEST(a.get<Calibration>().num_examples() == 5);
  a.reset();
  BOOST_TEST(a.get<Accuracy>().num_examples() == 0);
  BOOST_TEST(a.get<MacroF1>().num_examples() == 0);
  BOOST_TEST(a.get<Calibration>().num_examples() == 0);
  BOOST_CHECK_EXCEPTION((void)a.values(), moerb::error, message_has({"Accuracy::value"}));
}

BOOST_AUTO_TEST_CASE(members_keep_their_options) {
  MetricSet<Calibration, MacroF1> metrics(Calibration({.num_bins = 4}),
                                          MacroF1({.num_classes = 3}));
  metrics.add(probabilities(), kLabels);
  BOOST_TEST(metrics.get<Calibration>().value().bins.size() == 4u);
  BOOST_TEST(metrics.get<MacroF1>().options().num_classes == 3);
  // Shards with different options do not merge.
  MetricSet<Calibration, MacroF1> other;
  BOOST_CHECK_EXCEPTION(metrics.merge(other), moerb::error,
                        message_has({"Calibration::merge", "options differ"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_metrics_metric_set
