// Tests for include/moerb/routing/expert_choice_router.hpp
#include "moerb/routing/expert_choice_router.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <limits>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "support/gradcheck.hpp"
#include "support/messages.hpp"
#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_routing_expert_choice_router {

namespace {

using moerb::ExpertChoiceRouter;
using moerb::ForwardContext;
using moerb::Index;
using moerb::Matrix;
using moerb::Rng;
using moerb::Routing;

/// Predicate for BOOST_CHECK_EXCEPTION: the message contains every one of `parts`.
using moerb::test::message_has;

template <class S>
Matrix<S> random_matrix(Index rows, Index cols, std::uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  Matrix<S> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<S>(scale * rng.normal());
  return m;
}

/// A router with W = I (input_dim = num_experts), so that logits = x.
template <class S>
ExpertChoiceRouter<S> identity_router(Index experts, double capacity_factor) {
  typename ExpertChoiceRouter<S>::Options o;
  o.input_dim = experts;
  o.num_experts = experts;
  o.capacity_factor = capacity_factor;
  ExpertChoiceRouter<S> router(o);
  router.weight().value.setIdentity();
  return router;
}

/// Σ_a weight_a · C[token_a, expert_a] + aux_loss.
double objective(const Routing<double>& r, const Matrix<double>& C) {
  double loss = r.aux_loss;
  for (Index e = 0; e < r.num_experts; ++e) {
    for (Index a = r.begin(e); a < r.end(e); ++a) {
      loss += r.weight[static_cast<std::size_t>(a)] * C(r.token[static_cast<std::size_t>(a)], e);
    }
  }
  return loss;
}

std::vector<double> objective_grad(const Routing<double>& r, const Matrix<double>& C) {
  std::vector<double> d(r.token.size());
  for (Index e = 0; e < r.num_experts; ++e) {
    for (Index a = r.begin(e); a < r.end(e); ++a) {
      d[static_cast<std::size_t>(a)] = C(r.token[static_cast<std::size_t>(a)], e);
    }
  }
  return d;
}

/// Structural invariants of an expert-choice routing with capacity c.
template <class S>
void check_invariants(const Routing<S>& r, const ExpertChoiceRouter<S>& router, Index c) {
  const Index T = r.num_tokens;
  const Index E = r.num_experts;
  BOOST_TEST(r.k == 0);
  BOOST_TEST(r.selected.size() == 0);
  BOOST_TEST(r.assignment.size() == 0);
  BOOST_TEST(r.dropped == 0);
  BOOST_TEST(r.offsets.size() == static_cast<std::size_t>(E + 1));
  BOOST_TEST(r.num_assignments() == E * c);
  std::vector<Index> per_token(static_cast<std::size_t>(T), 0);
  for (Index e = 0; e < E; ++e) {
    BOOST_TEST(r.begin(e) == e * c);
    BOOST_TEST(r.end(e) - r.begin(e) == c);
    BOOST_TEST(r.load[static_cast<std::size_t>(e)] == c);
    std::set<Index> chosen;
    for (Index a = r.begin(e); a < r.end(e); ++a) {
      const Index t = r.token[static_cast<std::size_t>(a)];
      if (a > r.begin(e)) BOOST_TEST(t > r.token[static_cast<std::size_t>(a - 1)]);
      BOOST_TEST(r.weight[static_cast<std::size_t>(a)] == r.probs(t, e));
      chosen.insert(t);
      ++per_token[static_cast<std::size_t>(t)];
    }
    // Top-c: every chosen token beats every unchosen one (ties go to the lower token).
    for (const Index t : chosen) {
      for (Index u = 0; u < T; ++u) {
        if (chosen.count(u) != 0) continue;
        const bool beats =
            r.probs(t, e) > r.probs(u, e) || (r.probs(t, e) == r.probs(u, e) && t < u);
        BOOST_TEST(beats, "expert " << e << " took token " << t << " over " << u);
      }
    }
  }
  Index unrouted = 0;
  for (Index t = 0; t < T; ++t) {
    BOOST_TEST(router.experts_per_token()[static_cast<std::size_t>(t)] ==
               per_token[static_cast<std::size_t>(t)]);
    unrouted += per_token[static_cast<std::size_t>(t)] == 0;
    // Slots of a token are 0..n-1 ordered by descending weight.
    std::vector<std::pair<Index, S>> slots;
    for (std::size_t a = 0; a < r.token.size(); ++a) {
      if (r.token[a] == t) slots.emplace_back(r.slot[a], r.weight[a]);
    }
    std::sort(slots.begin(), slots.end());
    for (std::size_t j = 0; j < slots.size(); ++j) {
      BOOST_TEST(slots[j].first == static_cast<Index>(j));
      if (j > 0) BOOST_TEST(slots[j].second <= slots[j - 1].second);
    }
  }
  BOOST_TEST(r.unrouted_tokens == unrouted);
  for (Index t = 0; t < T; ++t) BOOST_TEST(std::abs(r.probs.row(t).sum() - S(1)) < S(1e-5));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(expert_choice_router)

BOOST_AUTO_TEST_CASE(models_router_and_names_its_gate) {
  static_assert(moerb::Router<ExpertChoiceRouter<float>>);
  static_assert(moerb::Router<ExpertChoiceRouter<double>>);
  static_assert(moerb::HasParameters<ExpertChoiceRouter<double>>);
  ExpertChoiceRouter<double> router({.input_dim = 6, .num_experts = 3});
  BOOST_TEST(router.input_dim() == 6);
  BOOST_TEST(router.num_experts() == 3);
  BOOST_TEST(router.options().capacity_factor == 2.0);
  std::vector<std::string> names;
  router.visit_parameters(
      [&](std::string_view name, moerb::Parameter<double>& p) {
        names.emplace_back(name);
        BOOST_TEST(p.value.rows() == 6);
        BOOST_TEST(p.value.cols() == 3);
      },
      "layers.2.router");
  BOOST_TEST(names == std::vector<std::string>{"layers.2.router.weight"});
  BOOST_TEST(moerb::parameter_count(router) == 18);
  // initialize draws U(-1/√d, 1/√d).
  Rng rng(1);
  router.initialize(rng);
  const double bound = 1.0 / std::sqrt(6.0);
  BOOST_TEST(router.weight().value.cwiseAbs().maxCoeff() <= bound);
  BOOST_TEST(router.weight().value.cwiseAbs().maxCoeff() > 0.0);
}

BOOST_AUTO_TEST_CASE(hand_made_batch) {
  // W = I, so logits = x. c = ⌈3·1/3⌉ = 1 token per expert.
  auto router = identity_router<double>(3, 1.0);
  BOOST_TEST(router.capacity(3) == 1);
  Matrix<double> x(3, 3);
  x << 5, 0, 5,  //
      0, 0, 0,   //
      0, 3, 0;
  const Routing<double>& r = router.forward(x, ForwardContext{});
  const double z0 = 2 * std::exp(5.0) + 1;  // token 0: softmax (e⁵, 1, e⁵)/z0
  const double z2 = std::exp(3.0) + 2;      // token 2: softmax (1, e³, 1)/z2
  // Expert 0: S[:,0] = (e⁵/z0, 1/3, 1/z2) -> token 0. Expert 1: (1/z0, 1/3, e³/z2) -> token 2.
  // Expert 2: (e⁵/z0, 1/3, 1/z2) -> token 0. Token 1 is taken by no expert.
  BOOST_TEST(r.offsets == (std::vector<Index>{0, 1, 2, 3}));
  BOOST_TEST(r.token == (std::vector<Index>{0, 2, 0}));
  BOOST_TEST(std::abs(r.weight[0] - std::exp(5.0) / z0) < 1e-15);
  BOOST_TEST(std::abs(r.weight[1] - std::exp(3.0) / z2) < 1e-15);
  BOOST_TEST(std::abs(r.weight[2] - std::exp(5.0) / z0) < 1e-15);
  // Token 0 has equal weights from experts 0 and 2: the lower expert gets slot 0.
  BOOST_TEST(r.slot == (std::vector<Index>{0, 0, 1}));
  BOOST_TEST(router.experts_per_token() == (std::vector<Index>{2, 0, 1}));
  BOOST_TEST(r.unrouted_tokens == 1);
  BOOST_TEST(r.load == (std::vector<Index>{1, 1, 1}));
  BOOST_TEST(r.logits.isApprox(x));
  check_invariants(r, router, 1);
}

BOOST_AUTO_TEST_CASE(ties_go_to_lower_token) {
  // A zero gate gives every token S = 1/E: each expert takes tokens 0..c-1.
  ExpertChoiceRouter<double> router({.input_dim = 4, .num_experts = 2, .capacity_factor = 1.0});
  const Matrix<double> x = random_matrix<double>(5, 4, 3);
  const Routing<double>& r = router.forward(x, ForwardContext{});
  BOOST_TEST(router.capacity(5) == 3);  // ⌈5·1/2⌉
  BOOST_TEST(r.token == (std::vector<Index>{0, 1, 2, 0, 1, 2}));
  for (const double w : r.weight) BOOST_TEST(w == 0.5);
  BOOST_TEST(r.unrouted_tokens == 2);
  BOOST_TEST(router.experts_per_token() == (std::vector<Index>{2, 2, 2, 0, 0}));
  check_invariants(r, router, 3);

  // The same with c = 21 (kernels::topk takes its large-k path).
  ExpertChoiceRouter<double> big({.input_dim = 4, .num_experts = 2, .capacity_factor = 1.0});
  const Matrix<double> xb = random_matrix<double>(41, 4, 3);
  const Routing<double>& rb = big.forward(xb, ForwardContext{});
  BOOST_TEST(big.capacity(41) == 21);
  for (Index a = 0; a < rb.num_assignments(); ++a) {
    BOOST_TEST(rb.token[static_cast<std::size_t>(a)] == a % 21);
  }
  BOOST_TEST(rb.unrouted_tokens == 20);
  check_invariants(rb, big, 21);
}

BOOST_AUTO_TEST_CASE(capacity_math) {
  auto cap = [](Index experts, double cf, Index tokens) {
    ExpertChoiceRouter<float> router(
        {.input_dim = 2, .num_experts = experts, .capacity_factor = cf});
    return router.capacity(tokens);
  };
  BOOST_TEST(cap(4, 2.0, 8) == 4);   // 8·2/4 exactly
  BOOST_TEST(cap(4, 1.0, 10) == 3);  // ⌈2.5⌉
  BOOST_TEST(cap(8, 1.0, 3) == 1);   // ⌈0.375⌉, at least 1
  BOOST_TEST(cap(2, 3.0, 4) == 4);   // ⌈6⌉ clamped to T
  BOOST_TEST(cap(1, 0.1, 30) == 3);  // 0.1·30 = 3.0000000000000004 in double: not rounded up to 4
  BOOST_TEST(cap(64, 2.0, 4096) == 128);
  BOOST_TEST(cap(4, 2.0, 0) == 0);
  BOOST_CHECK_EXCEPTION((void)cap(4, 2.0, -1), moerb::error, message_has({"num_tokens", "-1"}));
}

BOOST_AUTO_TEST_CASE(each_expert_takes_exactly_c_tokens) {
  for (const auto& [T, E, cf] : std::vector<std::tuple<Index, Index, double>>{
           {37, 5, 2.0}, {16, 4, 1.0}, {9, 8, 0.5}, {3, 6, 4.0}, {50, 3, 1.3}}) {
    ExpertChoiceRouter<double> router({.input_dim = 7, .num_experts = E, .capacity_factor = cf});
    Rng rng(static_cast<std::uint64_t>(T * 100 + E));
    router.initialize(rng);
    const Matrix<double> x = random_matrix<double>(T, 7, static_cast<std::uint64_t>(T));
    const Routing<double>& r = router.forward(x, ForwardContext{});
    const Index c = router.capacity(T);
    BOOST_TEST(c == std::min<Index>(T, static_cast<Index>(std::ceil(T * cf / E - 1e-9))));
    BOOST_TEST(r.num_tokens == T);
    BOOST_TEST(r.num_experts == E);
    BOOST_TEST(r.logits.isApprox(x * router.weight().value));
    check_invariants(r, router, c);
  }
}

BOOST_AUTO_TEST_CASE(empty_batch) {
  ExpertChoiceRouter<double> router({.input_dim = 3, .num_experts = 2});
  const Matrix<double> x(0, 3);
  const Routing<double>& r = router.forward(x, ForwardContext{});
  BOOST_TEST(r.num_tokens == 0);
  BOOST_TEST(r.num_assignments() == 0);
  BOOST_TEST(r.offsets == (std::vector<Index>{0, 0, 0}));
  BOOST_TEST(r.load == (std::vector<Index>{0, 0}));
  BOOST_TEST(r.aux_loss == 0.0);
  Matrix<double> dx(0, 3);
  router.backward(x, {}, dx);
}

BOOST_AUTO_TEST_CASE(temperature_z_loss_and_jitter) {
  const Index T = 10, d = 5, E = 4;
  const Matrix<double> x = random_matrix<double>(T, d, 11);
  ExpertChoiceRouter<double> plain({.input_dim = d, .num_experts = E});
  ExpertChoiceRouter<double> hot(
      {.input_dim = d, .num_experts = E, .temperature = 2.0, .z_loss_weight = 0.01});
  Rng rng(5);
  plain.initialize(rng);
  hot.weight().value = plain.weight().value;
  const Matrix<double> base = plain.forward(x, ForwardContext{}).logits;
  const Routing<double>& r = hot.forward(x, ForwardContext{});
  BOOST_TEST(r.logits.isApprox(base / 2.0));
  double z = 0;
  for (Index t = 0; t < T; ++t) {
    const double lse = std::log(r.logits.row(t).array().exp().sum());
    z += lse * lse;
  }
  z /= T;
  BOOST_TEST(std::abs(r.z_loss - z) < 1e-12);
  BOOST_TEST(std::abs(r.aux_loss - 0.01 * z) < 1e-14);
  BOOST_TEST(r.load_balancing_loss == 0.0);

  // Jitter acts in training only, and draws from the context's stream.
  ExpertChoiceRouter<double> jit({.input_dim = d, .num_experts = E, .jitter = 0.2});
  jit.weight().value = plain.weight().value;
  BOOST_TEST((jit.forward(x, ForwardContext{}).logits == base));
  ForwardContext train{.training = true, .rng = Rng(9)};
  const Matrix<double> j1 = jit.forward(x, train).logits;
  BOOST_TEST(!j1.isApprox(base));
  BOOST_TEST((jit.forward(x, train).logits == j1));
  BOOST_TEST((jit.forward(x, train.with_rng(Rng(10))).logits != j1));
  // |x·J·W − x·W| ≤ ε·|x|·|W| elementwise.
  BOOST_TEST(((j1 - base).cwiseAbs().array() <=
              (0.2 * (x.cwiseAbs() * plain.weight().value.cwiseAbs())).array() + 1e-12)
                 .all());
}

BOOST_AUTO_TEST_CASE(reproducible_and_float_matches_double) {
  const Index T = 24, d = 8, E = 6;
  using O = ExpertChoiceRouter<double>::Options;
  const O o{.input_dim = d, .num_experts = E, .capacity_factor = 1.5, .jitter = 0.05};
  ExpertChoiceRouter<double> a(o), b(o);
  Rng ra(77), rb(77);
  a.initialize(ra);
  b.initialize(rb);
  const Matrix<double> x = random_matrix<double>(T, d, 4);
  const ForwardContext ctx{.training = true, .rng = Rng(3).split(1)};
  const Routing<double> r1 = a.forward(x, ctx);
  const Routing<double>& r2 = b.forward(x, ctx);
  BOOST_TEST(r1.token == r2.token);
  BOOST_TEST(r1.weight == r2.weight);
  BOOST_TEST(r1.slot == r2.slot);
  BOOST_TEST((r1.probs == r2.probs));

  // Float routes like double when the affinities are well separated (evaluation, no jitter).
  ExpertChoiceRouter<float> f({.input_dim = d, .num_experts = E, .capacity_factor = 1.5});
  f.weight().value = a.weight().value.cast<float>();
  const Matrix<float> xf = x.cast<float>();
  const Routing<float>& rf = f.forward(xf, ForwardContext{});
  const Routing<double>& rd = a.forward(x, ForwardContext{});
  BOOST_TEST(rf.token == rd.token);
  for (std::size_t i = 0; i < rf.weight.size(); ++i) {
    BOOST_TEST(std::abs(static_cast<double>(rf.weight[i]) - rd.weight[i]) < 1e-5);
  }
}

BOOST_AUTO_TEST_CASE(bad_input_is_reported) {
  using O = ExpertChoiceRouter<double>::Options;
  BOOST_CHECK_EXCEPTION(
      ExpertChoiceRouter<double>(O{.input_dim = 4, .num_experts = 2, .capacity_factor = 0.0}),
      moerb::error, message_has({"capacity_factor", "0", "> 0"}));
  BOOST_CHECK_EXCEPTION(
      ExpertChoiceRouter<double>(O{.input_dim = 4, .num_experts = 2, .capacity_factor = -1.0}),
      moerb::error, message_has({"capacity_factor", "-1"}));
  BOOST_CHECK_EXCEPTION(
      ExpertChoiceRouter<double>(O{.input_dim = 4,
                                   .num_experts = 2,
                                   .capacity_factor = std::numeric_limits<double>::quiet_NaN()}),
      moerb::error, message_has({"capacity_factor", "nan"}));
  BOOST_CHECK_EXCEPTION(ExpertChoiceRouter<double>(O{.input_dim = 0, .num_experts = 2}),
                        moerb::error, message_has({"input_dim", "0", "> 0"}));
  BOOST_CHECK_EXCEPTION(ExpertChoiceRouter<double>(O{.input_dim = 3, .num_experts = 0}),
                        moerb::error, message_has({"num_experts", "0"}));
  BOOST_CHECK_EXCEPTION(
      ExpertChoiceRouter<double>(O{.input_dim = 3, .num_experts = 2, .temperature = 0.0}),
      moerb::error, message_has({"temperature", "0"}));
  BOOST_CHECK_EXCEPTION(
      ExpertChoiceRouter<double>(O{.input_dim = 3, .num_experts = 2, .jitter = 1.0}), moerb::error,
      message_has({"jitter", "1", "[0, 1)"}));
  BOOST_CHECK_EXCEPTION(
      ExpertChoiceRouter<double>(O{.input_dim = 3, .num_experts = 2, .z_loss_weight = -0.1}),
      moerb::error, message_has({"z_loss_weight", "-0.1"}));

  ExpertChoiceRouter<double> router(O{.input_dim = 4, .num_experts = 2});
  Rng rng(2);
  router.initialize(rng);
  Matrix<double> dx = Matrix<double>::Zero(3, 4);
  const std::vector<double> none;
  BOOST_CHECK_EXCEPTION(router.backward(Matrix<double>::Zero(3, 4), none, dx), moerb::error,
                        message_has({"ExpertChoiceRouter::backward", "before forward"}));
  BOOST_CHECK_EXCEPTION((void)router.forward(Matrix<double>::Zero(3, 5), ForwardContext{}),
                        moerb::error, message_has({"ExpertChoiceRouter::forward", "x", "5", "4"}));
  Matrix<double> x = random_matrix<double>(3, 4, 1);
  x(1, 2) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION((void)router.forward(x, ForwardContext{}), moerb::error,
                        message_has({"x(1, 2)", "nan", "finite"}));
  x(1, 2) = std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION((void)router.forward(x, ForwardContext{}), moerb::error,
                        message_has({"x(1, 2)", "inf"}));
  x(1, 2) = 0.5;
  router.weight().value(3, 1) = -std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION((void)router.forward(x, ForwardContext{}), moerb::error,
                        message_has({"weight(3, 1)", "-inf"}));
  router.weight().value(3, 1) = 0.1;
  // A finite but huge x·W overflows in float: reported, not routed on NaN.
  ExpertChoiceRouter<float> fr({.input_dim = 2, .num_experts = 2});
  fr.weight().value.setConstant(3e30f);
  Matrix<float> xf = Matrix<float>::Constant(2, 2, 3e30f);
  BOOST_CHECK_EXCEPTION((void)fr.forward(xf, ForwardContext{}), moerb::error,
                        message_has({"logits", "inf"}));

  const Routing<double>& r = router.forward(x, ForwardContext{});
  std::vector<double> dw(r.token.size() + 1, 0.0);
  BOOST_CHECK_EXCEPTION(
      router.backward(x, dw, dx), moerb::error,
      message_has({"d_weight", std::to_string(dw.size()), std::to_string(r.token.size())}));
  dw.pop_back();
  Matrix<double> bad_dx = Matrix<double>::Zero(3, 3);
  BOOST_CHECK_EXCEPTION(router.backward(x, dw, bad_dx), moerb::error,
                        message_has({"dx", "3×3", "3×4"}));
  BOOST_CHECK_EXCEPTION(router.backward(Matrix<double>::Zero(2, 4), dw, dx), moerb::error,
                        message_has({"x", "2×4", "3×4"}));
  dw[0] = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(router.backward(x, dw, dx), moerb::error,
                        message_has({"d_weight[0]", "nan"}));
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  const Index T = 12, d = 6, E = 4;
  struct Case {
    bool training;
    double jitter, temperature, z_coef;
    bool frozen;
  };
  for (const Case& c : {Case{false, 0.0, 1.0, 0.0, false}, Case{true, 0.1, 0.7, 0.05, false},
                        Case{true, 0.1, 1.3, 0.02, true}}) {
    ExpertChoiceRouter<double> router({.input_dim = d,
                                       .num_experts = E,
                                       .capacity_factor = 1.5,
                                       .temperature = c.temperature,
                                       .jitter = c.jitter,
                                       .z_loss_weight = c.z_coef});
    Rng rng(21);
    router.initialize(rng);
    router.weight().value *= 3.0;  // spread the affinities so no selection is within eps of a tie
    router.weight().frozen = c.frozen;
    Matrix<double> x = random_matrix<double>(T, d, 8);
    const Matrix<double> C = random_matrix<double>(T, E, 9);
    const ForwardContext ctx{.training = c.training, .rng = Rng(4)};

    // The selection margin (c-th vs (c+1)-th affinity of each expert) dwarfs the FD step.
    const Routing<double>& r0 = router.forward(x, ctx);
    const Index cap = router.capacity(T);
    for (Index e = 0; e < E; ++e) {
      std::vector<double> col;
      for (Index t = 0; t < T; ++t) col.push_back(r0.probs(t, e));
      std::sort(col.begin(), col.end(), std::greater<>());
      BOOST_TEST_REQUIRE(
          col[static_cast<std::size_t>(cap - 1)] - col[static_cast<std::size_t>(cap)] > 1e-4);
    }

    const auto loss = [&] { return objective(router.forward(x, ctx), C); };
    const auto backward = [&](Matrix<double>& dx) {
      const Routing<double>& r = router.forward(x, ctx);
      const std::vector<double> dw = objective_grad(r, C);
      router.backward(x, dw, dx);
    };
    const auto results = moerb::test::check_gradients(router, x, loss, backward);
    BOOST_TEST(results.size() == (c.frozen ? 1u : 2u));
    for (const auto& res : results) BOOST_TEST_MESSAGE(res.name << ": " << res.rel_error);
  }
}

BOOST_AUTO_TEST_CASE(backward_accumulates) {
  const Index T = 8, d = 5, E = 3;
  ExpertChoiceRouter<double> router({.input_dim = d, .num_experts = E});
  Rng rng(6);
  router.initialize(rng);
  const Matrix<double> x = random_matrix<double>(T, d, 2);
  const Matrix<double> C = random_matrix<double>(T, E, 3);
  const Routing<double>& r = router.forward(x, ForwardContext{});
  const std::vector<double> dw = objective_grad(r, C);
  Matrix<double> dx1 = Matrix<double>::Zero(T, d);
  router.backward(x, dw, dx1);
  const Matrix<double> g1 = router.weight().grad;
  BOOST_TEST(g1.norm() > 0.0);
  Matrix<double> dx2 = Matrix<double>::Constant(T, d, 1.0);
  router.backward(x, dw, dx2);
  BOOST_TEST((dx2 - dx1 - Matrix<double>::Constant(T, d, 1.0)).norm() < 1e-12);
  BOOST_TEST((router.weight().grad - 2 * g1).norm() < 1e-12);
}

// ---- backward_logits (RouterLogitsDifferentiable): a loss on the router logits -------------

BOOST_AUTO_TEST_CASE(backward_logits_matches_finite_differences) {
  // L = Σ routing.logits ⊙ C: backward_logits passes C through the gate alone, to x and W.
  static_assert(moerb::RouterLogitsDifferentiable<ExpertChoiceRouter<double>>);
  ExpertChoiceRouter<double>::Options o;
  o.input_dim = 5;
  o.num_experts = 4;
  o.temperature = 1.3;
  o.jitter = 0.1;
  ExpertChoiceRouter<double> router(o);
  Rng init(41);
  router.initialize(init);
  moerb::test::check_backward_logits(router, ExpertChoiceRouter<double>(o), true, "ExpertChoiceRouter");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_routing_expert_choice_router
