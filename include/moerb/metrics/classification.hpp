#pragma once
// Classification metrics: accuracy, the confusion matrix and macro-averaged F1.
//
// All three keep integer counts only, so merging shards in any split and order gives the one-pass
// value bit for bit. Inputs are a LabeledPrediction, a LabeledProbabilities row (the prediction is
// its arg max), or batches of either: spans of predictions and labels, or a Matrix<S> of
// probability rows (examples × classes) with a span of labels.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"
#include "moerb/metrics/confidence.hpp"
#include "moerb/metrics/count_matrix.hpp"
#include "moerb/metrics/detail/checks.hpp"
#include "moerb/metrics/labeled_example.hpp"

namespace moerb {

namespace detail::metrics {

/// Calls `f(LabeledPrediction)` for each example of a batch, checking the sizes.
template <class F>
void for_each_prediction(std::span<const std::int32_t> predicted,
                         std::span<const std::int32_t> labels, std::string_view where, F&& f) {
  check_same_size(predicted.size(), labels.size(), where, "predictions", "labels");
  for (std::size_t i = 0; i < labels.size(); ++i) f(LabeledPrediction{predicted[i], labels[i]});
}

/// The prediction (arg max) of a checked probability row.
template <class Row>
LabeledPrediction checked_prediction(const Row& row, std::int32_t label, std::string_view where) {
  check_probability_row(row, label, static_cast<Index>(row.size()), default_sum_tolerance, where);
  return {arg_max(row), label};
}

template <FloatingScalar S, class F>
void for_each_probability_row(const Matrix<S>& probabilities, std::span<const std::int32_t> labels,
                              std::string_view where, F&& f) {
  check_same_size(static_cast<std::size_t>(probabilities.rows()), labels.size(), where,
                  "probability rows", "labels");
  for (Index i = 0; i < probabilities.rows(); ++i) {
    f(LabeledProbabilities<S>{std::span<const S>(probabilities.row(i).data(),
                                                 static_cast<std::size_t>(probabilities.cols())),
                              labels[static_cast<std::size_t>(i)]});
  }
}

}  // namespace detail::metrics

/// Accuracy: the fraction of examples whose prediction equals the label. value() throws when
/// empty. Resampling numbers the examples canonically (the correct ones first), which gives the
/// same bootstrap distribution as any order; wilson() gives the Wilson interval.
class Accuracy {
 public:
  using input_type = LabeledPrediction;
  using value_type = double;
  static constexpr bool resamples_in_added_order = false;

  struct State {
    std::int64_t correct = 0;
    std::int64_t total = 0;
    friend bool operator==(const State&, const State&) = default;
  };

  Accuracy() = default;
  /// Restores a saved state (e.g. read from JSON); throws unless 0 <= correct <= total.
  explicit Accuracy(const State& state) : state_(state) {
    MOERB_REQUIRE(state.total >= 0 && state.correct >= 0 && state.correct <= state.total,
                  "Accuracy: invalid state (correct = ", state.correct, ", total = ", state.total,
                  ")");
  }

  void add(const LabeledPrediction& example) {
    MOERB_REQUIRE(example.label >= 0, "Accuracy::add: label ", example.label, " is negative");
    MOERB_REQUIRE(example.predicted >= 0, "Accuracy::add: prediction ", example.predicted,
                  " is negative");
    state_.correct += example.predicted == example.label ? 1 : 0;
    ++state_.total;
  }
  template <FloatingScalar S>
  void add(const LabeledProbabilities<S>& example) {
    add(detail::metrics::checked_prediction(example.probabilities, example.label, "Accuracy::add"));
  }
  void add(std::span<const std::int32_t> predicted, std::span<const std::int32_t> labels) {
    detail::metrics::for_each_prediction(predicted, labels, "Accuracy::add",
                                         [&](const LabeledPrediction& x) { add(x); });
  }
  template <FloatingScalar S>
  void add(const Matrix<S>& probabilities, std::span<const std::int32_t> labels) {
    detail::metrics::for_each_probability_row(probabilities, labels, "Accuracy::add",
                                              [&](const auto& x) { add(x); });
  }

