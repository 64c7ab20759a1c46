#pragma once
// Named MoE layers: MoELayer<Router, Expert> compositions that carry the name of the paper whose
// gating they follow. They are plain aliases — any other combination of a moerb::Router and a
// moerb::Expert is just as valid.
#include "moerb/experts/ffn_expert.hpp"
#include "moerb/experts/gated_expert.hpp"
#include "moerb/layers/moe_layer.hpp"
#include "moerb/routing/balanced_router.hpp"
#include "moerb/routing/bias_balanced_router.hpp"
#include "moerb/routing/expert_choice_router.hpp"
#include "moerb/routing/hash_router.hpp"
#include "moerb/routing/noisy_top_k_router.hpp"
#include "moerb/routing/random_router.hpp"
#include "moerb/routing/top_k_router.hpp"

namespace moerb {

/// Switch Transformer (Fedus et al. 2021): top-1 with expert capacity, here with SwiGLU experts.
template <class S>
using SwitchMoE = MoELayer<SwitchRouter<S>, SwiGLUExpert<S>>;

/// GShard (Lepikhin et al. 2021): softmax, top-2 with renormalisation, two-layer FFN experts.
template <class S>
using GShardMoE = MoELayer<TopKRouter<S>, FFNExpert<S>>;

/// Mixtral (Jiang et al. 2024): softmax over the top-2 logits, SwiGLU experts.
template <class S>
using MixtralMoE = MoELayer<MixtralRouter<S>, SwiGLUExpert<S>>;

/// Sparsely-gated MoE (Shazeer et al. 2017): noisy top-k gating, FFN experts.
template <class S>
using NoisyTopKMoE = MoELayer<NoisyTopKRouter<S>, FFNExpert<S>>;

/// Expert choice (Zhou et al. 2022): experts pick their top tokens, FFN experts.
template <class S>
using ExpertChoiceMoE = MoELayer<ExpertChoiceRouter<S>, FFNExpert<S>>;

/// Hash layers (Roller et al. 2021): fixed routing by token id, FFN experts.
template <class S>
using HashMoE = MoELayer<HashRouter<S>, FFNExpert<S>>;

/// BASE layers (Lewis et al. 2021): balanced assignment in training, FFN experts.
template <class S>
using BaseMoE = MoELayer<BalancedRouter<S>, FFNExpert<S>>;

/// DeepSeekMoE / DeepSeek-V3 (Dai et al. 2024; DeepSeek-AI 2024): sigmoid affinities with
/// auxiliary-loss-free bias balancing, SwiGLU experts; set MoELayer::Options::num_shared_experts
/// for the always-active shared experts.
template <class S>
using DeepSeekMoE = MoELayer<BiasBalancedRouter<S>, SwiGLUExpert<S>>;

/// The random-gate baseline of the reliability study: k uniformly random experts per token.
template <class S>
using RandomGateMoE = MoELayer<RandomRouter<S>, SwiGLUExpert<S>>;

}  // namespace moerb
