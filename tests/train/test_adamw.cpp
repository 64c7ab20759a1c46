// Tests for include/moerb/train/adamw.hpp
#include <stdexcept>
#define EIGEN_RUNTIME_NO_MALLOC
#define eigen_assert(x)                                                \
  do {                                                                 \
    if (!(x)) throw std::runtime_error("Eigen assertion failed: " #x); \
  } while (false)

#include <omp.h>
#include <Eigen/Core>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <string_view>

#include "moerb/core/rng.hpp"
#include "moerb/experts/ffn_expert.hpp"
#include "moerb/train/adamw.hpp"
#include "support/golden.hpp"
#include "train/toy_model.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_train_adamw {

using moerb::AdamW;
using moerb::Index;
using moerb::WeightDecayPolicy;
using moerb::test::GoldenFile;
using moerb::test::message_has;
using moerb::test::ToyModel;
template <class S>
using Matrix = moerb::Matrix<S>;

namespace {

AdamW adamw_from_golden(const GoldenFile& g, WeightDecayPolicy policy) {
  AdamW::Options o;
  o.beta1 = g.scalar("beta1");
  o.beta2 = g.scalar("beta2");
  o.eps = g.scalar("eps");
  o.weight_decay = g.scalar("weight_decay");
  o.decay_policy = policy;
  return AdamW(o);
}

/// One float tensor of 311 × 257 = 79 927 entries: four full chunks of AdamW's parallel update and
/// a ragged tail.
struct BigModel {
  using Scalar = float;
  moerb::Parameter<float> w{311, 257};
  template <class V>
  void visit_parameters(V&& visitor, std::string_view prefix) {
    visitor(std::string_view(moerb::join_name(prefix, "w")), w);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(adamw)

BOOST_AUTO_TEST_CASE(matches_torch_adamw_with_per_step_lr) {
  const GoldenFile g("optim_adamw_all.txt");
  BOOST_REQUIRE_EQUAL(g.scalar("decay_bias"), 1.0);
  AdamW opt = adamw_from_golden(g, WeightDecayPolicy::all);
  moerb::test::replay_golden_trajectory(g, opt, 1e-12);
  BOOST_TEST(opt.state("weight")->steps == 5);
}

BOOST_AUTO_TEST_CASE(matrices_only_policy_matches_a_torch_no_decay_group_for_biases) {
  const GoldenFile g("optim_adamw_matrices.txt");
  BOOST_REQUIRE_EQUAL(g.scalar("decay_bias"), 0.0);
  AdamW opt = adamw_from_golden(g, WeightDecayPolicy::matrices_only);
  moerb::test::replay_golden_trajectory(g, opt, 1e-12);
}

BOOST_AUTO_TEST_CASE(decay_filter_overrides_the_policy) {
  const GoldenFile g("optim_adamw_matrices.txt");
  AdamW::Options o = adamw_from_golden(g, WeightDecayPolicy::all).options();
  Index calls = 0;
  o.decay_filter = [&](std::string_view name, Index rows, Index cols) {
    ++calls;
    BOOST_TEST((name == "weight" ? rows == 3 && cols == 4 : rows == 1 && cols == 4));
    return name != "bias";
  };
  AdamW opt(o);
  moerb::test::replay_golden_trajectory(g, opt, 1e-12);
  BOOST_TEST(calls == 10);  // two parameters, five steps
}

BOOST_AUTO_TEST_CASE(frozen_step_is_skipped_like_a_torch_parameter_without_grad) {
  // Bias is frozen at step 2: torch skips it (no decay, moments and step count kept), so its
  // later bias corrections use its own step count (4 after five steps, the weight's is 5).
  const GoldenFile g("optim_adamw_frozen.txt");
  AdamW opt = adamw_from_golden(g, WeightDecayPolicy::all);
  moerb::test::replay_golden_trajectory(g, opt, 1e-12);
  BOOST_TEST(opt.state("weight")->steps == 5);
  BOOST_TEST(opt.state("bias")->steps == 4);
}

BOOST_AUTO_TEST_CASE(first_step_is_lr_times_sign_after_decoupled_decay) {
  // With zero moments, bias correction makes m̂ = g and v̂ = g², so
  // θ1 = θ0·(1 − lr·λ) − lr·g / (|g| + ε): an independent closed form of the first step.
  ToyModel<double> m;
  moerb::test::fill_toy(m);
  const Matrix<double> w0 = m.weight.value;
  const Matrix<double> g = m.weight.grad;
  const double lr = 0.05, wd = 0.2, eps = 1e-8;
  AdamW opt(AdamW::Options{.lr = lr, .eps = eps, .weight_decay = wd});
  opt.step(m);
  const Matrix<double> expected =
      (w0.array() * (1 - lr * wd) - lr * g.array() / (g.array().abs() + eps)).matrix();
  BOOST_TEST(moerb::test::max_abs_diff(m.weight.value, expected) <= 1e-15);
  const AdamW::State* s = opt.state("weight");
  BOOST_REQUIRE(s != nullptr);
  BOOST_TEST(moerb::test::max_abs_diff(s->exp_avg, 0.1 * g) <= 1e-16);
  BOOST_TEST(moerb::test::max_abs_diff(s->exp_avg_sq, (0.001 * g.array().square()).matrix()) <=
             1e-18);
  BOOST_TEST(opt.steps() == 1);
}

BOOST_AUTO_TEST_CASE(frozen_parameters_are_untouched) {
  ToyModel<double> m;
  moerb::test::fill_toy(m);
  m.bias.frozen = true;
  const Matrix<double> bias_value = m.bias.value;
  const Matrix<double> bias_grad = m.bias.grad;
  const Matrix<double> weight0 = m.weight.value;
  AdamW opt(AdamW::Options{.weight_decay = 0.5});
  for (int k = 0; k < 3; ++k) opt.step(m, 0.1);
  BOOST_TEST((m.bias.value.array() == bias_value.array()).all());  // not even decayed
  BOOST_TEST((m.bias.grad.array() == bias_grad.array()).all());
  BOOST_TEST(opt.state("bias") == nullptr);
  BOOST_TEST(opt.state_count() == 1u);
  BOOST_TEST(!(m.weight.value.array() == weight0.array()).any());

  // Unfrozen, it starts its own count: its first update has full bias correction.
  m.bias.frozen = false;
  opt.step(m, 0.1);
  BOOST_TEST(opt.state("bias")->steps == 1);
  BOOST_TEST(opt.state("weight")->steps == 4);

  // Frozen again: state and value stay exactly as they were.
  m.bias.frozen = true;
  const AdamW::State before = *opt.state("bias");
  const Matrix<double> bias_after = m.bias.value;
  opt.step(m, 0.1);
  BOOST_TEST((opt.state("bias")->exp_avg.array() == before.exp_avg.array()).all());
  BOOST_TEST((opt.state("bias")->exp_avg_sq.array() == before.exp_avg_sq.array()).all());
  BOOST_TEST(opt.state("bias")->steps == 1);
  BOOST_TEST((m.bias.value.array() == bias_after.array()).all());
}

BOOST_AUTO_TEST_CASE(state_is_keyed_by_hierarchical_names) {
  moerb::test::NestedModel nested;
  moerb::test::fill_toy(nested.encoder);
  moerb::test::fill_toy(nested.decoder, 0.3);
  ToyModel<double> alone = nested.decoder;
  AdamW a, b;
  for (int k = 0; k < 3; ++k) {
    a.step(nested, 0.01);
    b.step(alone, 0.01);
  }
  BOOST_TEST(a.state_count() == 4u);
  BOOST_TEST(a.state("decoder.weight") != nullptr);
  BOOST_TEST(a.state("encoder.bias") != nullptr);
  BOOST_TEST(a.state("weight") == nullptr);
  // The decoder under a prefix follows exactly the trajectory it follows alone.
  BOOST_TEST((nested.decoder.weight.value.array() == alone.weight.value.array()).all());
  BOOST_TEST((nested.decoder.bias.value.array() == alone.bias.value.array()).all());
}

BOOST_AUTO_TEST_CASE(works_on_a_library_layer) {
  moerb::FFNExpert<double> expert(moerb::FFNExpert<double>::Options{.d_model = 4, .d_ff = 6});
  moerb::Rng rng(7);
  expert.initialize(rng);
  expert.visit_parameters([&](std::string_view, auto& p) { p.grad.setConstant(0.5); }, "");
  std::map<std::string, Matrix<double>> before;
  expert.visit_parameters(
      [&](std::string_view name, auto& p) { before[std::string(name)] = p.value; }, "");
  AdamW opt;
  opt.step(expert, 0.01);
  BOOST_TEST(opt.state_count() == 4u);
  expert.visit_parameters(
      [&](std::string_view name, auto& p) {
        BOOST_TEST_CONTEXT(name) {
          BOOST_TEST(opt.state(name) != nullptr);
          // First step: θ(1 − lr·λ) − lr·sign(g) with g = 0.5 everywhere.
          const Matrix<double> expected =
              (before.at(std::string(name)).array() * (1 - 0.01 * 0.01) - 0.01 * 0.5 / (0.5 + 1e-8))
                  .matrix();
          BOOST_TEST(moerb::test::max_abs_diff(p.value, expected) <= 1e-15);
        }
      },
      "");
}

BOOST_AUTO_TEST_CASE(float_model_follows_the_double_trajectory_to_float_rounding) {
  ToyModel<double> md;
  moerb::test::fill_toy(md);
  ToyModel<float> mf;
  mf.weight.value = md.weight.value.cast<float>();
  mf.bias.value = md.bias.value.cast<float>();
  AdamW od, of;
  for (int k = 0; k < 5; ++k) {
    const double lr = 0.01 * (k + 1);
    md.weight.grad.setConstant(0.3 - 0.1 * k);
    md.bias.grad.setConstant(-0.2 + 0.05 * k);
    mf.weight.grad = md.weight.grad.cast<float>();
    mf.bias.grad = md.bias.grad.cast<float>();
    od.step(md, lr);
    of.step(mf, lr);
  }
  const Matrix<double> wf = mf.weight.value.cast<double>();
  BOOST_TEST(moerb::test::max_abs_diff(wf, md.weight.value) <= 1e-6);
}

// MomentPrecision::parameter keeps a float model's moments in float (torch.optim.AdamW's way): the
// trajectory stays within float rounding of the double-moment one, and the state is float only.
BOOST_AUTO_TEST_CASE(float_moments_follow_the_double_moment_trajectory_to_float_rounding) {
  ToyModel<float> with_double, with_float;
  moerb::test::fill_toy(with_double);
  with_float = with_double;
  AdamW od;
  AdamW::Options options;
  options.moments = moerb::MomentPrecision::parameter;
  AdamW of(options);
  for (int k = 0; k < 20; ++k) {
    const double lr = 0.01 * (1 + k % 3);
    with_double.weight.grad.setConstant(static_cast<float>(0.3 - 0.07 * k));
    with_double.bias.grad.setConstant(static_cast<float>(-0.2 + 0.05 * k));
    with_float.weight.grad = with_double.weight.grad;
    with_float.bias.grad = with_double.bias.grad;
    od.step(with_double, lr);
    of.step(with_float, lr);
  }
  const Matrix<double> a = with_float.weight.value.cast<double>();
  const Matrix<double> b = with_double.weight.value.cast<double>();
  BOOST_TEST(moerb::test::max_abs_diff(a, b) <= 1e-5);
  BOOST_TEST(moerb::test::max_abs_diff(a, b) > 0.0);  // the float arithmetic did run
  const auto& state = *of.state("weight");
  BOOST_TEST(state.exp_avg.size() == 0);
  BOOST_TEST(state.exp_avg_float.size() == with_float.weight.value.size());
  BOOST_TEST(state.exp_avg_sq_float.size() == with_float.weight.value.size());
}

// A double model keeps double moments whatever the option says: its scalar is the parameter's.
BOOST_AUTO_TEST_CASE(parameter_precision_moments_of_a_double_model_are_double) {
  ToyModel<double> a, b;
  moerb::test::fill_toy(a);
  b = a;
  AdamW::Options options;
  options.moments = moerb::MomentPrecision::parameter;
  AdamW oa, ob(options);
  for (int k = 0; k < 3; ++k) {
    oa.step(a, 0.01);
    ob.step(b, 0.01);
  }
  BOOST_TEST((a.weight.value.array() == b.weight.value.array()).all());
  BOOST_TEST(ob.state("weight")->exp_avg_float.size() == 0);
}

BOOST_AUTO_TEST_CASE(steady_state_steps_do_not_allocate) {
  ToyModel<double> m;
  moerb::test::fill_toy(m);
  AdamW opt;
  opt.step(m, 0.01);  // creates the state
  Eigen::internal::set_is_malloc_allowed(false);
  opt.step(m, 0.01);
  opt.step(m, 0.02);
  Eigen::internal::set_is_malloc_allowed(true);
  BOOST_TEST(opt.steps() == 3);
}

BOOST_AUTO_TEST_CASE(large_tensors_update_bit_identically_for_any_thread_count) {
  BOOST_REQUIRE_GT(BigModel{}.w.size(), 4 * moerb::AdamWUpdate::update_chunk);
  moerb::Rng rng(7);
  BigModel start;
  for (Index i = 0; i < start.w.size(); ++i) {
    start.w.value.data()[i] = static_cast<float>(rng.uniform(-1.0, 1.0));
  }
  auto run = [&](int threads, moerb::MomentPrecision moments) {
    omp_set_num_threads(threads);
    BigModel m = start;
    AdamW::Options options;
    options.moments = moments;
    AdamW opt(options);
    moerb::Rng grads(11);
    for (int k = 0; k < 3; ++k) {
      for (Index i = 0; i < m.w.size(); ++i) {
        m.w.grad.data()[i] = static_cast<float>(grads.uniform(-2.0, 2.0));
      }
      opt.step(m, 1e-3 * (k + 1));
    }
    return m.w.value;
  };
  const int saved = omp_get_max_threads();
  for (const auto moments :
       {moerb::MomentPrecision::double_precision, moerb::MomentPrecision::parameter}) {
    BOOST_TEST_CONTEXT("moments " << static_cast<int>(moments)) {
      const Matrix<float> one = run(1, moments);
      const Matrix<float> two = run(2, moments);
      const Matrix<float> three = run(3, moments);
      BOOST_TEST((one.array() == two.array()).all());
      BOOST_TEST((one.array() == three.array()).all());
      // And the parameters did move (the update is not skipped for large tensors).
      BOOST_TEST((one.array() != start.w.value.array()).count() > one.size() / 2);
    }
  }
  omp_set_num_threads(saved);
}

BOOST_AUTO_TEST_CASE(shape_change_of_a_name_is_an_error) {
  ToyModel<double> m;
  moerb::test::fill_toy(m);
  AdamW opt;
  opt.step(m, 0.01);
  m.bias.resize(1, 5);
  BOOST_CHECK_EXCEPTION(opt.step(m, 0.01), moerb::error,
                        message_has({"AdamW::step", "'bias'", "1×5", "1×4"}));
  opt.reset();
  BOOST_TEST(opt.steps() == 0);
  BOOST_CHECK_NO_THROW(opt.step(m, 0.01));
}

BOOST_AUTO_TEST_CASE(non_finite_gradient_throws_and_changes_nothing) {
  ToyModel<double> m;
  moerb::test::fill_toy(m);
  AdamW opt;
  opt.step(m, 0.01);
  const ToyModel<double> before = m;
  const AdamW::State weight_state = *opt.state("weight");
  m.bias.grad(0, 2) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(opt.step(m, 0.01), moerb::error,
                        message_has({"AdamW::step", "'bias'", "(0, 2)", "nan"}));
  // "weight" is visited first, yet nothing moved: checks run before any update.
  BOOST_TEST((m.weight.value.array() == before.weight.value.array()).all());
  BOOST_TEST((opt.state("weight")->exp_avg.array() == weight_state.exp_avg.array()).all());
  BOOST_TEST(opt.state("weight")->steps == 1);
  BOOST_TEST(opt.steps() == 1);

  m.bias.grad(0, 2) = 0.0;
  m.weight.grad.resize(2, 4);
  BOOST_CHECK_EXCEPTION(opt.step(m, 0.01), moerb::error,
                        message_has({"gradient of 'weight'", "2×4", "3×4"}));
}

BOOST_AUTO_TEST_CASE(duplicate_names_are_rejected) {
  moerb::test::VisitedTwice twice;
  moerb::test::fill_toy(twice.inner);
  AdamW opt;
  BOOST_CHECK_EXCEPTION(opt.step(twice, 0.01), moerb::error,
                        message_has({"'weight'", "visited twice"}));
}

BOOST_AUTO_TEST_CASE(invalid_options_and_learning_rates_are_rejected) {
  BOOST_CHECK_EXCEPTION(AdamW(AdamW::Options{.beta1 = 1.0}), moerb::error,
                        message_has({"AdamW", "beta1"}));
  BOOST_CHECK_EXCEPTION(AdamW(AdamW::Options{.beta2 = -0.1}), moerb::error,
                        message_has({"AdamW", "beta2"}));
  BOOST_CHECK_EXCEPTION(AdamW(AdamW::Options{.eps = 0.0}), moerb::error,
                        message_has({"AdamW", "eps"}));
  BOOST_CHECK_EXCEPTION(AdamW(AdamW::Options{.weight_decay = -1.0}), moerb::error,
                        message_has({"AdamW", "weight_decay"}));
  BOOST_CHECK_EXCEPTION(AdamW(AdamW::Options{.lr = std::nan("")}), moerb::error,
                        message_has({"AdamW", "lr"}));
  ToyModel<double> m;
  AdamW opt;
  BOOST_CHECK_EXCEPTION(opt.step(m, -1e-3), moerb::error,
                        message_has({"AdamW::step", "lr = -0.001"}));
  BOOST_TEST(opt.steps() == 0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_train_adamw
