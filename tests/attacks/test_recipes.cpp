// Tests for include/moerb/attacks/recipes.hpp: each recipe composes its parts as its paper says and
// runs end to end on the bag-of-words victim with the hand-written WordNet snippet and embedding
// table of lexical_testing.hpp.
#include "moerb/attacks/recipes.hpp"

#include <boost/test/unit_test.hpp>
#include <memory>
#include <string>
#include <vector>

#include "attacks/attack_testing.hpp"
#include "attacks/lexical_testing.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_attacks_recipes {

using namespace moerb;
using namespace moerb::test;

namespace {
// "good" is the only positive word: any edit that makes it unknown (→ [UNK], weight 0) or
// replaces it by a neutral word ties the logits, and the tie goes to class 0.
const TextExample positive{"the movie is good", "", 1, "", ""};

std::shared_ptr<const WordNetSynonyms> lexicon() {
  return std::make_shared<const WordNetSynonyms>(lexical::snippet_lexicon());
}
std::shared_ptr<const WordEmbeddingIndex<double>> embeddings() {
  return std::make_shared<const WordEmbeddingIndex<double>>(lexical::small_table());
}
}  // namespace

BOOST_AUTO_TEST_SUITE(recipes)

BOOST_AUTO_TEST_CASE(pwws_swaps_a_wordnet_synonym) {
  const WordTokenizer tok = sentiment_tokenizer();
  BagOfWordsVictim victim = sentiment_victim(tok);
  PWWSAttack attack = make_pwws(lexicon());
  const AttackResult r = attack.attack(victim, tok, positive, AttackOptions{});
  BOOST_TEST(to_string(r.status) == "succeeded");
  BOOST_TEST(r.words_changed == 1u);
  // good → one of its snippet synonyms (goodness, fine, well); "fine" keeps a positive logit.
  BOOST_TEST(
      (r.perturbed_text == "the movie is goodness" || r.perturbed_text == "the movie is well"));
  BOOST_TEST(r.queries == victim.sequences);
  // The stop words "the" and "is" are never edited.
  BOOST_TEST(r.perturbed_text.starts_with("the movie is "));
}

BOOST_AUTO_TEST_CASE(textfooler_swaps_an_embedding_neighbour_of_the_same_part_of_speech) {
  const WordTokenizer tok = sentiment_tokenizer();
  BagOfWordsVictim victim = sentiment_victim(tok);
  TextFoolerAttack<double> attack = make_textfooler<double>(embeddings(), lexicon());
  const AttackResult r = attack.attack(victim, tok, positive, AttackOptions{});
  BOOST_TEST(to_string(r.status) == "succeeded");
  // Neighbours of good: fine, nice (0.8), great (0.6); "nice" is unknown to the victim.
  BOOST_TEST(r.perturbed_text == "the movie is nice");
}

BOOST_AUTO_TEST_CASE(character_recipes_misspell_the_important_word) {
  const WordTokenizer tok = sentiment_tokenizer();
  for (int recipe = 0; recipe < 2; ++recipe) {
    BagOfWordsVictim victim = sentiment_victim(tok);
    AttackOptions o;
    o.seed = 3;
    const AttackResult r =
        recipe == 0 ? make_deepwordbug().attack(victim, tok, positive, o)
                    : make_textbugger<double>(embeddings()).attack(victim, tok, positive, o);
    BOOST_TEST(to_string(r.status) == "succeeded");
    BOOST_TEST(r.words_changed == 1u);
    BOOST_TEST(r.characters_changed >= 1u);
    BOOST_TEST(r.perturbed_text.starts_with("the movie is "));
  }
}

BOOST_AUTO_TEST_CASE(random_corruption_scores_once) {
  const WordTokenizer tok = sentiment_tokenizer();
  BagOfWordsVictim victim = sentiment_victim(tok);
  const TextExample e{"good movie and great plot with a fine good story here", "", 1, "", ""};
  AttackOptions o;
  o.seed = 9;
  const AttackResult r = make_random_corruption(5).attack(victim, tok, e, o);
  BOOST_TEST(r.queries == 2);
  BOOST_TEST(r.words_changed == 6u);  // half of the 11 words, rounded
  BOOST_CHECK_THROW((void)make_random_corruption(0), moerb::error);
}

BOOST_AUTO_TEST_CASE(bad_options_are_named) {
  RecipeOptions o;
  o.max_modified_fraction = 0;
  BOOST_CHECK_EXCEPTION((void)make_deepwordbug(o), moerb::error,
                        message_has({"make_deepwordbug", "max_modified_fraction = 0"}));
  BOOST_CHECK_EXCEPTION((void)make_pwws(nullptr), moerb::error,
                        message_has({"make_pwws", "no WordNet lexicon"}));
  BOOST_CHECK_EXCEPTION((void)make_textfooler<double>(nullptr, lexicon()), moerb::error,
                        message_has({"make_textfooler", "no embedding index"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_recipes
