#pragma once
// Learning-rate schedule: linear warmup, then constant, linear or cosine decay.
//
// Cosine decay is one half-period of SGDR's annealing (Loshchilov & Hutter, "SGDR: Stochastic
// Gradient Descent with Warm Restarts", ICLR 2017, eq. 5) without restarts; warmup follows Goyal et
// al., "Accurate, Large Minibatch SGD" (2017). Step numbering matches the Hugging Face
// get_*_schedule_with_warmup helpers: lr(0) = 0 when there is warmup, lr(warmup_steps) = base_lr.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

#include "moerb/core/error.hpp"

namespace moerb {

/// lr(step) for step = 0, 1, 2, ... (the index of the optimizer step about to run):
///
///   step < W:          base_lr · step / W                           (linear warmup from 0)
///   W <= step:         p = min(1, (step − W) / (T − W)), r = min_lr_ratio
///     constant:        base_lr
///     linear:          base_lr · (r + (1 − r)·(1 − p))
///     cosine:          base_lr · (r + (1 − r)·(1 + cos(π p)) / 2)
///
/// with W = warmup_steps and T = total_steps; from step T on the decaying schedules stay at
/// r·base_lr (T = W decays to it at once).
class LRSchedule {
 public:
  enum class Decay { constant, linear, cosine };

  struct Options {
    double base_lr = 1e-3;          ///< peak learning rate, reached at step warmup_steps
    std::int64_t warmup_steps = 0;  ///< W >= 0
    std::int64_t total_steps = 0;   ///< T >= W; where decay ends (unused by constant)
    Decay decay = Decay::constant;
    double min_lr_ratio = 0.0;  ///< r in [0, 1]: the decayed lr is r·base_lr
  };

  LRSchedule() : LRSchedule(Options{}) {}
  explicit LRSchedule(const Options& options) : options_(options) {
    MOERB_REQUIRE(std::isfinite(options_.base_lr) && options_.base_lr >= 0.0,
            "LRSchedule: base_lr = ", options_.base_lr, ", expected a finite value >= 0");
    MOERB_REQUIRE(options_.warmup_steps >= 0, "LRSchedule: warmup_steps = ", options_.warmup_steps,
            ", expected >= 0");
    MOERB_REQUIRE(options_.total_steps >= options_.warmup_steps || options_.decay == Decay::constant,
            "LRSchedule: total_steps = ", options_.total_steps,
            ", expected >= warmup_steps = ", options_.warmup_steps);
    require_in_range(options_.min_lr_ratio, 0.0, 1.0, "LRSchedule", "min_lr_ratio");
  }

  [[nodiscard]] const Options& options() const { return options_; }

  /// The learning rate for optimizer step `step` (>= 0).
  [[nodiscard]] double lr(std::int64_t step) const {
    MOERB_REQUIRE(step >= 0, "LRSchedule::lr: step = ", step, ", expected >= 0");
    const double base = options_.base_lr;
    const std::int64_t warmup = options_.warmup_steps;
    if (step < warmup) return base * static_cast<double>(step) / static_cast<double>(warmup);
    if (options_.decay == Decay::constant) return base;
    const std::int64_t span = options_.total_steps - warmup;
    const double progress =
        span == 0 ? 1.0
                  : std::min(1.0, static_cast<double>(step - warmup) / static_cast<double>(span));
    const double r = options_.min_lr_ratio;
    const double remaining = options_.decay == Decay::linear
                                 ? 1.0 - progress
                                 : 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
    return base * (r + (1.0 - r) * remaining);
  }

 private:
  Options options_;
};

}  // namespace moerb
