#include "moerb/models/generation.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_models_generation {

using namespace moerb;

namespace {
Vector<double> logits_of(std::initializer_list<double> v) {
  Vector<double> out(static_cast<Index>(v.size()));
  Index i = 0;
  for (double x : v) out(i++) = x;
  return out;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(generation)

BOOST_AUTO_TEST_CASE(greedy_takes_the_argmax_with_ties_to_the_lower_id) {
  GenerationOptions g;
  Rng rng(1);
  std::vector<Index> order;
  BOOST_TEST(select_next_token(logits_of({0.1, 2.0, 2.0, -1}), g, rng, order) == 1);
  const double inf = std::numeric_limits<double>::infinity();
  BOOST_TEST(select_next_token(logits_of({-inf, -inf, 0.5}), g, rng, order) == 2);
  CHECK_THROWS_NAMING(select_next_token(logits_of({-inf, -inf}), g, rng, order), "finite");
}

BOOST_AUTO_TEST_CASE(temperature_sampling_follows_the_softmax) {
  GenerationOptions g;
  g.temperature = 2.0;
  Rng rng(5);
  std::vector<Index> order;
  const Vector<double> l = logits_of({1.0, 0.0, -1.0, -std::numeric_limits<double>::infinity()});
  std::vector<int> counts(4, 0);
  const int n = 40000;
  for (int i = 0; i < n; ++i)
    ++counts[static_cast<std::size_t>(select_next_token(l, g, rng, order))];
  const double z = std::exp(0.5) + 1 + std::exp(-0.5);
  const double expected[3] = {std::exp(0.5) / z, 1 / z, std::exp(-0.5) / z};
  for (int i = 0; i < 3; ++i) {
    const double p = expected[i];
    const double sd = std::sqrt(p * (1 - p) / n);
    BOOST_TEST(std::abs(counts[static_cast<std::size_t>(i)] / double(n) - p) < 5 * sd);
  }
  BOOST_TEST(counts[3] == 0);
}

BOOST_AUTO_TEST_CASE(top_p_keeps_the_smallest_nucleus) {
  GenerationOptions g;
  g.temperature = 1.0;
  g.top_p = 0.6;  // probabilities ≈ 0.665, 0.245, 0.090: the nucleus is the first token alone
  Rng rng(9);
  std::vector<Index> order;
  const Vector<double> l = logits_of({1.0, 0.0, -1.0});
  for (int i = 0; i < 200; ++i) BOOST_TEST(select_next_token(l, g, rng, order) == 0);
  g.top_p = 0.8;  // first two tokens
  bool saw_second = false;
  for (int i = 0; i < 400; ++i) {
    const auto id = select_next_token(l, g, rng, order);
    BOOST_TEST(id != 2);
    saw_second = saw_second || id == 1;
  }
  BOOST_TEST(saw_second);
}

BOOST_AUTO_TEST_CASE(options_are_validated) {
  GenerationOptions g;
  g.top_p = 0;
  CHECK_THROWS_NAMING(g.validate("here"), "top_p");
  g.top_p = 1;
  g.max_new_tokens = -1;
  CHECK_THROWS_NAMING(g.validate("here"), "max_new_tokens");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_models_generation
