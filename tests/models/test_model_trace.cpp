// Tests for include/moerb/models/model_trace.hpp
#include "moerb/models/model_trace.hpp"

#include <boost/test/unit_test.hpp>
#include <vector>

#include "moerb/models/transformer_trunk.hpp"
#include "moerb/nn/layer_norm.hpp"
#include "support/model_testing.hpp"
#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_models_model_trace {

using namespace moerb;
using namespace moerb::test;

namespace {

/// A routing given per expert as (token, slot) pairs in ascending token order; empty slots for
/// policies without them.
Routing<double> make_routing(Index num_tokens, Index k,
                             const std::vector<std::vector<std::pair<Index, Index>>>& per_expert,
                             bool with_slots) {
  Routing<double> r;
  r.num_tokens = num_tokens;
  r.num_experts = static_cast<Index>(per_expert.size());
  r.k = k;
  r.offsets.push_back(0);
  for (const auto& assignments : per_expert) {
    for (const auto& [token, slot] : assignments) {
      r.token.push_back(token);
      r.weight.push_back(0.5);
      if (with_slots) r.slot.push_back(slot);
    }
    r.offsets.push_back(static_cast<Index>(r.token.size()));
  }
  return r;
}

IndexMatrix rows(std::initializer_list<std::initializer_list<Index>> values) {
  const auto n = static_cast<Index>(values.size());
  const auto m = n > 0 ? static_cast<Index>(values.begin()->size()) : 0;
  IndexMatrix out(n, m);
  Index i = 0;
  for (const auto& row : values) {
    Index j = 0;
    for (Index v : row) out(i, j++) = v;
    ++i;
  }
  return out;
}

bool same(const IndexMatrix& a, const IndexMatrix& b) {
  const bool ok = a.rows() == b.rows() && a.cols() == b.cols() && (a.array() == b.array()).all();
  if (!ok) BOOST_TEST_MESSAGE("got\n" << a << "\nexpected\n" << b);
  return ok;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(model_trace)

BOOST_AUTO_TEST_CASE(token_choice_is_ordered_by_slot) {
  // Token 0 chose experts (2, 0), token 1 (0, 1), token 2 (1, 2): by expert id the rows of
  // tokens 0 would read (0, 2); by slot they read as chosen.
  const Routing<double> r = make_routing(3, 2,
                                         {{{0, 1}, {1, 0}},   // expert 0
                                          {{1, 1}, {2, 0}},   // expert 1
                                          {{0, 0}, {2, 1}}},  // expert 2
                                         true);
  BOOST_TEST(same(chosen_experts(r), rows({{2, 0}, {0, 1}, {1, 2}})));
  // Without slots, the same assignments are listed by expert id.
  const Routing<double> no_slots =
      make_routing(3, 2, {{{0, 1}, {1, 0}}, {{1, 1}, {2, 0}}, {{0, 0}, {2, 1}}}, false);
  BOOST_TEST(same(chosen_experts(no_slots), rows({{0, 2}, {0, 1}, {1, 2}})));
}

BOOST_AUTO_TEST_CASE(capacity_dropped_choices_are_absent) {
  // As above, but expert 2 was full: token 0's first choice (slot 0) was dropped.
  const Routing<double> r = make_routing(3, 2,
                                         {{{0, 1}, {1, 0}},  // expert 0
                                          {{1, 1}, {2, 0}},  // expert 1
                                          {{2, 1}}},         // expert 2
                                         true);
  BOOST_TEST(same(chosen_experts(r), rows({{-1, 0}, {0, 1}, {1, 2}})));

  // Every token kept one choice: one column, a kept second choice moves into it.
  const Routing<double> one =
      make_routing(3, 2, {{{0, 1}}, {{1, 0}}, {{2, 0}}}, true);  // token 0: only slot 1 kept
  BOOST_TEST(same(chosen_experts(one), rows({{0}, {1}, {2}})));

  // A token with nothing kept is a row of −1.
  const Routing<double> lost = make_routing(3, 2, {{{0, 0}, {2, 0}}, {{0, 1}}, {}}, true);
  BOOST_TEST(same(chosen_experts(lost), rows({{0, 1}, {-1, -1}, {0, -1}})));
}

BOOST_AUTO_TEST_CASE(expert_choice_gives_tokens_zero_to_three_experts) {
  // Each expert takes two tokens: token 0 is taken by all three, token 1 by two, token 2 by one
  // and token 3 by none.
  const Routing<double> r =
      make_routing(4, 0, {{{0, 0}, {1, 0}}, {{0, 0}, {1, 0}}, {{0, 0}, {2, 0}}}, false);
  BOOST_TEST(same(chosen_experts(r), rows({{0, 1, 2}, {0, 1, -1}, {2, -1, -1}, {-1, -1, -1}})));
}

BOOST_AUTO_TEST_CASE(empty_routings) {
  Routing<double> none = make_routing(0, 2, {{}, {}}, true);
  const IndexMatrix c = chosen_experts(none);
  BOOST_TEST(c.rows() == 0);
  BOOST_TEST(c.cols() == 0);
  const Routing<double> nothing_kept = make_routing(2, 1, {{}, {}}, true);
  const IndexMatrix n = chosen_experts(nothing_kept);
  BOOST_TEST(n.rows() == 2);
  BOOST_TEST(n.cols() == 0);
}

BOOST_AUTO_TEST_CASE(make_trace_reports_a_small_models_forward) {
  TransformerConfig c = tiny_config();
  c.num_layers = 4;
  c.moe_every = 2;
  auto spec = tiny_moe_spec<double>(c);
  spec.router.eval_capacity_factor = 0.5;  // ⌈0.5 · 9 · 2 / 4⌉ = 3 per expert: drops
  TransformerTrunk<TestMoE<double>, LayerNorm> trunk(c, spec, false);
  Rng rng(2);
  trunk.initialize(rng);
  const TokenBatch batch = tiny_batch();
  trunk.forward(batch, ForwardContext{});

  const ModelTrace<double> with_states = make_trace(trunk, true);
  BOOST_REQUIRE(with_states.hidden_states.size() == 5u);
  for (Index i = 0; i <= 4; ++i) {
    BOOST_TEST(
        (with_states.hidden_states[static_cast<std::size_t>(i)] - trunk.hidden_state(i)).norm() ==
        0.0);
  }
  const ModelTrace<double> trace = make_trace(trunk, false);
  BOOST_TEST(trace.hidden_states.empty());
  BOOST_REQUIRE(trace.moe_layers.size() == 2u);

  double aux = 0;
  std::size_t i = 0;
  Index total_dropped = 0;
  trunk.for_each_moe([&](Index layer, const auto& moe) {
    const Routing<double>& r = moe.routing();
    const MoELayerTrace<double>& t = trace.moe_layers[i++];
    BOOST_TEST_CONTEXT("block " << layer) {
      BOOST_TEST(t.layer == layer);
      BOOST_TEST((t.probs - r.probs).norm() == 0.0);
      BOOST_TEST(t.probs.rows() == 9);
      BOOST_TEST(t.probs.cols() == 4);
      BOOST_TEST(same(t.chosen, chosen_experts(r)));
      BOOST_TEST(same(t.selected, r.selected));
      BOOST_TEST(t.load == r.load, boost::test_tools::per_element());
      BOOST_TEST(t.dropped == r.dropped);
      BOOST_TEST(t.unrouted_tokens == r.unrouted_tokens);
      BOOST_TEST(t.drop_rate == static_cast<double>(r.dropped) / 18.0);
      BOOST_TEST(t.load_balancing_loss == r.load_balancing_loss);
      BOOST_TEST(t.z_loss == r.z_loss);
      BOOST_TEST(t.aux_loss == r.aux_loss);
      // Kept choices sit in their slot's column; dropped ones are −1.
      Index kept = 0, unrouted = 0;
      BOOST_REQUIRE(t.chosen.cols() == 2);
      for (Index tok = 0; tok < 9; ++tok) {
        Index kept_here = 0;
        for (Index j = 0; j < 2; ++j) {
          if (r.assignment(tok, j) < 0) {
            BOOST_TEST(t.chosen(tok, j) == -1);
          } else {
            BOOST_TEST(t.chosen(tok, j) == t.selected(tok, j));
            ++kept_here;
          }
        }
        kept += kept_here;
        unrouted += kept_here == 0;
      }
      Index load = 0;
      for (Index l : t.load) load += l;
      BOOST_TEST(kept == load);
      BOOST_TEST(t.dropped == 18 - kept);
      BOOST_TEST(t.unrouted_tokens == unrouted);
    }
    total_dropped += t.dropped;
    aux += r.aux_loss;
  });
  BOOST_TEST(total_dropped > 0);
  BOOST_TEST(trace.aux_loss == aux);
  BOOST_TEST(trace.aux_loss == trunk.aux_loss());
  BOOST_TEST(trace.moe_layers[0].layer == 1);
  BOOST_TEST(trace.moe_layers[1].layer == 3);
}

BOOST_AUTO_TEST_CASE(make_trace_needs_a_forward) {
  const TransformerConfig c = tiny_config();
  TransformerTrunk<TestMoE<double>, LayerNorm> trunk(c, tiny_moe_spec<double>(c), false);
  CHECK_THROWS_NAMING(make_trace(trunk, true), "no forward yet");
  CHECK_THROWS_NAMING(make_trace(trunk, false), "no forward yet");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_models_model_trace
