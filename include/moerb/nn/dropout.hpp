#pragma once
// Dropout: inverted dropout (Srivastava et al. 2014, "Dropout: A Simple Way to Prevent Neural
// Networks from Overfitting"; the "inverted" variant scales at training time so that evaluation is
// the identity). In training each entry is zeroed with probability `rate` and the survivors are
// scaled by 1 / (1 − rate), so E[y] = x.
#include <string_view>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"
#include "moerb/core/detail/dropout.hpp"
#include "moerb/core/detail/workspace.hpp"

namespace moerb {

/// Applies inverted dropout to `x` (tokens × features) in place and writes the mask it used to
/// `mask` (same shape: 0 for a dropped entry, 1 / (1 − rate) for a kept one), so that a layer's
/// backward multiplies ∂L/∂y by the same mask. Returns false, touching neither `x` nor `mask` and
/// drawing nothing, when rate == 0.
///
/// The mask is a pure function of `rng`'s stream, the row and the column: row r draws from
/// `rng.split(r)` (the same scheme as expert dropout), so `rng` is not advanced and the result does
/// not depend on the number of threads. Give each call site its own stream (e.g.
/// `ctx.rng.split(tag)`); two calls with one stream produce the same mask.
/// Throws moerb::error unless 0 <= rate < 1.
template <FloatingScalar S>
bool dropout_inplace(Matrix<S>& x, double rate, const Rng& rng, Matrix<S>& mask) {
  require_rate(rate, "dropout_inplace", "rate");
  if (rate == 0.0) return false;
  mask.resize(x.rows(), x.cols());
  detail::fill_dropout_mask<S>(mask, rate, rng);
  x.array() *= mask.array();
  return true;
}

/// Inverted dropout as a layer with the nn/ interface (no parameters).
///
/// Active only when `ctx.training` and rate > 0; otherwise forward and backward are the identity
/// and no random numbers are drawn. The mask is drawn from `ctx.rng` itself: the caller passes a
/// context whose rng is already split for this layer (e.g. `ctx.with_rng(ctx.rng.split(tag))`),
/// so two dropout layers fed the same context would drop the same entries. The mask of the last
/// forward is kept for backward.
///
/// Workspaces are members: once a shape has been seen, forward and backward on that shape
/// allocate nothing. The layer is copyable.
template <FloatingScalar S>
class Dropout {
 public:
  using Scalar = S;

  struct Options {
    /// Probability of zeroing an entry, in [0, 1); 0.1 is the Transformer's residual dropout
    /// (Vaswani et al. 2017, §5.4).
    double rate = 0.1;
  };

  explicit Dropout(const Options& options) : options_(validated(options)) {}

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] double rate() const { return options_.rate; }
  /// Changes the rate (e.g. a different rate for fine-tuning); takes effect at the next forward.
  void set_rate(double rate) {
    require_rate(rate, "Dropout::set_rate", "rate");
    options_.rate = rate;
  }

  /// Nothing to initialise.
  void initialize(Rng& /*rng*/) {}

  /// Dropout has no parameters; `visitor` is never called.
  template <class Visitor>
  void visit_parameters(Visitor&& /*visitor*/, std::string_view /*prefix*/) {}

  /// y (tokens × features, a member valid until the next forward) for x (any shape).
  const Matrix<S>& forward(const Matrix<S>& x, const ForwardContext& ctx) {
    constexpr std::string_view where = "Dropout::forward";
    detail::require_all_finite(x, where, "x");
    has_forward_ = false;
    y_ = x;
    active_ = ctx.training && dropout_inplace(y_, options_.rate, ctx.rng, mask_);
    rows_ = x.rows();
    cols_ = x.cols();
    has_forward_ = true;
    return y_;
  }

  /// ∂L/∂x = dy ⊙ mask (dy itself when the last forward was the identity), a member valid until
  /// the next backward; `x` is the input of the last forward (checked for shape only).
  const Matrix<S>& backward(const Matrix<S>& x, const Matrix<S>& dy) {
    constexpr std::string_view where = "Dropout::backward";
    MOERB_REQUIRE(has_forward_, where, ": called before forward");
    require_shape(x, rows_, cols_, where, "x");
    require_shape(dy, rows_, cols_, where, "dy");
    detail::require_all_finite(dy, where, "dy");
    if (active_) {
      dx_.resize(rows_, cols_);
      dx_.array() = dy.array() * mask_.array();
    } else {
      dx_ = dy;
    }
    return dx_;
  }

  /// Whether the last forward dropped entries (training and rate > 0).
  [[nodiscard]] bool active() const { return active_; }
  /// The last mask (tokens × features: 0 or 1 / (1 − rate)); meaningful only when active().
  [[nodiscard]] const Matrix<S>& mask() const { return mask_; }
  [[nodiscard]] const Matrix<S>& output() const { return y_; }
  [[nodiscard]] const Matrix<S>& input_grad() const { return dx_; }

 private:
  static Options validated(const Options& o) {
    require_rate(o.rate, "Dropout", "Options::rate");
    return o;
  }

  Options options_;
  bool has_forward_ = false;
  bool active_ = false;
  Index rows_ = 0, cols_ = 0;
  Matrix<S> y_, mask_, dx_;
};

}  // namespace moerb
