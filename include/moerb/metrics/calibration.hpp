#pragma once
// Calibration of a classifier's probabilities: expected and maximum calibration error (ECE, MCE)
// with equal-width or equal-mass confidence bins, the bins of a reliability diagram, the Brier
// score and the negative log-likelihood.
//
// - Confidence of an example = its largest probability; it is correct when the arg max (lowest
//   index among ties) equals the label.
// - ECE = Σ_b (n_b / n) · |acc(b) − conf(b)| and MCE = max_b |acc(b) − conf(b)| over the non-empty
//   bins (Naeini, Cooper & Hauskrecht 2015; Guo, Pleiss, Sun & Weinberger 2017, "On Calibration of
//   Modern Neural Networks", §2 — 15 bins by default, as there).
//   Equal-width bins: bin b of B holds the confidences in (b/B, (b+1)/B], the edges b/B rounded to
//   double (so 0.6 = 3/5 lies in (0.4, 0.6]); bin 0 also holds 0.
//   Equal-mass bins: the examples sorted by (confidence, correct) are cut into B consecutive
//   groups, group b holding sorted positions [⌊b·n/B⌋, ⌊(b+1)·n/B⌋) (Nixon et al. 2019, "Measuring
//   Calibration in Deep Learning", adaptive binning); with n < B some bins are empty.
// - Brier score, multi-class as Brier (1950) defined it: (1/n) Σ_i Σ_k (p_ik − y_ik)², y one-hot;
//   it lies in [0, 2]. For two classes it is twice sklearn.metrics.brier_score_loss (which scores
//   the positive class only).
// - NLL = −(1/n) Σ_i log p_i,label — sklearn.metrics.log_loss without its clipping; a zero
//   probability on the label gives +∞.
//
// The accumulator keeps four numbers per example (confidence, correct, the label's probability
// and the squared error) and reduces them sorted, so merged shards give the one-pass value bit for
// bit, and equal-mass bins and the bootstrap (confidence.hpp) see every example.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string_view>
#include <tuple>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"
#include "moerb/metrics/detail/checks.hpp"
#include "moerb/metrics/labeled_example.hpp"

namespace moerb {

enum class CalibrationBinning {
  equal_width,  ///< B bins of width 1/B over [0, 1]
  equal_mass,   ///< B bins with (as nearly as possible) the same number of examples
};

/// One bin of a reliability diagram.
struct ReliabilityBin {
  /// Equal width: the bin's edges (lower, upper]. Equal mass: the smallest and largest confidence
  /// in the bin (both equal to the previous bin's upper end when the bin is empty).
  double lower = 0;
  double upper = 0;
  double mean_confidence = 0;  ///< 0 when empty
  double accuracy = 0;         ///< 0 when empty
  Index count = 0;
  friend bool operator==(const ReliabilityBin&, const ReliabilityBin&) = default;
};

struct CalibrationSummary {
  double ece = 0;
  double mce = 0;
  double brier = 0;
  double nll = 0;
  double accuracy = 0;
  double mean_confidence = 0;
  Index count = 0;                   ///< examples
  std::vector<ReliabilityBin> bins;  ///< the reliability diagram, options().num_bins bins
  friend bool operator==(const CalibrationSummary&, const CalibrationSummary&) = default;
};

class Calibration {
 public:
  using input_type = LabeledProbabilities<double>;
  using value_type = CalibrationSummary;
  static constexpr bool resamples_in_added_order = true;

  struct Options {
    Index num_bins = 15;
    CalibrationBinning binning = CalibrationBinning::equal_width;
    /// Classes per probability row; 0: taken from the first row added.
    Index num_classes = 0;
    /// Largest accepted |Σ p − 1| of a row.
    double sum_tolerance = detail::metrics::default_sum_tolerance;
    friend bool operator==(const Options&, const Options&) = default;
  };
  /// Per example, in the order added.
  struct State {
    Index num_classes = 0;  ///< 0 until the first row fixes it (with Options::num_classes = 0)
    std::vector<double> confidence;
    std::vector<std::uint8_t> correct;
    std::vector<double> label_probability;
    std::vector<double> squared_error;  ///< Σ_k (p_k − y_k)²
    friend bool operator==(const State&, const State&) = default;
  };

