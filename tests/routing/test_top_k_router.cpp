// Tests for include/moerb/routing/top_k_router.hpp (TopKRouter, MixtralRouter, SwitchRouter).
#include "moerb/routing/top_k_router.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "support/gradcheck.hpp"
#include "support/router_testing.hpp"

// Instantiate every member of every convention in both precisions (catches -Werror issues in
// code the test cases do not reach).
template class moerb::TopKRouterType<float, moerb::SoftmaxThenTopK>;
template class moerb::TopKRouterType<double, moerb::SoftmaxThenTopK>;
template class moerb::TopKRouterType<float, moerb::TopKThenSoftmax>;
template class moerb::TopKRouterType<double, moerb::TopKThenSoftmax>;
template class moerb::TopKRouterType<float, moerb::SwitchTop1>;
template class moerb::TopKRouterType<double, moerb::SwitchTop1>;

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_routing_top_k_router {

using moerb::ForwardContext;
using moerb::Index;
using moerb::Matrix;
using moerb::Rng;
using moerb::Routing;

using namespace moerb::test;

namespace {

static_assert(moerb::Router<moerb::TopKRouter<float>>);
static_assert(moerb::Router<moerb::TopKRouter<double>>);
static_assert(moerb::Router<moerb::MixtralRouter<double>>);
static_assert(moerb::Router<moerb::SwitchRouter<double>>);
static_assert(moerb::InferenceKOverridable<moerb::TopKRouter<double>>);
static_assert(moerb::InferenceKOverridable<moerb::SwitchRouter<float>>);

// Checks the expert-grouped layout against `selected` and `assignment`.
template <class S>
void check_layout(const Routing<S>& r) {
  BOOST_TEST(static_cast<Index>(r.offsets.size()) == r.num_experts + 1);
  BOOST_TEST(r.offsets.front() == 0);
  BOOST_TEST(r.offsets.back() == r.num_assignments());
  Index kept = 0;
  for (Index e = 0; e < r.num_experts; ++e) {
    BOOST_TEST(r.load[static_cast<std::size_t>(e)] == r.end(e) - r.begin(e));
    for (Index a = r.begin(e); a < r.end(e); ++a) {
      const Index t = r.token[static_cast<std::size_t>(a)];
      if (a > r.begin(e)) BOOST_TEST(r.token[static_cast<std::size_t>(a) - 1] < t);
      const Index j = r.slot[static_cast<std::size_t>(a)];
      BOOST_TEST(r.selected(t, j) == e);
      BOOST_TEST(r.assignment(t, j) == a);
      ++kept;
    }
  }
  BOOST_TEST(kept + r.dropped == r.num_tokens * r.k);
}

template <class R>
typename R::Options options(Index d, Index e) {
  typename R::Options o;
  o.input_dim = d;
  o.num_experts = e;
  return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(top_k_router)

BOOST_AUTO_TEST_CASE(softmax_then_top_k_weights_and_layout) {
  for (const bool renormalize : {true, false}) {
    auto o = options<moerb::TopKRouter<double>>(5, 6);
    o.k = 2;
    o.renormalize = renormalize;
    moerb::TopKRouter<double> router(o);
    Rng init(1);
    router.initialize(init);
    const Matrix<double> x = random_matrix(20, 5, 2.0, 2);
    const Routing<double>& r = router.forward(x, context(false));
    BOOST_TEST(r.num_tokens == 20);
    BOOST_TEST(r.k == 2);
    BOOST_TEST(r.num_assignments() == 40);
    BOOST_TEST(r.dropped == 0);
    BOOST_TEST(r.unrouted_tokens == 0);
    check_layout(r);
    const Matrix<double> logits = x * router.weight().value;
    BOOST_TEST((r.logits - logits).cwiseAbs().maxCoeff() < 1e-14);
    for (Index t = 0; t < 20; ++t) {
      BOOST_TEST(std::abs(r.probs.row(t).sum() - 1.0) < 1e-12);
      // The two largest logits, the larger first.
      Index best = 0;
      for (Index e = 1; e < 6; ++e) best = logits(t, e) > logits(t, best) ? e : best;
      BOOST_TEST(r.selected(t, 0) == best);
      for (Index e = 0; e < 6; ++e) {
        if (e != best) BOOST_TEST(logits(t, e) <= logits(t, r.selected(t, 1)));
      }
      const double p0 = r.probs(t, r.selected(t, 0));
      const double p1 = r.probs(t, r.selected(t, 1));
      const double w0 = r.weight[static_cast<std::size_t>(r.assignment(t, 0))];
      const double w1 = r.weight[static_cast<std::size_t>(r.assignment(t, 1))];
      if (renormalize) {
        BOOST_TEST(std::abs(w0 - p0 / (p0 + p1)) < 1e-14);
        BOOST_TEST(std::abs(w0 + w1 - 1.0) < 1e-14);
      } else {
        BOOST_TEST(w0 == p0);
        BOOST_TEST(w1 == p1);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(mixtral_softmax_over_selected_logits) {
  auto o = options<moerb::MixtralRouter<double>>(4, 5);
  o.k = 3;
  moerb::MixtralRouter<double> router(o);
  Rng init(3);
  router.initialize(init);
  const Matrix<double> x = random_matrix(12, 4, 2.0, 4);
  const Routing<double>& r = router.forward(x, context(false));
  check_layout(r);
  // Same routing as the renormalised GShard convention (mathematically equal).
  auto og = options<moerb::TopKRouter<double>>(4, 5);
  og.k = 3;
  og.renormalize = true;
  moerb::TopKRouter<double> gshard(og);
  gshard.weight().value = router.weight().value;
  const Routing<double>& rg = gshard.forward(x, context(false));
  for (Index t = 0; t < 12; ++t) {
    double z = 0;
    for (Index j = 0; j < 3; ++j) z += std::exp(r.logits(t, r.selected(t, j)));
    double sum = 0;
    for (Index j = 0; j < 3; ++j) {
      const double w = r.weight[static_cast<std::size_t>(r.assignment(t, j))];
      BOOST_TEST(std::abs(w - std::exp(r.logits(t, r.selected(t, j))) / z) < 1e-14);
      BOOST_TEST(rg.selected(t, j) == r.selected(t, j));
      BOOST_TEST(std::abs(rg.weight[static_cast<std::size_t>(rg.assignment(t, j))] - w) < 1e-14);
      sum += w;
    }
    BOOST_TEST(std::abs(sum - 1.0) < 1e-14);
  }
  // probs stay the softmax over all experts (what the load-balancing loss reads).
  BOOST_TEST((r.probs - rg.probs).cwiseAbs().maxCoeff() == 0.0);
}

BOOST_AUTO_TEST_CASE(switch_top1_defaults_and_weights) {
  auto o = options<moerb::SwitchRouter<double>>(6, 4);
  moerb::SwitchRouter<double> router(o);
  BOOST_TEST(router.k() == 1);
  BOOST_TEST(!router.options().renormalize);
  BOOST_TEST(*router.options().capacity_factor == 1.25);
  BOOST_TEST(*router.options().eval_capacity_factor == 2.0);
  BOOST_TEST(router.capacity(16, true) == 5);   // ⌈1.25·16·1/4⌉
  BOOST_TEST(router.capacity(16, false) == 8);  // ⌈2.0·16·1/4⌉
  Rng init(5);
  router.initialize(init);
  const Matrix<double> x = random_matrix(16, 6, 2.0, 6);
  const Routing<double>& r = router.forward(x, context(false));
  check_layout(r);
  for (Index t = 0; t < 16; ++t) {
    Index best = 0;
    for (Index e = 1; e < 4; ++e) best = r.probs(t, e) > r.probs(t, best) ? e : best;
    BOOST_TEST(r.selected(t, 0) == best);
    const Index a = r.assignment(t, 0);
    if (a >= 0) BOOST_TEST(r.weight[static_cast<std::size_t>(a)] == r.probs(t, best));
  }
  for (Index e = 0; e < 4; ++e) BOOST_TEST(r.load[static_cast<std::size_t>(e)] <= 8);
}

BOOST_AUTO_TEST_CASE(ties_break_towards_lower_expert_index) {
  auto o = options<moerb::TopKRouter<double>>(3, 5);
  o.k = 3;
  o.renormalize = false;
  moerb::TopKRouter<double> router(o);  // weight is zero: every logit ties
  const Matrix<double> x = random_matrix(4, 3, 1.0, 7);
  const Routing<double>& r = router.forward(x, context(false));
  for (Index t = 0; t < 4; ++t) {
    for (Index j = 0; j < 3; ++j) {
      BOOST_TEST(r.selected(t, j) == j);
      BOOST_TEST(r.weight[static_cast<std::size_t>(r.assignment(t, j))] == 0.2);
    }
  }
  BOOST_TEST(r.load[3] == 0);
  BOOST_TEST(r.load[0] == 4);
}

BOOST_AUTO_TEST_CASE(capacity_drops_when_all_tokens_prefer_expert_zero) {
  // Logits 4·x0, 3·x0, 2·x0, 1·x0 with x0 > 0: every token ranks experts 0 > 1 > 2 > 3.
  const Index T = 8;
  Matrix<double> x(T, 2);
  for (Index t = 0; t < T; ++t) {
    x(t, 0) = 1.0 + 0.1 * static_cast<double>(t);
    x(t, 1) = 0.0;
  }
  for (const Index k : {Index{1}, Index{2}}) {
    auto o = options<moerb::TopKRouter<double>>(2, 4);
    o.k = k;
    o.capacity_factor = 1.0;
    moerb::TopKRouter<double> router(o);
    router.weight().value << 4, 3, 2, 1, 0, 0, 0, 0;
    const Routing<double>& r = router.forward(x, context(true));
    check_layout(r);
    const Index capacity = 2 * k;  // ⌈1.0·8·k/4⌉
    BOOST_TEST(router.capacity(T, true) == capacity);
    BOOST_TEST(r.load[0] == capacity);
    // First choices: tokens 0..capacity-1 keep expert 0 (token order within a choice rank).
    for (Index t = 0; t < T; ++t) BOOST_TEST((r.assignment(t, 0) >= 0) == (t < capacity));
    if (k == 1) {
      BOOST_TEST(r.dropped == 6);
      BOOST_TEST(r.unrouted_tokens == 6);
      BOOST_TEST(r.drop_rate() == 0.75);
    } else {
      // Second choices all go to expert 1, also capacity 4: tokens 0..3 kept.
      BOOST_TEST(r.load[1] == 4);
      for (Index t = 0; t < T; ++t) BOOST_TEST((r.assignment(t, 1) >= 0) == (t < 4));
      BOOST_TEST(r.dropped == 8);
      BOOST_TEST(r.unrouted_tokens == 4);
    }
    // The load-balancing loss still counts the dropped choices: f = (1, 0, 0, 0) for k = 1.
    std::vector<double> f(4, 0.0);
    for (Index t = 0; t < T; ++t)
      for (Index j = 0; j < k; ++j)
        f[static_cast<std::size_t>(r.selected(t, j))] += 1.0 / static_cast<double>(T * k);
    double expected = 0;
    for (Index e = 0; e < 4; ++e)
      expected += f[static_cast<std::size_t>(e)] * r.probs.col(e).mean();
    BOOST_TEST(std::abs(r.load_balancing_loss - 4 * expected) < 1e-12);
  }
}

BOOST_AUTO_TEST_CASE(inference_k_override_applies_in_evaluation_only) {
  auto o = options<moerb::TopKRouter<double>>(4, 6);
  o.k = 2;
  moerb::TopKRouter<double> router(o);
  Rng init(8);
  router.initialize(init);
  BOOST_TEST(router.inference_k() == 2);
  router.set_inference_k(4);
  BOOST_TEST(router.inference_k() == 4);
  BOOST_TEST(router.k() == 2);
  const Matrix<double> x = random_matrix(10, 4, 1.0, 9);
  const Routing<double>& re = router.forward(x, context(false));
  BOOST_TEST(re.k == 4);
  BOOST_TEST(re.selected.cols() == 4);
  BOOST_TEST(re.num_assignments() == 40);
  check_layout(re);
  for (Index t = 0; t < 10; ++t) {
    double sum = 0;
    for (Index j = 0; j < 4; ++j) sum += re.weight[static_cast<std::size_t>(re.assignment(t, j))];
    BOOST_TEST(std::abs(sum - 1.0) < 1e-14);
  }
  const Routing<double>& rt = router.forward(x, context(true));
  BOOST_TEST(rt.k == 2);
  BOOST_TEST(rt.num_assignments() == 20);
  router.reset_inference_k();
  BOOST_TEST(router.forward(x, context(false)).k == 2);
  CHECK_THROWS_NAMING(router.set_inference_k(0), "inference_k");
  CHECK_THROWS_NAMING(router.set_inference_k(7), "inference_k");
  // Switch (trained top-1) evaluated at k = 2: weights are the two probabilities, not renormalised.
  moerb::SwitchRouter<double> sw(options<moerb::SwitchRouter<double>>(4, 6));
  sw.weight().value = router.weight().value;
  sw.set_inference_k(2);
  const Routing<double>& rs = sw.forward(x, context(false));
  BOOST_TEST(rs.k == 2);
  for (Index t = 0; t < 10; ++t) {
    for (Index j = 0; j < 2; ++j) {
      const Index a = rs.assignment(t, j);
      if (a >= 0)
        BOOST_TEST(rs.weight[static_cast<std::size_t>(a)] == rs.probs(t, rs.selected(t, j)));
    }
  }
}

BOOST_AUTO_TEST_CASE(jitter_only_in_training_and_reproducible) {
  auto o = options<moerb::TopKRouter<double>>(5, 4);
  o.jitter = 0.1;
  moerb::TopKRouter<double> router(o);
  Rng init(10);
  router.initialize(init);
  const Matrix<double> x = random_matrix(9, 5, 1.0, 11);
  const Matrix<double> clean = x * router.weight().value;
  // Evaluation: no jitter whatever the rng.
  BOOST_TEST((router.forward(x, context(false, 1)).logits - clean).cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST((router.forward(x, context(false, 2)).logits - clean).cwiseAbs().maxCoeff() == 0.0);
  // Training: jittered, same numbers for the same ctx.rng, different for another.
  const Matrix<double> a = router.forward(x, context(true, 1)).logits;
  const Matrix<double> b = router.forward(x, context(true, 1)).logits;
  const Matrix<double> c = router.forward(x, context(true, 2)).logits;
  BOOST_TEST((a - b).cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST((a - clean).cwiseAbs().maxCoeff() > 1e-4);
  BOOST_TEST((a - c).cwiseAbs().maxCoeff() > 1e-4);
  // Each jitter factor lies in [1 − ε, 1 + ε]: |logit − clean| <= ε·Σ_d |x_d·W_de|.
  const Matrix<double> bound = 0.1 * (x.cwiseAbs() * router.weight().value.cwiseAbs());
  BOOST_TEST(((a - clean).cwiseAbs() - bound).maxCoeff() <= 1e-12);
  // Temperature divides the logits.
  auto ot = o;
  ot.temperature = 2.0;
  moerb::TopKRouter<double> hot(ot);
  hot.weight().value = router.weight().value;
  BOOST_TEST((hot.forward(x, context(false)).logits - clean / 2.0).cwiseAbs().maxCoeff() < 1e-15);
}

BOOST_AUTO_TEST_CASE(aux_losses_match_their_definitions) {
  auto o = options<moerb::TopKRouter<double>>(5, 4);
  o.k = 2;
  o.load_balancing_weight = 0.3;
  o.z_loss_weight = 0.05;
  moerb::TopKRouter<double> router(o);
  Rng init(12);
  router.initialize(init);
  const Matrix<double> x = random_matrix(15, 5, 2.0, 13);
  const Routing<double>& r = router.forward(x, context(false));
  double lb = 0;
  for (Index e = 0; e < 4; ++e) {
    double count = 0;
    for (Index t = 0; t < 15; ++t)
      for (Index j = 0; j < 2; ++j) count += r.selected(t, j) == e ? 1.0 : 0.0;
    lb += count / 30.0 * r.probs.col(e).mean();
  }
  lb *= 4;
  double z = 0;
  for (Index t = 0; t < 15; ++t) {
    const double lse = std::log(r.logits.row(t).array().exp().sum());
    z += lse * lse / 15.0;
  }
  BOOST_TEST(std::abs(r.load_balancing_loss - lb) < 1e-12);
  BOOST_TEST(std::abs(r.z_loss - z) < 1e-12);
  BOOST_TEST(std::abs(r.aux_loss - (0.3 * lb + 0.05 * z)) < 1e-12);
}

BOOST_AUTO_TEST_CASE(gradients_softmax_then_top_k) {
  for (const bool renormalize : {true, false}) {
    for (const Index k : {Index{1}, Index{2}, Index{3}}) {
      auto o = options<moerb::TopKRouter<double>>(6, 5);
      o.k = k;
      o.renormalize = renormalize;
      o.load_balancing_weight = 0.0;
      moerb::TopKRouter<double> router(o);
      Rng init(14);
      router.initialize(init);
      // A renormalised top-1 weight is the constant 1: no gradient at all.
      gradcheck(router, random_matrix(7, 6, 2.0, 15), context(true), renormalize && k == 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(gradients_mixtral_and_switch) {
  auto om = options<moerb::MixtralRouter<double>>(6, 5);
  om.k = 2;
  om.load_balancing_weight = 0.0;
  moerb::MixtralRouter<double> mixtral(om);
  Rng init(16);
  mixtral.initialize(init);
  gradcheck(mixtral, random_matrix(7, 6, 2.0, 17), context(true));
  // Switch with its default capacity (1.25) drops choices on this skewed batch.
  auto os = options<moerb::SwitchRouter<double>>(6, 4);
  moerb::SwitchRouter<double> sw(os);
  sw.initialize(init);
  Matrix<double> x = random_matrix(12, 6, 2.0, 18);
  sw.weight().value.col(2).array() += 0.6;  // expert 2 attracts most tokens
  x.col(0).array() = x.col(0).array().abs() + 0.5;
  sw.weight().value(0, 2) = 1.5;
  const Routing<double>& r = sw.forward(x, context(true));
  BOOST_TEST_REQUIRE(r.dropped > 0);
  gradcheck(sw, x, context(true));
}

BOOST_AUTO_TEST_CASE(gradients_with_aux_losses_temperature_jitter_and_capacity) {
  auto o = options<moerb::TopKRouter<double>>(6, 5);
  o.k = 2;
  o.load_balancing_weight = 0.4;
  o.z_loss_weight = 0.1;
  o.temperature = 0.7;
  o.jitter = 0.05;
  o.capacity_factor = 0.8;
  moerb::TopKRouter<double> router(o);
  Rng init(19);
  router.initialize(init);
  const Matrix<double> x = random_matrix(10, 6, 2.0, 20);
  const ForwardContext ctx = context(true, 21);
  const Routing<double>& r = router.forward(x, ctx);
  BOOST_TEST_REQUIRE(r.dropped > 0);
  gradcheck(router, x, ctx);
  // The same with the Mixtral convention.
  moerb::TopKRouterType<double, moerb::TopKThenSoftmax>::Options om;
  om.input_dim = 6;
  om.num_experts = 5;
  om.load_balancing_weight = 0.4;
  om.z_loss_weight = 0.1;
  om.jitter = 0.05;
  om.capacity_factor = 0.8;
  moerb::MixtralRouter<double> mixtral(om);
  mixtral.weight().value = router.weight().value;
  gradcheck(mixtral, x, ctx);
}

BOOST_AUTO_TEST_CASE(gradients_in_evaluation_with_inference_k) {
  auto o = options<moerb::TopKRouter<double>>(6, 5);
  o.load_balancing_weight = 0.2;
  o.z_loss_weight = 0.1;
  moerb::TopKRouter<double> router(o);
  Rng init(22);
  router.initialize(init);
  router.set_inference_k(4);
  gradcheck(router, random_matrix(7, 6, 2.0, 23), context(false));
}

BOOST_AUTO_TEST_CASE(frozen_weight_gets_no_gradient_but_input_gradient_is_correct) {
  auto o = options<moerb::TopKRouter<double>>(6, 5);
  o.load_balancing_weight = 0.2;
  o.z_loss_weight = 0.1;
  o.jitter = 0.05;
  moerb::TopKRouter<double> router(o);
  Rng init(24);
  router.initialize(init);
  BOOST_TEST(moerb::set_frozen(router, "weight") == 1);
  const auto results = [&] {
    Matrix<double> x = random_matrix(7, 6, 2.0, 25);
    const ForwardContext ctx = context(true, 26);
    const Matrix<double> C = random_matrix(7, 5, 1.0, 27);
    return moerb::test::check_gradients(
        router, x, [&] { return weighted_loss(router, x, ctx, C); },
        [&](Matrix<double>& dx) { weighted_backward(router, x, ctx, C, dx); });
  }();
  BOOST_TEST(results.size() == 1u);  // only the input was compared; frozen checked for zero grad
  BOOST_TEST(router.weight().grad.cwiseAbs().maxCoeff() == 0.0);
}

BOOST_AUTO_TEST_CASE(backward_accumulates_into_dx_and_grad) {
  auto o = options<moerb::TopKRouter<double>>(4, 3);
  moerb::TopKRouter<double> router(o);
  Rng init(28);
  router.initialize(init);
  const Matrix<double> x = random_matrix(5, 4, 1.0, 29);
  const Routing<double>& r = router.forward(x, context(true));
  std::vector<double> dw(static_cast<std::size_t>(r.num_assignments()), 0.5);
  Matrix<double> dx1 = Matrix<double>::Zero(5, 4);
  router.backward(x, dw, dx1);
  const Matrix<double> g1 = router.weight().grad;
  Matrix<double> dx2 = Matrix<double>::Ones(5, 4);
  router.backward(x, dw, dx2);
  BOOST_TEST((dx2 - dx1 - Matrix<double>::Ones(5, 4)).cwiseAbs().maxCoeff() < 1e-14);
  BOOST_TEST((router.weight().grad - 2 * g1).cwiseAbs().maxCoeff() < 1e-14);
}

BOOST_AUTO_TEST_CASE(parameters_are_named_under_the_prefix) {
  moerb::TopKRouter<double> router(options<moerb::TopKRouter<double>>(4, 3));
  std::vector<std::string> names;
  router.visit_parameters(
      [&](std::string_view n, moerb::Parameter<double>& p) {
        names.emplace_back(n);
        BOOST_TEST(p.value.rows() == 4);
        BOOST_TEST(p.value.cols() == 3);
      },
      "router");
  BOOST_TEST(names == std::vector<std::string>{"router.weight"});
  Rng a(30), b(30);
  router.initialize(a);
  const double bound = 1.0 / std::sqrt(4.0);
  BOOST_TEST(router.weight().value.cwiseAbs().maxCoeff() <= bound);
  BOOST_TEST(router.weight().value.cwiseAbs().maxCoeff() > 0.0);
  moerb::TopKRouter<double> again(options<moerb::TopKRouter<double>>(4, 3));
  again.initialize(b);
  BOOST_TEST((again.weight().value - router.weight().value).cwiseAbs().maxCoeff() == 0.0);
}

BOOST_AUTO_TEST_CASE(float_matches_double) {
  auto od = options<moerb::TopKRouter<double>>(8, 6);
  od.z_loss_weight = 0.01;
  moerb::TopKRouter<double> rd(od);
  Rng init(31);
  rd.initialize(init);
  moerb::TopKRouter<float>::Options of;
  of.input_dim = 8;
  of.num_experts = 6;
  of.z_loss_weight = 0.01;
  moerb::TopKRouter<float> rf(of);
  rf.weight().value = rd.weight().value.cast<float>();
  const Matrix<double> x = random_matrix(32, 8, 1.0, 32);
  const Routing<double>& a = rd.forward(x, context(false));
  const Routing<float>& b = rf.forward(x.cast<float>(), context(false));
  BOOST_TEST((a.selected - b.selected).cwiseAbs().maxCoeff() == 0);
  for (std::size_t i = 0; i < a.weight.size(); ++i)
    BOOST_TEST(std::abs(a.weight[i] - b.weight[i]) < 1e-5);
  BOOST_TEST(std::abs(a.aux_loss - b.aux_loss) < 1e-5);
}

BOOST_AUTO_TEST_CASE(empty_batch) {
  moerb::TopKRouter<double> router(options<moerb::TopKRouter<double>>(4, 3));
  const Matrix<double> x(0, 4);
  const Routing<double>& r = router.forward(x, context(true));
  BOOST_TEST(r.num_assignments() == 0);
  BOOST_TEST(r.aux_loss == 0.0);
  Matrix<double> dx(0, 4);
  router.backward(x, std::span<const double>{}, dx);
}

BOOST_AUTO_TEST_CASE(invalid_options_and_inputs_throw_naming_the_parameter) {
  using O = moerb::TopKRouter<double>::Options;
  auto make = [](auto edit) {
    O o = options<moerb::TopKRouter<double>>(4, 3);
    edit(o);
    moerb::TopKRouter<double> r(o);
  };
  CHECK_THROWS_NAMING(make([](O& o) { o.input_dim = 0; }), "input_dim");
  CHECK_THROWS_NAMING(make([](O& o) { o.num_experts = 0; }), "num_experts");
  CHECK_THROWS_NAMING(make([](O& o) { o.k = 0; }), "k = 0");
  CHECK_THROWS_NAMING(make([](O& o) { o.k = 4; }), "k = 4");
  CHECK_THROWS_NAMING(make([](O& o) { o.temperature = 0; }), "temperature");
  CHECK_THROWS_NAMING(make([](O& o) { o.temperature = -1; }), "temperature");
  CHECK_THROWS_NAMING(make([](O& o) { o.temperature = std::nan(""); }), "temperature");
  CHECK_THROWS_NAMING(make([](O& o) { o.jitter = -0.1; }), "jitter");
  CHECK_THROWS_NAMING(make([](O& o) { o.jitter = 1.0; }), "jitter");
  CHECK_THROWS_NAMING(make([](O& o) { o.capacity_factor = 0.0; }), "capacity_factor");
  CHECK_THROWS_NAMING(make([](O& o) { o.capacity_factor = -1.0; }), "capacity_factor");
  CHECK_THROWS_NAMING(make([](O& o) { o.eval_capacity_factor = 0.0; }), "eval_capacity_factor");
  CHECK_THROWS_NAMING(make([](O& o) { o.load_balancing_weight = -0.1; }), "load_balancing_weight");
  CHECK_THROWS_NAMING(make([](O& o) { o.z_loss_weight = -0.1; }), "z_loss_weight");
  CHECK_THROWS_NAMING(make([](O& o) { o.z_loss_weight = INFINITY; }), "z_loss_weight");
  // Switch is top-1 without renormalisation.
  using SO = moerb::SwitchRouter<double>::Options;
  SO so = options<moerb::SwitchRouter<double>>(4, 3);
  so.k = 2;
  CHECK_THROWS_NAMING(moerb::SwitchRouter<double>{so}, "k = 2");
  so.k = 1;
  so.renormalize = true;
  CHECK_THROWS_NAMING(moerb::SwitchRouter<double>{so}, "renormalize");

  moerb::TopKRouter<double> router(options<moerb::TopKRouter<double>>(4, 3));
  Rng init(33);
  router.initialize(init);
  CHECK_THROWS_NAMING(router.forward(Matrix<double>::Zero(2, 5), context(false)),
                      "x has 5 columns");
  Matrix<double> bad = Matrix<double>::Zero(2, 4);
  bad(1, 2) = std::nan("");
  CHECK_THROWS_NAMING(router.forward(bad, context(false)), "x(1, 2)");
  bad(1, 2) = INFINITY;
  CHECK_THROWS_NAMING(router.forward(bad, context(false)), "x(1, 2)");
  Matrix<double> dx = Matrix<double>::Zero(2, 4);
  const Matrix<double> x = Matrix<double>::Ones(2, 4);
  CHECK_THROWS_NAMING(router.backward(x, std::vector<double>(4, 0.0), dx), "before forward");
  const Routing<double>& r = router.forward(x, context(false));
  CHECK_THROWS_NAMING(router.backward(x, std::vector<double>(3, 0.0), dx), "d_weight");
  std::vector<double> dw(static_cast<std::size_t>(r.num_assignments()), 0.0);
  Matrix<double> dx_bad = Matrix<double>::Zero(3, 4);
  CHECK_THROWS_NAMING(router.backward(x, dw, dx_bad), "dx");
  dw[0] = std::nan("");
  CHECK_THROWS_NAMING(router.backward(x, dw, dx), "d_weight[0]");
  router.weight().value(0, 1) = INFINITY;
  CHECK_THROWS_NAMING(router.forward(x, context(false)), "weight(0, 1)");
}

// ---- backward_logits (RouterLogitsDifferentiable): a loss on the router logits -------------

BOOST_AUTO_TEST_CASE(backward_logits_matches_finite_differences) {
  // L = Σ routing.logits ⊙ C: backward_logits passes C through the gate alone, to x and W.
  static_assert(moerb::RouterLogitsDifferentiable<moerb::TopKRouter<double>>);
  using R = moerb::TopKRouter<double>;
  R::Options o;
  o.input_dim = 5;
  o.num_experts = 4;
  o.temperature = 0.7;
  o.jitter = 0.1;
  o.z_loss_weight = 0.05;  // not part of backward_logits
  R router(o);
  Rng init(41);
  router.initialize(init);
  moerb::test::check_backward_logits(router, R(o), true, "TopKRouter");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_routing_top_k_router
