// Tests for include/moerb/nn/rotary.hpp
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

#include "moerb/nn/rotary.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_nn_rotary {

using moerb::Index;
using moerb::Rng;
using moerb::RotaryEmbedding;
using moerb::SequenceBatch;
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

BOOST_AUTO_TEST_SUITE(rotary)

BOOST_AUTO_TEST_CASE(rotation_follows_the_rotate_half_formula) {
  const Index hd = 6, heads = 2;
  const double base = 100.0;
  RotaryEmbedding<double> rope({.head_dim = hd, .base = base});
  Rng rng(1);
  const auto batch = SequenceBatch::from_lengths({4, 3});
  const Matrix<double> x = random_matrix(7, heads * hd, rng);
  Matrix<double> y = x;
  rope.rotate(y, batch, heads);
  for (Index r = 0; r < 7; ++r) {
    const Index pos = r < 4 ? r : r - 4;  // the position restarts with every sequence
    for (Index h = 0; h < heads; ++h) {
      for (Index i = 0; i < hd / 2; ++i) {
        const double theta = static_cast<double>(pos) * std::pow(base, -2.0 * i / hd);
        const double a = x(r, h * hd + i);
        const double b = x(r, h * hd + i + hd / 2);
        BOOST_TEST(std::abs(y(r, h * hd + i) - (a * std::cos(theta) - b * std::sin(theta))) <
                   1e-15);
        BOOST_TEST(std::abs(y(r, h * hd + i + hd / 2) -
                            (b * std::cos(theta) + a * std::sin(theta))) < 1e-15);
      }
    }
  }
  // Position 0 is the identity.
  BOOST_TEST((y.row(0) == x.row(0)));
  BOOST_TEST((y.row(4) == x.row(4)));
}

// rotate_at (incremental decoding) rotates rows as the positions they hold in a sequence.
BOOST_AUTO_TEST_CASE(rotate_at_matches_positions_in_a_sequence) {
  const Index hd = 4, heads = 3;
  RotaryEmbedding<double> rope({.head_dim = hd});
  Rng rng(5);
  const Matrix<double> x = random_matrix(7, heads * hd, rng);
  Matrix<double> whole = x;
  rope.rotate(whole, SequenceBatch::single(7), heads);
  Matrix<double> tail = x.bottomRows(3);
  rope.rotate_at(tail, 4, heads);
  BOOST_TEST((tail - whole.bottomRows(3)).cwiseAbs().maxCoeff() == 0.0);
  // Positions beyond the tables so far grow them.
  Matrix<double> far = x.topRows(1);
  rope.rotate_at(far, 100, heads);
  BOOST_TEST(rope.table_length() >= 101);
  BOOST_CHECK_EXCEPTION(rope.rotate_at(far, -1, heads), moerb::error,
                        message_has({"rotate_at", "first_position"}));
}

BOOST_AUTO_TEST_CASE(rotation_preserves_norms) {
  const Index hd = 8, heads = 3;
  RotaryEmbedding<double> rope({.head_dim = hd});
  Rng rng(2);
  const auto batch = SequenceBatch::from_lengths({5, 1, 40});
  const Matrix<double> x = random_matrix(46, heads * hd, rng);
  Matrix<double> y = x;
  rope.rotate(y, batch, heads);
  for (Index r = 0; r < 46; ++r) {
    for (Index h = 0; h < heads; ++h) {
      const double nx = x.row(r).segment(h * hd, hd).norm();
      const double ny = y.row(r).segment(h * hd, hd).norm();
      BOOST_TEST(std::abs(nx - ny) < 1e-14 * (1 + nx));
    }
  }
}

BOOST_AUTO_TEST_CASE(dot_products_depend_only_on_the_position_difference) {
  // ⟨R(m)q, R(n)k⟩ = ⟨q, R(n − m)k⟩: place q at every position and k at every position of one
  // sequence, and compare dot products of pairs with equal offsets.
  const Index hd = 8, length = 24;
  RotaryEmbedding<double> rope({.head_dim = hd});
  Rng rng(3);
  const Matrix<double> q = random_matrix(1, hd, rng);
  const Matrix<double> k = random_matrix(1, hd, rng);
  Matrix<double> qs = q.replicate(length, 1);
  Matrix<double> ks = k.replicate(length, 1);
  const auto batch = SequenceBatch::single(length);
  rope.rotate(qs, batch, 1);
  rope.rotate(ks, batch, 1);
  const Matrix<double> dots = qs * ks.transpose();  // dots(m, n) = ⟨R(m)q, R(n)k⟩
  for (Index offset = -5; offset <= 5; ++offset) {
    const Index m0 = offset < 0 ? -offset : 0;
    const double ref = dots(m0, m0 + offset);
    for (Index m = m0; m + offset < length && m < length; ++m) {
      BOOST_TEST(std::abs(dots(m, m + offset) - ref) < 1e-12,
                 "offset " << offset << " at m = " << m);
    }
  }
  // The encoding is not trivial: different offsets give different dot products.
  BOOST_TEST(std::abs(dots(0, 0) - dots(0, 3)) > 1e-3);
}

