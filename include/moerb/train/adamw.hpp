#pragma once
// AdamW: Adam (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015) with decoupled
// weight decay (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019), computed
// exactly as torch.optim.AdamW (amsgrad = False, maximize = False).
#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>

#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/types.hpp"
#include "moerb/train/detail/optimizer_state.hpp"
#include "moerb/train/optimizer.hpp"

namespace moerb {

/// Where AdamW keeps its moments (see AdamWUpdate).
enum class MomentPrecision {
  double_precision,  ///< in double whatever the model's Scalar (the default)
  parameter,         ///< in the parameter's Scalar (torch.optim.AdamW; float for a float model)
};

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
/// an error (call reset() after reshaping).
///
/// Moment precision (Options::moments): by default the moments are stored in double whatever the
/// model's Scalar, and a float model's update is computed in double and rounded to float once, at
/// the price of 16 bytes of state per float parameter instead of 8 and twice the memory traffic
/// of a step (the step is memory-bound). MomentPrecision::parameter keeps them, and computes the
/// update, in the parameter's own scalar, as torch.optim.AdamW does: a float model's step reads and
/// writes half as many bytes. Its trajectory stays close to the double-moment one, not within float
/// rounding: Adam divides each update by √v, which magnifies rounding differences of elements whose
/// gradients are tiny. Either way a step is bit-identical for any thread count.
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
    /// Scalar of the moments and of the update's arithmetic (see the class comment).
    MomentPrecision moments = MomentPrecision::double_precision;
  };

  /// Per-parameter state (moments have the parameter's shape). The moments live in exp_avg and
  /// exp_avg_sq (double), or, for a float parameter with MomentPrecision::parameter, in
  /// exp_avg_float and exp_avg_sq_float; the other pair stays empty.
  struct State {
    Matrix<double> exp_avg;          ///< m, first-moment running average
    Matrix<double> exp_avg_sq;       ///< v, second-moment running average
    Matrix<float> exp_avg_float;     ///< m in float
    Matrix<float> exp_avg_sq_float;  ///< v in float
    std::int64_t steps = 0;  ///< updates this parameter has received (torch's state['step'])
  };

  explicit AdamWUpdate(Options options) : options_(std::move(options)) {
    detail::require_learning_rate(options_.lr, "AdamW");
    require_rate(options_.beta1, "AdamW", "beta1");
    require_rate(options_.beta2, "AdamW", "beta2");
    MOERB_REQUIRE(std::isfinite(options_.eps) && options_.eps > 0.0, "AdamW: eps = ", options_.eps,
                  ", expected a finite value > 0");
    MOERB_REQUIRE(std::isfinite(options_.weight_decay) && options_.weight_decay >= 0.0,
                  "AdamW: weight_decay = ", options_.weight_decay,
                  ", expected a finite value >= 0");
  }

  [[nodiscard]] const Options& options() const { return options_; }

  /// Updates one parameter (see the class comment); called by Optimizer<AdamWUpdate>.
  template <class P>
  void apply(State& st, P& p, bool decayed, double lr) const {
    using S = detail::parameter_scalar_t<P>;
    if constexpr (std::is_same_v<S, float>) {
      if (options_.moments == MomentPrecision::parameter) {
        update<float>(st, st.exp_avg_float, st.exp_avg_sq_float, p, decayed, lr);
        return;
      }
    }
    update<double>(st, st.exp_avg, st.exp_avg_sq, p, decayed, lr);
  }

  /// Elements per chunk of the parallel update (64 KiB of float parameters); a constant, so the
  /// split does not depend on the thread count.
  static constexpr Index update_chunk = Index{1} << 14;

 private:
  /// The update with moments m, v and its arithmetic in M (double, or the parameter's scalar).
  template <class M, class P>
  void update(State& st, Matrix<M>& exp_avg_state, Matrix<M>& exp_avg_sq_state, P& p, bool decayed,
              double lr) const {
    using S = detail::parameter_scalar_t<P>;
    if (st.steps == 0) {
      exp_avg_state.setZero(p.value.rows(), p.value.cols());
      exp_avg_sq_state.setZero(p.value.rows(), p.value.cols());
    }
    ++st.steps;
    const double t = static_cast<double>(st.steps);
    const double beta1 = options_.beta1;
    const double beta2 = options_.beta2;
    // The step's scalars in double, then in M, as torch computes them in Python floats.
    const auto bias_correction2_sqrt = static_cast<M>(std::sqrt(1.0 - std::pow(beta2, t)));
    const auto step_size = static_cast<M>(lr / (1.0 - std::pow(beta1, t)));
    const auto decay_factor = static_cast<M>(1.0 - lr * (decayed ? options_.weight_decay : 0.0));
    const auto b1 = static_cast<M>(beta1), one_minus_b1 = static_cast<M>(1.0 - beta1);
    const auto b2 = static_cast<M>(beta2), one_minus_b2 = static_cast<M>(1.0 - beta2);
    const auto eps = static_cast<M>(options_.eps);

    // Coefficient-wise, so the tensor is cut into fixed-size chunks that OpenMP threads update
    // independently: every element sees the same operations whatever the thread count, so the
    // result is bit-identical for any number of threads. Memory-bound; two threads roughly halve
    // the time on large tensors.
    const Index n = p.value.size();
    const Index chunks = (n + update_chunk - 1) / update_chunk;
    S* value = p.value.data();
    const S* grad = p.grad.data();
    M* exp_avg = exp_avg_state.data();
    M* exp_avg_sq = exp_avg_sq_state.data();
    using MomentArray = Eigen::Array<M, Eigen::Dynamic, 1>;
    // θ, m, v ← one AdamW step on the `len` elements from `begin`, all in M.
    const auto step = [&](Eigen::Map<MomentArray> theta, Index begin, Index len, const auto& g) {
      Eigen::Map<MomentArray> m(exp_avg + begin, len);
      Eigen::Map<MomentArray> v(exp_avg_sq + begin, len);
      m = m * b1 + one_minus_b1 * g;
      v = v * b2 + one_minus_b2 * (g * g);
      theta = theta * decay_factor - step_size * (m / (v.sqrt() / bias_correction2_sqrt + eps));
    };
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (Index c = 0; c < chunks; ++c) {
      const Index begin = c * update_chunk;
      const Index len = std::min(update_chunk, n - begin);
      if constexpr (std::is_same_v<M, S>) {
        // One vectorised pass per array, in place.
        step(Eigen::Map<MomentArray>(value + begin, len), begin, len,
             Eigen::Map<const MomentArray>(grad + begin, len));
      } else {
        // Float parameters with double moments: Eigen 3.4 evaluates an expression that casts
        // float to double one scalar at a time (the packets differ in width), which made this
        // path five times slower than the float one. So θ and g are widened into small stack
        // blocks first and the arithmetic runs on double packets (same operations per element).
        constexpr Index block = 256;
        std::array<M, block> theta_block{}, grad_block{};
        for (Index b = begin; b < begin + len; b += block) {
          const Index k = std::min(block, begin + len - b);
          for (Index i = 0; i < k; ++i) {
            theta_block[static_cast<std::size_t>(i)] = static_cast<M>(value[b + i]);
            grad_block[static_cast<std::size_t>(i)] = static_cast<M>(grad[b + i]);
          }
          step(Eigen::Map<MomentArray>(theta_block.data(), k), b, k,
               Eigen::Map<const MomentArray>(grad_block.data(), k));
          for (Index i = 0; i < k; ++i) {
            value[b + i] = static_cast<S>(theta_block[static_cast<std::size_t>(i)]);
          }
        }
      }
    }
  }

  Options options_;
};

using AdamW = Optimizer<AdamWUpdate>;

}  // namespace moerb
