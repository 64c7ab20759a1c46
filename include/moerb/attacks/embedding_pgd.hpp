#pragma once
// FGSM and PGD in embedding space: a perturbation δ of the word embeddings (tokens × d_model) of
// each sequence, inside an L∞ or L2 ball, that ascends the cross-entropy of the true label — the
// fast gradient sign method (Goodfellow, Shlens & Szegedy 2015, "Explaining and Harnessing
// Adversarial Examples") and projected gradient descent (Madry, Makelov, Schmidt, Tsipras & Vladu
// 2018, "Towards Deep Learning Models Resistant to Adversarial Attacks"), applied to the continuous
// embeddings of a text model as FreeLB adversarial training does (train/freelb.hpp).
//
//   δ₀ = 0, or a random start in the ball
//   δ_{k+1} = Π_ball(δ_k + α · s(∇_δ L(e + δ_k)))
//     L∞: s(g) = sign(g),    Π clamps every entry to [−ε, ε]
//     L2: s(g) = g / ‖g‖_F,  Π scales δ by min(1, r / ‖δ‖_F)   (FreeLB's step and projection)
//
// The ball is per sequence: L∞ radius ε for every entry; L2 radius r = ε over the whole sequence's
// δ (Frobenius norm, as FreeLB's adv_max_norm), or r = ε·sqrt(n) with scale_l2_radius_by_length,
// n the perturbed tokens, so that long and short sequences get the same per-token budget. Random
// start: uniform in [−ε, ε] per entry (L∞); a Gaussian direction scaled to a radius uniform in
// [0, r] (L2; not uniform in the ball's volume, which would put almost all starts at its surface).
// Sequence b of a batch draws from rng.split(first_index + b), its example's index, so the same
// seed gives the same starts, bit for bit, whatever the batch size.
//
// Positions holding special tokens (ids below special_token_count: [CLS], [SEP], ...) stay
// unperturbed unless perturb_special_tokens. All sequences of a batch share one forward/backward
// per step. An example the model already gets wrong is not attacked (its adversarial prediction is
// the clean one: δ = 0 already succeeds); with stop_when_fooled a sequence keeps the first iterate
// that the model misclassifies, otherwise the last iterate is reported. FGSM is one step of size ε
// without random start (EmbeddingPGDOptions::fgsm).
//
// The ascended loss is the victim's cross-entropy plus, for MoE victims, the routers' auxiliary
// losses (embedding_gradient.hpp). Parameter gradients are zero after an attack; parameter values
// never change.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/attacks/embedding_gradient.hpp"
#include "moerb/attacks/victim.hpp"
#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"
#include "moerb/metrics/classification.hpp"
#include "moerb/metrics/confidence.hpp"
#include "moerb/metrics/labeled_example.hpp"
#include "moerb/models/token_batch.hpp"
#include "moerb/text/vocabulary.hpp"
#include "moerb/train/encoded_example.hpp"

namespace moerb {

/// The ball of an embedding-space perturbation (shared with router_attack.hpp).
enum class PerturbationNorm : std::uint8_t {
  linf,  ///< max |δ_ij| <= ε
  l2,    ///< ‖δ‖_F <= r over the whole sequence (FreeLB's ball)
};

struct EmbeddingPGDOptions {
  PerturbationNorm norm = PerturbationNorm::linf;
  /// ε, the radius of each sequence's ball (>= 0; 0 leaves the embeddings clean).
  double epsilon = 0.1;
  /// L2 only: radius ε·sqrt(perturbed tokens) instead of ε.
  bool scale_l2_radius_by_length = false;
  /// Ascent steps (>= 1); FGSM is 1.
  Index steps = 10;
  /// α = step_size_ratio · ε, so that a sweep over ε scales the steps along; 0 = 2.5 / steps
  /// (the path can cross the ball and back).
  double step_size_ratio = 0;
  bool random_start = true;
  /// Keep the first misclassified iterate of a sequence (and stop updating it).
  bool stop_when_fooled = true;
  /// Also perturb the positions holding special tokens.
  bool perturb_special_tokens = false;
  /// Ids below this are special tokens.
  std::int32_t special_token_count = static_cast<std::int32_t>(Vocabulary::special_token_count);
  /// Sequences per forward/backward (embedding_pgd, robust_accuracy).
  Index batch_size = 32;

