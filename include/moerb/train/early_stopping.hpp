#pragma once
// Early stopping on a validation metric (Prechelt, "Early Stopping — But When?", 1998): stop once
// the metric has not improved for `patience` consecutive evaluations.
#include <cmath>
#include <cstdint>

#include "moerb/core/error.hpp"

namespace moerb {

/// Tracks the best value of a metric and how many evaluations have passed without improving it.
///
/// An evaluation improves when (mode max) metric > best + min_delta, or (mode min)
/// metric < best − min_delta; the first evaluation always improves. should_stop() is true once
/// `patience` consecutive evaluations have not improved (as PyTorch Lightning's EarlyStopping),
/// and false again if a later one improves. The comparison is against the best value, not the
/// previous one, so slow drifts within min_delta of the best do not reset the count.
class EarlyStopping {
 public:
  enum class Mode {
    min,  ///< lower is better (losses, error rates)
    max,  ///< higher is better (accuracy, F1)
  };

  struct Options {
    /// Consecutive evaluations without improvement after which should_stop() is true (>= 1).
    std::int64_t patience = 3;
    double min_delta = 0.0;  ///< smallest change that counts as an improvement (>= 0)
    Mode mode = Mode::min;
  };

  EarlyStopping() : EarlyStopping(Options{}) {}
  explicit EarlyStopping(const Options& options) : options_(options) {
    MOERB_REQUIRE(options_.patience >= 1, "EarlyStopping: patience = ", options_.patience,
            ", expected >= 1");
    MOERB_REQUIRE(std::isfinite(options_.min_delta) && options_.min_delta >= 0.0,
            "EarlyStopping: min_delta = ", options_.min_delta, ", expected a finite value >= 0");
  }

  [[nodiscard]] const Options& options() const { return options_; }

  /// Records the metric of evaluation `step` (a training step or epoch, as the caller counts;
  /// any value) and returns whether it improved on the best so far. The metric must be finite: a
  /// NaN loss is a divergence the caller should handle, not a value to compare.
  bool update(double metric, std::int64_t step) {
    MOERB_REQUIRE(std::isfinite(metric), "EarlyStopping::update: metric = ", metric, " at step ", step,
            ", expected a finite value");
    const bool improved =
        updates_ == 0 || (options_.mode == Mode::max ? metric > best_ + options_.min_delta
                                                     : metric < best_ - options_.min_delta);
    ++updates_;
    if (improved) {
      best_ = metric;
      best_step_ = step;
      bad_updates_ = 0;
    } else {
      ++bad_updates_;
    }
    return improved;
  }

  /// As update(metric, step) with step = the number of earlier updates (0, 1, 2, ...).
  bool update(double metric) { return update(metric, updates_); }

  /// True once `patience` consecutive updates have not improved.
  [[nodiscard]] bool should_stop() const { return bad_updates_ >= options_.patience; }

  [[nodiscard]] bool has_best() const { return updates_ > 0; }
  /// The best metric so far; throws moerb::error before the first update.
  [[nodiscard]] double best() const {
    MOERB_REQUIRE(has_best(), "EarlyStopping::best: no metric has been recorded yet");
    return best_;
  }
  /// The step passed with the best metric; throws moerb::error before the first update.
  [[nodiscard]] std::int64_t best_step() const {
    MOERB_REQUIRE(has_best(), "EarlyStopping::best_step: no metric has been recorded yet");
    return best_step_;
  }
  /// Updates recorded so far.
  [[nodiscard]] std::int64_t updates() const { return updates_; }
  /// Consecutive updates without improvement since the best one.
  [[nodiscard]] std::int64_t updates_since_best() const { return bad_updates_; }
  /// Forgets everything, as if newly constructed.
  void reset() {
    updates_ = 0;
    bad_updates_ = 0;
    best_ = 0.0;
    best_step_ = -1;
  }

 private:
  Options options_;
  double best_ = 0.0;
  std::int64_t best_step_ = -1;
  std::int64_t updates_ = 0;
  std::int64_t bad_updates_ = 0;
};

}  // namespace moerb
