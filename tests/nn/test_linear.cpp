// Tests for include/moerb/nn/linear.hpp
#include <stdexcept>
#define EIGEN_RUNTIME_NO_MALLOC
#define eigen_assert(x)                                                \
  do {                                                                 \
    if (!(x)) throw std::runtime_error("Eigen assertion failed: " #x); \
  } while (false)

#include <Eigen/Core>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "moerb/nn/linear.hpp"
#include "support/golden.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_nn_linear {

using moerb::ForwardContext;
using moerb::Index;
using moerb::Linear;
using moerb::Rng;
template <class S>
using Matrix = moerb::Matrix<S>;

namespace {

using moerb::test::message_has;

Matrix<double> random_matrix(Index rows, Index cols, Rng& rng) {
  Matrix<double> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = rng.uniform(-1.0, 1.0);
  return m;
}

std::vector<std::string> parameter_names(Linear<double>& layer, std::string_view prefix) {
  std::vector<std::string> names;
  layer.visit_parameters(
      [&](std::string_view n, moerb::Parameter<double>&) { names.emplace_back(n); }, prefix);
  return names;
}

// Loads the golden parameters, runs forward and backward with L = Σ y ⊙ G and compares.
template <class S>
void check_golden() {
  const double tol = std::is_same_v<S, double> ? 1e-10 : 2e-5;
  const moerb::test::GoldenFile g("blocks_linear.txt");
  const Matrix<S> x = g.tensor_as<S>("x");
  const Matrix<S> G = g.tensor_as<S>("G");
  Linear<S> layer({.in_features = x.cols(), .out_features = G.cols()});
  layer.weight().value = g.tensor_as<S>("weight");
  layer.bias().value = g.tensor_as<S>("bias");
  const Matrix<double> y = layer.forward(x, {}).template cast<double>();
  BOOST_TEST(moerb::test::relative_error(y, g.tensor("y")) < tol);
  const Matrix<double> dx = layer.backward(x, G).template cast<double>();
  BOOST_TEST(moerb::test::relative_error(dx, g.tensor("grad.x")) < tol);
  BOOST_TEST(moerb::test::relative_error(layer.weight().grad.template cast<double>(),
                                         g.tensor("grad.weight")) < tol);
  BOOST_TEST(moerb::test::relative_error(layer.bias().grad.template cast<double>(),
                                         g.tensor("grad.bias")) < tol);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(linear)

BOOST_AUTO_TEST_CASE(forward_is_x_times_weight_plus_bias) {
  Linear<double> layer({.in_features = 4, .out_features = 3});
  Rng init(1);
  layer.initialize(init);
  Rng rng(2);
  const Matrix<double> x = random_matrix(5, 4, rng);
  const Matrix<double>& y = layer.forward(x, {});
  for (Index r = 0; r < 5; ++r) {
    for (Index c = 0; c < 3; ++c) {
      double expected = layer.bias().value(0, c);
      for (Index k = 0; k < 4; ++k) expected += x(r, k) * layer.weight().value(k, c);
      BOOST_TEST(std::abs(y(r, c) - expected) < 1e-14);
    }
  }
  BOOST_TEST((layer.output() == y));
  BOOST_TEST(parameter_names(layer, "enc.proj") ==
                 (std::vector<std::string>{"enc.proj.weight", "enc.proj.bias"}),
             boost::test_tools::per_element());
  Linear<double> no_bias({.in_features = 4, .out_features = 3, .bias = false});
  no_bias.weight().value = layer.weight().value;
  BOOST_TEST(parameter_names(no_bias, "") == (std::vector<std::string>{"weight"}),
             boost::test_tools::per_element());
  BOOST_TEST(no_bias.bias().size() == 0);
  const Matrix<double> y0 = no_bias.forward(x, {});
  BOOST_TEST((y0 - (x * layer.weight().value)).cwiseAbs().maxCoeff() < 1e-15);
  // An empty batch is a valid (0 × out) forward.
  BOOST_TEST(layer.forward(Matrix<double>(0, 4), {}).rows() == 0);
}

BOOST_AUTO_TEST_CASE(initialize_is_the_pytorch_default_and_deterministic) {
  Linear<double> a({.in_features = 16, .out_features = 8});
  Linear<double> b({.in_features = 16, .out_features = 8});
  Rng ra(7), rb(7);
  a.initialize(ra);
  b.initialize(rb);
  BOOST_TEST((a.weight().value == b.weight().value));
  BOOST_TEST((a.bias().value == b.bias().value));
  const double bound = 1.0 / std::sqrt(16.0);
  BOOST_TEST(a.weight().value.cwiseAbs().maxCoeff() <= bound);
  BOOST_TEST(a.bias().value.cwiseAbs().maxCoeff() <= bound);
  // Uniform on ±1/4: the spread is close to the bound, not concentrated near 0.
  BOOST_TEST(a.weight().value.cwiseAbs().maxCoeff() > 0.8 * bound);
  BOOST_TEST(a.weight().grad.cwiseAbs().maxCoeff() == 0.0);
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  for (const bool bias : {true, false}) {
    Linear<double> layer({.in_features = 5, .out_features = 3, .bias = bias});
    Rng init(3);
    layer.initialize(init);
    Rng rng(4);
    Matrix<double> x = random_matrix(6, 5, rng);
    const Matrix<double> G = random_matrix(6, 3, rng);
    auto loss = [&] { return (layer.forward(x, {}).array() * G.array()).sum(); };
    auto backward = [&](Matrix<double>& dx) {
      layer.forward(x, {});
      dx = layer.backward(x, G);
    };
    const auto results = moerb::test::check_gradients(layer, x, loss, backward);
    BOOST_TEST(results.size() == (bias ? 3u : 2u));
  }
}

BOOST_AUTO_TEST_CASE(backward_accumulates_and_skips_frozen_parameters) {
  Linear<double> layer({.in_features = 3, .out_features = 2});
  Rng init(5);
  layer.initialize(init);
  Rng rng(6);
  const Matrix<double> x = random_matrix(4, 3, rng);
  const Matrix<double> G = random_matrix(4, 2, rng);
  layer.forward(x, {});
  layer.backward(x, G);
  const Matrix<double> once = layer.weight().grad;
  layer.backward(x, G);
  BOOST_TEST((layer.weight().grad - 2 * once).cwiseAbs().maxCoeff() < 1e-14);
  moerb::zero_grad(layer);
  BOOST_TEST(moerb::set_frozen(layer, "weight") == 1);
  const Matrix<double> dx = layer.backward(x, G);
  BOOST_TEST(layer.weight().grad.cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST(layer.bias().grad.cwiseAbs().maxCoeff() > 0.0);
  BOOST_TEST((dx - G * layer.weight().value.transpose()).cwiseAbs().maxCoeff() < 1e-14);
}

BOOST_AUTO_TEST_CASE(matches_pytorch_golden_double) {
  check_golden<double>();
}
BOOST_AUTO_TEST_CASE(matches_pytorch_golden_float) {
  check_golden<float>();
}

BOOST_AUTO_TEST_CASE(copies_are_independent) {
  Linear<double> layer({.in_features = 3, .out_features = 2});
  Rng init(8);
  layer.initialize(init);
  Linear<double> copy = layer;
  copy.weight().value.setZero();
  BOOST_TEST(layer.weight().value.cwiseAbs().maxCoeff() > 0.0);
}

BOOST_AUTO_TEST_CASE(steady_state_forward_and_backward_do_not_allocate) {
  Linear<float> layer({.in_features = 8, .out_features = 6});
  Rng init(1);
  layer.initialize(init);
  Rng rng(2);
  const Matrix<float> x = random_matrix(20, 8, rng).cast<float>();
  const Matrix<float> G = random_matrix(20, 6, rng).cast<float>();
  layer.forward(x, {});
  layer.backward(x, G);
  Eigen::internal::set_is_malloc_allowed(false);
  bool threw = false;
  try {
    layer.forward(x, {});
    layer.backward(x, G);
  } catch (const std::exception& e) {
    threw = true;
    BOOST_TEST_MESSAGE(e.what());
  }
  Eigen::internal::set_is_malloc_allowed(true);
  BOOST_TEST(!threw);
}

BOOST_AUTO_TEST_CASE(bad_inputs_throw) {
  using moerb::error;
  BOOST_CHECK_EXCEPTION(Linear<double>({.in_features = 0, .out_features = 3}), error,
                        message_has({"Linear", "Options::in_features = 0"}));
  BOOST_CHECK_EXCEPTION(Linear<double>({.in_features = 2, .out_features = -1}), error,
                        message_has({"Linear", "Options::out_features = -1"}));
  Linear<double> layer({.in_features = 4, .out_features = 3});
  Matrix<double> x = Matrix<double>::Ones(5, 4);
  const Matrix<double> wrong = Matrix<double>::Ones(5, 2);
  BOOST_CHECK_EXCEPTION(layer.forward(wrong, {}), error,
                        message_has({"Linear::forward", "x has 2 columns", "expected 4"}));
  x(3, 2) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(layer.forward(x, {}), error,
                        message_has({"Linear::forward", "x(3, 2) is nan"}));
  x(3, 2) = 0;
  layer.forward(x, {});
  BOOST_CHECK_EXCEPTION(layer.backward(x, wrong), error,
                        message_has({"Linear::backward", "dy has shape 5×2", "expected 5×3"}));
  BOOST_CHECK_EXCEPTION(layer.backward(wrong, wrong), error,
                        message_has({"Linear::backward", "x has 2 columns"}));
  Matrix<double> dy = Matrix<double>::Ones(5, 3);
  dy(0, 1) = std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION(layer.backward(x, dy), error,
                        message_has({"Linear::backward", "dy(0, 1) is inf"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_nn_linear
