#pragma once
// LayerNorm: per-token normalisation to zero mean and unit variance over the features, followed by
// an optional learned scale and shift (Ba, Kiros & Hinton 2016, "Layer Normalization", eq. 4):
//
//   μ = mean(x),  σ² = mean((x − μ)²),  x̂ = (x − μ) / sqrt(σ² + eps),  y = x̂ ⊙ weight + bias.
//
// The variance is the biased one (divide by dim), as in the paper and torch.nn.LayerNorm.
#include <algorithm>
#include <cmath>
#include <string_view>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"
#include "moerb/core/detail/workspace.hpp"

namespace moerb {

/// Layer normalisation over the last dimension of a `tokens × dim` matrix.
///
/// Parameters (with `elementwise_affine`): "weight" (1 × dim, initialised to 1) and, with `bias`,
/// "bias" (1 × dim, initialised to 0), as torch.nn.LayerNorm. Without `elementwise_affine` the
/// layer has no parameters and `bias` is ignored (as in PyTorch).
///
/// Numerics: the mean and variance of each row use the corrected two-pass algorithm (Chan, Golub &
/// LeVeque 1983, "Algorithms for Computing the Sample Variance: Analysis and Recommendations"):
/// a first pass gives a provisional mean μ₀, a second pass sums d = x − μ₀ and d², and
///   μ = μ₀ + Σd / n,   σ² = (Σd² − (Σd)² / n) / n,
/// which stays accurate when the features sit on a large common offset (where the one-pass
/// E[x²] − E[x]² cancels catastrophically). μ is kept as the unevaluated sum μ₀ + Σd / n and
/// x̂ = ((x − μ₀) − Σd / n) / sqrt(σ² + eps): rounding μ itself to double would cost x̂ an absolute
/// error of ulp(offset) · 1/σ, while x − μ₀ is exact for entries near the offset (Sterbenz), so x̂
/// stays accurate to a few ulps of itself. forward keeps both parts of μ and 1 / sqrt(σ² + eps)
/// per row for backward, which recomputes x̂ from x instead of storing another tokens × dim matrix.
///
/// Workspaces are members: once a shape has been seen, forward and backward on that shape
/// allocate nothing. The layer is copyable.
template <FloatingScalar S>
class LayerNorm {
 public:
  using Scalar = S;

  struct Options {
    Index dim = 0;      ///< features per token (> 0)
    double eps = 1e-5;  ///< added to the variance (> 0, finite); torch.nn.LayerNorm's default
    bool elementwise_affine = true;  ///< learn "weight" (and "bias" when `bias`)
    bool bias = true;                ///< learn "bias" (only with `elementwise_affine`)
  };

  explicit LayerNorm(const Options& options) : options_(validated(options)) {
    if (options_.elementwise_affine) {
      weight_.resize(1, options_.dim);
      if (options_.bias) bias_.resize(1, options_.dim);
    }
    reset_parameters();
  }

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] Index dim() const { return options_.dim; }
  [[nodiscard]] bool has_weight() const { return options_.elementwise_affine; }
  [[nodiscard]] bool has_bias() const { return options_.elementwise_affine && options_.bias; }

  /// "weight" (1 × dim; 0 × 0 without elementwise_affine).
  Parameter<S>& weight() { return weight_; }
  const Parameter<S>& weight() const { return weight_; }
  /// "bias" (1 × dim; 0 × 0 when the layer has no bias).
  Parameter<S>& bias() { return bias_; }
  const Parameter<S>& bias() const { return bias_; }

