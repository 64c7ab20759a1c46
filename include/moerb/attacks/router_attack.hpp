#pragma once
// The router attack: perturbations of an MoE model's input chosen to change its routing rather
// than its prediction. Three objectives, summed over the model's MoE layers, each a mean over the
// tokens of a sequence of a per-token term on the router logits z (p = softmax(z); z⁰, p⁰ those of
// the clean input at the same position):
//
//   divergence  j = KL(p⁰ ‖ p)                                   ∂j/∂z = p − p⁰
//   flip_top1   j = min(−m, κ),  m = z_c − max_{e≠c} z_e,        c = arg max z⁰ (lowest index on
//               ties); a differentiable surrogate for "the clean top-1 expert lost first place"
//               after Carlini & Wagner (2017, "Towards Evaluating the Robustness of Neural
//               Networks", the untargeted form of their f₆); a token stops counting once its
//               margin is below −κ.
//   steer       j = log p_target                                  ∂j/∂z = onehot(target) − p
//
// The "router distribution" is softmax(Routing::logits): Routing::probs for the softmax routers
// (TopKRouter, MixtralRouter, SwitchRouter, NoisyTopKRouter, ExpertChoiceRouter); for
// BiasBalancedRouter (sigmoid affinities) and BalancedRouter (probs at a temperature) the
// objectives still read softmax(logits), while RoutingStability in the report reads their probs.
//
// Two spaces:
// - router_attack_embeddings: PGD on the word embeddings (Madry et al. 2018, "Towards Deep
//   Learning Models Resistant to Adversarial Attacks"), one L2 (Frobenius) or L∞ ball of radius ε
//   per sequence, random start, the best iterate per sequence kept; positions holding special
//   tokens stay clean unless RouterPGDOptions::perturb_special_tokens (as in embedding_pgd.hpp).
//   Conventions of FreeLB (moerb/train/freelb.hpp): the L2 start draws U(−1, 1) per element
//   scaled by ε/√(n·d) for the n perturbed rows, and an L2 step is α·g/‖g‖_F per sequence.
// - router_attack_tokens: gradient-guided token swaps (HotFlip, Ebrahimi et al. 2018, "HotFlip:
//   White-Box Adversarial Examples for Text Classification"): the first-order gain of putting
//   token v at position t is (W[v] − W[id_t])·∂J/∂e_t for the word embedding table W; per step
//   and sequence the `candidates` best (position, token) pairs are scored exactly, all sequences'
//   candidates in one batched forward, and the best is kept if it raises the objective. A position
//   changes at most once; special tokens (ids < Vocabulary::special_token_count) are never
//   replaced and never inserted. (A router with an evaluation capacity drops tokens depending on
//   the whole batch, so candidates are then scored in the company of the step's others.)
//
// At the clean input the divergence objective is at its minimum (0) and its gradient vanishes, so
// a first-order step from there (PGD without random start, the swaps' first step) follows the
// gradient of the flip_top1 surrogate instead; every value compared is the divergence.
//
// The gradient: ∂J/∂(router logits) enters each MoE layer through
// MoELayer::add_router_logits_gradient and flows back to the word embeddings in the model's
// backward with ∂L/∂(output logits) = 0. That backward also differentiates the routers' auxiliary
// losses (load balancing, z-loss); where the model's aux_loss() is not 0 a second backward without
// the router-logits gradient gives their share, which is subtracted (backward is linear in its
// inputs for a fixed forward), so the result is ∂J/∂e alone.
//
// Every forward is an evaluation forward (ForwardContext{}: no dropout, jitter or router noise).
// The attacks leave the model's parameter values and gradients as they found them (the gradients
// are saved and restored; router_objective itself accumulates into them, as backward does).
//
// Each attack reports, next to the attacked input, a random perturbation of the same budget: for
// PGD a random direction at the full radius ε of every sequence's ball (Gaussian direction scaled
// to ‖δ‖_F = ε, or random signs times ε for L∞); for swaps as many random swaps per sequence as the
// attack made, at random non-special positions, with random non-special tokens. The report holds
// RoutingStability (moerb/metrics/routing.hpp) of clean vs attacked and clean vs random, pooled
// over the MoE layers, the objectives, and for a classifier given labels the three accuracies.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/attacks/detail/table_product.hpp"
#include "moerb/attacks/detail/timing.hpp"
#include "moerb/attacks/embedding_pgd.hpp"
#include "moerb/attacks/victim.hpp"
#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"
#include "moerb/metrics/routing.hpp"
#include "moerb/models/feed_forward.hpp"
#include "moerb/models/model_trace.hpp"
#include "moerb/models/token_batch.hpp"
#include "moerb/routing/router.hpp"
#include "moerb/text/vocabulary.hpp"

