#pragma once
// Search methods: how an attack walks through the candidates a transformation offers (TextAttack's
// SearchMethod). A search method S has
//
//   template <class Problem> SearchOutcome search(Problem& problem) const;
//
// where the Problem (attack.hpp's AttackProblem) gives the original text and its score, the
// positions the position constraints allow, the constraint-filtered candidates of a text at some
// positions, and batched scoring: score(texts) scores every text of the span in as few victim
// forwards as the batch size allows, stops at the query budget (returning fewer results) and says
// so through exhausted(). Searches never call the victim themselves, so every candidate of a step
// is scored in one batched forward and queries are counted in one place.
//
//   GreedyWordSwap      rank words by importance (deletion, [UNK] replacement, gradient norm or
//                       random order), then at each word in turn keep the best candidate if it
//                       raises the goal score (TextFooler: Jin et al. 2020; TextAttack's
//                       GreedyWordSwapWIR). With WordImportance::weighted_saliency it is PWWS
//                       (Ren et al. 2019): softmax of the [UNK] saliency times the best swap's
//                       gain.
//   BeamSearch          keep the `width` best texts; each step scores every candidate of every beam
//                       text in one batch.
//   GeneticSearch       Alzantot et al. 2018, "Generating Natural Language Adversarial Examples":
//                       a population of perturbed texts, fitness-proportional parents, uniform
//                       crossover and one perturbation per child.
//   RandomCorruption    no search: `severity` (1-5) × 10 % of the words get a random candidate
//   each,
//                       scored once (the corruption sweeps of out-of-distribution evaluation).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

#include "moerb/attacks/attacked_text.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/rng.hpp"

namespace moerb {

/// One scored text: the goal's score and verdict, and the victim's prediction on it.
struct ScoredText {
  double score = 0;
  bool succeeded = false;
  std::int32_t prediction = -1;
  double confidence = 0;         ///< probability of `prediction`
  double label_probability = 0;  ///< probability of the gold label
};

/// What a search returns: the text it settled on and its score.
struct SearchOutcome {
  AttackedText text;
  ScoredText result;
};

namespace detail::attacks {

/// The interface a search may use; the archetype checks a search's signature in SearchMethod.
struct ProblemArchetype {
  const AttackedText& original() const;
  const ScoredText& original_result() const;
  std::vector<WordPosition> positions(const AttackedText& text) const;
  std::vector<AttackedText> candidates(const AttackedText& text,
                                       std::span<const WordPosition> positions);
  std::vector<ScoredText> score(std::span<const AttackedText> texts);
  bool exhausted() const;
  Rng& rng();
  // Used by some searches only:
  bool acceptable(const AttackedText& text);  // the candidate constraints hold against the original
  std::vector<double> unk_importance(const AttackedText& text,
                                     std::span<const WordPosition> positions);
  std::vector<double> gradient_importance(const AttackedText& text,
                                          std::span<const WordPosition> positions);
};

/// Indices of the `n` largest scores (ties: lower index first).
inline std::vector<std::size_t> top_indices(const std::vector<ScoredText>& scored, std::size_t n) {
  std::vector<std::size_t> order(scored.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return scored[a].score > scored[b].score; });
  order.resize(std::min(n, order.size()));
  return order;
}

/// The best of `scored` (the first among equal scores): its index, or npos when empty.
inline std::size_t best_index(std::span<const ScoredText> scored) {
  std::size_t best = static_cast<std::size_t>(-1);
  for (std::size_t i = 0; i < scored.size(); ++i) {
    if (best == static_cast<std::size_t>(-1) || scored[i].score > scored[best].score) best = i;
  }
  return best;
}

}  // namespace detail::attacks

template <class S>
concept SearchMethod = std::copyable<S> &&
    requires(const S& s, detail::attacks::ProblemArchetype& problem) {
  { s.search(problem) } -> std::same_as<SearchOutcome>;
};

/// How GreedyWordSwap orders the words it tries.
enum class WordImportance : std::uint8_t {
  deletion,  ///< goal-score gain when the word is deleted (TextFooler)
  unk,       ///< gain when the word's tokens become [UNK] (needs the problem's unk scoring)
  gradient,  ///< ‖∂loss/∂e‖ summed over the word's tokens (white-box victims)
  weighted_saliency,  ///< PWWS: softmax([UNK] saliency) × best swap's gain
  random,             ///< a seeded random order
};

