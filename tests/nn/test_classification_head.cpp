// Tests for include/moerb/nn/classification_head.hpp
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
#include <type_traits>
#include <vector>

#include "moerb/nn/classification_head.hpp"
#include "support/golden.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_nn_classification_head {

using moerb::ClassificationHead;
using moerb::ForwardContext;
using moerb::Index;
using moerb::Rng;
template <class S>
using Matrix = moerb::Matrix<S>;

namespace {

using moerb::test::message_has;

Matrix<double> random_matrix(Index rows, Index cols, Rng& rng) {
  Matrix<double> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = rng.uniform(-1.0, 1.0);
  return m;
}

template <class S>
std::vector<std::string> parameter_names(ClassificationHead<S>& head, std::string_view prefix) {
  std::vector<std::string> names;
  head.visit_parameters([&](std::string_view n, moerb::Parameter<S>&) { names.emplace_back(n); },
                        prefix);
  return names;
}

template <class S>
void check_golden() {
  const double tol = std::is_same_v<S, double> ? 1e-10 : 2e-5;
  const moerb::test::GoldenFile g("blocks_classification_head.txt");
  const Matrix<S> x = g.tensor_as<S>("x");
  const Matrix<S> G = g.tensor_as<S>("G");
  ClassificationHead<S> head({.d_model = x.cols(),
                              .num_classes = G.cols(),
                              .hidden = g.tensor("dense.weight").cols(),
                              .dropout = 0.25});  // evaluation mode: dropout is the identity
  Index loaded = 0;
  head.visit_parameters(
      [&](std::string_view name, moerb::Parameter<S>& p) {
        p.value = g.tensor_as<S>(std::string(name));
        ++loaded;
      },
      "");
  BOOST_TEST(loaded == 4);
  const ForwardContext eval{.training = false, .rng = Rng(9)};
  const Matrix<double> logits = head.forward(x, eval).template cast<double>();
  BOOST_TEST(moerb::test::relative_error(logits, g.tensor("logits")) < tol);
  const Matrix<double> dx = head.backward(x, G).template cast<double>();
  BOOST_TEST(moerb::test::relative_error(dx, g.tensor("grad.x")) < tol);
  head.visit_parameters(
      [&](std::string_view name, moerb::Parameter<S>& p) {
        BOOST_TEST(moerb::test::relative_error(p.grad.template cast<double>(),
                                               g.tensor("grad." + std::string(name))) < tol,
                   "grad." << name);
      },
      "");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(classification_head)

BOOST_AUTO_TEST_CASE(forward_is_linear_or_tanh_then_linear) {
  Rng rng(1);
  const Matrix<double> x = random_matrix(4, 6, rng);
  ClassificationHead<double> flat({.d_model = 6, .num_classes = 3});
  Rng init(2);
  flat.initialize(init);
  Matrix<double> expected = x * flat.out().weight().value;
  expected.rowwise() += flat.out().bias().value.row(0);
  BOOST_TEST((flat.forward(x, {}) - expected).cwiseAbs().maxCoeff() < 1e-14);
  BOOST_TEST(
      parameter_names(flat, "cls") == (std::vector<std::string>{"cls.out.weight", "cls.out.bias"}),
      boost::test_tools::per_element());
  BOOST_TEST(!flat.has_hidden());

  ClassificationHead<double> deep({.d_model = 6, .num_classes = 3, .hidden = 5});
  deep.initialize(init);
  Matrix<double> pre = x * deep.dense().weight().value;
  pre.rowwise() += deep.dense().bias().value.row(0);
  const Matrix<double> h = pre.array().tanh();
  Matrix<double> logits = h * deep.out().weight().value;
  logits.rowwise() += deep.out().bias().value.row(0);
  BOOST_TEST((deep.forward(x, {}) - logits).cwiseAbs().maxCoeff() < 1e-14);
  BOOST_TEST((deep.output() == deep.forward(x, {})));
  BOOST_TEST(parameter_names(deep, "") ==
                 (std::vector<std::string>{"dense.weight", "dense.bias", "out.weight", "out.bias"}),
             boost::test_tools::per_element());
  BOOST_TEST(moerb::parameter_count(deep) == 6 * 5 + 5 + 5 * 3 + 3);
  BOOST_TEST(deep.out().weight().value.rows() == 5);
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  for (const Index hidden : {Index(0), Index(5)}) {
    for (const bool training : {false, true}) {
      ClassificationHead<double> head(
          {.d_model = 6, .num_classes = 4, .hidden = hidden, .dropout = 0.3});
      Rng init(3);
      head.initialize(init);
      Rng rng(4);
      Matrix<double> x = random_matrix(7, 6, rng);
      const Matrix<double> G = random_matrix(7, 4, rng);
      // A fixed stream: every forward draws the same mask, so finite differences see a smooth
      // function.
      const ForwardContext ctx{.training = training, .rng = Rng(5)};
      auto loss = [&] { return (head.forward(x, ctx).array() * G.array()).sum(); };
      auto backward = [&](Matrix<double>& dx) {
        head.forward(x, ctx);
        dx = head.backward(x, G);
      };
      const auto results = moerb::test::check_gradients(head, x, loss, backward);
      BOOST_TEST(results.size() == (hidden > 0 ? 5u : 3u));
    }
  }
}

BOOST_AUTO_TEST_CASE(dropout_is_deterministic_per_seed_and_identity_at_eval) {
  // out = identity, no hidden layer: the logits are the dropped-out input itself.
  const double rate = 0.25;
  ClassificationHead<double> head({.d_model = 40, .num_classes = 40, .dropout = rate});
  head.out().weight().value.setIdentity();
  head.out().bias().value.setZero();
  Rng rng(6);
  const Matrix<double> x = random_matrix(50, 40, rng).array() + 2.0;  // no zero entries
  const ForwardContext train{.training = true, .rng = Rng(7)};
  const Matrix<double> a = head.forward(x, train);
  const Matrix<double> b = head.forward(x, train);
  BOOST_TEST((a == b));
  const Matrix<double> other = head.forward(x, train.with_rng(Rng(8)));
  BOOST_TEST((a != other));
  Index dropped = 0;
  bool scaled = true;
  for (Index i = 0; i < a.size(); ++i) {
    if (a.data()[i] == 0.0) {
      ++dropped;
    } else {
      scaled = scaled && std::abs(a.data()[i] - x.data()[i] / (1.0 - rate)) < 1e-14;
    }
  }
  BOOST_TEST(scaled);
  const double fraction = static_cast<double>(dropped) / static_cast<double>(a.size());
  BOOST_TEST(std::abs(fraction - rate) < 0.04);  // 2000 draws: standard error 0.0097
  // Backward masks the gradient with the same units.
  const Matrix<double> ones = Matrix<double>::Ones(50, 40);
  head.forward(x, train);
  const Matrix<double> dx = head.backward(x, ones);
  BOOST_TEST(((dx.array() == 0.0) == (a.array() == 0.0)).all());
  // Evaluation ignores the rate and the stream.
  BOOST_TEST((head.forward(x, {.training = false, .rng = Rng(7)}) == x));
  ClassificationHead<double> no_dropout({.d_model = 40, .num_classes = 40});
  no_dropout.out() = head.out();
  BOOST_TEST((no_dropout.forward(x, train) == x));
}

BOOST_AUTO_TEST_CASE(frozen_parameters_get_no_gradient_but_pass_it_on) {
  ClassificationHead<double> head({.d_model = 4, .num_classes = 2, .hidden = 3});
  Rng init(9);
  head.initialize(init);
  BOOST_TEST(moerb::set_frozen(head, "dense") == 2);
  Rng rng(10);
  Matrix<double> x = random_matrix(5, 4, rng);
  const Matrix<double> G = random_matrix(5, 2, rng);
  auto loss = [&] { return (head.forward(x, {}).array() * G.array()).sum(); };
  auto backward = [&](Matrix<double>& dx) {
    head.forward(x, {});
    dx = head.backward(x, G);
  };
  const auto results = moerb::test::check_gradients(head, x, loss, backward);
  BOOST_TEST(results.size() == 3u);  // input, out.weight, out.bias
}

BOOST_AUTO_TEST_CASE(matches_pytorch_golden_double) {
  check_golden<double>();
}
BOOST_AUTO_TEST_CASE(matches_pytorch_golden_float) {
  check_golden<float>();
}

BOOST_AUTO_TEST_CASE(steady_state_forward_and_backward_do_not_allocate) {
  ClassificationHead<float> head({.d_model = 8, .num_classes = 3, .hidden = 6, .dropout = 0.1});
  Rng init(1);
  head.initialize(init);
  Rng rng(2);
  const Matrix<float> x = random_matrix(12, 8, rng).cast<float>();
  const Matrix<float> G = random_matrix(12, 3, rng).cast<float>();
  const ForwardContext ctx{.training = true, .rng = Rng(3)};
  head.forward(x, ctx);
  head.backward(x, G);
  Eigen::internal::set_is_malloc_allowed(false);
  bool threw = false;
  try {
    head.forward(x, ctx);
    head.backward(x, G);
  } catch (const std::exception& e) {
    threw = true;
    BOOST_TEST_MESSAGE(e.what());
  }
  Eigen::internal::set_is_malloc_allowed(true);
  BOOST_TEST(!threw);
}

BOOST_AUTO_TEST_CASE(bad_inputs_throw) {
  using moerb::error;
  using Options = ClassificationHead<double>::Options;
  BOOST_CHECK_EXCEPTION(ClassificationHead<double>(Options{.d_model = 0, .num_classes = 2}), error,
                        message_has({"ClassificationHead", "Options::d_model = 0"}));
  BOOST_CHECK_EXCEPTION(ClassificationHead<double>(Options{.d_model = 4, .num_classes = 1}), error,
                        message_has({"ClassificationHead", "Options::num_classes = 1", ">= 2"}));
  BOOST_CHECK_EXCEPTION(
      ClassificationHead<double>(Options{.d_model = 4, .num_classes = 2, .hidden = -1}), error,
      message_has({"ClassificationHead", "Options::hidden = -1"}));
  BOOST_CHECK_EXCEPTION(
      ClassificationHead<double>(Options{.d_model = 4, .num_classes = 2, .dropout = 1.0}), error,
      message_has({"ClassificationHead", "Options::dropout = 1", "[0, 1)"}));
  ClassificationHead<double> head({.d_model = 4, .num_classes = 3, .hidden = 2});
  Matrix<double> x = Matrix<double>::Ones(5, 4);
  const Matrix<double> dy = Matrix<double>::Ones(5, 3);
  BOOST_CHECK_EXCEPTION(head.backward(x, dy), error,
                        message_has({"ClassificationHead::backward", "before forward"}));
  BOOST_CHECK_EXCEPTION(head.forward(Matrix<double>::Ones(5, 3), {}), error,
                        message_has({"ClassificationHead::forward", "x has 3 columns"}));
  x(4, 0) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(head.forward(x, {}), error,
                        message_has({"ClassificationHead::forward", "x(4, 0) is nan"}));
  x(4, 0) = 1;
  head.forward(x, {});
  BOOST_CHECK_EXCEPTION(head.backward(x, Matrix<double>::Ones(5, 2)), error,
                        message_has({"ClassificationHead::backward", "dy has shape 5×2", "5×3"}));
  BOOST_CHECK_EXCEPTION(head.backward(Matrix<double>::Ones(4, 4), dy), error,
                        message_has({"ClassificationHead::backward", "x has shape 4×4", "5×4"}));
  Matrix<double> bad_dy = dy;
  bad_dy(2, 2) = std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION(head.backward(x, bad_dy), error,
                        message_has({"ClassificationHead::backward", "dy(2, 2) is inf"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_nn_classification_head
