#pragma once
// The router's linear projection logits = (x ⊙ J)·W / τ, with Switch's multiplicative jitter J
// (Fedus et al. 2021, §2.4: J ~ U(1-ε, 1+ε) elementwise, training only) and a temperature τ.
#include <string_view>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"

namespace moerb::detail {

template <class S>
class LinearGate {
 public:
  LinearGate() = default;
  LinearGate(Index input_dim, Index num_experts) : weight_(input_dim, num_experts) {}

  [[nodiscard]] Index input_dim() const { return weight_.value.rows(); }
  [[nodiscard]] Index num_experts() const { return weight_.value.cols(); }

  Parameter<S>& weight() { return weight_; }
  const Parameter<S>& weight() const { return weight_; }

  void initialize(Rng& rng) { weight_.init_uniform_fan_in(rng, input_dim()); }

  /// logits (tokens × experts). `jitter` is ε (0 disables); draws from `rng` only when training.
  void forward(const Matrix<S>& x, const ForwardContext& ctx, S jitter, S temperature,
               Matrix<S>& logits) {
    jittered_ = ctx.training && jitter > S(0);
    temperature_ = temperature;
    if (jittered_) {
      Rng rng = ctx.rng.split(rng_tag::router_jitter);
      jitter_.resize(x.rows(), x.cols());
      for (Index i = 0; i < jitter_.size(); ++i) {
        jitter_.data()[i] = static_cast<S>(rng.uniform(1.0 - jitter, 1.0 + jitter));
      }
      x_jit_.noalias() = x.cwiseProduct(jitter_);
      logits.noalias() = x_jit_ * weight_.value;
    } else {
      logits.noalias() = x * weight_.value;
    }
    if (temperature != S(1)) logits *= S(1) / temperature;
  }

  /// Given ∂L/∂logits, accumulates ∂L/∂W (unless frozen) and adds ∂L/∂x to dx.
  void backward(const Matrix<S>& x, const Matrix<S>& d_logits, Matrix<S>& dx) {
    const S scale = S(1) / temperature_;
    const Matrix<S>& x_used = jittered_ ? x_jit_ : x;
    if (!weight_.frozen) weight_.grad.noalias() += scale * (x_used.transpose() * d_logits);
    if (jittered_) {
      tmp_.noalias() = d_logits * weight_.value.transpose();
      dx.array() += scale * (tmp_.array() * jitter_.array());
    } else {
      dx.noalias() += scale * (d_logits * weight_.value.transpose());
    }
  }

  template <class Visitor>
  void visit(Visitor&& visitor, std::string_view prefix, std::string_view name = "weight") {
    visitor(std::string_view(join_name(prefix, name)), weight_);
  }

 private:
  Parameter<S> weight_;  // input_dim × num_experts
  Matrix<S> jitter_, x_jit_, tmp_;
  bool jittered_ = false;
  S temperature_ = 1;
};

}  // namespace moerb::detail
