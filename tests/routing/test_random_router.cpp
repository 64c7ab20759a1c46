// Tests for include/moerb/routing/random_router.hpp
#include "moerb/routing/random_router.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/router_testing.hpp"

template class moerb::RandomRouter<float>;
template class moerb::RandomRouter<double>;

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_routing_random_router {

using moerb::ForwardContext;
using moerb::Index;
using moerb::Matrix;
using moerb::Rng;
using moerb::Routing;
using Random = moerb::RandomRouter<double>;

using namespace moerb::test;

namespace {

static_assert(moerb::Router<moerb::RandomRouter<float>>);
static_assert(moerb::Router<Random>);
static_assert(moerb::InferenceKOverridable<Random>);

Random::Options options(Index d, Index e, Index k = 2) {
  Random::Options o;
  o.input_dim = d;
  o.num_experts = e;
  o.k = k;
  return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(random_router)

BOOST_AUTO_TEST_CASE(k_distinct_experts_with_equal_weights) {
  Random router(options(3, 7, 3));
  const Matrix<double> x = random_matrix(50, 3, 1.0, 1);
  const Routing<double>& r = router.forward(x, context(true));
  BOOST_TEST(r.k == 3);
  BOOST_TEST(r.num_assignments() == 150);
  BOOST_TEST(r.dropped == 0);
  BOOST_TEST(r.aux_loss == 0.0);
  BOOST_TEST(static_cast<Index>(r.offsets.size()) == 8);
  for (Index t = 0; t < 50; ++t) {
    std::set<Index> experts;
    for (Index j = 0; j < 3; ++j) {
      const Index e = r.selected(t, j);
      BOOST_TEST((e >= 0 && e < 7));
      experts.insert(e);
      const Index a = r.assignment(t, j);
      BOOST_TEST(r.token[static_cast<std::size_t>(a)] == t);
      BOOST_TEST(r.slot[static_cast<std::size_t>(a)] == j);
      BOOST_TEST(r.weight[static_cast<std::size_t>(a)] == 1.0 / 3.0);
      BOOST_TEST((a >= r.begin(e) && a < r.end(e)));
    }
    BOOST_TEST(experts.size() == 3u);
  }
  BOOST_TEST(std::abs(r.probs.sum() - 50.0) < 1e-12);
  BOOST_TEST(r.logits.cwiseAbs().maxCoeff() == 0.0);
}

BOOST_AUTO_TEST_CASE(reproducible_for_a_given_rng_in_both_modes) {
  Random router(options(3, 8, 2));
  const Matrix<double> x = random_matrix(30, 3, 1.0, 2);
  for (const bool training : {true, false}) {
    const moerb::IndexMatrix a = router.forward(x, context(training, 5)).selected;
    const moerb::IndexMatrix b = router.forward(x, context(training, 5)).selected;
    const moerb::IndexMatrix c = router.forward(x, context(training, 6)).selected;
    BOOST_TEST((a - b).cwiseAbs().maxCoeff() == 0);
    BOOST_TEST((a - c).cwiseAbs().maxCoeff() > 0);
  }
  // The routing does not depend on the token contents.
  const moerb::IndexMatrix a = router.forward(x, context(true, 5)).selected;
  const moerb::IndexMatrix b =
      router.forward(random_matrix(30, 3, 9.0, 3), context(true, 5)).selected;
  BOOST_TEST((a - b).cwiseAbs().maxCoeff() == 0);
}

BOOST_AUTO_TEST_CASE(choices_are_uniform) {
  // 6000 tokens, 6 experts, k = 2: each expert is chosen by 2000 tokens on average (sd ≈ 37),
  // each slot-0 expert by 1000 (sd ≈ 29), and each unordered pair by 400 (sd ≈ 19).
  const Index T = 6000, E = 6;
  Random router(options(2, E, 2));
  const Routing<double>& r = router.forward(Matrix<double>::Zero(T, 2), context(true, 7));
  std::vector<Index> first(E, 0);
  std::map<std::pair<Index, Index>, Index> pairs;
  for (Index t = 0; t < T; ++t) {
    ++first[static_cast<std::size_t>(r.selected(t, 0))];
    const Index a = r.selected(t, 0), b = r.selected(t, 1);
    ++pairs[{std::min(a, b), std::max(a, b)}];
  }
  for (Index e = 0; e < E; ++e) {
    BOOST_TEST(std::abs(r.load[static_cast<std::size_t>(e)] - 2000) < 200);
    BOOST_TEST(std::abs(first[static_cast<std::size_t>(e)] - 1000) < 150);
  }
  BOOST_TEST(pairs.size() == 15u);
  for (const auto& [pair, count] : pairs) BOOST_TEST(std::abs(count - 400) < 100);
}

BOOST_AUTO_TEST_CASE(capacity_is_honoured) {
  auto o = options(2, 4, 2);
  o.capacity_factor = 0.75;
  Random router(o);
  const Routing<double>& r = router.forward(Matrix<double>::Zero(40, 2), context(true, 8));
  const Index capacity = router.capacity(40, true);
  BOOST_TEST(capacity == 15);  // ⌈0.75·40·2/4⌉
  Index kept = 0;
  for (Index e = 0; e < 4; ++e) {
    BOOST_TEST(r.load[static_cast<std::size_t>(e)] <= capacity);
    kept += r.load[static_cast<std::size_t>(e)];
  }
  BOOST_TEST(kept == r.num_assignments());
  BOOST_TEST(r.dropped == 80 - kept);
  BOOST_TEST(r.dropped >= 20);  // at most 4·15 of 80 choices fit
  // Evaluation without an eval capacity factor: unlimited.
  BOOST_TEST(router.forward(Matrix<double>::Zero(40, 2), context(false)).dropped == 0);
}

BOOST_AUTO_TEST_CASE(inference_k_override) {
  Random router(options(2, 5, 2));
  router.set_inference_k(5);
  const Routing<double>& r = router.forward(Matrix<double>::Zero(4, 2), context(false));
  BOOST_TEST(r.k == 5);
  for (Index t = 0; t < 4; ++t) {
    std::set<Index> all;
    for (Index j = 0; j < 5; ++j) all.insert(r.selected(t, j));
    BOOST_TEST(all.size() == 5u);
    BOOST_TEST(r.weight[static_cast<std::size_t>(r.assignment(t, 0))] == 0.2);
  }
  BOOST_TEST(router.forward(Matrix<double>::Zero(4, 2), context(true)).k == 2);
  CHECK_THROWS_NAMING(router.set_inference_k(6), "inference_k");
}

BOOST_AUTO_TEST_CASE(no_parameters_and_backward_adds_nothing) {
  Random router(options(3, 4, 2));
  Rng init(9);
  router.initialize(init);
  Index visited = 0;
  router.visit_parameters([&](std::string_view, moerb::Parameter<double>&) { ++visited; },
                          "router");
  BOOST_TEST(visited == 0);
  BOOST_TEST(moerb::parameter_count(router) == 0);
  const Matrix<double> x = random_matrix(5, 3, 1.0, 10);
  const Routing<double>& r = router.forward(x, context(true));
  std::vector<double> dw(static_cast<std::size_t>(r.num_assignments()), 1.5);
  const Matrix<double> before = random_matrix(5, 3, 1.0, 11);
  Matrix<double> dx = before;
  router.backward(x, dw, dx);
  BOOST_TEST((dx - before).cwiseAbs().maxCoeff() == 0.0);
  // Still checks its arguments.
  CHECK_THROWS_NAMING(router.backward(x, std::vector<double>(3, 0.0), dx), "d_weight");
}

BOOST_AUTO_TEST_CASE(invalid_options_and_inputs_throw_naming_the_parameter) {
  auto make = [](auto edit) {
    Random::Options o = options(4, 3);
    edit(o);
    Random r(o);
  };
  CHECK_THROWS_NAMING(make([](Random::Options& o) { o.input_dim = 0; }), "input_dim");
  CHECK_THROWS_NAMING(make([](Random::Options& o) { o.num_experts = -2; }), "num_experts");
  CHECK_THROWS_NAMING(make([](Random::Options& o) { o.k = 0; }), "k = 0");
  CHECK_THROWS_NAMING(make([](Random::Options& o) { o.k = 4; }), "k = 4");
  CHECK_THROWS_NAMING(make([](Random::Options& o) { o.capacity_factor = -0.5; }),
                      "capacity_factor");
  CHECK_THROWS_NAMING(make([](Random::Options& o) { o.eval_capacity_factor = 0.0; }),
                      "eval_capacity_factor");
  Random router(options(4, 3));
  CHECK_THROWS_NAMING(router.forward(Matrix<double>::Zero(2, 5), context(true)), "x has 5 columns");
  Matrix<double> bad = Matrix<double>::Zero(2, 4);
  bad(1, 0) = std::nan("");
  CHECK_THROWS_NAMING(router.forward(bad, context(true)), "x(1, 0)");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_routing_random_router
