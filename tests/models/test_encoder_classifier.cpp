#include "moerb/models/encoder_classifier.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <string>

#include "support/gradcheck.hpp"
#include "support/model_testing.hpp"
#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_models_encoder_classifier {

using namespace moerb;
using namespace moerb::test;

namespace {

template <class FFN>
EncoderClassifier<FFN> make_classifier(const FeedForwardSpec<FFN>& spec, const TransformerConfig& c,
                                       Pooling pooling = Pooling::first, Index head_hidden = 0) {
  typename EncoderClassifier<FFN>::Options o;
  o.transformer = c;
  o.num_classes = 3;
  o.pooling = pooling;
  o.head_hidden = head_hidden;
  o.head_dropout = 0.0;
  EncoderClassifier<FFN> model(o, spec);
  Rng rng(3);
  model.initialize(rng);
  // Larger weights than the default init, so every path carries a visible gradient.
  std::uint64_t seed = 100;
  model.visit_parameters(
      [&](std::string_view, Parameter<double>& p) {
        p.value += random_matrix(p.value.rows(), p.value.cols(), 0.3, seed++);
      },
      "");
  return model;
}

// L = Σ logits ⊙ G + aux, through the word embeddings x.
template <class Model>
void check_model_gradients(Model& model, const TokenBatch& batch) {
  const Matrix<double> G = random_matrix(batch.num_sequences(), model.num_classes(), 1.0, 17);
  Matrix<double> x = model.embed(batch);
  const ForwardContext ctx;
  const auto loss = [&] {
    const Matrix<double>& logits = model.forward_embeddings(x, batch, ctx);
    return (logits.array() * G.array()).sum() + model.aux_loss();
  };
  const auto backward = [&](Matrix<double>& dx) {
    model.forward_embeddings(x, batch, ctx);
    dx = model.backward(G, /*update_token_embedding=*/false);
  };
  // The token table does not enter this objective (x is given): freeze it for this check.
  set_frozen(model, "embeddings.tokens");
  check_gradients(model, x, loss, backward, 1e-6);
  set_frozen(model, "embeddings.tokens", false);

  // The token table through the ids path.
  Matrix<double> unused = Matrix<double>::Zero(1, 1);
  const auto loss_ids = [&] {
    const Matrix<double>& logits = model.forward(batch, ctx);
    return (logits.array() * G.array()).sum() + model.aux_loss();
  };
  const auto backward_ids = [&](Matrix<double>& dx) {
    model.forward(batch, ctx);
    model.backward(G, true);
    dx.setZero();
  };
  set_frozen(model, "");
  set_frozen(model, "embeddings.tokens", false);
  check_gradients(model, unused, loss_ids, backward_ids, 1e-6);
  set_frozen(model, "", false);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(encoder_classifier)

BOOST_AUTO_TEST_CASE(moe_gradients_match_finite_differences) {
  const TransformerConfig c = tiny_config();
  auto model = make_classifier(tiny_moe_spec<double>(c), c);
  check_model_gradients(model, tiny_batch());
}

BOOST_AUTO_TEST_CASE(dense_rotary_mean_pooling_gradients_match_finite_differences) {
  TransformerConfig c = tiny_config(PositionEncoding::rotary);
  c.num_segments = 0;
  auto model = make_classifier(tiny_dense_spec<double>(c), c, Pooling::mean, 5);
  TokenBatch batch = tiny_batch();
  batch.segments.clear();
  check_model_gradients(model, batch);
}

BOOST_AUTO_TEST_CASE(moe_every_other_block_mixes_sparse_and_dense) {
  TransformerConfig c = tiny_config();
  c.num_layers = 4;
  c.moe_every = 2;
  auto model = make_classifier(tiny_moe_spec<double>(c), c);
  BOOST_TEST(!model.trunk().block(0).ffn().is_sparse());
  BOOST_TEST(model.trunk().block(1).ffn().is_sparse());
  BOOST_TEST(!model.trunk().block(2).ffn().is_sparse());
  BOOST_TEST(model.trunk().block(3).ffn().is_sparse());
  model.forward(tiny_batch(), ForwardContext{});
  const auto trace = model.trace(true);
  BOOST_TEST(trace.moe_layers.size() == 2u);
  BOOST_TEST(trace.moe_layers[0].layer == 1);
  BOOST_TEST(trace.moe_layers[1].layer == 3);
  BOOST_TEST(trace.hidden_states.size() == 5u);
  BOOST_TEST((trace.hidden_states[4] - model.trunk().hidden_state(4)).norm() == 0.0);
  // Gradients through a dense block followed by an MoE block.
  c.num_layers = 2;
  auto small = make_classifier(tiny_moe_spec<double>(c), c);
  BOOST_TEST(!small.trunk().block(0).ffn().is_sparse());
  check_model_gradients(small, tiny_batch());
}

BOOST_AUTO_TEST_CASE(trace_reports_routing) {
  const TransformerConfig c = tiny_config();
  auto model = make_classifier(tiny_moe_spec<double>(c), c);
  const TokenBatch batch = tiny_batch();
  model.forward(batch, ForwardContext{});
  const auto trace = model.trace();
  BOOST_TEST(trace.hidden_states.empty());
  BOOST_REQUIRE(trace.moe_layers.size() == 2u);
  double aux = 0;
  for (const auto& t : trace.moe_layers) {
    BOOST_TEST(t.probs.rows() == batch.num_tokens());
    BOOST_TEST(t.probs.cols() == 4);
    BOOST_TEST(t.chosen.rows() == batch.num_tokens());
    BOOST_TEST(t.chosen.cols() == 2);
    for (Index i = 0; i < t.chosen.rows(); ++i) {
      BOOST_TEST(t.chosen(i, 0) == t.selected(i, 0));
      BOOST_TEST(t.chosen(i, 1) == t.selected(i, 1));
    }
    Index total = 0;
    for (Index l : t.load) total += l;
    BOOST_TEST(total == 2 * batch.num_tokens());
    BOOST_TEST(t.dropped == 0);
    aux += t.aux_loss;
  }
  BOOST_TEST(trace.aux_loss == aux, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(model.aux_loss() == aux, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(packed_sequences_are_independent) {
  const TransformerConfig c = tiny_config();
  auto model = make_classifier(tiny_moe_spec<double>(c), c, Pooling::mean);
  const TokenBatch batch = tiny_batch();
  const Matrix<double> all = model.forward(batch, ForwardContext{});
  for (Index b = 0; b < batch.num_sequences(); ++b) {
    const Matrix<double> one = model.forward(batch.slice(b, 1), ForwardContext{});
    BOOST_TEST((one.row(0) - all.row(b)).cwiseAbs().maxCoeff() < 1e-12);
  }
}

BOOST_AUTO_TEST_CASE(a_batch_without_segment_ids_is_segment_zero) {
  const TransformerConfig c = tiny_config();  // num_segments = 2
  auto model = make_classifier(tiny_moe_spec<double>(c), c);
  TokenBatch plain;
  plain.push_back(std::vector<std::int32_t>{2, 7, 3});
  TokenBatch zeros;
  zeros.push_back(std::vector<std::int32_t>{2, 7, 3}, std::vector<std::int32_t>{0, 0, 0});
  const Matrix<double> a = model.forward(plain, ForwardContext{});
  const Matrix<double> b = model.forward(zeros, ForwardContext{});
  BOOST_TEST((a - b).norm() == 0.0);
  // The segment table's row 0 gets the gradient either way.
  const Matrix<double> G = Matrix<double>::Ones(1, 3);
  zero_grad(model);
  model.forward(plain, ForwardContext{});
  model.backward(G);
  Matrix<double> g_plain;
  model.visit_parameters(
      [&](std::string_view n, Parameter<double>& p) {
        if (n == "embeddings.segments.weight") g_plain = p.grad;
      },
      "");
  zero_grad(model);
  model.forward(zeros, ForwardContext{});
  model.backward(G);
  model.visit_parameters(
      [&](std::string_view n, Parameter<double>& p) {
        if (n == "embeddings.segments.weight") BOOST_TEST((p.grad - g_plain).norm() == 0.0);
      },
      "");
  BOOST_TEST(g_plain.row(0).norm() > 0);
  BOOST_TEST(g_plain.row(1).norm() == 0.0);
}

BOOST_AUTO_TEST_CASE(inference_k_and_random_routing) {
  const TransformerConfig c = tiny_config();
  auto model = make_classifier(tiny_moe_spec<double>(c), c);
  const TokenBatch batch = tiny_batch();
  const Matrix<double> k2 = model.forward(batch, ForwardContext{});
  BOOST_TEST(model.set_inference_k(1) == 2);
  const Matrix<double> k1 = model.forward(batch, ForwardContext{});
  BOOST_TEST(model.trace().moe_layers[0].chosen.cols() == 1);
  BOOST_TEST((k1 - k2).norm() > 1e-6);
  // Training forwards keep k = 2.
  ForwardContext train;
  train.training = true;
  model.forward(batch, train);
  BOOST_TEST(model.trace().moe_layers[0].chosen.cols() == 2);
  BOOST_CHECK_THROW(model.set_inference_k(5), moerb::error);
  model.set_inference_k(2);

  model.set_random_inference_routing(true);
  ForwardContext r1;
  r1.rng = Rng(1);
  const Matrix<double> rand1 = model.forward(batch, r1);
  const auto chosen1 = model.trace().moe_layers[0].chosen;
  const Matrix<double> rand1_again = model.forward(batch, r1);
  BOOST_TEST((rand1 - rand1_again).norm() == 0.0);
  ForwardContext r2;
  r2.rng = Rng(2);
  model.forward(batch, r2);
  BOOST_TEST((model.trace().moe_layers[0].chosen - chosen1).cwiseAbs().maxCoeff() > 0);
  model.set_random_inference_routing(false);
  BOOST_TEST((model.forward(batch, ForwardContext{}) - k2).norm() == 0.0);
}

BOOST_AUTO_TEST_CASE(dropout_is_seeded_and_off_in_evaluation) {
  TransformerConfig c = tiny_config();
  c.dropout = 0.2;
  auto model = make_classifier(tiny_moe_spec<double>(c), c);
  const TokenBatch batch = tiny_batch();
  ForwardContext t1;
  t1.training = true;
  t1.rng = Rng(5);
  const Matrix<double> a = model.forward(batch, t1);
  const Matrix<double> b = model.forward(batch, t1);
  BOOST_TEST((a - b).norm() == 0.0);
  ForwardContext t2 = t1;
  t2.rng = Rng(6);
  BOOST_TEST((model.forward(batch, t2) - a).norm() > 1e-9);
  const Matrix<double> e1 = model.forward(batch, ForwardContext{});
  ForwardContext e2;
  e2.rng = Rng(99);
  BOOST_TEST((model.forward(batch, e2) - e1).norm() == 0.0);
}

BOOST_AUTO_TEST_CASE(bad_input_is_rejected) {
  const TransformerConfig c = tiny_config();
  auto model = make_classifier(tiny_moe_spec<double>(c), c);
  TokenBatch bad = tiny_batch();
  bad.ids[2] = 13;  // vocab is 13
  CHECK_THROWS_NAMING(model.forward(bad, ForwardContext{}), "13");
  TokenBatch too_long;
  too_long.push_back(std::vector<std::int32_t>(17, 1));
  CHECK_THROWS_NAMING(model.forward(too_long, ForwardContext{}), "max_positions");
  const TokenBatch batch = tiny_batch();
  Matrix<double> x = model.embed(batch);
  x(1, 1) = std::nan("");
  CHECK_THROWS_NAMING(model.forward_embeddings(x, batch, ForwardContext{}), "word_embeddings");
  TransformerConfig wrong = c;
  wrong.num_heads = 3;
  CHECK_THROWS_NAMING(make_classifier(tiny_moe_spec<double>(wrong), wrong), "num_heads");
  auto fresh = make_classifier(tiny_moe_spec<double>(c), c);
  CHECK_THROWS_NAMING(fresh.backward(Matrix<double>::Zero(3, 3)), "before forward");
}

BOOST_AUTO_TEST_CASE(metadata_names_the_architecture) {
  const TransformerConfig c = tiny_config();
  auto model = make_classifier(tiny_moe_spec<double>(c), c);
  const auto m = model.config_metadata();
  BOOST_TEST(m.at("model") == "EncoderClassifier");
  BOOST_TEST(m.at("norm") == "layer_norm");
  BOOST_TEST(m.at("ffn") == "moe");
  BOOST_TEST(m.at("ffn.router") == "TopKRouter");
  BOOST_TEST(m.at("ffn.num_experts") == "4");
  BOOST_TEST(m.at("ffn.k") == "2");
  BOOST_TEST(m.at("ffn.d_ff") == "6");
  model.check_config_metadata(m);
  auto other_k = m;
  other_k["ffn.k"] = "1";
  CHECK_THROWS_NAMING(model.check_config_metadata(other_k), "ffn.k");
  auto dense = make_classifier(tiny_dense_spec<double>(c), c);
  BOOST_TEST(dense.config_metadata().at("ffn") == "dense");
  // Dense models accept the inference-time techniques as no-ops and trace no MoE blocks.
  BOOST_TEST(dense.set_inference_k(1) == 0);
  dense.set_random_inference_routing(true);
  dense.forward(tiny_batch(), ForwardContext{});
  BOOST_TEST(dense.trace().moe_layers.empty());
  CHECK_THROWS_NAMING(dense.check_config_metadata(m), "ffn");
}

BOOST_AUTO_TEST_CASE(float_model_runs_and_predicts) {
  const TransformerConfig c = tiny_config();
  typename EncoderClassifier<TestMoE<float>>::Options o;
  o.transformer = c;
  o.num_classes = 2;
  EncoderClassifier<TestMoE<float>> model(o, tiny_moe_spec<float>(c));
  Rng rng(1);
  model.initialize(rng);
  const auto predicted = model.predict(tiny_batch());
  BOOST_TEST(predicted.size() == 3u);
  for (auto p : predicted) BOOST_TEST((p == 0 || p == 1));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_models_encoder_classifier
