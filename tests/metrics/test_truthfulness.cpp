// Tests for include/moerb/metrics/truthfulness.hpp
//
// MC1, MC2 and MC3 as the DoLa code's MC_calcs (tfqa_mc_eval.py) computes them: strict comparisons
// with the best false answer, MC2 the normalised exp-score mass of the true answers.
#include "moerb/metrics/truthfulness.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "moerb/metrics/accumulator.hpp"
#include "moerb/metrics/confidence.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_metrics_truthfulness {

namespace {

using moerb::Index;
using moerb::MultipleChoiceScores;
using moerb::Truthfulness;
using moerb::TruthfulnessScores;
using moerb::test::message_has;

using Scores = std::vector<double>;
using Labels = std::vector<std::int32_t>;

bool near(double a, double b, double tolerance = 1e-15) {
  return std::abs(a - b) <= tolerance;
}

double e(double x) {
  return std::exp(x);
}

/// What a DecoderLM or DoLa reports per answer.
struct ModelScore {
  double sum_log_prob = 0;
  double mean_log_prob = 0;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(truthfulness)

BOOST_AUTO_TEST_CASE(one_question_by_hand) {
  const Scores t{-1, -2}, f{-1.5, -3};
  const TruthfulnessScores r = moerb::multiple_choice_scores({t, f, 0});
  BOOST_TEST(r.mc1 == 1.0);  // −1 > −1.5
  BOOST_TEST(r.mc3 == 0.5);  // −1 beats the best false answer, −2 does not
  BOOST_TEST(near(r.mc2, (e(-1) + e(-2)) / (e(-1) + e(-2) + e(-1.5) + e(-3))));
  BOOST_TEST(r.questions == 1);
  // The best answer is not the highest-scoring true answer.
  const Scores t2{-3, -0.5}, f2{-1};
  const TruthfulnessScores r2 = moerb::multiple_choice_scores({t2, f2, 0});
  BOOST_TEST(r2.mc1 == 0.0);
  BOOST_TEST(r2.mc3 == 0.5);
  BOOST_TEST(moerb::multiple_choice_scores({t2, f2, 1}).mc1 == 1.0);
}

BOOST_AUTO_TEST_CASE(ties_do_not_count_as_above) {
  const Scores t{-1}, f{-1, -4};
  const TruthfulnessScores r = moerb::multiple_choice_scores({t, f, 0});
  BOOST_TEST(r.mc1 == 0.0);
  BOOST_TEST(r.mc3 == 0.0);
  BOOST_TEST(near(r.mc2, e(-1) / (2 * e(-1) + e(-4))));
  // All answers scored equally: MC2 is the true share of the answers.
  const Scores t3(3, -2.0), f3(2, -2.0);
  BOOST_TEST(near(moerb::multiple_choice_scores({t3, f3, 0}).mc2, 0.6));
}

BOOST_AUTO_TEST_CASE(mc2_survives_very_low_log_probabilities) {
  // exp(−1000) underflows; the shifted form gives 1 / (1 + e⁻¹).
  const Scores t{-1000}, f{-1001};
  BOOST_TEST(near(moerb::multiple_choice_scores({t, f, 0}).mc2, 1 / (1 + e(-1))));
}

BOOST_AUTO_TEST_CASE(means_over_questions) {
  Truthfulness acc;
  const Scores t1{-1, -2}, f1{-1.5, -3};
  const Scores t2{-1}, f2{-1};
  const Scores t3{-3, -0.5}, f3{-1};
  acc.add(MultipleChoiceScores{t1, f1, 0});
  acc.add(MultipleChoiceScores{t2, f2, 0});
  acc.add(MultipleChoiceScores{t3, f3, 0});
  const TruthfulnessScores s = acc.value();
  BOOST_TEST(s.questions == 3);
  BOOST_TEST(near(s.mc1, 1.0 / 3.0));
  BOOST_TEST(near(s.mc3, (0.5 + 0 + 0.5) / 3));
  const double mc2 = (e(-1) + e(-2)) / (e(-1) + e(-2) + e(-1.5) + e(-3)) + 0.5 +
                     (e(-3) + e(-0.5)) / (e(-3) + e(-0.5) + e(-1));
  BOOST_TEST(near(s.mc2, mc2 / 3));
  BOOST_TEST(acc.num_examples() == 3);
  // Resampling: question 0 three times.
  const TruthfulnessScores r = acc.value_on(std::vector<Index>{0, 0, 0});
  BOOST_TEST(r.mc1 == 1.0);
  BOOST_TEST(r.mc3 == 0.5);
  const moerb::ConfidenceInterval ci =
      moerb::bootstrap_ci(acc, {.resamples = 100, .seed = 3}, &TruthfulnessScores::mc1);
  BOOST_TEST(ci.lower >= 0.0);
  BOOST_TEST(ci.upper <= 1.0);
}

BOOST_AUTO_TEST_CASE(answers_with_truth_labels) {
  // As MultipleChoiceTargets lists them: all answers, 1 for true, the best answer at index 2.
  Truthfulness acc;
  acc.add(Scores{-1.5, -2, -1, -3}, Labels{0, 1, 1, 0}, 2);
  const TruthfulnessScores s = acc.value();
  const Scores t{-2, -1}, f{-1.5, -3};
  const TruthfulnessScores direct = moerb::multiple_choice_scores({t, f, 1});
  BOOST_TEST(s.mc1 == direct.mc1);
  BOOST_TEST(s.mc2 == direct.mc2);
  BOOST_TEST(s.mc3 == direct.mc3);
  BOOST_TEST(s.mc1 == 1.0);
}

BOOST_AUTO_TEST_CASE(model_scores_by_sum_or_mean) {
  // Answer 0 (true, best): 4 tokens, sum −4 (mean −1); answer 1 (false): 1 token, −2.5.
  const std::vector<ModelScore> answers{{-4.0, -1.0}, {-2.5, -2.5}};
  const Labels labels{1, 0};
  static_assert(moerb::AnswerLogProbabilities<ModelScore>);
  Truthfulness by_sum;
  Truthfulness by_mean({.scoring = moerb::AnswerScoring::mean_log_prob});
  by_sum.add(answers, labels, 0);  // a std::vector of model scores, as score_continuations gives
  by_mean.add(std::span<const ModelScore>(answers), labels, 0);
  BOOST_TEST(by_sum.value().mc1 == 0.0);   // −4 < −2.5: the length bias
  BOOST_TEST(by_mean.value().mc1 == 1.0);  // −1 > −2.5
  BOOST_CHECK_EXCEPTION(by_sum.merge(by_mean), moerb::error,
                        message_has({"Truthfulness::merge", "scorings differ"}));
}

BOOST_AUTO_TEST_CASE(bad_and_empty_input_throws_naming_the_metric) {
  BOOST_CHECK_EXCEPTION((void)Truthfulness{}.value(), moerb::error,
                        message_has({"Truthfulness::value", "no questions"}));
  Truthfulness acc;
  const Scores some{-1}, none;
  BOOST_CHECK_EXCEPTION(acc.add(MultipleChoiceScores{none, some, 0}), moerb::error,
                        message_has({"Truthfulness::add", "no true answer"}));
  BOOST_CHECK_EXCEPTION(acc.add(MultipleChoiceScores{some, none, 0}), moerb::error,
                        message_has({"Truthfulness::add", "no false answer"}));
  BOOST_CHECK_EXCEPTION(acc.add(MultipleChoiceScores{some, some, 1}), moerb::error,
                        message_has({"Truthfulness::add", "best = 1", "[0, 1)"}));
  const Scores nan{std::nan("")};
  BOOST_CHECK_EXCEPTION(acc.add(MultipleChoiceScores{some, nan, 0}), moerb::error,
                        message_has({"Truthfulness::add", "false answer's score is nan"}));
  BOOST_CHECK_EXCEPTION(acc.add(Scores{-1, -2}, Labels{1, 0}, 1), moerb::error,
                        message_has({"Truthfulness::add", "best answer 1 is not a true answer"}));
  BOOST_CHECK_EXCEPTION(acc.add(Scores{-1, -2}, Labels{1, 2}, 0), moerb::error,
                        message_has({"Truthfulness::add", "label 1 is 2"}));
  BOOST_CHECK_EXCEPTION(acc.add(Scores{-1, -2}, Labels{1}, 0), moerb::error,
                        message_has({"Truthfulness::add", "2 scores", "1 labels"}));
  BOOST_CHECK_EXCEPTION((void)moerb::multiple_choice_scores({none, some, 0}), moerb::error,
                        message_has({"multiple_choice_scores", "no true answer"}));
  BOOST_TEST(acc.num_examples() == 0);
  BOOST_CHECK_EXCEPTION(Truthfulness({}, {.mc1 = {1}, .mc2 = {}, .mc3 = {}}), moerb::error,
                        message_has({"Truthfulness", "invalid state"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_metrics_truthfulness
