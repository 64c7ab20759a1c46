// Tests for include/moerb/nn/position_embedding.hpp
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "moerb/nn/position_embedding.hpp"
#include "support/golden.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_nn_position_embedding {

using moerb::Index;
using moerb::LearnedPositionEmbedding;
using moerb::Rng;
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

BOOST_AUTO_TEST_SUITE(position_embedding)

BOOST_AUTO_TEST_CASE(positions_restart_in_every_sequence) {
  LearnedPositionEmbedding<double> pos({.max_positions = 5, .d_model = 3});
  Rng init(1);
  pos.initialize(init);
  const auto batch = SequenceBatch::from_lengths({2, 5, 1});
  const Matrix<double>& out = pos.forward(batch);
  BOOST_TEST(out.rows() == 8);
  BOOST_TEST(out.cols() == 3);
  const std::vector<Index> expected_position{0, 1, 0, 1, 2, 3, 4, 0};
  for (Index t = 0; t < 8; ++t) {
    BOOST_TEST((out.row(t) == pos.weight().value.row(expected_position[static_cast<size_t>(t)])));
  }
  BOOST_TEST(pos.forward(SequenceBatch{}).rows() == 0);
  std::vector<std::string> names;
  pos.visit_parameters(
      [&](std::string_view n, moerb::Parameter<double>&) { names.emplace_back(n); },
      "embed_positions");
  BOOST_TEST(names == (std::vector<std::string>{"embed_positions.weight"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(initialize_is_normal_and_deterministic) {
  LearnedPositionEmbedding<double> a({.max_positions = 64, .d_model = 32});
  LearnedPositionEmbedding<double> b({.max_positions = 64, .d_model = 32});
  Rng ra(2), rb(2);
  a.initialize(ra);
  b.initialize(rb);
  BOOST_TEST((a.weight().value == b.weight().value));
  const auto& w = a.weight().value;
  const double n = static_cast<double>(w.size());
  const double mean = w.sum() / n;
  const double stddev = std::sqrt((w.array() - mean).square().sum() / (n - 1));
  BOOST_TEST(std::abs(mean) < 0.002);
  BOOST_TEST(std::abs(stddev - 0.02) < 0.002);
}

BOOST_AUTO_TEST_CASE(backward_sums_each_position_over_sequences) {
  LearnedPositionEmbedding<double> pos({.max_positions = 4, .d_model = 2});
  const auto batch = SequenceBatch::from_lengths({3, 1, 2});
  Rng rng(3);
  const Matrix<double> d_out = random_matrix(6, 2, rng);
  pos.forward(batch);
  pos.backward(batch, d_out);
  const auto& grad = pos.weight().grad;
  BOOST_TEST((grad.row(0) == (d_out.row(0) + d_out.row(3)) + d_out.row(4)));
  BOOST_TEST((grad.row(1) == d_out.row(1) + d_out.row(5)));
  BOOST_TEST((grad.row(2) == d_out.row(2)));
  BOOST_TEST(grad.row(3).isZero(0.0));
  moerb::zero_grad(pos);
  pos.weight().frozen = true;
  pos.backward(batch, d_out);
  BOOST_TEST(grad.isZero(0.0));
}

BOOST_AUTO_TEST_CASE(gradient_matches_finite_differences) {
  LearnedPositionEmbedding<double> pos({.max_positions = 6, .d_model = 3, .init_std = 0.5});
  Rng init(4);
  pos.initialize(init);
  Rng rng(5);
  const auto batch = SequenceBatch::from_lengths({4, 6, 2});
  const Matrix<double> G = random_matrix(12, 3, rng);
  auto loss = [&] { return (pos.forward(batch).array().tanh() * G.array()).sum(); };
  const Matrix<double> numeric = moerb::test::numeric_gradient(pos.weight().value, loss);
  moerb::zero_grad(pos);
  const Matrix<double> out = pos.forward(batch);
  const Matrix<double> d_out = G.array() * (1.0 - out.array().tanh().square());
  pos.backward(batch, d_out);
  BOOST_TEST(moerb::test::relative_error(numeric, pos.weight().grad) < 1e-6);
}

BOOST_AUTO_TEST_CASE(position_gradient_matches_pytorch_golden) {
  // The combined token + position case is checked in test_embedding; here the position table
  // alone, whose output and gradient are the golden ones with the token part removed.
  const moerb::test::GoldenFile g("blocks_embedding_position.txt");
  std::vector<Index> lengths;
  const Matrix<double>& l = g.tensor("lengths");
  for (Index i = 0; i < l.rows(); ++i) lengths.push_back(static_cast<Index>(l(i, 0)));
  const auto batch = SequenceBatch::from_lengths(lengths);
  const Matrix<double>& pw = g.tensor("position.weight");
  for (const bool single : {false, true}) {
    if (single) {
      LearnedPositionEmbedding<float> pos({.max_positions = pw.rows(), .d_model = pw.cols()});
      pos.weight().value = pw.cast<float>();
      pos.forward(batch);
      pos.backward(batch, g.tensor_as<float>("G"));
      BOOST_TEST(moerb::test::relative_error(pos.weight().grad.cast<double>(),
                                             g.tensor("grad.position.weight")) < 2e-5);
    } else {
      LearnedPositionEmbedding<double> pos({.max_positions = pw.rows(), .d_model = pw.cols()});
      pos.weight().value = pw;
      pos.forward(batch);
      pos.backward(batch, g.tensor("G"));
      BOOST_TEST(moerb::test::relative_error(pos.weight().grad, g.tensor("grad.position.weight")) <
                 1e-10);
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_inputs_throw) {
  using moerb::error;
  using Options = LearnedPositionEmbedding<double>::Options;
  BOOST_CHECK_EXCEPTION(LearnedPositionEmbedding<double>(Options{.max_positions = 0, .d_model = 2}),
                        error,
                        message_has({"LearnedPositionEmbedding", "Options::max_positions = 0"}));
  BOOST_CHECK_EXCEPTION(LearnedPositionEmbedding<double>(Options{.max_positions = 4, .d_model = 0}),
                        error, message_has({"LearnedPositionEmbedding", "Options::d_model = 0"}));
  BOOST_CHECK_EXCEPTION(
      LearnedPositionEmbedding<double>(Options{.max_positions = 4, .d_model = 2, .init_std = -1.0}),
      error, message_has({"Options::init_std = -1"}));
  LearnedPositionEmbedding<double> pos({.max_positions = 4, .d_model = 2});
  const auto too_long = SequenceBatch::from_lengths({4, 5});
  BOOST_CHECK_EXCEPTION(pos.forward(too_long), error,
                        message_has({"LearnedPositionEmbedding::forward", "sequence 1 has 5 tokens",
                                     "max_positions = 4"}));
  BOOST_CHECK_EXCEPTION(pos.backward(too_long, Matrix<double>::Zero(9, 2)), error,
                        message_has({"LearnedPositionEmbedding::backward", "sequence 1"}));
  const auto batch = SequenceBatch::from_lengths({3, 2});
  pos.forward(batch);
  BOOST_CHECK_EXCEPTION(
      pos.backward(batch, Matrix<double>::Zero(4, 2)), error,
      message_has({"LearnedPositionEmbedding::backward", "d_out has shape 4×2", "expected 5×2"}));
  Matrix<double> d_out = Matrix<double>::Zero(5, 2);
  d_out(4, 0) = -std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION(pos.backward(batch, d_out), error,
                        message_has({"LearnedPositionEmbedding::backward", "d_out(4, 0) is -inf"}));
  BOOST_TEST(pos.weight().grad.isZero(0.0));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_nn_position_embedding
