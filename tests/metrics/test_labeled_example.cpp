// Tests for include/moerb/metrics/labeled_example.hpp
#include "moerb/metrics/labeled_example.hpp"

#include <boost/test/unit_test.hpp>

#include "moerb/metrics/calibration.hpp"
#include "moerb/metrics/classification.hpp"
#include "moerb/metrics/metric_set.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_metrics_labeled_example {

using moerb::test::message_has;

BOOST_AUTO_TEST_SUITE(labeled_example)

BOOST_AUTO_TEST_CASE(a_matrix_row_as_one_example) {
  moerb::Matrix<float> p(2, 3);
  p << 0.2f, 0.5f, 0.3f,  //
      0.6f, 0.1f, 0.3f;
  const moerb::LabeledProbabilities<float> second = moerb::labeled_row(p, 1, 2);
  BOOST_TEST(second.label == 2);
  BOOST_TEST(second.probabilities.size() == 3u);
  BOOST_TEST(second.probabilities[0] == 0.6f);
  BOOST_TEST(second.probabilities.data() == p.row(1).data());  // a view, no copy

  moerb::MetricSet<moerb::Accuracy, moerb::Calibration> metrics;
  metrics.add(moerb::labeled_row(p, 0, 1));
  metrics.add(moerb::labeled_row(p, 1, 2));
  BOOST_TEST(metrics.get<moerb::Accuracy>().value() == 0.5);
  BOOST_TEST(metrics.get<moerb::Calibration>().num_examples() == 2);

  // An Eigen vector through a span.
  const moerb::Vector<double> v = moerb::Vector<double>::Constant(4, 0.25);
  moerb::Accuracy a;
  a.add(moerb::LabeledProbabilities<double>{{v.data(), 4}, 0});  // a tie predicts class 0
  BOOST_TEST(a.value() == 1.0);

  BOOST_CHECK_EXCEPTION((void)moerb::labeled_row(p, 2, 0), moerb::error,
                        message_has({"labeled_row", "row 2", "[0, 2)"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_metrics_labeled_example
