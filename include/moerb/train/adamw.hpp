#pragma once
// AdamW: Adam (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015) with decoupled
// weight decay (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019), computed
// exactly as torch.optim.AdamW (amsgrad = False, maximize = False).
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/types.hpp"
#include "moerb/train/detail/optimizer_state.hpp"
#include "moerb/train/optimizer.hpp"

namespace moerb {

/// The AdamW update policy of Optimizer (optimizer.hpp); `AdamW` runs it over any model exposing
/// `visit_parameters(visitor, prefix)`.
///
/// For each non-frozen parameter θ with gradient g, its own step count t (incremented first), and
/// the step's learning rate lr (the torch.optim.AdamW order of operations):
///
///     θ ← θ · (1 − lr·λ)                       decoupled weight decay (λ = 0 where not decayed)
///     m ← β1·m + (1 − β1)·g
///     v ← β2·v + (1 − β2)·g²
///     θ ← θ − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
///
/// Frozen parameters are skipped entirely: no update, no weight decay, and their state (moments and
/// step count) is left as it was, as torch.optim does for a parameter whose grad is None. So bias
/// correction uses each parameter's own step count, like torch's per-parameter state['step'].
///
/// State is keyed by the names visit_parameters reports ("experts.3.w_in"), so it survives copies
/// of the model and does not depend on visiting order; a name whose shape changes between steps is
/// an error (call reset() after reshaping). The moments are stored in double whatever the model's
/// Scalar: for a float model the update is computed in double and rounded to float once (torch
/// keeps float moments; the results differ only by that rounding), at the price of 16 bytes of
/// state per float parameter instead of 8.
///
/// A step is all-or-nothing: every gradient's shape and finiteness is checked before any
/// parameter changes, so a NaN gradient throws moerb::error and leaves the model and the optimizer
/// as they were.
class AdamWUpdate {
 public:
  static constexpr std::string_view name = "AdamW";
  struct Options {
    double lr = 1e-3;  ///< used by step(model); step(model, lr) overrides it (for schedules)
    double beta1 = 0.9;
    double beta2 = 0.999;
    /// Added to √v̂; must be > 0 (torch also accepts 0, which gives 0/0 on a zero gradient).
    double eps = 1e-8;
    /// Decoupled decay coefficient λ; each step scales θ by (1 − lr·λ).
    double weight_decay = 0.01;
    /// Which parameters are decayed; the default matches torch.optim.AdamW with one param group.
    WeightDecayPolicy decay_policy = WeightDecayPolicy::all;
    /// When set, decides per parameter instead of decay_policy.
    WeightDecayFilter decay_filter = {};
  };

  /// Per-parameter state (moments have the parameter's shape).
  struct State {
    Matrix<double> exp_avg;     ///< m, first-moment running average
    Matrix<double> exp_avg_sq;  ///< v, second-moment running average
    std::int64_t steps = 0;     ///< updates this parameter has received (torch's state['step'])
  };

  explicit AdamWUpdate(Options options) : options_(std::move(options)) {
    detail::require_learning_rate(options_.lr, "AdamW");
    require_rate(options_.beta1, "AdamW", "beta1");
    require_rate(options_.beta2, "AdamW", "beta2");
    MOERB_REQUIRE(std::isfinite(options_.eps) && options_.eps > 0.0, "AdamW: eps = ", options_.eps,
            ", expected a finite value > 0");
    MOERB_REQUIRE(std::isfinite(options_.weight_decay) && options_.weight_decay >= 0.0,
            "AdamW: weight_decay = ", options_.weight_decay, ", expected a finite value >= 0");
  }

  [[nodiscard]] const Options& options() const { return options_; }

  /// Updates one parameter (see the class comment); called by Optimizer<AdamWUpdate>.
  template <class P>
  void apply(State& st, P& p, bool decayed, double lr) const {
    using S = detail::parameter_scalar_t<P>;
    if (st.steps == 0) {
      st.exp_avg.setZero(p.value.rows(), p.value.cols());
      st.exp_avg_sq.setZero(p.value.rows(), p.value.cols());
    }
    ++st.steps;
    const double t = static_cast<double>(st.steps);
    const double beta1 = options_.beta1;
    const double beta2 = options_.beta2;
    const double bias_correction1 = 1.0 - std::pow(beta1, t);
    const double bias_correction2_sqrt = std::sqrt(1.0 - std::pow(beta2, t));
    const double step_size = lr / bias_correction1;
    const double decay_factor = 1.0 - lr * (decayed ? options_.weight_decay : 0.0);

    // Coefficient-wise, so the tensor is cut into fixed-size chunks that OpenMP threads update
    // independently: every element sees the same operations whatever the thread count, so the
    // result is bit-identical for any number of threads. Memory-bound; two threads roughly halve
    // the time on large tensors.
    const Index n = p.value.size();
    const Index chunks = (n + update_chunk - 1) / update_chunk;
    S* value = p.value.data();
    const S* grad = p.grad.data();
    double* exp_avg = st.exp_avg.data();
    double* exp_avg_sq = st.exp_avg_sq.data();
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (Index c = 0; c < chunks; ++c) {
      const Index begin = c * update_chunk;
      const Index len = std::min(update_chunk, n - begin);
      using DoubleArray = Eigen::Array<double, Eigen::Dynamic, 1>;
      using ScalarArray = Eigen::Array<S, Eigen::Dynamic, 1>;
      Eigen::Map<ScalarArray> theta(value + begin, len);
      Eigen::Map<DoubleArray> m(exp_avg + begin, len);
      Eigen::Map<DoubleArray> v(exp_avg_sq + begin, len);
      const auto g = Eigen::Map<const ScalarArray>(grad + begin, len).template cast<double>();
      m = m * beta1 + (1.0 - beta1) * g;
      v = v * beta2 + (1.0 - beta2) * (g * g);
      // One pass per array: no temporaries, and for a double model no casts at all.
      theta = (theta.template cast<double>() * decay_factor -
               step_size * (m / (v.sqrt() / bias_correction2_sqrt + options_.eps)))
                  .template cast<S>();
    }
  }

  /// Elements per chunk of the parallel update (64 KiB of float parameters); a constant, so the
  /// split does not depend on the thread count.
  static constexpr Index update_chunk = Index{1} << 14;

 private:
  Options options_;
};

using AdamW = Optimizer<AdamWUpdate>;

}  // namespace moerb
