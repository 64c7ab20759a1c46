// moe_demo: builds a Switch MoE layer and its dense counterpart, routes one batch through both and
// prints what a researcher looks at first: per-expert load, dropped tokens, the auxiliary losses,
// and the shapes and norms of the two outputs. Then it evaluates the same top-2 layer at k = 1 and
// k = 4 (the study's inference-time top-k override).
//
//   scripts/demo.sh            (installs what is missing, builds, runs this)
//   build/release/examples/moe_demo [tokens] [seed]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "moerb/moerb.hpp"

namespace {

using moerb::Index;
using Mat = moerb::Matrix<float>;

template <class Layer>
void print_routing(const char* title, const Layer& layer) {
  const moerb::Routing<float>& r = layer.routing();
  std::printf("%s\n  per-expert load:", title);
  for (Index e = 0; e < r.num_experts; ++e)
    std::printf(" %ld", static_cast<long>(r.load[static_cast<std::size_t>(e)]));
  std::printf("\n  dropped choices: %ld of %ld (drop rate %.3f), tokens with no expert: %ld\n",
              static_cast<long>(r.dropped), static_cast<long>(r.num_tokens * r.k), r.drop_rate(),
              static_cast<long>(r.unrouted_tokens));
  std::printf("  load-balancing loss %.4f, router z-loss %.4f, weighted aux loss %.5f\n",
              static_cast<double>(r.load_balancing_loss), static_cast<double>(r.z_loss),
              static_cast<double>(r.aux_loss));
}

}  // namespace

int main(int argc, char** argv) {
  const Index tokens = argc > 1 ? std::atol(argv[1]) : 512;
  const std::uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 2024;
  constexpr Index d_model = 64, d_ff = 128, experts = 8;
  if (tokens <= 0) {
    std::fprintf(stderr, "usage: moe_demo [tokens > 0] [seed]\n");
    return 2;
  }
  try {
    moerb::Rng rng(seed);
    Mat x(tokens, d_model);
    for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(rng.normal());

    // Switch Transformer layer: top-1 routing with capacity factor 1.0 in training.
    moerb::SwitchMoE<float> moe(moerb::SwitchRouter<float>::Options{.input_dim = d_model,
                                                                    .num_experts = experts,
                                                                    .capacity_factor = 1.0,
                                                                    .z_loss_weight = 1e-3},
                                {.expert = {.d_model = d_model, .d_ff = d_ff}});
    moerb::Rng init = rng.split(1);
    moe.initialize(init);

    // The dense counterpart with the same active parameter count per token.
    moerb::DenseFFN<moerb::SwiGLUExpert<float>> dense(moerb::dense_options_for_active_params(moe));
    moerb::Rng init_dense = rng.split(2);
    dense.initialize(init_dense);

    const moerb::ForwardContext train{.training = true, .rng = rng.split(3)};
    const Mat& y_moe = moe.forward(x, train);
    std::printf(
        "Switch MoE: %ld experts, d_model %ld, d_ff %ld; %ld total / %.0f active parameters\n",
        static_cast<long>(experts), static_cast<long>(d_model), static_cast<long>(d_ff),
        static_cast<long>(moe.total_parameter_count()), moe.active_parameter_count());
    print_routing("training forward, capacity factor 1.0:", moe);
    std::printf("  MoE output   %ld × %ld, Frobenius norm %.4f\n", static_cast<long>(y_moe.rows()),
                static_cast<long>(y_moe.cols()), static_cast<double>(y_moe.norm()));

    const Mat& y_dense = dense.forward(x, train);
    std::printf(
        "Dense SwiGLU FFN (d_ff %ld, %ld parameters)\n  dense output %ld × %ld, Frobenius norm "
        "%.4f\n",
        static_cast<long>(dense.block().hidden_dim()),
        static_cast<long>(moerb::parameter_count(dense)), static_cast<long>(y_dense.rows()),
        static_cast<long>(y_dense.cols()), static_cast<double>(y_dense.norm()));

    // A top-2 layer evaluated at its training k and with the inference-time override.
    moerb::MixtralMoE<float> top2(
        moerb::MixtralRouter<float>::Options{.input_dim = d_model, .num_experts = experts, .k = 2},
        {.expert = {.d_model = d_model, .d_ff = d_ff}});
    moerb::Rng init_top2 = rng.split(4);
    top2.initialize(init_top2);
    for (Index k : {2, 1, 4}) {
      top2.router().set_inference_k(k);
      const Mat& y = top2.forward(x, moerb::ForwardContext{});
      std::printf("Mixtral-style top-2 layer evaluated at k = %ld: output norm %.4f, load",
                  static_cast<long>(k), static_cast<double>(y.norm()));
      for (Index l : top2.routing().load) std::printf(" %ld", static_cast<long>(l));
      std::printf("\n");
    }
  } catch (const moerb::error& e) {
    std::fprintf(stderr, "moe_demo: %s\n", e.what());
    return 1;
  }
  return 0;
}