/// Greedy search with word-importance ranking (see the file comment). Importance scoring costs one
/// query per word (two passes for weighted_saliency: [UNK] and every candidate).
class GreedyWordSwap {
 public:
  struct Options {
    WordImportance importance = WordImportance::deletion;
  };
  GreedyWordSwap() = default;
  explicit GreedyWordSwap(const Options& options) : options_(options) {}
  [[nodiscard]] const Options& options() const { return options_; }

  template <class Problem>
  SearchOutcome search(Problem& problem) const {
    SearchOutcome best{problem.original(), problem.original_result()};
    std::vector<WordPosition> order = problem.positions(best.text);
    if (order.empty()) return best;
    std::vector<double> importance;
    switch (options_.importance) {
      case WordImportance::deletion:
        importance = deletion_importance(problem, order);
        break;
      case WordImportance::unk:
        importance = problem.unk_importance(best.text, order);
        break;
      case WordImportance::gradient:
        importance = problem.gradient_importance(best.text, order);
        break;
      case WordImportance::weighted_saliency:
        importance = weighted_saliency(problem, order);
        break;
      case WordImportance::random: {
        Rng& rng = problem.rng();
        importance.resize(order.size());
        for (double& v : importance) v = rng.uniform();
        break;
      }
    }
    if (problem.exhausted()) return best;
    MOERB_REQUIRE(importance.size() == order.size(), "GreedyWordSwap: ", importance.size(),
                  " importance values for ", order.size(), " words");
    std::vector<std::size_t> rank(order.size());
    std::iota(rank.begin(), rank.end(), std::size_t{0});
    std::stable_sort(rank.begin(), rank.end(),
                     [&](std::size_t a, std::size_t b) { return importance[a] > importance[b]; });
    for (const std::size_t r : rank) {
      const WordPosition p = order[r];
      // A position constraint may have closed this slot since the ranking (e.g. the maximum
      // fraction of modified words).
      const std::vector<WordPosition> open = problem.positions(best.text);
      if (std::find(open.begin(), open.end(), p) == open.end()) continue;
      const std::vector<AttackedText> candidates =
          problem.candidates(best.text, std::span<const WordPosition>(&p, 1));
      if (candidates.empty()) continue;
      const std::vector<ScoredText> scored = problem.score(candidates);
      const std::size_t i = detail::attacks::best_index(scored);
      if (i != static_cast<std::size_t>(-1) && scored[i].score > best.result.score) {
        best = {candidates[i], scored[i]};
        if (best.result.succeeded) return best;
      }
      if (problem.exhausted()) return best;
    }
    return best;
  }

 private:
  template <class Problem>
  static std::vector<double> deletion_importance(Problem& problem,
                                                 const std::vector<WordPosition>& order) {
    const AttackedText& text = problem.original();
    std::vector<AttackedText> deleted;
    deleted.reserve(order.size());
    for (const WordPosition p : order) deleted.push_back(text.with_word(p, ""));
    const std::vector<ScoredText> scored = problem.score(deleted);
    std::vector<double> importance(order.size(), -std::numeric_limits<double>::infinity());
    for (std::size_t i = 0; i < scored.size(); ++i) {
      importance[i] = scored[i].score - problem.original_result().score;
    }
    return importance;
  }

  // PWWS (Ren et al. 2019, eq. 7-8): H(x, x*_i, w_i) = softmax(S(x))_i · ΔP*_i, where S(x)_i is
  // the drop of p(y) when w_i becomes [UNK] and ΔP*_i the drop for the best substitute of w_i. The
  // goal score stands in for −p(y) so that targeted goals work the same way.
  template <class Problem>
  static std::vector<double> weighted_saliency(Problem& problem,
                                               const std::vector<WordPosition>& order) {
    const std::vector<double> saliency = problem.unk_importance(problem.original(), order);
    std::vector<double> gain(order.size(), -std::numeric_limits<double>::infinity());
    for (std::size_t i = 0; i < order.size() && !problem.exhausted(); ++i) {
      const std::vector<AttackedText> candidates =
          problem.candidates(problem.original(), std::span<const WordPosition>(&order[i], 1));
      if (candidates.empty()) continue;
      const std::vector<ScoredText> scored = problem.score(candidates);
      const std::size_t b = detail::attacks::best_index(scored);
      if (b != static_cast<std::size_t>(-1)) {
        gain[i] = scored[b].score - problem.original_result().score;
      }
    }
    double max_s = -std::numeric_limits<double>::infinity();
    for (const double s : saliency) max_s = std::max(max_s, s);
    double z = 0;
    for (const double s : saliency) z += std::isfinite(s) ? std::exp(s - max_s) : 0.0;
    std::vector<double> h(order.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
      const double w = std::isfinite(saliency[i]) && z > 0 ? std::exp(saliency[i] - max_s) / z : 0;
      h[i] = std::isfinite(gain[i]) ? w * gain[i] : -std::numeric_limits<double>::infinity();
    }
    return h;
  }

