// Tests for include/moerb/nn/layer_norm.hpp
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
#include <vector>

#include "moerb/nn/layer_norm.hpp"
#include "support/golden.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_nn_layer_norm {

using moerb::ForwardContext;
using moerb::Index;
using moerb::LayerNorm;
using moerb::Rng;
template <class S>
using Matrix = moerb::Matrix<S>;
using moerb::test::relative_error;

namespace {

using moerb::test::message_has;

Matrix<double> random_matrix(Index rows, Index cols, Rng& rng, double lo = -1.0, double hi = 1.0) {
  Matrix<double> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = rng.uniform(lo, hi);
  return m;
}

// Textbook layer norm in long double (two-pass), for comparisons that need more precision than
// the double under test. weight/bias may be empty (no affine / no bias).
Matrix<double> reference_layer_norm(const Matrix<double>& x, double eps, const Matrix<double>& w,
                                    const Matrix<double>& b) {
  Matrix<double> y(x.rows(), x.cols());
  const auto n = static_cast<long double>(x.cols());
  for (Index r = 0; r < x.rows(); ++r) {
    long double mean = 0, var = 0;
    for (Index c = 0; c < x.cols(); ++c) mean += x(r, c);
    mean /= n;
    for (Index c = 0; c < x.cols(); ++c) var += (x(r, c) - mean) * (x(r, c) - mean);
    var /= n;
    const long double inv_std = 1.0L / std::sqrt(var + eps);
    for (Index c = 0; c < x.cols(); ++c) {
      long double v = (x(r, c) - mean) * inv_std;
      if (w.size() != 0) v *= w(0, c);
      if (b.size() != 0) v += b(0, c);
      y(r, c) = static_cast<double>(v);
    }
  }
  return y;
}

template <class S>
LayerNorm<S> make_layer_norm(Index dim, bool affine, bool bias, Rng& rng) {
  LayerNorm<S> ln({.dim = dim, .elementwise_affine = affine, .bias = bias});
  // Non-trivial parameters so that the gradients with respect to them are exercised.
  if (ln.has_weight()) {
    for (Index c = 0; c < dim; ++c) ln.weight().value(0, c) = static_cast<S>(rng.uniform(0.5, 1.5));
  }
  if (ln.has_bias()) {
    for (Index c = 0; c < dim; ++c) ln.bias().value(0, c) = static_cast<S>(rng.uniform(-0.5, 0.5));
  }
  return ln;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(layer_norm)

BOOST_AUTO_TEST_CASE(forward_matches_the_definition) {
  Rng rng(1);
  for (const bool affine : {true, false}) {
    for (const bool bias : {true, false}) {
      auto ln = make_layer_norm<double>(7, affine, bias, rng);
      const Matrix<double> x = random_matrix(11, 7, rng, -3.0, 2.0);
      const Matrix<double>& y = ln.forward(x, {});
      const Matrix<double> ref = reference_layer_norm(x, 1e-5, ln.weight().value, ln.bias().value);
      BOOST_TEST((y - ref).cwiseAbs().maxCoeff() < 1e-13, "affine " << affine << " bias " << bias);
      BOOST_TEST((&ln.output() == &y));
      // Saved statistics: the mean and 1 / sqrt(var + eps) of each row.
      for (Index r = 0; r < x.rows(); ++r) {
        const double mean = x.row(r).mean();
        const double var = (x.row(r).array() - mean).square().mean();
        BOOST_TEST(std::abs(ln.saved_mean()[r] - mean) < 1e-14);
        BOOST_TEST(std::abs(ln.saved_inverse_std()[r] - 1.0 / std::sqrt(var + 1e-5)) < 1e-12);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(parameters_names_and_initialisation) {
  auto names_of = [](LayerNorm<double>& ln) {
    std::vector<std::string> names;
    ln.visit_parameters(
        [&](std::string_view n, moerb::Parameter<double>& p) {
          names.emplace_back(n);
          BOOST_TEST(p.value.rows() == 1);
          BOOST_TEST(p.value.cols() == 5);
        },
        "blocks.0.norm");
    return names;
  };
  LayerNorm<double> full({.dim = 5});
  BOOST_TEST(
      names_of(full) == (std::vector<std::string>{"blocks.0.norm.weight", "blocks.0.norm.bias"}),
      boost::test_tools::per_element());
  LayerNorm<double> no_bias({.dim = 5, .bias = false});
  BOOST_TEST(names_of(no_bias) == (std::vector<std::string>{"blocks.0.norm.weight"}),
             boost::test_tools::per_element());
  // Without the affine transform `bias` is ignored, as in torch.nn.LayerNorm.
  LayerNorm<double> plain({.dim = 5, .elementwise_affine = false, .bias = true});
  BOOST_TEST(names_of(plain).empty());
  BOOST_TEST(moerb::parameter_count(full) == 10);
  BOOST_TEST(moerb::parameter_count(plain) == 0);

  // torch.nn.LayerNorm's initialisation: weight 1, bias 0 (also right after construction).
  BOOST_TEST((full.weight().value.array() == 1.0).all());
  BOOST_TEST((full.bias().value.array() == 0.0).all());
  full.weight().value.setConstant(3.0);
  full.bias().value.setConstant(2.0);
  Rng rng(1);
  const Rng before = rng;
  full.initialize(rng);
  BOOST_TEST((full.weight().value.array() == 1.0).all());
  BOOST_TEST((full.bias().value.array() == 0.0).all());
  BOOST_TEST(rng.next_u64() == Rng(before).next_u64());  // nothing drawn
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  struct Case {
    bool affine, bias;
    const char* frozen;  // parameter name prefix to freeze ("" = none)
  };
  for (const Case c : {Case{true, true, ""}, Case{true, false, ""}, Case{false, false, ""},
                       Case{true, true, "weight"}, Case{true, true, "bias"}}) {
    Rng rng(2);
    auto ln = make_layer_norm<double>(6, c.affine, c.bias, rng);
    if (*c.frozen != '\0') BOOST_TEST(moerb::set_frozen(ln, c.frozen) == 1);
    Matrix<double> x = random_matrix(9, 6, rng, -2.0, 2.0);
    x.row(4).setConstant(-0.4);  // variance 0: only eps keeps 1/sqrt(var + eps) finite
    const Matrix<double> G = random_matrix(9, 6, rng);
    auto loss = [&] {
      const Matrix<double>& y = ln.forward(x, {});
      return (y.array() * G.array()).sum();
    };
    auto backward = [&](Matrix<double>& dx) {
      ln.forward(x, {});
      dx = ln.backward(x, G);
    };
    const auto results = moerb::test::check_gradients(ln, x, loss, backward);
    const std::size_t expected =
        1 + (c.affine ? 1 : 0) + (c.affine && c.bias ? 1 : 0) - (*c.frozen != '\0' ? 1 : 0);
    BOOST_TEST(results.size() == expected);
    for (const auto& r : results)
      BOOST_TEST_MESSAGE("affine " << c.affine << " bias " << c.bias << " frozen '" << c.frozen
                                   << "' " << r.name << " " << r.rel_error);
  }
}

BOOST_AUTO_TEST_CASE(frozen_parameters_keep_zero_grad_and_dx_is_unchanged) {
  Rng rng(3);
  auto ln = make_layer_norm<double>(5, true, true, rng);
  const Matrix<double> x = random_matrix(8, 5, rng);
  const Matrix<double> G = random_matrix(8, 5, rng);
  ln.forward(x, {});
  const Matrix<double> dx_free = ln.backward(x, G);
  moerb::zero_grad(ln);
  moerb::set_frozen(ln, "");
  ln.forward(x, {});
  const Matrix<double>& dx_frozen = ln.backward(x, G);
  BOOST_TEST((dx_frozen == dx_free));
  BOOST_TEST(ln.weight().grad.cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST(ln.bias().grad.cwiseAbs().maxCoeff() == 0.0);
}

BOOST_AUTO_TEST_CASE(backward_accumulates_parameter_gradients) {
  Rng rng(4);
  auto ln = make_layer_norm<double>(5, true, true, rng);
  const Matrix<double> x = random_matrix(8, 5, rng);
  const Matrix<double> G = random_matrix(8, 5, rng);
  ln.forward(x, {});
  ln.backward(x, G);
  const Matrix<double> gw = ln.weight().grad, gb = ln.bias().grad;
  ln.backward(x, G);
  BOOST_TEST((ln.weight().grad - 2 * gw).cwiseAbs().maxCoeff() < 1e-14);
  BOOST_TEST((ln.bias().grad - 2 * gb).cwiseAbs().maxCoeff() < 1e-14);
  // ∂L/∂bias = Σ_tokens G and ∂L/∂weight = Σ_tokens G ⊙ x̂.
  BOOST_TEST((gb - G.colwise().sum()).cwiseAbs().maxCoeff() < 1e-14);
  const Matrix<double> x_hat = reference_layer_norm(x, 1e-5, Matrix<double>(), Matrix<double>());
  BOOST_TEST((gw - (G.array() * x_hat.array()).matrix().colwise().sum()).cwiseAbs().maxCoeff() <
             1e-13);
}

BOOST_AUTO_TEST_CASE(constant_rows_stay_finite) {
  for (const double eps : {1e-5, 1e-12}) {
    LayerNorm<double> ln({.dim = 8, .eps = eps});
    ln.bias().value.setConstant(0.25);
    ln.weight().value.setConstant(2.0);
    Matrix<double> x(3, 8);
    x.row(0).setConstant(5.0);
    x.row(1).setZero();
    x.row(2).setConstant(-1e8);
    const Matrix<double>& y = ln.forward(x, {});
    // x̂ = 0 exactly, so y is the bias.
    BOOST_TEST(y.allFinite());
    BOOST_TEST((y.array() == 0.25).all());
    for (Index r = 0; r < 3; ++r) {
      BOOST_TEST(ln.saved_mean()[r] == x(r, 0));
      BOOST_TEST(ln.saved_inverse_std()[r] == 1.0 / std::sqrt(eps));
    }
    // dx = (g − mean(g)) / sqrt(eps) where x̂ = 0.
    Rng rng(5);
    const Matrix<double> G = random_matrix(3, 8, rng);
    const Matrix<double>& dx = ln.backward(x, G);
    BOOST_TEST(dx.allFinite());
    for (Index r = 0; r < 3; ++r) {
      const Eigen::RowVectorXd g = 2.0 * G.row(r);
      const Eigen::RowVectorXd expected = (g.array() - g.mean()) / std::sqrt(eps);
      BOOST_TEST((dx.row(r) - expected).cwiseAbs().maxCoeff() <=
                 1e-12 * expected.cwiseAbs().maxCoeff());
    }
  }
}

BOOST_AUTO_TEST_CASE(large_offsets_stay_accurate_in_double) {
  // Features on a common offset of 1e6 with O(1) spread: x − 1e6 is exact in double (Sterbenz), and
  // layer norm is shift invariant, so the exact answer is the layer norm of x − 1e6. The one-pass
  // E[x²] − E[x]² would lose ~12 of double's ~16 digits here, and even subtracting a mean rounded
  // to double would leave an error of ulp(offset) / σ ≈ 2e-10 (offset 1e6) to 6e-9 (3e7).
  Rng rng(6);
  const Index rows = 16, dim = 64;
  LayerNorm<double> ln({.dim = dim});
  const Matrix<double> spread = random_matrix(rows, dim, rng, -1.0, 1.0);
  for (const double offset : {1e6, -3e7}) {
    const Matrix<double> x = (spread.array() + offset).matrix();
    const Matrix<double> shifted = (x.array() - offset).matrix();
    const Matrix<double> y = ln.forward(x, {});
    const Matrix<double> ref =
        reference_layer_norm(shifted, 1e-5, Matrix<double>(), Matrix<double>());
    const double err = (y - ref).cwiseAbs().maxCoeff();
    BOOST_TEST_MESSAGE("offset " << offset << ": max |y − ref| = " << err);
    BOOST_TEST(err < 1e-13);
    // The gradient is shift invariant too.
    const Matrix<double> G = random_matrix(rows, dim, rng);
    const Matrix<double> dx = ln.backward(x, G);
    LayerNorm<double> ln_shifted({.dim = dim});
    ln_shifted.forward(shifted, {});
    const Matrix<double>& dx_ref = ln_shifted.backward(shifted, G);
    BOOST_TEST(relative_error(dx, dx_ref) < 1e-13);
  }
}

BOOST_AUTO_TEST_CASE(matches_pytorch_golden_files) {
  for (const char* name : {"norms_layer_norm_bias.txt", "norms_layer_norm_no_bias.txt"}) {
    const moerb::test::GoldenFile g(name);
    const bool bias = g.has_tensor("bias");
    const auto dim = static_cast<Index>(g.scalar("dim"));
    auto run = [&]<class S>(S, double tol) {
      LayerNorm<S> ln({.dim = dim, .eps = g.scalar("eps"), .bias = bias});
      ln.weight().value = g.tensor_as<S>("weight");
      if (bias) ln.bias().value = g.tensor_as<S>("bias");
      const Matrix<S> x = g.tensor_as<S>("x");
      const Matrix<S> G = g.tensor_as<S>("G");
      const Matrix<double> y = ln.forward(x, {}).template cast<double>();
      const Matrix<double> dx = ln.backward(x, G).template cast<double>();
      BOOST_TEST(relative_error(y, g.tensor("y")) < tol, name << " y");
      BOOST_TEST(relative_error(dx, g.tensor("grad.x")) < tol, name << " grad.x");
      BOOST_TEST(
          relative_error(ln.weight().grad.template cast<double>(), g.tensor("grad.weight")) < tol,
          name << " grad.weight");
      if (bias) {
        BOOST_TEST(
            relative_error(ln.bias().grad.template cast<double>(), g.tensor("grad.bias")) < tol,
            name << " grad.bias");
      }
    };
    run(double{}, 1e-10);
    run(float{}, 2e-5);
  }
}

BOOST_AUTO_TEST_CASE(results_do_not_depend_on_the_thread_count) {
  // 300 × 128 is above the row loop's parallel threshold.
  Rng rng(7);
  auto ln = make_layer_norm<double>(128, true, true, rng);
  const Matrix<double> x = random_matrix(300, 128, rng, -2.0, 2.0);
  const Matrix<double> G = random_matrix(300, 128, rng);
  const int threads = Eigen::nbThreads();
  Eigen::setNbThreads(1);
  const Matrix<double> y1 = ln.forward(x, {});
  const Matrix<double> dx1 = ln.backward(x, G);
  const Matrix<double> gw1 = ln.weight().grad;
  moerb::zero_grad(ln);
  Eigen::setNbThreads(2);
  const Matrix<double> y2 = ln.forward(x, {});
  const Matrix<double> dx2 = ln.backward(x, G);
  Eigen::setNbThreads(threads);
  BOOST_TEST((y1 == y2));
  BOOST_TEST((dx1 == dx2));
  BOOST_TEST((gw1 == ln.weight().grad));
}

BOOST_AUTO_TEST_CASE(copies_are_independent) {
  Rng rng(8);
  auto ln = make_layer_norm<double>(4, true, true, rng);
  LayerNorm<double> copy = ln;
  copy.weight().value.setConstant(7.0);
  BOOST_TEST((ln.weight().value.array() != 7.0).all());
  const Matrix<double> x = random_matrix(3, 4, rng);
  const Matrix<double> y = ln.forward(x, {});
  LayerNorm<double> again = ln;
  BOOST_TEST((again.forward(x, {}) == y));
}

BOOST_AUTO_TEST_CASE(steady_state_forward_and_backward_do_not_allocate) {
  LayerNorm<float> ln({.dim = 32});
  Rng rng(9);
  const Matrix<float> x = random_matrix(20, 32, rng).cast<float>();
  ln.forward(x, {});
  ln.backward(x, x);
  Eigen::internal::set_is_malloc_allowed(false);
  bool threw = false;
  try {
    ln.forward(x, {});
    ln.backward(x, x);
  } catch (const std::exception& e) {
    threw = true;
    BOOST_TEST_MESSAGE(e.what());
  }
  Eigen::internal::set_is_malloc_allowed(true);
  BOOST_TEST(!threw);
}

BOOST_AUTO_TEST_CASE(bad_inputs_throw) {
  using moerb::error;
  BOOST_CHECK_EXCEPTION(LayerNorm<double>({.dim = 0}), error,
                        message_has({"LayerNorm", "Options::dim = 0", "expected > 0"}));
  BOOST_CHECK_EXCEPTION(
      LayerNorm<double>({.dim = 4, .eps = 0.0}), error,
      message_has({"LayerNorm", "Options::eps = 0", "expected a finite value > 0"}));
  BOOST_CHECK_EXCEPTION(
      LayerNorm<double>({.dim = 4, .eps = std::numeric_limits<double>::quiet_NaN()}), error,
      message_has({"LayerNorm", "Options::eps = nan"}));
  LayerNorm<double> ln({.dim = 4});
  Matrix<double> x = Matrix<double>::Ones(3, 4);
  BOOST_CHECK_EXCEPTION(ln.backward(x, x), error,
                        message_has({"LayerNorm::backward", "called before forward"}));
  const Matrix<double> wrong = Matrix<double>::Ones(3, 5);
  BOOST_CHECK_EXCEPTION(ln.forward(wrong, {}), error,
                        message_has({"LayerNorm::forward", "x has 5 columns", "expected 4"}));
  x(1, 2) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(ln.forward(x, {}), error,
                        message_has({"LayerNorm::forward", "x(1, 2) is nan"}));
  // A failed forward leaves nothing for backward to use.
  BOOST_CHECK_EXCEPTION(ln.backward(x, x), error, message_has({"called before forward"}));
  x(1, 2) = std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION(ln.forward(x, {}), error, message_has({"x(1, 2) is inf"}));
  x(1, 2) = 0.0;
  ln.forward(x, {});
  BOOST_CHECK_EXCEPTION(ln.backward(x, wrong), error,
                        message_has({"LayerNorm::backward", "dy has shape 3×5", "expected 3×4"}));
  const Matrix<double> x2 = Matrix<double>::Ones(2, 4);
  BOOST_CHECK_EXCEPTION(ln.backward(x2, x2), error,
                        message_has({"LayerNorm::backward", "x has shape 2×4", "expected 3×4"}));
  Matrix<double> dy = Matrix<double>::Ones(3, 4);
  dy(2, 3) = -std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION(ln.backward(x, dy), error,
                        message_has({"LayerNorm::backward", "dy(2, 3) is -inf"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_nn_layer_norm
