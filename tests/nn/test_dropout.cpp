// Tests for include/moerb/nn/dropout.hpp
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

#include "moerb/nn/dropout.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_nn_dropout {

using moerb::Dropout;
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

ForwardContext training(std::uint64_t seed) {
  return {.training = true, .rng = Rng(seed)};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dropout)

BOOST_AUTO_TEST_CASE(evaluation_and_rate_zero_are_the_identity) {
  Rng rng(1);
  const Matrix<double> x = random_matrix(6, 5, rng);
  const Matrix<double> dy = random_matrix(6, 5, rng);
  Dropout<double> eval_layer({.rate = 0.5});
  BOOST_TEST((eval_layer.forward(x, {.training = false, .rng = Rng(3)}) == x));
  BOOST_TEST(!eval_layer.active());
  BOOST_TEST((eval_layer.backward(x, dy) == dy));
  Dropout<double> zero({.rate = 0.0});
  BOOST_TEST((zero.forward(x, training(3)) == x));
  BOOST_TEST(!zero.active());
  BOOST_TEST(zero.mask().size() == 0);  // no mask drawn
  BOOST_TEST((zero.backward(x, dy) == dy));
}

BOOST_AUTO_TEST_CASE(keep_fraction_and_scaling) {
  const Index rows = 400, cols = 250;  // 1e5 entries
  const Matrix<double> ones = Matrix<double>::Ones(rows, cols);
  for (const double rate : {0.1, 0.3, 0.75}) {
    Dropout<double> layer({.rate = rate});
    const Matrix<double>& y = layer.forward(ones, training(11));
    BOOST_TEST(layer.active());
    const double keep_scale = 1.0 / (1.0 - rate);
    // Every entry is 0 or exactly 1 / (1 − rate).
    BOOST_TEST(((y.array() == 0.0) || (y.array() == keep_scale)).all());
    const double kept = static_cast<double>((y.array() != 0.0).count()) / (rows * cols);
    // Binomial standard deviation sqrt(p (1 − p) / n) <= 0.0016: allow ~6σ.
    BOOST_TEST(std::abs(kept - (1.0 - rate)) < 0.01, "rate " << rate << " kept " << kept);
    // Inverted dropout keeps the expectation: mean(y) ≈ 1.
    BOOST_TEST(std::abs(y.mean() - 1.0) < 0.01 * keep_scale);
    BOOST_TEST((layer.mask() == y));  // with x = 1 the output is the mask
  }
  // float: the same mask, scaled in float.
  Dropout<float> f({.rate = 0.3});
  Dropout<double> d({.rate = 0.3});
  const Matrix<float>& yf = f.forward(ones.cast<float>(), training(11));
  const Matrix<double>& yd = d.forward(ones, training(11));
  BOOST_TEST(((yf.array() == 0.0f) == (yd.array() == 0.0)).all());
  BOOST_TEST(yf.maxCoeff() == static_cast<float>(1.0 / 0.7));
}

BOOST_AUTO_TEST_CASE(same_seed_same_mask) {
  Rng rng(2);
  const Matrix<double> x = random_matrix(30, 20, rng);
  Dropout<double> a({.rate = 0.4}), b({.rate = 0.4});
  const Matrix<double> ya = a.forward(x, training(5));
  BOOST_TEST((b.forward(x, training(5)) == ya));
  BOOST_TEST((a.forward(x, training(5)) == ya));  // the context's rng is not advanced
  BOOST_TEST((a.forward(x, training(6)) != ya));
  // Callers give each layer its own stream by splitting.
  const ForwardContext ctx = training(5);
  BOOST_TEST((a.forward(x, ctx.with_rng(ctx.rng.split(1))) != ya));
  // Row r's mask depends only on the stream and r: a longer batch repeats the shorter one's rows.
  const Matrix<double> ya_copy = ya;
  Matrix<double> longer(40, 20);
  longer.topRows(30) = x;
  longer.bottomRows(10) = random_matrix(10, 20, rng);
  BOOST_TEST((a.forward(longer, training(5)).topRows(30) == ya_copy));
}

BOOST_AUTO_TEST_CASE(backward_uses_the_forward_mask) {
  Rng rng(3);
  Matrix<double> x = random_matrix(12, 9, rng);
  const Matrix<double> G = random_matrix(12, 9, rng);
  Dropout<double> layer({.rate = 0.35});
  const ForwardContext ctx = training(8);
  const Matrix<double> y = layer.forward(x, ctx);
  const Matrix<double>& dx = layer.backward(x, G);
  BOOST_TEST((dx.array() == G.array() * layer.mask().array()).all());
  BOOST_TEST(((y.array() == 0.0) == (dx.array() == 0.0)).all());
  // Dropout is linear in x for a fixed mask: finite differences agree.
  auto loss = [&] { return (layer.forward(x, ctx).array() * G.array()).sum(); };
  auto backward = [&](Matrix<double>& d) {
    layer.forward(x, ctx);
    d = layer.backward(x, G);
  };
  const auto results = moerb::test::check_gradients(layer, x, loss, backward);
  BOOST_TEST(results.size() == 1u);
  BOOST_TEST(moerb::parameter_count(layer) == 0);
}

