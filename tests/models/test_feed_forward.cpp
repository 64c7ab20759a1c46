// Tests for include/moerb/models/feed_forward.hpp
#include "moerb/models/feed_forward.hpp"

#include <boost/test/unit_test.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "moerb/experts/ffn_expert.hpp"
#include "moerb/routing/bias_balanced_router.hpp"
#include "support/model_testing.hpp"
#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_models_feed_forward {

using namespace moerb;
using namespace moerb::test;

namespace {

using Moe = TestMoE<double>;
using Dense = TestDense<double>;
using FFNMoe = MoELayer<TopKRouter<double>, FFNExpert<double>>;

static_assert(FeedForwardLayer<Moe> && FeedForwardLayer<Dense> && FeedForwardLayer<FFNMoe>);
static_assert(!FeedForwardLayer<SwiGLUExpert<double>> && !FeedForwardLayer<TopKRouter<double>>);
static_assert(std::is_same_v<FeedForwardSlot<Moe>::Dense, Dense>);
static_assert(std::is_same_v<FeedForwardSlot<Moe>::Scalar, double>);

TransformerConfig config() {
  return tiny_config();
}

template <class FFN>
std::vector<std::string> names_of(FeedForwardSlot<FFN>& slot, std::string_view prefix) {
  std::vector<std::string> names;
  slot.visit_parameters(
      [&](std::string_view name, Parameter<double>&) { names.emplace_back(name); }, prefix);
  return names;
}

template <class L>
std::vector<Matrix<double>> grads_of(L& layer) {
  std::vector<Matrix<double>> g;
  layer.visit_parameters([&](std::string_view, Parameter<double>& p) { g.push_back(p.grad); }, "");
  return g;
}
template <class L>
std::vector<Matrix<double>> values_of(L& layer) {
  std::vector<Matrix<double>> v;
  layer.visit_parameters([&](std::string_view, Parameter<double>& p) { v.push_back(p.value); }, "");
  return v;
}

double max_difference(const std::vector<Matrix<double>>& a, const std::vector<Matrix<double>>& b) {
  BOOST_REQUIRE(a.size() == b.size());
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    BOOST_REQUIRE(a[i].rows() == b[i].rows() && a[i].cols() == b[i].cols());
    if (a[i].size() > 0) d = std::max(d, (a[i] - b[i]).cwiseAbs().maxCoeff());
  }
  return d;
}

