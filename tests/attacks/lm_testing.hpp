#pragma once
// Tiny language models shared by the GCG and language-model goal suites.
#include <cstdint>
#include <string_view>

#include "moerb/core/parameter.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/models/decoder_lm.hpp"
#include "support/model_testing.hpp"

namespace moerb::test {

/// A tiny DecoderLM in double (tiny_config without segments: vocabulary 13) whose parameters are
/// pushed away from their small initial values, so that its logits differ clearly between tokens.
template <class FFN>
DecoderLM<FFN> perturbed_tiny_lm(const FeedForwardSpec<FFN>& spec, std::uint64_t seed) {
  typename DecoderLM<FFN>::Options o;
  o.transformer = tiny_config();
  o.transformer.num_segments = 0;
  DecoderLM<FFN> lm(o, spec);
  Rng rng(seed);
  lm.initialize(rng);
  Rng noise(seed + 1);
  lm.visit_parameters(
      [&](std::string_view, Parameter<double>& p) {
        for (Index i = 0; i < p.value.size(); ++i) p.value.data()[i] += noise.uniform(-0.4, 0.4);
      },
      "");
  return lm;
}

/// tiny_moe_spec for the tiny LM, with or without the auxiliary losses.
inline FeedForwardSpec<TestMoE<double>> tiny_lm_moe_spec(bool aux_losses) {
  auto spec = tiny_moe_spec<double>(tiny_config());
  if (!aux_losses) {
    spec.router.load_balancing_weight = 0;
    spec.router.z_loss_weight = 0;
  }
  return spec;
}

}  // namespace moerb::test
