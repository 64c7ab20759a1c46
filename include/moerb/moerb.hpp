#pragma once
// moerb: header-only C++20 templates for sparse Mixture-of-Experts models and their reliability
// (after MoE-RBench, ICML 2024). This umbrella header includes every public header of the core
// target moerb::moerb (Eigen, xsimd and the standard library only); <moerb/moerb_io.hpp> adds the
// data readers and checkpoints of moerb::io. Include single headers to keep compile times down.

// core: array types, errors and argument checks, random numbers, parameters, forward context
#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/gemm_engine.hpp"
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

// nn: transformer building blocks (packed sequence batches, embeddings, attention, norms, heads)
#include "moerb/nn/attention.hpp"
#include "moerb/nn/classification_head.hpp"
#include "moerb/nn/cross_entropy.hpp"
#include "moerb/nn/dropout.hpp"
#include "moerb/nn/embedding.hpp"
#include "moerb/nn/layer_norm.hpp"
#include "moerb/nn/linear.hpp"
#include "moerb/nn/lm_head.hpp"
#include "moerb/nn/pooling.hpp"
#include "moerb/nn/position_embedding.hpp"
#include "moerb/nn/rms_norm.hpp"
#include "moerb/nn/rotary.hpp"
#include "moerb/nn/sequence_batch.hpp"

// models: transformers with the feed-forward part as a template parameter, DoLa, generation
#include "moerb/models/decoder_lm.hpp"
#include "moerb/models/dola.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "moerb/models/feed_forward.hpp"
#include "moerb/models/generation.hpp"
#include "moerb/models/model_trace.hpp"
#include "moerb/models/token_batch.hpp"
#include "moerb/models/transformer_block.hpp"
#include "moerb/models/transformer_config.hpp"
#include "moerb/models/transformer_trunk.hpp"

// metrics: accumulators (MetricAccumulator, MetricSet), confidence intervals, and the metrics of
// classification, calibration, OOD detection, truthfulness, safety, routing and paired comparison
#include "moerb/metrics/accumulator.hpp"
#include "moerb/metrics/calibration.hpp"
#include "moerb/metrics/classification.hpp"
#include "moerb/metrics/classifier_judge.hpp"
#include "moerb/metrics/confidence.hpp"
#include "moerb/metrics/count_matrix.hpp"
#include "moerb/metrics/labeled_example.hpp"
#include "moerb/metrics/metric_set.hpp"
#include "moerb/metrics/ood.hpp"
#include "moerb/metrics/paired.hpp"
#include "moerb/metrics/routing.hpp"
#include "moerb/metrics/safety.hpp"
#include "moerb/metrics/truthfulness.hpp"

// evaluation: models run over data sets in batches, on every core, into metric accumulators
#include "moerb/evaluation/classifier_evaluation.hpp"
#include "moerb/evaluation/generation_evaluation.hpp"
#include "moerb/evaluation/multiple_choice_evaluation.hpp"
#include "moerb/evaluation/ood_evaluation.hpp"

// train: optimizers, schedules, clipping, recipes, FreeLB, the data-parallel trainer
#include "moerb/train/adamw.hpp"
#include "moerb/train/data_parallel.hpp"
#include "moerb/train/early_stopping.hpp"
#include "moerb/train/encoded_example.hpp"
#include "moerb/train/freelb.hpp"
#include "moerb/train/grad_clip.hpp"
#include "moerb/train/lr_schedule.hpp"
#include "moerb/train/optimizer.hpp"
#include "moerb/train/progress.hpp"
#include "moerb/train/recipe.hpp"
#include "moerb/train/sgd.hpp"
#include "moerb/train/trainer.hpp"

// attacks: textual attacks composed of a goal, transformations, constraints and a search; recipes;
// HotFlip, embedding PGD, GCG and the router attack
#include "moerb/attacks/attack.hpp"
#include "moerb/attacks/attack_result.hpp"
#include "moerb/attacks/attacked_text.hpp"
#include "moerb/attacks/character_transformations.hpp"
#include "moerb/attacks/constraint.hpp"
#include "moerb/attacks/embedding_gradient.hpp"
#include "moerb/attacks/embedding_pgd.hpp"
#include "moerb/attacks/gcg.hpp"
#include "moerb/attacks/goal.hpp"
#include "moerb/attacks/hotflip.hpp"
#include "moerb/attacks/language_model_constraint.hpp"
#include "moerb/attacks/lexical_constraints.hpp"
#include "moerb/attacks/lm_goals.hpp"
#include "moerb/attacks/recipes.hpp"
#include "moerb/attacks/router_attack.hpp"
#include "moerb/attacks/search.hpp"
#include "moerb/attacks/sentence_transformations.hpp"
#include "moerb/attacks/transformation.hpp"
#include "moerb/attacks/victim.hpp"
#include "moerb/attacks/word_constraints.hpp"
#include "moerb/attacks/word_embeddings.hpp"
#include "moerb/attacks/word_substitutions.hpp"
#include "moerb/attacks/wordnet_synonyms.hpp"

// text: UTF-8, vocabularies and tokenizers
#include "moerb/text/pre_tokenizer.hpp"
#include "moerb/text/tokenizer.hpp"
#include "moerb/text/utf8.hpp"
#include "moerb/text/vocabulary.hpp"
#include "moerb/text/word_tokenizer.hpp"
#include "moerb/text/wordpiece_tokenizer.hpp"
