#pragma once
// Recipe: a fine-tuning recipe as plain configuration — the knobs the MoE reliability study
// varies (MoE-RBench, Chen et al. ICML 2024: learning rate, batch size, router freezing, expert
// dropout, adversarial training) and the usual ones around them. Each knob names the paper it comes
// from.
//
// Knobs that shape the model (dropout, expert dropout, router loss weights, jitter) are applied
// when the model is built: apply_recipe(recipe, config, spec). Knobs that act during training
// (freezing, optimisation, adversarial training) are read by Trainer.
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/models/feed_forward.hpp"
#include "moerb/models/transformer_config.hpp"
#include "moerb/train/adamw.hpp"
#include "moerb/train/freelb.hpp"
#include "moerb/train/lr_schedule.hpp"

namespace moerb {

enum class OptimizerKind {
  adamw,  ///< AdamW, decoupled weight decay (Loshchilov & Hutter 2019)
  sgd,    ///< SGD with (optionally Nesterov) momentum (Sutskever et al. 2013)
};

struct Recipe {
  // ---- optimisation -----------------------------------------------------------------------------
  /// AdamW (Loshchilov & Hutter 2019) or SGD with momentum (Sutskever et al. 2013).
  OptimizerKind optimizer = OptimizerKind::adamw;
  /// Peak learning rate; MoE-RBench (Chen et al. 2024) sweeps it (MoE and dense models respond
  /// differently).
  double learning_rate = 1e-3;
  /// Sequences per micro-batch; MoE-RBench sweeps the batch size as well.
  Index batch_size = 32;
  /// Micro-batches whose gradients are averaged before one optimizer step ("delayed updates",
  /// Ott et al. 2018); the effective batch is batch_size · grad_accumulation_steps.
  Index grad_accumulation_steps = 1;
  /// Passes over the training set (BERT fine-tuning uses 2–4, Devlin et al. 2019 §A.3).
  Index epochs = 3;
  /// Stop after this many optimizer steps (0 = run all epochs).
  Index max_steps = 0;
  /// Decoupled (AdamW) or L2 (SGD) weight decay on matrices — not on biases and norm weights
  /// (WeightDecayPolicy::matrices_only, as BERT and GPT-2 fine-tuning do).
  double weight_decay = 0.01;
  /// Adam's moment decay rates and ε (Kingma & Ba 2015 defaults).
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_eps = 1e-8;
  /// Where AdamW keeps its moments: double (the default) or the parameters' scalar, float for a
  /// float model as in torch.optim.AdamW (half the memory traffic of a step; AdamWUpdate).
  MomentPrecision adam_moments = MomentPrecision::double_precision;
  /// SGD heavy-ball momentum μ (Polyak 1964; Sutskever et al. 2013).
  double sgd_momentum = 0.9;
  /// Nesterov momentum (Nesterov 1983, in the form of Sutskever et al. 2013).
  bool sgd_nesterov = false;
  /// Linear warmup over this fraction of the steps (Goyal et al. 2017; 6 % as RoBERTa's
  /// fine-tuning, Liu et al. 2019), then `decay`.
  double warmup_ratio = 0.06;
  /// Linear decay to 0 (BERT, Devlin et al. 2019), cosine (SGDR, Loshchilov & Hutter 2017) or
  /// constant.
  LRSchedule::Decay decay = LRSchedule::Decay::linear;
  /// Global-norm gradient clipping (Pascanu et al. 2013); 0 = off.
  double max_grad_norm = 1.0;

  // ---- regularisation (applied when building the model) ----------------------------------------
  /// Residual / embedding / head dropout (Srivastava et al. 2014).
  double dropout = 0.1;
  /// Dropout on the attention probabilities (Vaswani et al. 2017; BERT uses 0.1).
  double attention_dropout = 0.0;
  /// Dropout inside the experts' hidden layer, at a higher rate than elsewhere when fine-tuning
  /// (Switch Transformer, Fedus et al. 2021: expert dropout 0.4 with 0.1 elsewhere helped
  /// fine-tuning); MoE-RBench varies it.
  double expert_dropout = 0.0;

  // ---- routers (applied when building the model) -----------------------------------------------
  /// Switch load-balancing loss weight α (Fedus et al. 2021 §2.2, 0.01).
  double load_balancing_weight = 0.01;
  /// Router z-loss weight (ST-MoE, Zoph et al. 2022, 0.001).
  double z_loss_weight = 0.0;
  /// Multiplicative router input jitter ε (Fedus et al. 2021 §2.4).
  double router_jitter = 0.0;

  // ---- what trains ---------------------------------------------------------------------------
  /// Freeze every router during fine-tuning (a recipe MoE-RBench varies).
  bool freeze_router = false;
  /// Train only the head — linear probing (Alain & Bengio 2017; compared with full fine-tuning by
  /// Kumar et al. 2022); the trunk stays as initialised or loaded.
  bool freeze_all_but_head = false;

  // ---- adversarial training --------------------------------------------------------------------
  /// FreeLB in embedding space (Zhu et al. 2020); steps = 0 is off.
  FreeLBOptions adversarial{};

