// End-to-end: an MoE classifier and its dense counterpart (same trunk, dense FFN with the MoE's
// active parameter count) trained on the built-in WordNet topic task — real text from Debian's
// wordnet-base — must both beat the majority-class baseline by a clear margin.
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <iostream>
#include <vector>

#include "moerb/data/encode.hpp"
#include "moerb/data/wordnet.hpp"
#include "moerb/experts/gated_expert.hpp"
#include "moerb/layers/dense_ffn.hpp"
#include "moerb/layers/moe_layer.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "moerb/routing/top_k_router.hpp"
#include "moerb/text/word_tokenizer.hpp"
#include "moerb/train/trainer.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_integration_wordnet_training {

using namespace moerb;

namespace {

using MoE = MoELayer<TopKRouter<float>, SwiGLUExpert<float>>;
using Dense = DenseFFN<SwiGLUExpert<float>>;

struct Prepared {
  WordNetTask task;
  std::vector<EncodedExample> train, dev, test;
  Index vocab_size = 0;
};

const Prepared& prepared() {
  static const Prepared p = [] {
    Prepared out;
    WordNetTopicOptions o;
    o.max_per_class = 300;
    o.seed = 1;
    out.task = wordnet_topic_task(o);
    std::vector<std::string> corpus;
    for (const auto& e : out.task.train.examples) corpus.push_back(e.text_a);
    WordTokenizer::Options to;
    to.min_count = 2;
    const WordTokenizer tokenizer = WordTokenizer::train(corpus, to);
    out.vocab_size = static_cast<Index>(tokenizer.vocab_size());
    out.train = encode_dataset(tokenizer, out.task.train, 32);
    out.dev = encode_dataset(tokenizer, out.task.dev, 32);
    out.test = encode_dataset(tokenizer, out.task.test, 32);
    return out;
  }();
  return p;
}

TransformerConfig config(Index vocab) {
  TransformerConfig c;
  c.vocab_size = vocab;
  c.d_model = 64;
  c.num_heads = 4;
  c.num_layers = 2;
  c.max_positions = 32;
  return c;
}

Recipe recipe() {
  Recipe r;
  r.learning_rate = 2e-3;
  r.batch_size = 32;
  r.epochs = 4;
  r.dropout = 0.1;
  r.seed = 7;
  r.threads = 2;
  r.progress = false;
  return r;
}

template <class FFN>
double train_and_test(const FeedForwardSpec<FFN>& spec_in, const char* what) {
  const Prepared& p = prepared();
  TransformerConfig c = config(p.vocab_size);
  FeedForwardSpec<FFN> spec = spec_in;
  const Recipe r = recipe();
  apply_recipe(r, c, spec);
  typename EncoderClassifier<FFN>::Options o;
  o.transformer = c;
  o.num_classes = static_cast<Index>(p.task.train.label_names.size());
  EncoderClassifier<FFN> model(o, spec);
  Rng rng(3);
  model.initialize(rng);
  ClassifierTrainer<EncoderClassifier<FFN>> trainer(model, r);
  const TrainResult result = trainer.fit(p.train, p.dev);
  const double accuracy = trainer.evaluate(p.test);
  BOOST_TEST_MESSAGE(what << ": " << result.steps << " steps, " << result.seconds << " s, "
                          << result.tokens_per_second << " tokens/s, best dev accuracy "
                          << result.best_dev_metric.value_or(0) << ", test accuracy " << accuracy);
  return accuracy;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(wordnet_training)

BOOST_AUTO_TEST_CASE(moe_and_dense_classifiers_beat_the_majority_baseline) {
  if (!std::filesystem::exists(WordNet::default_directory() / "data.noun")) {
    BOOST_FAIL("WordNet data not found in " << WordNet::default_directory()
                                            << ": install Debian's wordnet-base");
  }
  const Prepared& p = prepared();
  const double majority = p.task.test.majority_fraction();
  BOOST_TEST_MESSAGE(p.task.summary);

  FeedForwardSpec<MoE> moe;
  const TransformerConfig c = config(p.vocab_size);
  moe.router.input_dim = c.d_model;
  moe.router.num_experts = 4;
  moe.router.k = 2;
  moe.moe.expert.d_model = c.d_model;
  moe.moe.expert.d_ff = 96;
  const double moe_accuracy = train_and_test(moe, "MoE (4 experts, top-2)");

  // The dense counterpart: one SwiGLU block with the MoE layer's active parameter count.
  const MoE probe(moe.router, moe.moe);
  FeedForwardSpec<Dense> dense;
  dense.dense = dense_options_for_active_params(probe);
  const double dense_accuracy = train_and_test(dense, "dense");

  BOOST_TEST_MESSAGE("majority baseline " << majority);
  // Margin set from measurement: on the 2-core development machine (seed 7, 2 workers) the MoE
  // model reached 0.738 and the dense one 0.721 test accuracy against a majority baseline of
  // 0.125 (8 balanced classes). Requiring 0.5 — four times the baseline — leaves room for other
  // platforms' rounding while still failing any model that learned little.
  BOOST_TEST(majority < 0.2);
  BOOST_TEST(moe_accuracy > 0.5);
  BOOST_TEST(dense_accuracy > 0.5);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_integration_wordnet_training
