#pragma once
// DoLa: Decoding by Contrasting Layers (Chuang et al., ICLR 2024), for scoring answers and for
// generation with any DecoderLM.
//
// For each predicted position, with q_N the next-token distribution of the mature (final) layer
// and q_j that of premature layer j through the same final norm and LM head (early exit):
//   1. dynamic premature layer: M = argmax_{j ∈ candidates} JSD(q_N ‖ q_j)            (Eq. 3)
//   2. adaptive plausibility: V_head = {x : q_N(x) ≥ α · max_w q_N(w)}                 (Eq. 5)
//   3. contrast: F(x) = log q_N(x) − log q_M(x) on V_head; p̂ = softmax(F)              (Eq. 4)
// Scoring follows the authors' code: log p̂ for tokens in V_head and a constant floor
// (relative_top_value, −1000 there) for the others, so implausible answers get very low but
// finite scores. Generation gives implausible tokens probability 0 and may apply a CTRL-style
// repetition penalty (Keskar et al. 2019) to F, as the paper does for open-ended generation (1.2).
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"
#include "moerb/models/generation.hpp"
#include "moerb/models/token_batch.hpp"

namespace moerb {

struct DoLaOptions {
  /// Candidate premature layers (hidden-state indices: 0 = embeddings, … num_layers − 1).
  /// Empty = every layer below the mature one.
  std::vector<Index> premature_layers{};
  /// α of the adaptive plausibility constraint, in [0, 1).
  double relative_top = 0.1;
  /// Score of tokens outside V_head when scoring (the authors' relative_top_value).
  double relative_top_value = -1000.0;
  /// Repetition penalty θ on F for already generated tokens (generation only); 1 = none.
  double repetition_penalty = 1.0;
};

/// The outcome of DoLa at one position.
struct DoLaStep {
  Vector<double> log_probs;    ///< vocab: log p̂, the implausible value outside V_head
  Index premature_layer = -1;  ///< the chosen M
  double jsd = 0;              ///< JSD(q_N ‖ q_M)
};

namespace detail {
inline void log_softmax_inplace(Vector<double>& v) {
  const double m = v.maxCoeff();
  const double lse = m + std::log((v.array() - m).exp().sum());
  v.array() -= lse;
}
/// Jensen–Shannon divergence of two distributions given as log-probabilities.
inline double jensen_shannon(const Vector<double>& lp, const Vector<double>& lq) {
  double js = 0;
  for (Index i = 0; i < lp.size(); ++i) {
    const double p = std::exp(lp(i)), q = std::exp(lq(i));
    const double m = 0.5 * (p + q);
    if (m <= 0) continue;
    const double lm = std::log(m);
    if (p > 0) js += 0.5 * p * (lp(i) - lm);
    if (q > 0) js += 0.5 * q * (lq(i) - lm);
  }
  return js;
}
}  // namespace detail

/// DoLa at one position from the mature layer's logits and each candidate's logits.
/// `penalized` lists token ids that get the repetition penalty once each (generation: the
/// sequence so far, as in Keskar et al.); tokens outside V_head get `implausible_value`
/// (scoring: options.relative_top_value; generation: −inf).
inline DoLaStep dola_contrast(const Vector<double>& mature_logits,
                              const std::vector<Vector<double>>& premature_logits,
                              std::span<const Index> premature_layers, const DoLaOptions& options,
                              std::span<const std::int32_t> penalized, double implausible_value) {
  MOERB_REQUIRE(!premature_logits.empty() && premature_logits.size() == premature_layers.size(),
          "dola_contrast: ", premature_logits.size(), " premature logit rows for ",
          premature_layers.size(), " candidate layers");
  MOERB_REQUIRE(options.relative_top >= 0 && options.relative_top < 1,
          "dola_contrast: relative_top = ", options.relative_top, ", expected in [0, 1)");
  MOERB_REQUIRE(options.repetition_penalty >= 1,
          "dola_contrast: repetition_penalty = ", options.repetition_penalty, ", expected >= 1");
  Vector<double> lm = mature_logits;
  detail::log_softmax_inplace(lm);
  DoLaStep step;
  Vector<double> best_lq;
  step.jsd = -1;
  for (std::size_t j = 0; j < premature_logits.size(); ++j) {
    MOERB_REQUIRE(premature_logits[j].size() == lm.size(), "dola_contrast: premature layer ",
            premature_layers[j], " has ", premature_logits[j].size(), " logits, expected ",
            lm.size());
    Vector<double> lq = premature_logits[j];
    detail::log_softmax_inplace(lq);
    const double js = detail::jensen_shannon(lm, lq);
    if (js > step.jsd) {  // ties keep the earlier candidate
      step.jsd = js;
      step.premature_layer = premature_layers[j];
      best_lq = std::move(lq);
    }
  }
  Vector<double> f = lm - best_lq;
  if (options.repetition_penalty != 1 && !penalized.empty()) {
    std::vector<bool> done(static_cast<std::size_t>(f.size()), false);
    for (std::int32_t id : penalized) {
      MOERB_REQUIRE(id >= 0 && id < f.size(), "dola_contrast: token id ", id, " outside the vocabulary");
      if (done[static_cast<std::size_t>(id)]) continue;
      done[static_cast<std::size_t>(id)] = true;
      double& v = f(id);
      v = v > 0 ? v / options.repetition_penalty : v * options.repetition_penalty;
    }
  }
  detail::log_softmax_inplace(f);
  // V_head: log q_N(x) >= log α + max log q_N.
  const double threshold = options.relative_top > 0 ? std::log(options.relative_top) + lm.maxCoeff()
                                                    : -std::numeric_limits<double>::infinity();
  for (Index i = 0; i < f.size(); ++i) {
    if (lm(i) < threshold) f(i) = implausible_value;
  }
  step.log_probs = std::move(f);
  return step;
}

/// DoLa scores of answers after prompts with a DecoderLM `lm` (one batched evaluation forward):
/// Σ and mean over answer tokens of log p̂, and the premature layer chosen at each answer token.
struct DoLaScore {
  double sum_log_prob = 0;
  double mean_log_prob = 0;
  std::vector<Index> premature_layers;  ///< per answer token
};

namespace detail {
template <class LM>
std::vector<Index> dola_candidates(const LM& lm, const DoLaOptions& options) {
  std::vector<Index> layers = options.premature_layers;
  if (layers.empty()) {
    for (Index j = 0; j < lm.num_layers(); ++j) layers.push_back(j);
  }
  for (Index j : layers) {
    MOERB_REQUIRE(j >= 0 && j < lm.num_layers(), "DoLa: premature layer ", j, ", expected in [0, ",
            lm.num_layers(), ") (below the mature layer ", lm.num_layers(), ")");
  }
  return layers;
}
}  // namespace detail

template <class LM>
std::vector<DoLaScore> dola_score_continuations(
    LM& lm,
    const std::vector<std::pair<std::vector<std::int32_t>, std::vector<std::int32_t>>>& pairs,
    const DoLaOptions& options = {}) {
  const std::vector<Index> layers = detail::dola_candidates(lm, options);
  TokenBatch batch;
  std::vector<Index> rows;
  std::vector<std::int32_t> next;
  std::vector<std::size_t> owner;
  lm.build_scoring_batch(pairs, batch, rows, next, owner);
  const auto mature = lm.forward(batch, ForwardContext{});  // copy: layer_logits reuses the head
  Matrix<double> mature_rows(static_cast<Index>(rows.size()), mature.cols());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    mature_rows.row(static_cast<Index>(i)) = mature.row(rows[i]).template cast<double>();
  }
  std::vector<Matrix<double>> premature;
  for (Index j : layers) {
    premature.push_back(lm.layer_logits(j, rows).template cast<double>());
  }
  std::vector<DoLaScore> scores(pairs.size());
  std::vector<Vector<double>> cand(layers.size());
  std::vector<std::size_t> count(pairs.size(), 0);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t j = 0; j < layers.size(); ++j) {
      cand[j] = premature[j].row(static_cast<Index>(i)).transpose();
    }
    const DoLaStep step = dola_contrast(mature_rows.row(static_cast<Index>(i)).transpose(), cand,
                                        layers, options, {}, options.relative_top_value);
    DoLaScore& s = scores[owner[i]];
    s.sum_log_prob += step.log_probs(next[i]);
    s.premature_layers.push_back(step.premature_layer);
    ++count[owner[i]];
  }
  for (std::size_t p = 0; p < scores.size(); ++p) {
    scores[p].mean_log_prob = scores[p].sum_log_prob / static_cast<double>(count[p]);
  }
  return scores;
}