BOOST_AUTO_TEST_CASE(free_function_matches_the_layer) {
  Rng rng(4);
  const Matrix<double> x = random_matrix(10, 7, rng);
  Dropout<double> layer({.rate = 0.25});
  const ForwardContext ctx = training(9);
  const Matrix<double>& y = layer.forward(x, ctx);
  Matrix<double> z = x, mask;
  BOOST_TEST(moerb::dropout_inplace(z, 0.25, ctx.rng, mask));
  BOOST_TEST((z == y));
  BOOST_TEST((mask == layer.mask()));
  // rate 0: nothing touched, nothing drawn.
  Matrix<double> untouched = x, mask0 = Matrix<double>::Constant(2, 2, 5.0);
  BOOST_TEST(!moerb::dropout_inplace(untouched, 0.0, ctx.rng, mask0));
  BOOST_TEST((untouched == x));
  BOOST_TEST((mask0.array() == 5.0).all());
  BOOST_CHECK_EXCEPTION(moerb::dropout_inplace(z, 1.0, ctx.rng, mask), moerb::error,
                        message_has({"dropout_inplace", "rate = 1", "expected in [0, 1)"}));
}

BOOST_AUTO_TEST_CASE(set_rate_changes_the_next_forward) {
  Rng rng(5);
  const Matrix<double> x = random_matrix(8, 8, rng);
  Dropout<double> layer({.rate = 0.0});
  BOOST_TEST((layer.forward(x, training(1)) == x));
  layer.set_rate(0.5);
  BOOST_TEST(layer.rate() == 0.5);
  BOOST_TEST((layer.forward(x, training(1)) != x));
  BOOST_TEST(layer.active());
  BOOST_CHECK_EXCEPTION(layer.set_rate(-0.1), moerb::error,
                        message_has({"Dropout::set_rate", "rate = -0.1", "expected in [0, 1)"}));
  BOOST_TEST(layer.rate() == 0.5);
}

BOOST_AUTO_TEST_CASE(steady_state_forward_and_backward_do_not_allocate) {
  Dropout<float> layer({.rate = 0.2});
  Rng rng(6);
  const Matrix<float> x = random_matrix(20, 16, rng).cast<float>();
  const ForwardContext ctx = training(2);
  layer.forward(x, ctx);
  layer.backward(x, x);
  layer.forward(x, {});
  layer.backward(x, x);
  Eigen::internal::set_is_malloc_allowed(false);
  bool threw = false;
  try {
    layer.forward(x, ctx);
    layer.backward(x, x);
    layer.forward(x, {});
    layer.backward(x, x);
  } catch (const std::exception& e) {
    threw = true;
    BOOST_TEST_MESSAGE(e.what());
  }
  Eigen::internal::set_is_malloc_allowed(true);
  BOOST_TEST(!threw);
}

BOOST_AUTO_TEST_CASE(bad_inputs_throw) {
  using moerb::error;
  BOOST_CHECK_EXCEPTION(Dropout<double>({.rate = 1.0}), error,
                        message_has({"Dropout", "Options::rate = 1", "expected in [0, 1)"}));
  BOOST_CHECK_EXCEPTION(Dropout<double>({.rate = -0.5}), error,
                        message_has({"Dropout", "Options::rate = -0.5"}));
  BOOST_CHECK_EXCEPTION(Dropout<double>({.rate = std::numeric_limits<double>::quiet_NaN()}), error,
                        message_has({"Dropout", "Options::rate = nan"}));
  Dropout<double> layer({.rate = 0.3});
  Matrix<double> x = Matrix<double>::Ones(3, 4);
  BOOST_CHECK_EXCEPTION(layer.backward(x, x), error,
                        message_has({"Dropout::backward", "called before forward"}));
  x(2, 0) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(layer.forward(x, training(1)), error,
                        message_has({"Dropout::forward", "x(2, 0) is nan"}));
  x(2, 0) = 1.0;
  layer.forward(x, training(1));
  const Matrix<double> wrong = Matrix<double>::Ones(3, 5);
  BOOST_CHECK_EXCEPTION(layer.backward(x, wrong), error,
                        message_has({"Dropout::backward", "dy has shape 3×5", "expected 3×4"}));
  BOOST_CHECK_EXCEPTION(layer.backward(wrong, wrong), error,
                        message_has({"Dropout::backward", "x has shape 3×5", "expected 3×4"}));
  Matrix<double> dy = Matrix<double>::Ones(3, 4);
  dy(0, 1) = std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION(layer.backward(x, dy), error,
                        message_has({"Dropout::backward", "dy(0, 1) is inf"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_nn_dropout
