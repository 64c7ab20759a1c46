#pragma once
// Multiple-choice truthfulness evaluation of a causal language model (DecoderLM), as TruthfulQA's
// MC tasks and the DoLa code run it (Lin et al. 2022, "TruthfulQA", §4.1; Chuang et al. 2024,
// "DoLa", §3.1): every answer of a question is scored by the model's log-probability of the
// answer's tokens after the question, with plain scoring (DecoderLM::score_continuations) or with
// DoLa's contrast of the mature and a premature layer (dola_score_continuations), and the scores
// feed a Truthfulness accumulator (MC1, MC2, MC3; sum or mean log-probability by its Options).
//
//   Truthfulness mc;                       // or a MetricSet of several scorings
//   const auto scores = evaluate_multiple_choice(lm, tokenizer, read_truthfulqa(path), mc);
//
// Each question's answers are mc2_targets(item): the correct answers (the best one first when the
// list lacks it), then the incorrect ones; the best answer is the first correct answer equal to
// item.best_answer. MC1 compares the best answer with every incorrect one, which is TruthfulQA's
// mc1_targets comparison, since the incorrect answers are the same list.
//
// Tokens: prompt = [bos] (Options::add_bos) + encode(question_prefix + question + answer_prefix),
// answer = encode(answer). A prompt + answer longer than the model's max_positions throws (a
// truncated answer would be scored wrongly), naming the question and answer.
//
// Questions run one batched forward each, on every core with model replicas, and reach the
// accumulator in input order: the result does not depend on the thread count.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/data/truthfulqa.hpp"
#include "moerb/evaluation/detail/ordered_parallel.hpp"
#include "moerb/evaluation/detail/prompt_tokens.hpp"
#include "moerb/models/dola.hpp"
#include "moerb/text/tokenizer.hpp"
#include "moerb/text/vocabulary.hpp"

namespace moerb {

struct MultipleChoiceOptions {
  std::string question_prefix;  ///< text put before each question (e.g. "q :")
  std::string answer_prefix;    ///< text put between the question and the answer (e.g. "a :")
  bool add_bos = true;          ///< start the prompt with Vocabulary::bos_id
  bool use_dola = false;        ///< score with DoLa instead of the plain log-probability
  DoLaOptions dola{};
  int threads = 0;  ///< 0: every core
};

/// One answer's score in both forms (models AnswerLogProbabilities).
struct AnswerScore {
  double sum_log_prob = 0;
  double mean_log_prob = 0;
};

/// One question as scored: its answers in mc2_targets order, their truth labels and scores.
struct QuestionScores {
  std::vector<std::string> answers;
  std::vector<std::int32_t> labels;  ///< 1 true, 0 false
  std::vector<AnswerScore> scores;
  std::size_t best_answer = 0;  ///< index of the best answer in `answers`
};

namespace detail::evaluation {

using TokenPairs = std::vector<std::pair<std::vector<std::int32_t>, std::vector<std::int32_t>>>;

/// The answers of `item` and the best answer's index; throws when it has no incorrect answer.
inline QuestionScores question_targets(const TruthfulQAItem& item, std::size_t index) {
  const MultipleChoiceTargets t = mc2_targets(item);
  QuestionScores q;
  q.answers = t.choices;
  q.labels = t.labels;
  bool found = false, has_false = false;
  for (std::size_t j = 0; j < q.answers.size(); ++j) {
    if (!found && q.labels[j] == 1 && q.answers[j] == item.best_answer) {
      q.best_answer = j;
      found = true;
    }
    has_false = has_false || q.labels[j] == 0;
  }
  MOERB_REQUIRE(found, "evaluate_multiple_choice: question ", index, " has no best answer");
  MOERB_REQUIRE(has_false, "evaluate_multiple_choice: question ", index, " ('", item.question,
                "') has no incorrect answer");
  return q;
}

}  // namespace detail::evaluation

/// Scores every answer of every question with `lm` and adds each question to `metrics`, anything
/// with add(const std::vector<AnswerScore>&, std::span<const std::int32_t> labels, std::size_t
/// best_answer): a Truthfulness, or a MetricSet of them (e.g. sum and mean scoring). Returns the
/// per-question scores.
template <class LM, Tokenizer Tok, class Metrics>
std::vector<QuestionScores> evaluate_multiple_choice(LM& lm, const Tok& tokenizer,
                                                     std::span<const TruthfulQAItem> questions,
                                                     Metrics& metrics,
                                                     const MultipleChoiceOptions& options = {}) {
  constexpr std::string_view where = "evaluate_multiple_choice";
  MOERB_REQUIRE(!questions.empty(), where, ": no questions");
  const Index max_positions = lm.config().max_positions;
  std::vector<QuestionScores> out(questions.size());
  std::vector<detail::evaluation::TokenPairs> pairs(questions.size());
  for (std::size_t i = 0; i < questions.size(); ++i) {
    const TruthfulQAItem& item = questions[i];
    out[i] = detail::evaluation::question_targets(item, i);
    const std::vector<std::int32_t> prompt = detail::evaluation::prompt_tokens(
        tokenizer, options.question_prefix + item.question + options.answer_prefix,
        options.add_bos);
    MOERB_REQUIRE(!prompt.empty(), where, ": question ", i, " ('", item.question,
                  "') has no tokens");
    for (std::size_t j = 0; j < out[i].answers.size(); ++j) {
      const std::vector<TokenId> a = tokenizer.encode(out[i].answers[j]);
      MOERB_REQUIRE(!a.empty(), where, ": question ", i, ", answer ", j, " ('", out[i].answers[j],
                    "') has no tokens");
      MOERB_REQUIRE(static_cast<Index>(prompt.size() + a.size()) <= max_positions, where,
                    ": question ", i, ", answer ", j, " is ", prompt.size(), " + ", a.size(),
                    " tokens, more than the model's max_positions = ", max_positions);
      pairs[i].emplace_back(prompt, std::vector<std::int32_t>(a.begin(), a.end()));
    }
  }

  detail::evaluation::ordered_parallel<std::vector<AnswerScore>>(
      lm, static_cast<Index>(questions.size()), options.threads,
      [&](LM& replica, Index i, std::vector<AnswerScore>& slot) {
        const auto& p = pairs[static_cast<std::size_t>(i)];
        slot.clear();
        if (options.use_dola) {
          for (const DoLaScore& s : dola_score_continuations(replica, p, options.dola)) {
            slot.push_back({s.sum_log_prob, s.mean_log_prob});
          }
        } else {
          for (const auto& s : replica.score_continuations(p)) {
            slot.push_back({s.sum_log_prob, s.mean_log_prob});
          }
        }
      },
      [&](Index i, std::vector<AnswerScore>& slot) {
        QuestionScores& q = out[static_cast<std::size_t>(i)];
        q.scores = slot;
        metrics.add(q.scores, std::span<const std::int32_t>(q.labels), q.best_answer);
      });
  return out;
}

}  // namespace moerb
