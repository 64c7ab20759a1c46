#pragma once
// Pieces shared by the token-choice routers (top-k / Switch / Mixtral, noisy top-k, random, bias
// balanced): option checks, capacity selection per mode, the inference-time k override, mapping
// ∂L/∂weight from Routing order back to (token, choice) slots, and the Switch load-balancing loss +
// router z-loss pair that these routers compute on every forward.
#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/routing/detail/aux_losses.hpp"
#include "moerb/routing/detail/router_checks.hpp"
#include "moerb/routing/detail/token_choice.hpp"
#include "moerb/routing/routing.hpp"

namespace moerb::detail {

/// k (or an inference-time k) must lie in [1, num_experts].
inline void require_k(Index k, Index num_experts, std::string_view where, std::string_view what) {
  MOERB_REQUIRE(k >= 1 && k <= num_experts, where, ": ", what, " = ", k, ", expected in [1, ",
          num_experts, "] (num_experts = ", num_experts, ")");
}

inline void require_positive_finite(double value, std::string_view where, std::string_view what) {
  MOERB_REQUIRE(std::isfinite(value) && value > 0.0, where, ": ", what, " = ", value,
          ", expected a finite value > 0");
}

inline void require_nonnegative_finite(double value, std::string_view where,
                                       std::string_view what) {
  MOERB_REQUIRE(std::isfinite(value) && value >= 0.0, where, ": ", what, " = ", value,
          ", expected a finite value >= 0");
}

/// An unset capacity factor means unlimited capacity; a set one must be finite and > 0.
inline void require_capacity_factor(const std::optional<double>& factor, std::string_view where,
                                    std::string_view what) {
  if (factor.has_value()) require_positive_finite(*factor, where, what);
}

/// Rejects x with the wrong number of columns or a NaN/Inf entry.
template <class S>
void require_router_input(const Matrix<S>& x, Index input_dim, std::string_view where) {
  require_cols(x, input_dim, where, "x");
  require_finite(x, where, "x");
}

/// Expert capacity for a forward of `tokens` tokens with k choices each; -1 means unlimited.
inline Index capacity_or_unlimited(const std::optional<double>& factor, Index tokens, Index k,
                                   Index experts) {
  return factor.has_value() ? expert_capacity(*factor, tokens, k, experts) : Index{-1};
}

/// The k a token-choice router uses at evaluation: the training k unless overridden (the study
/// evaluates models trained with k = 2 at k = 1 or k = 4).
class InferenceK {
 public:
  explicit InferenceK(Index training_k = 1) : training_k_(training_k) {}

  void set(Index k, Index num_experts, std::string_view where) {
    require_k(k, num_experts, where, "inference_k");
    override_ = k;
  }
  void reset() { override_.reset(); }
  [[nodiscard]] bool overridden() const { return override_.has_value(); }
  [[nodiscard]] Index get() const { return override_.value_or(training_k_); }
  /// The k of a forward in the given mode.
  [[nodiscard]] Index for_mode(bool training) const { return training ? training_k_ : get(); }

 private:
  Index training_k_;
  std::optional<Index> override_;
};

/// ∂L/∂(weight of choice (t, j)) as a `tokens × k` matrix, from `d_weight` in Routing order; 0 for
/// choices dropped by capacity (their weight never reached the output).
template <class S>
void selection_weight_grad(const Routing<S>& r, std::span<const S> d_weight, Matrix<S>& d_sel) {
  d_sel.resize(r.assignment.rows(), r.assignment.cols());
  for (Index i = 0; i < r.assignment.size(); ++i) {
    const Index a = r.assignment.data()[i];
    d_sel.data()[i] = a >= 0 ? d_weight[static_cast<std::size_t>(a)] : S(0);
  }
}

/// The Switch load-balancing loss (on Routing::probs and the choices before capacity) and the
/// ST-MoE z-loss (on Routing::logits), computed on every forward; backward adds their weighted
/// gradients. The unweighted values go to Routing::load_balancing_loss / z_loss and the weighted
/// sum to Routing::aux_loss.
template <class S>
class SwitchAuxLosses {
 public:
  SwitchAuxLosses() = default;
  SwitchAuxLosses(S load_balancing_weight, S z_loss_weight)
      : lb_weight_(load_balancing_weight), z_weight_(z_loss_weight) {}

  /// `choice_counts[e]`: tokens whose choices (before capacity) include e; T·k choices in all.
  void forward(Routing<S>& r, const std::vector<Index>& choice_counts) {
    r.load_balancing_loss =
        load_balancing_loss<S>(r.probs, choice_counts, r.num_tokens * r.k, S(0), nullptr);
    r.z_loss = router_z_loss<S>(r.logits, S(0), nullptr, scratch_);
    r.aux_loss = lb_weight_ * r.load_balancing_loss + z_weight_ * r.z_loss;
  }

  /// Adds ∂(weighted load-balancing loss)/∂probs to d_probs (tokens × experts).
  void add_probs_grad(const Routing<S>& r, const std::vector<Index>& choice_counts,
                      Matrix<S>& d_probs) const {
    if (lb_weight_ == S(0)) return;
    load_balancing_loss<S>(r.probs, choice_counts, r.num_tokens * r.k, lb_weight_, &d_probs);
  }

  /// Adds ∂(weighted z-loss)/∂logits to d_logits (tokens × experts).
  void add_logits_grad(const Routing<S>& r, Matrix<S>& d_logits) {
    if (z_weight_ == S(0)) return;
    router_z_loss<S>(r.logits, z_weight_, &d_logits, scratch_);
  }

  [[nodiscard]] S load_balancing_weight() const { return lb_weight_; }
  [[nodiscard]] S z_loss_weight() const { return z_weight_; }

 private:
  S lb_weight_ = 0;
  S z_weight_ = 0;
  std::vector<S> scratch_;
};

}  // namespace moerb::detail