namespace moerb {

enum class RouterObjective : std::uint8_t {
  divergence,  ///< maximise KL(clean ‖ perturbed) of the router distributions
  flip_top1,   ///< push each token's clean top-1 expert out of first place
  steer,       ///< raise the router probability of `target_expert`
};

struct RouterObjectiveOptions {
  RouterObjective kind = RouterObjective::divergence;
  /// The expert to steer tokens to (steer only); must exist in every MoE layer.
  Index target_expert = 0;
  /// κ >= 0 of flip_top1: a token's term stops growing once the clean top-1 expert's logit is κ
  /// below the best other.
  double margin = 0.0;
};

/// A router objective of a batch: per_sequence[b] = Σ_layers mean_{t ∈ b} j(t), total = Σ_b of it
/// (the quantity whose gradient router_objective returns).
struct RouterObjectiveValue {
  double total = 0;
  std::vector<double> per_sequence;
};

struct RouterPGDOptions {
  RouterObjectiveOptions objective{};
  /// The ball (PerturbationNorm of embedding_pgd.hpp): L2 = ‖δ_b‖_F ≤ ε over the sequence's
  /// perturbation δ_b (length × d_model), L∞ = |δ| ≤ ε elementwise.
  PerturbationNorm norm = PerturbationNorm::l2;
  /// Radius ε > 0 of each sequence's ball.
  double epsilon = 1.0;
  /// Ascent steps (>= 1); steps + 1 forwards (the last iterate is evaluated too).
  Index steps = 10;
  /// Step size α; 0 = 2.5·ε/steps (Madry et al. 2018).
  double step_size = 0.0;
  /// Start from a random point in the ball (drawn from Rng(seed)); otherwise from δ = 0.
  bool random_start = true;
  /// Also perturb the positions holding special tokens (ids < Vocabulary::special_token_count),
  /// which stay clean by default, as in embedding_pgd.hpp.
  bool perturb_special_tokens = false;
  std::uint64_t seed = 0;
};

struct RouterSwapOptions {
  RouterObjectiveOptions objective{};
  /// Budget: tokens changed per sequence at most (>= 1); one per step.
  Index max_swaps = 1;
  /// (position, token) pairs per sequence and step scored exactly (>= 1).
  Index candidates = 16;
  /// Seeds the random baseline (the search itself is deterministic).
  std::uint64_t seed = 0;
};

/// How much an attack changed the routing, next to a random perturbation of the same budget.
struct RouterAttackReport {
  RoutingStabilitySummary attack;  ///< clean vs attacked routing, all MoE layers pooled
  RoutingStabilitySummary random;  ///< clean vs the random perturbation
  /// The objective (mean over sequences of RouterObjectiveValue::per_sequence).
  double clean_objective = 0, attack_objective = 0, random_objective = 0;
  /// Accuracy of a classifier on the labels given; NaN without labels.
  double clean_accuracy = std::numeric_limits<double>::quiet_NaN();
  double attack_accuracy = std::numeric_limits<double>::quiet_NaN();
  double random_accuracy = std::numeric_limits<double>::quiet_NaN();
  Index forwards = 0;           ///< model forward passes, the report's own included
  Index backwards = 0;          ///< model backward passes
  Index candidates_scored = 0;  ///< candidate sequences scored exactly (token swaps)
  double seconds = 0;
};

template <class S>
struct RouterEmbeddingAttackResult {
  RouterAttackReport report;
  Matrix<S> delta;         ///< tokens × d_model: the perturbation of the word embeddings found
  Matrix<S> random_delta;  ///< tokens × d_model: the random perturbation of the same budget
};

struct RouterTokenAttackResult {
  RouterAttackReport report;
  TokenBatch tokens;         ///< the attacked batch (same layout and segments as the input)
  TokenBatch random_tokens;  ///< the random swaps of the same budget
  std::vector<Index> swaps;  ///< tokens the attack changed per sequence
};

namespace detail::router_attack {

inline constexpr std::uint64_t start_tag = 1;
inline constexpr std::uint64_t random_delta_tag = 2;
inline constexpr std::uint64_t random_swaps_tag = 3;
inline constexpr auto first_regular_id = static_cast<std::int32_t>(Vocabulary::special_token_count);

template <class Model>
constexpr void check_model() {
  static_assert(WhiteBoxVictim<Model>,
                "router attack: the model must be a white-box victim (embed, forward_embeddings, "
                "backward, word_embedding_table; see moerb/attacks/victim.hpp)");
  static_assert(is_moe_layer_v<typename Model::FeedForward>,
                "router attack: the model is dense (its FeedForward is not an MoELayer), so it has "
                "no routing to attack");
  if constexpr (is_moe_layer_v<typename Model::FeedForward>) {
    static_assert(RouterLogitsDifferentiable<typename Model::FeedForward::RouterType>,
                  "router attack: the MoE layers' router must model RouterLogitsDifferentiable "
                  "(backward_logits); HashRouter and RandomRouter have no logits");
  }
}

/// Number of MoE layers; throws when there is none or one routes at random.
template <class Model>
Index count_moe_layers(Model& model, std::string_view where) {
  Index n = 0;
  model.trunk().for_each_moe([&](Index layer, auto& moe) {
    MOERB_REQUIRE(!moe.random_inference_routing(), where, ": MoE block ", layer,
                  " uses the random-routing baseline at evaluation; its routing has no gradient");
    ++n;
  });
  MOERB_REQUIRE(n > 0, where, ": the model has no MoE block (moe_every leaves every block dense)");
  return n;
}

inline void check_objective(const RouterObjectiveOptions& o, std::string_view where) {
  MOERB_REQUIRE(o.kind == RouterObjective::divergence || o.kind == RouterObjective::flip_top1 ||
                    o.kind == RouterObjective::steer,
                where, ": unknown RouterObjective ", static_cast<int>(o.kind));
  MOERB_REQUIRE(std::isfinite(o.margin) && o.margin >= 0, where,
                ": RouterObjectiveOptions::margin = ", o.margin, ", expected a finite value >= 0");
  MOERB_REQUIRE(o.target_expert >= 0, where,
                ": RouterObjectiveOptions::target_expert = ", o.target_expert, ", expected >= 0");
}

/// Each MoE layer's router logits (tokens × experts) of the last forward, in block order.
template <class Model>
std::vector<Matrix<typename Model::Scalar>> last_router_logits(Model& model) {
  std::vector<Matrix<typename Model::Scalar>> out;
  model.trunk().for_each_moe([&](Index, auto& moe) { out.push_back(moe.routing().logits); });
  return out;
}

/// Per-token term j and, when `grad` is not null, ∂j/∂z (n entries) for logits z and clean z0.
/// `p` and `p0` are scratch rows of n entries.
template <class S>
double token_term(const RouterObjectiveOptions& o, const S* z, const S* z0, Index n,
                  std::vector<double>& p, std::vector<double>& p0, double* grad) {
  const auto log_softmax = [n](const S* v, std::vector<double>& out) {
    double m = -std::numeric_limits<double>::infinity();
    for (Index e = 0; e < n; ++e) m = std::max(m, static_cast<double>(v[e]));
    double sum = 0;
    for (Index e = 0; e < n; ++e) sum += std::exp(static_cast<double>(v[e]) - m);
    const double lse = m + std::log(sum);
    for (Index e = 0; e < n; ++e)
      out[static_cast<std::size_t>(e)] = static_cast<double>(v[e]) - lse;
  };
  switch (o.kind) {
    case RouterObjective::divergence: {
      log_softmax(z, p);
      log_softmax(z0, p0);
      double kl = 0;
      for (Index e = 0; e < n; ++e) {
        const auto i = static_cast<std::size_t>(e);
        const double q0 = std::exp(p0[i]);
        kl += q0 * (p0[i] - p[i]);
        if (grad != nullptr) grad[e] = std::exp(p[i]) - q0;
      }
      return kl;
    }
    case RouterObjective::flip_top1: {
      Index c = 0;
      for (Index e = 1; e < n; ++e) {
        if (z0[e] > z0[c]) c = e;
      }
      Index other = c == 0 ? 1 : 0;
      for (Index e = 0; e < n; ++e) {
        if (e != c && z[e] > z[other]) other = e;
      }
      const double m = static_cast<double>(z[c]) - static_cast<double>(z[other]);
      if (grad != nullptr) std::fill(grad, grad + n, 0.0);
      if (m <= -o.margin) return o.margin;
      if (grad != nullptr) {
        grad[c] = -1;
        grad[other] = 1;
      }
      return -m;
    }
    case RouterObjective::steer: {
      log_softmax(z, p);
      if (grad != nullptr) {
        for (Index e = 0; e < n; ++e) grad[e] = -std::exp(p[static_cast<std::size_t>(e)]);
        grad[o.target_expert] += 1;
      }
      return p[static_cast<std::size_t>(o.target_expert)];
    }
  }
  return 0;
}

/// The objective of the routing of `model`'s last forward over `sequences`, against `clean`
/// (one tokens × experts matrix per MoE layer). `value` gives the values; when `d_logits` is not
/// null it receives ∂J/∂(logits) per layer of the objective `slope` (usually `value`).
template <class Model>
RouterObjectiveValue evaluate(Model& model, const SequenceBatch& sequences,
                              const std::vector<Matrix<typename Model::Scalar>>& clean,
                              const RouterObjectiveOptions& value,
                              const RouterObjectiveOptions& slope,
                              std::vector<Matrix<typename Model::Scalar>>* d_logits,
                              std::string_view where) {
  using S = typename Model::Scalar;
  const Index B = sequences.num_sequences();
  RouterObjectiveValue out;
  out.per_sequence.assign(static_cast<std::size_t>(B), 0.0);
  if (d_logits != nullptr) d_logits->resize(clean.size());
  std::size_t layer = 0;
  std::vector<double> p, p0, g;
  model.trunk().for_each_moe([&](Index block, auto& moe) {
    const Matrix<S>& z = moe.routing().logits;
    MOERB_REQUIRE(layer < clean.size(), where, ": ", clean.size(),
                  " clean router-logit matrices, fewer than the model's MoE layers");
    const Matrix<S>& z0 = clean[layer];
    const Index T = z.rows();
    const Index E = z.cols();
    MOERB_REQUIRE(z0.rows() == T && z0.cols() == E, where, ": clean router logits of MoE block ",
                  block, " have shape ", z0.rows(), "×", z0.cols(), ", expected ", T, "×", E);
    MOERB_REQUIRE(T == sequences.num_tokens(), where, ": the routing of MoE block ", block,
                  " covers ", T, " tokens, expected ", sequences.num_tokens());
    for (const RouterObjectiveOptions* o : {&value, &slope}) {
      MOERB_REQUIRE(o->kind != RouterObjective::flip_top1 || E >= 2, where,
                    ": flip_top1 needs at least 2 experts; MoE block ", block, " has ", E);
      MOERB_REQUIRE(o->kind != RouterObjective::steer || o->target_expert < E, where,
                    ": target_expert = ", o->target_expert, " but MoE block ", block, " has ", E,
                    " experts");
    }
    p.resize(static_cast<std::size_t>(E));
    p0.resize(static_cast<std::size_t>(E));
    g.resize(static_cast<std::size_t>(E));
    Matrix<S>* d = nullptr;
    if (d_logits != nullptr) {
      d = &(*d_logits)[layer];
      d->resize(T, E);
    }
    const bool same = &value == &slope;
    for (Index b = 0; b < B; ++b) {
      const double inv = 1.0 / static_cast<double>(sequences.length(b));
      double sum = 0;
      for (Index t = sequences.begin(b); t < sequences.end(b); ++t) {
        const S* zt = z.row(t).data();
        const S* z0t = z0.row(t).data();
        double* gt = d != nullptr && same ? g.data() : nullptr;
        sum += token_term(value, zt, z0t, E, p, p0, gt);
        if (d == nullptr) continue;
        if (!same) token_term(slope, zt, z0t, E, p, p0, g.data());
        for (Index e = 0; e < E; ++e) {
          (*d)(t, e) = static_cast<S>(inv * g[static_cast<std::size_t>(e)]);
        }
      }
      out.per_sequence[static_cast<std::size_t>(b)] += inv * sum;
    }
    ++layer;
  });
  MOERB_REQUIRE(layer == clean.size(), where, ": ", clean.size(),
                " clean router-logit matrices for ", layer, " MoE layers");
  for (const double v : out.per_sequence) out.total += v;
  return out;
}

/// Forward at `word_embeddings`; the values of `value` and, when `gradient` is not null,
/// ∂J_slope/∂(word embeddings) without the auxiliary losses' share (see the file comment).
template <class Model>
RouterObjectiveValue value_and_gradient(
    Model& model, const Matrix<typename Model::Scalar>& word_embeddings, const TokenBatch& batch,
    const std::vector<Matrix<typename Model::Scalar>>& clean, const RouterObjectiveOptions& value,
    const RouterObjectiveOptions& slope, Matrix<typename Model::Scalar>* gradient,
    RouterAttackReport* counts, std::string_view where) {
  using S = typename Model::Scalar;
  const Matrix<S>& logits = model.forward_embeddings(word_embeddings, batch, ForwardContext{});
  if (counts != nullptr) ++counts->forwards;
  if (gradient == nullptr) {
    return evaluate(model, batch.sequences, clean, value, slope, nullptr, where);
  }
  std::vector<Matrix<S>> d_logits;
  RouterObjectiveValue out =
      evaluate(model, batch.sequences, clean, value, slope, &d_logits, where);
  std::size_t layer = 0;
  model.trunk().for_each_moe(
      [&](Index, auto& moe) { moe.add_router_logits_gradient(d_logits[layer++]); });
  const Matrix<S> zero = Matrix<S>::Zero(logits.rows(), logits.cols());
  *gradient = model.backward(zero, /*update_token_embedding=*/false);
  if (counts != nullptr) ++counts->backwards;
  if (model.aux_loss() != S(0)) {
    *gradient -= model.backward(zero, false);  // the auxiliary losses' share alone
    if (counts != nullptr) ++counts->backwards;
  }
  return out;
}

/// Saves every parameter gradient of a model and puts it back on destruction.
template <class Model>
class GradientRestorer {
  using S = typename Model::Scalar;

