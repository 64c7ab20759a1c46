#pragma once
// Linear<S>: the affine map y = x·W + b applied to every row (token) of x.
//
// moerb stores W as in_features × out_features so that a row-major `tokens × in` activation times
// W is one GEMM without a transpose; PyTorch's nn.Linear.weight is the transpose (out × in).
#include <string_view>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"

namespace moerb {

/// Fully connected layer on row-major `rows × in_features` activations.
///
/// Parameters:
/// - "weight"  in_features × out_features  (x·W convention)
/// - "bias"    1 × out_features            (only with Options::bias)
template <FloatingScalar S>
class Linear {
 public:
  using Scalar = S;

  struct Options {
    Index in_features = 0;   ///< width of x
    Index out_features = 0;  ///< width of y
    bool bias = true;        ///< add a learned 1 × out_features bias
  };

  explicit Linear(const Options& options) : options_(validated(options)) {
    weight_.resize(options_.in_features, options_.out_features);
    if (options_.bias) bias_.resize(1, options_.out_features);
  }

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] Index in_features() const { return options_.in_features; }
  [[nodiscard]] Index out_features() const { return options_.out_features; }

  Parameter<S>& weight() { return weight_; }
  const Parameter<S>& weight() const { return weight_; }
  /// 0 × 0 when Options::bias is false.
  Parameter<S>& bias() { return bias_; }
  const Parameter<S>& bias() const { return bias_; }

  /// PyTorch nn.Linear's default (Kaiming-uniform with a = √5, which reduces to this bound):
  /// weight and bias U(−1/√in_features, 1/√in_features); draws weight first, then bias.
  void initialize(Rng& rng) {
    weight_.init_uniform_fan_in(rng, options_.in_features);
    if (options_.bias) bias_.init_uniform_fan_in(rng, options_.in_features);
  }

  /// Visits "weight" and (with Options::bias) "bias" under `prefix`.
  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    visitor(std::string_view(join_name(prefix, "weight")), weight_);
    if (options_.bias) visitor(std::string_view(join_name(prefix, "bias")), bias_);
  }

  /// y = x·W + b (rows × out_features, a member valid until the next forward) for x
  /// (rows × in_features). The layer is deterministic; `ctx` is taken for the common interface.
  const Matrix<S>& forward(const Matrix<S>& x, const ForwardContext& ctx = {}) {
    static_cast<void>(ctx);
    constexpr std::string_view where = "Linear::forward";
    require_cols(x, options_.in_features, where, "x");
    require_finite(x, where, "x");
    y_.resize(x.rows(), options_.out_features);
    y_.noalias() = x * weight_.value;
    if (options_.bias) y_.rowwise() += bias_.value.row(0);
    return y_;
  }

  /// ∂L/∂x = dy·Wᵀ (rows × in_features, a member valid until the next backward) for the x of the
  /// forward and dy = ∂L/∂y (rows × out_features). Accumulates ∂L/∂W = xᵀ·dy and ∂L/∂b = Σ_rows dy
  /// into the gradients of the parameters that are not frozen.
  const Matrix<S>& backward(const Matrix<S>& x, const Matrix<S>& dy) {
    constexpr std::string_view where = "Linear::backward";
    require_cols(x, options_.in_features, where, "x");
    require_shape(dy, x.rows(), options_.out_features, where, "dy");
    require_finite(dy, where, "dy");
    if (!weight_.frozen) weight_.grad.noalias() += x.transpose() * dy;
    if (options_.bias && !bias_.frozen) bias_.grad.row(0) += dy.colwise().sum();
    dx_.resize(x.rows(), options_.in_features);
    dx_.noalias() = dy * weight_.value.transpose();
    return dx_;
  }

  [[nodiscard]] const Matrix<S>& output() const { return y_; }
  [[nodiscard]] const Matrix<S>& input_grad() const { return dx_; }

 private:
  static Options validated(const Options& o) {
    constexpr std::string_view where = "Linear";
    require_positive(o.in_features, where, "Options::in_features");
    require_positive(o.out_features, where, "Options::out_features");
    return o;
  }

  Options options_;
  Parameter<S> weight_, bias_;
  Matrix<S> y_, dx_;
};

}  // namespace moerb
