// Tests for include/moerb/experts/ffn_expert.hpp
#include <Eigen/Core>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <initializer_list>
#include <numbers>
#include <string>

#include "moerb/experts/ffn_expert.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_experts_ffn_expert {

using moerb::Activation;
using moerb::ForwardContext;
using moerb::Index;
using moerb::Rng;
template <class S>
using Matrix = moerb::Matrix<S>;
using FFN = moerb::FFNExpert<double>;

namespace {

using moerb::test::message_has;

Matrix<double> random_matrix(Index rows, Index cols, Rng& rng, double lo = -1.0, double hi = 1.0) {
  Matrix<double> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = rng.uniform(lo, hi);
  return m;
}

// The activations written out independently of the kernels.
double act(Activation a, double x) {
  switch (a) {
    case Activation::relu:
      return x > 0 ? x : 0.0;
    case Activation::gelu_erf:
      return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case Activation::gelu_tanh: {
      const double c = std::sqrt(2.0 / std::numbers::pi);
      return 0.5 * x * (1.0 + std::tanh(c * (x + 0.044715 * x * x * x)));
    }
    case Activation::silu:
      return x / (1.0 + std::exp(-x));
  }
  return 0.0;
}

// Plain Eigen re-computation of the FFN (no dropout).
Matrix<double> reference_ffn(const FFN& f, const Matrix<double>& x) {
  Matrix<double> pre = x * f.w_in().value;
  if (f.options().bias) pre.rowwise() += f.b_in().value.row(0);
  const Matrix<double> h = pre.unaryExpr([&](double v) { return act(f.activation(), v); });
  Matrix<double> y = h * f.w_out().value;
  if (f.options().bias) y.rowwise() += f.b_out().value.row(0);
  return y;
}

FFN make_ffn(Index d, Index h, Activation a, bool bias, double dropout, std::uint64_t seed) {
  FFN f({.d_model = d, .d_ff = h, .activation = a, .bias = bias, .expert_dropout = dropout});
  Rng rng(seed);
  f.initialize(rng);
  return f;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ffn_expert)

BOOST_AUTO_TEST_CASE(forward_matches_plain_eigen) {
  Rng rng(11);
  for (const Activation a :
       {Activation::relu, Activation::gelu_erf, Activation::gelu_tanh, Activation::silu}) {
    for (const bool bias : {false, true}) {
      FFN f = make_ffn(6, 8, a, bias, 0.0, 3);
      const Matrix<double> x = random_matrix(12, 6, rng, -2.0, 2.0);
      Matrix<double> y(12, 6);
      f.forward(x, y, ForwardContext{.training = true});
      const Matrix<double> ref = reference_ffn(f, x);
      BOOST_TEST((y - ref).cwiseAbs().maxCoeff() < 1e-12,
                 "activation " << moerb::to_string(a) << " bias " << bias);
    }
  }
}

BOOST_AUTO_TEST_CASE(float_forward_matches_double) {
  moerb::FFNExpert<float> ff({.d_model = 5, .d_ff = 9, .activation = Activation::silu});
  FFN fd({.d_model = 5, .d_ff = 9, .activation = Activation::silu});
  Rng r1(5), r2(5);
  ff.initialize(r1);
  fd.initialize(r2);
  Rng rng(6);
  const Matrix<double> x = random_matrix(7, 5, rng);
  Matrix<float> yf(7, 5);
  Matrix<double> yd(7, 5);
  ff.forward(x.cast<float>(), yf, {});
  fd.forward(x, yd, {});
  BOOST_TEST((yf.cast<double>() - yd).cwiseAbs().maxCoeff() < 1e-5);
}

BOOST_AUTO_TEST_CASE(runs_on_a_block_of_a_larger_buffer) {
  // The MoE layer hands experts middleRows of its dispatch buffers.
  FFN f = make_ffn(4, 6, Activation::gelu_erf, true, 0.0, 1);
  Rng rng(2);
  const Matrix<double> big = random_matrix(10, 4, rng);
  Matrix<double> out = Matrix<double>::Constant(10, 4, 7.0);
  f.forward(big.middleRows(3, 5), out.middleRows(3, 5), {});
  const Matrix<double> ref = reference_ffn(f, big.middleRows(3, 5));
  BOOST_TEST((out.middleRows(3, 5) - ref).cwiseAbs().maxCoeff() < 1e-12);
  BOOST_TEST((out.topRows(3).array() == 7.0).all());
  BOOST_TEST((out.bottomRows(2).array() == 7.0).all());
  // Backward on blocks too; rows outside the block of d_in stay untouched.
  Matrix<double> d_in = Matrix<double>::Constant(10, 4, -1.0);
  const Matrix<double> d_out = random_matrix(5, 4, rng);
  f.backward(big.middleRows(3, 5), d_out, d_in.middleRows(3, 5));
  BOOST_TEST((d_in.topRows(3).array() == -1.0).all());
  BOOST_TEST((d_in.middleRows(3, 5).array() != -1.0).all());
}

BOOST_AUTO_TEST_CASE(initialize_uses_fan_in_bounds) {
  FFN f = make_ffn(16, 64, Activation::relu, true, 0.0, 9);
  const double b_in = 1.0 / std::sqrt(16.0), b_out = 1.0 / std::sqrt(64.0);
  BOOST_TEST(f.w_in().value.cwiseAbs().maxCoeff() <= b_in);
  BOOST_TEST(f.b_in().value.cwiseAbs().maxCoeff() <= b_in);
  BOOST_TEST(f.w_out().value.cwiseAbs().maxCoeff() <= b_out);
  BOOST_TEST(f.w_out().value.cwiseAbs().maxCoeff() > 0.5 * b_out);
  BOOST_TEST(f.w_in().value.cwiseAbs().maxCoeff() > 0.5 * b_in);
  FFN g = make_ffn(16, 64, Activation::relu, true, 0.0, 9);
  BOOST_TEST((f.w_in().value == g.w_in().value));
}

BOOST_AUTO_TEST_CASE(parameters_names_shapes_and_counts) {
  for (const bool bias : {true, false}) {
    FFN f({.d_model = 6, .d_ff = 8, .bias = bias});
    std::vector<std::string> names;
    std::vector<std::pair<Index, Index>> shapes;
    f.visit_parameters(
        [&](std::string_view name, moerb::Parameter<double>& p) {
          names.emplace_back(name);
          shapes.emplace_back(p.value.rows(), p.value.cols());
          BOOST_TEST(p.grad.rows() == p.value.rows());
          BOOST_TEST(p.grad.cols() == p.value.cols());
        },
        "experts.2");
    if (bias) {
      BOOST_TEST(names == (std::vector<std::string>{"experts.2.w_in", "experts.2.b_in",
                                                    "experts.2.w_out", "experts.2.b_out"}),
                 boost::test_tools::per_element());
      BOOST_TEST((shapes == std::vector<std::pair<Index, Index>>{{6, 8}, {1, 8}, {8, 6}, {1, 6}}));
    } else {
      BOOST_TEST(names == (std::vector<std::string>{"experts.2.w_in", "experts.2.w_out"}),
                 boost::test_tools::per_element());
    }
    BOOST_TEST(moerb::parameter_count(f) == FFN::parameter_count(f.options()));
    BOOST_TEST(FFN::parameter_count(f.options()) == 2 * 6 * 8 + (bias ? 8 + 6 : 0));
  }
  FFN f({.d_model = 6, .d_ff = 8});
  BOOST_TEST(f.flops_per_token() == 4.0 * 6 * 8);
  BOOST_TEST(f.input_dim() == 6);
  BOOST_TEST(f.output_dim() == 6);
  BOOST_TEST(f.hidden_dim() == 8);
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  Rng rng(21);
  for (const Activation a :
       {Activation::relu, Activation::gelu_erf, Activation::gelu_tanh, Activation::silu}) {
    FFN f = make_ffn(6, 8, a, /*bias=*/true, /*dropout=*/0.25, 4);
    Matrix<double> x = random_matrix(12, 6, rng, -1.5, 1.5);
    const Matrix<double> G = random_matrix(12, 6, rng);
    const ForwardContext ctx{.training = true, .rng = Rng(77)};
    Matrix<double> y(12, 6);
    auto loss = [&] {
      f.forward(x, y, ctx);
      return (y.array() * G.array()).sum();
    };
    auto backward = [&](Matrix<double>& dx) {
      f.forward(x, y, ctx);
      f.backward(x, G, dx);
    };
    const auto results = moerb::test::check_gradients(f, x, loss, backward);
    BOOST_TEST(results.size() == 5u);  // input + 4 tensors
    for (const auto& r : results)
      BOOST_TEST_MESSAGE(moerb::to_string(a) << " " << r.name << " " << r.rel_error);
  }
}

BOOST_AUTO_TEST_CASE(backward_accumulates_and_respects_frozen) {
  Rng rng(8);
  FFN f = make_ffn(6, 8, Activation::gelu_erf, true, 0.0, 1);
  const Matrix<double> x = random_matrix(5, 6, rng);
  const Matrix<double> dy = random_matrix(5, 6, rng);
  Matrix<double> y(5, 6), dx1(5, 6), dx2(5, 6);
  f.forward(x, y, {});
  f.backward(x, dy, dx1);
  const Matrix<double> g1 = f.w_in().grad;
  f.backward(x, dy, dx2);
  BOOST_TEST((dx1 == dx2));  // d_in is overwritten, not accumulated
  BOOST_TEST((f.w_in().grad - 2.0 * g1).cwiseAbs().maxCoeff() < 1e-14);

  moerb::zero_grad(f);
  BOOST_TEST(moerb::set_frozen(f, "w_in") + moerb::set_frozen(f, "w_out") == 2);
  BOOST_TEST(moerb::set_frozen(f, "w_") == 0);  // whole name components only
  Matrix<double> dx3(5, 6);
  f.backward(x, dy, dx3);
  BOOST_TEST((dx3 == dx1));
  BOOST_TEST(f.w_in().grad.cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST(f.w_out().grad.cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST(f.b_in().grad.cwiseAbs().maxCoeff() > 0.0);
}

BOOST_AUTO_TEST_CASE(expert_dropout_masks_hidden_units_in_training_only) {
  // With W_in = W_out = I, no bias and ReLU on positive inputs, y = x ⊙ mask, exposing the mask.
  const Index n = 400, d = 64;
  const double p = 0.3;
  FFN f({.d_model = d,
         .d_ff = d,
         .activation = Activation::relu,
         .bias = false,
         .expert_dropout = p});
  f.w_in().value.setIdentity();
  f.w_out().value.setIdentity();
  Rng rng(4);
  const Matrix<double> x = random_matrix(n, d, rng, 0.5, 1.5);
  Matrix<double> y(n, d);

  f.forward(x, y, ForwardContext{.training = false, .rng = Rng(1)});
  BOOST_TEST((y == x), "evaluation must not apply dropout");

  const ForwardContext train{.training = true, .rng = Rng(123)};
  f.forward(x, y, train);
  Index zeros = 0;
  double max_kept_error = 0;
  for (Index i = 0; i < y.size(); ++i) {
    if (y.data()[i] == 0.0) {
      ++zeros;
    } else {
      max_kept_error = std::max(max_kept_error, std::abs(y.data()[i] - x.data()[i] / (1 - p)));
    }
  }
  const double rate = static_cast<double>(zeros) / static_cast<double>(y.size());
  // 25 600 Bernoulli(0.3) draws: standard deviation 0.0029.
  BOOST_TEST(std::abs(rate - p) < 0.015, "dropped fraction " << rate);
  BOOST_TEST(max_kept_error < 1e-12, "kept units must be scaled by 1/(1-p)");

  // Reproducible for a seed, different for another stream, independent of the thread count.
  Matrix<double> y2(n, d), y3(n, d), y4(n, d);
  f.forward(x, y2, train);
  BOOST_TEST((y2 == y));
  f.forward(x, y3, train.with_rng(Rng(124)));
  BOOST_TEST(!(y3 == y));
  const int threads = Eigen::nbThreads();
  Eigen::setNbThreads(1);
  f.forward(x, y4, train);
  Eigen::setNbThreads(threads);
  BOOST_TEST((y4 == y));

  // The same mask acts in backward: dropped units pass no gradient.
  Matrix<double> dx(n, d);
  f.backward(x, Matrix<double>::Ones(n, d), dx);
  double max_grad_error = 0;
  for (Index i = 0; i < y.size(); ++i) {
    const double expected = y.data()[i] == 0.0 ? 0.0 : 1.0 / (1 - p);
    max_grad_error = std::max(max_grad_error, std::abs(dx.data()[i] - expected));
  }
  BOOST_TEST(max_grad_error < 1e-12);

  // A rate of 0 and a changed rate.
  f.set_expert_dropout(0.0);
  f.forward(x, y, train);
  BOOST_TEST((y == x));
}

BOOST_AUTO_TEST_CASE(bad_options_and_inputs_throw) {
  using moerb::error;
  BOOST_CHECK_EXCEPTION(FFN({.d_model = 0, .d_ff = 8}), error,
                        message_has({"FFNExpert", "d_model = 0", "expected > 0"}));
  BOOST_CHECK_EXCEPTION(FFN({.d_model = 4, .d_ff = -2}), error,
                        message_has({"FFNExpert", "d_ff = -2", "expected > 0"}));
  BOOST_CHECK_EXCEPTION(FFN({.d_model = 4, .d_ff = 8, .expert_dropout = 1.0}), error,
                        message_has({"expert_dropout = 1", "[0, 1)"}));
  BOOST_CHECK_EXCEPTION(FFN({.d_model = 4, .d_ff = 8, .expert_dropout = -0.1}), error,
                        message_has({"expert_dropout = -0.1"}));
  FFN f = make_ffn(4, 8, Activation::silu, true, 0.0, 1);
  BOOST_CHECK_EXCEPTION(f.set_expert_dropout(1.5), error, message_has({"rate = 1.5"}));

  Matrix<double> x = Matrix<double>::Ones(3, 4), y(3, 4), dx(3, 4);
  BOOST_CHECK_EXCEPTION(f.backward(x, y, dx), error, message_has({"backward", "before forward"}));
  Matrix<double> wrong(3, 5), wrong_out(3, 5);
  BOOST_CHECK_EXCEPTION(f.forward(wrong, y, {}), error,
                        message_has({"FFNExpert::forward", "in has 5 columns", "expected 4"}));
  BOOST_CHECK_EXCEPTION(f.forward(x, wrong_out, {}), error,
                        message_has({"out has shape 3×5", "expected 3×4"}));
  x(1, 2) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(f.forward(x, y, {}), error, message_has({"in(1, 2) is nan", "finite"}));
  x(1, 2) = std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION(f.forward(x, y, {}), error, message_has({"in(1, 2) is inf"}));
  x(1, 2) = 0.5;
  f.forward(x, y, {});
  Matrix<double> d_short(2, 4);
  BOOST_CHECK_EXCEPTION(
      f.backward(x, d_short, dx), error,
      message_has({"FFNExpert::backward", "d_out has shape 2×4", "expected 3×4"}));
  BOOST_CHECK_EXCEPTION(f.backward(x, y, wrong), error, message_has({"d_in has shape 3×5"}));
}

BOOST_AUTO_TEST_CASE(zero_rows_are_a_no_op) {
  FFN f = make_ffn(4, 8, Activation::silu, true, 0.5, 1);
  Matrix<double> x(0, 4), y(0, 4), dx(0, 4);
  f.forward(x, y, ForwardContext{.training = true});
  f.backward(x, y, dx);
  BOOST_TEST(f.w_in().grad.cwiseAbs().maxCoeff() == 0.0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_experts_ffn_expert
