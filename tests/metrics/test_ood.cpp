// Tests for include/moerb/metrics/ood.hpp
//
// Hand-computed cases, ties and constant scores, and scikit-learn's roc_auc_score,
// average_precision_score and roc_curve on the data sets of tests/reference/make_golden_metrics.py
// (scores from logits against scipy's softmax / logsumexp).
#include "moerb/metrics/ood.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "moerb/metrics/accumulator.hpp"
#include "moerb/metrics/confidence.hpp"
#include "support/golden.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_metrics_ood {

namespace {

using moerb::Index;
using moerb::OodDetection;
using moerb::OodSummary;
using moerb::test::message_has;

bool near(double a, double b, double tolerance = 1e-15) {
  return std::abs(a - b) <= tolerance;
}

std::vector<double> column(const moerb::Matrix<double>& m) {
  std::vector<double> v;
  for (Index i = 0; i < m.rows(); ++i) v.push_back(m(i, 0));
  return v;
}

/// A user's own score: negative entropy of the softmax (higher = more confident).
struct NegativeEntropy {
  template <class S>
  double operator()(std::span<const S> logits) const {
    const double lse = moerb::Energy{}(logits);
    double h = 0;
    for (const S z : logits) {
      const double p = std::exp(static_cast<double>(z) - lse);
      if (p > 0) h -= p * std::log(p);
    }
    return -h;
  }
};

struct NotAScore {
  std::string operator()(std::span<const float>) const { return "x"; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(ood)

BOOST_AUTO_TEST_CASE(hand_computed_with_ties) {
  // in {3, 2, 2, 1}, out {2, 0}: the pairs give 1 + 1 + (½ + 1) · 2 + (0 + 1) = 6 of 8.
  OodDetection d;
  d.add_in_distribution(std::vector<double>{3, 2, 2, 1});
  d.add_out_of_distribution(std::vector<double>{2, 0});
  const OodSummary s = d.value();
  BOOST_TEST(s.auroc == 0.75);
  // AUPR-in: thresholds 3 (P 1, ΔR ¼), 2 (P ¾, ΔR ½), 1 (P ⅘, ΔR ¼).
  BOOST_TEST(near(s.aupr_in, 0.25 + 0.375 + 0.2));
  // AUPR-out on −score: 0 (P 1, ΔR ½), −1 (no OOD), −2 (P ⅖, ΔR ½).
  BOOST_TEST(near(s.aupr_out, 0.5 + 0.2));
  // TPR reaches 0.95 only at threshold 1, where the OOD score 2 is above: FPR ½.
  BOOST_TEST(s.fpr_at_tpr == 0.5);
  BOOST_TEST(s.num_in_distribution == 4);
  BOOST_TEST(s.num_out_of_distribution == 2);

  OodDetection quarter({.tpr = 0.25});
  OodDetection half({.tpr = 0.5});
  for (auto* x : {&quarter, &half}) {
    x->add_in_distribution(std::vector<double>{3, 2, 2, 1});
    x->add_out_of_distribution(std::vector<double>{2, 0});
  }
  BOOST_TEST(quarter.value().fpr_at_tpr == 0.0);  // threshold 3: TPR ¼, no OOD above
  BOOST_TEST(half.value().fpr_at_tpr == 0.5);     // threshold 2: TPR ¾, the tied OOD 2 counts
}

BOOST_AUTO_TEST_CASE(constant_single_and_separated_scores) {
  OodDetection constant;
  for (int i = 0; i < 3; ++i) constant.add(moerb::OodExample{0.5, false});
  for (int i = 0; i < 2; ++i) constant.add(moerb::OodExample{0.5, true});
  const OodSummary c = constant.value();
  BOOST_TEST(c.auroc == 0.5);
  BOOST_TEST(c.aupr_in == 0.6);  // one threshold: precision = the positive share
  BOOST_TEST(c.aupr_out == 0.4);
  BOOST_TEST(c.fpr_at_tpr == 1.0);

  OodDetection single;
  single.add(moerb::OodExample{1.0, false});
  single.add(moerb::OodExample{0.0, true});
  BOOST_TEST(single.value().auroc == 1.0);
  BOOST_TEST(single.value().aupr_in == 1.0);
  BOOST_TEST(single.value().aupr_out == 1.0);
  BOOST_TEST(single.value().fpr_at_tpr == 0.0);

  OodDetection inverted;
  inverted.add(moerb::OodExample{0.0, false});
  inverted.add(moerb::OodExample{1.0, true});
  BOOST_TEST(inverted.value().auroc == 0.0);
  BOOST_TEST(inverted.value().fpr_at_tpr == 1.0);
}

BOOST_AUTO_TEST_CASE(scores_from_logits) {
  const std::vector<double> z{1.0, 2.0, 3.0};
  const double sum = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  BOOST_TEST(near(moerb::MaxSoftmaxProbability{}(std::span<const double>(z)), std::exp(3.0) / sum));
  BOOST_TEST(moerb::MaxLogit{}(std::span<const double>(z)) == 3.0);
  BOOST_TEST(near(moerb::Energy{}(std::span<const double>(z)), std::log(sum), 1e-14));
  const double t2 = 2 * std::log(std::exp(0.5) + std::exp(1.0) + std::exp(1.5));
  BOOST_TEST(near(moerb::Energy{.temperature = 2}(std::span<const double>(z)), t2, 1e-14));
  // Large logits do not overflow.
  const std::vector<float> big{1000.0f, 1000.0f};
  BOOST_TEST(near(moerb::Energy{}(std::span<const float>(big)), 1000.0 + std::log(2.0), 1e-12));
  BOOST_TEST(moerb::MaxSoftmaxProbability{}(std::span<const float>(big)) == 0.5);

  static_assert(moerb::OodScore<moerb::MaxSoftmaxProbability>);
  static_assert(moerb::OodScore<moerb::Energy, double>);
  static_assert(moerb::OodScore<NegativeEntropy>);
  static_assert(!moerb::OodScore<NotAScore>);

  const std::vector<double> nan{1.0, std::nan("")};
  BOOST_CHECK_EXCEPTION((void)moerb::MaxLogit{}(std::span<const double>(nan)), moerb::error,
                        message_has({"MaxLogit", "logit 1 is nan"}));
  BOOST_CHECK_EXCEPTION((void)moerb::Energy{.temperature = 0}(std::span<const double>(z)),
                        moerb::error, message_has({"Energy", "temperature = 0"}));
  BOOST_CHECK_EXCEPTION((void)moerb::MaxSoftmaxProbability{}(std::span<const double>{}),
                        moerb::error, message_has({"MaxSoftmaxProbability", "empty"}));
}

BOOST_AUTO_TEST_CASE(a_users_own_score_plugs_in) {
  moerb::Matrix<float> in_logits(2, 3), out_logits(2, 3);
  in_logits << 5, 0, 0, 0, 6, 0;     // confident
  out_logits << 1, 1, 1, 1, 1.5, 1;  // flat
  OodDetection d;
  d.add_logits(NegativeEntropy{}, in_logits, false);
  d.add_logits(NegativeEntropy{}, out_logits, true);
  BOOST_TEST(d.value().auroc == 1.0);
  const std::vector<double> scores = moerb::ood_scores(moerb::MaxLogit{}, in_logits);
  BOOST_TEST(scores == (std::vector<double>{5.0, 6.0}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bad_and_empty_input_throws_naming_the_metric) {
  BOOST_CHECK_EXCEPTION((void)OodDetection{}.value(), moerb::error,
                        message_has({"OodDetection::value", "has 0 and 0"}));
  OodDetection only_in;
  only_in.add_in_distribution(std::vector<double>{1, 2});
  BOOST_CHECK_EXCEPTION((void)only_in.value(), moerb::error,
                        message_has({"OodDetection::value", "one OOD score", "has 2 and 0"}));
  BOOST_CHECK_EXCEPTION(only_in.add(moerb::OodExample{std::nan(""), true}), moerb::error,
                        message_has({"OodDetection::add", "score is nan"}));
  BOOST_CHECK_EXCEPTION(OodDetection({.tpr = 0}), moerb::error,
                        message_has({"OodDetection", "tpr = 0"}));
  BOOST_CHECK_EXCEPTION(only_in.merge(OodDetection({.tpr = 0.9})), moerb::error,
                        message_has({"OodDetection::merge", "differ"}));
}

BOOST_AUTO_TEST_CASE(the_bootstrap_resamples_each_group_on_its_own) {
  OodDetection d;
  d.add_in_distribution(std::vector<double>{3, 2, 2, 1, 4, 5});
  d.add_out_of_distribution(std::vector<double>{2});
  BOOST_TEST((d.bootstrap_strata() == std::vector<Index>{6, 1}));
  // Indices 0..5 are in-distribution, 6 is the OOD score.
  const std::vector<Index> sample{0, 0, 3, 6};  // in 3, 3, 1 against 2
  BOOST_TEST(d.value_on(sample).auroc == 2.0 / 3.0);
  BOOST_CHECK_EXCEPTION((void)d.value_on(std::vector<Index>{0, 1}), moerb::error,
                        message_has({"OodDetection::value_on", "has 2 and 0"}));
  // With one OOD example every stratified resample still has it.
  const moerb::ConfidenceInterval ci =
      moerb::bootstrap_ci(d, {.resamples = 100, .seed = 7}, &OodSummary::auroc);
  BOOST_TEST(ci.lower <= ci.estimate);
  BOOST_TEST(ci.upper >= ci.estimate);
}

BOOST_AUTO_TEST_CASE(matches_scikit_learn) {
  const moerb::test::GoldenFile golden("metrics_ood.txt");
  for (const std::string set :
       {"gaussian", "rounded", "three_values", "constant", "separated", "inverted"}) {
    BOOST_TEST_CONTEXT(set) {
      OodDetection d;
      d.add_in_distribution(column(golden.tensor(set + ".in")));
      d.add_out_of_distribution(column(golden.tensor(set + ".out")));
      const OodSummary s = d.value();
      BOOST_TEST(near(s.auroc, golden.scalar(set + ".auroc"), 1e-14));
      BOOST_TEST(near(s.aupr_in, golden.scalar(set + ".aupr_in"), 1e-14));
      BOOST_TEST(near(s.aupr_out, golden.scalar(set + ".aupr_out"), 1e-14));
      BOOST_TEST(s.fpr_at_tpr == golden.scalar(set + ".fpr95"));
    }
  }
  const moerb::Matrix<double> logits = golden.tensor("logits.values");
  const moerb::Matrix<float> logits_f = logits.cast<float>();
  const auto check = [&](const std::vector<double>& got, const std::string& key, double tol) {
    const std::vector<double> expected = column(golden.tensor(key));
    BOOST_TEST_REQUIRE(got.size() == expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      BOOST_TEST_CONTEXT(key << " row " << i) {
        BOOST_TEST(near(got[i], expected[i], tol * std::max(1.0, std::abs(expected[i]))));
      }
    }
  };
  check(moerb::ood_scores(moerb::MaxSoftmaxProbability{}, logits), "logits.msp", 1e-14);
  check(moerb::ood_scores(moerb::MaxLogit{}, logits), "logits.max_logit", 0);
  check(moerb::ood_scores(moerb::Energy{}, logits), "logits.energy_t1", 1e-14);
  check(moerb::ood_scores(moerb::Energy{.temperature = 2}, logits), "logits.energy_t2", 1e-14);
  // float logits: the scores are computed in double from the rounded inputs.
  check(moerb::ood_scores(moerb::Energy{}, logits_f), "logits.energy_t1", 1e-6);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_metrics_ood