  void merge(const Accuracy& other) {
    state_.correct += other.state_.correct;
    state_.total += other.state_.total;
  }
  void reset() { state_ = {}; }

  [[nodiscard]] double value() const {
    MOERB_REQUIRE(state_.total > 0, "Accuracy::value: no examples");
    return static_cast<double>(state_.correct) / static_cast<double>(state_.total);
  }
  [[nodiscard]] Index num_examples() const { return state_.total; }
  /// Accuracy of a resample; example i is correct when i < correct (canonical numbering).
  [[nodiscard]] double value_on(std::span<const Index> sample) const {
    MOERB_REQUIRE(!sample.empty(), "Accuracy::value_on: empty sample");
    std::int64_t correct = 0;
    for (const Index i : sample) {
      MOERB_REQUIRE(i >= 0 && i < state_.total, "Accuracy::value_on: example ", i,
                    " is out of range [0, ", state_.total, ")");
      correct += i < state_.correct ? 1 : 0;
    }
    return static_cast<double>(correct) / static_cast<double>(sample.size());
  }
  /// The Wilson score interval of the accuracy (confidence.hpp).
  [[nodiscard]] ConfidenceInterval wilson(double level = 0.95) const {
    MOERB_REQUIRE(state_.total > 0, "Accuracy::wilson: no examples");
    return wilson_interval(state_.correct, state_.total, level);
  }

  [[nodiscard]] const State& state() const { return state_; }

 private:
  State state_;
};

/// The confusion matrix C (sklearn.metrics.confusion_matrix): C(i, j) counts examples of true class
/// i predicted as class j. With Options::num_classes = 0 the matrix grows to the largest class
/// seen (labels and predictions) + 1; with num_classes > 0 a class outside [0, num_classes) throws.
/// Resampling numbers the examples canonically, cell by cell in row-major order.
class ConfusionMatrix {
 public:
  using input_type = LabeledPrediction;
  using value_type = CountMatrix;
  static constexpr bool resamples_in_added_order = false;

  struct Options {
    Index num_classes = 0;  ///< 0: grow with the classes seen
    friend bool operator==(const Options&, const Options&) = default;
  };
  struct State {
    Index num_classes = 0;             ///< the current size of the matrix
    std::vector<std::int64_t> counts;  ///< num_classes² counts, row-major (true × predicted)
    friend bool operator==(const State&, const State&) = default;
  };

  ConfusionMatrix() = default;
  explicit ConfusionMatrix(const Options& options) : options_(options) {
    MOERB_REQUIRE(options.num_classes >= 0, "ConfusionMatrix: num_classes = ", options.num_classes,
                  ", expected >= 0 (0: grow with the classes seen)");
    grow(options.num_classes);
  }
  /// Restores a saved state; throws unless it is consistent with the options.
  ConfusionMatrix(const Options& options, const State& state) : ConfusionMatrix(options) {
    MOERB_REQUIRE(state.num_classes >= 0 &&
                      state.counts.size() == static_cast<std::size_t>(state.num_classes) *
                                                 static_cast<std::size_t>(state.num_classes),
                  "ConfusionMatrix: invalid state (", state.counts.size(), " counts for ",
                  state.num_classes, " classes)");
    MOERB_REQUIRE(options.num_classes == 0 || state.num_classes == options.num_classes,
                  "ConfusionMatrix: state has ", state.num_classes, " classes, options ",
                  options.num_classes);
    for (const std::int64_t c : state.counts) {
      MOERB_REQUIRE(c >= 0, "ConfusionMatrix: invalid state (negative count ", c, ")");
    }
    state_ = state;
    total_ = 0;
    for (const std::int64_t c : state.counts) total_ += c;
  }

