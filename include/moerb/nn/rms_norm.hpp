#pragma once
// RMSNorm: per-token rescaling by the root mean square of the features, without re-centring
// (Zhang & Sennrich 2019, "Root Mean Square Layer Normalization", eq. 4):
//
//   rms(x) = sqrt(mean(x²) + eps),   y = x / rms(x) ⊙ weight.
//
// eps sits inside the square root, as in T5, LLaMA and torch.nn.RMSNorm.
#include <cmath>
#include <string_view>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"
#include "moerb/core/detail/workspace.hpp"

namespace moerb {

/// Root-mean-square normalisation over the last dimension of a `tokens × dim` matrix.
///
/// Parameter: "weight" (1 × dim, initialised to 1). forward keeps 1 / rms(x) per token for
/// backward. Mean of squares needs no centring, so a single pass is accurate (no cancellation).
/// Workspaces are members: once a shape has been seen, forward and backward on that shape
/// allocate nothing. The layer is copyable.
template <FloatingScalar S>
class RMSNorm {
 public:
  using Scalar = S;

  struct Options {
    Index dim = 0;      ///< features per token (> 0)
    double eps = 1e-6;  ///< added to mean(x²) (> 0, finite); keeps an all-zero row finite
  };

  explicit RMSNorm(const Options& options) : options_(validated(options)), weight_(1, options.dim) {
    weight_.value.setOnes();
  }

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] Index dim() const { return options_.dim; }

  /// "weight" (1 × dim).
  Parameter<S>& weight() { return weight_; }
  const Parameter<S>& weight() const { return weight_; }

  /// weight = 1 (Zhang & Sennrich 2019; torch.nn.RMSNorm); draws nothing from `rng`.
  void initialize(Rng& /*rng*/) {
    weight_.value.setOnes();
    weight_.grad.setZero();
  }

  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    visitor(join_name(prefix, "weight"), weight_);
  }

  /// y (tokens × dim, a member valid until the next forward) for x (tokens × dim). `ctx` is
  /// unused (the same in training and evaluation); it keeps the layer interface.
  const Matrix<S>& forward(const Matrix<S>& x, const ForwardContext& /*ctx*/) {
    constexpr std::string_view where = "RMSNorm::forward";
    require_cols(x, options_.dim, where, "x");
    detail::require_all_finite(x, where, "x");
    has_forward_ = false;
    const Index n = x.rows();
    const Index d = options_.dim;
    y_.resize(n, d);
    inv_rms_.resize(n);
    const S inv_d = S(1) / static_cast<S>(d);
    const S eps = static_cast<S>(options_.eps);
    detail::for_each_row(n, 4 * d, [&](Index r) {
      const auto xr = x.row(r).array();
      const S inv_rms = S(1) / std::sqrt(xr.square().sum() * inv_d + eps);
      inv_rms_[r] = inv_rms;
      y_.row(r).array() = xr * inv_rms * weight_.value.row(0).array();
    });
    rows_ = n;
    has_forward_ = true;
    return y_;
  }

  /// ∂L/∂x (a member valid until the next backward) for the x of the last forward and dy = ∂L/∂y;
  /// accumulates ∂L/∂weight = Σ_tokens dy ⊙ x / rms(x) unless frozen. With g = dy ⊙ weight and
  /// ρ = 1 / rms(x), per row (∂ρ/∂x = −ρ³ x / dim):
  ///   dx = ρ · (g − x · ρ² · mean(g ⊙ x)).
  const Matrix<S>& backward(const Matrix<S>& x, const Matrix<S>& dy) {
    constexpr std::string_view where = "RMSNorm::backward";
    MOERB_REQUIRE(has_forward_, where, ": called before forward");
    require_shape(x, rows_, options_.dim, where, "x");
    require_shape(dy, rows_, options_.dim, where, "dy");
    detail::require_all_finite(dy, where, "dy");
    const Index n = rows_;
    const Index d = options_.dim;
    dx_.resize(n, d);
    const S inv_d = S(1) / static_cast<S>(d);
    detail::for_each_row(n, 6 * d, [&](Index r) {
      const auto xr = x.row(r).array();
      const S rho = inv_rms_[r];
      auto g = dx_.row(r).array();  // g = ∂L/∂(x ρ), overwritten by dx below
      g = dy.row(r).array() * weight_.value.row(0).array();
      const S mean_gx = (g * xr).sum() * inv_d;
      g = (g - xr * (rho * rho * mean_gx)) * rho;
    });
    // The weight gradient reduces over tokens in token order (independent of the thread count).
    if (!weight_.frozen) {
      auto gw = weight_.grad.row(0).array();
      for (Index r = 0; r < n; ++r) gw += dy.row(r).array() * x.row(r).array() * inv_rms_[r];
    }
    return dx_;
  }

  [[nodiscard]] const Matrix<S>& output() const { return y_; }
  [[nodiscard]] const Matrix<S>& input_grad() const { return dx_; }
  /// Per-token 1 / rms(x) of the last forward (tokens).
  [[nodiscard]] const Vector<S>& saved_inverse_rms() const { return inv_rms_; }

 private:
  static Options validated(const Options& o) {
    constexpr std::string_view where = "RMSNorm";
    require_positive(o.dim, where, "Options::dim");
    MOERB_REQUIRE(std::isfinite(o.eps) && o.eps > 0, where, ": Options::eps = ", o.eps,
            ", expected a finite value > 0");
    return o;
  }

  Options options_;
  Parameter<S> weight_;
  bool has_forward_ = false;
  Index rows_ = 0;
  Vector<S> inv_rms_;
  Matrix<S> y_, dx_;
};

}  // namespace moerb