  /// weight = 1, bias = 0 (torch.nn.LayerNorm.reset_parameters); draws nothing from `rng`.
  void initialize(Rng& /*rng*/) { reset_parameters(); }

  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    if (has_weight()) visitor(join_name(prefix, "weight"), weight_);
    if (has_bias()) visitor(join_name(prefix, "bias"), bias_);
  }

  /// y (tokens × dim, a member valid until the next forward) for x (tokens × dim). `ctx` is
  /// unused (normalisation is the same in training and evaluation); it keeps the layer interface.
  const Matrix<S>& forward(const Matrix<S>& x, const ForwardContext& /*ctx*/) {
    constexpr std::string_view where = "LayerNorm::forward";
    require_cols(x, options_.dim, where, "x");
    detail::require_all_finite(x, where, "x");
    has_forward_ = false;
    const Index n = x.rows();
    const Index d = options_.dim;
    y_.resize(n, d);
    mean_head_.resize(n);
    mean_tail_.resize(n);
    inv_std_.resize(n);
    const S inv_d = S(1) / static_cast<S>(d);
    const S eps = static_cast<S>(options_.eps);
    detail::for_each_row(n, 6 * d, [&](Index r) {
      const auto xr = x.row(r).array();
      const S mean0 = xr.sum() * inv_d;
      const S sum_d = (xr - mean0).sum();
      const S sum_d2 = (xr - mean0).square().sum();
      const S var = std::max(S(0), (sum_d2 - sum_d * sum_d * inv_d) * inv_d);
      const S tail = sum_d * inv_d;
      const S inv_std = S(1) / std::sqrt(var + eps);
      mean_head_[r] = mean0;
      mean_tail_[r] = tail;
      inv_std_[r] = inv_std;
      auto yr = y_.row(r).array();
      if (has_bias()) {
        yr = ((xr - mean0) - tail) * inv_std * weight_.value.row(0).array() +
             bias_.value.row(0).array();
      } else if (has_weight()) {
        yr = ((xr - mean0) - tail) * inv_std * weight_.value.row(0).array();
      } else {
        yr = ((xr - mean0) - tail) * inv_std;
      }
    });
    rows_ = n;
    has_forward_ = true;
    return y_;
  }

  /// ∂L/∂x (a member valid until the next backward) for the x of the last forward and dy = ∂L/∂y;
  /// accumulates ∂L/∂weight = Σ_tokens dy ⊙ x̂ and ∂L/∂bias = Σ_tokens dy unless frozen. With
  /// g = dy ⊙ weight (g = dy without affine), per row:
  ///   dx = (g − mean(g) − x̂ · mean(g ⊙ x̂)) / sqrt(σ² + eps).
  const Matrix<S>& backward(const Matrix<S>& x, const Matrix<S>& dy) {
    constexpr std::string_view where = "LayerNorm::backward";
    MOERB_REQUIRE(has_forward_, where, ": called before forward");
    require_shape(x, rows_, options_.dim, where, "x");
    require_shape(dy, rows_, options_.dim, where, "dy");
    detail::require_all_finite(dy, where, "dy");
    const Index n = rows_;
    const Index d = options_.dim;
    x_hat_.resize(n, d);
    dx_.resize(n, d);
    const S inv_d = S(1) / static_cast<S>(d);
    detail::for_each_row(n, 8 * d, [&](Index r) {
      auto xh = x_hat_.row(r).array();
      xh = ((x.row(r).array() - mean_head_[r]) - mean_tail_[r]) * inv_std_[r];
      auto g = dx_.row(r).array();  // g = ∂L/∂x̂, overwritten by dx below
      if (has_weight()) {
        g = dy.row(r).array() * weight_.value.row(0).array();
      } else {
        g = dy.row(r).array();
      }
      const S mean_g = g.sum() * inv_d;
      const S mean_gx = (g * xh).sum() * inv_d;
      g = (g - mean_g - xh * mean_gx) * inv_std_[r];
    });
    // Parameter gradients reduce over tokens: one row at a time, in token order, so the sums do
    // not depend on the thread count.
    if (has_weight() && !weight_.frozen) {
      auto gw = weight_.grad.row(0).array();
      for (Index r = 0; r < n; ++r) gw += dy.row(r).array() * x_hat_.row(r).array();
    }
    if (has_bias() && !bias_.frozen) {
      auto gb = bias_.grad.row(0).array();
      for (Index r = 0; r < n; ++r) gb += dy.row(r).array();
    }
    return dx_;
  }

  [[nodiscard]] const Matrix<S>& output() const { return y_; }
  [[nodiscard]] const Matrix<S>& input_grad() const { return dx_; }
  /// Per-token mean μ of the last forward (tokens), rounded to S (forward and backward use the
  /// unrounded two-part form).
  [[nodiscard]] Vector<S> saved_mean() const { return mean_head_ + mean_tail_; }
  /// Per-token 1 / sqrt(σ² + eps) of the last forward (tokens).
  [[nodiscard]] const Vector<S>& saved_inverse_std() const { return inv_std_; }

 private:
  static Options validated(const Options& o) {
    constexpr std::string_view where = "LayerNorm";
    require_positive(o.dim, where, "Options::dim");
    MOERB_REQUIRE(std::isfinite(o.eps) && o.eps > 0, where, ": Options::eps = ", o.eps,
            ", expected a finite value > 0");
    return o;
  }

  void reset_parameters() {
    if (has_weight()) {
      weight_.value.setOnes();
      weight_.grad.setZero();
    }
    if (has_bias()) {
      bias_.value.setZero();
      bias_.grad.setZero();
    }
  }

  Options options_;
  Parameter<S> weight_, bias_;
  bool has_forward_ = false;
  Index rows_ = 0;
  Vector<S> mean_head_, mean_tail_, inv_std_;  // μ = head + tail (see the class comment)
  Matrix<S> y_, x_hat_, dx_;
};

}  // namespace moerb
