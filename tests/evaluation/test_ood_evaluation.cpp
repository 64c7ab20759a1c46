// Tests for include/moerb/evaluation/ood_evaluation.hpp
#include "moerb/evaluation/ood_evaluation.hpp"

#include <boost/test/unit_test.hpp>
#include <span>
#include <vector>

#include "evaluation/evaluation_testing.hpp"
#include "moerb/metrics/ood.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_evaluation_ood_evaluation {

using namespace moerb;
using namespace moerb::test;

namespace {

/// A user's score: the margin between the two largest logits.
struct LogitMargin {
  template <class S>
  double operator()(std::span<const S> z) const {
    double a = -1e300, b = -1e300;
    for (const S v : z) {
      const double x = static_cast<double>(v);
      if (x > a) {
        b = a;
        a = x;
      } else if (x > b) {
        b = x;
      }
    }
    return a - b;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(ood_evaluation)

BOOST_AUTO_TEST_CASE(scores_come_from_the_logits_of_each_set) {
  auto model = evaluation_moe_classifier();
  const auto in = random_examples(21, 7);
  const auto ood = random_examples(13, 8, /*classes=*/0);  // unlabelled, as OOD inputs are
  OodDetection msp;
  EvaluationOptions options;
  options.batch_size = 4;
  const auto out =
      evaluate_ood(model, std::span<const EncodedExample>(in), std::span<const EncodedExample>(ood),
                   MaxSoftmaxProbability{}, msp, options);
  BOOST_TEST(out.in_distribution.logits.rows() == 21);
  BOOST_TEST(out.out_of_distribution.logits.rows() == 13);

  OodDetection manual;
  manual.add_in_distribution(ood_scores(MaxSoftmaxProbability{}, out.in_distribution.logits));
  manual.add_out_of_distribution(
      ood_scores(MaxSoftmaxProbability{}, out.out_of_distribution.logits));
  BOOST_TEST((msp.value() == manual.value()));
  BOOST_TEST(msp.value().num_in_distribution == 21);
  BOOST_TEST(msp.value().num_out_of_distribution == 13);
  // MSP is the largest softmax probability of each row.
  BOOST_TEST(msp.state().in_distribution[3] == out.in_distribution.probabilities.row(3).maxCoeff(),
             boost::test_tools::tolerance(1e-12));

  // Further scores from the same forwards, a user's own among them.
  OodDetection energy, margin;
  add_ood_scores(energy, Energy{}, out);
  add_ood_scores(margin, LogitMargin{}, out);
  OodDetection energy_manual;
  energy_manual.add_logits(Energy{}, out.in_distribution.logits, false);
  energy_manual.add_logits(Energy{}, out.out_of_distribution.logits, true);
  BOOST_TEST((energy.value() == energy_manual.value()));
  BOOST_TEST(margin.value().num_out_of_distribution == 13);

  // Threads do not change anything.
  OodDetection msp2;
  options.threads = 2;
  evaluate_ood(model, std::span<const EncodedExample>(in), std::span<const EncodedExample>(ood),
               MaxSoftmaxProbability{}, msp2, options);
  BOOST_TEST((msp2.value() == msp.value()));
}

BOOST_AUTO_TEST_CASE(an_empty_set_is_named) {
  auto model = evaluation_moe_classifier();
  const auto in = random_examples(5, 9);
  OodDetection d;
  BOOST_CHECK_EXCEPTION(evaluate_ood(model, std::span<const EncodedExample>(in),
                                     std::span<const EncodedExample>(), MaxLogit{}, d),
                        moerb::error, message_has({"evaluate_ood", "no out-of-distribution"}));
  BOOST_CHECK_EXCEPTION(evaluate_ood(model, std::span<const EncodedExample>(),
                                     std::span<const EncodedExample>(in), MaxLogit{}, d),
                        moerb::error, message_has({"evaluate_ood", "no in-distribution"}));
  auto bad = in;
  bad[1].label = 7;
  BOOST_CHECK_EXCEPTION(evaluate_ood(model, std::span<const EncodedExample>(bad),
                                     std::span<const EncodedExample>(in), MaxLogit{}, d),
                        moerb::error, message_has({"in-distribution set", "example 1", "label 7"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_evaluation_ood_evaluation
