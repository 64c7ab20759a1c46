// Tests for include/moerb/attacks/attack_result.hpp
#include "moerb/attacks/attack_result.hpp"

#include <boost/test/unit_test.hpp>
#include <vector>

#include "moerb/metrics/confidence.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_attacks_attack_result {

using namespace moerb;
using namespace moerb::test;

namespace {
AttackResult result(AttackStatus status, std::size_t words, std::size_t changed,
                    std::int64_t queries) {
  AttackResult r;
  r.status = status;
  r.num_words = words;
  r.words_changed = changed;
  r.queries = queries;
  r.seconds = 0.5;
  r.model_seconds = 0.25;
  return r;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(attack_result)

BOOST_AUTO_TEST_CASE(summary_follows_textattack_conventions) {
  const std::vector<AttackResult> r{
      result(AttackStatus::succeeded, 10, 1, 20), result(AttackStatus::succeeded, 4, 2, 10),
      result(AttackStatus::failed, 6, 3, 30), result(AttackStatus::skipped, 8, 0, 1)};
  const AttackSummary s = summarize_attacks(r);
  BOOST_TEST(s.examples == 4);
  BOOST_TEST(s.succeeded == 2);
  BOOST_TEST(s.failed == 1);
  BOOST_TEST(s.skipped == 1);
  BOOST_TEST(s.original_accuracy.estimate == 0.75);      // skipped = already wrong
  BOOST_TEST(s.accuracy_under_attack.estimate == 0.25);  // only the failed attack holds
  BOOST_TEST(s.success_rate.estimate == 2.0 / 3.0, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(s.perturbed_word_percentage.estimate == 30.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.words_per_input.estimate == 7.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.queries.estimate == 20.0, boost::test_tools::tolerance(1e-12));  // attacked only
  BOOST_TEST(s.seconds == 2.0);
  BOOST_TEST(s.model_seconds == 1.0);
  // Wilson intervals of the proportions, bootstrap intervals of the means.
  const ConfidenceInterval w = wilson_interval(2, 3);
  BOOST_TEST(s.success_rate.lower == w.lower);
  BOOST_TEST(s.success_rate.upper == w.upper);
  BOOST_TEST(s.perturbed_word_percentage.lower <= 30.0);
  BOOST_TEST(s.perturbed_word_percentage.upper >= 30.0);
  BOOST_TEST(s.perturbed_word_percentage.lower >= 10.0);
  BOOST_TEST(s.perturbed_word_percentage.upper <= 50.0);
  // Seeded: the same results give the same intervals.
  BOOST_TEST(summarize_attacks(r).queries.lower == s.queries.lower);
}

BOOST_AUTO_TEST_CASE(all_skipped_has_no_success_rate) {
  const std::vector<AttackResult> r{result(AttackStatus::skipped, 3, 0, 1)};
  const AttackSummary s = summarize_attacks(r);
  BOOST_TEST(s.success_rate.estimate == 0.0);
  BOOST_TEST(s.original_accuracy.estimate == 0.0);
  BOOST_TEST(s.queries.estimate == 0.0);
  BOOST_CHECK_EXCEPTION((void)summarize_attacks({}), moerb::error, message_has({"no results"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_attack_result