  Calibration() = default;
  explicit Calibration(const Options& options) : options_(options) {
    MOERB_REQUIRE(options.num_bins >= 1, "Calibration: num_bins = ", options.num_bins,
                  ", expected >= 1");
    MOERB_REQUIRE(options.num_classes >= 0, "Calibration: num_classes = ", options.num_classes,
                  ", expected >= 0 (0: from the first row)");
    MOERB_REQUIRE(options.sum_tolerance >= 0 && std::isfinite(options.sum_tolerance),
                  "Calibration: sum_tolerance = ", options.sum_tolerance,
                  ", expected a finite value >= 0");
    state_.num_classes = options.num_classes;
  }
  /// Restores a saved state; throws unless it is consistent.
  Calibration(const Options& options, State state) : Calibration(options) {
    const std::size_t n = state.confidence.size();
    MOERB_REQUIRE(state.correct.size() == n && state.label_probability.size() == n &&
                      state.squared_error.size() == n,
                  "Calibration: invalid state (per-example vectors of different lengths)");
    MOERB_REQUIRE(options.num_classes == 0 || state.num_classes == options.num_classes,
                  "Calibration: state has ", state.num_classes, " classes, options ",
                  options.num_classes);
    for (std::size_t i = 0; i < n; ++i) {
      MOERB_REQUIRE(state.confidence[i] >= 0 && state.confidence[i] <= 1 &&
                        state.label_probability[i] >= 0 && state.label_probability[i] <= 1 &&
                        state.squared_error[i] >= 0 && state.squared_error[i] <= 2 &&
                        state.correct[i] <= 1,
                    "Calibration: invalid state (example ", i, " out of range)");
    }
    state_ = std::move(state);
  }

  template <FloatingScalar S>
  void add(const LabeledProbabilities<S>& example) {
    add_row(example.probabilities, example.label);
  }
  /// A batch: one probability row per example (examples × classes) and the labels.
  template <FloatingScalar S>
  void add(const Matrix<S>& probabilities, std::span<const std::int32_t> labels) {
    detail::metrics::check_same_size(static_cast<std::size_t>(probabilities.rows()), labels.size(),
                                     "Calibration::add", "probability rows", "labels");
    for (Index i = 0; i < probabilities.rows(); ++i) {
      add_row(probabilities.row(i), labels[static_cast<std::size_t>(i)]);
    }
  }

  /// Reserves room for n more examples (add() then never allocates).
  void reserve(std::size_t n) {
    const std::size_t total = state_.confidence.size() + n;
    state_.confidence.reserve(total);
    state_.correct.reserve(total);
    state_.label_probability.reserve(total);
    state_.squared_error.reserve(total);
  }

  void merge(const Calibration& other) {
    MOERB_REQUIRE(options_ == other.options_, "Calibration::merge: the options differ");
    if (other.num_examples() == 0) return;
    MOERB_REQUIRE(state_.num_classes == 0 || state_.num_classes == other.state_.num_classes,
                  "Calibration::merge: ", state_.num_classes, " and ", other.state_.num_classes,
                  " classes");
    state_.num_classes = other.state_.num_classes;
    const auto append = [](auto& to, const auto& from) {
      to.insert(to.end(), from.begin(), from.end());
    };
    append(state_.confidence, other.state_.confidence);
    append(state_.correct, other.state_.correct);
    append(state_.label_probability, other.state_.label_probability);
    append(state_.squared_error, other.state_.squared_error);
  }
  void reset() {
    state_ = {};
    state_.num_classes = options_.num_classes;
  }

  [[nodiscard]] CalibrationSummary value() const {
    MOERB_REQUIRE(num_examples() > 0, "Calibration::value: no examples");
    std::vector<Index> all(state_.confidence.size());
    std::iota(all.begin(), all.end(), Index(0));
    return summarize(all);
  }
  [[nodiscard]] Index num_examples() const { return static_cast<Index>(state_.confidence.size()); }
  /// The summary of a resample (indices into the examples in the order added).
  [[nodiscard]] CalibrationSummary value_on(std::span<const Index> sample) const {
    MOERB_REQUIRE(!sample.empty(), "Calibration::value_on: empty sample");
    for (const Index i : sample) {
      MOERB_REQUIRE(i >= 0 && i < num_examples(), "Calibration::value_on: example ", i,
                    " is out of range [0, ", num_examples(), ")");
    }
    return summarize(sample);
  }

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] const State& state() const { return state_; }

 private:
  template <class Row>
  void add_row(const Row& row, std::int32_t label) {
    const auto n = static_cast<Index>(row.size());
    const Index classes = state_.num_classes > 0 ? state_.num_classes : n;
    detail::metrics::check_probability_row(row, label, classes, options_.sum_tolerance,
                                           "Calibration::add");
    state_.num_classes = classes;
    const std::int32_t predicted = detail::metrics::arg_max(row);
    double squared_error = 0;
    for (Index k = 0; k < n; ++k) {
      const double d = static_cast<double>(row[k]) - (k == label ? 1.0 : 0.0);
      squared_error += d * d;
    }
    state_.confidence.push_back(static_cast<double>(row[predicted]));
    state_.correct.push_back(predicted == label ? 1 : 0);
    state_.label_probability.push_back(static_cast<double>(row[label]));
    state_.squared_error.push_back(squared_error);
  }

