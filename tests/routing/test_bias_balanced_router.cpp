// Tests for include/moerb/routing/bias_balanced_router.hpp
#include "moerb/routing/bias_balanced_router.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "support/gradcheck.hpp"
#include "support/router_testing.hpp"

template class moerb::BiasBalancedRouter<float>;
template class moerb::BiasBalancedRouter<double>;

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_routing_bias_balanced_router {

using moerb::ForwardContext;
using moerb::Index;
using moerb::Matrix;
using moerb::Rng;
using moerb::Routing;
using Biased = moerb::BiasBalancedRouter<double>;

using namespace moerb::test;

namespace {

static_assert(moerb::Router<moerb::BiasBalancedRouter<float>>);
static_assert(moerb::Router<Biased>);
static_assert(moerb::InferenceKOverridable<Biased>);

Biased::Options options(Index d, Index e, Index k = 2) {
  Biased::Options o;
  o.input_dim = d;
  o.num_experts = e;
  o.k = k;
  return o;
}

double sigmoid(double z) {
  return 1.0 / (1.0 + std::exp(-z));
}

// A batch in which every token ranks the experts 0 > 1 > ... by affinity.
Biased skewed_router(Index E, Index k) {
  Biased router(options(2, E, k));
  for (Index e = 0; e < E; ++e) {
    router.weight().value(0, e) = 1.0 - 0.2 * static_cast<double>(e);
    router.weight().value(1, e) = 0.0;
  }
  return router;
}

Matrix<double> positive_batch(Index T) {
  Matrix<double> x(T, 2);
  for (Index t = 0; t < T; ++t) {
    x(t, 0) = 1.0 + 0.05 * static_cast<double>(t);
    x(t, 1) = 0.3;
  }
  return x;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bias_balanced_router)

BOOST_AUTO_TEST_CASE(sigmoid_affinities_biased_selection_normalised_weights) {
  auto o = options(5, 6, 3);
  o.routed_scaling_factor = 2.5;
  Biased router(o);
  Rng init(1);
  router.initialize(init);
  Matrix<double> b(1, 6);
  b << 0.0, 0.3, -0.2, 0.1, 0.0, -0.4;
  router.set_bias(b);
  const Matrix<double> x = random_matrix(16, 5, 2.0, 2);
  const Routing<double>& r = router.forward(x, context(false));
  const Matrix<double> logits = x * router.weight().value;
  BOOST_TEST(r.num_assignments() == 48);
  for (Index t = 0; t < 16; ++t) {
    double sum = 0;
    for (Index j = 0; j < 3; ++j) sum += sigmoid(logits(t, r.selected(t, j)));
    double wsum = 0;
    for (Index e = 0; e < 6; ++e)
      BOOST_TEST(std::abs(r.probs(t, e) - sigmoid(logits(t, e))) < 1e-15);
    for (Index j = 0; j < 3; ++j) {
      const Index e = r.selected(t, j);
      // Selected by s + b: every unselected expert scores no higher than the last selected.
      if (j > 0) {
        const Index prev = r.selected(t, j - 1);
        BOOST_TEST(r.probs(t, prev) + b(0, prev) >= r.probs(t, e) + b(0, e));
      }
      const double w = r.weight[static_cast<std::size_t>(r.assignment(t, j))];
      BOOST_TEST(std::abs(w - 2.5 * r.probs(t, e) / sum) < 1e-14);  // combine uses s, not s + b
      wsum += w;
    }
    for (Index e = 0; e < 6; ++e) {
      bool chosen = false;
      for (Index j = 0; j < 3; ++j) chosen = chosen || r.selected(t, j) == e;
      const Index last = r.selected(t, 2);
      if (!chosen) BOOST_TEST(r.probs(t, e) + b(0, e) <= r.probs(t, last) + b(0, last));
    }
    BOOST_TEST(std::abs(wsum - 2.5) < 1e-14);
  }
  BOOST_TEST(r.aux_loss == 0.0);
}

BOOST_AUTO_TEST_CASE(unnormalised_weights_are_scaled_affinities) {
  auto o = options(4, 5, 2);
  o.normalize = false;
  o.routed_scaling_factor = 1.5;
  Biased router(o);
  Rng init(3);
  router.initialize(init);
  const Routing<double>& r = router.forward(random_matrix(8, 4, 1.0, 4), context(false));
  for (Index t = 0; t < 8; ++t)
    for (Index j = 0; j < 2; ++j)
      BOOST_TEST(r.weight[static_cast<std::size_t>(r.assignment(t, j))] ==
                 1.5 * r.probs(t, r.selected(t, j)));
}

BOOST_AUTO_TEST_CASE(bias_steers_selection) {
  Biased router = skewed_router(4, 1);
  const Matrix<double> x = positive_batch(8);
  BOOST_TEST(router.forward(x, context(false)).load[0] == 8);
  Matrix<double> b = Matrix<double>::Zero(1, 4);
  b(0, 3) = 1.0;  // larger than any affinity gap
  router.set_bias(b);
  const Routing<double>& r = router.forward(x, context(false));
  BOOST_TEST(r.load[3] == 8);
  // Weight is still computed from the affinity: with k = 1 and normalisation it is c = 1.
  BOOST_TEST(std::abs(r.weight[0] - 1.0) < 1e-15);
}

BOOST_AUTO_TEST_CASE(update_bias_moves_towards_balance) {
  Biased router = skewed_router(4, 1);
  const Matrix<double> x = positive_batch(8);
  const Routing<double>& r = router.forward(x, context(true));
  BOOST_TEST(r.load[0] == 8);  // loads (8, 0, 0, 0), mean 2
  BOOST_TEST(router.pending_forwards() == 1);
  router.update_bias(0.1);
  BOOST_TEST(router.bias()(0, 0) == -0.1);
  for (Index e = 1; e < 4; ++e) BOOST_TEST(router.bias()(0, e) == 0.1);
  BOOST_TEST(router.pending_forwards() == 0);
  const auto pending = router.pending_load();
  BOOST_TEST(std::all_of(pending.begin(), pending.end(), [](Index v) { return v == 0; }));
  // Loads add up over the training forwards since the last update: 2 forwards of 4 tokens with
  // k = 2 give (8, 8, 0, 0), mean 4 -> experts 0, 1 go down, 2, 3 up.
  Biased two = skewed_router(4, 2);
  two.forward(positive_batch(4), context(true));
  two.forward(positive_batch(4), context(true));
  BOOST_TEST(two.pending_load()[0] == 8);
  BOOST_TEST(two.pending_load()[1] == 8);
  two.update_bias(0.5);
  BOOST_TEST(two.bias()(0, 0) == -0.5);
  BOOST_TEST(two.bias()(0, 1) == -0.5);
  BOOST_TEST(two.bias()(0, 2) == 0.5);
  BOOST_TEST(two.bias()(0, 3) == 0.5);
  Biased eq = skewed_router(2, 1);
  Matrix<double> b(1, 2);
  b << 0.0, 10.0;
  eq.set_bias(b);
  Matrix<double> half = positive_batch(4);
  eq.forward(half, context(true));  // all to expert 1: loads (0, 4)
  eq.set_bias(Matrix<double>::Zero(1, 2));
  eq.forward(half, context(true));  // all to expert 0: loads (4, 4) in total, both at the mean
  eq.update_bias(0.3);
  BOOST_TEST(eq.bias().cwiseAbs().maxCoeff() == 0.0);
}

BOOST_AUTO_TEST_CASE(repeated_updates_balance_the_load) {
  Biased router(options(4, 4, 1));
  Rng init(5);
  router.initialize(init);
  router.weight().value.col(0).array() += 0.8;  // expert 0 is favoured by most tokens
  const Matrix<double> x = random_matrix(64, 4, 1.0, 6).array() + 0.5;
  const Routing<double>& r0 = router.forward(x, context(true));
  const Index initial_max = *std::max_element(r0.load.begin(), r0.load.end());
  BOOST_TEST(initial_max > 32);
  for (int step = 0; step < 200; ++step) {
    router.update_bias(0.01);
    router.forward(x, context(true));
  }
  router.update_bias(0.0);  // γ = 0 leaves the bias alone but resets the count
  const Routing<double>& r = router.forward(x, context(false));
  const Index final_max = *std::max_element(r.load.begin(), r.load.end());
  BOOST_TEST(final_max < 24);  // mean 16
  BOOST_TEST(router.bias()(0, 0) < 0.0);
}

BOOST_AUTO_TEST_CASE(evaluation_does_not_count_load) {
  Biased router = skewed_router(3, 1);
  router.forward(positive_batch(5), context(false));
  BOOST_TEST(router.pending_forwards() == 0);
  CHECK_THROWS_NAMING(router.update_bias(0.1), "no training forward");
  router.forward(positive_batch(5), context(true));
  router.update_bias(0.1);
  CHECK_THROWS_NAMING(router.update_bias(0.1), "no training forward");
}

BOOST_AUTO_TEST_CASE(bias_is_a_buffer_not_a_parameter) {
  Biased router(options(4, 3));
  std::vector<std::string> params, buffers;
  router.visit_parameters(
      [&](std::string_view n, moerb::Parameter<double>&) { params.emplace_back(n); }, "router");
  router.visit_buffers(
      [&](std::string_view n, Matrix<double>& m) {
        buffers.emplace_back(n);
        BOOST_TEST(m.rows() == 1);
        BOOST_TEST(m.cols() == 3);
        m(0, 2) = 0.25;  // a checkpoint loader writes through the visitor
      },
      "router");
  BOOST_TEST(params == std::vector<std::string>{"router.weight"});
  BOOST_TEST(buffers == std::vector<std::string>{"router.bias"});
  BOOST_TEST(router.bias()(0, 2) == 0.25);
  BOOST_TEST(moerb::parameter_count(router) == 12);
  BOOST_TEST(moerb::set_frozen(router, "", false) == 1);  // unfreezing never reaches the bias
  // set_bias takes any vector with num_experts entries.
  moerb::Vector<double> v(3);
  v << 1.0, 2.0, 3.0;
  router.set_bias(v);
  BOOST_TEST(router.bias()(0, 1) == 2.0);
}

BOOST_AUTO_TEST_CASE(inference_k_override_and_capacity) {
  auto o = options(4, 5, 2);
  o.capacity_factor = 1.0;
  Biased router(o);
  Rng init(7);
  router.initialize(init);
  router.set_inference_k(4);
  const Matrix<double> x = random_matrix(10, 4, 1.0, 8);
  const Routing<double>& re = router.forward(x, context(false));
  BOOST_TEST(re.k == 4);
  BOOST_TEST(re.num_assignments() == 40);
  BOOST_TEST(router.pending_forwards() == 0);
  const Routing<double>& rt = router.forward(x, context(true));
  BOOST_TEST(rt.k == 2);
  for (Index e = 0; e < 5; ++e) BOOST_TEST(rt.load[static_cast<std::size_t>(e)] <= 4);  // ⌈10·2/5⌉
  // The bias counts choices before capacity.
  Index pending = 0;
  for (Index v : router.pending_load()) pending += v;
  BOOST_TEST(pending == 20);
  CHECK_THROWS_NAMING(router.set_inference_k(0), "inference_k");
}

BOOST_AUTO_TEST_CASE(gradients) {
  for (const bool normalize : {true, false}) {
    for (const Index k : {Index{1}, Index{2}, Index{3}}) {
      auto o = options(6, 5, k);
      o.normalize = normalize;
      o.routed_scaling_factor = 2.5;
      Biased router(o);
      Rng init(9);
      router.initialize(init);
      Matrix<double> b(1, 5);
      b << 0.05, -0.1, 0.2, 0.0, -0.05;
      router.set_bias(b);
      // Normalised top-1 weights are the constant c: no gradient.
      gradcheck(router, random_matrix(8, 6, 2.0, 10), context(true), normalize && k == 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(gradients_with_capacity_drops_and_frozen_weight) {
  auto o = options(6, 5, 2);
  o.capacity_factor = 0.6;
  Biased router(o);
  Rng init(11);
  router.initialize(init);
  const Matrix<double> x = random_matrix(10, 6, 2.0, 12);
  BOOST_TEST_REQUIRE(router.forward(x, context(true)).dropped > 0);
  gradcheck(router, x, context(true));
  router.weight().frozen = true;
  const auto results = gradcheck(router, x, context(true));
  BOOST_TEST(results.size() == 1u);
  BOOST_TEST(router.weight().grad.cwiseAbs().maxCoeff() == 0.0);
}

BOOST_AUTO_TEST_CASE(float_instantiation_runs) {
  moerb::BiasBalancedRouter<float>::Options o;
  o.input_dim = 4;
  o.num_experts = 6;
  moerb::BiasBalancedRouter<float> router(o);
  Rng init(13);
  router.initialize(init);
  const Matrix<float> x = random_matrix(9, 4, 1.0, 14).cast<float>();
  const Routing<float>& r = router.forward(x, context(true));
  std::vector<float> dw(static_cast<std::size_t>(r.num_assignments()), 1.0f);
  Matrix<float> dx = Matrix<float>::Zero(9, 4);
  router.backward(x, dw, dx);
  BOOST_TEST(dx.allFinite());
  router.update_bias();
  BOOST_TEST(router.bias().cwiseAbs().maxCoeff() == 0.001f);
}

BOOST_AUTO_TEST_CASE(invalid_options_and_inputs_throw_naming_the_parameter) {
  auto make = [](auto edit) {
    Biased::Options o = options(4, 3);
    edit(o);
    Biased r(o);
  };
  CHECK_THROWS_NAMING(make([](Biased::Options& o) { o.input_dim = 0; }), "input_dim");
  CHECK_THROWS_NAMING(make([](Biased::Options& o) { o.num_experts = 0; }), "num_experts");
  CHECK_THROWS_NAMING(make([](Biased::Options& o) { o.k = 0; }), "k = 0");
  CHECK_THROWS_NAMING(make([](Biased::Options& o) { o.k = 4; }), "k = 4");
  CHECK_THROWS_NAMING(make([](Biased::Options& o) { o.routed_scaling_factor = 0.0; }),
                      "routed_scaling_factor");
  CHECK_THROWS_NAMING(make([](Biased::Options& o) { o.bias_update_rate = -0.01; }),
                      "bias_update_rate");
  CHECK_THROWS_NAMING(make([](Biased::Options& o) { o.capacity_factor = 0.0; }), "capacity_factor");
  CHECK_THROWS_NAMING(make([](Biased::Options& o) { o.eval_capacity_factor = -1.0; }),
                      "eval_capacity_factor");

  Biased router(options(4, 3));
  Rng init(15);
  router.initialize(init);
  CHECK_THROWS_NAMING(router.set_bias(Matrix<double>::Zero(1, 4)), "bias has shape 1×4");
  CHECK_THROWS_NAMING(router.set_bias(Matrix<double>::Zero(3, 3)), "bias has shape 3×3");
  Matrix<double> nan_bias = Matrix<double>::Zero(1, 3);
  nan_bias(0, 1) = std::nan("");
  CHECK_THROWS_NAMING(router.set_bias(nan_bias), "bias(0, 1)");
  // A buffer corrupted through visit_buffers is caught by the next forward.
  router.visit_buffers([](std::string_view, Matrix<double>& m) { m(0, 0) = INFINITY; }, "");
  CHECK_THROWS_NAMING(router.forward(Matrix<double>::Zero(2, 4), context(true)), "bias(0, 0)");
  router.set_bias(Matrix<double>::Zero(1, 3));
  CHECK_THROWS_NAMING(router.forward(Matrix<double>::Zero(2, 6), context(true)), "x has 6 columns");
  Matrix<double> bad = Matrix<double>::Zero(2, 4);
  bad(1, 1) = std::nan("");
  CHECK_THROWS_NAMING(router.forward(bad, context(true)), "x(1, 1)");
  router.weight().value(3, 2) = -INFINITY;
  CHECK_THROWS_NAMING(router.forward(Matrix<double>::Zero(2, 4), context(true)), "weight(3, 2)");
  router.weight().value(3, 2) = 0.0;
  router.forward(Matrix<double>::Zero(2, 4), context(true));
  CHECK_THROWS_NAMING(router.update_bias(-0.1), "gamma");
  CHECK_THROWS_NAMING(router.update_bias(std::nan("")), "gamma");
}

// ---- backward_logits (RouterLogitsDifferentiable): a loss on the router logits -------------

BOOST_AUTO_TEST_CASE(backward_logits_matches_finite_differences) {
  // L = Σ routing.logits ⊙ C: backward_logits passes C through the gate alone, to x and W.
  static_assert(moerb::RouterLogitsDifferentiable<Biased>);
  Biased router(options(5, 4));
  Rng init(41);
  router.initialize(init);
  moerb::test::check_backward_logits(router, Biased(options(5, 4)), false, "BiasBalancedRouter");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_routing_bias_balanced_router
