// Tests for include/moerb/nn/lm_head.hpp
#include <stdexcept>
#define EIGEN_RUNTIME_NO_MALLOC
#define eigen_assert(x)                                                \
  do {                                                                 \
    if (!(x)) throw std::runtime_error("Eigen assertion failed: " #x); \
  } while (false)

#include <Eigen/Core>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "moerb/nn/cross_entropy.hpp"
#include "moerb/nn/embedding.hpp"
#include "moerb/nn/lm_head.hpp"
#include "support/golden.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_nn_lm_head {

using moerb::Index;
using moerb::LMHead;
using moerb::Parameter;
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

std::vector<std::string> parameter_names(LMHead<double>& head) {
  std::vector<std::string> names;
  head.visit_parameters([&](std::string_view n, Parameter<double>&) { names.emplace_back(n); },
                        "lm_head");
  return names;
}

// Tied head with bias + mean cross-entropy (one ignored target) against PyTorch.
template <class S>
void check_golden() {
  const double tol = std::is_same_v<S, double> ? 1e-10 : 2e-5;
  const moerb::test::GoldenFile g("blocks_lm_head_ce.txt");
  const Matrix<S> x = g.tensor_as<S>("x");
  const Matrix<double>& E = g.tensor("weight");
  TokenEmbedding<S> emb({.vocab_size = E.rows(), .d_model = E.cols()});
  emb.weight().value = E.cast<S>();
  LMHead<S> head({.d_model = E.cols(), .vocab_size = E.rows(), .tied = true, .bias = true});
  head.bias().value = g.tensor_as<S>("bias");
  Ids targets;
  for (Index i = 0; i < g.tensor("targets").rows(); ++i) {
    targets.push_back(static_cast<std::int32_t>(g.tensor("targets")(i, 0)));
  }
  const Matrix<S>& logits = head.forward(x, &emb.weight());
  BOOST_TEST(moerb::test::relative_error(logits.template cast<double>(), g.tensor("logits")) < tol);
  Matrix<S> d_logits;
  const S loss = moerb::softmax_cross_entropy(logits, targets, d_logits);
  BOOST_TEST(std::abs(static_cast<double>(loss) - g.scalar("loss")) < tol * g.scalar("loss"));
  const Matrix<double> dx = head.backward(x, d_logits, &emb.weight()).template cast<double>();
  BOOST_TEST(moerb::test::relative_error(dx, g.tensor("grad.x")) < tol);
  BOOST_TEST(moerb::test::relative_error(emb.weight().grad.template cast<double>(),
                                         g.tensor("grad.weight")) < tol);
  BOOST_TEST(moerb::test::relative_error(head.bias().grad.template cast<double>(),
                                         g.tensor("grad.bias")) < tol);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(lm_head)

BOOST_AUTO_TEST_CASE(untied_forward_and_parameter_names) {
  LMHead<double> head({.d_model = 4, .vocab_size = 9, .tied = false, .bias = true});
  Rng init(1);
  head.initialize(init);
  BOOST_TEST(head.weight().value.rows() == 4);
  BOOST_TEST(head.weight().value.cols() == 9);
  BOOST_TEST(head.weight().value.cwiseAbs().maxCoeff() <= 0.5);  // U(±1/√4)
  Rng rng(2);
  const Matrix<double> x = random_matrix(3, 4, rng);
  Matrix<double> expected = x * head.weight().value;
  expected.rowwise() += head.bias().value.row(0);
  BOOST_TEST((head.forward(x, nullptr) - expected).cwiseAbs().maxCoeff() < 1e-14);
  BOOST_TEST(parameter_names(head) == (std::vector<std::string>{"lm_head.weight", "lm_head.bias"}),
             boost::test_tools::per_element());
  LMHead<double> tied({.d_model = 4, .vocab_size = 9});
  BOOST_TEST(tied.tied());
  BOOST_TEST(parameter_names(tied).empty());
  BOOST_TEST(tied.weight().size() == 0);
  LMHead<double> tied_bias({.d_model = 4, .vocab_size = 9, .bias = true});
  BOOST_TEST(parameter_names(tied_bias) == (std::vector<std::string>{"lm_head.bias"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(tied_equals_untied_with_the_transposed_table) {
  TokenEmbedding<double> emb({.vocab_size = 11, .d_model = 5, .init_std = 0.5});
  Rng init(3);
  emb.initialize(init);
  LMHead<double> tied({.d_model = 5, .vocab_size = 11, .tied = true, .bias = true});
  LMHead<double> untied({.d_model = 5, .vocab_size = 11, .tied = false, .bias = true});
  tied.initialize(init);
  untied.bias().value = tied.bias().value;
  untied.weight().value = emb.weight().value.transpose();
  Rng rng(4);
  const Matrix<double> x = random_matrix(6, 5, rng);
  const Matrix<double> dy = random_matrix(6, 11, rng);
  const Matrix<double> logits_tied = tied.forward(x, &emb.weight());
  const Matrix<double> logits_untied = untied.forward(x, nullptr);
  BOOST_TEST((logits_tied - logits_untied).cwiseAbs().maxCoeff() < 1e-14);
  const Matrix<double> dx_tied = tied.backward(x, dy, &emb.weight());
  const Matrix<double> dx_untied = untied.backward(x, dy, nullptr);
  BOOST_TEST((dx_tied - dx_untied).cwiseAbs().maxCoeff() < 1e-14);
  // The tied gradient lands in the embedding's grad, transposed relative to the untied weight.
  BOOST_TEST((emb.weight().grad - untied.weight().grad.transpose()).cwiseAbs().maxCoeff() < 1e-14);
  BOOST_TEST(emb.weight().grad.cwiseAbs().maxCoeff() > 0.0);
  BOOST_TEST((tied.bias().grad - untied.bias().grad).cwiseAbs().maxCoeff() < 1e-14);
  BOOST_TEST(tied.weight().size() == 0);
}

BOOST_AUTO_TEST_CASE(tied_gradient_adds_to_the_lookup_gradient) {
  // ids → embedding → tanh → tied head → cross-entropy: E gets both the lookup's and the head's
  // gradient, checked against finite differences of the whole pipeline.
  TokenEmbedding<double> emb({.vocab_size = 7, .d_model = 4, .init_std = 0.7});
  LMHead<double> head({.d_model = 4, .vocab_size = 7, .bias = true});
  Rng init(5);
  emb.initialize(init);
  head.initialize(init);
  const Ids ids{1, 4, 4, 0, 6};
  const Ids targets{4, 4, -100, 2, 1};
  Matrix<double> d_logits;
  auto loss = [&] {
    const Matrix<double> h = emb.forward(ids).array().tanh();
    return moerb::softmax_cross_entropy(head.forward(h, &emb.weight()), targets, d_logits);
  };
  const Matrix<double> numeric_E = moerb::test::numeric_gradient(emb.weight().value, loss);
  const Matrix<double> numeric_b = moerb::test::numeric_gradient(head.bias().value, loss);
  moerb::zero_grad(emb);
  moerb::zero_grad(head);
  loss();
  const Matrix<double> h = emb.output().array().tanh();
  const Matrix<double>& dh = head.backward(h, d_logits, &emb.weight());
  const Matrix<double> d_emb = dh.array() * (1.0 - h.array().square());
  emb.backward(ids, d_emb);
  BOOST_TEST(moerb::test::relative_error(numeric_E, emb.weight().grad) < 1e-6);
  BOOST_TEST(moerb::test::relative_error(numeric_b, head.bias().grad) < 1e-6);
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  for (const bool tied : {false, true}) {
    TokenEmbedding<double> emb({.vocab_size = 8, .d_model = 5, .init_std = 0.5});
    LMHead<double> head({.d_model = 5, .vocab_size = 8, .tied = tied, .bias = true});
    Rng init(6);
    emb.initialize(init);
    head.initialize(init);
    Parameter<double>* table = tied ? &emb.weight() : nullptr;
    Rng rng(7);
    Matrix<double> x = random_matrix(6, 5, rng);
    const Matrix<double> G = random_matrix(6, 8, rng);
    auto loss = [&] { return (head.forward(x, table).array().tanh() * G.array()).sum(); };
    auto backward = [&](Matrix<double>& dx) {
      const Matrix<double> z = head.forward(x, table);
      const Matrix<double> dz = G.array() * (1.0 - z.array().tanh().square());
      dx = head.backward(x, dz, table);
    };
    moerb::zero_grad(emb);
    const auto results = moerb::test::check_gradients(head, x, loss, backward);
    BOOST_TEST(results.size() == (tied ? 2u : 3u));  // input, bias (+ weight when untied)
    if (tied) {
      // check_gradients ran backward once, after zeroing only the head's own parameters.
      const Matrix<double> numeric = moerb::test::numeric_gradient(emb.weight().value, loss);
      BOOST_TEST(moerb::test::relative_error(numeric, emb.weight().grad) < 1e-6);
    }
  }
}

BOOST_AUTO_TEST_CASE(frozen_tied_table_gets_no_gradient_but_passes_it_on) {
  TokenEmbedding<double> emb({.vocab_size = 6, .d_model = 3, .init_std = 0.5});
  Rng init(8);
  emb.initialize(init);
  emb.weight().frozen = true;
  LMHead<double> head({.d_model = 3, .vocab_size = 6});
  Rng rng(9);
  const Matrix<double> x = random_matrix(4, 3, rng);
  const Matrix<double> dy = random_matrix(4, 6, rng);
  head.forward(x, &emb.weight());
  const Matrix<double>& dx = head.backward(x, dy, &emb.weight());
  BOOST_TEST(emb.weight().grad.isZero(0.0));
  BOOST_TEST((dx - dy * emb.weight().value).cwiseAbs().maxCoeff() < 1e-14);
  // Untied: the head's own frozen weight.
  LMHead<double> untied({.d_model = 3, .vocab_size = 6, .tied = false, .bias = true});
  untied.initialize(init);
  untied.weight().frozen = true;
  untied.forward(x, nullptr);
  untied.backward(x, dy, nullptr);
  BOOST_TEST(untied.weight().grad.isZero(0.0));
  BOOST_TEST(!untied.bias().grad.isZero(0.0));
}

BOOST_AUTO_TEST_CASE(matches_pytorch_golden_double) {
  check_golden<double>();
}
BOOST_AUTO_TEST_CASE(matches_pytorch_golden_float) {
  check_golden<float>();
}

BOOST_AUTO_TEST_CASE(steady_state_forward_and_backward_do_not_allocate) {
  TokenEmbedding<float> emb({.vocab_size = 30, .d_model = 8});
  LMHead<float> head({.d_model = 8, .vocab_size = 30, .bias = true});
  Rng init(1);
  emb.initialize(init);
  head.initialize(init);
  Rng rng(2);
  const Matrix<float> x = random_matrix(10, 8, rng).cast<float>();
  const Ids targets{1, 2, 3, -100, 5, 6, 7, 8, 29, 0};
  Matrix<float> d_logits;
  moerb::softmax_cross_entropy(head.forward(x, &emb.weight()), targets, d_logits);
  head.backward(x, d_logits, &emb.weight());
  Eigen::internal::set_is_malloc_allowed(false);
  bool threw = false;
  try {
    moerb::softmax_cross_entropy(head.forward(x, &emb.weight()), targets, d_logits);
    head.backward(x, d_logits, &emb.weight());
  } catch (const std::exception& e) {
    threw = true;
    BOOST_TEST_MESSAGE(e.what());
  }
  Eigen::internal::set_is_malloc_allowed(true);
  BOOST_TEST(!threw);
}

BOOST_AUTO_TEST_CASE(bad_inputs_throw) {
  using moerb::error;
  using Options = LMHead<double>::Options;
  BOOST_CHECK_EXCEPTION(LMHead<double>(Options{.d_model = 0, .vocab_size = 5}), error,
                        message_has({"LMHead", "Options::d_model = 0"}));
  BOOST_CHECK_EXCEPTION(LMHead<double>(Options{.d_model = 3, .vocab_size = 0}), error,
                        message_has({"LMHead", "Options::vocab_size = 0"}));
  TokenEmbedding<double> emb({.vocab_size = 5, .d_model = 3});
  TokenEmbedding<double> wrong_vocab({.vocab_size = 6, .d_model = 3});
  TokenEmbedding<double> wrong_width({.vocab_size = 5, .d_model = 2});
  LMHead<double> tied({.d_model = 3, .vocab_size = 5});
  LMHead<double> untied({.d_model = 3, .vocab_size = 5, .tied = false});
  Matrix<double> x = Matrix<double>::Ones(4, 3);
  const Matrix<double> dy = Matrix<double>::Ones(4, 5);
  BOOST_CHECK_EXCEPTION(tied.forward(x, nullptr), error,
                        message_has({"LMHead::forward", "tied", "tied_weight is null"}));
  BOOST_CHECK_EXCEPTION(untied.forward(x, &emb.weight()), error,
                        message_has({"LMHead::forward", "untied", "pass nullptr"}));
  BOOST_CHECK_EXCEPTION(
      tied.forward(x, &wrong_vocab.weight()), error,
      message_has({"LMHead::forward", "tied_weight->value has shape 6×3", "expected 5×3"}));
  BOOST_CHECK_EXCEPTION(tied.forward(x, &wrong_width.weight()), error,
                        message_has({"tied_weight->value has shape 5×2"}));
  BOOST_CHECK_EXCEPTION(tied.backward(x, dy, nullptr), error,
                        message_has({"LMHead::backward", "tied_weight is null"}));
  BOOST_CHECK_EXCEPTION(untied.backward(x, dy, &emb.weight()), error,
                        message_has({"LMHead::backward", "untied"}));
  Parameter<double> bad_grad(5, 3);
  bad_grad.grad.resize(0, 0);
  BOOST_CHECK_EXCEPTION(tied.backward(x, dy, &bad_grad), error,
                        message_has({"LMHead::backward", "tied_weight->grad has shape 0×0"}));
  BOOST_CHECK_EXCEPTION(tied.forward(Matrix<double>::Ones(4, 2), &emb.weight()), error,
                        message_has({"LMHead::forward", "x has 2 columns", "expected 3"}));
  x(1, 1) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(tied.forward(x, &emb.weight()), error,
                        message_has({"LMHead::forward", "x(1, 1) is nan"}));
  x(1, 1) = 1;
  BOOST_CHECK_EXCEPTION(tied.backward(x, Matrix<double>::Ones(4, 6), &emb.weight()), error,
                        message_has({"LMHead::backward", "dy has shape 4×6", "expected 4×5"}));
  Matrix<double> bad_dy = dy;
  bad_dy(3, 4) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(tied.backward(x, bad_dy, &emb.weight()), error,
                        message_has({"LMHead::backward", "dy(3, 4) is nan"}));
  BOOST_TEST(emb.weight().grad.isZero(0.0));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_nn_lm_head
