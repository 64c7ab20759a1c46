// Tests for include/moerb/routing/hash_router.hpp
#include "moerb/routing/hash_router.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "support/gradcheck.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_routing_hash_router {

namespace {

using moerb::ForwardContext;
using moerb::HashRouter;
using moerb::Index;
using moerb::Matrix;
using moerb::Rng;
using moerb::Routing;

using moerb::test::message_has;

template <class S>
Matrix<S> random_matrix(Index rows, Index cols, std::uint64_t seed) {
  Rng rng(seed);
  Matrix<S> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<S>(rng.normal());
  return m;
}

std::vector<std::int32_t> random_ids(Index n, Index vocab, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
  for (auto& id : ids)
    id = static_cast<std::int32_t>(rng.uniform_index(static_cast<std::uint64_t>(vocab)));
  return ids;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hash_router)

BOOST_AUTO_TEST_CASE(models_router_without_parameters) {
  static_assert(moerb::Router<HashRouter<float>>);
  static_assert(moerb::Router<HashRouter<double>>);
  HashRouter<double> router({.input_dim = 4, .num_experts = 3, .vocab_size = 10});
  BOOST_TEST(router.input_dim() == 4);
  BOOST_TEST(router.num_experts() == 3);
  BOOST_TEST(router.vocab_size() == 10);
  int visited = 0;
  router.visit_parameters([&](std::string_view, moerb::Parameter<double>&) { ++visited; },
                          "router");
  BOOST_TEST(visited == 0);
  BOOST_TEST(moerb::parameter_count(router) == 0);
  // initialize does not change the table: it depends on Options::seed only.
  const std::vector<Index> before = router.table();
  Rng rng(99);
  router.initialize(rng);
  BOOST_TEST(router.table() == before);
}

BOOST_AUTO_TEST_CASE(table_is_balanced_over_the_vocabulary) {
  for (const auto& [V, E] :
       std::vector<std::pair<Index, Index>>{{1000, 7}, {10, 4}, {64, 8}, {5, 8}, {50257, 64}}) {
    HashRouter<float> router({.input_dim = 2, .num_experts = E, .vocab_size = V});
    BOOST_TEST(router.table().size() == static_cast<std::size_t>(V));
    std::vector<Index> owned(static_cast<std::size_t>(E), 0);
    for (const Index e : router.table()) {
      BOOST_TEST_REQUIRE((e >= 0 && e < E));
      ++owned[static_cast<std::size_t>(e)];
    }
    for (const Index n : owned) BOOST_TEST((n == V / E || n == (V + E - 1) / E));
  }
}

BOOST_AUTO_TEST_CASE(table_is_a_seeded_shuffle) {
  const Index V = 500, E = 5;
  HashRouter<double> a({.input_dim = 2, .num_experts = E, .vocab_size = V, .seed = 1});
  HashRouter<double> b({.input_dim = 2, .num_experts = E, .vocab_size = V, .seed = 1});
  HashRouter<double> c({.input_dim = 2, .num_experts = E, .vocab_size = V, .seed = 2});
  BOOST_TEST(a.table() == b.table());
  BOOST_TEST(a.table() != c.table());
  // Not the trivial id mod E, and neighbouring ids are not correlated: about 1/E of adjacent
  // pairs share an expert.
  Index same_as_mod = 0, same_as_next = 0;
  for (Index i = 0; i < V; ++i) {
    same_as_mod += a.table()[static_cast<std::size_t>(i)] == i % E;
    if (i + 1 < V) {
      same_as_next +=
          a.table()[static_cast<std::size_t>(i)] == a.table()[static_cast<std::size_t>(i + 1)];
    }
  }
  BOOST_TEST(same_as_mod < V / 2);
  BOOST_TEST(std::abs(static_cast<double>(same_as_next) / (V - 1) - 1.0 / E) < 0.07);
  BOOST_TEST(a.expert_of(123) == a.table()[123]);
}

BOOST_AUTO_TEST_CASE(routes_by_token_id) {
  const Index T = 40, d = 3, E = 4, V = 30;
  HashRouter<double> router({.input_dim = d, .num_experts = E, .vocab_size = V, .seed = 7});
  const Matrix<double> x = random_matrix<double>(T, d, 1);
  const std::vector<std::int32_t> ids = random_ids(T, V, 2);
  ForwardContext ctx;
  ctx.token_ids = ids;
  const Routing<double>& r = router.forward(x, ctx);
  BOOST_TEST(r.num_tokens == T);
  BOOST_TEST(r.num_experts == E);
  BOOST_TEST(r.k == 1);
  BOOST_TEST(r.dropped == 0);
  BOOST_TEST(r.unrouted_tokens == 0);
  BOOST_TEST(r.num_assignments() == T);
  BOOST_TEST(r.logits.rows() == 0);
  BOOST_TEST(r.probs.rows() == T);
  BOOST_TEST(r.probs.cols() == E);
  BOOST_TEST(r.aux_loss == 0.0);
  std::vector<Index> load(static_cast<std::size_t>(E), 0);
  for (Index t = 0; t < T; ++t) {
    const Index e = router.table()[static_cast<std::size_t>(ids[static_cast<std::size_t>(t)])];
    ++load[static_cast<std::size_t>(e)];
    BOOST_TEST(r.selected(t, 0) == e);
    const Index a = r.assignment(t, 0);
    BOOST_TEST((a >= r.begin(e) && a < r.end(e)));
    BOOST_TEST(r.token[static_cast<std::size_t>(a)] == t);
    BOOST_TEST(r.weight[static_cast<std::size_t>(a)] == 1.0);
    BOOST_TEST(r.slot[static_cast<std::size_t>(a)] == 0);
    for (Index j = 0; j < E; ++j) BOOST_TEST(r.probs(t, j) == (j == e ? 1.0 : 0.0));
  }
  BOOST_TEST(r.load == load);
  for (Index e = 0; e < E; ++e) {
    for (Index a = r.begin(e) + 1; a < r.end(e); ++a) {
      BOOST_TEST(r.token[static_cast<std::size_t>(a)] > r.token[static_cast<std::size_t>(a - 1)]);
    }
  }
  // The same id always meets the same expert, whatever x, mode or rng.
  const Matrix<double> x2 = random_matrix<double>(T, d, 5);
  ForwardContext train{.training = true, .rng = Rng(4), .token_ids = ids};
  const Routing<double> r1 = r;
  const Routing<double>& r2 = router.forward(x2, train);
  BOOST_TEST(r2.token == r1.token);
  BOOST_TEST(r2.offsets == r1.offsets);
  BOOST_TEST(r2.weight == r1.weight);
}

BOOST_AUTO_TEST_CASE(hand_made_table) {
  // V = E: the table is a permutation of the experts.
  HashRouter<float> router({.input_dim = 1, .num_experts = 3, .vocab_size = 3, .seed = 3});
  std::vector<Index> sorted = router.table();
  std::sort(sorted.begin(), sorted.end());
  BOOST_TEST(sorted == (std::vector<Index>{0, 1, 2}));
  const std::vector<std::int32_t> ids{2, 0, 2, 1};
  const Matrix<float> x = Matrix<float>::Zero(4, 1);
  const Routing<float>& r = router.forward(x, ForwardContext{.token_ids = ids});
  const auto& tab = router.table();
  BOOST_TEST(r.selected(0, 0) == tab[2]);
  BOOST_TEST(r.selected(2, 0) == tab[2]);
  BOOST_TEST(r.selected(1, 0) == tab[0]);
  BOOST_TEST(r.selected(3, 0) == tab[1]);
  BOOST_TEST(r.load[static_cast<std::size_t>(tab[2])] == 2);
  BOOST_TEST(r.load[static_cast<std::size_t>(tab[0])] == 1);
  BOOST_TEST(r.load[static_cast<std::size_t>(tab[1])] == 1);
}

BOOST_AUTO_TEST_CASE(backward_adds_nothing) {
  const Index T = 6, d = 3, E = 2, V = 11;
  HashRouter<double> router({.input_dim = d, .num_experts = E, .vocab_size = V});
  Matrix<double> x = random_matrix<double>(T, d, 3);
  const std::vector<std::int32_t> ids = random_ids(T, V, 4);
  const ForwardContext ctx{.token_ids = ids};
  const Matrix<double> C = random_matrix<double>(T, E, 5);
  const auto loss = [&] {
    const Routing<double>& r = router.forward(x, ctx);
    double l = r.aux_loss;
    for (Index e = 0; e < E; ++e) {
      for (Index a = r.begin(e); a < r.end(e); ++a) {
        l += r.weight[static_cast<std::size_t>(a)] * C(r.token[static_cast<std::size_t>(a)], e);
      }
    }
    return l;
  };
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
  BOOST_TEST(results.size() == 1u);  // input only: no parameters
  // dx is left as it was.
  Matrix<double> dx = Matrix<double>::Constant(T, d, 2.5);
  backward(dx);
  BOOST_TEST((dx.array() == 2.5).all());
}

BOOST_AUTO_TEST_CASE(bad_input_is_reported) {
  using O = HashRouter<double>::Options;
  BOOST_CHECK_EXCEPTION(HashRouter<double>(O{.input_dim = 2, .num_experts = 2, .vocab_size = 0}),
                        moerb::error, message_has({"vocab_size", "0", "> 0"}));
  BOOST_CHECK_EXCEPTION(HashRouter<double>(O{.input_dim = 2, .num_experts = 0, .vocab_size = 5}),
                        moerb::error, message_has({"num_experts", "0"}));
  BOOST_CHECK_EXCEPTION(HashRouter<double>(O{.input_dim = -1, .num_experts = 2, .vocab_size = 5}),
                        moerb::error, message_has({"input_dim", "-1"}));

  HashRouter<double> router(O{.input_dim = 3, .num_experts = 2, .vocab_size = 8});
  Matrix<double> x = random_matrix<double>(4, 3, 1);
  BOOST_CHECK_EXCEPTION(
      (void)router.forward(x, ForwardContext{}), moerb::error,
      message_has({"HashRouter::forward", "token_ids", "0 entries", "expected 4"}));
  const std::vector<std::int32_t> three{1, 2, 3};
  BOOST_CHECK_EXCEPTION((void)router.forward(x, ForwardContext{.token_ids = three}), moerb::error,
                        message_has({"token_ids", "3 entries", "expected 4"}));
  const std::vector<std::int32_t> negative{1, 2, -1, 3};
  BOOST_CHECK_EXCEPTION((void)router.forward(x, ForwardContext{.token_ids = negative}),
                        moerb::error, message_has({"token_ids[2] = -1", "[0, 8)"}));
  const std::vector<std::int32_t> too_big{1, 8, 2, 3};
  BOOST_CHECK_EXCEPTION((void)router.forward(x, ForwardContext{.token_ids = too_big}), moerb::error,
                        message_has({"token_ids[1] = 8", "[0, 8)"}));
  BOOST_CHECK_EXCEPTION((void)router.expert_of(8), moerb::error,
                        message_has({"token_id = 8", "[0, 8)"}));
  const std::vector<std::int32_t> ok{1, 7, 0, 3};
  BOOST_CHECK_EXCEPTION(
      (void)router.forward(Matrix<double>::Zero(4, 2), ForwardContext{.token_ids = ok}),
      moerb::error, message_has({"x", "2 columns", "expected 3"}));
  x(3, 0) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION((void)router.forward(x, ForwardContext{.token_ids = ok}), moerb::error,
                        message_has({"x(3, 0)", "nan"}));
  x(3, 0) = 0;
  Matrix<double> dx = Matrix<double>::Zero(4, 3);
  BOOST_CHECK_EXCEPTION(router.backward(x, {}, dx), moerb::error,
                        message_has({"HashRouter::backward", "before forward"}));
  (void)router.forward(x, ForwardContext{.token_ids = ok});
  const std::vector<double> dw(3, 1.0);
  BOOST_CHECK_EXCEPTION(router.backward(x, dw, dx), moerb::error,
                        message_has({"d_weight", "3 entries", "expected 4"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_routing_hash_router