  void add(const LabeledPrediction& example) {
    check_class(example.label, "label");
    check_class(example.predicted, "prediction");
    grow(std::max(example.label, example.predicted) + Index(1));
    ++state_.counts[cell(example.label, example.predicted)];
    ++total_;
  }
  template <FloatingScalar S>
  void add(const LabeledProbabilities<S>& example) {
    add(detail::metrics::checked_prediction(example.probabilities, example.label, add_name()));
  }
  void add(std::span<const std::int32_t> predicted, std::span<const std::int32_t> labels) {
    detail::metrics::for_each_prediction(predicted, labels, add_name(),
                                         [&](const LabeledPrediction& x) { add(x); });
  }
  template <FloatingScalar S>
  void add(const Matrix<S>& probabilities, std::span<const std::int32_t> labels) {
    detail::metrics::for_each_probability_row(probabilities, labels, add_name(),
                                              [&](const auto& x) { add(x); });
  }

  void merge(const ConfusionMatrix& other) {
    MOERB_REQUIRE(options_ == other.options_, name_, "::merge: num_classes ", options_.num_classes,
                  " and ", other.options_.num_classes, " differ");
    grow(other.state_.num_classes);
    const Index n = other.state_.num_classes;
    for (Index i = 0; i < n; ++i) {
      for (Index j = 0; j < n; ++j) {
        state_.counts[cell(i, j)] += other.state_.counts[static_cast<std::size_t>(i * n + j)];
      }
    }
    total_ += other.total_;
  }
  void reset() {
    state_ = {};
    total_ = 0;
    grow(options_.num_classes);
  }

  /// The num_classes × num_classes matrix; throws when no example was added.
  [[nodiscard]] CountMatrix value() const {
    MOERB_REQUIRE(total_ > 0, name_, "::value: no examples");
    return matrix(state_.counts);
  }
  [[nodiscard]] Index num_examples() const { return total_; }
  /// The confusion matrix of a resample (canonical numbering: cell by cell, row-major).
  [[nodiscard]] CountMatrix value_on(std::span<const Index> sample) const {
    MOERB_REQUIRE(!sample.empty(), name_, "::value_on: empty sample");
    std::vector<std::int64_t> ends(state_.counts.size());
    std::int64_t running = 0;
    for (std::size_t c = 0; c < ends.size(); ++c) ends[c] = running += state_.counts[c];
    std::vector<std::int64_t> counts(state_.counts.size(), 0);
    for (const Index i : sample) {
      MOERB_REQUIRE(i >= 0 && i < total_, name_, "::value_on: example ", i, " is out of range [0, ",
                    total_, ")");
      const auto c = std::upper_bound(ends.begin(), ends.end(), static_cast<std::int64_t>(i));
      ++counts[static_cast<std::size_t>(c - ends.begin())];
    }
    return matrix(counts);
  }

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] const State& state() const { return state_; }

 private:
  friend class MacroF1;
  /// The metric named in error messages: "ConfusionMatrix", or "MacroF1" for the one inside it.
  ConfusionMatrix(const Options& options, const char* name, const char* add_name)
      : ConfusionMatrix(options) {
    name_ = name;
    add_name_ = add_name;
  }
  [[nodiscard]] std::string_view add_name() const { return add_name_; }

  void check_class(std::int32_t c, std::string_view what) const {
    MOERB_REQUIRE(
        c >= 0 && (options_.num_classes == 0 || c < options_.num_classes), name_, "::add: ", what,
        " ", c, " is out of range [0, ",
        options_.num_classes == 0 ? std::string("∞") : std::to_string(options_.num_classes), ")");
  }
  [[nodiscard]] std::size_t cell(Index label, Index predicted) const {
    return static_cast<std::size_t>(label * state_.num_classes + predicted);
  }
  /// Enlarges the matrix to n classes (never shrinks), keeping the counts.
  void grow(Index n) {
    if (n <= state_.num_classes) return;
    std::vector<std::int64_t> counts(static_cast<std::size_t>(n * n), 0);
    const Index old = state_.num_classes;
    for (Index i = 0; i < old; ++i) {
      for (Index j = 0; j < old; ++j) {
        counts[static_cast<std::size_t>(i * n + j)] =
            state_.counts[static_cast<std::size_t>(i * old + j)];
      }
    }
    state_.counts = std::move(counts);
    state_.num_classes = n;
  }
  [[nodiscard]] CountMatrix matrix(const std::vector<std::int64_t>& counts) const {
    const Index n = state_.num_classes;
    CountMatrix m(n, n);
    std::copy(counts.begin(), counts.end(), m.data());
    return m;
  }

