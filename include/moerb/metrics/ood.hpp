#pragma once
// Out-of-distribution detection: scores computed from a classifier's logits, and the threshold-free
// metrics of how well a score separates in-distribution from OOD inputs.
//
// Convention: every score is "higher = more in-distribution". In-distribution examples are the
// positives of AUROC, AUPR-in and FPR@95%TPR; AUPR-out takes the OOD examples as positives and
// the negated score. Equal scores form one threshold (ties are exact, as in scikit-learn):
// - AUROC: sklearn.metrics.roc_auc_score(y, s) with y = 1 for in-distribution;
// - AUPR-in: sklearn.metrics.average_precision_score(y, s);
// - AUPR-out: average_precision_score(1 − y, −s);
// - FPR at TPR >= 95 %: the false-positive rate (OOD examples scoring at or above the threshold)
//   at the highest threshold whose true-positive rate reaches 0.95, i.e. fpr[i] for the first i
//   with tpr[i] >= 0.95 on sklearn.metrics.roc_curve(y, s, drop_intermediate=False) — the
//   lowest FPR at which 95 % of in-distribution inputs are accepted (Liang et al. 2018, ODIN).
//
// The accumulator keeps every score and sorts on value(), so merged shards give the one-pass value
// bit for bit.
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <functional>
#include <span>
#include <type_traits>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"
#include "moerb/metrics/detail/checks.hpp"
#include "moerb/metrics/detail/ranking.hpp"

namespace moerb {

/// A user's OOD score: called with one example's logits (a span of S), returns a double, higher
/// meaning more in-distribution. MaxSoftmaxProbability, MaxLogit and Energy model it.
template <class F, class S = float>
concept OodScore = FloatingScalar<S> && std::regular_invocable<const F&, std::span<const S>> &&
                   std::convertible_to < std::invoke_result_t<const F&, std::span<const S>>,
double > ;

namespace detail::metrics {

template <class S>
void check_logits(std::span<const S> logits, std::string_view where) {
  MOERB_REQUIRE(!logits.empty(), where, ": empty logit row");
  for (std::size_t k = 0; k < logits.size(); ++k) {
    MOERB_REQUIRE(std::isfinite(logits[k]), where, ": logit ", k, " is ", logits[k],
                  ", expected a finite value");
  }
}

/// T · log Σ_k exp(z_k / T), shifted by the maximum for stability.
template <class S>
double scaled_log_sum_exp(std::span<const S> logits, double temperature) {
  double max = static_cast<double>(logits[0]);
  for (const S z : logits) max = std::max(max, static_cast<double>(z));
  double sum = 0;
  for (const S z : logits) sum += std::exp((static_cast<double>(z) - max) / temperature);
  return max + temperature * std::log(sum);
}

}  // namespace detail::metrics

/// Maximum softmax probability, max_k softmax(z)_k (Hendrycks & Gimpel 2017, "A Baseline for
/// Detecting Misclassified and Out-of-Distribution Examples in Neural Networks").
struct MaxSoftmaxProbability {
  template <FloatingScalar S>
  double operator()(std::span<const S> logits) const {
    detail::metrics::check_logits(logits, "MaxSoftmaxProbability");
    double max = static_cast<double>(logits[0]);
    for (const S z : logits) max = std::max(max, static_cast<double>(z));
    double sum = 0;
    for (const S z : logits) sum += std::exp(static_cast<double>(z) - max);
    return 1 / sum;
  }
};

/// Maximum logit, max_k z_k (Hendrycks et al. 2022, "Scaling Out-of-Distribution Detection for
/// Real-World Settings").
struct MaxLogit {
  template <FloatingScalar S>
  double operator()(std::span<const S> logits) const {
    detail::metrics::check_logits(logits, "MaxLogit");
    return static_cast<double>(*std::max_element(logits.begin(), logits.end()));
  }
};

/// Negative energy, −E(x; f) = T · log Σ_k exp(z_k / T) (Liu, Wang, Owens & Li 2020, "Energy-based
/// Out-of-distribution Detection", eq. 5 with the sign flipped so that higher = in-distribution).
/// temperature > 0; the paper uses T = 1.
struct Energy {
  double temperature = 1;
  template <FloatingScalar S>
  double operator()(std::span<const S> logits) const {
    MOERB_REQUIRE(temperature > 0 && std::isfinite(temperature),
                  "Energy: temperature = ", temperature, ", expected a finite value > 0");
    detail::metrics::check_logits(logits, "Energy");
    return detail::metrics::scaled_log_sum_exp(logits, temperature);
  }
};

/// The score of every row of `logits` (examples × classes); throws on a non-finite score.
template <FloatingScalar S, OodScore<S> F>
[[nodiscard]] std::vector<double> ood_scores(const F& score, const Matrix<S>& logits) {
  std::vector<double> out(static_cast<std::size_t>(logits.rows()));
  for (Index i = 0; i < logits.rows(); ++i) {
    const double s = static_cast<double>(
        score(std::span<const S>(logits.row(i).data(), static_cast<std::size_t>(logits.cols()))));
    MOERB_REQUIRE(std::isfinite(s), "ood_scores: the score of row ", i, " is ", s,
                  ", expected a finite value");
    out[static_cast<std::size_t>(i)] = s;
  }
  return out;
}

/// One example's score and whether it is out of distribution.
struct OodExample {
  double score = 0;
  bool out_of_distribution = false;
};

struct OodSummary {
  double auroc = 0;
  double aupr_in = 0;
  double aupr_out = 0;
  double fpr_at_tpr = 0;  ///< the FPR at Options::tpr (0.95 by default)
  Index num_in_distribution = 0;
  Index num_out_of_distribution = 0;
  friend bool operator==(const OodSummary&, const OodSummary&) = default;
};

/// AUROC, AUPR-in, AUPR-out and FPR@TPR of a score over in-distribution and OOD examples (see the
/// top of this header). value() needs at least one example of each kind. Resampling numbers the
/// in-distribution examples first (in the order added), then the OOD ones, and the bootstrap
/// resamples the two groups separately (bootstrap_strata()).
class OodDetection {
 public:
  using input_type = OodExample;
  using value_type = OodSummary;
  static constexpr bool resamples_in_added_order = true;

