// Tests for include/moerb/nn/pooling.hpp
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "moerb/nn/pooling.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_nn_pooling {

using moerb::Index;
using moerb::Pooling;
using moerb::Rng;
using moerb::SequenceBatch;
using moerb::SequencePooling;
template <class S>
using Matrix = moerb::Matrix<S>;

namespace {

using moerb::test::message_has;

Matrix<double> random_matrix(Index rows, Index cols, Rng& rng) {
  Matrix<double> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = rng.uniform(-1.0, 1.0);
  return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(pooling)

BOOST_AUTO_TEST_CASE(mean_and_first_pool_each_sequence) {
  Rng rng(1);
  const auto batch = SequenceBatch::from_lengths({3, 1, 4});
  const Matrix<double> x = random_matrix(8, 5, rng);
  SequencePooling<double> mean({.pooling = Pooling::mean});
  SequencePooling<double> first({.pooling = Pooling::first});
  const Matrix<double> y_mean = mean.forward(x, batch);
  const Matrix<double> y_first = first.forward(x, batch);
  BOOST_TEST(y_mean.rows() == 3);
  BOOST_TEST(y_mean.cols() == 5);
  const Matrix<double> m0 = (x.row(0) + x.row(1) + x.row(2)) / 3.0;
  const Matrix<double> m2 = (x.row(4) + x.row(5) + x.row(6) + x.row(7)) / 4.0;
  BOOST_TEST((y_mean.row(0) - m0).cwiseAbs().maxCoeff() < 1e-15);
  BOOST_TEST((y_mean.row(1) == x.row(3)));
  BOOST_TEST((y_mean.row(2) - m2).cwiseAbs().maxCoeff() < 1e-15);
  BOOST_TEST((y_first.row(0) == x.row(0)));
  BOOST_TEST((y_first.row(1) == x.row(3)));
  BOOST_TEST((y_first.row(2) == x.row(4)));
  BOOST_TEST((mean.output() == y_mean));
  // Defaults to mean, has no parameters.
  SequencePooling<double> defaulted;
  BOOST_TEST((defaulted.pooling() == Pooling::mean));
  BOOST_TEST(moerb::parameter_count(defaulted) == 0);
  // No sequences: 0 × d.
  BOOST_TEST(mean.forward(Matrix<double>(0, 5), SequenceBatch{}).rows() == 0);
}

BOOST_AUTO_TEST_CASE(backward_spreads_or_routes_the_gradient) {
  Rng rng(2);
  const auto batch = SequenceBatch::from_lengths({2, 3});
  const Matrix<double> x = random_matrix(5, 2, rng);
  const Matrix<double> dy = random_matrix(2, 2, rng);
  SequencePooling<double> mean({.pooling = Pooling::mean});
  mean.forward(x, batch);
  const Matrix<double>& dx = mean.backward(batch, dy);
  BOOST_TEST(dx.rows() == 5);
  for (Index t = 0; t < 2; ++t) BOOST_TEST((dx.row(t) - dy.row(0) / 2.0).isZero(1e-15));
  for (Index t = 2; t < 5; ++t) BOOST_TEST((dx.row(t) - dy.row(1) / 3.0).isZero(1e-15));
  SequencePooling<double> first({.pooling = Pooling::first});
  first.forward(x, batch);
  const Matrix<double> dxf = first.backward(batch, dy);
  BOOST_TEST((dxf.row(0) == dy.row(0)));
  BOOST_TEST((dxf.row(2) == dy.row(1)));
  for (const Index t : {1, 3, 4}) BOOST_TEST(dxf.row(t).isZero(0.0));
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  const auto batch = SequenceBatch::from_lengths({4, 1, 3});
  for (const Pooling p : {Pooling::mean, Pooling::first}) {
    SequencePooling<double> pool({.pooling = p});
    Rng rng(3);
    Matrix<double> x = random_matrix(8, 3, rng);
    const Matrix<double> G = random_matrix(3, 3, rng);
    // L = Σ tanh(pool(x)) ⊙ G.
    auto loss = [&] { return (pool.forward(x, batch).array().tanh() * G.array()).sum(); };
    auto backward = [&](Matrix<double>& dx) {
      const Matrix<double> y = pool.forward(x, batch);
      const Matrix<double> dy = G.array() * (1.0 - y.array().tanh().square());
      dx = pool.backward(batch, dy);
    };
    const auto results = moerb::test::check_gradients(pool, x, loss, backward);
    BOOST_TEST(results.size() == 1u);
  }
}

BOOST_AUTO_TEST_CASE(bad_inputs_throw) {
  using moerb::error;
  BOOST_CHECK_EXCEPTION(SequencePooling<double>({.pooling = static_cast<Pooling>(7)}), error,
                        message_has({"SequencePooling", "Options::pooling = 7"}));
  SequencePooling<double> pool;
  const auto batch = SequenceBatch::from_lengths({2, 3});
  BOOST_CHECK_EXCEPTION(pool.backward(batch, Matrix<double>::Zero(2, 4)), error,
                        message_has({"SequencePooling::backward", "before forward"}));
  BOOST_CHECK_EXCEPTION(pool.forward(Matrix<double>::Zero(6, 4), batch), error,
                        message_has({"SequencePooling::forward", "6 rows", "covers 5 tokens"}));
  Matrix<double> x = Matrix<double>::Zero(5, 4);
  x(1, 3) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(pool.forward(x, batch), error,
                        message_has({"SequencePooling::forward", "x(1, 3) is nan"}));
  x(1, 3) = 0;
  pool.forward(x, batch);
  BOOST_CHECK_EXCEPTION(pool.backward(batch, Matrix<double>::Zero(3, 4)), error,
                        message_has({"SequencePooling::backward", "dy has shape 3×4", "2×4"}));
  BOOST_CHECK_EXCEPTION(pool.backward(batch, Matrix<double>::Zero(2, 3)), error,
                        message_has({"SequencePooling::backward", "dy has shape 2×3"}));
  Matrix<double> dy = Matrix<double>::Zero(2, 4);
  dy(0, 0) = std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION(pool.backward(batch, dy), error,
                        message_has({"SequencePooling::backward", "dy(0, 0) is inf"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_nn_pooling
