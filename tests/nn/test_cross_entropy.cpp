// Tests for include/moerb/nn/cross_entropy.hpp
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "moerb/nn/cross_entropy.hpp"
#include "support/golden.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_nn_cross_entropy {

using moerb::Index;
using moerb::Rng;
using moerb::softmax_cross_entropy;
template <class S>
using Matrix = moerb::Matrix<S>;
using Ids = std::vector<std::int32_t>;

namespace {

using moerb::test::message_has;

Matrix<double> random_matrix(Index rows, Index cols, Rng& rng, double scale = 1.0) {
  Matrix<double> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = scale * rng.uniform(-1.0, 1.0);
  return m;
}

// The textbook formulas, written out directly: −log(exp(z_t) / Σ exp(z)) and its gradient.
double naive_loss(const Matrix<double>& z, const Ids& targets, Matrix<double>& grad) {
  grad = Matrix<double>::Zero(z.rows(), z.cols());
  double total = 0;
  int counted = 0;
  for (Index r = 0; r < z.rows(); ++r) {
    const int t = targets[static_cast<std::size_t>(r)];
    if (t == -100) continue;
    const double sum = z.row(r).array().exp().sum();
    total += -std::log(std::exp(z(r, t)) / sum);
    grad.row(r) = z.row(r).array().exp() / sum;
    grad(r, t) -= 1.0;
    ++counted;
  }
  grad /= counted;
  return total / counted;
}

template <class S>
void check_golden() {
  const double tol = std::is_same_v<S, double> ? 1e-10 : 2e-5;
  const moerb::test::GoldenFile g("blocks_lm_head_ce.txt");
  const Matrix<S> logits = g.tensor_as<S>("logits");
  Ids targets;
  for (Index i = 0; i < g.tensor("targets").rows(); ++i) {
    targets.push_back(static_cast<std::int32_t>(g.tensor("targets")(i, 0)));
  }
  BOOST_TEST_REQUIRE(targets[2] == -100);  // the case has an ignored row
  Matrix<S> d_logits;
  const S loss = softmax_cross_entropy(logits, targets, d_logits);
  BOOST_TEST(std::abs(static_cast<double>(loss) - g.scalar("loss")) < tol * g.scalar("loss"));
  BOOST_TEST(moerb::test::relative_error(d_logits.template cast<double>(), g.tensor("d_logits")) <
             tol);
  BOOST_TEST(d_logits.row(2).isZero(0));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cross_entropy)

BOOST_AUTO_TEST_CASE(matches_the_textbook_formula_and_ignores_rows) {
  Rng rng(1);
  const Matrix<double> z = random_matrix(6, 5, rng, 3.0);
  const Ids targets{0, 4, -100, 2, 2, -100};
  Matrix<double> d_logits, expected_grad;
  const double loss = softmax_cross_entropy(z, targets, d_logits);
  const double expected = naive_loss(z, targets, expected_grad);
  BOOST_TEST(std::abs(loss - expected) < 1e-14);
  BOOST_TEST((d_logits - expected_grad).cwiseAbs().maxCoeff() < 1e-15);
  BOOST_TEST(d_logits.row(2).isZero(0.0));
  BOOST_TEST(d_logits.row(5).isZero(0.0));
  // Every counted row's gradient sums to zero (softmax sums to one).
  BOOST_TEST(std::abs(d_logits.sum()) < 1e-15);
  // Another ignore_index: -100 is now out of range, -1 is ignored.
  const Ids other{0, 4, -1, 2, 2, -1};
  BOOST_TEST(std::abs(softmax_cross_entropy(z, other, d_logits, -1) - expected) < 1e-14);
}

BOOST_AUTO_TEST_CASE(gradient_matches_finite_differences) {
  Rng rng(2);
  Matrix<double> z = random_matrix(7, 6, rng, 2.0);
  const Ids targets{5, 0, 3, -100, 3, 1, 2};
  Matrix<double> d_logits, scratch;
  auto loss = [&] { return softmax_cross_entropy(z, targets, scratch); };
  const Matrix<double> numeric = moerb::test::numeric_gradient(z, loss);
  softmax_cross_entropy(z, targets, d_logits);
  BOOST_TEST(moerb::test::relative_error(numeric, d_logits) < 1e-6);
}

BOOST_AUTO_TEST_CASE(all_ignored_gives_zero_loss_and_gradient) {
  const Matrix<double> z = Matrix<double>::Constant(3, 4, 2.5);
  Matrix<double> d_logits = Matrix<double>::Constant(3, 4, 7.0);
  BOOST_TEST(softmax_cross_entropy(z, Ids{-100, -100, -100}, d_logits) == 0.0);
  BOOST_TEST(d_logits.isZero(0.0));
  BOOST_TEST(d_logits.rows() == 3);
  Matrix<float> empty_grad;
  BOOST_TEST(softmax_cross_entropy(Matrix<float>(0, 4), Ids{}, empty_grad) == 0.0f);
  BOOST_TEST(empty_grad.rows() == 0);
}

BOOST_AUTO_TEST_CASE(stable_for_huge_logits) {
  // exp(±1e4) overflows float and double; the log-sum-exp form does not.
  Matrix<double> z(3, 3);
  z << 1e4, 0, -1e4,  //
      1e4, 0, -1e4,   //
      -1e4, -1e4, -1e4;
  const Ids targets{0, 1, 2};
  Matrix<double> d_logits;
  const double loss = softmax_cross_entropy(z, targets, d_logits);
  // Rows: ≈0, ≈1e4, log 3.
  BOOST_TEST(std::abs(loss - (1e4 + std::log(3.0)) / 3.0) < 1e-9);
  BOOST_TEST(d_logits.allFinite());
  BOOST_TEST(std::abs(d_logits(1, 0) - 1.0 / 3.0) < 1e-15);
  BOOST_TEST(std::abs(d_logits(1, 1) + 1.0 / 3.0) < 1e-15);
  Matrix<float> zf = z.cast<float>();
  Matrix<float> df;
  const float lf = softmax_cross_entropy(zf, targets, df);
  BOOST_TEST(std::isfinite(lf));
  BOOST_TEST(std::abs(lf - static_cast<float>(loss)) < 1e-3f);
  BOOST_TEST(df.allFinite());
}

BOOST_AUTO_TEST_CASE(float_matches_double) {
  Rng rng(3);
  const Matrix<double> z = random_matrix(40, 33, rng, 4.0);  // odd width: SIMD tails
  Ids targets;
  for (Index r = 0; r < 40; ++r) targets.push_back(static_cast<std::int32_t>((r * 7) % 33));
  Matrix<double> d64;
  Matrix<float> d32;
  const double l64 = softmax_cross_entropy(z, targets, d64);
  const float l32 = softmax_cross_entropy(Matrix<float>(z.cast<float>()), targets, d32);
  BOOST_TEST(std::abs(static_cast<double>(l32) - l64) < 2e-5 * l64);
  BOOST_TEST(moerb::test::relative_error(d32.cast<double>(), d64) < 2e-5);
}

BOOST_AUTO_TEST_CASE(d_logits_may_be_the_logits) {
  Rng rng(4);
  Matrix<double> z = random_matrix(5, 7, rng, 3.0);
  const Ids targets{6, -100, 0, 3, 3};
  Matrix<double> separate;
  const double loss = softmax_cross_entropy(z, targets, separate);
  const double in_place = softmax_cross_entropy(z, targets, z);
  BOOST_TEST(loss == in_place);
  BOOST_TEST((z == separate));
}

BOOST_AUTO_TEST_CASE(matches_pytorch_golden_double) {
  check_golden<double>();
}
BOOST_AUTO_TEST_CASE(matches_pytorch_golden_float) {
  check_golden<float>();
}

BOOST_AUTO_TEST_CASE(bad_inputs_throw) {
  using moerb::error;
  Matrix<double> z = Matrix<double>::Zero(3, 4);
  Matrix<double> d;
  BOOST_CHECK_EXCEPTION(softmax_cross_entropy(z, Ids{0, 1}, d), error,
                        message_has({"softmax_cross_entropy", "2 targets for 3 rows"}));
  BOOST_CHECK_EXCEPTION(
      softmax_cross_entropy(z, Ids{0, 4, 1}, d), error,
      message_has({"softmax_cross_entropy", "targets[1] = 4", "[0, 4)", "ignore_index = -100"}));
  BOOST_CHECK_EXCEPTION(softmax_cross_entropy(z, Ids{0, 1, -1}, d), error,
                        message_has({"targets[2] = -1"}));
  BOOST_CHECK_EXCEPTION(softmax_cross_entropy(z, Ids{-100, 1, 2}, d, -1), error,
                        message_has({"targets[0] = -100", "ignore_index = -1"}));
  z(2, 3) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(softmax_cross_entropy(z, Ids{0, 1, 2}, d), error,
                        message_has({"softmax_cross_entropy", "logits(2, 3) is nan"}));
  z(2, 3) = -std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION(softmax_cross_entropy(z, Ids{0, 1, 2}, d), error,
                        message_has({"logits(2, 3) is -inf"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_nn_cross_entropy
