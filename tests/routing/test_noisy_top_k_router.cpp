// Tests for include/moerb/routing/noisy_top_k_router.hpp
#include "moerb/routing/noisy_top_k_router.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "support/gradcheck.hpp"
#include "support/router_testing.hpp"

template class moerb::NoisyTopKRouter<float>;
template class moerb::NoisyTopKRouter<double>;

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_routing_noisy_top_k_router {

using moerb::ForwardContext;
using moerb::Index;
using moerb::Matrix;
using moerb::Rng;
using moerb::Routing;
using Noisy = moerb::NoisyTopKRouter<double>;

using namespace moerb::test;

namespace {

static_assert(moerb::Router<moerb::NoisyTopKRouter<float>>);
static_assert(moerb::Router<Noisy>);
static_assert(moerb::InferenceKOverridable<Noisy>);

Noisy::Options options(Index d, Index e, Index k = 2) {
  Noisy::Options o;
  o.input_dim = d;
  o.num_experts = e;
  o.k = k;
  return o;
}

double softplus(double z) {
  return std::log1p(std::exp(z));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(noisy_top_k_router)

BOOST_AUTO_TEST_CASE(evaluation_is_clean_top_k_softmax) {
  Noisy router(options(5, 6, 2));
  Rng init(1);
  router.initialize(init);
  const Matrix<double> x = random_matrix(12, 5, 2.0, 2);
  const Routing<double>& r = router.forward(x, context(false, 3));
  const Matrix<double> clean = x * router.weight().value;
  BOOST_TEST((r.logits - clean).cwiseAbs().maxCoeff() < 1e-14);
  BOOST_TEST((router.gate_scores() - r.logits).cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST(router.noise().size() == 0);
  BOOST_TEST(r.num_assignments() == 24);
  for (Index t = 0; t < 12; ++t) {
    const double l0 = clean(t, r.selected(t, 0));
    const double l1 = clean(t, r.selected(t, 1));
    for (Index e = 0; e < 6; ++e) {
      if (e != r.selected(t, 0) && e != r.selected(t, 1)) BOOST_TEST(clean(t, e) <= l1);
    }
    BOOST_TEST(l0 >= l1);
    const double w0 = r.weight[static_cast<std::size_t>(r.assignment(t, 0))];
    const double w1 = r.weight[static_cast<std::size_t>(r.assignment(t, 1))];
    BOOST_TEST(std::abs(w0 - 1.0 / (1.0 + std::exp(l1 - l0))) < 1e-14);
    BOOST_TEST(std::abs(w0 + w1 - 1.0) < 1e-14);
  }
  // Another rng gives the same evaluation routing.
  const Routing<double>& r2 = router.forward(x, context(false, 99));
  BOOST_TEST((r2.logits - clean).cwiseAbs().maxCoeff() < 1e-14);
}

BOOST_AUTO_TEST_CASE(training_noise_follows_the_equations_and_is_reproducible) {
  Noisy router(options(5, 6, 3));
  Rng init(4);
  router.initialize(init);
  const Matrix<double> x = random_matrix(10, 5, 2.0, 5);
  router.forward(x, context(true, 7));
  const Matrix<double> eps_a = router.noise();
  const Matrix<double> h_a = router.gate_scores();
  router.forward(x, context(true, 7));
  BOOST_TEST((router.noise() - eps_a).cwiseAbs().maxCoeff() == 0.0);
  router.forward(x, context(true, 8));
  BOOST_TEST((router.noise() - eps_a).cwiseAbs().maxCoeff() > 0.1);
  // The draws are ctx.rng.split(rng_tag::router).normal() in row-major order.
  Rng stream = Rng(7).split(moerb::rng_tag::router);
  for (Index t = 0; t < 10; ++t)
    for (Index e = 0; e < 6; ++e) BOOST_TEST(eps_a(t, e) == stream.normal());
  // H = x·W_g + ε ⊙ softplus(x·W_noise)
  const Matrix<double> clean = x * router.weight().value;
  const Matrix<double> noise_logits = x * router.noise_weight().value;
  for (Index t = 0; t < 10; ++t) {
    for (Index e = 0; e < 6; ++e) {
      const double h = clean(t, e) + eps_a(t, e) * softplus(noise_logits(t, e));
      BOOST_TEST(std::abs(h_a(t, e) - h) < 1e-13);
    }
  }
}

BOOST_AUTO_TEST_CASE(noise_draws_are_standard_normal) {
  Noisy router(options(3, 50, 1));
  const Matrix<double> x = random_matrix(400, 3, 1.0, 9);
  router.forward(x, context(true, 10));
  const Matrix<double>& eps = router.noise();
  const double mean = eps.mean();
  const double var = (eps.array() - mean).square().mean();
  BOOST_TEST(std::abs(mean) < 0.02);
  BOOST_TEST(std::abs(var - 1.0) < 0.03);
}

BOOST_AUTO_TEST_CASE(noise_override_replaces_the_draw_in_training_only) {
  auto o = options(4, 5, 2);
  o.noise_epsilon = 0.01;
  Noisy router(o);
  Rng init(11);
  router.initialize(init);
  const Matrix<double> x = random_matrix(6, 4, 2.0, 12);
  const Matrix<double> eps = random_matrix(6, 5, 2.0, 13);
  router.set_noise_override(eps);
  BOOST_TEST(router.has_noise_override());
  const Routing<double>& r = router.forward(x, context(true, 14));
  BOOST_TEST((router.noise() - eps).cwiseAbs().maxCoeff() == 0.0);
  const Matrix<double> clean = x * router.weight().value;
  const Matrix<double> noise_logits = x * router.noise_weight().value;
  for (Index t = 0; t < 6; ++t) {
    std::vector<double> h(5);
    for (Index e = 0; e < 5; ++e) {
      h[static_cast<std::size_t>(e)] =
          clean(t, e) + eps(t, e) * (softplus(noise_logits(t, e)) + 0.01);
    }
    // The kept entries are the two largest of H; their weights are the softmax over those two.
    const Index a = r.selected(t, 0), b = r.selected(t, 1);
    for (Index e = 0; e < 5; ++e) {
      if (e != a && e != b)
        BOOST_TEST(h[static_cast<std::size_t>(e)] <= h[static_cast<std::size_t>(b)]);
    }
    const double wa = r.weight[static_cast<std::size_t>(r.assignment(t, 0))];
    const double expected =
        1.0 / (1.0 + std::exp(h[static_cast<std::size_t>(b)] - h[static_cast<std::size_t>(a)]));
    BOOST_TEST(std::abs(wa - expected) < 1e-13);
  }
  // Evaluation ignores the override; clearing it returns to the rng draw.
  router.forward(x, context(false));
  BOOST_TEST(router.noise().size() == 0);
  router.clear_noise_override();
  router.forward(x, context(true, 14));
  BOOST_TEST((router.noise() - eps).cwiseAbs().maxCoeff() > 0.1);
  // The override's shape must match the batch.
  router.set_noise_override(random_matrix(7, 5, 1.0, 15));
  CHECK_THROWS_NAMING(router.forward(x, context(true)), "noise override");
  CHECK_THROWS_NAMING(router.set_noise_override(Matrix<double>::Zero(6, 4)), "noise override");
  Matrix<double> nan_eps = Matrix<double>::Zero(6, 5);
  nan_eps(2, 3) = std::nan("");
  CHECK_THROWS_NAMING(router.set_noise_override(nan_eps), "noise override(2, 3)");
}

BOOST_AUTO_TEST_CASE(zero_init_routes_ties_to_lower_indices_in_evaluation) {
  auto o = options(4, 5, 2);
  o.zero_init = true;
  Noisy router(o);
  Rng init(16);
  router.initialize(init);
  BOOST_TEST(router.weight().value.cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST(router.noise_weight().value.cwiseAbs().maxCoeff() == 0.0);
  const Matrix<double> x = random_matrix(5, 4, 1.0, 17);
  const Routing<double>& r = router.forward(x, context(false));
  for (Index t = 0; t < 5; ++t) {
    BOOST_TEST(r.selected(t, 0) == 0);
    BOOST_TEST(r.selected(t, 1) == 1);
    BOOST_TEST(r.weight[static_cast<std::size_t>(r.assignment(t, 0))] == 0.5);
  }
  // In training the noise (scale softplus(0) = log 2) breaks the ties.
  const Routing<double>& rt = router.forward(random_matrix(200, 4, 1.0, 18), context(true));
  for (Index e = 0; e < 5; ++e) BOOST_TEST(rt.load[static_cast<std::size_t>(e)] > 40);
}

BOOST_AUTO_TEST_CASE(inference_k_override_and_capacity) {
  auto o = options(4, 6, 2);
  o.capacity_factor = 0.5;
  Noisy router(o);
  Rng init(19);
  router.initialize(init);
  router.set_inference_k(3);
  const Matrix<double> x = random_matrix(12, 4, 1.0, 20);
  BOOST_TEST(router.forward(x, context(false)).num_assignments() == 36);  // eval: unlimited
  const Routing<double>& r = router.forward(x, context(true));
  BOOST_TEST(r.k == 2);
  BOOST_TEST(router.capacity(12, true) == 2);  // ⌈0.5·12·2/6⌉
  for (Index e = 0; e < 6; ++e) BOOST_TEST(r.load[static_cast<std::size_t>(e)] <= 2);
  BOOST_TEST(r.dropped == 24 - r.num_assignments());
  CHECK_THROWS_NAMING(router.set_inference_k(7), "inference_k");
}

BOOST_AUTO_TEST_CASE(gradients_with_noise) {
  for (const Index k : {Index{1}, Index{2}, Index{3}}) {
    auto o = options(6, 5, k);
    o.load_balancing_weight = 0.0;
    Noisy router(o);
    Rng init(21);
    router.initialize(init);
    // With k = 1 the single kept weight is softmax of one entry = 1: no gradient (the paper needs
    // k > 1 for the gate to learn without auxiliary losses).
    const auto results = gradcheck(router, random_matrix(8, 6, 2.0, 22), context(true, 23), k == 1);
    BOOST_TEST(results.size() == 3u);  // input, weight, noise_weight
  }
}

BOOST_AUTO_TEST_CASE(gradients_with_aux_losses_floor_and_capacity) {
  auto o = options(6, 5, 2);
  o.load_balancing_weight = 0.3;
  o.z_loss_weight = 0.1;
  o.noise_epsilon = 0.05;
  o.capacity_factor = 0.8;
  Noisy router(o);
  Rng init(24);
  router.initialize(init);
  const Matrix<double> x = random_matrix(10, 6, 2.0, 25);
  const ForwardContext ctx = context(true, 26);
  BOOST_TEST_REQUIRE(router.forward(x, ctx).dropped > 0);
  gradcheck(router, x, ctx);
  // With an injected draw, too.
  router.set_noise_override(random_matrix(10, 5, 1.5, 27));
  gradcheck(router, x, ctx);
}

BOOST_AUTO_TEST_CASE(gradients_in_evaluation_leave_the_noise_weight_alone) {
  auto o = options(6, 5, 2);
  o.z_loss_weight = 0.1;
  Noisy router(o);
  Rng init(28);
  router.initialize(init);
  // W_noise does not enter an evaluation forward: its numerical and analytic gradients are 0.
  const auto results = gradcheck(router, random_matrix(8, 6, 2.0, 29), context(false));
  BOOST_TEST(router.noise_weight().grad.cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST(results.size() == 3u);
}

BOOST_AUTO_TEST_CASE(frozen_parameters_get_no_gradient) {
  for (const char* which : {"weight", "noise_weight"}) {
    auto o = options(6, 5, 2);
    o.load_balancing_weight = 0.2;
    Noisy router(o);
    Rng init(30);
    router.initialize(init);
    BOOST_TEST(moerb::set_frozen(router, which) == 1);
    const auto results = gradcheck(router, random_matrix(8, 6, 2.0, 31), context(true, 32));
    BOOST_TEST(results.size() == 2u);  // input + the unfrozen one
  }
}

BOOST_AUTO_TEST_CASE(parameters_are_named_under_the_prefix) {
  Noisy router(options(4, 3));
  std::vector<std::string> names;
  router.visit_parameters(
      [&](std::string_view n, moerb::Parameter<double>&) { names.emplace_back(n); }, "router");
  BOOST_TEST((names == std::vector<std::string>{"router.weight", "router.noise_weight"}));
  BOOST_TEST(moerb::parameter_count(router) == 24);
}

BOOST_AUTO_TEST_CASE(float_instantiation_runs) {
  moerb::NoisyTopKRouter<float>::Options o;
  o.input_dim = 4;
  o.num_experts = 3;
  moerb::NoisyTopKRouter<float> router(o);
  Rng init(33);
  router.initialize(init);
  const Matrix<float> x = random_matrix(6, 4, 1.0, 34).cast<float>();
  const Routing<float>& r = router.forward(x, context(true));
  BOOST_TEST(r.num_assignments() == 12);
  std::vector<float> dw(12, 1.0f);
  Matrix<float> dx = Matrix<float>::Zero(6, 4);
  router.backward(x, dw, dx);
  BOOST_TEST(dx.allFinite());
}

BOOST_AUTO_TEST_CASE(invalid_options_and_inputs_throw_naming_the_parameter) {
  auto make = [](auto edit) {
    Noisy::Options o = options(4, 3);
    edit(o);
    Noisy r(o);
  };
  CHECK_THROWS_NAMING(make([](Noisy::Options& o) { o.input_dim = -1; }), "input_dim");
  CHECK_THROWS_NAMING(make([](Noisy::Options& o) { o.num_experts = 0; }), "num_experts");
  CHECK_THROWS_NAMING(make([](Noisy::Options& o) { o.k = 0; }), "k = 0");
  CHECK_THROWS_NAMING(make([](Noisy::Options& o) { o.k = 4; }), "k = 4");
  CHECK_THROWS_NAMING(make([](Noisy::Options& o) { o.noise_epsilon = -1e-3; }), "noise_epsilon");
  CHECK_THROWS_NAMING(make([](Noisy::Options& o) { o.capacity_factor = 0.0; }), "capacity_factor");
  CHECK_THROWS_NAMING(make([](Noisy::Options& o) { o.eval_capacity_factor = -2.0; }),
                      "eval_capacity_factor");
  CHECK_THROWS_NAMING(make([](Noisy::Options& o) { o.load_balancing_weight = -1.0; }),
                      "load_balancing_weight");
  CHECK_THROWS_NAMING(make([](Noisy::Options& o) { o.z_loss_weight = std::nan(""); }),
                      "z_loss_weight");

  Noisy router(options(4, 3));
  Rng init(35);
  router.initialize(init);
  CHECK_THROWS_NAMING(router.forward(Matrix<double>::Zero(2, 3), context(true)), "x has 3 columns");
  Matrix<double> bad = Matrix<double>::Zero(2, 4);
  bad(0, 3) = -INFINITY;
  CHECK_THROWS_NAMING(router.forward(bad, context(true)), "x(0, 3)");
  router.noise_weight().value(1, 1) = std::nan("");
  CHECK_THROWS_NAMING(router.forward(Matrix<double>::Zero(2, 4), context(true)),
                      "noise_weight(1, 1)");
  router.weight().value(2, 0) = INFINITY;
  CHECK_THROWS_NAMING(router.forward(Matrix<double>::Zero(2, 4), context(true)), "weight(2, 0)");
}

// ---- backward_logits (RouterLogitsDifferentiable): a loss on the router logits -------------

BOOST_AUTO_TEST_CASE(backward_logits_matches_finite_differences) {
  // L = Σ routing.logits ⊙ C: backward_logits passes C through the gate alone, to x and W.
  static_assert(moerb::RouterLogitsDifferentiable<Noisy>);
  Noisy router(options(5, 4));
  Rng init(41);
  router.initialize(init);
  moerb::test::check_backward_logits(router, Noisy(options(5, 4)), true, "NoisyTopKRouter");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_routing_noisy_top_k_router
