#pragma once
// Trainable parameters and the one interface through which they are visited.
//
// Every layer exposes `visit_parameters(visitor, prefix)`, calling `visitor(name, parameter)` for
// each Parameter it owns, with hierarchical dotted names ("experts.3.w_in"). Optimizers,
// checkpoints, freezing and gradient checks are written once against this interface.
#include <cmath>
#include <concepts>
#include <string>
#include <string_view>

#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"

namespace moerb {

template <class Scalar>
struct Parameter {
  Matrix<Scalar> value;
  Matrix<Scalar> grad;  ///< same shape as value; backward *accumulates* into it
  /// A frozen parameter receives no gradient (grad stays zero) but gradients still flow through
  /// it to the layer's input, as when the study freezes the router during fine-tuning.
  bool frozen = false;

  Parameter() = default;
  Parameter(Index rows, Index cols)
      : value(Matrix<Scalar>::Zero(rows, cols)), grad(Matrix<Scalar>::Zero(rows, cols)) {}

  void resize(Index rows, Index cols) {
    value.setZero(rows, cols);
    grad.setZero(rows, cols);
  }
  void zero_grad() { grad.setZero(); }
  [[nodiscard]] Index size() const { return value.size(); }

  /// PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  void init_uniform_fan_in(Rng& rng, Index fan_in) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    for (Index i = 0; i < value.size(); ++i) {
      value.data()[i] = static_cast<Scalar>(rng.uniform(-bound, bound));
    }
  }
};

/// Joins a prefix and a name with a dot ("experts.3" + "w_in" -> "experts.3.w_in").
inline std::string join_name(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return std::string(name);
  std::string out;
  out.reserve(prefix.size() + 1 + name.size());
  out.append(prefix).append(".").append(name);
  return out;
}

namespace detail {
template <class Scalar>
struct ParameterVisitorArchetype {
  void operator()(std::string_view, Parameter<Scalar>&) const {}
};
}  // namespace detail

/// A type whose parameters can be visited uniformly.
template <class L>
concept HasParameters = requires(L& layer,
                                 detail::ParameterVisitorArchetype<typename L::Scalar> v) {
  typename L::Scalar;
  layer.visit_parameters(v, std::string_view{});
};

/// Sets `grad` to zero on every parameter of `layer`.
template <HasParameters L>
void zero_grad(L& layer) {
  layer.visit_parameters([](std::string_view, auto& p) { p.zero_grad(); }, "");
}

/// True when `name` is `prefix` or lies under it as whole dotted components ("experts.1" covers
/// "experts.1.w_in" but not "experts.10.w_in"); "" covers every name.
inline bool name_has_prefix(std::string_view name, std::string_view prefix) {
  if (prefix.empty()) return true;
  if (name.substr(0, prefix.size()) != prefix) return false;
  return name.size() == prefix.size() || name[prefix.size()] == '.';
}

/// Freezes (or unfreezes) every parameter named `prefix` or under it by whole dotted components
/// ("" = all, "router" = the router's parameters, "experts.1" = expert 1 only).
/// Returns the number of parameters whose flag was set.
template <HasParameters L>
Index set_frozen(L& layer, std::string_view prefix, bool frozen = true) {
  Index n = 0;
  layer.visit_parameters(
      [&](std::string_view name, auto& p) {
        if (name_has_prefix(name, prefix)) {
          p.frozen = frozen;
          ++n;
        }
      },
      "");
  return n;
}

/// Total number of scalar parameters.
template <HasParameters L>
Index parameter_count(L& layer) {
  Index n = 0;
  layer.visit_parameters([&](std::string_view, auto& p) { n += p.size(); }, "");
  return n;
}

}  // namespace moerb