BOOST_AUTO_TEST_CASE(backward_is_the_transpose_and_matches_finite_differences) {
  const Index hd = 4, heads = 2;
  RotaryEmbedding<double> rope({.head_dim = hd, .base = 50.0});
  Rng rng(4);
  const auto batch = SequenceBatch::from_lengths({3, 1, 5});
  Matrix<double> x = random_matrix(9, heads * hd, rng);
  const Matrix<double> G = random_matrix(9, heads * hd, rng);
  auto loss = [&] {
    Matrix<double> y = x;
    rope.rotate(y, batch, heads);
    return (y.array() * G.array()).sum();
  };
  Matrix<double> dx = G;
  rope.rotate_backward(dx, batch, heads);
  const Matrix<double> num = moerb::test::numeric_gradient(x, loss);
  BOOST_TEST(moerb::test::relative_error(num, dx) < 1e-9);
  // The inverse undoes the rotation.
  Matrix<double> y = x;
  rope.rotate(y, batch, heads);
  rope.rotate_backward(y, batch, heads);
  BOOST_TEST((y - x).cwiseAbs().maxCoeff() < 1e-15);
}

BOOST_AUTO_TEST_CASE(float_matches_double_and_blocks_can_be_rotated) {
  const Index hd = 16, heads = 2;
  RotaryEmbedding<double> rope_d({.head_dim = hd});
  RotaryEmbedding<float> rope_f({.head_dim = hd});
  Rng rng(5);
  const auto batch = SequenceBatch::from_lengths({300, 7});
  Matrix<double> xd = random_matrix(307, 3 * heads * hd, rng);
  Matrix<float> xf = xd.cast<float>();
  // Rotating a column block (q and k inside a fused qkv matrix) leaves the rest untouched.
  const Matrix<double> before = xd;
  rope_d.rotate(xd.leftCols(2 * heads * hd), batch, 2 * heads);
  rope_f.rotate(xf.leftCols(2 * heads * hd), batch, 2 * heads);
  BOOST_TEST((xd.rightCols(heads * hd) == before.rightCols(heads * hd)));
  BOOST_TEST((xd.cast<float>() - xf).cwiseAbs().maxCoeff() < 1e-5f);
}

BOOST_AUTO_TEST_CASE(tables_grow_only_when_needed) {
  RotaryEmbedding<float> rope({.head_dim = 8});
  BOOST_TEST(rope.table_length() == 0);
  rope.reserve(10);
  BOOST_TEST(rope.table_length() == 10);
  rope.reserve(12);  // grows by at least 1.5×
  BOOST_TEST(rope.table_length() == 15);
  Matrix<float> x = Matrix<float>::Ones(15, 16);
  const auto batch = SequenceBatch::from_lengths({5, 10});
  RotaryEmbedding<float> copy = rope;  // copyable with its tables
  Eigen::internal::set_is_malloc_allowed(false);
  bool threw = false;
  try {
    rope.rotate(x, batch, 2);
    rope.rotate_backward(x, batch, 2);
  } catch (const std::exception& e) {
    threw = true;
    BOOST_TEST_MESSAGE(e.what());
  }
  Eigen::internal::set_is_malloc_allowed(true);
  BOOST_TEST(!threw);
  BOOST_TEST((x - Matrix<float>::Ones(15, 16)).cwiseAbs().maxCoeff() < 1e-6f);
  BOOST_TEST(copy.table_length() == 15);
}

BOOST_AUTO_TEST_CASE(bad_inputs_throw) {
  using moerb::error;
  BOOST_CHECK_EXCEPTION(RotaryEmbedding<double>({.head_dim = 5}), error,
                        message_has({"RotaryEmbedding", "head_dim = 5", "even"}));
  BOOST_CHECK_EXCEPTION(RotaryEmbedding<double>({.head_dim = 0}), error,
                        message_has({"RotaryEmbedding", "head_dim = 0", "> 0"}));
  BOOST_CHECK_EXCEPTION(RotaryEmbedding<double>({.head_dim = 4, .base = -1.0}), error,
                        message_has({"RotaryEmbedding", "base = -1"}));
  BOOST_CHECK_EXCEPTION(
      RotaryEmbedding<double>({.head_dim = 4, .base = std::numeric_limits<double>::infinity()}),
      error, message_has({"RotaryEmbedding", "base = inf"}));
  RotaryEmbedding<double> rope({.head_dim = 4});
  Matrix<double> x = Matrix<double>::Ones(5, 8);
  BOOST_CHECK_EXCEPTION(rope.rotate(x, SequenceBatch::single(5), 3), error,
                        message_has({"RotaryEmbedding::rotate", "x has 8 columns", "expected 12"}));
  BOOST_CHECK_EXCEPTION(rope.rotate(x, SequenceBatch::single(5), 0), error,
                        message_has({"RotaryEmbedding::rotate", "num_heads = 0"}));
  BOOST_CHECK_EXCEPTION(
      rope.rotate(x, SequenceBatch::from_lengths({2, 2}), 2), error,
      message_has({"RotaryEmbedding::rotate", "5 rows", "covers 4 tokens in 2 sequences"}));
  x(3, 1) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(rope.rotate_backward(x, SequenceBatch::single(5), 2), error,
                        message_has({"RotaryEmbedding::rotate_backward", "dx(3, 1) is nan"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_nn_rotary
