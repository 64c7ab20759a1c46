// Tests for include/moerb/models/transformer_block.hpp
#include "moerb/models/transformer_block.hpp"

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "moerb/nn/layer_norm.hpp"
#include "moerb/nn/rms_norm.hpp"
#include "support/gradcheck.hpp"
#include "support/model_testing.hpp"
#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_models_transformer_block {

using namespace moerb;
using namespace moerb::test;

namespace {

template <class FFN, template <class> class Norm = LayerNorm>
TransformerBlock<FFN, Norm> make_block(const TransformerConfig& c, const FeedForwardSpec<FFN>& spec,
                                       Index layer, bool causal) {
  TransformerBlock<FFN, Norm> block(c, spec, layer, causal);
  Rng rng(7);
  block.initialize(rng);
  // Perturb every parameter (norm weights and biases included) so that every path carries a
  // visible gradient.
  std::uint64_t seed = 200;
  block.visit_parameters(
      [&](std::string_view, Parameter<double>& p) {
        p.value += random_matrix(p.value.rows(), p.value.cols(), 0.3, seed++);
      },
      "");
  return block;
}

const SequenceBatch& layout() {
  static const SequenceBatch b = SequenceBatch::from_lengths({5, 1, 3});
  return b;
}

/// L = Σ y ⊙ G + aux_loss; checks ∂L/∂x and every parameter against central differences.
template <class Block>
void check_block_gradients(Block& block, const ForwardContext& ctx) {
  const SequenceBatch& batch = layout();
  Matrix<double> x = random_matrix(batch.num_tokens(), 8, 1.0, 31);
  const Matrix<double> G = random_matrix(batch.num_tokens(), 8, 1.0, 32);
  const auto loss = [&] {
    const Matrix<double>& y = block.forward(x, batch, ctx);
    return (y.array() * G.array()).sum() + static_cast<double>(block.aux_loss());
  };
  const auto backward = [&](Matrix<double>& dx) {
    block.forward(x, batch, ctx);
    dx = block.backward(x, G);
  };
  const auto results = check_gradients(block, x, loss, backward, 1e-6);
  for (const auto& r : results) BOOST_TEST_MESSAGE("  " << r.name << ": " << r.rel_error);
  Index checked = 0;
  block.visit_parameters([&](std::string_view, Parameter<double>&) { ++checked; }, "");
  BOOST_TEST(static_cast<Index>(results.size()) == checked + 1);  // + the input
}

std::vector<std::string> names_of(auto& block) {
  std::vector<std::string> names;
  block.visit_parameters([&](std::string_view n, Parameter<double>&) { names.emplace_back(n); },
                         "blocks.0");
  return names;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(transformer_block)

BOOST_AUTO_TEST_CASE(moe_block_gradients_match_finite_differences) {
  const TransformerConfig c = tiny_config();
  for (bool causal : {false, true}) {
    BOOST_TEST_CONTEXT("causal " << causal) {
      auto block = make_block(c, tiny_moe_spec<double>(c), 0, causal);
      BOOST_REQUIRE(block.ffn().is_sparse());
      check_block_gradients(block, ForwardContext{});
      block.forward(random_matrix(9, 8, 1.0, 31), layout(), ForwardContext{});
      BOOST_TEST(block.aux_loss() > 0.0);  // the aux-loss gradients were part of the check
    }
  }
}

BOOST_AUTO_TEST_CASE(dense_slot_gradients_match_finite_differences) {
  TransformerConfig c = tiny_config();
  c.moe_every = 2;  // block 0 of an MoE model is dense
  for (bool causal : {false, true}) {
    BOOST_TEST_CONTEXT("causal " << causal) {
      auto block = make_block(c, tiny_moe_spec<double>(c), 0, causal);
      BOOST_REQUIRE(!block.ffn().is_sparse());
      check_block_gradients(block, ForwardContext{});
      BOOST_TEST(block.aux_loss() == 0.0);
    }
  }
  // A dense model's block, with rotary positions and RMSNorm.
  TransformerConfig rotary = tiny_config(PositionEncoding::rotary);
  rotary.attention_bias = false;
  auto block =
      make_block<TestDense<double>, RMSNorm>(rotary, tiny_dense_spec<double>(rotary), 1, true);
  check_block_gradients(block, ForwardContext{});
}

BOOST_AUTO_TEST_CASE(gradients_with_dropout_match_finite_differences) {
  // Training forwards with one ctx draw the same masks each time, so the objective is smooth.
  TransformerConfig c = tiny_config();
  c.dropout = 0.2;
  c.attention_dropout = 0.1;
  auto block = make_block(c, tiny_moe_spec<double>(c), 0, false);
  check_block_gradients(block, context(/*training=*/true, 3));
}

BOOST_AUTO_TEST_CASE(parameter_names) {
  const TransformerConfig c = tiny_config();
  auto sparse = make_block(c, tiny_moe_spec<double>(c, 2), 0, false);
  const std::vector<std::string> expected = {
      "blocks.0.attn_norm.weight",    "blocks.0.attn_norm.bias",
      "blocks.0.attention.w_qkv",     "blocks.0.attention.b_qkv",
      "blocks.0.attention.w_out",     "blocks.0.attention.b_out",
      "blocks.0.ffn_norm.weight",     "blocks.0.ffn_norm.bias",
      "blocks.0.ffn.router.weight",   "blocks.0.ffn.experts.0.w_gate_up",
      "blocks.0.ffn.experts.0.w_out", "blocks.0.ffn.experts.1.w_gate_up",
      "blocks.0.ffn.experts.1.w_out"};
  BOOST_TEST(names_of(sparse) == expected, boost::test_tools::per_element());
  TransformerConfig no_bias = c;
  no_bias.attention_bias = false;
  auto dense = make_block<TestDense<double>, RMSNorm>(no_bias, tiny_dense_spec<double>(c), 0, true);
  const std::vector<std::string> dense_expected = {
      "blocks.0.attn_norm.weight", "blocks.0.attention.w_qkv", "blocks.0.attention.w_out",
      "blocks.0.ffn_norm.weight",  "blocks.0.ffn.w_gate_up",   "blocks.0.ffn.w_out"};
  BOOST_TEST(names_of(dense) == dense_expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(zero_output_projections_make_the_block_the_identity) {
  TransformerConfig c = tiny_config();
  c.dropout = 0.3;
  c.attention_dropout = 0.2;
  c.moe_every = 2;
  const Matrix<double> x = random_matrix(9, 8, 1.0, 41);
  for (Index layer : {0, 1}) {  // dense, sparse
    BOOST_TEST_CONTEXT("block " << layer) {
      auto block = make_block(c, tiny_moe_spec<double>(c), layer, true);
      BOOST_TEST(block.ffn().is_sparse() == (layer == 1));
      // Not the identity before.
      BOOST_TEST((block.forward(x, layout(), ForwardContext{}) - x).norm() > 1e-3);
      block.attention().w_out().value.setZero();
      block.attention().b_out().value.setZero();
      block.ffn().visit_parameters(
          [](std::string_view name, Parameter<double>& p) {
            if (name.ends_with("w_out")) p.value.setZero();
          },
          "");
      for (bool training : {false, true}) {
        const Matrix<double>& y = block.forward(x, layout(), context(training, 5));
        BOOST_TEST((y - x).cwiseAbs().maxCoeff() == 0.0, "training " << training);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(dropout_is_seeded_and_off_in_evaluation) {
  TransformerConfig c = tiny_config();
  c.dropout = 0.25;
  TransformerConfig no_dropout = c;
  no_dropout.dropout = 0.0;
  auto block = make_block(c, tiny_moe_spec<double>(c), 0, false);
  auto plain = make_block(no_dropout, tiny_moe_spec<double>(c), 0, false);
  const Matrix<double> x = random_matrix(9, 8, 1.0, 51);

  const Matrix<double> a = block.forward(x, layout(), context(true, 1));
  const Matrix<double> a_again = block.forward(x, layout(), context(true, 1));
  const Matrix<double> b = block.forward(x, layout(), context(true, 2));
  BOOST_TEST((a - a_again).cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST((a - b).norm() > 1e-6);
  // A copy of the block draws the same masks from the same seed.
  auto copy = block;
  BOOST_TEST((copy.forward(x, layout(), context(true, 1)) - a).cwiseAbs().maxCoeff() == 0.0);

  // Evaluation: no dropout, whatever the seed; equal to the same block without dropout.
  const Matrix<double> e1 = block.forward(x, layout(), context(false, 1));
  const Matrix<double> e2 = block.forward(x, layout(), context(false, 2));
  BOOST_TEST((e1 - e2).cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST((e1 - plain.forward(x, layout(), context(false, 1))).cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST((a - e1).norm() > 1e-6);
  // Training without dropout is the evaluation forward (no router noise configured).
  BOOST_TEST((plain.forward(x, layout(), context(true, 1)) - e1).cwiseAbs().maxCoeff() == 0.0);
}

BOOST_AUTO_TEST_CASE(bad_feed_forward_width_is_rejected) {
  const TransformerConfig c = tiny_config();
  TransformerConfig narrow = c;
  narrow.d_model = 6;
  const auto spec = tiny_moe_spec<double>(narrow);  // experts and router of width 6
  using Block = TransformerBlock<TestMoE<double>, LayerNorm>;
  CHECK_THROWS_NAMING(Block(c, spec, 3, false),
                      "TransformerBlock 3: the feed-forward layer maps 6 -> 6, expected d_model = "
                      "8 -> 8");
  auto block = make_block(c, tiny_moe_spec<double>(c), 0, false);
  CHECK_THROWS_NAMING(block.forward(random_matrix(8, 8, 1.0, 1), layout(), ForwardContext{}),
                      "9 tokens");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_models_transformer_block
