// Tests for include/moerb/nn/embedding.hpp
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "moerb/nn/embedding.hpp"
#include "moerb/nn/position_embedding.hpp"
#include "support/golden.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_nn_embedding {

using moerb::Index;
using moerb::Rng;
using moerb::TokenEmbedding;
template <class S>
using Matrix = moerb::Matrix<S>;
using Ids = std::vector<std::int32_t>;

namespace {

using moerb::test::message_has;

Matrix<double> random_matrix(Index rows, Index cols, Rng& rng) {
  Matrix<double> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = rng.uniform(-1.0, 1.0);
  return m;
}

std::vector<std::int32_t> column_as_ids(const Matrix<double>& m) {
  std::vector<std::int32_t> ids;
  for (Index i = 0; i < m.rows(); ++i) ids.push_back(static_cast<std::int32_t>(m(i, 0)));
  return ids;
}

// Token + position embeddings of a packed batch against PyTorch's F.embedding (autograd).
template <class S>
void check_golden() {
  const double tol = std::is_same_v<S, double> ? 1e-10 : 2e-5;
  const moerb::test::GoldenFile g("blocks_embedding_position.txt");
  const Ids ids = column_as_ids(g.tensor("ids"));
  std::vector<Index> lengths;
  for (const auto v : column_as_ids(g.tensor("lengths"))) lengths.push_back(v);
  const auto batch = moerb::SequenceBatch::from_lengths(lengths);
  const Matrix<double>& tw = g.tensor("token.weight");
  const Matrix<double>& pw = g.tensor("position.weight");
  TokenEmbedding<S> tokens({.vocab_size = tw.rows(), .d_model = tw.cols()});
  moerb::LearnedPositionEmbedding<S> positions({.max_positions = pw.rows(), .d_model = pw.cols()});
  tokens.weight().value = tw.cast<S>();
  positions.weight().value = pw.cast<S>();
  const Matrix<S> out = tokens.forward(ids) + positions.forward(batch);
  BOOST_TEST(moerb::test::relative_error(out.template cast<double>(), g.tensor("out")) < tol);
  const Matrix<S> G = g.tensor_as<S>("G");
  tokens.backward(ids, G);
  positions.backward(batch, G);
  BOOST_TEST(moerb::test::relative_error(tokens.weight().grad.template cast<double>(),
                                         g.tensor("grad.token.weight")) < tol);
  BOOST_TEST(moerb::test::relative_error(positions.weight().grad.template cast<double>(),
                                         g.tensor("grad.position.weight")) < tol);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(embedding)

BOOST_AUTO_TEST_CASE(forward_gathers_the_rows_of_the_ids) {
  TokenEmbedding<double> emb({.vocab_size = 6, .d_model = 3});
  Rng init(1);
  emb.initialize(init);
  const Ids ids{4, 0, 4, 5};
  const Matrix<double>& out = emb.forward(ids);
  BOOST_TEST(out.rows() == 4);
  BOOST_TEST(out.cols() == 3);
  for (Index i = 0; i < 4; ++i) {
    BOOST_TEST((out.row(i) == emb.weight().value.row(ids[static_cast<std::size_t>(i)])));
  }
  BOOST_TEST((emb.output() == out));
  BOOST_TEST(emb.forward(Ids{}).rows() == 0);
  std::vector<std::string> names;
  emb.visit_parameters(
      [&](std::string_view n, moerb::Parameter<double>& p) {
        names.emplace_back(n);
        BOOST_TEST(p.value.rows() == 6);
        BOOST_TEST(p.value.cols() == 3);
      },
      "embed_tokens");
  BOOST_TEST(names == (std::vector<std::string>{"embed_tokens.weight"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(initialize_is_normal_with_init_std_and_deterministic) {
  TokenEmbedding<double> a({.vocab_size = 200, .d_model = 16});
  TokenEmbedding<double> b({.vocab_size = 200, .d_model = 16});
  Rng ra(3), rb(3);
  a.initialize(ra);
  b.initialize(rb);
  BOOST_TEST((a.weight().value == b.weight().value));
  const auto& w = a.weight().value;
  const double n = static_cast<double>(w.size());
  const double mean = w.sum() / n;
  const double stddev = std::sqrt((w.array() - mean).square().sum() / (n - 1));
  BOOST_TEST(std::abs(mean) < 0.002);  // 3200 draws: the standard error of the mean is 0.00035
  BOOST_TEST(std::abs(stddev - 0.02) < 0.002);
  TokenEmbedding<double> wide({.vocab_size = 200, .d_model = 16, .init_std = 1.0});
  Rng rc(3);
  wide.initialize(rc);
  BOOST_TEST((wide.weight().value - 50.0 * w).cwiseAbs().maxCoeff() < 1e-12);
}

BOOST_AUTO_TEST_CASE(repeated_ids_accumulate_their_gradients) {
  TokenEmbedding<double> emb({.vocab_size = 5, .d_model = 3});
  Rng rng(4);
  const Ids ids{3, 1, 3, 3};
  const Matrix<double> d_out = random_matrix(4, 3, rng);
  emb.forward(ids);
  emb.backward(ids, d_out);
  const auto& grad = emb.weight().grad;
  // Row 3 sums rows 0, 2, 3 of d_out in order (bit-identical to the same sum written out).
  const Matrix<double> row3 = (d_out.row(0) + d_out.row(2)) + d_out.row(3);
  BOOST_TEST((grad.row(3) == row3));
  BOOST_TEST((grad.row(1) == d_out.row(1)));
  for (const Index untouched : {0, 2, 4}) BOOST_TEST(grad.row(untouched).isZero(0.0));
  // A second backward accumulates on top.
  emb.backward(ids, d_out);
  BOOST_TEST((grad.row(1) - 2 * d_out.row(1)).cwiseAbs().maxCoeff() < 1e-15);
  // A frozen table receives nothing.
  moerb::zero_grad(emb);
  moerb::set_frozen(emb, "");
  emb.backward(ids, d_out);
  BOOST_TEST(grad.isZero(0.0));
}

BOOST_AUTO_TEST_CASE(gradient_matches_finite_differences) {
  TokenEmbedding<double> emb({.vocab_size = 7, .d_model = 4, .init_std = 0.5});
  Rng init(5);
  emb.initialize(init);
  Rng rng(6);
  const Ids ids{2, 6, 2, 0, 2, 5, 6};
  const Matrix<double> G = random_matrix(7, 4, rng);
  // A nonlinear loss, L = Σ tanh(out) ⊙ G, so that the check is not trivially linear.
  auto loss = [&] { return (emb.forward(ids).array().tanh() * G.array()).sum(); };
  const Matrix<double> numeric = moerb::test::numeric_gradient(emb.weight().value, loss);
  moerb::zero_grad(emb);
  const Matrix<double> out = emb.forward(ids);
  const Matrix<double> d_out = G.array() * (1.0 - out.array().tanh().square());
  emb.backward(ids, d_out);
  BOOST_TEST(moerb::test::relative_error(numeric, emb.weight().grad) < 1e-6);
  BOOST_TEST(emb.weight().grad.row(1).isZero(0.0));  // id 1 never occurs
}

BOOST_AUTO_TEST_CASE(matches_pytorch_golden_double) {
  check_golden<double>();
}
BOOST_AUTO_TEST_CASE(matches_pytorch_golden_float) {
  check_golden<float>();
}

BOOST_AUTO_TEST_CASE(copies_are_independent) {
  TokenEmbedding<float> emb({.vocab_size = 4, .d_model = 2});
  Rng init(1);
  emb.initialize(init);
  TokenEmbedding<float> copy = emb;
  copy.weight().value.setZero();
  BOOST_TEST(emb.weight().value.cwiseAbs().maxCoeff() > 0.0f);
}

BOOST_AUTO_TEST_CASE(bad_inputs_throw) {
  using moerb::error;
  using Options = TokenEmbedding<double>::Options;
  BOOST_CHECK_EXCEPTION(TokenEmbedding<double>(Options{.vocab_size = 0, .d_model = 3}), error,
                        message_has({"TokenEmbedding", "Options::vocab_size = 0"}));
  BOOST_CHECK_EXCEPTION(TokenEmbedding<double>(Options{.vocab_size = 5, .d_model = 0}), error,
                        message_has({"TokenEmbedding", "Options::d_model = 0"}));
  BOOST_CHECK_EXCEPTION(
      TokenEmbedding<double>(Options{.vocab_size = 5, .d_model = 3, .init_std = -0.1}), error,
      message_has({"TokenEmbedding", "Options::init_std = -0.1", "finite value >= 0"}));
  BOOST_CHECK_EXCEPTION(
      TokenEmbedding<double>(Options{
          .vocab_size = 5, .d_model = 3, .init_std = std::numeric_limits<double>::quiet_NaN()}),
      error, message_has({"Options::init_std = nan"}));

  TokenEmbedding<double> emb({.vocab_size = 5, .d_model = 3});
  BOOST_CHECK_EXCEPTION(emb.forward(Ids{1, 4, 5}), error,
                        message_has({"TokenEmbedding::forward", "ids[2] = 5", "[0, 5)"}));
  BOOST_CHECK_EXCEPTION(emb.forward(Ids{-1}), error,
                        message_has({"TokenEmbedding::forward", "ids[0] = -1"}));
  const Ids ids{1, 2};
  emb.forward(ids);
  BOOST_CHECK_EXCEPTION(emb.backward(ids, Matrix<double>::Zero(3, 3)), error,
                        message_has({"TokenEmbedding::backward", "d_out has shape 3×3", "2×3"}));
  BOOST_CHECK_EXCEPTION(emb.backward(ids, Matrix<double>::Zero(2, 4)), error,
                        message_has({"TokenEmbedding::backward", "d_out has shape 2×4"}));
  BOOST_CHECK_EXCEPTION(emb.backward(Ids{1, 9}, Matrix<double>::Zero(2, 3)), error,
                        message_has({"TokenEmbedding::backward", "ids[1] = 9"}));
  Matrix<double> d_out = Matrix<double>::Zero(2, 3);
  d_out(1, 2) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(emb.backward(ids, d_out), error,
                        message_has({"TokenEmbedding::backward", "d_out(1, 2) is nan"}));
  BOOST_TEST(emb.weight().grad.isZero(0.0));  // nothing accumulated by the failed calls
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_nn_embedding
