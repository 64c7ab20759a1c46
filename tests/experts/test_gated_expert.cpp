// Tests for include/moerb/experts/gated_expert.hpp
#include <Eigen/Core>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "moerb/experts/gated_expert.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_experts_gated_expert {

using moerb::Activation;
using moerb::ForwardContext;
using moerb::Index;
using moerb::Rng;
template <class S>
using Matrix = moerb::Matrix<S>;

namespace {

using moerb::test::message_has;

Matrix<double> random_matrix(Index rows, Index cols, Rng& rng, double lo = -1.0, double hi = 1.0) {
  Matrix<double> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = rng.uniform(lo, hi);
  return m;
}

double act(Activation a, double x) {
  switch (a) {
    case Activation::relu:
      return x > 0 ? x : 0.0;
    case Activation::gelu_erf:
      return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case Activation::gelu_tanh: {
      const double c = std::sqrt(2.0 / 3.14159265358979323846);
      return 0.5 * x * (1.0 + std::tanh(c * (x + 0.044715 * x * x * x)));
    }
    case Activation::silu:
      return x / (1.0 + std::exp(-x));
  }
  return 0.0;
}

// Shazeer 2020 written with separate W_gate and W_up, taken from the fused weight's halves.
template <class G>
Matrix<double> reference_glu(G& g, const Matrix<double>& x) {
  const Index h = g.hidden_dim();
  const Matrix<double> w_gate = g.w_gate_up().value.leftCols(h);
  const Matrix<double> w_up = g.w_gate_up().value.rightCols(h);
  Matrix<double> gate = x * w_gate;
  Matrix<double> up = x * w_up;
  if (g.options().bias) {
    gate.rowwise() += g.b_gate_up().value.row(0).head(h);
    up.rowwise() += g.b_gate_up().value.row(0).tail(h);
  }
  const Matrix<double> hidden =
      gate.unaryExpr([](double v) { return act(G::activation(), v); }).cwiseProduct(up);
  Matrix<double> y = hidden * g.w_out().value;
  if (g.options().bias) y.rowwise() += g.b_out().value.row(0);
  return y;
}

template <class G>
G make(Index d, Index h, bool bias, double dropout, std::uint64_t seed) {
  G g({.d_model = d, .d_ff = h, .bias = bias, .expert_dropout = dropout});
  Rng rng(seed);
  g.initialize(rng);
  return g;
}

template <class G>
void check_forward(Rng& rng) {
  for (const bool bias : {false, true}) {
    G g = make<G>(6, 8, bias, 0.0, 3);
    const Matrix<double> x = random_matrix(12, 6, rng, -2.0, 2.0);
    Matrix<double> y(12, 6);
    g.forward(x, y, ForwardContext{.training = true});
    BOOST_TEST((y - reference_glu(g, x)).cwiseAbs().maxCoeff() < 1e-12,
               moerb::to_string(G::activation()) << " bias " << bias);
  }
}

template <class G>
void check_gradients(Rng& rng, bool bias) {
  G g = make<G>(6, 8, bias, /*dropout=*/0.25, 4);
  Matrix<double> x = random_matrix(12, 6, rng, -1.5, 1.5);
  const Matrix<double> G_ = random_matrix(12, 6, rng);
  const ForwardContext ctx{.training = true, .rng = Rng(31)};
  Matrix<double> y(12, 6);
  auto loss = [&] {
    g.forward(x, y, ctx);
    return (y.array() * G_.array()).sum();
  };
  auto backward = [&](Matrix<double>& dx) {
    g.forward(x, y, ctx);
    g.backward(x, G_, dx);
  };
  const auto results = moerb::test::check_gradients(g, x, loss, backward);
  BOOST_TEST(results.size() == (bias ? 5u : 3u));
  for (const auto& r : results) {
    BOOST_TEST_MESSAGE(moerb::to_string(G::activation()) << " " << r.name << " " << r.rel_error);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(gated_expert)

BOOST_AUTO_TEST_CASE(forward_matches_separate_gate_and_up_projections) {
  Rng rng(11);
  check_forward<moerb::SwiGLUExpert<double>>(rng);
  check_forward<moerb::GeGLUExpert<double>>(rng);
  check_forward<moerb::ReGLUExpert<double>>(rng);
  check_forward<moerb::GatedExpert<double, Activation::gelu_tanh>>(rng);
}

BOOST_AUTO_TEST_CASE(aliases_carry_the_papers_activations) {
  static_assert(moerb::SwiGLUExpert<float>::activation() == Activation::silu);
  static_assert(moerb::GeGLUExpert<float>::activation() == Activation::gelu_erf);
  static_assert(moerb::ReGLUExpert<float>::activation() == Activation::relu);
  BOOST_TEST((moerb::SwiGLUExpert<float>::gate_activation == Activation::silu));
  moerb::SwiGLUExpert<float> g({.d_model = 4, .d_ff = 3});
  BOOST_TEST(!g.options().bias);  // Shazeer's GLU variants have no biases
}

BOOST_AUTO_TEST_CASE(fused_weight_halves_are_gate_then_up) {
  moerb::SwiGLUExpert<double> g({.d_model = 3, .d_ff = 2});
  g.w_gate().setConstant(1.0);
  g.w_up().setConstant(2.0);
  const Matrix<double>& w = g.w_gate_up().value;
  BOOST_TEST(w.rows() == 3);
  BOOST_TEST(w.cols() == 4);
  BOOST_TEST((w.leftCols(2).array() == 1.0).all());
  BOOST_TEST((w.rightCols(2).array() == 2.0).all());
  // gate = 3·1 = 3 per unit, up = 3·2 = 6; h = silu(3)·6; w_out = 1 -> y = 2·h per column.
  g.w_out().value.setOnes();
  Matrix<double> x = Matrix<double>::Ones(1, 3), y(1, 3);
  g.forward(x, y, {});
  const double h = 3.0 / (1.0 + std::exp(-3.0)) * 6.0;
  BOOST_TEST((y.array() - 2.0 * h).abs().maxCoeff() < 1e-12);
}

BOOST_AUTO_TEST_CASE(float_forward_matches_double) {
  moerb::SwiGLUExpert<float> gf({.d_model = 5, .d_ff = 9});
  moerb::SwiGLUExpert<double> gd({.d_model = 5, .d_ff = 9});
  Rng r1(5), r2(5);
  gf.initialize(r1);
  gd.initialize(r2);
  Rng rng(6);
  const Matrix<double> x = random_matrix(7, 5, rng);
  Matrix<float> yf(7, 5);
  Matrix<double> yd(7, 5);
  gf.forward(x.cast<float>(), yf, {});
  gd.forward(x, yd, {});
  BOOST_TEST((yf.cast<double>() - yd).cwiseAbs().maxCoeff() < 1e-5);
}

BOOST_AUTO_TEST_CASE(parameters_names_shapes_and_counts) {
  using G = moerb::SwiGLUExpert<double>;
  for (const bool bias : {false, true}) {
    G g({.d_model = 6, .d_ff = 8, .bias = bias});
    std::vector<std::string> names;
    std::vector<std::pair<Index, Index>> shapes;
    g.visit_parameters(
        [&](std::string_view name, moerb::Parameter<double>& p) {
          names.emplace_back(name);
          shapes.emplace_back(p.value.rows(), p.value.cols());
        },
        "shared_experts.0");
    if (bias) {
      BOOST_TEST(names == (std::vector<std::string>{
                              "shared_experts.0.w_gate_up", "shared_experts.0.b_gate_up",
                              "shared_experts.0.w_out", "shared_experts.0.b_out"}),
                 boost::test_tools::per_element());
      BOOST_TEST(
          (shapes == std::vector<std::pair<Index, Index>>{{6, 16}, {1, 16}, {8, 6}, {1, 6}}));
    } else {
      BOOST_TEST(names == (std::vector<std::string>{"shared_experts.0.w_gate_up",
                                                    "shared_experts.0.w_out"}),
                 boost::test_tools::per_element());
      BOOST_TEST((shapes == std::vector<std::pair<Index, Index>>{{6, 16}, {8, 6}}));
    }
    BOOST_TEST(moerb::parameter_count(g) == G::parameter_count(g.options()));
    BOOST_TEST(G::parameter_count(g.options()) == 3 * 6 * 8 + (bias ? 16 + 6 : 0));
  }
  G g({.d_model = 6, .d_ff = 8});
  BOOST_TEST(g.flops_per_token() == 6.0 * 6 * 8);
  BOOST_TEST(g.hidden_dim() == 8);
}

BOOST_AUTO_TEST_CASE(initialize_uses_fan_in_bounds) {
  auto g = make<moerb::GeGLUExpert<double>>(16, 64, true, 0.0, 2);
  BOOST_TEST(g.w_gate_up().value.cwiseAbs().maxCoeff() <= 1.0 / 4.0);
  BOOST_TEST(g.w_gate_up().value.cwiseAbs().maxCoeff() > 0.2);
  BOOST_TEST(g.b_gate_up().value.cwiseAbs().maxCoeff() <= 1.0 / 4.0);
  BOOST_TEST(g.w_out().value.cwiseAbs().maxCoeff() <= 1.0 / 8.0);
  BOOST_TEST(g.b_out().value.cwiseAbs().maxCoeff() <= 1.0 / 8.0);
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  Rng rng(21);
  for (const bool bias : {true, false}) {
    check_gradients<moerb::SwiGLUExpert<double>>(rng, bias);
    check_gradients<moerb::GeGLUExpert<double>>(rng, bias);
    check_gradients<moerb::ReGLUExpert<double>>(rng, bias);
    check_gradients<moerb::GatedExpert<double, Activation::gelu_tanh>>(rng, bias);
  }
}

BOOST_AUTO_TEST_CASE(frozen_parameters_get_no_gradient_but_input_grad_is_unchanged) {
  Rng rng(8);
  auto g = make<moerb::SwiGLUExpert<double>>(6, 8, false, 0.0, 1);
  const Matrix<double> x = random_matrix(5, 6, rng);
  const Matrix<double> dy = random_matrix(5, 6, rng);
  Matrix<double> y(5, 6), dx1(5, 6), dx2(5, 6);
  g.forward(x, y, {});
  g.backward(x, dy, dx1);
  moerb::zero_grad(g);
  BOOST_TEST(moerb::set_frozen(g, "") == 2);
  g.backward(x, dy, dx2);
  BOOST_TEST((dx1 == dx2));
  BOOST_TEST(g.w_gate_up().grad.cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST(g.w_out().grad.cwiseAbs().maxCoeff() == 0.0);
}

BOOST_AUTO_TEST_CASE(expert_dropout_masks_hidden_units_in_training_only) {
  // ReGLU with W_gate = W_up = W_out = I on positive inputs: y = h = x ⊙ x ⊙ mask exposes the mask.
  const Index n = 400, d = 64;
  const double p = 0.2;
  moerb::ReGLUExpert<double> g({.d_model = d, .d_ff = d, .expert_dropout = p});
  g.w_gate().setIdentity();
  g.w_up().setIdentity();
  g.w_out().value.setIdentity();
  Rng rng(4);
  const Matrix<double> x = random_matrix(n, d, rng, 0.5, 1.5);
  const Matrix<double> x2 = x.cwiseProduct(x);
  Matrix<double> y(n, d), y2(n, d), y3(n, d), y4(n, d);
  g.forward(x, y, ForwardContext{.training = false, .rng = Rng(1)});
  BOOST_TEST((y - x2).cwiseAbs().maxCoeff() == 0.0, "evaluation must not apply dropout");

  const ForwardContext train{.training = true, .rng = Rng(99)};
  g.forward(x, y, train);
  Index zeros = 0;
  double max_kept_error = 0;
  for (Index i = 0; i < y.size(); ++i) {
    if (y.data()[i] == 0.0) {
      ++zeros;
    } else {
      max_kept_error = std::max(max_kept_error, std::abs(y.data()[i] - x2.data()[i] / (1 - p)));
    }
  }
  const double rate = static_cast<double>(zeros) / static_cast<double>(y.size());
  BOOST_TEST(std::abs(rate - p) < 0.015, "dropped fraction " << rate);
  BOOST_TEST(max_kept_error < 1e-12);
  g.forward(x, y2, train);
  BOOST_TEST((y2 == y));
  g.forward(x, y3, train.with_rng(Rng(98)));
  BOOST_TEST(!(y3 == y));
  const int threads = Eigen::nbThreads();
  Eigen::setNbThreads(1);
  g.forward(x, y4, train);
  Eigen::setNbThreads(threads);
  BOOST_TEST((y4 == y));
}

BOOST_AUTO_TEST_CASE(bad_options_and_inputs_throw) {
  using G = moerb::SwiGLUExpert<double>;
  using moerb::error;
  BOOST_CHECK_EXCEPTION(G({.d_model = -1, .d_ff = 8}), error,
                        message_has({"GatedExpert", "d_model = -1", "expected > 0"}));
  BOOST_CHECK_EXCEPTION(G({.d_model = 4, .d_ff = 0}), error,
                        message_has({"GatedExpert", "d_ff = 0", "expected > 0"}));
  BOOST_CHECK_EXCEPTION(G({.d_model = 4, .d_ff = 8, .expert_dropout = 2.0}), error,
                        message_has({"expert_dropout = 2", "[0, 1)"}));
  G g = make<G>(4, 8, false, 0.0, 1);
  Matrix<double> x = Matrix<double>::Ones(3, 4), y(3, 4), dx(3, 4);
  BOOST_CHECK_EXCEPTION(g.backward(x, y, dx), error, message_has({"backward", "before forward"}));
  Matrix<double> wrong(3, 2);
  BOOST_CHECK_EXCEPTION(g.forward(wrong, y, {}), error,
                        message_has({"GatedExpert::forward", "in has 2 columns", "expected 4"}));
  x(2, 3) = -std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION(g.forward(x, y, {}), error, message_has({"in(2, 3) is -inf"}));
  x(2, 3) = 1.0;
  g.forward(x, y, {});
  Matrix<double> x_other(4, 4);
  BOOST_CHECK_EXCEPTION(g.backward(x_other, y, dx), error,
                        message_has({"GatedExpert::backward", "in has shape 4×4", "expected 3×4"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_experts_gated_expert
