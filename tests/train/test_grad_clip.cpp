// Tests for include/moerb/train/grad_clip.hpp
#include <omp.h>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <string_view>

#include "moerb/core/rng.hpp"
#include "moerb/train/grad_clip.hpp"
#include "train/toy_model.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_train_grad_clip {

using moerb::clip_grad_norm;
using moerb::global_grad_norm;
using moerb::scale_grads;
using moerb::test::message_has;
using moerb::test::ToyModel;
template <class S>
using Matrix = moerb::Matrix<S>;

namespace {

// weight grads: twelve entries of 1 (Σ g² = 12); bias grads: 2 in each of 4 entries (Σ g² = 16).
// Global norm: sqrt(28).
ToyModel<double> simple_model() {
  ToyModel<double> m;
  m.weight.grad.setConstant(1.0);
  m.bias.grad.setConstant(2.0);
  return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(grad_clip)

BOOST_AUTO_TEST_CASE(global_norm_is_the_l2_norm_of_all_gradients) {
  ToyModel<double> m = simple_model();
  BOOST_TEST(global_grad_norm(m) == std::sqrt(28.0));
  m.bias.grad(0, 0) = -3.0;  // Σ g² = 12 + 9 + 12
  BOOST_TEST(global_grad_norm(m) == std::sqrt(33.0));
}

BOOST_AUTO_TEST_CASE(frozen_parameters_are_not_counted) {
  ToyModel<double> m = simple_model();
  m.bias.frozen = true;
  BOOST_TEST(global_grad_norm(m) == std::sqrt(12.0));
  m.weight.frozen = true;
  BOOST_TEST(global_grad_norm(m) == 0.0);
}

BOOST_AUTO_TEST_CASE(norm_sums_in_a_fixed_order_in_double) {
  ToyModel<double> m;
  moerb::test::fill_toy(m);
  // The documented order: per gradient, entries into 8 interleaved accumulators added in lane order
  // (the toy's gradients are shorter than one chunk), then the gradients in visiting order.
  const auto lanes = [](const moerb::Matrix<double>& g) {
    double lane[8] = {};
    for (moerb::Index i = 0; i < g.size(); ++i) lane[i % 8] += g.data()[i] * g.data()[i];
    double s = 0.0;
    for (const double v : lane) s += v;
    return s;
  };
  const double sum = lanes(m.weight.grad) + lanes(m.bias.grad);
  BOOST_TEST(global_grad_norm(m) == std::sqrt(sum));  // bit-identical
  BOOST_TEST(global_grad_norm(m) == global_grad_norm(m));

  // Float gradients are squared and summed in double: 1e20² overflows float, not double.
  ToyModel<float> f;
  f.weight.grad(0, 0) = 3e20f;
  f.bias.grad(0, 0) = 4e20f;
  BOOST_TEST(std::abs(global_grad_norm(f) - 5e20) <= 5e20 * 1e-7);
}

// Gradients longer than a chunk: the chunk sums on threads give the same bits for any thread
// count, and the value is the L2 norm to rounding.
struct BigGradModel {
  moerb::Parameter<float> a, b;
  template <class V>
  void visit_parameters(V&& v, std::string_view) {
    v(std::string_view("a"), a);
    v(std::string_view("b"), b);
  }
};

BOOST_AUTO_TEST_CASE(chunked_norm_does_not_depend_on_the_thread_count) {
  BigGradModel big;
  big.a.value.resize(300, 200);
  big.a.grad.resize(300, 200);
  big.b.value.resize(1, 70001);
  big.b.grad.resize(1, 70001);
  moerb::Rng rng(3);
  double reference = 0.0;
  for (moerb::Parameter<float>* p : {&big.a, &big.b}) {
    for (moerb::Index i = 0; i < p->grad.size(); ++i) {
      p->grad.data()[i] = static_cast<float>(rng.uniform(-1.0, 1.0));
      reference += static_cast<double>(p->grad.data()[i]) * p->grad.data()[i];
    }
  }
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const double one = global_grad_norm(big);
  omp_set_num_threads(2);
  const double two = global_grad_norm(big);
  omp_set_num_threads(3);
  const double three = global_grad_norm(big);
  omp_set_num_threads(saved);
  BOOST_TEST(one == two);  // bit-identical
  BOOST_TEST(one == three);
  BOOST_TEST(std::abs(one - std::sqrt(reference)) <= 1e-12 * std::sqrt(reference));
}

BOOST_AUTO_TEST_CASE(clip_scales_by_max_norm_over_norm_plus_epsilon) {
  ToyModel<double> m = simple_model();
  const double norm = std::sqrt(28.0);
  const double coef = 1.0 / (norm + 1e-6);
  BOOST_TEST(clip_grad_norm(m, 1.0) == norm);  // the norm before clipping
  BOOST_TEST(std::abs(m.weight.grad(1, 2) - coef) <= 1e-16);
  BOOST_TEST(std::abs(m.bias.grad(0, 3) - 2.0 * coef) <= 1e-16);
  const double clipped = global_grad_norm(m);
  BOOST_TEST(clipped < 1.0);
  BOOST_TEST(clipped > 1.0 - 1e-6);
}

BOOST_AUTO_TEST_CASE(clip_below_the_threshold_changes_nothing) {
  ToyModel<double> m = simple_model();
  const Matrix<double> w = m.weight.grad;
  // norm + 1e-6 > max_norm would still scale: leave room.
  BOOST_TEST(clip_grad_norm(m, 6.0) == std::sqrt(28.0));
  BOOST_TEST((m.weight.grad.array() == w.array()).all());
  BOOST_TEST(clip_grad_norm(m, std::numeric_limits<double>::infinity()) == std::sqrt(28.0));
  BOOST_TEST((m.weight.grad.array() == w.array()).all());
}

BOOST_AUTO_TEST_CASE(clip_leaves_frozen_gradients_alone) {
  ToyModel<double> m = simple_model();
  m.bias.frozen = true;
  BOOST_TEST(clip_grad_norm(m, 1.0) == std::sqrt(12.0));
  BOOST_TEST((m.bias.grad.array() == 2.0).all());
  BOOST_TEST(std::abs(m.weight.grad(0, 0) - 1.0 / (std::sqrt(12.0) + 1e-6)) <= 1e-16);
}

BOOST_AUTO_TEST_CASE(non_finite_gradient_names_the_parameter) {
  ToyModel<double> m = simple_model();
  m.bias.grad(0, 2) = std::numeric_limits<double>::quiet_NaN();
  BOOST_TEST(std::isnan(global_grad_norm(m)));
  BOOST_CHECK_EXCEPTION(clip_grad_norm(m, 1.0), moerb::error,
                        message_has({"clip_grad_norm", "'bias'", "(0, 2)", "nan"}));
  BOOST_TEST((m.weight.grad.array() == 1.0).all());  // untouched

  m.bias.grad(0, 2) = 2.0;
  m.weight.grad(2, 1) = std::numeric_limits<double>::infinity();
  m.bias.grad(0, 0) = -std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION(clip_grad_norm(m, 1.0), moerb::error,
                        message_has({"'weight'", "(2, 1)", "inf"}));  // the first one

  // A frozen parameter's gradient is not looked at.
  m.weight.grad(2, 1) = 1.0;
  m.bias.frozen = true;
  BOOST_CHECK_NO_THROW(clip_grad_norm(m, 1.0));
}

BOOST_AUTO_TEST_CASE(overflowing_norm_is_an_error) {
  ToyModel<double> m;
  m.weight.grad.setConstant(1e200);
  BOOST_CHECK_EXCEPTION(clip_grad_norm(m, 1.0), moerb::error,
                        message_has({"clip_grad_norm", "overflowed"}));
}

BOOST_AUTO_TEST_CASE(invalid_max_norm_is_rejected) {
  ToyModel<double> m = simple_model();
  BOOST_CHECK_EXCEPTION(clip_grad_norm(m, 0.0), moerb::error,
                        message_has({"clip_grad_norm", "max_norm = 0"}));
  BOOST_CHECK_EXCEPTION(clip_grad_norm(m, std::nan("")), moerb::error,
                        message_has({"clip_grad_norm", "max_norm"}));
}

BOOST_AUTO_TEST_CASE(scale_grads_multiplies_non_frozen_gradients) {
  ToyModel<double> m = simple_model();
  m.bias.frozen = true;
  scale_grads(m, 0.25);
  BOOST_TEST((m.weight.grad.array() == 0.25).all());
  BOOST_TEST((m.bias.grad.array() == 2.0).all());
  ToyModel<float> f;
  f.weight.grad.setConstant(3.0f);
  scale_grads(f, 1.0 / 3.0);
  BOOST_TEST(std::abs(f.weight.grad(0, 0) - 1.0f) <= 1e-7f);
  BOOST_CHECK_EXCEPTION(scale_grads(m, std::numeric_limits<double>::infinity()), moerb::error,
                        message_has({"scale_grads", "factor = inf"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_train_grad_clip