  Options options_;
  State state_;
  std::int64_t total_ = 0;
  const char* name_ = "ConfusionMatrix";
  const char* add_name_ = "ConfusionMatrix::add";
};

/// F1 of each class from a confusion matrix, 2·TP / (2·TP + FP + FN); classes that occur neither as
/// a label nor as a prediction (TP + FP + FN = 0) get NaN.
[[nodiscard]] inline std::vector<double> f1_per_class(const CountMatrix& confusion) {
  const Index n = confusion.rows();
  MOERB_REQUIRE(confusion.cols() == n, "f1_per_class: the confusion matrix is ", n, "×",
                confusion.cols(), ", expected square");
  std::vector<double> f1(static_cast<std::size_t>(n));
  for (Index k = 0; k < n; ++k) {
    const std::int64_t tp = confusion(k, k);
    const std::int64_t fp = confusion.col(k).sum() - tp;
    const std::int64_t fn = confusion.row(k).sum() - tp;
    const std::int64_t denominator = 2 * tp + fp + fn;
    f1[static_cast<std::size_t>(k)] =
        denominator == 0 ? std::numeric_limits<double>::quiet_NaN()
                         : static_cast<double>(2 * tp) / static_cast<double>(denominator);
  }
  return f1;
}

/// Macro-F1: the unweighted mean of the per-class F1 over the classes that occur as a label or a
/// prediction — sklearn.metrics.f1_score(y_true, y_pred, average="macro") with its default
/// labels (the classes present in either). A class that is never predicted but occurs as a label
/// has F1 = 0. Throws when the matrix counts no example.
[[nodiscard]] inline double macro_f1(const CountMatrix& confusion) {
  double sum = 0;
  Index present = 0;
  for (const double f : f1_per_class(confusion)) {
    if (std::isnan(f)) continue;
    sum += f;
    ++present;
  }
  MOERB_REQUIRE(present > 0, "macro_f1: the confusion matrix counts no example");
  return sum / static_cast<double>(present);
}

/// Macro-averaged F1 (see macro_f1) as an accumulator over a ConfusionMatrix.
class MacroF1 {
 public:
  using input_type = LabeledPrediction;
  using value_type = double;
  static constexpr bool resamples_in_added_order = false;
  using Options = ConfusionMatrix::Options;
  using State = ConfusionMatrix::State;

  MacroF1() = default;
  explicit MacroF1(const Options& options) : confusion_(options, "MacroF1", "MacroF1::add") {}
  MacroF1(const Options& options, const State& state) : confusion_(options, state) {
    confusion_.name_ = "MacroF1";
    confusion_.add_name_ = "MacroF1::add";
  }

  template <class... Args>
  requires requires(ConfusionMatrix& c, const Args&... args) { c.add(args...); }
  void add(const Args&... args) { confusion_.add(args...); }
  void add(const LabeledPrediction& example) { confusion_.add(example); }
  void merge(const MacroF1& other) { confusion_.merge(other.confusion_); }
  void reset() { confusion_.reset(); }

  [[nodiscard]] double value() const {
    MOERB_REQUIRE(confusion_.num_examples() > 0, "MacroF1::value: no examples");
    return macro_f1(confusion_.value());
  }
  [[nodiscard]] Index num_examples() const { return confusion_.num_examples(); }
  [[nodiscard]] double value_on(std::span<const Index> sample) const {
    return macro_f1(confusion_.value_on(sample));
  }

  [[nodiscard]] const ConfusionMatrix& confusion() const { return confusion_; }
  [[nodiscard]] const Options& options() const { return confusion_.options(); }
  [[nodiscard]] const State& state() const { return confusion_.state(); }

 private:
  ConfusionMatrix confusion_{Options{}, "MacroF1", "MacroF1::add"};
};

}  // namespace moerb
