// Tests for include/moerb/metrics/routing.hpp
//
// Hand-built routings and traces, and the traces of a small MoE EncoderClassifier (what moerb's
// models produce).
#include "moerb/metrics/routing.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>
#include <vector>

#include "moerb/core/rng.hpp"
#include "moerb/metrics/accumulator.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "support/messages.hpp"
#include "support/model_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_metrics_routing {

namespace {

using moerb::ExpertLabelCounts;
using moerb::ExpertLoad;
using moerb::ExpertLoadSummary;
using moerb::Index;
using moerb::IndexMatrix;
using moerb::MoELayerTrace;
using moerb::Routing;
using moerb::RoutingStability;
using moerb::RoutingStabilitySummary;
using moerb::test::message_has;

using Labels = std::vector<std::int32_t>;

bool near(double a, double b, double tolerance = 1e-15) {
  return std::abs(a - b) <= tolerance;
}

/// 3 tokens, 3 experts: expert 0 takes tokens 0 and 2, expert 1 tokens 0 and 1, expert 2 token 2.
Routing<double> small_routing() {
  Routing<double> r;
  r.num_tokens = 3;
  r.num_experts = 3;
  r.k = 2;
  r.offsets = {0, 2, 4, 5};
  r.token = {0, 2, 0, 1, 2};
  r.weight = {0.5, 0.5, 0.5, 1.0, 0.5};
  r.slot = {0, 1, 1, 0, 0};
  r.load = {2, 2, 1};
  r.dropped = 1;  // token 1's second choice
  r.probs = moerb::Matrix<double>::Constant(3, 3, 1.0 / 3.0);
  r.selected.resize(3, 2);
  r.selected << 0, 1, 1, 2, 2, 0;
  return r;
}

using Classifier = moerb::EncoderClassifier<moerb::test::TestMoE<float>>;

Classifier tiny_moe_classifier() {
  const moerb::TransformerConfig c = moerb::test::tiny_config();
  Classifier model({.transformer = c, .num_classes = 3, .head_dropout = 0.0},
                   moerb::test::tiny_moe_spec<float>(c));
  moerb::Rng rng(11);
  model.initialize(rng);
  return model;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(routing)

BOOST_AUTO_TEST_CASE(expert_load_by_hand) {
  // Loads 4, 2, 0 over 4 tokens with k = 2: 2 of 8 choices dropped, 1 token unrouted.
  Routing<double> r;
  r.num_tokens = 4;
  r.num_experts = 3;
  r.k = 2;
  r.load = {4, 2, 0};
  r.dropped = 2;
  r.unrouted_tokens = 1;
  ExpertLoad load;
  load.add(r);
  const ExpertLoadSummary s = load.value();
  BOOST_TEST((s.load == std::vector<std::int64_t>{4, 2, 0}));
  BOOST_TEST(near(s.load_fraction[0], 2.0 / 3.0));
  BOOST_TEST(s.load_fraction[2] == 0.0);
  const double h = -(2.0 / 3.0 * std::log(2.0 / 3.0) + 1.0 / 3.0 * std::log(1.0 / 3.0));
  BOOST_TEST(near(s.normalized_entropy, h / std::log(3.0)));
  BOOST_TEST(near(s.coefficient_of_variation, std::sqrt(8.0 / 3.0) / 2.0));
  BOOST_TEST(s.max_over_mean == 2.0);
  BOOST_TEST(s.drop_rate == 0.25);
  BOOST_TEST(s.unrouted_rate == 0.25);
  BOOST_TEST(s.tokens == 4);
  // A second batch adds up.
  load.add(r);
  BOOST_TEST(load.value().tokens == 8);
  BOOST_TEST(load.value().drop_rate == 0.25);
}

BOOST_AUTO_TEST_CASE(expert_load_edge_cases) {
  Routing<float> uniform;
  uniform.num_tokens = 6;
  uniform.num_experts = 3;
  uniform.k = 1;
  uniform.load = {2, 2, 2};
  ExpertLoad u;
  u.add(uniform);
  BOOST_TEST(near(u.value().normalized_entropy, 1.0));
  BOOST_TEST(u.value().coefficient_of_variation == 0.0);
  BOOST_TEST(u.value().max_over_mean == 1.0);
  BOOST_TEST(u.value().drop_rate == 0.0);

  Routing<float> one_expert = uniform;
  one_expert.load = {6};
  ExpertLoad single;
  single.add(one_expert);
  BOOST_TEST(single.value().normalized_entropy == 1.0);

  // Expert choice asks for nothing (k = 0): no drop rate; every assignment dropped: NaN shape.
  Routing<float> nothing_kept = uniform;
  nothing_kept.load = {0, 0, 0};
  nothing_kept.dropped = 6;
  nothing_kept.unrouted_tokens = 6;
  ExpertLoad none;
  none.add(nothing_kept);
  BOOST_TEST(std::isnan(none.value().normalized_entropy));
  BOOST_TEST(std::isnan(none.value().load_fraction[0]));
  BOOST_TEST(none.value().drop_rate == 1.0);
  BOOST_TEST(none.value().unrouted_rate == 1.0);

  BOOST_CHECK_EXCEPTION((void)ExpertLoad{}.value(), moerb::error,
                        message_has({"ExpertLoad::value", "no tokens"}));
  Routing<float> four = uniform;
  four.load = {1, 1, 1, 3};
  BOOST_CHECK_EXCEPTION(u.add(four), moerb::error,
                        message_has({"ExpertLoad::add", "4 experts, expected 3"}));
  Routing<float> inconsistent = uniform;
  inconsistent.dropped = 7;
  BOOST_CHECK_EXCEPTION(u.add(inconsistent), moerb::error,
                        message_has({"ExpertLoad::add", "inconsistent", "dropped = 7"}));
}

BOOST_AUTO_TEST_CASE(load_of_a_models_trace) {
  Classifier model = tiny_moe_classifier();
  const moerb::TokenBatch batch = moerb::test::tiny_batch();
  (void)model.forward(batch, moerb::ForwardContext{});
  const moerb::ModelTrace<float> trace = model.trace();
  BOOST_TEST_REQUIRE(trace.moe_layers.size() == 2u);
  moerb::ModelExpertLoad load;
  load.add(trace);
  load.add(trace);
  BOOST_TEST((load.layers() == std::vector<Index>{0, 1}));
  const std::vector<ExpertLoadSummary> per_layer = load.value();
  BOOST_TEST_REQUIRE(per_layer.size() == 2u);
  for (const ExpertLoadSummary& s : per_layer) {
    std::int64_t total = 0;
    for (const std::int64_t l : s.load) total += l;
    BOOST_TEST(s.tokens == 2 * batch.num_tokens());
    BOOST_TEST(total == 2 * batch.num_tokens() * 2);  // top-2, no capacity: nothing dropped
    BOOST_TEST(s.drop_rate == 0.0);
    BOOST_TEST(s.normalized_entropy > 0.0);
    BOOST_TEST(s.normalized_entropy <= 1.0);
  }
  moerb::ModelTrace<float> fewer = trace;
  fewer.moe_layers.pop_back();
  BOOST_CHECK_EXCEPTION(load.add(fewer), moerb::error,
                        message_has({"ModelExpertLoad::add", "MoE layers differ"}));
  BOOST_CHECK_EXCEPTION((void)moerb::ModelExpertLoad{}.value(), moerb::error,
                        message_has({"ModelExpertLoad::value"}));
}

BOOST_AUTO_TEST_CASE(expert_label_counts) {
  const Routing<double> r = small_routing();
  const Labels labels{0, 1, 1};
  ExpertLabelCounts from_routing;
  from_routing.add(r, labels);
  moerb::CountMatrix expected(3, 2);
  expected << 1, 1,  // expert 0: token 0 (label 0), token 2 (label 1)
      1, 1,          // expert 1: tokens 0 and 1
      0, 1;          // expert 2: token 2
  BOOST_TEST((from_routing.value() == expected));
  // The same from the per-token view a trace holds.
  MoELayerTrace<double> t;
  t.chosen = moerb::chosen_experts(r);
  t.load = r.load;
  ExpertLabelCounts from_trace;
  from_trace.add(t, labels);
  BOOST_TEST((from_trace.value() == expected));
  // One token at a time; −1 entries are padding.
  ExpertLabelCounts by_token;
  const std::vector<Index> experts{2, -1};
  by_token.add(moerb::TokenExperts{experts, 3});
  BOOST_TEST(by_token.value().rows() == 3);
  BOOST_TEST(by_token.value().cols() == 4);
  BOOST_TEST(by_token.value()(2, 3) == 1);
  BOOST_TEST(by_token.value().sum() == 1);

  // Sequence labels to token labels.
  const moerb::SequenceBatch seqs = moerb::SequenceBatch::from_lengths({3, 1, 2});
  BOOST_TEST((moerb::token_labels(seqs, Labels{0, 2, 1}) == Labels{0, 0, 0, 2, 1, 1}));

  BOOST_CHECK_EXCEPTION(
      from_routing.add(r, Labels{0, 1}), moerb::error,
      message_has({"ExpertLabelCounts::add", "3 tokens in the routing", "2 token labels"}));
  ExpertLabelCounts fixed({.num_experts = 3, .num_classes = 2});
  BOOST_CHECK_EXCEPTION(fixed.add(r, Labels{0, 1, 2}), moerb::error,
                        message_has({"ExpertLabelCounts::add", "label 2"}));
  BOOST_CHECK_EXCEPTION((void)ExpertLabelCounts{}.value(), moerb::error,
                        message_has({"ExpertLabelCounts::value", "no tokens"}));
}

BOOST_AUTO_TEST_CASE(stability_by_hand) {
  RoutingStability s;
  // Token 0: sets {0, 1} / {0, 2}, the same top-1 (0; a tie in P_a goes to the lower index).
  const std::vector<double> a0{0.5, 0.5, 0.0}, b0{0.5, 0.25, 0.25};
  const std::vector<Index> ea0{0, 1}, eb0{0, 2};
  s.add(moerb::TokenRoutingPair<double>{a0, b0, ea0, eb0});
  // Token 1: unchanged. Sigmoid-style rows (not summing to 1) are normalised first.
  const std::vector<double> a1{0.2, 0.8}, b1{0.1, 0.4};
  const std::vector<Index> e1{1};
  s.add(moerb::TokenRoutingPair<double>{a1, b1, e1, e1});
  const RoutingStabilitySummary v = s.value();
  const double kl0 = 0.5 * std::log(2.0);
  const double js0 = 0.5 * (0.5 * std::log(0.5 / 0.375)) +
                     0.5 * (0.25 * std::log(0.25 / 0.375) + 0.25 * std::log(0.25 / 0.125));
  BOOST_TEST(near(v.mean_jaccard, (1.0 / 3.0 + 1.0) / 2));
  BOOST_TEST(v.top1_change_rate == 0.0);
  BOOST_TEST(near(v.mean_kl, kl0 / 2));
  BOOST_TEST(near(v.mean_js, js0 / 2));
  BOOST_TEST(v.tokens == 2);
  // Token 2: disjoint supports — KL is +∞, JS is ln 2, the top-1 expert changes.
  const std::vector<float> a2{1.0f, 0.0f}, b2{0.0f, 1.0f};
  const std::vector<Index> ea2{0}, eb2{1};
  s.add(moerb::TokenRoutingPair<float>{a2, b2, ea2, eb2});
  const RoutingStabilitySummary w = s.value();
  BOOST_TEST(w.mean_kl == std::numeric_limits<double>::infinity());
  BOOST_TEST(near(w.mean_js, (js0 + std::numbers::ln2) / 3));
  BOOST_TEST(near(w.top1_change_rate, 1.0 / 3.0));
  BOOST_TEST(near(w.mean_jaccard, (1.0 / 3.0 + 1.0 + 0.0) / 3));
  // Empty expert sets on both sides count as identical.
  RoutingStability empty_sets;
  const std::vector<Index> none{-1};
  empty_sets.add(moerb::TokenRoutingPair<double>{a1, a1, none, none});
  BOOST_TEST(empty_sets.value().mean_jaccard == 1.0);

  BOOST_CHECK_EXCEPTION((void)RoutingStability{}.value(), moerb::error,
                        message_has({"RoutingStability::value", "no tokens"}));
  const std::vector<double> negative{-0.1, 1.1}, zeros{0.0, 0.0}, three{0.2, 0.3, 0.5};
  BOOST_CHECK_EXCEPTION(s.add(moerb::TokenRoutingPair<double>{negative, a1, e1, e1}), moerb::error,
                        message_has({"RoutingStability::add", "router probability 0 is -0.1"}));
  BOOST_CHECK_EXCEPTION(s.add(moerb::TokenRoutingPair<double>{zeros, a1, e1, e1}), moerb::error,
                        message_has({"RoutingStability::add", "sum to 0"}));
  BOOST_CHECK_EXCEPTION(s.add(moerb::TokenRoutingPair<double>{three, a1, e1, e1}), moerb::error,
                        message_has({"RoutingStability::add", "3 and 2 experts"}));
}

BOOST_AUTO_TEST_CASE(stability_between_two_forwards_of_a_model) {
  Classifier model = tiny_moe_classifier();
  const moerb::TokenBatch batch = moerb::test::tiny_batch();
  (void)model.forward(batch, moerb::ForwardContext{});
  const moerb::ModelTrace<float> top2 = model.trace();
  (void)model.forward(batch, moerb::ForwardContext{});
  const moerb::ModelTrace<float> again = model.trace();
  RoutingStability same;
  same.add(top2, again);
  BOOST_TEST(same.value().mean_jaccard == 1.0);
  BOOST_TEST(same.value().top1_change_rate == 0.0);
  BOOST_TEST(same.value().mean_kl == 0.0);
  BOOST_TEST(same.value().mean_js == 0.0);
  BOOST_TEST(same.value().tokens == 2 * batch.num_tokens());
  // Top-1 at inference: the same router probabilities, each token's set halves (Jaccard ½).
  model.set_inference_k(1);
  (void)model.forward(batch, moerb::ForwardContext{});
  const moerb::ModelTrace<float> top1 = model.trace();
  RoutingStability k_changed;
  k_changed.add(top2.moe_layers[0], top1.moe_layers[0]);
  BOOST_TEST(k_changed.value().mean_jaccard == 0.5);
  BOOST_TEST(k_changed.value().top1_change_rate == 0.0);
  BOOST_TEST(k_changed.value().mean_js == 0.0);
  BOOST_CHECK_EXCEPTION(k_changed.add(top2.moe_layers[0], moerb::MoELayerTrace<float>{}),
                        moerb::error, message_has({"RoutingStability::add", "expected the same"}));
}

BOOST_AUTO_TEST_CASE(router_drift_is_the_cosine_per_expert) {
  moerb::Matrix<double> before(2, 3), after(2, 3);
  before << 1, 0, 1,  //
      0, 1, 1;
  after << 2, 1, -1,  //
      0, 1, -1;
  const std::vector<double> cosine = moerb::router_drift(before, after);
  BOOST_TEST(cosine[0] == 1.0);
  BOOST_TEST(near(cosine[1], 1 / std::sqrt(2.0)));
  BOOST_TEST(near(cosine[2], -1.0));
  const moerb::Matrix<double> zero = moerb::Matrix<double>::Zero(2, 3);
  BOOST_CHECK_EXCEPTION((void)moerb::router_drift(before, zero), moerb::error,
                        message_has({"router_drift", "expert 0 is zero"}));
  BOOST_CHECK_EXCEPTION((void)moerb::router_drift(before, moerb::Matrix<double>(3, 3)),
                        moerb::error, message_has({"router_drift", "2×3 and 3×3"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_metrics_routing