  Options options_;
};

/// Beam search over word swaps.
class BeamSearch {
 public:
  struct Options {
    std::size_t width = 4;
  };
  BeamSearch() = default;
  explicit BeamSearch(const Options& options) : options_(options) {
    MOERB_REQUIRE(options.width >= 1, "BeamSearch: width = 0, expected >= 1");
  }
  [[nodiscard]] const Options& options() const { return options_; }

  template <class Problem>
  SearchOutcome search(Problem& problem) const {
    SearchOutcome best{problem.original(), problem.original_result()};
    std::vector<SearchOutcome> beam{best};
    while (!problem.exhausted()) {
      std::vector<AttackedText> candidates;
      for (const SearchOutcome& b : beam) {
        const std::vector<WordPosition> positions = problem.positions(b.text);
        std::vector<AttackedText> c = problem.candidates(b.text, positions);
        for (AttackedText& t : c) candidates.push_back(std::move(t));
      }
      if (candidates.empty()) break;
      const std::vector<ScoredText> scored = problem.score(candidates);
      if (scored.empty()) break;
      const std::vector<std::size_t> top = detail::attacks::top_indices(scored, options_.width);
      const double previous = best.result.score;
      beam.clear();
      for (const std::size_t i : top) {
        beam.push_back({candidates[i], scored[i]});
        if (scored[i].score > best.result.score) best = beam.back();
      }
      if (best.result.succeeded || !(best.result.score > previous)) break;
    }
    return best;
  }

 private:
  Options options_;
};

/// The genetic search of Alzantot et al. 2018 (see the file comment).
class GeneticSearch {
 public:
  struct Options {
    std::size_t population = 20;
    std::size_t generations = 10;
    double temperature = 0.3;         ///< fitness softmax temperature (the paper's sampling)
    std::size_t crossover_tries = 8;  ///< redraws of a child that breaks a constraint
  };
  GeneticSearch() = default;
  explicit GeneticSearch(const Options& options) : options_(options) {
    MOERB_REQUIRE(options.population >= 2, "GeneticSearch: population = ", options.population,
                  ", expected >= 2");
    MOERB_REQUIRE(options.generations >= 1, "GeneticSearch: generations = 0, expected >= 1");
    MOERB_REQUIRE(options.temperature > 0 && std::isfinite(options.temperature),
                  "GeneticSearch: temperature = ", options.temperature, ", expected > 0");
  }
  [[nodiscard]] const Options& options() const { return options_; }

  template <class Problem>
  SearchOutcome search(Problem& problem) const {
    SearchOutcome best{problem.original(), problem.original_result()};
    Rng& rng = problem.rng();
    // Initial population: P perturbations of the original.
    std::vector<AttackedText> population;
    for (std::size_t i = 0; i < options_.population && !problem.exhausted(); ++i) {
      population.push_back(perturb(problem, best.text, rng));
    }
    for (std::size_t g = 0; g < options_.generations && !problem.exhausted(); ++g) {
      const std::vector<ScoredText> scored = problem.score(population);
      if (scored.empty()) break;
      population.resize(scored.size());
      const std::size_t elite = detail::attacks::best_index(scored);
      if (scored[elite].score > best.result.score || scored[elite].succeeded) {
        best = {population[elite], scored[elite]};
      }
      if (best.result.succeeded) break;
      // Fitness-proportional sampling: softmax(score / temperature).
      double max_score = -std::numeric_limits<double>::infinity();
      for (const ScoredText& s : scored) max_score = std::max(max_score, s.score);
      std::vector<double> cumulative(scored.size());
      double total = 0;
      for (std::size_t i = 0; i < scored.size(); ++i) {
        total += std::exp((scored[i].score - max_score) / options_.temperature);
        cumulative[i] = total;
      }
      const auto sample = [&] {
        const auto it =
            std::upper_bound(cumulative.begin(), cumulative.end(), rng.uniform() * total);
        return std::min(static_cast<std::size_t>(it - cumulative.begin()), cumulative.size() - 1);
      };
      std::vector<AttackedText> next{population[elite]};
      while (next.size() < options_.population) {
        const AttackedText& a = population[sample()];
        const AttackedText& b = population[sample()];
        AttackedText child = crossover(problem, a, b, rng);
        next.push_back(perturb(problem, child, rng));
      }
      population = std::move(next);
    }
    return best;
  }