  /// One step of size ε from δ = 0: δ = ε·sign(g) (L∞) or ε·g/‖g‖_F (L2, the fast gradient
  /// method of Miyato, Dai & Goodfellow 2017).
  [[nodiscard]] static EmbeddingPGDOptions fgsm(double epsilon,
                                                PerturbationNorm norm = PerturbationNorm::linf) {
    EmbeddingPGDOptions o;
    o.norm = norm;
    o.epsilon = epsilon;
    o.steps = 1;
    o.step_size_ratio = 1;
    o.random_start = false;
    return o;
  }

  /// α for this ε.
  [[nodiscard]] double step_size() const {
    return (step_size_ratio > 0 ? step_size_ratio : 2.5 / static_cast<double>(steps)) * epsilon;
  }

  void validate(std::string_view where) const {
    MOERB_REQUIRE(std::isfinite(epsilon) && epsilon >= 0, where,
                  ": EmbeddingPGDOptions::epsilon = ", epsilon, ", expected a finite value >= 0");
    MOERB_REQUIRE(steps >= 1, where, ": EmbeddingPGDOptions::steps = ", steps, ", expected >= 1");
    MOERB_REQUIRE(std::isfinite(step_size_ratio) && step_size_ratio >= 0, where,
                  ": EmbeddingPGDOptions::step_size_ratio = ", step_size_ratio,
                  ", expected a finite value >= 0 (0 = 2.5 / steps)");
    MOERB_REQUIRE(special_token_count >= 0, where,
                  ": EmbeddingPGDOptions::special_token_count = ", special_token_count,
                  ", expected >= 0");
    MOERB_REQUIRE(batch_size >= 1, where, ": EmbeddingPGDOptions::batch_size = ", batch_size,
                  ", expected >= 1");
  }
};

/// One attacked example.
struct EmbeddingPGDResult {
  std::size_t index = 0;  ///< the example's position in the attacked data set
  std::int32_t label = -1;
  std::int32_t clean_prediction = -1;
  std::int32_t adversarial_prediction = -1;
  double clean_label_probability = 0;
  double adversarial_label_probability = 0;
  double loss = 0;               ///< −log p(label) at the reported (adversarial) embeddings
  double radius = 0;             ///< of the ball (ε, or r for L2)
  double perturbation_norm = 0;  ///< ‖δ‖ in the ball's norm (L∞: max |δ_ij|; L2: Frobenius)
  Index steps = 0;               ///< ascent steps taken before the reported iterate

