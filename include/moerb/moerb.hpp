#pragma once
// moerb: header-only C++20 templates for sparse Mixture-of-Experts models and their reliability
// (after MoE-RBench, ICML 2024). This umbrella header includes every public header; include single
// headers instead to keep compile times down.

// core: array types, errors and argument checks, random numbers, parameters, forward context
#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"

// kernels: xsimd softmax / log-softmax / logsumexp, top-k, activations (with scalar references)
#include "moerb/kernels/activation.hpp"
#include "moerb/kernels/softmax.hpp"
#include "moerb/kernels/topk.hpp"

// routing: the Router concept, the Routing result and the gating policies
#include "moerb/routing/balanced_router.hpp"
#include "moerb/routing/bias_balanced_router.hpp"
#include "moerb/routing/expert_choice_router.hpp"
#include "moerb/routing/hash_router.hpp"
#include "moerb/routing/noisy_top_k_router.hpp"
#include "moerb/routing/random_router.hpp"
#include "moerb/routing/router.hpp"
#include "moerb/routing/routing.hpp"
#include "moerb/routing/top_k_router.hpp"

// experts: the Expert concept, two-layer FFN and gated (SwiGLU / GeGLU) experts
#include "moerb/experts/expert.hpp"
#include "moerb/experts/ffn_expert.hpp"
#include "moerb/experts/gated_expert.hpp"

// layers: the MoE layer, its dense counterpart, and named compositions
#include "moerb/layers/dense_ffn.hpp"
#include "moerb/layers/moe_layer.hpp"
#include "moerb/layers/moe_presets.hpp"
