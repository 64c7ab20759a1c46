// Tests for include/moerb/metrics/classification.hpp
//
// Hand-computed cases, edge cases, and scikit-learn's accuracy_score, f1_score(average="macro")
// and confusion_matrix on the data sets of tests/reference/make_golden_metrics.py.
#include "moerb/metrics/classification.hpp"

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "moerb/metrics/accumulator.hpp"
#include "support/golden.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_metrics_classification {

namespace {

using moerb::Accuracy;
using moerb::ConfusionMatrix;
using moerb::CountMatrix;
using moerb::Index;
using moerb::LabeledPrediction;
using moerb::LabeledProbabilities;
using moerb::MacroF1;
using moerb::test::message_has;

using Labels = std::vector<std::int32_t>;

// labels 0 0 1 1 2 2, predicted 0 1 1 1 0 2: C = [[1 1 0] [0 2 0] [1 0 1]], accuracy 4/6,
// F1 = 1/2, 4/5, 2/3, macro-F1 = 59/90.
const Labels kLabels{0, 0, 1, 1, 2, 2};
const Labels kPredicted{0, 1, 1, 1, 0, 2};

Labels column_as_labels(const moerb::Matrix<double>& m) {
  Labels out;
  for (Index i = 0; i < m.rows(); ++i) out.push_back(static_cast<std::int32_t>(m(i, 0)));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(classification)

BOOST_AUTO_TEST_CASE(models_the_accumulator_concepts) {
  static_assert(moerb::ResamplableMetric<Accuracy>);
  static_assert(moerb::ResamplableMetric<ConfusionMatrix>);
  static_assert(moerb::ResamplableMetric<MacroF1>);
  static_assert(!Accuracy::resamples_in_added_order);
  BOOST_TEST(moerb::detail::metrics::check_accumulator<MacroF1>());
}

BOOST_AUTO_TEST_CASE(hand_computed_example) {
  Accuracy accuracy;
  ConfusionMatrix confusion;
  MacroF1 f1;
  accuracy.add(kPredicted, kLabels);
  confusion.add(kPredicted, kLabels);
  f1.add(kPredicted, kLabels);
  BOOST_TEST(accuracy.value() == 4.0 / 6.0);
  CountMatrix expected(3, 3);
  expected << 1, 1, 0, 0, 2, 0, 1, 0, 1;
  BOOST_TEST((confusion.value() == expected));
  BOOST_TEST(std::abs(f1.value() - 59.0 / 90.0) < 1e-15);
  const std::vector<double> per_class = moerb::f1_per_class(expected);
  BOOST_TEST(per_class[0] == 0.5);
  BOOST_TEST(per_class[1] == 0.8);
  BOOST_TEST(per_class[2] == 2.0 / 3.0);
  BOOST_TEST(accuracy.num_examples() == 6);
  BOOST_TEST(confusion.num_examples() == 6);
  const moerb::ConfidenceInterval w = accuracy.wilson();
  BOOST_TEST(w.estimate == 4.0 / 6.0);
  BOOST_TEST(w.lower < w.estimate);
}

BOOST_AUTO_TEST_CASE(probability_rows_predict_their_arg_max) {
  Accuracy accuracy;
  ConfusionMatrix confusion;
  // A tie predicts the lowest index (numpy.argmax): [0.5, 0.5] with label 1 is wrong.
  const std::vector<double> tie{0.5, 0.5};
  const std::vector<float> right{0.25f, 0.75f};
  accuracy.add(LabeledProbabilities<double>{tie, 1});
  accuracy.add(LabeledProbabilities<float>{right, 1});
  confusion.add(LabeledProbabilities<double>{tie, 1});
  confusion.add(LabeledProbabilities<float>{right, 1});
  BOOST_TEST(accuracy.value() == 0.5);
  CountMatrix expected(2, 2);
  expected << 0, 0, 1, 1;
  BOOST_TEST((confusion.value() == expected));

  moerb::Matrix<float> batch(3, 3);
  batch << 0.7f, 0.2f, 0.1f, 0.1f, 0.1f, 0.8f, 0.3f, 0.3f, 0.4f;
  Accuracy from_batch;
  from_batch.add(batch, Labels{0, 1, 2});
  BOOST_TEST(from_batch.value() == 2.0 / 3.0);
}

BOOST_AUTO_TEST_CASE(edge_cases) {
  // A single class, always right.
  MacroF1 single;
  single.add(Labels{0, 0, 0}, Labels{0, 0, 0});
  BOOST_TEST(single.value() == 1.0);
  // Always wrong: accuracy and macro-F1 0.
  Accuracy wrong;
  MacroF1 wrong_f1;
  wrong.add(Labels{1, 0, 1}, Labels{0, 1, 0});
  wrong_f1.add(Labels{1, 0, 1}, Labels{0, 1, 0});
  BOOST_TEST(wrong.value() == 0.0);
  BOOST_TEST(wrong_f1.value() == 0.0);
  // A class that occurs nowhere is left out of the average (F1 NaN), one that is only predicted
  // counts with F1 0.
  MacroF1 fixed({.num_classes = 4});
  fixed.add(Labels{0, 0, 2}, Labels{0, 0, 0});
  const std::vector<double> per_class = moerb::f1_per_class(fixed.confusion().value());
  BOOST_TEST(per_class[0] == 0.8);
  BOOST_TEST(std::isnan(per_class[1]));
  BOOST_TEST(per_class[2] == 0.0);
  BOOST_TEST(std::isnan(per_class[3]));
  BOOST_TEST(fixed.value() == 0.4);
  BOOST_TEST(fixed.confusion().value().rows() == 4);
}

BOOST_AUTO_TEST_CASE(the_matrix_grows_with_the_classes_seen) {
  ConfusionMatrix c;
  c.add(LabeledPrediction{1, 0});
  BOOST_TEST(c.value().rows() == 2);
  c.add(LabeledPrediction{0, 4});
  const CountMatrix m = c.value();
  BOOST_TEST(m.rows() == 5);
  BOOST_TEST(m(0, 1) == 1);
  BOOST_TEST(m(4, 0) == 1);
  BOOST_TEST(m.sum() == 2);
  // Merging a smaller matrix into a larger one, and the other way round.
  ConfusionMatrix small;
  small.add(LabeledPrediction{1, 1});
  ConfusionMatrix a = c, b = small;
  a.merge(small);
  b.merge(c);
  BOOST_TEST((a.value() == b.value()));
  BOOST_TEST(a.value()(1, 1) == 1);
}

BOOST_AUTO_TEST_CASE(empty_input_and_bad_input_throw_naming_the_metric) {
  BOOST_CHECK_EXCEPTION((void)Accuracy{}.value(), moerb::error,
                        message_has({"Accuracy::value", "no examples"}));
  BOOST_CHECK_EXCEPTION((void)ConfusionMatrix{}.value(), moerb::error,
                        message_has({"ConfusionMatrix::value", "no examples"}));
  BOOST_CHECK_EXCEPTION((void)MacroF1{}.value(), moerb::error,
                        message_has({"MacroF1::value", "no examples"}));
  Accuracy a;
  BOOST_CHECK_EXCEPTION(a.add(LabeledPrediction{0, -1}), moerb::error,
                        message_has({"Accuracy::add", "label -1"}));
  BOOST_CHECK_EXCEPTION(a.add(Labels{0, 1}, Labels{0}), moerb::error,
                        message_has({"Accuracy::add", "2 predictions", "1 labels"}));
  const std::vector<double> not_normalised{0.5, 0.6};
  BOOST_CHECK_EXCEPTION(a.add(LabeledProbabilities<double>{not_normalised, 0}), moerb::error,
                        message_has({"Accuracy::add", "sum to 1.1"}));
  const std::vector<double> with_nan{std::nan(""), 1.0};
  BOOST_CHECK_EXCEPTION(a.add(LabeledProbabilities<double>{with_nan, 0}), moerb::error,
                        message_has({"Accuracy::add", "probability 0 is nan"}));
  const std::vector<double> ok{0.5, 0.5};
  BOOST_CHECK_EXCEPTION(a.add(LabeledProbabilities<double>{ok, 2}), moerb::error,
                        message_has({"Accuracy::add", "label 2 is out of range [0, 2)"}));
  BOOST_TEST(a.num_examples() == 0);

  MacroF1 f1({.num_classes = 3});
  BOOST_CHECK_EXCEPTION(f1.add(LabeledPrediction{3, 0}), moerb::error,
                        message_has({"MacroF1::add", "prediction 3", "[0, 3)"}));
  ConfusionMatrix c({.num_classes = 3});
  BOOST_CHECK_EXCEPTION(c.add(LabeledPrediction{0, 5}), moerb::error,
                        message_has({"ConfusionMatrix::add", "label 5"}));
  BOOST_CHECK_EXCEPTION(c.merge(ConfusionMatrix{}), moerb::error,
                        message_has({"ConfusionMatrix::merge", "num_classes 3 and 0"}));
  BOOST_CHECK_EXCEPTION(ConfusionMatrix({.num_classes = 2}, {.num_classes = 2, .counts = {1, 2}}),
                        moerb::error, message_has({"ConfusionMatrix", "invalid state"}));
  BOOST_CHECK_EXCEPTION(Accuracy({.correct = 3, .total = 2}), moerb::error,
                        message_has({"Accuracy", "invalid state"}));
}

BOOST_AUTO_TEST_CASE(reset_keeps_the_options) {
  MacroF1 f1({.num_classes = 3});
  f1.add(kPredicted, kLabels);
  f1.reset();
  BOOST_TEST(f1.num_examples() == 0);
  BOOST_TEST(f1.options().num_classes == 3);
  f1.add(LabeledPrediction{2, 2});
  BOOST_TEST(f1.confusion().value().rows() == 3);
  BOOST_TEST(f1.value() == 1.0);
}

BOOST_AUTO_TEST_CASE(resampling_uses_the_canonical_numbering) {
  Accuracy accuracy;
  accuracy.add(kPredicted, kLabels);  // 4 correct of 6: examples 0..3 are the correct ones
  const std::vector<Index> correct_only{0, 1, 2, 3, 3, 0};
  const std::vector<Index> wrong_only{4, 5, 4, 5, 4, 4};
  BOOST_TEST(accuracy.value_on(correct_only) == 1.0);
  BOOST_TEST(accuracy.value_on(wrong_only) == 0.0);
  ConfusionMatrix confusion;
  confusion.add(kPredicted, kLabels);
  // Row-major cells: (0,0)×1 → example 0, (0,1)×1 → 1, (1,1)×2 → 2, 3, (2,0)×1 → 4, (2,2)×1 → 5.
  const std::vector<Index> sample{0, 2, 3, 3, 5, 5};
  CountMatrix expected = CountMatrix::Zero(3, 3);
  expected(0, 0) = 1;
  expected(1, 1) = 3;
  expected(2, 2) = 2;
  BOOST_TEST((confusion.value_on(sample) == expected));
  std::vector<Index> all{0, 1, 2, 3, 4, 5};
  BOOST_TEST((confusion.value_on(all) == confusion.value()));
  BOOST_CHECK_EXCEPTION((void)accuracy.value_on(std::vector<Index>{6}), moerb::error,
                        message_has({"Accuracy::value_on", "example 6"}));
}

BOOST_AUTO_TEST_CASE(matches_scikit_learn) {
  const moerb::test::GoldenFile golden("metrics_classification.txt");
  for (const std::string set : {"random4", "absent_classes", "single_class", "always_wrong"}) {
    BOOST_TEST_CONTEXT(set) {
      const Labels labels = column_as_labels(golden.tensor(set + ".labels"));
      const Labels predicted = column_as_labels(golden.tensor(set + ".predicted"));
      Accuracy accuracy;
      MacroF1 f1;
      ConfusionMatrix confusion;
      accuracy.add(predicted, labels);
      f1.add(predicted, labels);
      confusion.add(predicted, labels);
      BOOST_TEST(accuracy.value() == golden.scalar(set + ".accuracy"));
      BOOST_TEST(std::abs(f1.value() - golden.scalar(set + ".macro_f1")) < 1e-14);
      const moerb::Matrix<double> expected = golden.tensor(set + ".confusion");
      BOOST_TEST((confusion.value().cast<double>() == expected));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_metrics_classification
