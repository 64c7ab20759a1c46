// Tests for include/moerb/attacks/search.hpp, driven through Attack (attack.hpp) with a
// bag-of-words victim whose scores are known by hand.
#include "moerb/attacks/search.hpp"

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "attacks/attack_testing.hpp"
#include "moerb/attacks/attack.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_attacks_search {

using namespace moerb;
using namespace moerb::test;

namespace {
const TextExample positive{"the movie is good and the plot is great", "", 1, "", ""};
}  // namespace

BOOST_AUTO_TEST_SUITE(search)

// Logit margin of class 1 over class 0 is 2 (good) + 3 (great) = 5; "awful" is worth −3 and
// "bad" −2. Replacing "great" by "awful" gives 2 − 3 < 0 → flips in one swap; greedy with deletion
// importance tries "great" first (deleting it loses most).
BOOST_AUTO_TEST_CASE(greedy_swaps_the_most_important_word_first) {
  const WordTokenizer tok = sentiment_tokenizer();
  BagOfWordsVictim victim = sentiment_victim(tok);
  auto attack =
      make_attack(UntargetedClassification{}, SwapWords{{"bad", "awful"}}, GreedyWordSwap{});
  const AttackResult r = attack.attack(victim, tok, positive, AttackOptions{});
  BOOST_TEST(to_string(r.status) == "succeeded");
  BOOST_TEST(r.perturbed_text == "the movie is good and the plot is awful");
  BOOST_TEST(r.words_changed == 1u);
  // 1 original + 9 deletions (importance) + 2 candidates at "great".
  BOOST_TEST(r.queries == 12);
  BOOST_TEST(victim.sequences == 12);
  // One forward for the original, one for the importance batch, one for the candidates.
  BOOST_TEST(victim.forwards == 3);
}

BOOST_AUTO_TEST_CASE(importance_orders) {
  const WordTokenizer tok = sentiment_tokenizer();
  for (const WordImportance importance :
       {WordImportance::unk, WordImportance::weighted_saliency, WordImportance::random}) {
    BagOfWordsVictim victim = sentiment_victim(tok);
    auto attack = make_attack(UntargetedClassification{}, SwapWords{{"bad", "awful"}},
                              GreedyWordSwap{GreedyWordSwap::Options{importance}});
    const AttackResult r = attack.attack(victim, tok, positive, AttackOptions{});
    BOOST_TEST(to_string(r.status) == "succeeded");
    BOOST_TEST(r.queries == victim.sequences);
    if (importance != WordImportance::random) {
      // [UNK] saliency is deletion here ([UNK] has zero weight): "great" first again.
      BOOST_TEST(r.perturbed_text == "the movie is good and the plot is awful");
    }
  }
}

BOOST_AUTO_TEST_CASE(beam_search_scores_each_step_in_one_forward) {
  const WordTokenizer tok = sentiment_tokenizer();
  // Class 1 has logit 2 + 3 + 3 + 1 = 9; each "awful" adds 3 to class 0: two swaps are needed.
  const TextExample e{"good great great fine", "", 1, "", ""};
  BagOfWordsVictim victim = sentiment_victim(tok);
  auto attack = make_attack(UntargetedClassification{}, SwapWords{{"awful"}},
                            BeamSearch{BeamSearch::Options{2}});
  const AttackResult r = attack.attack(victim, tok, e, AttackOptions{});
  BOOST_TEST(to_string(r.status) == "succeeded");
  BOOST_TEST(r.words_changed == 2u);
  BOOST_TEST(r.perturbed_text == "good awful awful fine");  // logits 6 : 3
  // Step 1: 4 candidates; step 2: 2 beams × 3 candidates; one forward each (+ the original).
  BOOST_TEST(victim.forwards == 3);
  BOOST_TEST(r.queries == 1 + 4 + 6);
}

BOOST_AUTO_TEST_CASE(genetic_search_reaches_the_goal_and_is_seeded) {
  const WordTokenizer tok = sentiment_tokenizer();
  const TextExample e{"good great fine movie plot", "", 1, "", ""};
  auto attack = make_attack(UntargetedClassification{}, SwapWords{{"bad", "awful", "the"}},
                            GeneticSearch{GeneticSearch::Options{6, 10, 0.3, 4}});
  BagOfWordsVictim v1 = sentiment_victim(tok), v2 = sentiment_victim(tok);
  AttackOptions o;
  o.seed = 7;
  const AttackResult a = attack.attack(v1, tok, e, o, 3);
  const AttackResult b = attack.attack(v2, tok, e, o, 3);
  BOOST_TEST(to_string(a.status) == "succeeded");
  BOOST_TEST(a.perturbed_text == b.perturbed_text);
  BOOST_TEST(a.queries == b.queries);
  BOOST_TEST(a.queries == v1.sequences);
  BOOST_CHECK_THROW(GeneticSearch(GeneticSearch::Options{1, 10, 0.3, 4}), moerb::error);
  BOOST_CHECK_THROW(GeneticSearch(GeneticSearch::Options{4, 10, 0.0, 4}), moerb::error);
}

BOOST_AUTO_TEST_CASE(random_corruption_edits_severity_tenths_of_the_words) {
  const WordTokenizer tok = sentiment_tokenizer();
  const TextExample e{"the movie is good and the plot is great too", "", 1, "", ""};
  for (int severity = 1; severity <= 5; ++severity) {
    BagOfWordsVictim victim = sentiment_victim(tok);
    auto attack = make_attack(UntargetedClassification{}, DeleteWord{},
                              RandomCorruption{RandomCorruption::Options{severity}});
    AttackOptions o;
    o.seed = 11;
    const AttackResult r = attack.attack(victim, tok, e, o);
    BOOST_TEST(r.words_changed == static_cast<std::size_t>(severity));  // of 10 words
    BOOST_TEST(r.queries == 2);  // the original and the corrupted text
  }
  BOOST_CHECK_THROW(RandomCorruption(RandomCorruption::Options{6}), moerb::error);
}

BOOST_AUTO_TEST_CASE(the_query_budget_is_never_exceeded) {
  const WordTokenizer tok = sentiment_tokenizer();
  for (const std::int64_t budget : {1, 2, 5, 10}) {
    BagOfWordsVictim victim = sentiment_victim(tok);
    auto attack =
        make_attack(UntargetedClassification{}, SwapWords{{"bad", "awful"}}, GreedyWordSwap{});
    AttackOptions o;
    o.query_budget = budget;
    const AttackResult r = attack.attack(victim, tok, positive, o);
    BOOST_TEST(r.queries <= budget);
    BOOST_TEST(victim.sequences == r.queries);
    BOOST_TEST(to_string(r.status) == "failed");  // 12 queries are needed
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_search
