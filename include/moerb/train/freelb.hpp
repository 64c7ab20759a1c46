#pragma once
// FreeLB adversarial training in embedding space (Zhu et al., ICLR 2020), as the reliability
// study's training code runs it: K ascent steps on a perturbation δ of the word embeddings, the
// model's gradients averaged over the K perturbed forwards ("free" large batch).
//
//   δ₀ ~ U(−1, 1) per element, scaled per sequence to adv_init_mag / sqrt(length · d_model)
//   for k = 1..K:  g_k = ∇_θ L(e + δ_{k−1}) / K   (accumulated)
//                  δ_k = δ_{k−1} + adv_lr · ∇_δ L / ‖∇_δ L‖_F       (per sequence)
//                  δ_k ← δ_k · min(1, adv_max_norm / ‖δ_k‖_F)         (projection on the ball)
// All K forwards use the same dropout masks (the same ctx), as the paper recommends (§3.3).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/models/token_batch.hpp"

namespace moerb {

struct FreeLBOptions {
  /// K, the number of ascent steps; 0 turns adversarial training off.
  Index steps = 0;
  /// Step size of each ascent step (FreeLB's adv-lr).
  double adv_lr = 0.1;
  /// Magnitude of the random initial perturbation (adv-init-mag); 0 starts from δ = 0.
  double adv_init_mag = 0.1;
  /// Radius of the Frobenius-norm ball per sequence (adv-max-norm). Negative = adv_init_mag
  /// (a ball of radius adv-init, as in the study's configuration); 0 = unbounded.
  double adv_max_norm = -1;

  [[nodiscard]] bool enabled() const { return steps > 0; }
  [[nodiscard]] double radius() const { return adv_max_norm < 0 ? adv_init_mag : adv_max_norm; }
  void validate(std::string_view where) const {
    MOERB_REQUIRE(steps >= 0, where, ": FreeLBOptions::steps = ", steps, ", expected >= 0");
    MOERB_REQUIRE(std::isfinite(adv_lr) && adv_lr >= 0, where, ": FreeLBOptions::adv_lr = ", adv_lr,
            ", expected a finite value >= 0");
    MOERB_REQUIRE(std::isfinite(adv_init_mag) && adv_init_mag >= 0, where,
            ": FreeLBOptions::adv_init_mag = ", adv_init_mag, ", expected a finite value >= 0");
    MOERB_REQUIRE(std::isfinite(adv_max_norm), where, ": FreeLBOptions::adv_max_norm = ", adv_max_norm,
            ", expected finite");
  }
};

/// One FreeLB step on `model` (EncoderClassifier or DecoderLM: embed, forward_embeddings,
/// backward, aux_loss) for `batch`. `loss_fn(logits, d_logits)` returns the mean task loss and
/// writes its gradient. Sets the parameter gradients to (1/K) Σ_k ∇θ (task_k + aux_k) —
/// overwriting what they held — and returns (1/K) Σ_k (task_k + aux_k). `rng` draws δ₀.
template <class Model, class LossFn>
double freelb_step(Model& model, const TokenBatch& batch, const ForwardContext& ctx,
                   const FreeLBOptions& options, Rng& rng, LossFn&& loss_fn) {
  using S = typename Model::Scalar;
  options.validate("freelb_step");
  MOERB_REQUIRE(options.enabled(), "freelb_step: FreeLBOptions::steps = 0");
  const Matrix<S> embeddings = model.embed(batch);
  const Index d = embeddings.cols();
  const SequenceBatch& seqs = batch.sequences;
  Matrix<S> delta = Matrix<S>::Zero(embeddings.rows(), d);
  if (options.adv_init_mag > 0) {
    for (Index b = 0; b < seqs.num_sequences(); ++b) {
      const double scale =
          options.adv_init_mag / std::sqrt(static_cast<double>(seqs.length(b) * d));
      for (Index t = seqs.begin(b); t < seqs.end(b); ++t) {
        for (Index j = 0; j < d; ++j) delta(t, j) = static_cast<S>(rng.uniform(-1, 1) * scale);
      }
    }
  }
  // The K gradients are averaged in `sum` (each backward adds the aux-loss gradients in full,
  // so scaling d_logits alone would over-weight them).
  std::vector<Parameter<S>*> params;
  model.visit_parameters([&](std::string_view, Parameter<S>& p) { params.push_back(&p); }, "");
  std::vector<Matrix<S>> sum(params.size());
  for (std::size_t i = 0; i < params.size(); ++i)
    sum[i].setZero(params[i]->grad.rows(), params[i]->grad.cols());
  const double radius = options.radius();
  const auto K = options.steps;
  double total = 0;
  Matrix<S> perturbed, d_logits;
  for (Index k = 0; k < K; ++k) {
    perturbed = embeddings + delta;
    const Matrix<S>& logits = model.forward_embeddings(perturbed, batch, ctx);
    total += loss_fn(logits, d_logits) + static_cast<double>(model.aux_loss());
    for (Parameter<S>* p : params) p->grad.setZero();
    const Matrix<S>& g = model.backward(d_logits);
    for (std::size_t i = 0; i < params.size(); ++i) sum[i] += params[i]->grad;
    if (k + 1 == K) break;
    for (Index b = 0; b < seqs.num_sequences(); ++b) {
      auto gb = g.middleRows(seqs.begin(b), seqs.length(b));
      auto db = delta.middleRows(seqs.begin(b), seqs.length(b));
      const double gn = std::max(static_cast<double>(gb.norm()), 1e-8);
      db += static_cast<S>(options.adv_lr / gn) * gb;
      if (radius > 0) {
        const double dn = static_cast<double>(db.norm());
        if (dn > radius) db *= static_cast<S>(radius / dn);
      }
    }
  }
  const S inv_k = S(1) / static_cast<S>(K);
  for (std::size_t i = 0; i < params.size(); ++i) {
    params[i]->grad.noalias() = inv_k * sum[i];  // frozen parameters' sums are zero
  }
  return total / static_cast<double>(K);
}

}  // namespace moerb