 public:
  explicit GradientRestorer(Model& model) {
    model.visit_parameters(
        [&](std::string_view, Parameter<S>& p) {
          params_.push_back(&p);
          saved_.push_back(p.grad);
        },
        std::string_view{});
  }
  GradientRestorer(const GradientRestorer&) = delete;
  GradientRestorer& operator=(const GradientRestorer&) = delete;
  ~GradientRestorer() {
    for (std::size_t i = 0; i < params_.size(); ++i) params_[i]->grad.swap(saved_[i]);
  }

 private:
  std::vector<Parameter<S>*> params_;
  std::vector<Matrix<S>> saved_;
};

template <class Model>
void check_labels(Model& model, std::span<const std::int32_t> labels, Index sequences,
                  std::string_view where) {
  if (labels.empty()) return;
  if constexpr (ClassifierVictim<Model>) {
    MOERB_REQUIRE(static_cast<Index>(labels.size()) == sequences, where, ": ", labels.size(),
                  " labels for ", sequences, " sequences");
    const auto classes = static_cast<Index>(model.num_classes());
    for (std::size_t i = 0; i < labels.size(); ++i) {
      MOERB_REQUIRE(labels[i] >= 0 && labels[i] < classes, where, ": label ", i, " is ", labels[i],
                    ", expected in [0, ", classes, ")");
    }
  } else {
    fail(where, ": labels were given but the model is not a classifier (no num_classes())");
  }
}

/// Fraction of sequences whose arg-max logit (lowest index among ties) equals the label.
template <class S>
double accuracy(const Matrix<S>& logits, std::span<const std::int32_t> labels) {
  Index correct = 0;
  for (Index i = 0; i < logits.rows(); ++i) {
    Index best = 0;
    for (Index j = 1; j < logits.cols(); ++j) {
      if (logits(i, j) > logits(i, best)) best = j;
    }
    correct += best == labels[static_cast<std::size_t>(i)] ? 1 : 0;
  }
  return static_cast<double>(correct) / static_cast<double>(logits.rows());
}

/// Forward at `word_embeddings`: the mean objective, the trace, and (with labels) the accuracy.
template <class Model>
struct Measured {
  double objective = 0;
  double accuracy = std::numeric_limits<double>::quiet_NaN();
  ModelTrace<typename Model::Scalar> trace;
};

template <class Model>
Measured<Model> measure(Model& model, const Matrix<typename Model::Scalar>& word_embeddings,
                        const TokenBatch& batch,
                        const std::vector<Matrix<typename Model::Scalar>>& clean,
                        const RouterObjectiveOptions& objective,
                        std::span<const std::int32_t> labels, RouterAttackReport& report,
                        std::string_view where) {
  Measured<Model> m;
  const auto& logits = model.forward_embeddings(word_embeddings, batch, ForwardContext{});
  ++report.forwards;
  const RouterObjectiveValue v =
      evaluate(model, batch.sequences, clean, objective, objective, nullptr, where);
  m.objective = v.total / static_cast<double>(batch.num_sequences());
  m.trace = model.trace();
  if constexpr (ClassifierVictim<Model>) {
    if (!labels.empty()) m.accuracy = accuracy(logits, labels);
  }
  return m;
}

template <class Model>
void fill_report(RouterAttackReport& report, const Measured<Model>& clean,
                 const Measured<Model>& attacked, const Measured<Model>& random) {
  RoutingStability a, r;
  a.add(clean.trace, attacked.trace);
  r.add(clean.trace, random.trace);
  report.attack = a.value();
  report.random = r.value();
  report.clean_objective = clean.objective;
  report.attack_objective = attacked.objective;
  report.random_objective = random.objective;
  report.clean_accuracy = clean.accuracy;
  report.attack_accuracy = attacked.accuracy;
  report.random_accuracy = random.accuracy;
}

using detail::attacks::seconds_since;

/// Replaces the ids of `batch` (same layout) by `ids`.
inline TokenBatch with_ids(const TokenBatch& batch, std::vector<std::int32_t> ids) {
  TokenBatch out = batch;
  out.ids = std::move(ids);
  return out;
}

}  // namespace detail::router_attack

/// Each MoE layer's router logits (tokens × experts, in block order) for a clean evaluation
/// forward of `batch`: the reference the objectives compare against.
template <class Model>
[[nodiscard]] std::vector<Matrix<typename Model::Scalar>> clean_router_logits(
    Model& model, const TokenBatch& batch) {
  detail::router_attack::check_model<Model>();
  detail::router_attack::count_moe_layers(model, "clean_router_logits");
  model.forward(batch, ForwardContext{});
  return detail::router_attack::last_router_logits(model);
}

/// The router objective at word embeddings `word_embeddings` (tokens × d_model) of `batch`,
/// against `clean_logits` (from clean_router_logits of a batch with the same layout), and, when
/// `gradient` is not null, ∂total/∂(word embeddings) (tokens × d_model) written there. Runs one
/// evaluation forward and, for the gradient, one or two backwards, which accumulate into the
/// model's parameter gradients (the token embedding table's excepted).
template <class Model>
RouterObjectiveValue router_objective(
    Model& model, const Matrix<typename Model::Scalar>& word_embeddings, const TokenBatch& batch,
    const std::vector<Matrix<typename Model::Scalar>>& clean_logits,
    const RouterObjectiveOptions& objective, Matrix<typename Model::Scalar>* gradient = nullptr) {
  namespace ra = detail::router_attack;
  constexpr std::string_view where = "router_objective";
  ra::check_model<Model>();
  ra::check_objective(objective, where);
  ra::count_moe_layers(model, where);
  return ra::value_and_gradient(model, word_embeddings, batch, clean_logits, objective, objective,
                                gradient, nullptr, where);
}

/// PGD on the word embeddings of `batch` (see the file comment). `labels` (one per sequence, or
/// empty) gives the report's accuracies for a classifier.
template <class Model>
[[nodiscard]] RouterEmbeddingAttackResult<typename Model::Scalar> router_attack_embeddings(
    Model& model, const TokenBatch& batch, const RouterPGDOptions& options,
    std::span<const std::int32_t> labels = {}) {
  namespace ra = detail::router_attack;
  using S = typename Model::Scalar;
  constexpr std::string_view where = "router_attack_embeddings";
  ra::check_model<Model>();
  const auto start_time = std::chrono::steady_clock::now();
  ra::check_objective(options.objective, where);
  MOERB_REQUIRE(std::isfinite(options.epsilon) && options.epsilon > 0, where,
                ": RouterPGDOptions::epsilon = ", options.epsilon, ", expected a finite value > 0");
  MOERB_REQUIRE(options.steps >= 1, where, ": RouterPGDOptions::steps = ", options.steps,
                ", expected >= 1");
  MOERB_REQUIRE(std::isfinite(options.step_size) && options.step_size >= 0, where,
                ": RouterPGDOptions::step_size = ", options.step_size,
                ", expected a finite value >= 0 (0 = 2.5·epsilon/steps)");
  MOERB_REQUIRE(options.norm == PerturbationNorm::l2 || options.norm == PerturbationNorm::linf,
                where, ": unknown PerturbationNorm ", static_cast<int>(options.norm));
  batch.validate(where);
  ra::check_labels(model, labels, batch.num_sequences(), where);
  ra::count_moe_layers(model, where);
  const ra::GradientRestorer<Model> restore_gradients(model);

  RouterEmbeddingAttackResult<S> result;
  RouterAttackReport& report = result.report;
  const Matrix<S> embeddings = model.embed(batch);
  const std::vector<Matrix<S>> clean = clean_router_logits(model, batch);
  ++report.forwards;
  const SequenceBatch& seqs = batch.sequences;
  const Index B = seqs.num_sequences();
  const Index d = embeddings.cols();
  const double eps = options.epsilon;
  const double alpha =
      options.step_size > 0 ? options.step_size : 2.5 * eps / static_cast<double>(options.steps);
  const bool l2 = options.norm == PerturbationNorm::l2;
  const Rng seed(options.seed);
  // The rows δ may change (special tokens stay clean unless perturb_special_tokens), per sequence.
  std::vector<char> perturbable(batch.ids.size());
  std::vector<Index> perturbable_rows(static_cast<std::size_t>(B), 0);
  for (Index b = 0; b < B; ++b) {
    for (Index t = seqs.begin(b); t < seqs.end(b); ++t) {
      const bool p = options.perturb_special_tokens ||
                     batch.ids[static_cast<std::size_t>(t)] >= ra::first_regular_id;
      perturbable[static_cast<std::size_t>(t)] = p ? 1 : 0;
      perturbable_rows[static_cast<std::size_t>(b)] += p ? 1 : 0;
    }
  }

  Matrix<S> delta = Matrix<S>::Zero(embeddings.rows(), d);
  if (options.random_start) {
    Rng rng = seed.split(ra::start_tag);
    for (Index b = 0; b < B; ++b) {
      const Index rows = perturbable_rows[static_cast<std::size_t>(b)];
      if (rows == 0) continue;
      const double scale = l2 ? eps / std::sqrt(static_cast<double>(rows * d)) : eps;
      for (Index t = seqs.begin(b); t < seqs.end(b); ++t) {
        if (perturbable[static_cast<std::size_t>(t)] == 0) continue;
        for (Index j = 0; j < d; ++j) delta(t, j) = static_cast<S>(rng.uniform(-1, 1) * scale);
      }
    }
  }
  // A first step from δ = 0 follows the flip surrogate when the divergence's gradient vanishes.
  RouterObjectiveOptions surrogate = options.objective;
  surrogate.kind = RouterObjective::flip_top1;
  surrogate.margin = 0;
  const bool surrogate_first =
      !options.random_start && options.objective.kind == RouterObjective::divergence;

  std::vector<double> best(static_cast<std::size_t>(B), -std::numeric_limits<double>::infinity());
  result.delta = delta;
  Matrix<S> perturbed, gradient;
  for (Index k = 0; k <= options.steps; ++k) {
    perturbed = embeddings + delta;
    const bool step = k < options.steps;
    const RouterObjectiveOptions& slope = k == 0 && surrogate_first ? surrogate : options.objective;
    const RouterObjectiveValue v =
        ra::value_and_gradient(model, perturbed, batch, clean, options.objective, slope,
                               step ? &gradient : nullptr, &report, where);
    for (Index b = 0; b < B; ++b) {
      if (v.per_sequence[static_cast<std::size_t>(b)] > best[static_cast<std::size_t>(b)]) {
        best[static_cast<std::size_t>(b)] = v.per_sequence[static_cast<std::size_t>(b)];
        result.delta.middleRows(seqs.begin(b), seqs.length(b)) =
            delta.middleRows(seqs.begin(b), seqs.length(b));
      }
    }
    if (!step) break;
    for (Index t = 0; t < gradient.rows(); ++t) {
      if (perturbable[static_cast<std::size_t>(t)] == 0) gradient.row(t).setZero();
    }
    for (Index b = 0; b < B; ++b) {
      auto gb = gradient.middleRows(seqs.begin(b), seqs.length(b));
      auto db = delta.middleRows(seqs.begin(b), seqs.length(b));
      if (l2) {
        const double gn = static_cast<double>(gb.norm());
        if (gn > 0) db += static_cast<S>(alpha / gn) * gb;
        const double dn = static_cast<double>(db.norm());
        if (dn > eps) db *= static_cast<S>(eps / dn);
      } else {
        db += static_cast<S>(alpha) * gb.array().sign().matrix();
        db = db.cwiseMax(static_cast<S>(-eps)).cwiseMin(static_cast<S>(eps));
      }
    }
  }

  // The random perturbation of the same budget: a random direction at the full radius.
  result.random_delta.setZero(embeddings.rows(), d);
  Rng rng = seed.split(ra::random_delta_tag);
  for (Index b = 0; b < B; ++b) {
    auto rb = result.random_delta.middleRows(seqs.begin(b), seqs.length(b));
    for (Index i = 0; i < rb.rows(); ++i) {
      if (perturbable[static_cast<std::size_t>(seqs.begin(b) + i)] == 0) continue;
      for (Index j = 0; j < d; ++j) {
        rb(i, j) =
            l2 ? static_cast<S>(rng.normal()) : static_cast<S>(rng.uniform() < 0.5 ? -eps : eps);
      }
    }
    if (l2) {
      const double n = static_cast<double>(rb.norm());
      if (n > 0) rb *= static_cast<S>(eps / n);
    }
  }

  const auto clean_m =
      ra::measure(model, embeddings, batch, clean, options.objective, labels, report, where);
  perturbed = embeddings + result.delta;
  const auto attack_m =
      ra::measure(model, perturbed, batch, clean, options.objective, labels, report, where);
  perturbed = embeddings + result.random_delta;
  const auto random_m =
      ra::measure(model, perturbed, batch, clean, options.objective, labels, report, where);
  ra::fill_report(report, clean_m, attack_m, random_m);
  report.seconds = ra::seconds_since(start_time);
  return result;
}

/// Gradient-guided token swaps on `batch` (see the file comment). `labels` (one per sequence, or
/// empty) gives the report's accuracies for a classifier.
template <class Model>
[[nodiscard]] RouterTokenAttackResult router_attack_tokens(
    Model& model, const TokenBatch& batch, const RouterSwapOptions& options,
    std::span<const std::int32_t> labels = {}) {
  namespace ra = detail::router_attack;
  using S = typename Model::Scalar;
  constexpr std::string_view where = "router_attack_tokens";
  ra::check_model<Model>();
  const auto start_time = std::chrono::steady_clock::now();
  ra::check_objective(options.objective, where);
  MOERB_REQUIRE(options.max_swaps >= 1, where,
                ": RouterSwapOptions::max_swaps = ", options.max_swaps, ", expected >= 1");
  MOERB_REQUIRE(options.candidates >= 1, where,
                ": RouterSwapOptions::candidates = ", options.candidates, ", expected >= 1");
  batch.validate(where);
  ra::check_labels(model, labels, batch.num_sequences(), where);
  ra::count_moe_layers(model, where);
  const Matrix<S>& table = model.word_embedding_table();
  const auto vocab = static_cast<std::int32_t>(table.rows());
  MOERB_REQUIRE(vocab - ra::first_regular_id >= 2, where, ": the vocabulary has ", vocab,
                " ids, fewer than 2 beyond the ", ra::first_regular_id, " special tokens");
  for (std::size_t i = 0; i < batch.ids.size(); ++i) {
    MOERB_REQUIRE(batch.ids[i] >= 0 && batch.ids[i] < vocab, where, ": token ", i, " has id ",
                  batch.ids[i], ", expected in [0, ", vocab, ")");
  }
  const ra::GradientRestorer<Model> restore_gradients(model);

  RouterTokenAttackResult result;
  RouterAttackReport& report = result.report;
  const std::vector<Matrix<S>> clean = clean_router_logits(model, batch);
  ++report.forwards;
  const SequenceBatch& seqs = batch.sequences;
  const Index B = seqs.num_sequences();
  RouterObjectiveOptions surrogate = options.objective;
  surrogate.kind = RouterObjective::flip_top1;
  surrogate.margin = 0;

  std::vector<std::int32_t> ids = batch.ids;
  std::vector<char> changed(ids.size(), 0);  // a position changes at most once
  std::vector<char> active(static_cast<std::size_t>(B), 1);
  result.swaps.assign(static_cast<std::size_t>(B), 0);
  Matrix<S> embeddings, gradient, scores;
  struct Candidate {
    double gain;
    Index position;
    std::int32_t token;
  };
  // Better first: larger first-order gain, then the lower position, then the lower id.
  const auto better = [](const Candidate& a, const Candidate& b) {
    if (a.gain != b.gain) return a.gain > b.gain;
    if (a.position != b.position) return a.position < b.position;
    return a.token < b.token;
  };
  std::vector<std::vector<Candidate>> ranked(static_cast<std::size_t>(B));
  std::vector<Index> owner;  // the sequence of each candidate in the scored batch
  for (Index step = 0; step < options.max_swaps; ++step) {
    const TokenBatch current = ra::with_ids(batch, ids);
    embeddings = model.embed(current);
    // All sequences are still clean at step 0, where the divergence has no gradient.
    const bool use_surrogate = step == 0 && options.objective.kind == RouterObjective::divergence;
    const RouterObjectiveValue now = ra::value_and_gradient(
        model, embeddings, current, clean, options.objective,
        use_surrogate ? surrogate : options.objective, &gradient, &report, where);
    // First-order gains, one GEMM per sequence: gain(t, v) = ∂J/∂e_t · (W[v] − W[id_t]).
    TokenBatch scored;
    owner.clear();
    for (Index b = 0; b < B; ++b) {
      auto& keep = ranked[static_cast<std::size_t>(b)];
      keep.clear();
      if (active[static_cast<std::size_t>(b)] == 0) continue;
      const Index begin = seqs.begin(b);
      detail::attacks::times_table_transposed<S>(gradient.middleRows(begin, seqs.length(b)), table,
                                                 scores);
      for (Index i = 0; i < seqs.length(b); ++i) {
        const auto t = static_cast<std::size_t>(begin + i);
        if (changed[t] != 0 || ids[t] < ra::first_regular_id) continue;
        const double base = static_cast<double>(scores(i, ids[t]));
        for (std::int32_t v = ra::first_regular_id; v < vocab; ++v) {
          if (v == ids[t]) continue;
          const Candidate c{static_cast<double>(scores(i, v)) - base, begin + i, v};
          if (static_cast<Index>(keep.size()) < options.candidates) {
            keep.push_back(c);
            std::push_heap(keep.begin(), keep.end(), better);  // top: the worst kept
          } else if (better(c, keep.front())) {
            std::pop_heap(keep.begin(), keep.end(), better);
            keep.back() = c;
            std::push_heap(keep.begin(), keep.end(), better);
          }
        }
      }
      std::sort(keep.begin(), keep.end(), better);
      if (keep.empty()) active[static_cast<std::size_t>(b)] = 0;
      const auto first = static_cast<std::size_t>(begin);
      const auto length = static_cast<std::size_t>(seqs.length(b));
      std::vector<std::int32_t> candidate(
          ids.begin() + static_cast<std::ptrdiff_t>(first),
          ids.begin() + static_cast<std::ptrdiff_t>(first + length));
      const std::span<const std::int32_t> segments =
          batch.segments.empty()
              ? std::span<const std::int32_t>{}
              : std::span<const std::int32_t>(batch.segments).subspan(first, length);
      for (const Candidate& c : keep) {
        const auto at = static_cast<std::size_t>(c.position) - first;
        const std::int32_t old = candidate[at];
        candidate[at] = c.token;
        scored.push_back(candidate, segments);
        candidate[at] = old;
        owner.push_back(b);
      }
    }
    if (owner.empty()) break;
    // Every candidate of this step in one forward, against the clean logits of its sequence.
    std::vector<Matrix<S>> reference(clean.size());
    for (std::size_t l = 0; l < clean.size(); ++l) {
      reference[l].resize(scored.num_tokens(), clean[l].cols());
      for (std::size_t c = 0; c < owner.size(); ++c) {
        const Index b = owner[c];
        reference[l].middleRows(scored.sequences.begin(static_cast<Index>(c)), seqs.length(b)) =
            clean[l].middleRows(seqs.begin(b), seqs.length(b));
      }
    }
    const Matrix<S> scored_embeddings = model.embed(scored);
    const RouterObjectiveValue values =
        ra::value_and_gradient(model, scored_embeddings, scored, reference, options.objective,
                               options.objective, nullptr, &report, where);
    report.candidates_scored += static_cast<Index>(owner.size());
    std::size_t c = 0;
    for (Index b = 0; b < B; ++b) {
      const auto& keep = ranked[static_cast<std::size_t>(b)];
      if (keep.empty()) continue;
      std::size_t best = c;
      for (std::size_t i = c; i < c + keep.size(); ++i) {
        if (values.per_sequence[i] > values.per_sequence[best]) best = i;
      }
      if (values.per_sequence[best] > now.per_sequence[static_cast<std::size_t>(b)]) {
        const Candidate& chosen = keep[best - c];
        ids[static_cast<std::size_t>(chosen.position)] = chosen.token;
        changed[static_cast<std::size_t>(chosen.position)] = 1;
        ++result.swaps[static_cast<std::size_t>(b)];
      } else {
        active[static_cast<std::size_t>(b)] = 0;  // no candidate helps: the search ends here
      }
      c += keep.size();
    }
  }
  result.tokens = ra::with_ids(batch, ids);

  // The random baseline: as many swaps per sequence, random positions and tokens.
  std::vector<std::int32_t> random_ids = batch.ids;
  Rng rng = Rng(options.seed).split(ra::random_swaps_tag);
  std::vector<Index> positions;
  for (Index b = 0; b < B; ++b) {
    positions.clear();
    for (Index t = seqs.begin(b); t < seqs.end(b); ++t) {
      if (batch.ids[static_cast<std::size_t>(t)] >= ra::first_regular_id) positions.push_back(t);
    }
    const Index n = result.swaps[static_cast<std::size_t>(b)];
    for (Index i = 0; i < n; ++i) {  // a partial Fisher–Yates shuffle picks n distinct positions
      const auto j = static_cast<std::size_t>(i) +
                     static_cast<std::size_t>(
                         rng.uniform_index(positions.size() - static_cast<std::size_t>(i)));
      std::swap(positions[static_cast<std::size_t>(i)], positions[j]);
      auto& id = random_ids[static_cast<std::size_t>(positions[static_cast<std::size_t>(i)])];
      // Uniform over the regular ids other than the current one.
      auto v = static_cast<std::int32_t>(
          ra::first_regular_id +
          static_cast<std::int32_t>(
              rng.uniform_index(static_cast<std::uint64_t>(vocab - ra::first_regular_id - 1))));
      if (v >= id) ++v;
      id = v;
    }
  }
  result.random_tokens = ra::with_ids(batch, std::move(random_ids));

  Matrix<S> e = model.embed(batch);
  const auto clean_m =
      ra::measure(model, e, batch, clean, options.objective, labels, report, where);
  e = model.embed(result.tokens);
  const auto attack_m =
      ra::measure(model, e, result.tokens, clean, options.objective, labels, report, where);
  e = model.embed(result.random_tokens);
  const auto random_m =
      ra::measure(model, e, result.random_tokens, clean, options.objective, labels, report, where);
  ra::fill_report(report, clean_m, attack_m, random_m);
  report.seconds = ra::seconds_since(start_time);
  return result;
}

}  // namespace moerb