  // ---- loop ------------------------------------------------------------------------------------
  /// Seeds the shuffling, dropout, router noise and FreeLB's initial perturbation.
  std::uint64_t seed = 0;
  /// Data-parallel workers; 0 = all cores. The same seed and count give the same weights.
  int threads = 0;
  /// Evaluate on the dev set every this many steps (0 = at the end of each epoch).
  Index eval_every = 0;
  /// Early stopping (Prechelt 1998): stop after this many evaluations without improvement
  /// (0 = never); the best weights are restored at the end.
  Index early_stopping_patience = 0;
  double early_stopping_min_delta = 0.0;
  /// Progress bar on an interactive terminal, log lines otherwise; false = silent.
  bool progress = true;

  /// Throws moerb::error naming the first invalid knob.
  void validate(std::string_view where) const {
    MOERB_REQUIRE(std::isfinite(learning_rate) && learning_rate > 0, where,
            ": Recipe::learning_rate = ", learning_rate, ", expected > 0");
    MOERB_REQUIRE(batch_size >= 1, where, ": Recipe::batch_size = ", batch_size, ", expected >= 1");
    MOERB_REQUIRE(grad_accumulation_steps >= 1, where,
            ": Recipe::grad_accumulation_steps = ", grad_accumulation_steps, ", expected >= 1");
    MOERB_REQUIRE(epochs >= 1, where, ": Recipe::epochs = ", epochs, ", expected >= 1");
    MOERB_REQUIRE(max_steps >= 0, where, ": Recipe::max_steps = ", max_steps, ", expected >= 0");
    MOERB_REQUIRE(weight_decay >= 0, where, ": Recipe::weight_decay = ", weight_decay, ", expected >= 0");
    MOERB_REQUIRE(warmup_ratio >= 0 && warmup_ratio <= 1, where,
            ": Recipe::warmup_ratio = ", warmup_ratio, ", expected in [0, 1]");
    MOERB_REQUIRE(max_grad_norm >= 0, where, ": Recipe::max_grad_norm = ", max_grad_norm,
            ", expected >= 0");
    require_rate(dropout, where, "Recipe::dropout");
    require_rate(attention_dropout, where, "Recipe::attention_dropout");
    require_rate(expert_dropout, where, "Recipe::expert_dropout");
    require_rate(router_jitter, where, "Recipe::router_jitter");
    MOERB_REQUIRE(load_balancing_weight >= 0 && z_loss_weight >= 0, where,
            ": Recipe router loss weights must be >= 0 (load_balancing_weight = ",
            load_balancing_weight, ", z_loss_weight = ", z_loss_weight, ")");
    MOERB_REQUIRE(threads >= 0, where, ": Recipe::threads = ", threads, ", expected >= 0");
    MOERB_REQUIRE(eval_every >= 0 && early_stopping_patience >= 0, where,
            ": Recipe::eval_every and early_stopping_patience must be >= 0");
    adversarial.validate(where);
  }
};

namespace detail {
template <class RouterOptions>
void apply_router_knobs(const Recipe& r, RouterOptions& o) {
  if constexpr (requires { o.load_balancing_weight; })
    o.load_balancing_weight = r.load_balancing_weight;
  if constexpr (requires { o.z_loss_weight; }) o.z_loss_weight = r.z_loss_weight;
  if constexpr (requires { o.jitter; }) o.jitter = r.router_jitter;
}
template <class ExpertOptions>
void apply_expert_knobs(const Recipe& r, ExpertOptions& o) {
  if constexpr (requires { o.expert_dropout; }) o.expert_dropout = r.expert_dropout;
}
}  // namespace detail

/// Writes the recipe's model-shaping knobs into a model's configuration before it is built:
/// dropout rates into `config`; expert dropout into the routed experts (not the dense blocks of
/// an MoE model, nor a dense model's FFN: expert dropout is the MoE-specific knob); router loss
/// weights and jitter into the router options where the router has them.
template <class FFN>
void apply_recipe(const Recipe& recipe, TransformerConfig& config, FeedForwardSpec<FFN>& spec) {
  recipe.validate("apply_recipe");
  config.dropout = recipe.dropout;
  config.attention_dropout = recipe.attention_dropout;
  if constexpr (is_moe_layer_v<FFN>) {
    detail::apply_router_knobs(recipe, spec.router);
    if (spec.dense.d_model == 0) spec.dense = spec.moe.expert;  // dense blocks: no expert dropout
    detail::apply_expert_knobs(recipe, spec.moe.expert);
  }
}

/// True when `name` has a whole dotted component equal to `component` ("blocks.1.ffn.router.w").
inline bool name_has_component(std::string_view name, std::string_view component) {
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t dot = name.find('.', start);
    const std::size_t end = dot == std::string_view::npos ? name.size() : dot;
    if (name.substr(start, end - start) == component) return true;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return false;
}

/// Applies the recipe's freezing knobs to a built model; returns the number of frozen
/// parameter tensors. Head parameters are those named "head.*" or "lm_head.*" (a tied LM head's
/// weights are the token embeddings and stay frozen under freeze_all_but_head).
template <HasParameters Model>
Index apply_freezing(const Recipe& recipe, Model& model) {
  Index n = 0;
  model.visit_parameters(
      [&](std::string_view name, auto& p) {
        bool freeze = false;
        if (recipe.freeze_router && name_has_component(name, "router")) freeze = true;
        if (recipe.freeze_all_but_head && !name_has_prefix(name, "head") &&
            !name_has_prefix(name, "lm_head")) {
          freeze = true;
        }
        if (freeze) {
          p.frozen = true;
          ++n;
        }
      },
      "");
  return n;
}

}  // namespace moerb
