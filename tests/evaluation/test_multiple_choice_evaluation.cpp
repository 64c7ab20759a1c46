// Tests for include/moerb/evaluation/multiple_choice_evaluation.hpp
//
// An untrained causal LM scores TruthfulQA-shaped questions: every answer's score equals the
// model's own score_continuation (or DoLa score) of the same tokens, and the Truthfulness values
// equal multiple_choice_scores of those scores.
#include "moerb/evaluation/multiple_choice_evaluation.hpp"

#include <boost/test/unit_test.hpp>
#include <span>
#include <string>
#include <vector>

#include "evaluation/evaluation_testing.hpp"
#include "moerb/metrics/metric_set.hpp"
#include "moerb/metrics/truthfulness.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_evaluation_multiple_choice_evaluation {

using namespace moerb;
using namespace moerb::test;

namespace {

std::vector<TruthfulQAItem> questions() {
  TruthfulQAItem a;
  a.question = "what is a cat ?";
  a.best_answer = "a small animal that purrs";
  a.correct_answers = {"a kind of animal", "a small animal that purrs"};  // best not first
  a.incorrect_answers = {"a flower", "a tree with acorns", "salt water"};
  TruthfulQAItem b;
  b.question = "what is a rose ?";
  b.best_answer = "a flower";
  b.correct_answers = {};  // the best answer alone
  b.incorrect_answers = {"a kind of animal"};
  TruthfulQAItem c;
  c.question = "what is the sea ?";
  c.best_answer = "salt water";
  c.correct_answers = {"salt water", "water"};
  c.incorrect_answers = {"a dog", "an oak", "a knife"};
  return {a, b, c};
}

std::vector<std::int32_t> ids(const WordTokenizer& t, const std::string& s, bool bos) {
  std::vector<std::int32_t> out;
  if (bos) out.push_back(Vocabulary::bos_id);
  for (const auto id : t.encode(s)) out.push_back(id);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(multiple_choice_evaluation)

BOOST_AUTO_TEST_CASE(answer_scores_are_the_models_continuation_scores) {
  const WordTokenizer tokenizer = evaluation_tokenizer();
  auto lm = evaluation_moe_lm(static_cast<Index>(tokenizer.vocab_size()));
  const auto items = questions();
  Truthfulness sum_scored;
  MultipleChoiceOptions options;
  options.answer_prefix = " a :";
  options.threads = 1;
  const auto scores = evaluate_multiple_choice(
      lm, tokenizer, std::span<const TruthfulQAItem>(items), sum_scored, options);
  BOOST_REQUIRE(scores.size() == 3u);
  // Answers in mc2_targets order; the best answer found where it is.
  BOOST_TEST((scores[0].answers == mc2_targets(items[0]).choices));
  BOOST_TEST(scores[0].best_answer == 1u);
  BOOST_TEST(scores[1].best_answer == 0u);
  BOOST_TEST(scores[2].best_answer == 0u);
  Truthfulness expected;
  for (std::size_t q = 0; q < items.size(); ++q) {
    const auto prompt = ids(tokenizer, items[q].question + " a :", true);
    std::vector<double> s;
    for (std::size_t j = 0; j < scores[q].answers.size(); ++j) {
      const auto answer = ids(tokenizer, scores[q].answers[j], false);
      const ContinuationScore c = lm.score_continuation(prompt, answer);
      BOOST_TEST(scores[q].scores[j].sum_log_prob == c.sum_log_prob,
                 boost::test_tools::tolerance(1e-5));
      BOOST_TEST(scores[q].scores[j].mean_log_prob == c.mean_log_prob,
                 boost::test_tools::tolerance(1e-5));
      s.push_back(scores[q].scores[j].sum_log_prob);
    }
    expected.add(std::span<const double>(s), std::span<const std::int32_t>(scores[q].labels),
                 scores[q].best_answer);
  }
  BOOST_TEST((sum_scored.value() == expected.value()));
  BOOST_TEST(sum_scored.value().questions == 3);
}

BOOST_AUTO_TEST_CASE(a_metric_set_gets_both_scorings_and_threads_change_nothing) {
  const WordTokenizer tokenizer = evaluation_tokenizer();
  auto lm = evaluation_moe_lm(static_cast<Index>(tokenizer.vocab_size()));
  const auto items = questions();
  using Both = MetricSet<Truthfulness, Truthfulness>;
  const auto run = [&](int threads, bool dola) {
    Both m(Truthfulness({.scoring = AnswerScoring::sum_log_prob}),
           Truthfulness({.scoring = AnswerScoring::mean_log_prob}));
    MultipleChoiceOptions o;
    o.threads = threads;
    o.use_dola = dola;
    evaluate_multiple_choice(lm, tokenizer, std::span<const TruthfulQAItem>(items), m, o);
    return m.values();
  };
  BOOST_TEST((run(1, false) == run(2, false)));
  BOOST_TEST((run(1, true) == run(3, true)));
}

BOOST_AUTO_TEST_CASE(dola_scores_are_dola_score_continuations) {
  const WordTokenizer tokenizer = evaluation_tokenizer();
  auto lm = evaluation_moe_lm(static_cast<Index>(tokenizer.vocab_size()));
  const auto items = questions();
  Truthfulness mc;
  MultipleChoiceOptions options;
  options.use_dola = true;
  options.dola.premature_layers = {0};
  const auto scores =
      evaluate_multiple_choice(lm, tokenizer, std::span<const TruthfulQAItem>(items), mc, options);
  const auto prompt = ids(tokenizer, items[2].question, true);
  std::vector<std::pair<std::vector<std::int32_t>, std::vector<std::int32_t>>> pairs;
  for (const auto& a : scores[2].answers) pairs.emplace_back(prompt, ids(tokenizer, a, false));
  const auto expected = dola_score_continuations(lm, pairs, options.dola);
  for (std::size_t j = 0; j < expected.size(); ++j) {
    BOOST_TEST(scores[2].scores[j].sum_log_prob == expected[j].sum_log_prob);
  }
}

BOOST_AUTO_TEST_CASE(bad_questions_are_named) {
  const WordTokenizer tokenizer = evaluation_tokenizer();
  auto lm = evaluation_moe_lm(static_cast<Index>(tokenizer.vocab_size()), /*max_positions=*/8);
  Truthfulness mc;
  auto items = questions();
  BOOST_CHECK_EXCEPTION(
      evaluate_multiple_choice(lm, tokenizer, std::span<const TruthfulQAItem>(items), mc),
      moerb::error, message_has({"evaluate_multiple_choice", "question 0", "max_positions = 8"}));
  auto lm2 = evaluation_moe_lm(static_cast<Index>(tokenizer.vocab_size()));
  items[1].incorrect_answers.clear();
  BOOST_CHECK_EXCEPTION(
      evaluate_multiple_choice(lm2, tokenizer, std::span<const TruthfulQAItem>(items), mc),
      moerb::error, message_has({"question 1", "no incorrect answer"}));
  items = questions();
  items[2].incorrect_answers[1] = "   ";
  BOOST_CHECK_EXCEPTION(
      evaluate_multiple_choice(lm2, tokenizer, std::span<const TruthfulQAItem>(items), mc),
      moerb::error, message_has({"question 2", "answer 3", "no tokens"}));
  BOOST_CHECK_EXCEPTION(
      evaluate_multiple_choice(lm2, tokenizer, std::span<const TruthfulQAItem>(), mc), moerb::error,
      message_has({"no questions"}));
  BOOST_TEST(mc.num_examples() == 0);  // nothing was added by the failed calls
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_evaluation_multiple_choice_evaluation
