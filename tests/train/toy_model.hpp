#pragma once
// Helpers shared by the tests of include/moerb/train/: a two-tensor toy model and a runner for the
// optimizer trajectories that tests/reference/make_golden_optim.py writes.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/types.hpp"
#include "support/golden.hpp"
#include "support/messages.hpp"

namespace moerb::test {

/// The smallest model the optimizers accept: "weight" (3×4) and "bias" (1×4).
template <class S>
struct ToyModel {
  using Scalar = S;
  Parameter<S> weight{3, 4};
  Parameter<S> bias{1, 4};

  template <class V>
  void visit_parameters(V&& visitor, std::string_view prefix) {
    visitor(std::string_view(join_name(prefix, "weight")), weight);
    visitor(std::string_view(join_name(prefix, "bias")), bias);
  }
};

/// Two toy models under "encoder" and "decoder": names, not positions, key optimizer state.
struct NestedModel {
  using Scalar = double;
  ToyModel<double> encoder;
  ToyModel<double> decoder;

  template <class V>
  void visit_parameters(V&& visitor, std::string_view prefix) {
    encoder.visit_parameters(visitor, join_name(prefix, "encoder"));
    decoder.visit_parameters(visitor, join_name(prefix, "decoder"));
  }
};

/// A broken model that reports every parameter twice under the same names.
struct VisitedTwice {
  using Scalar = double;
  ToyModel<double> inner;

  template <class V>
  void visit_parameters(V&& visitor, std::string_view prefix) {
    inner.visit_parameters(visitor, prefix);
    inner.visit_parameters(visitor, prefix);
  }
};

/// Fills `m` with deterministic, distinct values (value and grad).
template <class S>
void fill_toy(ToyModel<S>& m, double offset = 0.0) {
  for (Index i = 0; i < m.weight.size(); ++i) {
    m.weight.value.data()[i] = static_cast<S>(0.1 * static_cast<double>(i) - 0.5 + offset);
    m.weight.grad.data()[i] = static_cast<S>(std::sin(1.0 + static_cast<double>(i) + offset));
  }
  for (Index i = 0; i < m.bias.size(); ++i) {
    m.bias.value.data()[i] = static_cast<S>(0.25 * static_cast<double>(i) - 0.3 + offset);
    m.bias.grad.data()[i] = static_cast<S>(std::cos(2.0 + static_cast<double>(i) + offset));
  }
}

/// Largest |a − b| over two equally shaped matrices.
inline double max_abs_diff(const Matrix<double>& a, const Matrix<double>& b) {
  BOOST_REQUIRE_EQUAL(a.rows(), b.rows());
  BOOST_REQUIRE_EQUAL(a.cols(), b.cols());
  return (a - b).cwiseAbs().maxCoeff();
}

/// Replays a golden optimizer trajectory: loads the initial values, and for every step sets the
/// gradients (freezing "bias" at frozen_bias_step), steps `optimizer` with the step's lr and
/// compares both tensors with torch's values.
template <class Optimizer>
void replay_golden_trajectory(const GoldenFile& golden, Optimizer& optimizer, double tolerance) {
  ToyModel<double> model;
  model.weight.value = golden.tensor("init.weight");
  model.bias.value = golden.tensor("init.bias");
  const auto steps = static_cast<int>(golden.scalar("steps"));
  const auto frozen_step = static_cast<int>(golden.scalar("frozen_bias_step"));
  for (int k = 0; k < steps; ++k) {
    const std::string tag = std::to_string(k);
    model.weight.grad = golden.tensor("grad." + tag + ".weight");
    model.bias.grad = golden.tensor("grad." + tag + ".bias");
    model.bias.frozen = (k == frozen_step);
    optimizer.step(model, golden.scalar("lr." + tag));
    BOOST_TEST_CONTEXT("step " << k) {
      BOOST_TEST(max_abs_diff(model.weight.value, golden.tensor("value." + tag + ".weight")) <=
                 tolerance);
      BOOST_TEST(max_abs_diff(model.bias.value, golden.tensor("value." + tag + ".bias")) <=
                 tolerance);
    }
  }
  BOOST_TEST(optimizer.steps() == steps);
}

}  // namespace moerb::test
