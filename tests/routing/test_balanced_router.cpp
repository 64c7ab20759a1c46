// Tests for include/moerb/routing/balanced_router.hpp
#include "moerb/routing/balanced_router.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "support/gradcheck.hpp"
#include "support/messages.hpp"
#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_routing_balanced_router {

namespace {

using moerb::BalancedRouter;
using moerb::ForwardContext;
using moerb::Index;
using moerb::Matrix;
using moerb::Rng;
using moerb::Routing;

using moerb::test::message_has;

template <class S>
Matrix<S> random_matrix(Index rows, Index cols, std::uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  Matrix<S> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<S>(scale * rng.normal());
  return m;
}

const ForwardContext kTrain{.training = true};
const ForwardContext kEval{};

template <class S>
S sigmoid(S s) {
  return S(1) / (S(1) + std::exp(-s));
}

/// Every token has exactly one expert, the layout is consistent and weight = σ(score).
template <class S>
void check_routing(const Routing<S>& r, Index T, Index E) {
  BOOST_TEST(r.num_tokens == T);
  BOOST_TEST(r.num_experts == E);
  BOOST_TEST(r.k == 1);
  BOOST_TEST(r.dropped == 0);
  BOOST_TEST(r.unrouted_tokens == 0);
  BOOST_TEST(r.num_assignments() == T);
  BOOST_TEST(r.aux_loss == S(0));
  Index total = 0;
  for (Index e = 0; e < E; ++e) {
    BOOST_TEST(r.load[static_cast<std::size_t>(e)] == r.end(e) - r.begin(e));
    total += r.load[static_cast<std::size_t>(e)];
    for (Index a = r.begin(e); a < r.end(e); ++a) {
      const Index t = r.token[static_cast<std::size_t>(a)];
      if (a > r.begin(e)) BOOST_TEST(t > r.token[static_cast<std::size_t>(a - 1)]);
      BOOST_TEST(r.selected(t, 0) == e);
      BOOST_TEST(r.assignment(t, 0) == a);
      const S w = r.weight[static_cast<std::size_t>(a)];
      BOOST_TEST(std::abs(w - sigmoid(r.logits(t, e))) <= S(1e-6) * std::max(S(1), w));
      BOOST_TEST((w >= S(0) && w <= S(1)));
    }
  }
  BOOST_TEST(total == T);
}

double objective(const Routing<double>& r, const Matrix<double>& C) {
  double loss = r.aux_loss;
  for (Index e = 0; e < r.num_experts; ++e) {
    for (Index a = r.begin(e); a < r.end(e); ++a) {
      loss += r.weight[static_cast<std::size_t>(a)] * C(r.token[static_cast<std::size_t>(a)], e);
    }
  }
  return loss;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(balanced_router)

BOOST_AUTO_TEST_CASE(models_router_and_names_its_gate) {
  static_assert(moerb::Router<BalancedRouter<float>>);
  static_assert(moerb::Router<BalancedRouter<double>>);
  BalancedRouter<float> router({.input_dim = 5, .num_experts = 4});
  BOOST_TEST(router.options().sinkhorn_iterations == 50);
  std::vector<std::string> names;
  router.visit_parameters(
      [&](std::string_view name, moerb::Parameter<float>& p) {
        names.emplace_back(name);
        BOOST_TEST(p.value.rows() == 5);
        BOOST_TEST(p.value.cols() == 4);
      },
      "moe");
  BOOST_TEST(names == std::vector<std::string>{"moe.weight"});
  BOOST_TEST(router.capacity(10) == 3);
  BOOST_TEST(router.capacity(12) == 3);
  BOOST_TEST(router.capacity(0) == 0);
}

BOOST_AUTO_TEST_CASE(hand_made_batch) {
  // W = I: scores = x. Every token prefers expert 0; balanced training sends the two with the
  // weakest preference (tokens 2 and 3) to expert 1, which is also the exact maximum-score
  // balanced assignment. Evaluation sends everyone to expert 0.
  BalancedRouter<double> router({.input_dim = 2, .num_experts = 2, .sinkhorn_tolerance = 1e-9});
  router.weight().value.setIdentity();
  Matrix<double> x(4, 2);
  x << 3, 0,  //
      2, 0,   //
      1, 0,   //
      0.5, 0;
  const Routing<double>& r = router.forward(x, kTrain);
  check_routing(r, 4, 2);
  BOOST_TEST(r.token == (std::vector<Index>{0, 1, 2, 3}));
  BOOST_TEST(r.offsets == (std::vector<Index>{0, 2, 4}));
  BOOST_TEST(r.load == (std::vector<Index>{2, 2}));
  BOOST_TEST(std::abs(r.weight[0] - sigmoid(3.0)) < 1e-15);
  BOOST_TEST(std::abs(r.weight[1] - sigmoid(2.0)) < 1e-15);
  BOOST_TEST(r.weight[2] == 0.5);
  BOOST_TEST(r.weight[3] == 0.5);
  BOOST_TEST(router.sinkhorn_stats().column_error <= 1e-9);

  const Routing<double>& ev = router.forward(x, kEval);
  check_routing(ev, 4, 2);
  BOOST_TEST(ev.load == (std::vector<Index>{4, 0}));
  BOOST_TEST(std::abs(ev.weight[3] - sigmoid(0.5)) < 1e-15);
}

BOOST_AUTO_TEST_CASE(training_is_perfectly_balanced_when_experts_divide_tokens) {
  for (const auto& [T, E, d] : std::vector<std::tuple<Index, Index, Index>>{
           {64, 8, 16}, {8, 2, 3}, {256, 4, 12}, {96, 32, 8}, {7, 7, 4}}) {
    BalancedRouter<double> router({.input_dim = d, .num_experts = E});
    Rng rng(static_cast<std::uint64_t>(T + E));
    router.initialize(rng);
    // A skewed input: most tokens prefer the same experts, so argmax alone is unbalanced.
    Matrix<double> x = random_matrix<double>(T, d, static_cast<std::uint64_t>(T));
    x.col(0).array() += 3.0;
    const Routing<double>& r = router.forward(x, kTrain);
    check_routing(r, T, E);
    for (const Index l : r.load) BOOST_TEST(l == T / E);
    const Routing<double> train = r;
    const Routing<double>& ev = router.forward(x, kEval);
    check_routing(ev, T, E);
    const Index max_eval_load = *std::max_element(ev.load.begin(), ev.load.end());
    BOOST_TEST_MESSAGE("T=" << T << " E=" << E << ": max load " << max_eval_load
                            << " at evaluation vs " << T / E << " at training");
    if (E > 2) BOOST_TEST(max_eval_load > T / E);  // balancing did something
  }
}

BOOST_AUTO_TEST_CASE(capacity_bounds_the_load_otherwise) {
  for (const auto& [T, E] :
       std::vector<std::pair<Index, Index>>{{30, 8}, {5, 8}, {13, 4}, {1, 3}}) {
    BalancedRouter<float> router({.input_dim = 6, .num_experts = E});
    Rng rng(3);
    router.initialize(rng);
    const Matrix<float> x = random_matrix<float>(T, 6, 4);
    const Routing<float>& r = router.forward(x, kTrain);
    check_routing(r, T, E);
    for (const Index l : r.load) BOOST_TEST(l <= router.capacity(T));
  }
}

BOOST_AUTO_TEST_CASE(evaluation_is_argmax) {
  const Index T = 40, d = 7, E = 5;
  BalancedRouter<double> router({.input_dim = d, .num_experts = E});
  Rng rng(8);
  router.initialize(rng);
  const Matrix<double> x = random_matrix<double>(T, d, 9);
  const Routing<double>& r = router.forward(x, kEval);
  check_routing(r, T, E);
  BOOST_TEST((r.logits - x * router.weight().value).norm() < 1e-12);
  for (Index t = 0; t < T; ++t) {
    Index best = 0;
    r.logits.row(t).maxCoeff(&best);
    BOOST_TEST(r.selected(t, 0) == best);
  }
  // Ties go to the lower expert: a zero gate sends every token to expert 0.
  BalancedRouter<double> zero({.input_dim = d, .num_experts = E});
  const Routing<double>& z = zero.forward(x, kEval);
  BOOST_TEST(z.load == (std::vector<Index>{T, 0, 0, 0, 0}));
  for (const double w : z.weight) BOOST_TEST(w == 0.5);
}

BOOST_AUTO_TEST_CASE(training_ties_fill_experts_in_token_order) {
  // A zero gate makes every transport-plan entry equal: tokens are dealt in order, c per expert.
  BalancedRouter<double> router({.input_dim = 3, .num_experts = 3});
  const Matrix<double> x = random_matrix<double>(7, 3, 1);
  const Routing<double>& r = router.forward(x, kTrain);
  BOOST_TEST(r.offsets == (std::vector<Index>{0, 3, 6, 7}));
  BOOST_TEST(r.token == (std::vector<Index>{0, 1, 2, 3, 4, 5, 6}));
}

BOOST_AUTO_TEST_CASE(sinkhorn_reaches_the_marginals) {
  const Index T = 48, d = 10, E = 6;
  BalancedRouter<double> router(
      {.input_dim = d, .num_experts = E, .sinkhorn_iterations = 2000, .sinkhorn_tolerance = 1e-12});
  Rng rng(12);
  router.initialize(rng);
  const Matrix<double> x = random_matrix<double>(T, d, 13, 2.0);
  (void)router.forward(x, kTrain);
  const Matrix<double> plan = router.transport_plan();
  BOOST_TEST(router.sinkhorn_stats().column_error <= 1e-12);
  BOOST_TEST(router.sinkhorn_stats().iterations < 2000);
  for (Index t = 0; t < T; ++t) BOOST_TEST(std::abs(plan.row(t).sum() - 1.0) < 1e-10);
  for (Index e = 0; e < E; ++e) BOOST_TEST(std::abs(plan.col(e).sum() - double(T) / E) < 1e-10);
  // The plan is diag(a)·exp(scores/τ)·diag(b): its ratios across experts match the kernel's.
  const Matrix<double>& s = router.routing().logits;
  for (Index t = 1; t < T; ++t) {
    for (Index e = 1; e < E; ++e) {
      const double lhs = std::log(plan(t, e) * plan(0, 0) / (plan(t, 0) * plan(0, e)));
      const double rhs = s(t, e) + s(0, 0) - s(t, 0) - s(0, e);
      BOOST_TEST(std::abs(lhs - rhs) < 1e-9);
    }
  }
  // The iteration cap is honoured, and a single iteration already balances the hard assignment.
  BalancedRouter<double> one(
      {.input_dim = d, .num_experts = E, .sinkhorn_iterations = 1, .sinkhorn_tolerance = 0.0});
  one.weight().value = router.weight().value;
  const Routing<double>& r1 = one.forward(x, kTrain);
  BOOST_TEST(one.sinkhorn_stats().iterations == 1);
  for (const Index l : r1.load) BOOST_TEST(l == T / E);
}

BOOST_AUTO_TEST_CASE(sinkhorn_is_stable_for_huge_scores) {
  // scores = x·I = ±1e3 (and ±1e3/τ with τ = 0.1 for the kernel): exp would overflow outside
  // log space.
  const Index T = 32, E = 4;
  for (const double tau : {1.0, 0.1}) {
    Rng rng(17);
    Matrix<double> x(T, E);
    for (Index i = 0; i < x.size(); ++i) x.data()[i] = rng.bernoulli(0.5) ? 1e3 : -1e3;
    x.col(1).array() = 1e3;  // every token loves expert 1
    BalancedRouter<double> router({.input_dim = E, .num_experts = E, .temperature = tau});
    router.weight().value.setIdentity();
    const Routing<double>& r = router.forward(x, kTrain);
    check_routing(r, T, E);
    for (const Index l : r.load) BOOST_TEST(l == T / E);
    BOOST_TEST(r.probs.allFinite());
    const Matrix<double> plan = router.transport_plan();
    BOOST_TEST(plan.allFinite());
    for (Index e = 0; e < E; ++e) BOOST_TEST(std::abs(plan.col(e).sum() - double(T) / E) < 1e-6);
    for (const double w : r.weight) BOOST_TEST((w == 0.0 || w == 1.0));

    BalancedRouter<float> rf({.input_dim = E, .num_experts = E, .temperature = tau});
    rf.weight().value.setIdentity();
    const Routing<float>& f = rf.forward(x.cast<float>(), kTrain);
    check_routing(f, T, E);
    for (const Index l : f.load) BOOST_TEST(l == T / E);
    BOOST_TEST(rf.transport_plan().allFinite());
  }
}

BOOST_AUTO_TEST_CASE(reproducible) {
  const Index T = 33, d = 9, E = 4;
  using O = BalancedRouter<double>::Options;
  const O o{.input_dim = d, .num_experts = E, .jitter = 0.1};
  BalancedRouter<double> a(o), b(o);
  Rng ra(5), rb(5);
  a.initialize(ra);
  b.initialize(rb);
  const Matrix<double> x = random_matrix<double>(T, d, 6);
  const ForwardContext ctx{.training = true, .rng = Rng(1).split(7)};
  const Routing<double> r1 = a.forward(x, ctx);
  const Routing<double>& r2 = b.forward(x, ctx);
  BOOST_TEST(r1.token == r2.token);
  BOOST_TEST(r1.offsets == r2.offsets);
  BOOST_TEST(r1.weight == r2.weight);
  // Jitter is training-only and follows the context's stream.
  const Matrix<double> clean = x * a.weight().value;
  BOOST_TEST((r1.logits - clean).norm() > 0.0);
  BOOST_TEST((a.forward(x, kEval).logits - clean).norm() == 0.0);
  BOOST_TEST((a.forward(x, ctx.with_rng(Rng(2))).logits - r1.logits).norm() > 0.0);
}

BOOST_AUTO_TEST_CASE(bad_input_is_reported) {
  using O = BalancedRouter<double>::Options;
  BOOST_CHECK_EXCEPTION(BalancedRouter<double>(O{.input_dim = 2, .num_experts = 0}), moerb::error,
                        message_has({"num_experts", "0", "> 0"}));
  BOOST_CHECK_EXCEPTION(
      BalancedRouter<double>(O{.input_dim = 2, .num_experts = 2, .sinkhorn_iterations = 0}),
      moerb::error, message_has({"sinkhorn_iterations", "0", ">= 1"}));
  BOOST_CHECK_EXCEPTION(
      BalancedRouter<double>(O{.input_dim = 2, .num_experts = 2, .sinkhorn_tolerance = -1e-3}),
      moerb::error, message_has({"sinkhorn_tolerance", "-0.001"}));
  BOOST_CHECK_EXCEPTION(
      BalancedRouter<double>(O{.input_dim = 2, .num_experts = 2, .temperature = -1.0}),
      moerb::error, message_has({"temperature", "-1", "> 0"}));
  BOOST_CHECK_EXCEPTION(BalancedRouter<double>(O{.input_dim = 2, .num_experts = 2, .jitter = -0.1}),
                        moerb::error, message_has({"jitter", "-0.1"}));

  BalancedRouter<double> router(O{.input_dim = 3, .num_experts = 2});
  Rng rng(1);
  router.initialize(rng);
  BOOST_CHECK_EXCEPTION((void)router.transport_plan(), moerb::error,
                        message_has({"transport_plan", "no training forward"}));
  Matrix<double> x = random_matrix<double>(4, 3, 2);
  Matrix<double> dx = Matrix<double>::Zero(4, 3);
  BOOST_CHECK_EXCEPTION(router.backward(x, {}, dx), moerb::error,
                        message_has({"BalancedRouter::backward", "before forward"}));
  BOOST_CHECK_EXCEPTION((void)router.forward(Matrix<double>::Zero(4, 1), kTrain), moerb::error,
                        message_has({"BalancedRouter::forward", "x", "1 columns", "expected 3"}));
  x(0, 1) = -std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION((void)router.forward(x, kTrain), moerb::error,
                        message_has({"x(0, 1)", "-inf"}));
  x(0, 1) = 0;
  router.weight().value(2, 0) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION((void)router.forward(x, kTrain), moerb::error,
                        message_has({"weight(2, 0)", "nan"}));
  router.weight().value(2, 0) = 0;
  BalancedRouter<float> fr({.input_dim = 2, .num_experts = 2});
  fr.weight().value.setConstant(2e30f);
  BOOST_CHECK_EXCEPTION((void)fr.forward(Matrix<float>::Constant(1, 2, 2e30f), kTrain),
                        moerb::error, message_has({"scores", "inf"}));
  (void)router.forward(x, kEval);
  BOOST_CHECK_EXCEPTION((void)router.transport_plan(), moerb::error,
                        message_has({"no training forward"}));
  const std::vector<double> dw(5, 0.0);
  BOOST_CHECK_EXCEPTION(router.backward(x, dw, dx), moerb::error,
                        message_has({"d_weight", "5 entries", "expected 4"}));
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  const Index T = 16, d = 6, E = 4;
  struct Case {
    bool training;
    double jitter;
    bool frozen;
  };
  for (const Case& c : {Case{true, 0.0, false}, Case{false, 0.0, false}, Case{true, 0.1, false},
                        Case{true, 0.0, true}}) {
    BalancedRouter<double> router({.input_dim = d, .num_experts = E, .jitter = c.jitter});
    Rng rng(31);
    router.initialize(rng);
    router.weight().frozen = c.frozen;
    Matrix<double> x = random_matrix<double>(T, d, 32);
    const Matrix<double> C = random_matrix<double>(T, E, 33);
    const ForwardContext ctx{.training = c.training, .rng = Rng(34)};
    // The assignment must not flip under the FD step: it is stable across ±1e-4 perturbations.
    const Routing<double> base = router.forward(x, ctx);
    for (const double h : {1e-4, -1e-4}) {
      Matrix<double> xp = x.array() + h;
      BOOST_TEST_REQUIRE(router.forward(xp, ctx).token == base.token);
      BOOST_TEST_REQUIRE(router.forward(xp, ctx).offsets == base.offsets);
    }
    const auto loss = [&] { return objective(router.forward(x, ctx), C); };
    const auto backward = [&](Matrix<double>& dx) {
      const Routing<double>& r = router.forward(x, ctx);
      std::vector<double> dw(r.token.size());
      for (Index e = 0; e < E; ++e) {
        for (Index a = r.begin(e); a < r.end(e); ++a) {
          dw[static_cast<std::size_t>(a)] = C(r.token[static_cast<std::size_t>(a)], e);
        }
      }
      router.backward(x, dw, dx);
    };
    const auto results = moerb::test::check_gradients(router, x, loss, backward);
    BOOST_TEST(results.size() == (c.frozen ? 1u : 2u));
    for (const auto& res : results) BOOST_TEST_MESSAGE(res.name << ": " << res.rel_error);
  }
}

// ---- backward_logits (RouterLogitsDifferentiable): a loss on the router logits -------------

BOOST_AUTO_TEST_CASE(backward_logits_matches_finite_differences) {
  // L = Σ routing.logits ⊙ C: backward_logits passes C through the gate alone, to x and W.
  static_assert(moerb::RouterLogitsDifferentiable<BalancedRouter<double>>);
  BalancedRouter<double>::Options o;
  o.input_dim = 5;
  o.num_experts = 4;
  o.temperature = 0.5;
  BalancedRouter<double> router(o);
  Rng init(41);
  router.initialize(init);
  moerb::test::check_backward_logits(router, BalancedRouter<double>(o), false, "BalancedRouter");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_routing_balanced_router