  [[nodiscard]] bool clean_correct() const { return clean_prediction == label; }
  /// Correct under attack (never for an example already wrong on clean input).
  [[nodiscard]] bool adversarial_correct() const { return adversarial_prediction == label; }
};

/// The results of one batch and its final perturbation δ (tokens × d_model, rows of unperturbed
/// positions zero).
template <FloatingScalar S>
struct EmbeddingPGDBatch {
  std::vector<EmbeddingPGDResult> results;
  Matrix<S> delta;
};

namespace detail::embedding_pgd {

struct NoObserver {
  template <class S>
  void operator()(Index, const Matrix<S>&) const {}
};

/// −log p(label) from a probability (clamped away from 0).
inline double label_loss(double p) {
  return -std::log(std::max(p, 1e-300));
}

}  // namespace detail::embedding_pgd

/// PGD (or FGSM) on one batch: `labels` one per sequence, `rng` the seed stream (sequence b draws
/// from rng.split(first_index + b)). `after_projection(step, delta)` is called with δ (tokens ×
/// d_model) after the random start's projection (step 0) and after each ascent step's projection
/// (step k); tests use it to check the ball. Throws moerb::error for invalid options, labels or
/// batch.
template <WhiteBoxClassifierVictim V, class Observer = detail::embedding_pgd::NoObserver>
[[nodiscard]] EmbeddingPGDBatch<typename V::Scalar> embedding_pgd_batch(
    V& victim, const TokenBatch& batch, std::span<const std::int32_t> labels,
    const EmbeddingPGDOptions& options, const Rng& rng, std::size_t first_index = 0,
    Observer&& after_projection = {}) {
  using S = typename V::Scalar;
  constexpr std::string_view where = "embedding_pgd";
  options.validate(where);
  batch.validate(where);
  const Index classes = static_cast<Index>(victim.num_classes());
  const Index B = batch.num_sequences();
  detail::gradient_attacks::require_labels(labels, B, classes, where);
  const SequenceBatch& seqs = batch.sequences;

  EmbeddingPGDBatch<S> out;
  out.results.resize(static_cast<std::size_t>(B));
  const Matrix<double> clean = class_probabilities(victim, batch);
  const Matrix<S> embeddings = victim.embed(batch);  // a copy: the victim may reuse its member
  const Index d = embeddings.cols();
  out.delta = Matrix<S>::Zero(embeddings.rows(), d);
  Matrix<S>& delta = out.delta;

  const bool linf = options.norm == PerturbationNorm::linf;
  const double eps = options.epsilon;
  const double alpha = options.step_size();
  const S eps_s = static_cast<S>(eps);
  std::vector<std::uint8_t> perturbed(static_cast<std::size_t>(batch.num_tokens()));
  for (std::size_t t = 0; t < perturbed.size(); ++t) {
    perturbed[t] = options.perturb_special_tokens || batch.ids[t] >= options.special_token_count;
  }
  std::vector<std::uint8_t> active(static_cast<std::size_t>(B));
  for (Index b = 0; b < B; ++b) {
    const auto sb = static_cast<std::size_t>(b);
    EmbeddingPGDResult& r = out.results[sb];
    r.index = first_index + sb;
    r.label = labels[sb];
    const std::span<const double> p(clean.row(b).data(), static_cast<std::size_t>(classes));
    r.clean_prediction = predicted_class(p);
    r.clean_label_probability = p[static_cast<std::size_t>(r.label)];
    Index n = 0;
    for (Index t = seqs.begin(b); t < seqs.end(b); ++t) n += perturbed[static_cast<std::size_t>(t)];
    r.radius =
        !linf && options.scale_l2_radius_by_length ? eps * std::sqrt(static_cast<double>(n)) : eps;
    active[sb] = r.clean_correct() ? 1 : 0;
    // Not attacked: already wrong (δ = 0 succeeds).
    r.adversarial_prediction = r.clean_prediction;
    r.adversarial_label_probability = r.clean_label_probability;
    r.loss = detail::embedding_pgd::label_loss(r.clean_label_probability);
  }

  // Per-sequence norms of δ and of the gradient over the perturbed rows.
  const auto squared_norm = [&](const Matrix<S>& m, Index b) {
    double sum = 0;
    for (Index t = seqs.begin(b); t < seqs.end(b); ++t) {
      if (perturbed[static_cast<std::size_t>(t)] != 0) {
        sum += static_cast<double>(m.row(t).squaredNorm());
      }
    }
    return sum;
  };
  const auto project = [&](Index b) {
    const double r = out.results[static_cast<std::size_t>(b)].radius;
    auto db = delta.middleRows(seqs.begin(b), seqs.length(b));
    if (linf) {
      db = db.cwiseMax(-eps_s).cwiseMin(eps_s);
      return;
    }
    const double dn = std::sqrt(squared_norm(delta, b));
    if (dn > r) db *= static_cast<S>(r / dn);
  };

  if (options.random_start && eps > 0) {
    for (Index b = 0; b < B; ++b) {
      if (active[static_cast<std::size_t>(b)] == 0) continue;
      Rng r = rng.split(first_index + static_cast<std::size_t>(b));
      for (Index t = seqs.begin(b); t < seqs.end(b); ++t) {
        if (perturbed[static_cast<std::size_t>(t)] == 0) continue;
        for (Index j = 0; j < d; ++j) {
          delta(t, j) = static_cast<S>(linf ? r.uniform(-eps, eps) : r.normal());
        }
      }
      if (!linf) {
        const double norm = std::sqrt(squared_norm(delta, b));
        const double radius = out.results[static_cast<std::size_t>(b)].radius * r.uniform();
        if (norm > 0)
          delta.middleRows(seqs.begin(b), seqs.length(b)) *= static_cast<S>(radius / norm);
      }
      project(b);
    }
  }
  after_projection(Index{0}, std::as_const(delta));

  const auto record = [&](Index b, const EmbeddingGradient<S>& at, Index step) {
    const auto sb = static_cast<std::size_t>(b);
    EmbeddingPGDResult& r = out.results[sb];
    const std::span<const double> p(at.probabilities.row(b).data(),
                                    static_cast<std::size_t>(classes));
    r.adversarial_prediction = predicted_class(p);
    r.adversarial_label_probability = p[static_cast<std::size_t>(r.label)];
    r.loss = at.losses[sb];
    r.steps = step;
    const auto db = delta.middleRows(seqs.begin(b), seqs.length(b));
    r.perturbation_norm =
        linf ? static_cast<double>(db.cwiseAbs().maxCoeff()) : std::sqrt(squared_norm(delta, b));
  };

  EmbeddingGradient<S> at;
  Matrix<S> inputs, d_logits;
  for (Index k = 0; k <= options.steps; ++k) {
    if (std::none_of(active.begin(), active.end(), [](std::uint8_t a) { return a != 0; })) break;
    inputs = embeddings + delta;
    if (k < options.steps) {
      embedding_gradient_at(victim, batch, inputs, labels, at);
    } else {  // the last iterate needs no gradient
      const Matrix<S>& logits = victim.forward_embeddings(inputs, batch, ForwardContext{});
      require_shape(logits, B, classes, where, "the victim's logits");
      detail::gradient_attacks::summed_cross_entropy(logits, labels, at, d_logits, where);
    }
    for (Index b = 0; b < B; ++b) {
      const auto sb = static_cast<std::size_t>(b);
      if (active[sb] == 0) continue;
      const std::span<const double> p(at.probabilities.row(b).data(),
                                      static_cast<std::size_t>(classes));
      const bool fooled = predicted_class(p) != labels[sb];
      if (k == options.steps || (options.stop_when_fooled && fooled)) {
        record(b, at, k);
        active[sb] = 0;
      }
    }
    if (k == options.steps) break;
    const Matrix<S>& g = at.gradient;
    for (Index b = 0; b < B; ++b) {
      if (active[static_cast<std::size_t>(b)] == 0) continue;
      if (linf) {
        const S a = static_cast<S>(alpha);
        for (Index t = seqs.begin(b); t < seqs.end(b); ++t) {
          if (perturbed[static_cast<std::size_t>(t)] == 0) continue;
          for (Index j = 0; j < d; ++j) {
            const S gj = g(t, j);
            delta(t, j) += gj > 0 ? a : (gj < 0 ? -a : S(0));
          }
        }
      } else {
        const double gn = std::sqrt(squared_norm(g, b));
        if (gn > 0) {
          const S scale = static_cast<S>(alpha / gn);
          for (Index t = seqs.begin(b); t < seqs.end(b); ++t) {
            if (perturbed[static_cast<std::size_t>(t)] != 0) delta.row(t) += scale * g.row(t);
          }
        }
      }
      project(b);
    }
    after_projection(k + 1, std::as_const(delta));
  }
  return out;
}

namespace detail::embedding_pgd {

/// The batch of examples [first, first + count), checked.
inline TokenBatch batch_of(std::span<const EncodedExample> examples, std::size_t first,
                           std::size_t count, std::vector<std::int32_t>& labels,
                           std::string_view where) {
  TokenBatch batch;
  labels.clear();
  for (std::size_t i = first; i < first + count; ++i) {
    const EncodedExample& e = examples[i];
    MOERB_REQUIRE(!e.ids.empty(), where, ": example ", i, " has no token ids");
    MOERB_REQUIRE(e.segments.empty() || e.segments.size() == e.ids.size(), where, ": example ", i,
                  " has ", e.segments.size(), " segment ids for ", e.ids.size(), " tokens");
    batch.push_back(e.ids, e.segments);
    labels.push_back(e.label);
  }
  return batch;
}

}  // namespace detail::embedding_pgd

/// PGD (or FGSM) on every example, in batches of options.batch_size; results in example order.
/// Example i draws its random start from rng.split(i).
template <WhiteBoxClassifierVictim V>
[[nodiscard]] std::vector<EmbeddingPGDResult> embedding_pgd(
    V& victim, std::span<const EncodedExample> examples, const EmbeddingPGDOptions& options,
    const Rng& rng) {
  constexpr std::string_view where = "embedding_pgd";
  options.validate(where);
  MOERB_REQUIRE(!examples.empty(), where, ": no examples");
  std::vector<EmbeddingPGDResult> out;
  out.reserve(examples.size());
  std::vector<std::int32_t> labels;
  const auto step = static_cast<std::size_t>(options.batch_size);
  for (std::size_t first = 0; first < examples.size(); first += step) {
    const std::size_t count = std::min(step, examples.size() - first);
    const TokenBatch batch = detail::embedding_pgd::batch_of(examples, first, count, labels, where);
    auto r = embedding_pgd_batch(victim, batch, labels, options, rng, first);
    out.insert(out.end(), r.results.begin(), r.results.end());
  }
  return out;
}

/// Accuracy under attack at one radius.
struct RobustAccuracyPoint {
  double epsilon = 0;
  ConfidenceInterval accuracy;  ///< Wilson score interval (moerb::Accuracy::wilson)
  std::int64_t correct = 0;
  std::int64_t total = 0;
};

/// Accuracy under embedding PGD (`options`, its epsilon replaced) for each ε of `epsilons`; ε = 0
/// is the clean accuracy. Every ε uses the same random streams (rng.split(example index)), so the
/// L∞ starts of two radii are the same draws scaled. `level` is the Wilson interval's confidence.
template <WhiteBoxClassifierVictim V>
[[nodiscard]] std::vector<RobustAccuracyPoint> robust_accuracy(
    V& victim, std::span<const EncodedExample> examples, std::span<const double> epsilons,
    const EmbeddingPGDOptions& options, const Rng& rng, double level = 0.95) {
  constexpr std::string_view where = "robust_accuracy";
  options.validate(where);
  MOERB_REQUIRE(!examples.empty(), where, ": no examples");
  MOERB_REQUIRE(!epsilons.empty(), where, ": no epsilons");
  for (const double e : epsilons) {
    MOERB_REQUIRE(std::isfinite(e) && e >= 0, where, ": epsilon ", e,
                  " is not a finite value >= 0");
  }
  std::vector<RobustAccuracyPoint> out;
  std::vector<std::int32_t> labels;
  const auto step = static_cast<std::size_t>(options.batch_size);
  for (const double e : epsilons) {
    Accuracy accuracy;
    if (e == 0) {
      for (std::size_t first = 0; first < examples.size(); first += step) {
        const std::size_t count = std::min(step, examples.size() - first);
        const TokenBatch batch =
            detail::embedding_pgd::batch_of(examples, first, count, labels, where);
        detail::gradient_attacks::require_labels(labels, batch.num_sequences(),
                                                 static_cast<Index>(victim.num_classes()), where);
        const Matrix<double> p = class_probabilities(victim, batch);
        for (std::size_t i = 0; i < count; ++i) {
          const std::span<const double> row(p.row(static_cast<Index>(i)).data(),
                                            static_cast<std::size_t>(p.cols()));
          accuracy.add(LabeledPrediction{predicted_class(row), labels[i]});
        }
      }
    } else {
      EmbeddingPGDOptions o = options;
      o.epsilon = e;
      for (const EmbeddingPGDResult& r : embedding_pgd(victim, examples, o, rng)) {
        accuracy.add(LabeledPrediction{r.adversarial_prediction, r.label});
      }
    }
    out.push_back({.epsilon = e,
                   .accuracy = accuracy.wilson(level),
                   .correct = accuracy.state().correct,
                   .total = accuracy.state().total});
  }
  return out;
}

}  // namespace moerb
