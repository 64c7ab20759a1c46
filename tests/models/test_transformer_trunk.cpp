// Tests for include/moerb/models/transformer_trunk.hpp
#include "moerb/models/transformer_trunk.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "moerb/nn/layer_norm.hpp"
#include "moerb/routing/hash_router.hpp"
#include "support/gradcheck.hpp"
#include "support/model_testing.hpp"
#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_models_transformer_trunk {

using namespace moerb;
using namespace moerb::test;

namespace {

template <class FFN>
using Trunk = TransformerTrunk<FFN, LayerNorm>;

template <class FFN>
Trunk<FFN> make_trunk(const TransformerConfig& c, const FeedForwardSpec<FFN>& spec,
                      bool causal = false) {
  Trunk<FFN> trunk(c, spec, causal);
  Rng rng(4);
  trunk.initialize(rng);
  std::uint64_t seed = 300;
  trunk.visit_parameters(
      [&](std::string_view, Parameter<double>& p) {
        p.value += random_matrix(p.value.rows(), p.value.cols(), 0.3, seed++);
      },
      "");
  return trunk;
}

template <class FFN>
std::map<std::string, Matrix<double>> values_by_name(Trunk<FFN>& trunk) {
  std::map<std::string, Matrix<double>> out;
  trunk.visit_parameters(
      [&](std::string_view name, Parameter<double>& p) { out[std::string(name)] = p.value; }, "");
  return out;
}

double max_abs(const Matrix<double>& m) {
  return m.size() == 0 ? 0.0 : m.cwiseAbs().maxCoeff();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(transformer_trunk)

BOOST_AUTO_TEST_CASE(hidden_states_are_embeddings_then_block_outputs) {
  TransformerConfig c = tiny_config();
  c.num_layers = 3;
  c.moe_every = 2;
  auto trunk = make_trunk(c, tiny_moe_spec<double>(c));
  const TokenBatch batch = tiny_batch();
  BOOST_TEST(!trunk.has_forward());
  const Matrix<double> out = trunk.forward(batch, ForwardContext{});
  BOOST_TEST(trunk.has_forward());
  BOOST_TEST(out.rows() == 9);
  BOOST_TEST(out.cols() == 8);

  // h₀ = e + positions + segments, row by row.
  auto values = values_by_name(trunk);
  const Matrix<double>& tokens = values.at("embeddings.tokens.weight");
  const Matrix<double>& positions = values.at("embeddings.positions.weight");
  const Matrix<double>& segments = values.at("embeddings.segments.weight");
  Matrix<double> h0(9, 8);
  for (Index b = 0; b < batch.num_sequences(); ++b) {
    for (Index t = batch.sequences.begin(b); t < batch.sequences.end(b); ++t) {
      const auto st = static_cast<std::size_t>(t);
      h0.row(t) = tokens.row(batch.ids[st]) + positions.row(t - batch.sequences.begin(b)) +
                  segments.row(batch.segments[st]);
    }
  }
  BOOST_REQUIRE(batch.segments.size() == 9u);
  BOOST_TEST(max_abs(trunk.hidden_state(0) - h0) < 1e-15);

  // hᵢ₊₁ = Blockᵢ(hᵢ); out = FinalNorm(h_L).
  for (Index i = 0; i < trunk.num_layers(); ++i) {
    auto block = trunk.block(i);  // a copy: the trunk's blocks keep their backward state
    const Matrix<double> h = trunk.hidden_state(i);
    BOOST_TEST(max_abs(block.forward(h, batch.sequences, ForwardContext{}) -
                       trunk.hidden_state(i + 1)) == 0.0,
               "block " << i);
  }
  LayerNorm<double> norm = trunk.final_norm();
  BOOST_TEST(max_abs(norm.forward(trunk.hidden_state(3), ForwardContext{}) - out) == 0.0);
  // Each block changes the stream.
  for (Index i = 0; i < trunk.num_layers(); ++i) {
    BOOST_TEST((trunk.hidden_state(i + 1) - trunk.hidden_state(i)).norm() > 1e-3);
  }

  CHECK_THROWS_NAMING((void)trunk.hidden_state(4), "layer 4, expected in [0, 3]");
  CHECK_THROWS_NAMING((void)trunk.hidden_state(-1), "layer -1");
  CHECK_THROWS_NAMING((void)trunk.block(3), "TransformerTrunk::block: index 3");
  BOOST_TEST(trunk.last_input().ids == batch.ids, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(rotary_trunk_has_no_position_table) {
  TransformerConfig c = tiny_config(PositionEncoding::rotary);
  c.num_segments = 0;
  auto trunk = make_trunk(c, tiny_dense_spec<double>(c), true);
  const auto values = values_by_name(trunk);
  BOOST_TEST(values.count("embeddings.positions.weight") == 0u);
  BOOST_TEST(values.count("embeddings.segments.weight") == 0u);
  BOOST_TEST(trunk.causal());
  // Without segment or position tables, h₀ is the word embeddings (segment ids are ignored).
  const TokenBatch batch = tiny_batch();
  const Matrix<double> e = trunk.embed(batch);
  trunk.forward(batch, ForwardContext{});
  BOOST_TEST(max_abs(trunk.hidden_state(0) - e) == 0.0);
}

BOOST_AUTO_TEST_CASE(word_embedding_gradient_matches_finite_differences) {
  for (auto position : {PositionEncoding::learned, PositionEncoding::rotary}) {
    BOOST_TEST_CONTEXT("rotary " << (position == PositionEncoding::rotary)) {
      TransformerConfig c = tiny_config(position);
      c.moe_every = 2;
      auto trunk = make_trunk(c, tiny_moe_spec<double>(c), position == PositionEncoding::rotary);
      const TokenBatch batch = tiny_batch();
      const ForwardContext ctx;
      const Matrix<double> G = random_matrix(9, 8, 1.0, 61);
      Matrix<double> e = trunk.embed(batch);
      const auto loss = [&] {
        const Matrix<double>& out = trunk.forward_embeddings(e, batch, ctx);
        return (out.array() * G.array()).sum() + static_cast<double>(trunk.aux_loss());
      };
      zero_grad(trunk);
      trunk.forward_embeddings(e, batch, ctx);
      const Matrix<double> de = trunk.backward(G, /*update_token_embedding=*/false);
      const Matrix<double> table_grad = trunk.token_embedding().weight().grad;
      BOOST_TEST(max_abs(table_grad) == 0.0);  // left to the caller
      const Matrix<double> numeric = numeric_gradient(e, loss);
      BOOST_TEST(relative_error(numeric, de) < 1e-7);
      BOOST_TEST(de.norm() > 1e-3);

      // Through the ids: the table's gradient is the scatter-add of ∂L/∂e, and matches FD.
      zero_grad(trunk);
      trunk.forward(batch, ctx);
      const Matrix<double> de_ids = trunk.backward(G);
      BOOST_TEST(max_abs(de_ids - de) < 1e-14);
      Matrix<double> scattered = Matrix<double>::Zero(c.vocab_size, c.d_model);
      for (std::size_t t = 0; t < batch.ids.size(); ++t) {
        scattered.row(batch.ids[t]) += de.row(static_cast<Index>(t));
      }
      const Matrix<double> table_analytic = trunk.token_embedding().weight().grad;
      BOOST_TEST(max_abs(table_analytic - scattered) < 1e-14);
      Matrix<double>& table = trunk.token_embedding().weight().value;
      const Matrix<double> table_numeric = numeric_gradient(table, [&] {
        const Matrix<double>& out = trunk.forward(batch, ctx);
        return (out.array() * G.array()).sum() + static_cast<double>(trunk.aux_loss());
      });
      BOOST_TEST(relative_error(table_numeric, table_analytic) < 1e-7);
    }
  }
}

BOOST_AUTO_TEST_CASE(aux_loss_sums_the_moe_blocks) {
  TransformerConfig c = tiny_config();
  c.num_layers = 4;
  c.moe_every = 2;
  auto trunk = make_trunk(c, tiny_moe_spec<double>(c));
  BOOST_TEST(trunk.aux_loss() == 0.0);  // before a forward
  trunk.forward(tiny_batch(), ForwardContext{});
  std::vector<Index> moe_layers;
  double sum = 0;
  trunk.for_each_moe([&](Index layer, auto& moe) {
    moe_layers.push_back(layer);
    sum += moe.routing().aux_loss;
  });
  BOOST_TEST(moe_layers == (std::vector<Index>{1, 3}), boost::test_tools::per_element());
  BOOST_TEST(trunk.block(0).aux_loss() == 0.0);
  BOOST_TEST(trunk.block(2).aux_loss() == 0.0);
  BOOST_TEST(trunk.block(1).aux_loss() > 0.0);
  BOOST_TEST(trunk.block(3).aux_loss() > 0.0);
  BOOST_TEST(trunk.aux_loss() == trunk.block(1).aux_loss() + trunk.block(3).aux_loss());
  BOOST_TEST(trunk.aux_loss() == sum);
  const auto& const_trunk = trunk;
  Index visited = 0;
  const_trunk.for_each_moe([&](Index, const auto&) { ++visited; });
  BOOST_TEST(visited == 2);

  auto dense = make_trunk(c, tiny_dense_spec<double>(c));
  dense.forward(tiny_batch(), ForwardContext{});
  BOOST_TEST(dense.aux_loss() == 0.0);
}

BOOST_AUTO_TEST_CASE(set_inference_k_counts_the_changed_blocks) {
  TransformerConfig c = tiny_config();
  c.num_layers = 4;
  c.moe_every = 2;
  auto trunk = make_trunk(c, tiny_moe_spec<double>(c));
  const TokenBatch batch = tiny_batch();
  BOOST_TEST(trunk.set_inference_k(1) == 2);
  trunk.forward(batch, ForwardContext{});
  trunk.for_each_moe([](Index, auto& moe) {
    BOOST_TEST(moe.routing().k == 1);
    BOOST_TEST(moe.routing().selected.cols() == 1);
  });
  trunk.forward(batch, context(/*training=*/true));  // training keeps k = 2
  trunk.for_each_moe([](Index, auto& moe) { BOOST_TEST(moe.routing().k == 2); });
  BOOST_TEST(trunk.set_inference_k(4) == 2);
  trunk.forward(batch, ForwardContext{});
  trunk.for_each_moe([](Index, auto& moe) { BOOST_TEST(moe.routing().k == 4); });
  CHECK_THROWS_NAMING(trunk.set_inference_k(5), "5");
  CHECK_THROWS_NAMING(trunk.set_inference_k(0), "0");

  // A router without an inference k (hash routing) is left alone.
  using HashMoE = MoELayer<HashRouter<double>, SwiGLUExpert<double>>;
  FeedForwardSpec<HashMoE> hash;
  hash.router.input_dim = c.d_model;
  hash.router.num_experts = 3;
  hash.router.vocab_size = c.vocab_size;
  hash.moe.expert.d_model = c.d_model;
  hash.moe.expert.d_ff = 4;
  auto hashed = make_trunk(c, hash);
  BOOST_TEST(hashed.set_inference_k(1) == 0);
  hashed.forward(batch, ForwardContext{});  // hash routing reads the token ids the trunk passes
  hashed.for_each_moe(
      [&](Index, auto& moe) { BOOST_TEST(moe.routing().num_assignments() == batch.num_tokens()); });
}

BOOST_AUTO_TEST_CASE(embedding_dropout_is_seeded_and_training_only) {
  TransformerConfig c = tiny_config();
  c.dropout = 0.3;
  auto trunk = make_trunk(c, tiny_moe_spec<double>(c));
  const TokenBatch batch = tiny_batch();
  trunk.forward(batch, ForwardContext{});
  const Matrix<double> h0_eval = trunk.hidden_state(0);
  trunk.forward(batch, context(true, 8));
  const Matrix<double> h0_train = trunk.hidden_state(0);
  Index zeros = 0;
  for (Index i = 0; i < h0_train.size(); ++i) {
    const double v = h0_train.data()[i];
    if (v == 0.0) {
      ++zeros;
    } else {
      BOOST_TEST(std::abs(v - h0_eval.data()[i] / 0.7) < 1e-12);
    }
  }
  BOOST_TEST(zeros > 0);
  trunk.forward(batch, context(true, 8));
  BOOST_TEST(max_abs(trunk.hidden_state(0) - h0_train) == 0.0);
  trunk.forward(batch, context(true, 9));
  BOOST_TEST(max_abs(trunk.hidden_state(0) - h0_train) > 0.0);
}

BOOST_AUTO_TEST_CASE(bad_input_is_rejected) {
  const TransformerConfig c = tiny_config();
  auto trunk = make_trunk(c, tiny_moe_spec<double>(c));
  CHECK_THROWS_NAMING((void)trunk.hidden_state(0),
                      "TransformerTrunk::hidden_state: no forward yet");
  CHECK_THROWS_NAMING(trunk.backward(Matrix<double>::Zero(9, 8)), "called before forward");
  CHECK_THROWS_NAMING((void)trunk.last_input(), "no forward yet");

  TokenBatch too_long = tiny_batch();
  too_long.push_back(std::vector<std::int32_t>(17, 2));
  CHECK_THROWS_NAMING(trunk.forward(too_long, ForwardContext{}),
                      "a sequence has 17 tokens, more than max_positions = 16");
  TokenBatch at_limit;
  at_limit.push_back(std::vector<std::int32_t>(16, 2));
  BOOST_CHECK_NO_THROW(trunk.forward(at_limit, ForwardContext{}));

  const TokenBatch batch = tiny_batch();
  CHECK_THROWS_NAMING(trunk.forward_embeddings(Matrix<double>::Zero(8, 8), batch, ForwardContext{}),
                      "word_embeddings has shape 8×8, expected 9×8");
  CHECK_THROWS_NAMING(trunk.forward_embeddings(Matrix<double>::Zero(9, 7), batch, ForwardContext{}),
                      "word_embeddings");
  trunk.forward(batch, ForwardContext{});
  CHECK_THROWS_NAMING(trunk.backward(Matrix<double>::Zero(9, 7)), "d_out");

  TokenBatch inconsistent = batch;
  inconsistent.ids.pop_back();
  CHECK_THROWS_NAMING(trunk.embed(inconsistent), "TransformerTrunk::embed");

  TransformerConfig bad = c;
  bad.num_layers = 0;
  CHECK_THROWS_NAMING((Trunk<TestMoE<double>>(bad, tiny_moe_spec<double>(c), false)),
                      "TransformerTrunk: TransformerConfig::num_layers = 0");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_models_transformer_trunk