  struct Record {
    double confidence;
    std::uint8_t correct;
    double label_probability;
    double squared_error;
    auto key() const { return std::tie(confidence, correct, label_probability, squared_error); }
  };

  /// The bin (lower, upper] of width 1/B that holds `confidence` (bin 0 also holds 0).
  [[nodiscard]] Index equal_width_bin(double confidence) const {
    const Index bins = options_.num_bins;
    const double b = static_cast<double>(bins);
    Index k = std::clamp(static_cast<Index>(std::ceil(confidence * b)) - 1, Index(0), bins - 1);
    while (k > 0 && confidence <= static_cast<double>(k) / b) --k;
    while (k < bins - 1 && confidence > static_cast<double>(k + 1) / b) ++k;
    return k;
  }

  [[nodiscard]] CalibrationSummary summarize(std::span<const Index> sample) const {
    std::vector<Record> records(sample.size());
    for (std::size_t j = 0; j < sample.size(); ++j) {
      const auto i = static_cast<std::size_t>(sample[j]);
      records[j] = {state_.confidence[i], state_.correct[i], state_.label_probability[i],
                    state_.squared_error[i]};
    }
    // Sorted records make every sum below independent of the order the examples came in.
    std::sort(records.begin(), records.end(),
              [](const Record& a, const Record& b) { return a.key() < b.key(); });
    const auto n = static_cast<Index>(records.size());
    const double dn = static_cast<double>(n);
    CalibrationSummary s;
    s.count = n;
    double correct = 0, confidence = 0, brier = 0, nll = 0;
    for (const Record& r : records) {
      correct += r.correct;
      confidence += r.confidence;
      brier += r.squared_error;
      nll -= std::log(r.label_probability);
    }
    s.accuracy = correct / dn;
    s.mean_confidence = confidence / dn;
    s.brier = brier / dn;
    s.nll = nll / dn;

    const Index bins = options_.num_bins;
    s.bins.resize(static_cast<std::size_t>(bins));
    // Bin b holds the sorted records [begin[b], begin[b + 1]).
    std::vector<Index> begin(static_cast<std::size_t>(bins) + 1, n);
    if (options_.binning == CalibrationBinning::equal_mass) {
      for (Index b = 0; b <= bins; ++b) begin[static_cast<std::size_t>(b)] = b * n / bins;
    } else {
      Index r = 0;
      for (Index b = 0; b < bins; ++b) {
        begin[static_cast<std::size_t>(b)] = r;
        while (r < n && equal_width_bin(records[static_cast<std::size_t>(r)].confidence) == b) ++r;
      }
    }
    double previous_upper = 0;
    for (Index b = 0; b < bins; ++b) {
      ReliabilityBin& bin = s.bins[static_cast<std::size_t>(b)];
      const Index first = begin[static_cast<std::size_t>(b)];
      const Index last = begin[static_cast<std::size_t>(b) + 1];
      bin.count = last - first;
      double bin_correct = 0, bin_confidence = 0;
      for (Index r = first; r < last; ++r) {
        bin_correct += records[static_cast<std::size_t>(r)].correct;
        bin_confidence += records[static_cast<std::size_t>(r)].confidence;
      }
      if (options_.binning == CalibrationBinning::equal_width) {
        bin.lower = static_cast<double>(b) / static_cast<double>(bins);
        bin.upper = static_cast<double>(b + 1) / static_cast<double>(bins);
      } else if (bin.count > 0) {
        bin.lower = records[static_cast<std::size_t>(first)].confidence;
        bin.upper = records[static_cast<std::size_t>(last - 1)].confidence;
      } else {
        bin.lower = bin.upper = previous_upper;
      }
      previous_upper = bin.upper;
      if (bin.count == 0) continue;
      const double count = static_cast<double>(bin.count);
      bin.accuracy = bin_correct / count;
      bin.mean_confidence = bin_confidence / count;
      const double gap = std::abs(bin.accuracy - bin.mean_confidence);
      s.ece += count / dn * gap;
      s.mce = std::max(s.mce, gap);
    }
    return s;
  }

  Options options_;
  State state_;
};

}  // namespace moerb
