#pragma once
// SGD with momentum (heavy ball; Polyak 1964) and optional Nesterov momentum (Sutskever et al.,
// "On the importance of initialization and momentum in deep learning", ICML 2013), with coupled
// (L2) weight decay, computed exactly as torch.optim.SGD (maximize = False).
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

/// The SGD update policy of Optimizer (optimizer.hpp); `SGD` runs it over any model exposing
/// `visit_parameters(visitor, prefix)`.
///
/// For each non-frozen parameter θ with gradient g and the step's learning rate lr:
///
///     d ← g + λ·θ                                  coupled weight decay (λ = 0 where not decayed)
///     b ← d on the parameter's first update, else μ·b + (1 − dampening)·d     (when μ ≠ 0)
///     d ← d + μ·b if nesterov, else b                                      (when μ ≠ 0)
///     θ ← θ − lr·d
///
/// Frozen parameters are skipped entirely (no update, no weight decay, momentum buffer unchanged),
/// as torch.optim does for a parameter whose grad is None. The momentum buffer is keyed by
/// parameter name and stored in double whatever the model's Scalar (see AdamW for why); a name
/// whose shape changes between steps is an error. A step checks every gradient (shape, finiteness)
/// before changing anything.
class SGDUpdate {
 public:
  static constexpr std::string_view name = "SGD";
  struct Options {
    double lr = 1e-2;       ///< used by step(model); step(model, lr) overrides it
    double momentum = 0.0;  ///< μ in [0, 1); 0 = plain SGD (no buffer is kept)
    double dampening =
        0.0;  ///< in [0, 1); scales new gradients into the buffer after the first step
    bool nesterov = false;      ///< requires momentum > 0 and dampening = 0 (as torch)
    double weight_decay = 0.0;  ///< λ, added to the gradient (L2 regularisation)
    WeightDecayPolicy decay_policy = WeightDecayPolicy::all;
    WeightDecayFilter decay_filter = {};  ///< when set, decides per parameter instead of the policy
  };

  struct State {
    Matrix<double> momentum_buffer;  ///< b (empty while momentum = 0)
    std::int64_t steps = 0;          ///< updates this parameter has received
  };

  explicit SGDUpdate(Options options) : options_(std::move(options)) {
    detail::require_learning_rate(options_.lr, "SGD");
    require_rate(options_.momentum, "SGD", "momentum");
    require_rate(options_.dampening, "SGD", "dampening");
    MOERB_REQUIRE(std::isfinite(options_.weight_decay) && options_.weight_decay >= 0.0,
            "SGD: weight_decay = ", options_.weight_decay, ", expected a finite value >= 0");
    MOERB_REQUIRE(!options_.nesterov || (options_.momentum > 0.0 && options_.dampening == 0.0),
            "SGD: nesterov needs momentum > 0 and dampening = 0 (momentum = ", options_.momentum,
            ", dampening = ", options_.dampening, ")");
  }

  [[nodiscard]] const Options& options() const { return options_; }

  /// Updates one parameter (see the class comment); called by Optimizer<SGDUpdate>.
  template <class P>
  void apply(State& st, P& p, bool decayed, double lr) const {
    using S = detail::parameter_scalar_t<P>;
    const double mu = options_.momentum;
    const double wd = decayed ? options_.weight_decay : 0.0;
    const auto theta = p.value.template cast<double>().array();
    const auto d = p.grad.template cast<double>().array() + wd * theta;
    if (mu == 0.0) {
      p.value.array() = (theta - lr * d).template cast<S>();
    } else {
      if (st.steps == 0) {
        st.momentum_buffer = d.matrix();
      } else {
        st.momentum_buffer.array() =
            st.momentum_buffer.array() * mu + (1.0 - options_.dampening) * d;
      }
      const auto b = st.momentum_buffer.array();
      if (options_.nesterov) {
        p.value.array() = (theta - lr * (d + mu * b)).template cast<S>();
      } else {
        p.value.array() = (theta - lr * b).template cast<S>();
      }
    }
    ++st.steps;
  }

 private:
  Options options_;
};

using SGD = Optimizer<SGDUpdate>;

}  // namespace moerb