/// Generation with DoLa: greedy on p̂ (temperature 0) or sampled from it (temperature/top-p act
/// on F); implausible tokens are never produced.
template <class LM>
std::vector<std::int32_t> dola_generate(LM& lm, std::span<const std::int32_t> prompt,
                                        const GenerationOptions& generation,
                                        const DoLaOptions& options = {}) {
  generation.validate("dola_generate");
  MOERB_REQUIRE(!prompt.empty(), "dola_generate: empty prompt");
  const std::vector<Index> layers = detail::dola_candidates(lm, options);
  std::vector<std::int32_t> seq(prompt.begin(), prompt.end());
  std::vector<std::int32_t> out;
  Rng rng(generation.seed);
  std::vector<Index> order;
  std::vector<Vector<double>> cand(layers.size());
  for (Index step = 0; step < generation.max_new_tokens; ++step) {
    if (static_cast<Index>(seq.size()) >= lm.config().max_positions) break;
    TokenBatch batch;
    batch.push_back(seq);
    const Index last = static_cast<Index>(seq.size()) - 1;
    const Vector<double> mature =
        lm.forward(batch, ForwardContext{}).row(last).transpose().template cast<double>();
    const Index rows[1] = {last};
    for (std::size_t j = 0; j < layers.size(); ++j) {
      cand[j] = lm.layer_logits(layers[j], rows).row(0).transpose().template cast<double>();
    }
    const DoLaStep s =
        dola_contrast(mature, cand, layers, options, seq, -std::numeric_limits<double>::infinity());
    const std::int32_t id = select_next_token(s.log_probs, generation, rng, order);
    out.push_back(id);
    seq.push_back(id);
    if (id == generation.eos_id) break;
  }
  return out;
}

}  // namespace moerb