/// Runs the slot and `direct` (a layer built and initialised like the slot's) on the same input
/// and requires identical outputs, input gradients, parameter gradients and aux losses.
template <class FFN, class Layer>
void check_delegation(FeedForwardSlot<FFN>& slot, Layer& direct) {
  Rng r1(5), r2(5);
  slot.initialize(r1);
  direct.initialize(r2);
  BOOST_TEST(max_difference(values_of(slot), values_of(direct)) == 0.0);
  const Matrix<double> x = random_matrix(7, 8, 1.0, 21);
  const Matrix<double> dy = random_matrix(7, 8, 1.0, 22);
  const ForwardContext ctx = context(/*training=*/true, 9);
  zero_grad(slot);
  zero_grad(direct);
  const Matrix<double> y_slot = slot.forward(x, ctx);
  const Matrix<double> y_direct = direct.forward(x, ctx);
  BOOST_TEST((y_slot - y_direct).cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST(y_slot.norm() > 1e-3);
  BOOST_TEST(slot.aux_loss() == direct.aux_loss());
  const Matrix<double> dx_slot = slot.backward(x, dy);
  const Matrix<double> dx_direct = direct.backward(x, dy);
  BOOST_TEST((dx_slot - dx_direct).cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST(dx_slot.norm() > 1e-3);
  BOOST_TEST(max_difference(grads_of(slot), grads_of(direct)) == 0.0);
  BOOST_TEST(slot.flops_per_token() == direct.flops_per_token());
  BOOST_TEST(slot.input_dim() == 8);
  BOOST_TEST(slot.output_dim() == 8);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(feed_forward)

BOOST_AUTO_TEST_CASE(sparse_and_dense_placement) {
  const auto spec = tiny_moe_spec<double>(config());
  FeedForwardSlot<Moe> sparse(spec, true);
  FeedForwardSlot<Moe> dense(spec, false);
  BOOST_TEST(sparse.is_sparse());
  BOOST_REQUIRE(sparse.sparse() != nullptr);
  BOOST_TEST(sparse.sparse()->num_experts() == 4);
  BOOST_TEST(sparse.sparse()->router().k() == 2);
  BOOST_TEST(!dense.is_sparse());
  BOOST_TEST(dense.sparse() == nullptr);
  const auto& const_dense = dense;
  BOOST_TEST(const_dense.sparse() == nullptr);
  const auto& const_sparse = sparse;
  BOOST_TEST(const_sparse.sparse() == sparse.sparse());
  BOOST_TEST(sparse.visit([](const auto& l) { return is_moe_layer_v<std::decay_t<decltype(l)>>; }));
  BOOST_TEST(dense.visit([](const auto& l) { return is_dense_ffn_v<std::decay_t<decltype(l)>>; }));

  // A dense model's slot is its DenseFFN whatever the placement says.
  const auto dense_spec = tiny_dense_spec<double>(config());
  for (bool placement : {true, false}) {
    FeedForwardSlot<Dense> slot(dense_spec, placement);
    BOOST_TEST(!slot.is_sparse());
    BOOST_TEST(slot.sparse() == nullptr);
    slot.visit([](Dense& d) { BOOST_TEST(d.hidden_dim() == 12); });
  }
}

BOOST_AUTO_TEST_CASE(default_dense_options_are_the_experts) {
  auto spec = tiny_moe_spec<double>(config());
  spec.moe.expert.bias = true;
  spec.moe.expert.expert_dropout = 0.25;
  BOOST_TEST(spec.dense.d_model == 0);
  FeedForwardSlot<Moe> dense(spec, false);
  dense.visit([&](auto& l) {
    if constexpr (is_dense_ffn_v<std::decay_t<decltype(l)>>) {
      const auto& o = l.block().options();
      BOOST_TEST(o.d_model == 8);
      BOOST_TEST(o.d_ff == 6);
      BOOST_TEST(o.bias);
      BOOST_TEST(o.expert_dropout == 0.25);
    } else {
      BOOST_FAIL("expected the dense alternative");
    }
  });
  // One expert's parameter count, no router.
  BOOST_TEST(parameter_count(dense) == SwiGLUExpert<double>::parameter_count(spec.moe.expert));

  // Given dense options win.
  spec.dense.d_model = 8;
  spec.dense.d_ff = 10;
  FeedForwardSlot<Moe> wide(spec, false);
  wide.visit([&](auto& l) {
    if constexpr (is_dense_ffn_v<std::decay_t<decltype(l)>>) {
      BOOST_TEST(l.hidden_dim() == 10);
      BOOST_TEST(!l.block().options().bias);
    } else {
      BOOST_FAIL("expected the dense alternative");
    }
  });
  // The sparse blocks keep the experts' options.
  FeedForwardSlot<Moe> sparse(spec, true);
  BOOST_TEST(sparse.sparse()->expert(0).hidden_dim() == 6);
}

BOOST_AUTO_TEST_CASE(parameter_names) {
  auto spec = tiny_moe_spec<double>(config(), 3);
  FeedForwardSlot<Moe> sparse(spec, true);
  const std::vector<std::string> sparse_names = {
      "blocks.1.ffn.router.weight",   "blocks.1.ffn.experts.0.w_gate_up",
      "blocks.1.ffn.experts.0.w_out", "blocks.1.ffn.experts.1.w_gate_up",
      "blocks.1.ffn.experts.1.w_out", "blocks.1.ffn.experts.2.w_gate_up",
      "blocks.1.ffn.experts.2.w_out"};
  BOOST_TEST(names_of(sparse, "blocks.1.ffn") == sparse_names, boost::test_tools::per_element());

  FeedForwardSlot<Moe> dense(spec, false);
  const std::vector<std::string> dense_names = {"blocks.0.ffn.w_gate_up", "blocks.0.ffn.w_out"};
  BOOST_TEST(names_of(dense, "blocks.0.ffn") == dense_names, boost::test_tools::per_element());

  // FFN experts with biases, no prefix.
  FeedForwardSpec<FFNMoe> ffn_spec;
  ffn_spec.router.input_dim = 8;
  ffn_spec.router.num_experts = 2;
  ffn_spec.moe.expert.d_model = 8;
  ffn_spec.moe.expert.d_ff = 4;
  FeedForwardSlot<FFNMoe> ffn_sparse(ffn_spec, true);
  const std::vector<std::string> ffn_sparse_names = {
      "router.weight",  "experts.0.w_in", "experts.0.b_in",  "experts.0.w_out", "experts.0.b_out",
      "experts.1.w_in", "experts.1.b_in", "experts.1.w_out", "experts.1.b_out"};
  BOOST_TEST(names_of(ffn_sparse, "") == ffn_sparse_names, boost::test_tools::per_element());
  FeedForwardSlot<FFNMoe> ffn_dense(ffn_spec, false);
  const std::vector<std::string> ffn_dense_names = {"w_in", "b_in", "w_out", "b_out"};
  BOOST_TEST(names_of(ffn_dense, "") == ffn_dense_names, boost::test_tools::per_element());

  // A dense model's block: the expert's names directly under the prefix.
  FeedForwardSlot<Dense> dense_model(tiny_dense_spec<double>(config()), true);
  BOOST_TEST(
      names_of(dense_model, "ffn") == (std::vector<std::string>{"ffn.w_gate_up", "ffn.w_out"}),
      boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(buffers_are_the_sparse_layers) {
  using BiasMoe = MoELayer<BiasBalancedRouter<double>, SwiGLUExpert<double>>;
  FeedForwardSpec<BiasMoe> spec;
  spec.router.input_dim = 8;
  spec.router.num_experts = 4;
  spec.moe.expert.d_model = 8;
  spec.moe.expert.d_ff = 6;
  const auto buffer_names = [](FeedForwardSlot<BiasMoe>& slot) {
    std::vector<std::string> names;
    slot.visit_buffers(
        [&](std::string_view n, Matrix<double>& b) {
          names.emplace_back(n);
          BOOST_TEST(b.cols() == 4);
        },
        "ffn");
    return names;
  };
  FeedForwardSlot<BiasMoe> sparse(spec, true);
  FeedForwardSlot<BiasMoe> dense(spec, false);
  BOOST_TEST(buffer_names(sparse) == std::vector<std::string>{"ffn.router.bias"},
             boost::test_tools::per_element());
  BOOST_TEST(buffer_names(dense).empty());
}

BOOST_AUTO_TEST_CASE(sparse_slot_delegates_to_the_moe_layer) {
  auto spec = tiny_moe_spec<double>(config());
  spec.moe.expert.expert_dropout = 0.2;  // the slot must pass ctx (and its rng) through
  spec.router.jitter = 0.1;
  FeedForwardSlot<Moe> slot(spec, true);
  Moe direct(spec.router, spec.moe);
  check_delegation(slot, direct);
  BOOST_TEST(slot.aux_loss() > 0.0);
  BOOST_TEST(slot.aux_loss() == slot.sparse()->routing().aux_loss);
}

BOOST_AUTO_TEST_CASE(dense_slot_delegates_to_the_dense_layer) {
  auto spec = tiny_moe_spec<double>(config());
  spec.moe.expert.expert_dropout = 0.2;
  FeedForwardSlot<Moe> slot(spec, false);
  Dense direct(spec.moe.expert);
  BOOST_TEST(slot.aux_loss() == 0.0);
  check_delegation(slot, direct);
  BOOST_TEST(slot.aux_loss() == 0.0);

  FeedForwardSlot<Dense> model_slot(tiny_dense_spec<double>(config()), true);
  Dense model_direct(tiny_dense_spec<double>(config()).dense);
  check_delegation(model_slot, model_direct);
  BOOST_TEST(model_slot.aux_loss() == 0.0);
}

BOOST_AUTO_TEST_CASE(construction_errors_come_from_the_layer) {
  auto spec = tiny_moe_spec<double>(config());
  spec.router.k = 5;  // more than the 4 experts
  BOOST_CHECK_THROW(FeedForwardSlot<Moe>(spec, true), moerb::error);
  // The dense blocks do not build a router.
  BOOST_CHECK_NO_THROW(FeedForwardSlot<Moe>(spec, false));
  auto mismatch = tiny_moe_spec<double>(config());
  mismatch.moe.expert.d_model = 6;
  CHECK_THROWS_NAMING(FeedForwardSlot<Moe>(mismatch, true), "input_dim");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_models_feed_forward
