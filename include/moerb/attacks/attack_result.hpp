#pragma once
// AttackResult: what one attacked example gives (TextAttack's per-example result, plus timing), and
// AttackSummary: the table researchers know from TextAttack (original accuracy, accuracy under
// attack, attack success rate, perturbed-word percentage, words per input, queries), computed from
// the metric accumulators of moerb/metrics with confidence intervals.
//
// Conventions (TextAttack's): an example the model already gets wrong is skipped, not attacked;
// accuracy under attack counts only failed attacks as correct; the success rate is
// succeeded / (succeeded + failed); the perturbed-word percentage averages over successful attacks.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"
#include "moerb/metrics/classification.hpp"
#include "moerb/metrics/confidence.hpp"

namespace moerb {

enum class AttackStatus : std::uint8_t {
  succeeded,  ///< the goal was reached within the budget
  failed,     ///< the search ended (or the budget ran out) without reaching it
  skipped,    ///< not attacked: the model was already wrong (or the goal already held)
};

[[nodiscard]] inline std::string_view to_string(AttackStatus s) {
  switch (s) {
    case AttackStatus::succeeded:
      return "succeeded";
    case AttackStatus::failed:
      return "failed";
    case AttackStatus::skipped:
      return "skipped";
  }
  return "unknown";
}

struct AttackResult {
  std::size_t index = 0;       ///< the example's position in the attacked data set
  std::string original_text;   ///< "a" or "a ||| b" for pairs
  std::string perturbed_text;  ///< equal to original_text when nothing changed
  std::vector<std::int32_t> original_tokens;
  std::vector<std::int32_t> perturbed_tokens;
  std::int32_t label = -1;
  std::int32_t original_prediction = -1;
  std::int32_t final_prediction = -1;
  double original_confidence = 0;  ///< probability of original_prediction on the original text
  double final_confidence = 0;     ///< probability of final_prediction on the perturbed text
  double original_label_probability = 0;
  double final_label_probability = 0;
  AttackStatus status = AttackStatus::failed;
  std::int64_t queries = 0;   ///< victim forwards of single sequences (the original included)
  std::size_t num_words = 0;  ///< words of the original text (all sides)
  std::size_t words_changed = 0;
  std::size_t characters_changed = 0;
  double seconds = 0;        ///< wall time of the whole attack on this example
  double model_seconds = 0;  ///< of which in the victim's forward and backward passes
};

struct AttackSummary {
  std::int64_t examples = 0;
  std::int64_t succeeded = 0;
  std::int64_t failed = 0;
  std::int64_t skipped = 0;
  ConfidenceInterval original_accuracy;          ///< Wilson; skipped examples are the wrong ones
  ConfidenceInterval accuracy_under_attack;      ///< Wilson; failed attacks are the correct ones
  ConfidenceInterval success_rate;               ///< Wilson; succeeded / (succeeded + failed)
  ConfidenceInterval perturbed_word_percentage;  ///< bootstrap; over successful attacks
  ConfidenceInterval words_per_input;            ///< bootstrap; over all examples
  ConfidenceInterval queries;                    ///< bootstrap; over attacked examples
  double seconds = 0;                            ///< Σ of the examples' seconds
  double model_seconds = 0;
};

namespace detail::attacks {

/// Bootstrap interval of the mean of `values` (estimate 0 and an empty interval when there are
/// none).
inline ConfidenceInterval mean_ci(const std::vector<double>& values, const BootstrapOptions& o) {
  if (values.empty()) return {.estimate = 0, .lower = 0, .upper = 0, .level = o.level};
  return bootstrap_ci(
      static_cast<Index>(values.size()),
      [&](std::span<const Index> sample) {
        double sum = 0;
        for (const Index i : sample) sum += values[static_cast<std::size_t>(i)];
        return sum / static_cast<double>(sample.size());
      },
      o);
}

inline ConfidenceInterval proportion_ci(std::int64_t successes, std::int64_t trials, double level) {
  if (trials == 0) return {.estimate = 0, .lower = 0, .upper = 0, .level = level};
  return wilson_interval(successes, trials, level);
}

}  // namespace detail::attacks

/// The summary of a set of results (see AttackSummary). Throws when `results` is empty.
[[nodiscard]] inline AttackSummary summarize_attacks(std::span<const AttackResult> results,
                                                     const BootstrapOptions& options = {}) {
  MOERB_REQUIRE(!results.empty(), "summarize_attacks: no results");
  AttackSummary s;
  Accuracy original, under_attack;
  std::vector<double> perturbed, words, queries;
  for (const AttackResult& r : results) {
    ++s.examples;
    const bool attacked = r.status != AttackStatus::skipped;
    s.succeeded += r.status == AttackStatus::succeeded ? 1 : 0;
    s.failed += r.status == AttackStatus::failed ? 1 : 0;
    s.skipped += attacked ? 0 : 1;
    // Accuracy's inputs: prediction 1 = "correct", label 1.
    original.add(LabeledPrediction{attacked ? 1 : 0, 1});
    under_attack.add(LabeledPrediction{r.status == AttackStatus::failed ? 1 : 0, 1});
    words.push_back(static_cast<double>(r.num_words));
    if (attacked) queries.push_back(static_cast<double>(r.queries));
    if (r.status == AttackStatus::succeeded && r.num_words > 0) {
      perturbed.push_back(100.0 * static_cast<double>(r.words_changed) /
                          static_cast<double>(r.num_words));
    }
    s.seconds += r.seconds;
    s.model_seconds += r.model_seconds;
  }
  s.original_accuracy = original.wilson(options.level);
  s.accuracy_under_attack = under_attack.wilson(options.level);
  s.success_rate =
      detail::attacks::proportion_ci(s.succeeded, s.succeeded + s.failed, options.level);
  s.perturbed_word_percentage = detail::attacks::mean_ci(perturbed, options);
  s.words_per_input = detail::attacks::mean_ci(words, options);
  s.queries = detail::attacks::mean_ci(queries, options);
  return s;
}

}  // namespace moerb