  struct Options {
    double tpr = 0.95;  ///< the true-positive rate of fpr_at_tpr, in (0, 1]
    friend bool operator==(const Options&, const Options&) = default;
  };
  struct State {
    std::vector<double> in_distribution;
    std::vector<double> out_of_distribution;
    friend bool operator==(const State&, const State&) = default;
  };

  OodDetection() = default;
  explicit OodDetection(const Options& options) : options_(options) {
    MOERB_REQUIRE(options.tpr > 0 && options.tpr <= 1, "OodDetection: tpr = ", options.tpr,
                  ", expected in (0, 1]");
  }
  OodDetection(const Options& options, State state) : OodDetection(options) {
    for (const auto* scores : {&state.in_distribution, &state.out_of_distribution}) {
      for (const double s : *scores) {
        detail::metrics::check_finite(s, "OodDetection: invalid state", "a score");
      }
    }
    state_ = std::move(state);
  }

  void add(const OodExample& example) {
    detail::metrics::check_finite(example.score, "OodDetection::add", "score");
    (example.out_of_distribution ? state_.out_of_distribution : state_.in_distribution)
        .push_back(example.score);
  }
  void add_in_distribution(std::span<const double> scores) {
    for (const double s : scores) add(OodExample{s, false});
  }
  void add_out_of_distribution(std::span<const double> scores) {
    for (const double s : scores) add(OodExample{s, true});
  }
  /// Scores every row of `logits` with `score` and adds them as in-distribution or OOD.
  template <FloatingScalar S, OodScore<S> F>
  void add_logits(const F& score, const Matrix<S>& logits, bool out_of_distribution) {
    for (const double s : ood_scores(score, logits)) add(OodExample{s, out_of_distribution});
  }
  void reserve(std::size_t in_distribution, std::size_t out_of_distribution) {
    state_.in_distribution.reserve(state_.in_distribution.size() + in_distribution);
    state_.out_of_distribution.reserve(state_.out_of_distribution.size() + out_of_distribution);
  }

  void merge(const OodDetection& other) {
    MOERB_REQUIRE(options_ == other.options_, "OodDetection::merge: tpr ", options_.tpr, " and ",
                  other.options_.tpr, " differ");
    state_.in_distribution.insert(state_.in_distribution.end(),
                                  other.state_.in_distribution.begin(),
                                  other.state_.in_distribution.end());
    state_.out_of_distribution.insert(state_.out_of_distribution.end(),
                                      other.state_.out_of_distribution.begin(),
                                      other.state_.out_of_distribution.end());
  }
  void reset() { state_ = {}; }

  [[nodiscard]] OodSummary value() const {
    return summarize(state_.in_distribution, state_.out_of_distribution, "OodDetection::value");
  }
  [[nodiscard]] Index num_examples() const {
    return static_cast<Index>(state_.in_distribution.size() + state_.out_of_distribution.size());
  }
  [[nodiscard]] OodSummary value_on(std::span<const Index> sample) const {
    const auto n_in = static_cast<Index>(state_.in_distribution.size());
    std::vector<double> in, out;
    for (const Index i : sample) {
      MOERB_REQUIRE(i >= 0 && i < num_examples(), "OodDetection::value_on: example ", i,
                    " is out of range [0, ", num_examples(), ")");
      if (i < n_in) {
        in.push_back(state_.in_distribution[static_cast<std::size_t>(i)]);
      } else {
        out.push_back(state_.out_of_distribution[static_cast<std::size_t>(i - n_in)]);
      }
    }
    return summarize(std::move(in), std::move(out), "OodDetection::value_on");
  }
  [[nodiscard]] std::vector<Index> bootstrap_strata() const {
    return {static_cast<Index>(state_.in_distribution.size()),
            static_cast<Index>(state_.out_of_distribution.size())};
  }

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] const State& state() const { return state_; }

 private:
  [[nodiscard]] OodSummary summarize(std::vector<double> in, std::vector<double> out,
                                     std::string_view where) const {
    MOERB_REQUIRE(!in.empty() && !out.empty(), where,
                  ": needs at least one in-distribution and "
                  "one OOD score, has ",
                  in.size(), " and ", out.size());
    OodSummary s;
    s.num_in_distribution = static_cast<Index>(in.size());
    s.num_out_of_distribution = static_cast<Index>(out.size());
    const auto in_positive = detail::metrics::threshold_counts(in, out);
    s.auroc = detail::metrics::area_under_roc(in_positive);
    s.aupr_in = detail::metrics::average_precision(in_positive);
    s.fpr_at_tpr = detail::metrics::false_positive_rate_at(in_positive, options_.tpr);
    for (double& v : in) v = -v;
    for (double& v : out) v = -v;
    s.aupr_out = detail::metrics::average_precision(
        detail::metrics::threshold_counts(std::move(out), std::move(in)));
    return s;
  }

  Options options_;
  State state_;
};

}  // namespace moerb
