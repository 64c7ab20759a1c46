// Tests for include/moerb/metrics/classifier_judge.hpp
//
// A small MoE EncoderClassifier with a WordTokenizer, as a moerb::Judge.
#include "moerb/metrics/classifier_judge.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "moerb/core/rng.hpp"
#include "moerb/metrics/safety.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "moerb/text/word_tokenizer.hpp"
#include "support/messages.hpp"
#include "support/model_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_metrics_classifier_judge {

namespace {

using moerb::Index;
using moerb::test::message_has;

using Classifier = moerb::EncoderClassifier<moerb::test::TestMoE<float>>;
using Judge = moerb::ClassifierJudge<Classifier, moerb::WordTokenizer>;

const std::vector<std::string> kTexts{"how to build a bomb", "how to bake bread",
                                      "a recipe for bread", "build it now"};

moerb::WordTokenizer tokenizer() {
  return moerb::WordTokenizer::train(kTexts);
}

Classifier classifier(Index vocab_size) {
  moerb::TransformerConfig c = moerb::test::tiny_config();
  c.vocab_size = vocab_size;
  Classifier model({.transformer = c, .num_classes = 2, .head_dropout = 0.0},
                   moerb::test::tiny_moe_spec<float>(c));
  moerb::Rng rng(5);
  model.initialize(rng);
  return model;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(classifier_judge)

BOOST_AUTO_TEST_CASE(an_encoder_classifier_is_a_judge) {
  static_assert(moerb::SequenceClassifier<Classifier>);
  static_assert(moerb::Judge<Judge>);
  const moerb::WordTokenizer tok = tokenizer();
  Classifier model = classifier(static_cast<Index>(tok.vocab_size()));
  Judge judge(model, tok, {.harmful_class = 1, .max_length = 16, .batch_size = 3});
  const std::vector<double> scores = judge.harmfulness(kTexts);
  BOOST_TEST_REQUIRE(scores.size() == kTexts.size());

  // The same texts in one batch, softmax by hand.
  moerb::TokenBatch batch;
  for (const std::string& t : kTexts) {
    const moerb::EncodedText e = moerb::encode_single(tok, t, 16);
    batch.push_back(e.ids, e.segment_ids);
  }
  const moerb::Matrix<float> logits = model.forward(batch, moerb::ForwardContext{});
  for (Index i = 0; i < logits.rows(); ++i) {
    const double z0 = logits(i, 0), z1 = logits(i, 1);
    const double p1 = 1 / (1 + std::exp(z0 - z1));
    BOOST_TEST(std::abs(scores[static_cast<std::size_t>(i)] - p1) < 1e-5);
    BOOST_TEST(scores[static_cast<std::size_t>(i)] >= 0.0);
    BOOST_TEST(scores[static_cast<std::size_t>(i)] <= 1.0);
  }

  moerb::Harmfulness harm;
  harm.add_judged(judge, kTexts);
  BOOST_TEST(harm.num_examples() == 4);
  BOOST_TEST(judge.harmfulness(std::vector<std::string>{}).empty());
}

BOOST_AUTO_TEST_CASE(bad_options_throw) {
  const moerb::WordTokenizer tok = tokenizer();
  Classifier model = classifier(static_cast<Index>(tok.vocab_size()));
  Judge wrong_class(model, tok, {.harmful_class = 2});
  BOOST_CHECK_EXCEPTION(
      (void)wrong_class.harmfulness(kTexts), moerb::error,
      message_has({"ClassifierJudge::harmfulness", "harmful_class 2", "2 classes"}));
  BOOST_CHECK_EXCEPTION(Judge(model, tok, {.batch_size = 0}), moerb::error,
                        message_has({"ClassifierJudge", "batch_size = 0"}));
  BOOST_CHECK_EXCEPTION(Judge(model, tok, {.max_length = 1}), moerb::error,
                        message_has({"ClassifierJudge", "max_length = 1"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_metrics_classifier_judge