 private:
  // One random slot that has candidates gets its best-scoring candidate (the paper's Perturb, with
  // the victim's score standing in for the language-model-filtered choice).
  template <class Problem>
  static AttackedText perturb(Problem& problem, const AttackedText& text, Rng& rng) {
    std::vector<WordPosition> positions = problem.positions(text);
    while (!positions.empty() && !problem.exhausted()) {
      const std::size_t i = rng.uniform_index(positions.size());
      const WordPosition p = positions[i];
      const std::vector<AttackedText> candidates =
          problem.candidates(text, std::span<const WordPosition>(&p, 1));
      if (!candidates.empty()) {
        const std::vector<ScoredText> scored = problem.score(candidates);
        const std::size_t b = detail::attacks::best_index(scored);
        if (b != static_cast<std::size_t>(-1)) return candidates[b];
        return text;
      }
      positions.erase(positions.begin() + static_cast<std::ptrdiff_t>(i));
    }
    return text;
  }

  // Uniform crossover: each slot from either parent; a child that breaks a constraint is redrawn
  // a few times, then the first parent is kept.
  template <class Problem>
  AttackedText crossover(Problem& problem, const AttackedText& a, const AttackedText& b,
                         Rng& rng) const {
    for (std::size_t attempt = 0; attempt < options_.crossover_tries; ++attempt) {
      std::vector<std::pair<WordPosition, std::string>> from_b;
      for (std::size_t s = 0; s < a.num_sides(); ++s) {
        const std::size_t n = std::min(a.num_words(s), b.num_words(s));
        for (std::size_t w = 0; w < n; ++w) {
          const WordPosition p{static_cast<std::uint8_t>(s), static_cast<std::uint32_t>(w)};
          if (a.word(p) != b.word(p) && rng.uniform() < 0.5) from_b.emplace_back(p, b.word(p));
        }
      }
      if (from_b.empty()) return a;
      AttackedText child = a.with_words(from_b);
      if (problem.acceptable(child)) return child;
    }
    return a;
  }

  Options options_;
};

/// No search: corrupt severity × 10 % of the attackable words (at least one) with a random
/// candidate each, then score once.
class RandomCorruption {
 public:
  struct Options {
    int severity = 3;  ///< 1 to 5
  };
  RandomCorruption() = default;
  explicit RandomCorruption(const Options& options) : options_(options) {
    MOERB_REQUIRE(options.severity >= 1 && options.severity <= 5,
                  "RandomCorruption: severity = ", options.severity, ", expected 1 to 5");
  }
  [[nodiscard]] const Options& options() const { return options_; }
  /// The fraction of words corrupted at a severity.
  [[nodiscard]] static double fraction(int severity) { return 0.1 * severity; }

  template <class Problem>
  SearchOutcome search(Problem& problem) const {
    Rng& rng = problem.rng();
    AttackedText text = problem.original();
    std::vector<WordPosition> positions = problem.positions(text);
    const auto wanted = static_cast<std::size_t>(std::max(
        1.0, std::round(fraction(options_.severity) * static_cast<double>(positions.size()))));
    std::size_t done = 0;
    while (done < wanted && !positions.empty()) {
      const std::size_t i = rng.uniform_index(positions.size());
      const WordPosition p = positions[i];
      positions.erase(positions.begin() + static_cast<std::ptrdiff_t>(i));
      const std::vector<AttackedText> candidates =
          problem.candidates(text, std::span<const WordPosition>(&p, 1));
      if (candidates.empty()) continue;
      text = candidates[rng.uniform_index(candidates.size())];
      ++done;
    }
    if (text.same_words(problem.original())) return {text, problem.original_result()};
    const std::vector<ScoredText> scored = problem.score(std::span<const AttackedText>(&text, 1));
    if (scored.empty()) return {problem.original(), problem.original_result()};
    return {text, scored.front()};
  }

 private:
  Options options_;
};

}  // namespace moerb
