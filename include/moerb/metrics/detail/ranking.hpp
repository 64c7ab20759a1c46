#pragma once
// Threshold metrics of a binary score (positives should score higher), exact with ties: equal
// scores form one threshold, as in sklearn.metrics.roc_curve / precision_recall_curve.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "moerb/core/error.hpp"

namespace moerb::detail::metrics {

/// The operating points of a score: after the g-th group of equal scores (from the highest down),
/// true_positives[g] positives and false_positives[g] negatives score at or above it.
struct ThresholdCounts {
  std::vector<std::int64_t> true_positives;
  std::vector<std::int64_t> false_positives;
  std::int64_t positives = 0;
  std::int64_t negatives = 0;
};

/// Groups sorted copies of the positive and negative scores by distinct value, descending.
inline ThresholdCounts threshold_counts(std::vector<double> positive,
                                        std::vector<double> negative) {
  std::sort(positive.begin(), positive.end(), std::greater<>());
  std::sort(negative.begin(), negative.end(), std::greater<>());
  ThresholdCounts c;
  c.positives = static_cast<std::int64_t>(positive.size());
  c.negatives = static_cast<std::int64_t>(negative.size());
  std::size_t p = 0, q = 0;
  while (p < positive.size() || q < negative.size()) {
    const double threshold =
        std::max(p < positive.size() ? positive[p] : -std::numeric_limits<double>::infinity(),
                 q < negative.size() ? negative[q] : -std::numeric_limits<double>::infinity());
    while (p < positive.size() && positive[p] == threshold) ++p;
    while (q < negative.size() && negative[q] == threshold) ++q;
    c.true_positives.push_back(static_cast<std::int64_t>(p));
    c.false_positives.push_back(static_cast<std::int64_t>(q));
  }
  return c;
}

/// Area under the ROC curve by the trapezoidal rule over the grouped operating points: the
/// probability that a random positive outscores a random negative, ties counting 1/2 (Mann–Whitney
/// U / (P·N)). Computed as 2U in integers, so it is exact up to the final division.
inline double area_under_roc(const ThresholdCounts& c) {
  MOERB_REQUIRE(static_cast<double>(c.positives) * static_cast<double>(c.negatives) < 0x1p61,
                "area_under_roc: ", c.positives, " × ", c.negatives, " pairs overflow the count");
  std::int64_t twice_area = 0;
  std::int64_t tp_before = 0, fp_before = 0;
  for (std::size_t g = 0; g < c.true_positives.size(); ++g) {
    const std::int64_t dtp = c.true_positives[g] - tp_before;
    const std::int64_t dfp = c.false_positives[g] - fp_before;
    twice_area += dfp * (2 * tp_before + dtp);
    tp_before = c.true_positives[g];
    fp_before = c.false_positives[g];
  }
  return static_cast<double>(twice_area) /
         (2.0 * static_cast<double>(c.positives) * static_cast<double>(c.negatives));
}

/// Average precision, Σ_g (R_g − R_{g−1}) · P_g over the grouped operating points
/// (sklearn.metrics.average_precision_score: no interpolation).
inline double average_precision(const ThresholdCounts& c) {
  double ap = 0;
  std::int64_t tp_before = 0;
  for (std::size_t g = 0; g < c.true_positives.size(); ++g) {
    const std::int64_t tp = c.true_positives[g];
    if (tp == tp_before) continue;
    const double precision =
        static_cast<double>(tp) / static_cast<double>(tp + c.false_positives[g]);
    ap += static_cast<double>(tp - tp_before) / static_cast<double>(c.positives) * precision;
    tp_before = tp;
  }
  return ap;
}

/// The false-positive rate at the first operating point (highest threshold) whose true-positive
/// rate TP/P is >= tpr: the lowest FPR that reaches that TPR.
inline double false_positive_rate_at(const ThresholdCounts& c, double tpr) {
  for (std::size_t g = 0; g < c.true_positives.size(); ++g) {
    if (static_cast<double>(c.true_positives[g]) / static_cast<double>(c.positives) >= tpr) {
      return static_cast<double>(c.false_positives[g]) / static_cast<double>(c.negatives);
    }
  }
  return 1;
}

}  // namespace moerb::detail::metrics
