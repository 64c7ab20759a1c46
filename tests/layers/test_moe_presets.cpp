// Tests for include/moerb/layers/moe_presets.hpp: every named composition builds, runs forward and
// backward, and is the MoELayer it claims to be.
#include <boost/test/unit_test.hpp>
#include <type_traits>

#include "moerb/layers/moe_presets.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_layers_moe_presets {

using namespace moerb;

namespace {

constexpr Index kT = 16, kD = 8, kFF = 12, kE = 4;

Matrix<float> random_input(std::uint64_t seed) {
  Rng rng(seed);
  Matrix<float> x(kT, kD);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(rng.normal());
  return x;
}

template <class Layer>
void run_forward_backward(Layer& layer, const ForwardContext& ctx) {
  Rng rng(5);
  layer.initialize(rng);
  const Matrix<float> x = random_input(1);
  const Matrix<float>& y = layer.forward(x, ctx);
  BOOST_TEST(y.rows() == kT);
  BOOST_TEST(y.cols() == kD);
  BOOST_TEST(y.allFinite());
  BOOST_TEST(y.norm() > 0.0f);
  const Matrix<float> dy = random_input(2);
  const Matrix<float>& dx = layer.backward(x, dy);
  BOOST_TEST(dx.rows() == kT);
  BOOST_TEST(dx.allFinite());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(moe_presets)

BOOST_AUTO_TEST_CASE(aliases_name_the_expected_compositions) {
  static_assert(
      std::is_same_v<SwitchMoE<float>, MoELayer<SwitchRouter<float>, SwiGLUExpert<float>>>);
  static_assert(std::is_same_v<MixtralMoE<double>::RouterType, MixtralRouter<double>>);
  static_assert(std::is_same_v<GShardMoE<float>::ExpertType, FFNExpert<float>>);
  static_assert(std::is_same_v<DeepSeekMoE<float>::RouterType, BiasBalancedRouter<float>>);
  BOOST_TEST(true);
}

BOOST_AUTO_TEST_CASE(token_choice_presets_run) {
  const ForwardContext train{.training = true, .rng = Rng(3)};
  SwitchMoE<float> sw(SwitchRouter<float>::Options{.input_dim = kD, .num_experts = kE},
                      {.expert = {.d_model = kD, .d_ff = kFF}});
  run_forward_backward(sw, train);
  GShardMoE<float> gs(TopKRouter<float>::Options{.input_dim = kD, .num_experts = kE},
                      {.expert = {.d_model = kD, .d_ff = kFF}});
  run_forward_backward(gs, train);
  MixtralMoE<float> mx(MixtralRouter<float>::Options{.input_dim = kD, .num_experts = kE},
                       {.expert = {.d_model = kD, .d_ff = kFF}});
  run_forward_backward(mx, train);
  NoisyTopKMoE<float> nz(NoisyTopKRouter<float>::Options{.input_dim = kD, .num_experts = kE},
                         {.expert = {.d_model = kD, .d_ff = kFF}});
  run_forward_backward(nz, train);
  DeepSeekMoE<float> ds(BiasBalancedRouter<float>::Options{.input_dim = kD, .num_experts = kE},
                        {.expert = {.d_model = kD, .d_ff = kFF}, .num_shared_experts = 1});
  run_forward_backward(ds, train);
  BOOST_TEST(ds.num_shared_experts() == 1);
  RandomGateMoE<float> rg(RandomRouter<float>::Options{.input_dim = kD, .num_experts = kE},
                          {.expert = {.d_model = kD, .d_ff = kFF}});
  run_forward_backward(rg, train);
}

BOOST_AUTO_TEST_CASE(other_presets_run) {
  const ForwardContext train{.training = true, .rng = Rng(3)};
  ExpertChoiceMoE<float> ec(ExpertChoiceRouter<float>::Options{.input_dim = kD, .num_experts = kE},
                            {.expert = {.d_model = kD, .d_ff = kFF}});
  run_forward_backward(ec, train);
  BaseMoE<float> base(BalancedRouter<float>::Options{.input_dim = kD, .num_experts = kE},
                      {.expert = {.d_model = kD, .d_ff = kFF}});
  run_forward_backward(base, train);
  for (Index l : base.routing().load) BOOST_TEST(l == kT / kE);  // balanced in training
  HashMoE<float> hash(
      HashRouter<float>::Options{.input_dim = kD, .num_experts = kE, .vocab_size = 50},
      {.expert = {.d_model = kD, .d_ff = kFF}});
  std::vector<std::int32_t> ids(kT);
  for (Index t = 0; t < kT; ++t)
    ids[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(3 * t % 50);
  run_forward_backward(hash, ForwardContext{.token_ids = ids});
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_layers_moe_presets
