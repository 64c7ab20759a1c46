// Tests for include/moerb/attacks/router_attack.hpp: the router objectives' gradient against
// finite differences, PGD and token swaps against random perturbations of the same budget, the
// report, determinism and bad input.
#include "moerb/attacks/router_attack.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/models/decoder_lm.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "moerb/models/token_batch.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"
#include "support/model_testing.hpp"

namespace moerb_test_attacks_router_attack {

using moerb::Index;
using moerb::Matrix;
using moerb::PerturbationNorm;
using moerb::Rng;
using moerb::RouterObjective;
using moerb::RouterObjectiveOptions;
using moerb::RouterPGDOptions;
using moerb::RouterSwapOptions;
using moerb::TokenBatch;
using moerb::test::message_has;
using Classifier = moerb::EncoderClassifier<moerb::test::TestMoE<double>>;

namespace {

Classifier::Options classifier_options(Index vocab = 13) {
  Classifier::Options o;
  o.transformer = moerb::test::tiny_config();
  o.transformer.vocab_size = vocab;
  o.num_classes = 2;
  o.head_dropout = 0.0;
  return o;
}

Classifier make_classifier(Index vocab = 13, std::uint64_t seed = 3) {
  const Classifier::Options o = classifier_options(vocab);
  Classifier model(o, moerb::test::tiny_moe_spec<double>(o.transformer));
  Rng rng(seed);
  model.initialize(rng);
  return model;
}

/// `count` sequences of `length` regular ids (>= 7) below `vocab`, the first token of each a
/// special id (2, as [CLS]) that the swaps must leave alone.
TokenBatch random_batch(Index count, Index length, Index vocab, std::uint64_t seed) {
  Rng rng(seed);
  TokenBatch batch;
  for (Index b = 0; b < count; ++b) {
    std::vector<std::int32_t> ids{2};
    for (Index i = 1; i < length; ++i) {
      ids.push_back(
          static_cast<std::int32_t>(7 + rng.uniform_index(static_cast<std::uint64_t>(vocab - 7))));
    }
    batch.push_back(ids);
  }
  return batch;
}

/// ‖rows of sequence b‖_F of a tokens × d matrix.
double sequence_norm(const Matrix<double>& m, const TokenBatch& batch, Index b) {
  return m.middleRows(batch.sequences.begin(b), batch.sequences.length(b)).norm();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(router_attack)

BOOST_AUTO_TEST_CASE(objective_gradient_matches_central_differences) {
  // Double precision, tiny model with the auxiliary losses on (so the subtraction of their share
  // is exercised), at a point away from the clean one (the divergence's gradient is 0 there).
  Classifier model = make_classifier();
  const TokenBatch batch = moerb::test::tiny_batch();
  const std::vector<Matrix<double>> clean = moerb::clean_router_logits(model, batch);
  BOOST_TEST(clean.size() == 2u);
  BOOST_TEST(model.aux_loss() != 0.0);
  Matrix<double> e = model.embed(batch);
  Rng rng(5);
  for (Index i = 0; i < e.size(); ++i) e.data()[i] += rng.uniform(-0.05, 0.05);

  const RouterObjectiveOptions objectives[] = {
      {.kind = RouterObjective::divergence},
      {.kind = RouterObjective::flip_top1, .margin = 5.0},
      {.kind = RouterObjective::steer, .target_expert = 2},
  };
  for (const RouterObjectiveOptions& objective : objectives) {
    Matrix<double> analytic;
    const auto value = moerb::router_objective(model, e, batch, clean, objective, &analytic);
    BOOST_TEST(value.per_sequence.size() == 3u);
    BOOST_TEST(analytic.rows() == e.rows());
    BOOST_TEST(analytic.norm() > 1e-3);
    const Matrix<double> numeric = moerb::test::numeric_gradient(
        e, [&] { return moerb::router_objective(model, e, batch, clean, objective).total; });
    const double err = moerb::test::relative_error(numeric, analytic);
    BOOST_TEST_MESSAGE("objective " << static_cast<int>(objective.kind) << ": " << err);
    BOOST_TEST(err < 1e-6);
  }
  // At the clean point the divergence is 0.
  const auto at_clean = moerb::router_objective(model, model.embed(batch), batch, clean,
                                                {.kind = RouterObjective::divergence});
  BOOST_TEST(at_clean.total == 0.0, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(pgd_changes_routing_more_than_a_random_perturbation_of_equal_budget) {
  Classifier model = make_classifier(20);
  const TokenBatch batch = random_batch(6, 6, 20, 7);
  const std::vector<std::int32_t> labels = {0, 1, 0, 1, 1, 0};
  for (const PerturbationNorm norm : {PerturbationNorm::l2, PerturbationNorm::linf}) {
    RouterPGDOptions o;
    o.norm = norm;
    o.epsilon = norm == PerturbationNorm::l2 ? 0.1 : 0.02;
    o.steps = 8;
    o.seed = 11;
    const auto result = moerb::router_attack_embeddings(model, batch, o, labels);
    const auto& r = result.report;
    BOOST_TEST_MESSAGE("norm " << static_cast<int>(norm) << ": top-1 change "
                               << r.attack.top1_change_rate << " vs random "
                               << r.random.top1_change_rate << ", KL " << r.attack.mean_kl << " vs "
                               << r.random.mean_kl);
    BOOST_TEST(r.clean_objective == 0.0, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(r.attack_objective > r.random_objective);
    BOOST_TEST(r.attack.top1_change_rate > r.random.top1_change_rate);
    BOOST_TEST(r.attack.mean_kl > r.random.mean_kl);
    BOOST_TEST(r.attack.mean_jaccard < r.random.mean_jaccard);
    BOOST_TEST(r.attack.tokens == 2 * batch.num_tokens());  // two MoE layers, pooled
    // Both perturbations stay within the budget, the random one at its edge; the special first
    // token of each sequence stays clean.
    for (Index b = 0; b < batch.num_sequences(); ++b) {
      const Index first = batch.sequences.begin(b);
      BOOST_TEST(result.delta.row(first).norm() == 0.0);
      BOOST_TEST(result.random_delta.row(first).norm() == 0.0);
      if (norm == PerturbationNorm::l2) {
        BOOST_TEST(sequence_norm(result.delta, batch, b) <= o.epsilon * (1 + 1e-12));
        BOOST_TEST(sequence_norm(result.random_delta, batch, b) == o.epsilon,
                   boost::test_tools::tolerance(1e-12));
      } else {
        const auto rows = result.random_delta.middleRows(first + 1, batch.sequences.length(b) - 1);
        BOOST_TEST(
            result.delta.middleRows(first, batch.sequences.length(b)).cwiseAbs().maxCoeff() <=
            o.epsilon);
        BOOST_TEST(rows.cwiseAbs().minCoeff() == o.epsilon);
        BOOST_TEST(rows.cwiseAbs().maxCoeff() == o.epsilon);
      }
    }
    // Accuracies from the labels; forwards: the clean reference, steps + 1 in PGD, 3 for the
    // report.
    for (const double a : {r.clean_accuracy, r.attack_accuracy, r.random_accuracy}) {
      BOOST_TEST((a >= 0.0 && a <= 1.0));
    }
    BOOST_TEST(r.forwards == 1 + (o.steps + 1) + 3);
    BOOST_TEST(r.backwards == 2 * o.steps);  // the aux losses' share costs a second backward
  }
}

BOOST_AUTO_TEST_CASE(flip_and_steer_objectives_reach_their_aims) {
  Classifier model = make_classifier(20);
  const TokenBatch batch = random_batch(6, 6, 20, 8);
  RouterPGDOptions o;
  o.epsilon = 0.1;
  o.steps = 8;
  o.objective = {.kind = RouterObjective::flip_top1, .margin = 1.0};
  const auto flip = moerb::router_attack_embeddings(model, batch, o);
  BOOST_TEST(flip.report.attack_objective > flip.report.clean_objective);
  BOOST_TEST(flip.report.attack.top1_change_rate > flip.report.random.top1_change_rate);
  BOOST_TEST(std::isnan(flip.report.clean_accuracy));  // no labels

  // Steering: the share of tokens whose top-1 expert is the target grows.
  o.objective = {.kind = RouterObjective::steer, .target_expert = 1};
  const auto steer = moerb::router_attack_embeddings(model, batch, o);
  BOOST_TEST(steer.report.attack_objective > steer.report.clean_objective);
  BOOST_TEST(steer.report.attack_objective > steer.report.random_objective);
  const auto target_share = [&](const Matrix<double>& delta) {
    model.forward_embeddings(model.embed(batch) + delta, batch, {});
    Index hits = 0, tokens = 0;
    for (const auto& layer : model.trace().moe_layers) {
      for (Index t = 0; t < layer.probs.rows(); ++t) {
        Index best = 0;
        layer.probs.row(t).maxCoeff(&best);
        hits += best == 1 ? 1 : 0;
        ++tokens;
      }
    }
    return static_cast<double>(hits) / static_cast<double>(tokens);
  };
  const Matrix<double> zero = Matrix<double>::Zero(batch.num_tokens(), 8);
  const double clean_share = target_share(zero);
  const double steered_share = target_share(steer.delta);
  BOOST_TEST_MESSAGE("steer: target top-1 share " << clean_share << " -> " << steered_share
                                                  << "; flip: top-1 change "
                                                  << flip.report.attack.top1_change_rate << " vs "
                                                  << flip.report.random.top1_change_rate);
  BOOST_TEST(steered_share > clean_share + 0.2);
}

BOOST_AUTO_TEST_CASE(token_swaps_change_routing_more_than_random_swaps) {
  Classifier model = make_classifier(20);
  const TokenBatch batch = random_batch(6, 6, 20, 9);
  RouterSwapOptions o;
  o.max_swaps = 2;
  o.candidates = 12;
  o.seed = 4;
  const auto result = moerb::router_attack_tokens(model, batch, o);
  const auto& r = result.report;
  BOOST_TEST_MESSAGE("swaps: top-1 change " << r.attack.top1_change_rate << " vs random "
                                            << r.random.top1_change_rate << ", KL "
                                            << r.attack.mean_kl << " vs " << r.random.mean_kl);
  BOOST_TEST(r.attack_objective > r.clean_objective);
  BOOST_TEST(r.attack.top1_change_rate > r.random.top1_change_rate);
  BOOST_TEST(r.attack.mean_kl > r.random.mean_kl);
  // Budget: at most max_swaps changed per sequence, the random baseline changes as many; the
  // special first token stays and no special id appears.
  Index total = 0;
  for (Index b = 0; b < batch.num_sequences(); ++b) {
    Index attack_changes = 0, random_changes = 0;
    for (Index t = batch.sequences.begin(b); t < batch.sequences.end(b); ++t) {
      const auto i = static_cast<std::size_t>(t);
      attack_changes += result.tokens.ids[i] != batch.ids[i] ? 1 : 0;
      random_changes += result.random_tokens.ids[i] != batch.ids[i] ? 1 : 0;
      if (t == batch.sequences.begin(b)) {
        BOOST_TEST(result.tokens.ids[i] == 2);
        BOOST_TEST(result.random_tokens.ids[i] == 2);
      } else {
        BOOST_TEST(result.tokens.ids[i] >= 7);
        BOOST_TEST(result.random_tokens.ids[i] >= 7);
      }
    }
    const Index swaps = result.swaps[static_cast<std::size_t>(b)];
    BOOST_TEST(swaps <= o.max_swaps);
    BOOST_TEST(attack_changes == swaps);
    BOOST_TEST(random_changes == swaps);
    total += swaps;
  }
  BOOST_TEST(total > 0);
  BOOST_TEST(r.candidates_scored > 0);
  BOOST_TEST(r.candidates_scored <= o.max_swaps * o.candidates * batch.num_sequences());
}

BOOST_AUTO_TEST_CASE(same_seed_same_result_and_gradients_left_alone) {
  Classifier model = make_classifier(20);
  const TokenBatch batch = random_batch(3, 5, 20, 10);
  // Parameter gradients as a trainer might have left them; the attacks must give them back.
  Rng rng(12);
  model.visit_parameters(
      [&](std::string_view, moerb::Parameter<double>& p) {
        for (Index i = 0; i < p.grad.size(); ++i) p.grad.data()[i] = rng.uniform(-1, 1);
      },
      "");
  std::vector<Matrix<double>> grads_before, values_before;
  model.visit_parameters(
      [&](std::string_view, moerb::Parameter<double>& p) {
        grads_before.push_back(p.grad);
        values_before.push_back(p.value);
      },
      "");

  RouterPGDOptions o;
  o.epsilon = 0.1;
  o.steps = 3;
  o.seed = 21;
  const auto a = moerb::router_attack_embeddings(model, batch, o);
  const auto b = moerb::router_attack_embeddings(model, batch, o);
  BOOST_TEST((a.delta - b.delta).norm() == 0.0);
  BOOST_TEST((a.random_delta - b.random_delta).norm() == 0.0);
  BOOST_TEST((a.report.attack == b.report.attack));
  BOOST_TEST(a.report.attack_objective == b.report.attack_objective);
  o.seed = 22;
  const auto c = moerb::router_attack_embeddings(model, batch, o);
  BOOST_TEST((a.random_delta - c.random_delta).norm() > 0.0);

  RouterSwapOptions s;
  s.max_swaps = 2;
  s.candidates = 4;
  s.seed = 5;
  const auto x = moerb::router_attack_tokens(model, batch, s);
  const auto y = moerb::router_attack_tokens(model, batch, s);
  BOOST_TEST(x.tokens.ids == y.tokens.ids);
  BOOST_TEST(x.random_tokens.ids == y.random_tokens.ids);
  BOOST_TEST(x.swaps == y.swaps);

  std::size_t i = 0;
  model.visit_parameters(
      [&](std::string_view name, moerb::Parameter<double>& p) {
        BOOST_TEST((p.grad - grads_before[i]).norm() == 0.0, "gradient of " << name);
        BOOST_TEST((p.value - values_before[i]).norm() == 0.0, "value of " << name);
        ++i;
      },
      "");
}

BOOST_AUTO_TEST_CASE(works_on_a_decoder_lm) {
  using LM = moerb::DecoderLM<moerb::test::TestMoE<double>>;
  LM::Options lo;
  lo.transformer = moerb::test::tiny_config();
  lo.transformer.vocab_size = 20;
  lo.transformer.num_segments = 0;
  LM lm(lo, moerb::test::tiny_moe_spec<double>(lo.transformer));
  Rng rng(6);
  lm.initialize(rng);
  const TokenBatch batch = random_batch(4, 6, 20, 11);
  RouterPGDOptions o;
  o.epsilon = 0.1;
  o.steps = 6;
  const auto pgd = moerb::router_attack_embeddings(lm, batch, o);
  BOOST_TEST(pgd.report.attack.mean_kl > pgd.report.random.mean_kl);
  BOOST_TEST(std::isnan(pgd.report.attack_accuracy));
  RouterSwapOptions s;
  s.max_swaps = 1;
  s.candidates = 8;
  const auto swaps = moerb::router_attack_tokens(lm, batch, s);
  BOOST_TEST(swaps.report.attack_objective > swaps.report.clean_objective);
  // Labels need a classifier.
  const std::vector<std::int32_t> labels = {0, 1, 0, 1};
  BOOST_CHECK_EXCEPTION((void)moerb::router_attack_embeddings(lm, batch, o, labels), moerb::error,
                        message_has({"router_attack_embeddings", "not a classifier"}));
}

BOOST_AUTO_TEST_CASE(bad_input_throws_naming_the_problem) {
  Classifier model = make_classifier(20);
  const TokenBatch batch = random_batch(2, 4, 20, 12);
  RouterPGDOptions o;
  o.steps = 1;
  const auto pgd_throws = [&](RouterPGDOptions bad, std::vector<std::string> parts,
                              std::vector<std::int32_t> labels = {}) {
    BOOST_CHECK_EXCEPTION((void)moerb::router_attack_embeddings(model, batch, bad, labels),
                          moerb::error, message_has(parts));
  };
  RouterPGDOptions bad = o;
  bad.epsilon = 0;
  pgd_throws(bad, {"router_attack_embeddings", "epsilon = 0"});
  bad = o;
  bad.epsilon = std::numeric_limits<double>::quiet_NaN();
  pgd_throws(bad, {"epsilon"});
  bad = o;
  bad.steps = 0;
  pgd_throws(bad, {"steps = 0"});
  bad = o;
  bad.step_size = -1;
  pgd_throws(bad, {"step_size = -1"});
  bad = o;
  bad.objective = {.kind = RouterObjective::steer, .target_expert = 4};
  pgd_throws(bad, {"target_expert = 4", "4 experts"});
  bad = o;
  bad.objective = {.kind = RouterObjective::flip_top1, .margin = -1};
  pgd_throws(bad, {"margin = -1"});
  pgd_throws(o, {"3 labels for 2 sequences"}, {0, 1, 0});
  pgd_throws(o, {"label 1 is 2", "[0, 2)"}, {0, 2});

  RouterSwapOptions s;
  s.max_swaps = 0;
  BOOST_CHECK_EXCEPTION((void)moerb::router_attack_tokens(model, batch, s), moerb::error,
                        message_has({"router_attack_tokens", "max_swaps = 0"}));
  s.max_swaps = 1;
  s.candidates = 0;
  BOOST_CHECK_EXCEPTION((void)moerb::router_attack_tokens(model, batch, s), moerb::error,
                        message_has({"candidates = 0"}));
  s.candidates = 2;
  TokenBatch out_of_range = batch;
  out_of_range.ids[1] = 20;
  BOOST_CHECK_EXCEPTION((void)moerb::router_attack_tokens(model, out_of_range, s), moerb::error,
                        message_has({"router_attack_tokens", "id 20", "[0, 20)"}));
  BOOST_CHECK_EXCEPTION((void)moerb::router_attack_tokens(model, TokenBatch{}, s), moerb::error,
                        message_has({"router_attack_tokens", "empty TokenBatch"}));

  // The objective against clean logits of another layout.
  const TokenBatch other = random_batch(1, 3, 20, 13);
  const auto wrong = moerb::clean_router_logits(model, other);
  BOOST_CHECK_EXCEPTION(
      (void)moerb::router_objective(model, model.embed(batch), batch, wrong, {}), moerb::error,
      message_has({"router_objective", "clean router logits", "3×4", "expected 8×4"}));

  // Random routing at evaluation has no gradient.
  model.set_random_inference_routing(true);
  pgd_throws(o, {"router_attack_embeddings", "random-routing baseline"});
  model.set_random_inference_routing(false);

  // A model whose blocks are all dense (moe_every = 2 with one layer) has no routing.
  Classifier::Options dense_options = classifier_options(20);
  dense_options.transformer.num_layers = 1;
  dense_options.transformer.moe_every = 2;
  Classifier dense(dense_options, moerb::test::tiny_moe_spec<double>(dense_options.transformer));
  Rng rng(3);
  dense.initialize(rng);
  BOOST_CHECK_EXCEPTION((void)moerb::router_attack_embeddings(dense, batch, o), moerb::error,
                        message_has({"router_attack_embeddings", "no MoE block"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_router_attack
