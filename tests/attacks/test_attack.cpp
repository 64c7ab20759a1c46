// Tests for include/moerb/attacks/attack.hpp
#include "moerb/attacks/attack.hpp"

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "attacks/attack_testing.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "support/messages.hpp"
#include "support/model_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_attacks_attack {

using namespace moerb;
using namespace moerb::test;

namespace {

using MoEClassifier = EncoderClassifier<TestMoE<double>>;

MoEClassifier tiny_classifier(std::uint64_t seed) {
  const TransformerConfig c = tiny_config();
  MoEClassifier::Options o;
  o.transformer = c;
  o.num_classes = 2;
  MoEClassifier m(o, tiny_moe_spec<double>(c));
  Rng rng(seed);
  m.initialize(rng);
  return m;
}

/// Words whose ids fit tiny_config()'s vocabulary of 13 (ids 7..12).
WordTokenizer tiny_tokenizer() {
  const std::vector<std::string> corpus{"a b c d e f"};
  return WordTokenizer::train(corpus);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(attack)

BOOST_AUTO_TEST_CASE(results_describe_the_attack) {
  const WordTokenizer tok = sentiment_tokenizer();
  BagOfWordsVictim victim = sentiment_victim(tok);
  auto attack = make_attack(UntargetedClassification{}, SwapWords{{"awful"}}, GreedyWordSwap{});
  const std::vector<TextExample> examples{{"a good movie", "", 1, "", ""},
                                          {"a bad movie", "", 1, "", ""},  // wrong: skipped
                                          {"great great great", "", 1, "", ""}};
  AttackOptions o;
  o.query_budget = 5;
  const std::vector<AttackResult> r = attack.attack_all(victim, tok, examples, o);
  BOOST_REQUIRE(r.size() == 3u);
  BOOST_TEST(to_string(r[0].status) == "succeeded");
  BOOST_TEST(r[0].original_text == "a good movie");
  BOOST_TEST(r[0].perturbed_text == "a awful movie");
  BOOST_TEST(r[0].original_prediction == 1);
  BOOST_TEST(r[0].final_prediction == 0);
  BOOST_TEST(
      r[0].original_tokens ==
          (std::vector<std::int32_t>{Vocabulary::cls_id, tok.encode("a")[0], tok.encode("good")[0],
                                     tok.encode("movie")[0], Vocabulary::sep_id}),
      boost::test_tools::per_element());
  BOOST_TEST(r[0].perturbed_tokens[2] == tok.encode("awful")[0]);
  BOOST_TEST(r[0].num_words == 3u);
  BOOST_TEST(r[0].words_changed == 1u);
  BOOST_TEST(r[0].characters_changed == 5u);  // good → awful
  BOOST_TEST(r[0].original_confidence > 0.5);
  BOOST_TEST(r[0].final_label_probability < 0.5);
  BOOST_TEST(r[0].seconds >= r[0].model_seconds);
  BOOST_TEST(r[0].model_seconds >= 0.0);
  BOOST_TEST(to_string(r[1].status) == "skipped");
  BOOST_TEST(r[1].queries == 1);
  BOOST_TEST(r[1].perturbed_text == r[1].original_text);
  // Three "great" (logit 9 : 0) need two swaps (3 : 6); after the original and three deletions
  // the budget of 5 leaves one swap.
  BOOST_TEST(to_string(r[2].status) == "failed");
  BOOST_TEST(r[2].queries == 5);
  BOOST_TEST(r[2].words_changed == 1u);
  BOOST_TEST(victim.sequences == r[0].queries + r[1].queries + r[2].queries);
}

BOOST_AUTO_TEST_CASE(batches_respect_batch_size) {
  const WordTokenizer tok = sentiment_tokenizer();
  BagOfWordsVictim victim = sentiment_victim(tok);
  auto attack =
      make_attack(UntargetedClassification{}, SwapWords{{"bad", "awful"}}, GreedyWordSwap{});
  AttackOptions o;
  o.batch_size = 4;
  const TextExample e{"the movie is good and the plot is great", "", 1, "", ""};
  const AttackResult r = attack.attack(victim, tok, e, o);
  BOOST_TEST(r.queries == 12);
  // The original, 9 deletions in batches of 4 (3 forwards), 2 candidates.
  BOOST_TEST(victim.forwards == 1 + 3 + 1);
}

BOOST_AUTO_TEST_CASE(results_do_not_depend_on_the_thread_count) {
  const WordTokenizer tok = tiny_tokenizer();
  const std::vector<TextExample> examples{{"a b c d", "", 0, "", ""},
                                          {"b c d e f", "", 1, "", ""},
                                          {"f e d", "", 0, "", ""},
                                          {"a c e", "", 1, "", ""},
                                          {"d d a b", "", 0, "", ""}};
  auto attack = make_attack(UntargetedClassification{}, SwapWords{{"a", "e", "f"}},
                            GeneticSearch{GeneticSearch::Options{4, 3, 0.3, 2}});
  AttackOptions o;
  o.seed = 5;
  o.max_length = 12;
  MoEClassifier m1 = tiny_classifier(3), m2 = tiny_classifier(3);
  o.threads = 1;
  const auto one = attack.attack_all(m1, tok, examples, o);
  o.threads = 2;
  const auto two = attack.attack_all(m2, tok, examples, o);
  BOOST_REQUIRE(one.size() == two.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    BOOST_TEST(one[i].index == i);
    BOOST_TEST(two[i].index == i);
    BOOST_TEST(one[i].perturbed_text == two[i].perturbed_text);
    BOOST_TEST(one[i].queries == two[i].queries);
    BOOST_TEST(one[i].final_confidence == two[i].final_confidence);  // bit for bit
    BOOST_TEST(to_string(one[i].status) == to_string(two[i].status));
  }
}

BOOST_AUTO_TEST_CASE(gradient_importance_uses_the_white_box_victim) {
  const WordTokenizer tok = tiny_tokenizer();
  MoEClassifier m = tiny_classifier(4);
  const TextExample e{"a, b c! d", "", 0, "", ""};
  // The first forward decides the label the attack needs (the model's own prediction).
  auto probe = make_attack(UntargetedClassification{}, DeleteWord{}, GreedyWordSwap{});
  AttackOptions o;
  o.max_length = 12;
  TextExample labelled = e;
  labelled.label = probe.attack(m, tok, e, o).original_prediction;
  auto attack = make_attack(UntargetedClassification{}, DeleteWord{},
                            GreedyWordSwap{GreedyWordSwap::Options{WordImportance::gradient}});
  const AttackResult r = attack.attack(m, tok, labelled, o);
  BOOST_TEST(to_string(r.status) != "skipped");
  // 1 original + 1 gradient query + at most one deletion per word (4 words).
  BOOST_TEST(r.queries >= 3);
  BOOST_TEST(r.queries <= 6);
  // A black-box victim cannot give gradients: a clear error.
  BagOfWordsVictim bow = sentiment_victim(sentiment_tokenizer());
  const WordTokenizer stok = sentiment_tokenizer();
  BOOST_CHECK_EXCEPTION((void)attack.attack(bow, stok, TextExample{"good movie", "", 1, "", ""}, o),
                        moerb::error, message_has({"WordImportance::gradient", "white-box"}));
}

BOOST_AUTO_TEST_CASE(bad_input_is_named) {
  const WordTokenizer tok = sentiment_tokenizer();
  BagOfWordsVictim victim = sentiment_victim(tok);
  auto attack = make_attack(UntargetedClassification{}, DeleteWord{}, GreedyWordSwap{});
  AttackOptions o;
  BOOST_CHECK_EXCEPTION((void)attack.attack(victim, tok, TextExample{"good", "", 5, "", ""}, o),
                        moerb::error, message_has({"label 5", "[0, 2)"}));
  BOOST_CHECK_EXCEPTION((void)attack.attack(victim, tok, TextExample{"good", "", -1, "", ""}, o, 4),
                        moerb::error, message_has({"example 4", "no label"}));
  o.batch_size = 0;
  BOOST_CHECK_EXCEPTION((void)attack.attack(victim, tok, TextExample{"good", "", 1, "", ""}, o),
                        moerb::error, message_has({"batch_size = 0"}));
  o = {};
  o.query_budget = -1;
  BOOST_CHECK_EXCEPTION((void)attack.attack(victim, tok, TextExample{"good", "", 1, "", ""}, o),
                        moerb::error, message_has({"query_budget = -1"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_attack
