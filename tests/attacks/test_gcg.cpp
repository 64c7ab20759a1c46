#include "moerb/attacks/gcg.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "attacks/lm_testing.hpp"
#include "moerb/attacks/attack_result.hpp"
#include "moerb/attacks/lm_goals.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/metrics/safety.hpp"
#include "moerb/models/decoder_lm.hpp"
#include "moerb/models/generation.hpp"
#include "moerb/models/token_batch.hpp"
#include "moerb/text/word_tokenizer.hpp"
#include "support/gradcheck.hpp"
#include "support/model_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_attacks_gcg {

using namespace moerb;
using namespace moerb::test;
using Ids = std::vector<std::int32_t>;
using MoELM = DecoderLM<TestMoE<double>>;
using DenseLM = DecoderLM<TestDense<double>>;

namespace {

// The tiny LMs (attacks/lm_testing.hpp): vocabulary 13, ids 7-12 are the non-special ones.
MoELM tiny_moe(std::uint64_t seed, bool aux_losses = true) {
  return perturbed_tiny_lm(tiny_lm_moe_spec(aux_losses), seed);
}
DenseLM tiny_dense(std::uint64_t seed) {
  return perturbed_tiny_lm(tiny_dense_spec<double>(tiny_config()), seed);
}

/// A victim that is not a moerb model: it wraps one and counts what the attack asks of it.
template <class LM>
struct CountingVictim {
  using Scalar = typename LM::Scalar;
  explicit CountingVictim(LM& wrapped) : lm(wrapped) {}
  LM& lm;
  std::vector<TokenBatch> forward_batches;   // forward (scoring)
  std::vector<TokenBatch> gradient_batches;  // forward_embeddings (gradient)
  int backwards = 0;
  int generations = 0;

