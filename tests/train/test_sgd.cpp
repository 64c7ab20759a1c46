// Tests for include/moerb/train/sgd.hpp
#include <stdexcept>
#define EIGEN_RUNTIME_NO_MALLOC
#define eigen_assert(x)                                                \
  do {                                                                 \
    if (!(x)) throw std::runtime_error("Eigen assertion failed: " #x); \
  } while (false)

#include <Eigen/Core>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>

#include "moerb/train/sgd.hpp"
#include "support/golden.hpp"
#include "train/toy_model.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_train_sgd {

using moerb::Index;
using moerb::SGD;
using moerb::WeightDecayPolicy;
using moerb::test::GoldenFile;
using moerb::test::message_has;
using moerb::test::ToyModel;
template <class S>
using Matrix = moerb::Matrix<S>;

namespace {

SGD sgd_from_golden(const GoldenFile& g) {
  SGD::Options o;
  o.momentum = g.scalar("momentum");
  o.dampening = g.scalar("dampening");
  o.nesterov = g.scalar("nesterov") != 0.0;
  o.weight_decay = g.scalar("weight_decay");
  o.decay_policy =
      g.scalar("decay_bias") != 0.0 ? WeightDecayPolicy::all : WeightDecayPolicy::matrices_only;
  return SGD(o);
}

void replay(const std::string& file) {
  const GoldenFile g(file);
  SGD opt = sgd_from_golden(g);
  moerb::test::replay_golden_trajectory(g, opt, 1e-12);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sgd)

BOOST_AUTO_TEST_CASE(plain_sgd_with_weight_decay_matches_torch) {
  replay("optim_sgd_plain.txt");
}

BOOST_AUTO_TEST_CASE(momentum_matches_torch) {
  replay("optim_sgd_momentum.txt");
}

BOOST_AUTO_TEST_CASE(momentum_with_dampening_matches_torch) {
  replay("optim_sgd_dampening.txt");
}

BOOST_AUTO_TEST_CASE(nesterov_matches_torch) {
  replay("optim_sgd_nesterov.txt");
}

BOOST_AUTO_TEST_CASE(frozen_step_and_matrices_only_decay_match_torch) {
  const GoldenFile g("optim_sgd_frozen.txt");
  SGD opt = sgd_from_golden(g);
  moerb::test::replay_golden_trajectory(g, opt, 1e-12);
  BOOST_TEST(opt.state("weight")->steps == 5);
  BOOST_TEST(opt.state("bias")->steps == 4);
}

BOOST_AUTO_TEST_CASE(hand_computed_momentum_steps) {
  // Two steps, closed form: d = g + λθ; b1 = d1; b2 = μ·b1 + d2; θ ← θ − lr·b.
  ToyModel<double> m;
  m.weight.value.setConstant(1.0);
  m.bias.value.setConstant(-2.0);
  m.weight.grad.setConstant(0.5);
  m.bias.grad.setConstant(0.25);
  const double lr = 0.1, mu = 0.9, wd = 0.1;
  SGD opt(SGD::Options{.momentum = mu, .weight_decay = wd});
  opt.step(m, lr);
  const double d1 = 0.5 + wd * 1.0;
  const double w1 = 1.0 - lr * d1;
  BOOST_TEST(std::abs(m.weight.value(2, 3) - w1) <= 1e-15);
  BOOST_TEST(std::abs(opt.state("weight")->momentum_buffer(0, 0) - d1) <= 1e-15);
  opt.step(m, lr);
  const double d2 = 0.5 + wd * w1;
  const double w2 = w1 - lr * (mu * d1 + d2);
  BOOST_TEST(std::abs(m.weight.value(1, 1) - w2) <= 1e-15);
  const double b_d1 = 0.25 + wd * -2.0;
  const double b1 = -2.0 - lr * b_d1;
  const double b2 = b1 - lr * (mu * b_d1 + (0.25 + wd * b1));
  BOOST_TEST(std::abs(m.bias.value(0, 3) - b2) <= 1e-15);
}

BOOST_AUTO_TEST_CASE(nesterov_hand_computed_first_step) {
  // First step: b = d, and the Nesterov direction is d + μ·b = (1 + μ)·d.
  ToyModel<double> m;
  m.weight.value.setConstant(1.0);
  m.weight.grad.setConstant(0.5);
  SGD opt(SGD::Options{.momentum = 0.5, .nesterov = true});
  opt.step(m, 0.2);
  BOOST_TEST(std::abs(m.weight.value(0, 0) - (1.0 - 0.2 * 1.5 * 0.5)) <= 1e-15);
}

BOOST_AUTO_TEST_CASE(plain_sgd_keeps_no_buffer) {
  ToyModel<double> m;
  moerb::test::fill_toy(m);
  SGD opt;
  opt.step(m, 0.1);
  BOOST_TEST(opt.state("weight")->momentum_buffer.size() == 0);
  BOOST_TEST(opt.state("weight")->steps == 1);
}

BOOST_AUTO_TEST_CASE(frozen_parameters_are_untouched) {
  ToyModel<double> m;
  moerb::test::fill_toy(m);
  m.weight.frozen = true;
  const Matrix<double> w = m.weight.value;
  const Matrix<double> gw = m.weight.grad;
  const Matrix<double> b0 = m.bias.value;
  SGD opt(SGD::Options{.momentum = 0.9, .nesterov = true, .weight_decay = 1.0});
  for (int k = 0; k < 3; ++k) opt.step(m, 0.1);
  BOOST_TEST((m.weight.value.array() == w.array()).all());  // no decay either
  BOOST_TEST((m.weight.grad.array() == gw.array()).all());
  BOOST_TEST(opt.state("weight") == nullptr);
  BOOST_TEST(!(m.bias.value.array() == b0.array()).any());

  // Freezing a parameter that has a buffer keeps the buffer as it was.
  m.weight.frozen = false;
  m.bias.frozen = true;
  const Matrix<double> bias_buffer = opt.state("bias")->momentum_buffer;
  const Matrix<double> bias_value = m.bias.value;
  opt.step(m, 0.1);
  BOOST_TEST((opt.state("bias")->momentum_buffer.array() == bias_buffer.array()).all());
  BOOST_TEST((m.bias.value.array() == bias_value.array()).all());
  BOOST_TEST(opt.state("bias")->steps == 3);
  BOOST_TEST(opt.state("weight")->steps == 1);
}

BOOST_AUTO_TEST_CASE(float_model_follows_the_double_trajectory_to_float_rounding) {
  ToyModel<double> md;
  moerb::test::fill_toy(md);
  ToyModel<float> mf;
  mf.weight.value = md.weight.value.cast<float>();
  mf.bias.value = md.bias.value.cast<float>();
  mf.weight.grad = md.weight.grad.cast<float>();
  mf.bias.grad = md.bias.grad.cast<float>();
  md.weight.grad = mf.weight.grad.cast<double>();
  md.bias.grad = mf.bias.grad.cast<double>();
  SGD od(SGD::Options{.momentum = 0.9, .weight_decay = 0.01});
  SGD of(od.options());
  for (int k = 0; k < 5; ++k) {
    od.step(md, 0.05);
    of.step(mf, 0.05);
  }
  const Matrix<double> wf = mf.weight.value.cast<double>();
  BOOST_TEST(moerb::test::max_abs_diff(wf, md.weight.value) <= 1e-6);
}

BOOST_AUTO_TEST_CASE(steady_state_steps_do_not_allocate) {
  ToyModel<double> m;
  moerb::test::fill_toy(m);
  SGD opt(SGD::Options{.momentum = 0.9, .nesterov = true, .weight_decay = 0.1});
  opt.step(m, 0.01);
  Eigen::internal::set_is_malloc_allowed(false);
  opt.step(m, 0.01);
  opt.step(m, 0.02);
  Eigen::internal::set_is_malloc_allowed(true);
  BOOST_TEST(opt.steps() == 3);
}

BOOST_AUTO_TEST_CASE(shape_change_of_a_name_is_an_error) {
  ToyModel<double> m;
  moerb::test::fill_toy(m);
  SGD opt(SGD::Options{.momentum = 0.9});
  opt.step(m, 0.01);
  m.weight.resize(4, 4);
  BOOST_CHECK_EXCEPTION(opt.step(m, 0.01), moerb::error,
                        message_has({"SGD::step", "'weight'", "4×4", "3×4"}));
}

BOOST_AUTO_TEST_CASE(non_finite_gradient_throws_and_changes_nothing) {
  ToyModel<double> m;
  moerb::test::fill_toy(m);
  SGD opt(SGD::Options{.momentum = 0.9});
  const ToyModel<double> before = m;
  m.bias.grad(0, 1) = -std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION(opt.step(m, 0.01), moerb::error,
                        message_has({"SGD::step", "'bias'", "(0, 1)", "-inf"}));
  BOOST_TEST((m.weight.value.array() == before.weight.value.array()).all());
  BOOST_TEST(opt.steps() == 0);
  // A state entry made by the failed step is fresh: the next step starts the buffer from d.
  m.bias.grad(0, 1) = 0.0;
  opt.step(m, 0.01);
  BOOST_TEST(opt.state("weight")->steps == 1);
  BOOST_TEST(moerb::test::max_abs_diff(opt.state("weight")->momentum_buffer, m.weight.grad) == 0.0);
}

BOOST_AUTO_TEST_CASE(duplicate_names_are_rejected) {
  moerb::test::VisitedTwice twice;
  moerb::test::fill_toy(twice.inner);
  SGD opt;
  BOOST_CHECK_EXCEPTION(opt.step(twice, 0.01), moerb::error,
                        message_has({"SGD::step", "'weight'", "visited twice"}));
}

BOOST_AUTO_TEST_CASE(invalid_options_are_rejected) {
  BOOST_CHECK_EXCEPTION(SGD(SGD::Options{.momentum = 1.0}), moerb::error,
                        message_has({"SGD", "momentum"}));
  BOOST_CHECK_EXCEPTION(SGD(SGD::Options{.nesterov = true}), moerb::error,
                        message_has({"SGD", "nesterov", "momentum > 0"}));
  BOOST_CHECK_EXCEPTION(SGD(SGD::Options{.momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                        moerb::error, message_has({"SGD", "nesterov", "dampening = 0.1"}));
  BOOST_CHECK_EXCEPTION(SGD(SGD::Options{.weight_decay = std::nan("")}), moerb::error,
                        message_has({"SGD", "weight_decay"}));
  ToyModel<double> m;
  SGD opt;
  BOOST_CHECK_EXCEPTION(opt.step(m, std::numeric_limits<double>::infinity()), moerb::error,
                        message_has({"SGD::step", "lr = inf"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_train_sgd
