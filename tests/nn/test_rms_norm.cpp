// Tests for include/moerb/nn/rms_norm.hpp
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

#include "moerb/nn/rms_norm.hpp"
#include "support/golden.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_nn_rms_norm {

using moerb::ForwardContext;
using moerb::Index;
using moerb::RMSNorm;
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

// y = x / sqrt(mean(x²) + eps) ⊙ w in long double.
Matrix<double> reference_rms_norm(const Matrix<double>& x, double eps, const Matrix<double>& w) {
  Matrix<double> y(x.rows(), x.cols());
  for (Index r = 0; r < x.rows(); ++r) {
    long double ms = 0;
    for (Index c = 0; c < x.cols(); ++c) ms += static_cast<long double>(x(r, c)) * x(r, c);
    ms /= static_cast<long double>(x.cols());
    const long double inv_rms = 1.0L / std::sqrt(ms + eps);
    for (Index c = 0; c < x.cols(); ++c) y(r, c) = static_cast<double>(x(r, c) * inv_rms * w(0, c));
  }
  return y;
}

RMSNorm<double> make_rms_norm(Index dim, Rng& rng, double eps = 1e-6) {
  RMSNorm<double> norm({.dim = dim, .eps = eps});
  for (Index c = 0; c < dim; ++c) norm.weight().value(0, c) = rng.uniform(0.5, 1.5);
  return norm;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(rms_norm)

BOOST_AUTO_TEST_CASE(forward_matches_the_definition) {
  Rng rng(1);
  auto norm = make_rms_norm(7, rng);
  const Matrix<double> x = random_matrix(11, 7, rng, -3.0, 2.0);
  const Matrix<double>& y = norm.forward(x, {});
  BOOST_TEST((y - reference_rms_norm(x, 1e-6, norm.weight().value)).cwiseAbs().maxCoeff() < 1e-14);
  BOOST_TEST((&norm.output() == &y));
  for (Index r = 0; r < x.rows(); ++r) {
    const double expected = 1.0 / std::sqrt(x.row(r).squaredNorm() / 7 + 1e-6);
    BOOST_TEST(std::abs(norm.saved_inverse_rms()[r] - expected) < 1e-14 * expected);
  }
  // Unlike layer norm, RMSNorm does not re-centre: a shifted input gives a different output.
  const Matrix<double> y0 = y;
  const Matrix<double> shifted = (x.array() + 1.0).matrix();
  BOOST_TEST((norm.forward(shifted, {}) - y0).cwiseAbs().maxCoeff() > 0.1);
  // ... but it is scale invariant (up to eps).
  const Matrix<double> scaled = 8.0 * x;
  BOOST_TEST((norm.forward(scaled, {}) - y0).cwiseAbs().maxCoeff() < 1e-5);
}

BOOST_AUTO_TEST_CASE(parameter_name_and_initialisation) {
  RMSNorm<double> norm({.dim = 5});
  BOOST_TEST(norm.options().eps == 1e-6);
  std::vector<std::string> names;
  norm.visit_parameters(
      [&](std::string_view n, moerb::Parameter<double>& p) {
        names.emplace_back(n);
        BOOST_TEST(p.value.rows() == 1);
        BOOST_TEST(p.value.cols() == 5);
      },
      "blocks.2.attn_norm");
  BOOST_TEST(names == (std::vector<std::string>{"blocks.2.attn_norm.weight"}),
             boost::test_tools::per_element());
  BOOST_TEST(moerb::parameter_count(norm) == 5);
  BOOST_TEST((norm.weight().value.array() == 1.0).all());
  norm.weight().value.setConstant(4.0);
  Rng rng(3);
  const Rng before = rng;
  norm.initialize(rng);
  BOOST_TEST((norm.weight().value.array() == 1.0).all());
  BOOST_TEST(rng.next_u64() == Rng(before).next_u64());  // nothing drawn
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  for (const bool frozen : {false, true}) {
    Rng rng(2);
    auto norm = make_rms_norm(6, rng);
    norm.weight().frozen = frozen;
    Matrix<double> x = random_matrix(9, 6, rng, -2.0, 2.0);
    x.row(3).setConstant(0.6);  // constant row
    x.row(5).setZero();         // all-zero row: rms = sqrt(eps)
    x.row(7).array() += 50.0;   // offset row
    const Matrix<double> G = random_matrix(9, 6, rng);
    auto loss = [&] {
      const Matrix<double>& y = norm.forward(x, {});
      return (y.array() * G.array()).sum();
    };
    auto backward = [&](Matrix<double>& dx) {
      norm.forward(x, {});
      dx = norm.backward(x, G);
    };
    const auto results = moerb::test::check_gradients(norm, x, loss, backward);
    BOOST_TEST(results.size() == (frozen ? 1u : 2u));
    for (const auto& r : results)
      BOOST_TEST_MESSAGE("frozen " << frozen << " " << r.name << " " << r.rel_error);
  }
}

BOOST_AUTO_TEST_CASE(frozen_weight_keeps_zero_grad_and_dx_is_unchanged) {
  Rng rng(3);
  auto norm = make_rms_norm(5, rng);
  const Matrix<double> x = random_matrix(8, 5, rng);
  const Matrix<double> G = random_matrix(8, 5, rng);
  norm.forward(x, {});
  const Matrix<double> dx_free = norm.backward(x, G);
  const Matrix<double> gw = norm.weight().grad;
  // Accumulates: a second backward doubles the gradient; ∂L/∂w = Σ_tokens G ⊙ x / rms(x).
  norm.backward(x, G);
  BOOST_TEST((norm.weight().grad - 2 * gw).cwiseAbs().maxCoeff() < 1e-14);
  const Matrix<double> x_over_rms = reference_rms_norm(x, 1e-6, Matrix<double>::Ones(1, 5));
  BOOST_TEST(
      (gw - (G.array() * x_over_rms.array()).matrix().colwise().sum()).cwiseAbs().maxCoeff() <
      1e-13);

  moerb::zero_grad(norm);
  BOOST_TEST(moerb::set_frozen(norm, "weight") == 1);
  norm.forward(x, {});
  BOOST_TEST((norm.backward(x, G) == dx_free));
  BOOST_TEST(norm.weight().grad.cwiseAbs().maxCoeff() == 0.0);
}

BOOST_AUTO_TEST_CASE(zero_and_constant_rows_stay_finite) {
  for (const double eps : {1e-6, 1e-30}) {
    RMSNorm<double> norm({.dim = 8, .eps = eps});
    norm.weight().value.setConstant(2.0);
    Matrix<double> x(3, 8);
    x.row(0).setZero();
    x.row(1).setConstant(-3.0);
    x.row(2).setConstant(1e-200);  // x² underflows to 0: eps keeps the result finite
    const Matrix<double>& y = norm.forward(x, {});
    BOOST_TEST(y.allFinite());
    BOOST_TEST((y.row(0).array() == 0.0).all());
    BOOST_TEST((y.row(1).array() + 2.0).abs().maxCoeff() < 1e-6);
    BOOST_TEST(norm.saved_inverse_rms()[0] == 1.0 / std::sqrt(eps));
    // At x = 0 the Jacobian is diag(w) / sqrt(eps).
    Rng rng(4);
    const Matrix<double> G = random_matrix(3, 8, rng);
    const Matrix<double>& dx = norm.backward(x, G);
    BOOST_TEST(dx.allFinite());
    BOOST_TEST((dx.row(0) - 2.0 * G.row(0) / std::sqrt(eps)).cwiseAbs().maxCoeff() <=
               1e-14 / std::sqrt(eps));
  }
}

BOOST_AUTO_TEST_CASE(large_offsets_stay_accurate_in_double) {
  // mean(x²) has no cancellation, so a row on an offset of 1e6 is as accurate as any other.
  Rng rng(5);
  auto norm = make_rms_norm(64, rng);
  const Matrix<double> x = (random_matrix(16, 64, rng, -1.0, 1.0).array() + 1e6).matrix();
  const Matrix<double>& y = norm.forward(x, {});
  const double err = (y - reference_rms_norm(x, 1e-6, norm.weight().value)).cwiseAbs().maxCoeff();
  BOOST_TEST_MESSAGE("offset 1e6: max |y − ref| = " << err);
  BOOST_TEST(err < 1e-13);
}

BOOST_AUTO_TEST_CASE(matches_pytorch_golden_file) {
  const moerb::test::GoldenFile g("norms_rms_norm.txt");
  const auto dim = static_cast<Index>(g.scalar("dim"));
  auto run = [&]<class S>(S, double tol) {
    RMSNorm<S> norm({.dim = dim, .eps = g.scalar("eps")});
    norm.weight().value = g.tensor_as<S>("weight");
    const Matrix<S> x = g.tensor_as<S>("x");
    const Matrix<S> G = g.tensor_as<S>("G");
    const Matrix<double> y = norm.forward(x, {}).template cast<double>();
    const Matrix<double> dx = norm.backward(x, G).template cast<double>();
    const Matrix<double> gw = norm.weight().grad.template cast<double>();
    BOOST_TEST(relative_error(y, g.tensor("y")) < tol);
    BOOST_TEST(relative_error(dx, g.tensor("grad.x")) < tol);
    BOOST_TEST(relative_error(gw, g.tensor("grad.weight")) < tol);
  };
  run(double{}, 1e-10);
  run(float{}, 2e-5);
}

BOOST_AUTO_TEST_CASE(results_do_not_depend_on_the_thread_count) {
  Rng rng(6);
  auto norm = make_rms_norm(128, rng);
  const Matrix<double> x = random_matrix(300, 128, rng, -2.0, 2.0);
  const Matrix<double> G = random_matrix(300, 128, rng);
  const int threads = Eigen::nbThreads();
  Eigen::setNbThreads(1);
  const Matrix<double> y1 = norm.forward(x, {});
  const Matrix<double> dx1 = norm.backward(x, G);
  const Matrix<double> gw1 = norm.weight().grad;
  moerb::zero_grad(norm);
  Eigen::setNbThreads(2);
  const Matrix<double> y2 = norm.forward(x, {});
  const Matrix<double> dx2 = norm.backward(x, G);
  Eigen::setNbThreads(threads);
  BOOST_TEST((y1 == y2));
  BOOST_TEST((dx1 == dx2));
  BOOST_TEST((gw1 == norm.weight().grad));
}

BOOST_AUTO_TEST_CASE(steady_state_forward_and_backward_do_not_allocate) {
  RMSNorm<float> norm({.dim = 32});
  Rng rng(7);
  const Matrix<float> x = random_matrix(20, 32, rng).cast<float>();
  norm.forward(x, {});
  norm.backward(x, x);
  RMSNorm<float> copy = norm;  // copies keep working buffers of their own
  Eigen::internal::set_is_malloc_allowed(false);
  bool threw = false;
  try {
    norm.forward(x, {});
    norm.backward(x, x);
    copy.forward(x, {});
  } catch (const std::exception& e) {
    threw = true;
    BOOST_TEST_MESSAGE(e.what());
  }
  Eigen::internal::set_is_malloc_allowed(true);
  BOOST_TEST(!threw);
  BOOST_TEST((copy.output() == norm.output()));
}

BOOST_AUTO_TEST_CASE(bad_inputs_throw) {
  using moerb::error;
  BOOST_CHECK_EXCEPTION(RMSNorm<double>({.dim = -2}), error,
                        message_has({"RMSNorm", "Options::dim = -2", "expected > 0"}));
  BOOST_CHECK_EXCEPTION(RMSNorm<double>({.dim = 4, .eps = -1e-6}), error,
                        message_has({"RMSNorm", "Options::eps = -1e-06", "expected a finite"}));
  BOOST_CHECK_EXCEPTION(RMSNorm<double>({.dim = 4, .eps = std::numeric_limits<double>::infinity()}),
                        error, message_has({"RMSNorm", "Options::eps = inf"}));
  RMSNorm<double> norm({.dim = 4});
  Matrix<double> x = Matrix<double>::Ones(3, 4);
  BOOST_CHECK_EXCEPTION(norm.backward(x, x), error,
                        message_has({"RMSNorm::backward", "called before forward"}));
  const Matrix<double> wrong = Matrix<double>::Ones(3, 6);
  BOOST_CHECK_EXCEPTION(norm.forward(wrong, {}), error,
                        message_has({"RMSNorm::forward", "x has 6 columns", "expected 4"}));
  x(0, 3) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(norm.forward(x, {}), error,
                        message_has({"RMSNorm::forward", "x(0, 3) is nan"}));
  x(0, 3) = 1.0;
  norm.forward(x, {});
  BOOST_CHECK_EXCEPTION(norm.backward(x, wrong), error,
                        message_has({"RMSNorm::backward", "dy has shape 3×6", "expected 3×4"}));
  const Matrix<double> x5 = Matrix<double>::Ones(5, 4);
  BOOST_CHECK_EXCEPTION(norm.backward(x5, x5), error,
                        message_has({"RMSNorm::backward", "x has shape 5×4", "expected 3×4"}));
  Matrix<double> dy = Matrix<double>::Ones(3, 4);
  dy(1, 1) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(norm.backward(x, dy), error,
                        message_has({"RMSNorm::backward", "dy(1, 1) is nan"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_nn_rms_norm