  [[nodiscard]] Index vocab_size() const { return lm.vocab_size(); }
  [[nodiscard]] const TransformerConfig& config() const { return lm.config(); }
  const Matrix<Scalar>& forward(const TokenBatch& b, const ForwardContext& c) {
    forward_batches.push_back(b);
    return lm.forward(b, c);
  }
  const Matrix<Scalar>& embed(const TokenBatch& b) { return lm.embed(b); }
  const Matrix<Scalar>& forward_embeddings(const Matrix<Scalar>& e, const TokenBatch& b,
                                           const ForwardContext& c) {
    gradient_batches.push_back(b);
    return lm.forward_embeddings(e, b, c);
  }
  const Matrix<Scalar>& backward(const Matrix<Scalar>& d, bool update_token_embedding) {
    ++backwards;
    return lm.backward(d, update_token_embedding);
  }
  [[nodiscard]] const Matrix<Scalar>& word_embedding_table() const {
    return lm.word_embedding_table();
  }
  std::vector<std::int32_t> generate(std::span<const std::int32_t> prompt,
                                     const GenerationOptions& o) {
    ++generations;
    return lm.generate(prompt, o);
  }
};

Ids concat(const Ids& a, const Ids& b) {
  Ids out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

/// The directional derivative of L along e_v − e_{x_i} of suffix row i, by central differences of
/// L at the word embeddings, for every row i and token v (rows × vocab).
template <class LM>
Matrix<double> directional_derivatives(LM& lm, const Ids& prompt, const Ids& suffix,
                                       const Ids& target) {
  const Ids prefix = concat(prompt, suffix);
  TokenBatch batch;
  batch.push_back(concat(prefix, Ids(target.begin(), target.end() - 1)));
  const Matrix<double> e0 = lm.embed(batch);
  const Matrix<double>& table = lm.word_embedding_table();
  const auto loss_at = [&](const Matrix<double>& e) {
    const Matrix<double> logits = lm.forward_embeddings(e, batch, ForwardContext{});
    double sum = 0;
    for (std::size_t j = 0; j < target.size(); ++j) {
      const auto row = logits.row(static_cast<Index>(prefix.size() + j) - 1);
      const double m = row.maxCoeff();
      sum -= row(target[j]) - m - std::log((row.array() - m).exp().sum());
    }
    return sum / static_cast<double>(target.size());
  };
  const double h = 1e-6;
  Matrix<double> out(static_cast<Index>(suffix.size()), table.rows());
  for (std::size_t i = 0; i < suffix.size(); ++i) {
    const Index row = static_cast<Index>(prompt.size() + i);
    for (Index v = 0; v < table.rows(); ++v) {
      Matrix<double> e = e0;
      const auto direction = (table.row(v) - table.row(suffix[i])).eval();
      e.row(row) += h * direction;
      const double plus = loss_at(e);
      e.row(row) = e0.row(row) - h * direction;
      const double minus = loss_at(e);
      out(static_cast<Index>(i), v) = (plus - minus) / (2 * h);
    }
  }
  return out;
}

template <class LM>
void check_one_hot_gradient(LM& lm) {
  const Ids prompt{5, 9};
  const Ids suffix{8, 12, 10};
  const Ids target{11, 7};
  const TargetContinuationGoal goal(target, 1.0);
  Matrix<double> d_prefix;
  (void)goal.loss_gradient(lm, std::span<const std::int32_t>(concat(prompt, suffix)), d_prefix);
  const Matrix<double> d_suffix = d_prefix.bottomRows(3);
  const Matrix<double> g = one_hot_token_gradient(lm, d_suffix);
  // G = ∂L/∂E · Tᵀ ...
  BOOST_TEST(relative_error(g, d_suffix * lm.word_embedding_table().transpose()) < 1e-14);
  // ... and G(i, v) − G(i, x_i) is the derivative of L along E[v] − E[x_i].
  Matrix<double> predicted(g.rows(), g.cols());
  for (Index i = 0; i < g.rows(); ++i) {
    predicted.row(i) = g.row(i).array() - g(i, suffix[static_cast<std::size_t>(i)]);
  }
  const Matrix<double> numeric = directional_derivatives(lm, prompt, suffix, target);
  BOOST_TEST(numeric.norm() > 1e-3);
  BOOST_TEST(relative_error(numeric, predicted) < 1e-6);
}

GCGOptions small_options() {
  GCGOptions o;
  o.suffix_length = 3;
  o.top_k = 4;
  o.batch_size = 16;
  o.steps = 6;
  o.seed = 1;
  o.skip_if_already_succeeded = false;
  return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(gcg)

BOOST_AUTO_TEST_CASE(one_hot_gradient_matches_finite_differences) {
  auto moe = tiny_moe(5, /*aux_losses=*/false);
  check_one_hot_gradient(moe);
  auto dense = tiny_dense(6);
  check_one_hot_gradient(dense);
}

BOOST_AUTO_TEST_CASE(lowers_the_target_nll) {
  auto moe = tiny_moe(3);
  auto dense = tiny_dense(4);
  const Ids prompt{5, 9, 8};
  const Ids target{11, 7, 12};
  const TargetContinuationGoal never(target, 1e-6);
  const auto run = [&](auto& lm, const GCGOptions& o) {
    const GCGResult r = gcg_attack(lm, never, std::span<const std::int32_t>(prompt), o);
    BOOST_TEST((r.status == AttackStatus::failed));
    BOOST_TEST_REQUIRE(r.loss_history.size() == static_cast<std::size_t>(o.steps) + 1);
    BOOST_TEST(r.steps == o.steps);
    BOOST_TEST(r.suffix.size() == 3u);
    BOOST_TEST((r.adversarial_prompt == concat(prompt, r.suffix)));
    // The returned suffix is the lowest-loss one, and its loss is exact.
    BOOST_TEST(r.loss == *std::min_element(r.loss_history.begin(), r.loss_history.end()));
    BOOST_TEST(r.loss == never.loss(lm, std::span<const std::int32_t>(r.adversarial_prompt)),
               boost::test_tools::tolerance(1e-12));
    BOOST_TEST(r.loss < r.loss_history.front() - 0.05);
    BOOST_TEST(r.seconds >= r.model_seconds);
    BOOST_TEST(r.model_seconds > 0.0);
    return r;
  };
  GCGOptions o = small_options();
  run(moe, o);
  run(dense, o);
  // Only improvements: the history never rises.
  o.accept_worse = false;
  const GCGResult mono = run(moe, o);
  for (std::size_t s = 1; s < mono.loss_history.size(); ++s) {
    BOOST_TEST(mono.loss_history[s] <= mono.loss_history[s - 1]);
  }
  // A reachable threshold: success, and the search stops there.
  const TargetContinuationGoal reachable(target, mono.loss_history.front() - 0.02);
  o.steps = 30;
  const GCGResult hit = gcg_attack(moe, reachable, std::span<const std::int32_t>(prompt), o);
  BOOST_TEST(hit.succeeded());
  BOOST_TEST(hit.loss < reachable.threshold());
  BOOST_TEST(hit.steps < 30);
  BOOST_TEST(hit.loss_history.size() == static_cast<std::size_t>(hit.steps) + 1);
}

BOOST_AUTO_TEST_CASE(each_step_scores_its_candidates_in_one_forward) {
  auto moe = tiny_moe(3);
  CountingVictim<MoELM> victim{moe};
  const Ids prompt{5, 9, 8};
  const Ids target{11, 7, 12};
  const TargetContinuationGoal never(target, 1e-6);
  GCGOptions o = small_options();
  o.steps = 4;
  o.batch_size = 8;
  o.initial_suffix = {8, 8, 8};
  const GCGResult r = gcg_attack(victim, never, std::span<const std::int32_t>(prompt), o);
  BOOST_TEST(victim.forward_batches.size() == 4u);   // one scoring forward per step
  BOOST_TEST(victim.gradient_batches.size() == 4u);  // one gradient per step
  BOOST_TEST(victim.backwards == 4);
  BOOST_TEST(r.queries == 4 * (8 + 1));
  for (std::size_t s = 0; s < 4; ++s) {
    const TokenBatch& grad = victim.gradient_batches[s];
    const TokenBatch& scored = victim.forward_batches[s];
    BOOST_TEST_REQUIRE(grad.num_sequences() == 1);
    BOOST_TEST_REQUIRE(scored.num_sequences() == 8);
    const Ids current(grad.ids.begin(), grad.ids.begin() + 6);  // prompt + suffix
    for (Index b = 0; b < 8; ++b) {
      const Ids seq(scored.ids.begin() + scored.sequences.begin(b),
                    scored.ids.begin() + scored.sequences.end(b));
      BOOST_TEST_REQUIRE(seq.size() == 8u);  // prompt 3 + suffix 3 + target without its last
      BOOST_TEST((Ids(seq.begin(), seq.begin() + 3) == prompt));
      BOOST_TEST((Ids(seq.begin() + 6, seq.end()) == Ids{11, 7}));
      int changed = 0;
      for (std::size_t i = 3; i < 6; ++i) {
        BOOST_TEST(seq[i] >= 7);  // never a special token
        changed += seq[i] != current[i] ? 1 : 0;
      }
      BOOST_TEST(changed <= 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(candidates_come_from_the_gradient_top_k_and_skip_special_ids) {
  auto moe = tiny_moe(3);
  const Ids prompt{5, 9, 8};
  const Ids target{11, 7, 12};
  const TargetContinuationGoal never(target, 1e-6);
  // top_k = 1: every replacement at position i is the arg min of the one-hot gradient's row i
  // over the ids >= first_candidate_id.
  for (const std::int32_t first : {7, 10}) {
    CountingVictim<MoELM> victim{moe};
    GCGOptions o = small_options();
    o.steps = 1;
    o.top_k = 1;
    o.batch_size = 32;
    o.first_candidate_id = first;
    o.initial_suffix = {12, 12, 12};
    (void)gcg_attack(victim, never, std::span<const std::int32_t>(prompt), o);
    Matrix<double> d_prefix;
    (void)never.loss_gradient(moe, std::span<const std::int32_t>(concat(prompt, {12, 12, 12})),
                              d_prefix);
    const Matrix<double> g = one_hot_token_gradient(moe, Matrix<double>(d_prefix.bottomRows(3)));
    const TokenBatch& scored = victim.forward_batches.at(0);
    for (Index b = 0; b < scored.num_sequences(); ++b) {
      for (Index i = 0; i < 3; ++i) {
        const std::int32_t id =
            scored.ids[static_cast<std::size_t>(scored.sequences.begin(b) + 3 + i)];
        if (id == 12) continue;  // position not replaced (or replaced by 12 itself)
        BOOST_TEST(id >= first);
        Index arg_min = first;
        for (Index v = first; v < 13; ++v) {
          if (g(i, v) < g(i, arg_min)) arg_min = v;
        }
        BOOST_TEST(id == arg_min);
      }
    }
  }
  // A random initial suffix avoids the special ids too.
  GCGOptions o = small_options();
  o.steps = 0;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    o.seed = seed;
    const GCGResult r = gcg_attack(moe, never, std::span<const std::int32_t>(prompt), o);
    for (const auto id : r.suffix) BOOST_TEST(id >= 7);
  }
}

BOOST_AUTO_TEST_CASE(suffix_goes_between_the_prompt_and_prompt_end) {
  auto moe = tiny_moe(3);
  CountingVictim<MoELM> victim{moe};
  const Ids prompt{5, 9};
  const Ids end{8};
  const Ids target{11, 7, 12};
  const TargetContinuationGoal never(target, 1e-6);
  GCGOptions o = small_options();
  o.steps = 1;
  o.top_k = 1;
  o.batch_size = 32;
  o.initial_suffix = {12, 12, 12};
  const GCGResult r = gcg_attack(victim, never, std::span<const std::int32_t>(prompt),
                                 std::span<const std::int32_t>(end), o);
  BOOST_TEST((r.adversarial_prompt == concat(concat(prompt, r.suffix), end)));
  BOOST_TEST(r.loss == never.loss(moe, std::span<const std::int32_t>(r.adversarial_prompt)),
             boost::test_tools::tolerance(1e-12));
  // The gradient rows are those of the suffix, in the middle of the prefix.
  Matrix<double> d_prefix;
  (void)never.loss_gradient(
      moe, std::span<const std::int32_t>(concat(concat(prompt, {12, 12, 12}), end)), d_prefix);
  const Matrix<double> g = one_hot_token_gradient(moe, Matrix<double>(d_prefix.middleRows(2, 3)));
  const TokenBatch& scored = victim.forward_batches.at(0);
  int replaced = 0;
  for (Index b = 0; b < scored.num_sequences(); ++b) {
    const Ids seq(scored.ids.begin() + scored.sequences.begin(b),
                  scored.ids.begin() + scored.sequences.end(b));
    BOOST_TEST_REQUIRE(seq.size() == 8u);
    BOOST_TEST((Ids(seq.begin(), seq.begin() + 2) == prompt));
    BOOST_TEST((Ids(seq.begin() + 5, seq.end()) == Ids{8, 11, 7}));  // prompt_end, target
    for (Index i = 0; i < 3; ++i) {
      const std::int32_t id = seq[static_cast<std::size_t>(2 + i)];
      if (id == 12) continue;
      ++replaced;
      Index arg_min = 7;
      for (Index v = 7; v < 13; ++v) {
        if (g(i, v) < g(i, arg_min)) arg_min = v;
      }
      BOOST_TEST(id == arg_min);
    }
  }
  BOOST_TEST(replaced > 0);
  BOOST_CHECK_THROW((void)gcg_attack(moe, never, std::span<const std::int32_t>(prompt),
                                     std::span<const std::int32_t>(Ids{8, 13}), o),
                    error);
}

BOOST_AUTO_TEST_CASE(same_seed_gives_the_same_suffix) {
  auto moe = tiny_moe(3);
  const Ids prompt{5, 9, 8};
  const TargetContinuationGoal never(Ids{11, 7, 12}, 1e-6);
  GCGOptions o = small_options();
  const GCGResult a = gcg_attack(moe, never, std::span<const std::int32_t>(prompt), o);
  const GCGResult b = gcg_attack(moe, never, std::span<const std::int32_t>(prompt), o);
  BOOST_TEST((a.suffix == b.suffix));
  BOOST_TEST((a.loss_history == b.loss_history));
  BOOST_TEST(a.queries == b.queries);
  o.seed = 2;
  const GCGResult c = gcg_attack(moe, never, std::span<const std::int32_t>(prompt), o);
  BOOST_TEST((a.loss_history != c.loss_history));
}

BOOST_AUTO_TEST_CASE(non_refusal_goal_is_checked_every_few_steps) {
  auto dense = tiny_dense(4);
  const WordTokenizer tokenizer =
      WordTokenizer::train(std::vector<std::string>{"i am sorry sure here is"});
  BOOST_TEST_REQUIRE(tokenizer.vocab_size() == 13u);
  using Goal = NonRefusalGoal<WordTokenizer>;
  Goal::Options never_refuses;
  never_refuses.generation.max_new_tokens = 5;
  never_refuses.generation.eos_id = -1;
  never_refuses.matcher = RefusalMatcher({"zzz"});
  Goal::Options always_refuses = never_refuses;
  always_refuses.matcher = RefusalMatcher({"i", "am", "sorry", "sure", "here", "is"});
  const Ids prompt{5, 9, 8};
  {
    const Goal goal(tokenizer, "sure here", always_refuses);
    BOOST_TEST_REQUIRE(!goal.response(dense, prompt).empty());  // so it matches a phrase
  }
  GCGOptions o = small_options();
  o.check_every = 3;
  o.steps = 10;

  // Already not refusing: skipped after one generation.
  {
    CountingVictim<DenseLM> victim{dense};
    o.skip_if_already_succeeded = true;
    const GCGResult r = gcg_attack(victim, Goal(tokenizer, "sure here", never_refuses), prompt, o);
    BOOST_TEST((r.status == AttackStatus::skipped));
    BOOST_TEST(r.suffix.empty());
    BOOST_TEST((r.adversarial_prompt == prompt));
    BOOST_TEST(victim.generations == 1);
    BOOST_TEST(victim.backwards == 0);
  }
  // Checked after step 3 (not before): success there.
  {
    CountingVictim<DenseLM> victim{dense};
    o.skip_if_already_succeeded = false;
    const GCGResult r = gcg_attack(victim, Goal(tokenizer, "sure here", never_refuses), prompt, o);
    BOOST_TEST(r.succeeded());
    BOOST_TEST(r.steps == 3);
    BOOST_TEST(victim.generations == 1);
    BOOST_TEST(r.queries == 3 * (16 + 1) + 5);
  }
  // Never succeeds: checks after steps 3, 6, 9 and on the returned suffix unless it was checked.
  {
    CountingVictim<DenseLM> victim{dense};
    const GCGResult r = gcg_attack(victim, Goal(tokenizer, "sure here", always_refuses), prompt, o);
    BOOST_TEST((r.status == AttackStatus::failed));
    BOOST_TEST(r.steps == 10);
    BOOST_TEST((victim.generations == 3 || victim.generations == 4));
    BOOST_TEST(r.queries == 10 * (16 + 1) + 5 * victim.generations);
  }
}

BOOST_AUTO_TEST_CASE(query_budget_stops_the_search) {
  auto moe = tiny_moe(3);
  const Ids prompt{5, 9, 8};
  const TargetContinuationGoal never(Ids{11, 7, 12}, 1e-6);
  GCGOptions o = small_options();
  o.max_queries = 2 * (16 + 1) + 10;
  const GCGResult r = gcg_attack(moe, never, std::span<const std::int32_t>(prompt), o);
  BOOST_TEST(r.steps == 2);
  BOOST_TEST(r.queries == 2 * (16 + 1));
  BOOST_TEST((r.status == AttackStatus::failed));
}

BOOST_AUTO_TEST_CASE(bad_input_throws) {
  auto moe = tiny_moe(3);
  const Ids prompt{5, 9, 8};
  const TargetContinuationGoal goal(Ids{11, 7}, 0.5);
  const auto attack = [&](const GCGOptions& o, const Ids& p = Ids{5, 9, 8}) {
    return gcg_attack(moe, goal, std::span<const std::int32_t>(p), o);
  };
  const auto with = [](auto change) {
    GCGOptions o = small_options();
    change(o);
    return o;
  };
  BOOST_CHECK_THROW((void)attack(with([](GCGOptions& o) { o.suffix_length = 0; })), error);
  BOOST_CHECK_THROW((void)attack(with([](GCGOptions& o) { o.top_k = 0; })), error);
  BOOST_CHECK_THROW((void)attack(with([](GCGOptions& o) { o.top_k = 7; })), error);  // 6 ids
  BOOST_CHECK_THROW((void)attack(with([](GCGOptions& o) { o.batch_size = 0; })), error);
  BOOST_CHECK_THROW((void)attack(with([](GCGOptions& o) { o.steps = -1; })), error);
  BOOST_CHECK_THROW((void)attack(with([](GCGOptions& o) { o.check_every = 0; })), error);
  BOOST_CHECK_THROW((void)attack(with([](GCGOptions& o) { o.max_queries = -1; })), error);
  BOOST_CHECK_THROW((void)attack(with([](GCGOptions& o) { o.first_candidate_id = 13; })), error);
  BOOST_CHECK_THROW((void)attack(with([](GCGOptions& o) { o.initial_token = 13; })), error);
  BOOST_CHECK_THROW((void)attack(with([](GCGOptions& o) { o.initial_suffix = {8, 8}; })), error);
  BOOST_CHECK_THROW((void)attack(with([](GCGOptions& o) {
                      o.initial_suffix = {8, 8, 13};
                    })),
                    error);
  const GCGOptions ok = small_options();
  BOOST_CHECK_THROW((void)attack(ok, Ids{}), error);
  BOOST_CHECK_THROW((void)attack(ok, Ids{5, 13}), error);
  BOOST_CHECK_THROW((void)attack(ok, Ids{5, -2}), error);
  BOOST_CHECK_THROW((void)attack(ok, Ids(13, 8)), error);  // 13 + 3 > max_positions − 1
  BOOST_CHECK_THROW(TargetContinuationGoal(Ids{}, 0.5), error);
  const TargetContinuationGoal outside(Ids{11, 13}, 0.5);
  BOOST_CHECK_THROW((void)gcg_attack(moe, outside, std::span<const std::int32_t>(prompt), ok),
                    error);
  // A valid call runs.
  BOOST_CHECK_NO_THROW((void)attack(ok));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_gcg
