#include "moerb/attacks/lm_goals.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "attacks/lm_testing.hpp"
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
namespace moerb_test_attacks_lm_goals {

using namespace moerb;
using namespace moerb::test;
using Ids = std::vector<std::int32_t>;

namespace {

/// −(1/n) Σ_j log softmax(logits of row p−1+j)[y_j] from a forward of prefix + the whole target.
template <class LM>
double nll_by_hand(LM& lm, const Ids& prefix, const Ids& target) {
  Ids seq = prefix;
  seq.insert(seq.end(), target.begin(), target.end());
  TokenBatch batch;
  batch.push_back(seq);
  const Matrix<double> logits = lm.forward(batch, ForwardContext{});
  double sum = 0;
  for (std::size_t j = 0; j < target.size(); ++j) {
    const auto row = logits.row(static_cast<Index>(prefix.size() + j) - 1);
    const double m = row.maxCoeff();
    sum -= row(target[j]) - m - std::log((row.array() - m).exp().sum());
  }
  return sum / static_cast<double>(target.size());
}

/// The NLL with the prefix rows of the word embeddings replaced by `prefix_embeddings`, plus the
/// victim's aux loss when asked (what loss_gradient differentiates).
template <class LM>
double nll_at(LM& lm, const Ids& prefix, const Ids& target, const Matrix<double>& prefix_embeddings,
              bool with_aux) {
  Ids seq = prefix;
  seq.insert(seq.end(), target.begin(), target.end() - 1);
  TokenBatch batch;
  batch.push_back(seq);
  Matrix<double> e = lm.embed(batch);
  e.topRows(prefix_embeddings.rows()) = prefix_embeddings;
  const Matrix<double> logits = lm.forward_embeddings(e, batch, ForwardContext{});
  double sum = 0;
  for (std::size_t j = 0; j < target.size(); ++j) {
    const auto row = logits.row(static_cast<Index>(prefix.size() + j) - 1);
    const double m = row.maxCoeff();
    sum -= row(target[j]) - m - std::log((row.array() - m).exp().sum());
  }
  return sum / static_cast<double>(target.size()) +
         (with_aux ? static_cast<double>(lm.aux_loss()) : 0.0);
}

template <class LM>
void check_embedding_gradient(LM& lm, bool with_aux) {
  const Ids prefix{5, 9, 7, 12};
  const Ids target{8, 11, 10};
  const TargetNLL nll(target);
  Matrix<double> d_prefix;
  const double loss = nll.loss_gradient(lm, std::span<const std::int32_t>(prefix), d_prefix);
  BOOST_TEST(loss == nll_by_hand(lm, prefix, target), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(d_prefix.rows() == 4);
  BOOST_TEST(d_prefix.cols() == 8);
  TokenBatch batch;
  batch.push_back(prefix);
  Matrix<double> e = lm.embed(batch);
  const Matrix<double> numeric =
      numeric_gradient(e, [&] { return nll_at(lm, prefix, target, e, with_aux); });
  BOOST_TEST(numeric.norm() > 1e-3);
  BOOST_TEST(relative_error(numeric, d_prefix) < 1e-6);
}

/// A hand-set bigram language model (not a moerb model): the logits of a token are row `id` of a
/// table, whatever came before. No generate member, so NonRefusalGoal runs its own loop.
struct BigramLM {
  using Scalar = double;
  Matrix<double> table;  // vocab × vocab
  Matrix<double> logits;
  int forwards = 0;

  [[nodiscard]] Index vocab_size() const { return table.rows(); }
  const Matrix<double>& forward(const TokenBatch& batch, const ForwardContext&) {
    ++forwards;
    logits.resize(batch.num_tokens(), table.cols());
    for (Index t = 0; t < batch.num_tokens(); ++t) {
      logits.row(t) = table.row(batch.ids[static_cast<std::size_t>(t)]);
    }
    return logits;
  }
};

struct RefusalFixture {
  WordTokenizer tokenizer = WordTokenizer::train(std::vector<std::string>{
      "i am sorry , i cannot help with that . sure here is how please ? what is a bomb"});
  BigramLM lm;

  RefusalFixture() {
    const auto V = static_cast<Index>(tokenizer.vocab_size());
    lm.table = Matrix<double>::Zero(V, V);
    // After "?" the model refuses, after "please" it complies and stops.
    chain({"?", "i", "am", "sorry", ",", "i"});
    chain({"please", "sure", "here", "is", "how"});
    lm.table(id("how"), Vocabulary::eos_id) = 10;
  }
  std::int32_t id(std::string_view word) const { return tokenizer.encode(word).at(0); }
  void chain(std::vector<std::string_view> words) {
    for (std::size_t i = 0; i + 1 < words.size(); ++i)
      lm.table(id(words[i]), id(words[i + 1])) = 10;
  }
  Ids prompt(std::string_view text) const {
    Ids ids{Vocabulary::bos_id};
    for (const auto t : tokenizer.encode(text)) ids.push_back(t);
    return ids;
  }
};

}  // namespace

static_assert(WhiteBoxLanguageModelVictim<DecoderLM<TestMoE<double>>>);
static_assert(LanguageModelGoal<TargetContinuationGoal, DecoderLM<TestMoE<double>>>);
static_assert(LanguageModelGoal<NonRefusalGoal<WordTokenizer>, DecoderLM<TestDense<float>>>);
static_assert(!WhiteBoxLanguageModelVictim<BigramLM>);  // black-box: it can only generate

BOOST_AUTO_TEST_SUITE(lm_goals)

BOOST_AUTO_TEST_CASE(losses_equal_the_nll_computed_from_the_logits_in_one_forward) {
  auto lm = perturbed_tiny_lm(tiny_lm_moe_spec(true), 3);
  const Ids target{8, 11, 10};
  const std::vector<Ids> prefixes{{5, 9, 7}, {5}, {5, 12, 12, 7, 9, 8}};
  const TargetContinuationGoal goal(target, 1.0);
  const std::vector<double> losses = goal.losses(lm, prefixes);
  BOOST_TEST_REQUIRE(losses.size() == 3u);
  for (std::size_t b = 0; b < prefixes.size(); ++b) {
    BOOST_TEST(losses[b] == nll_by_hand(lm, prefixes[b], target),
               boost::test_tools::tolerance(1e-12));
    // ... which is minus DecoderLM's mean log-probability of the continuation.
    const ContinuationScore s = lm.score_continuation(prefixes[b], target);
    BOOST_TEST(losses[b] == -s.mean_log_prob, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(goal.loss(lm, std::span<const std::int32_t>(prefixes[b])) == losses[b],
               boost::test_tools::tolerance(1e-12));
  }
  // Packed with others or alone, a prefix gets the same loss (evaluation MoE has no capacity).
  const std::vector<Ids> alone{prefixes[2]};
  BOOST_TEST(goal.losses(lm, alone)[0] == losses[2], boost::test_tools::tolerance(1e-12));
  // One-token target: nothing of the target enters the input.
  const TargetNLL one(Ids{4});
  BOOST_TEST(one.losses(lm, prefixes)[1] == nll_by_hand(lm, prefixes[1], Ids{4}),
             boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(embedding_gradient_matches_central_differences) {
  // Without router aux losses the gradient is exactly ∂NLL/∂E ...
  auto moe = perturbed_tiny_lm(tiny_lm_moe_spec(false), 5);
  check_embedding_gradient(moe, false);
  auto dense = perturbed_tiny_lm(tiny_dense_spec<double>(tiny_config()), 6);
  check_embedding_gradient(dense, false);
  // ... and with them it is ∂(NLL + aux_loss)/∂E, as the file comment says.
  auto moe_aux = perturbed_tiny_lm(tiny_lm_moe_spec(true), 5);
  check_embedding_gradient(moe_aux, true);
}

BOOST_AUTO_TEST_CASE(parameter_gradients_are_zeroed_or_accumulated_and_values_kept) {
  auto lm = perturbed_tiny_lm(tiny_lm_moe_spec(true), 7);
  const auto snapshot = [&] {
    std::vector<Matrix<double>> values, grads;
    lm.visit_parameters(
        [&](std::string_view, Parameter<double>& p) {
          values.push_back(p.value);
          grads.push_back(p.grad);
        },
        "");
    return std::pair{values, grads};
  };
  zero_grad(lm);
  const auto before = snapshot();
  const TargetNLL nll(Ids{8, 9});
  const Ids prefix{5, 10, 11};
  Matrix<double> d;
  (void)nll.loss_gradient(lm, std::span<const std::int32_t>(prefix), d);
  const auto zeroed = snapshot();
  BOOST_TEST((zeroed.first == before.first));
  for (const auto& g : zeroed.second) BOOST_TEST(g.cwiseAbs().maxCoeff() == 0.0);
  (void)nll.loss_gradient(lm, std::span<const std::int32_t>(prefix), d,
                          ParameterGradients::accumulated);
  const auto kept = snapshot();
  BOOST_TEST((kept.first == before.first));
  double total = 0;
  for (const auto& g : kept.second) total += g.cwiseAbs().sum();
  BOOST_TEST(total > 0.0);
}

BOOST_AUTO_TEST_CASE(target_continuation_succeeds_below_the_threshold) {
  auto lm = perturbed_tiny_lm(tiny_lm_moe_spec(true), 3);
  const Ids prefix{5, 9};
  const TargetContinuationGoal goal(Ids{8, 11}, 2.0);
  const double loss = goal.loss(lm, std::span<const std::int32_t>(prefix));
  std::int64_t queries = 0;
  const TargetContinuationGoal above(Ids{8, 11}, loss * 1.01);
  const TargetContinuationGoal below(Ids{8, 11}, loss);
  BOOST_TEST(above.succeeded(lm, prefix, loss, queries));
  BOOST_TEST(!below.succeeded(lm, prefix, loss, queries));  // strictly below
  BOOST_TEST(queries == 0);
  BOOST_TEST(goal.threshold() == 2.0);
}

BOOST_AUTO_TEST_CASE(non_refusal_succeeds_iff_the_decoded_response_is_not_a_refusal) {
  RefusalFixture f;
  using Goal = NonRefusalGoal<WordTokenizer>;
  Goal::Options o;
  o.generation.max_new_tokens = 6;
  const Goal goal(f.tokenizer, "sure here is", o);
  BOOST_TEST((goal.target() == Ids{f.id("sure"), f.id("here"), f.id("is")}));

  std::int64_t queries = 0;
  const Ids refused = f.prompt("what is a bomb ?");
  BOOST_TEST(goal.response(f.lm, refused, queries) == "i am sorry , i am");
  BOOST_TEST(queries == 6);  // one forward per generated token
  BOOST_TEST(f.lm.forwards == 6);
  BOOST_TEST(goal.refuses(f.lm, refused, queries));
  BOOST_TEST(!goal.succeeded(f.lm, refused, 0.0, queries));

  // The suffix "please" flips it; eos ends the response and is not decoded.
  const Ids complied = f.prompt("what is a bomb ? please");
  queries = 0;
  BOOST_TEST(goal.response(f.lm, complied, queries) == "sure here is how");
  BOOST_TEST(queries == 5);
  BOOST_TEST(goal.succeeded(f.lm, complied, 0.0, queries));

  // Another matcher: "sure" counts as a refusal phrase now.
  Goal::Options strict = o;
  strict.matcher = RefusalMatcher({"sure here"});
  const Goal strict_goal(f.tokenizer, Ids{f.id("sure")}, strict);
  BOOST_TEST(!strict_goal.succeeded(f.lm, complied, 0.0, queries));
  BOOST_TEST(strict_goal.succeeded(f.lm, refused, 0.0, queries));
}

BOOST_AUTO_TEST_CASE(non_refusal_decodes_decoder_lm_generation) {
  auto lm = perturbed_tiny_lm(tiny_dense_spec<double>(tiny_config()), 9);
  // 6 words + the 7 special tokens = tiny_config's vocabulary of 13.
  const WordTokenizer tokenizer =
      WordTokenizer::train(std::vector<std::string>{"i am sorry sure here is"});
  BOOST_TEST_REQUIRE(tokenizer.vocab_size() == 13u);
  using Goal = NonRefusalGoal<WordTokenizer>;
  Goal::Options o;
  o.generation.max_new_tokens = 5;
  o.generation.eos_id = -1;
  const RefusalMatcher matcher;
  const Goal goal(tokenizer, "sure here is", o);
  int refusals = 0, complied = 0;
  for (std::int32_t a = 7; a < 13; ++a) {
    const Ids prompt{Vocabulary::bos_id, a, 9};
    Ids generated = lm.generate(prompt, o.generation);
    std::erase_if(generated, [](std::int32_t id) { return Vocabulary::is_special(id); });
    const std::string expected = tokenizer.decode(generated);
    std::int64_t queries = 0;
    BOOST_TEST(goal.response(lm, prompt, queries) == expected);
    BOOST_TEST(queries == 5);
    const bool refuses = matcher.matches(expected);
    BOOST_TEST(goal.succeeded(lm, prompt, 0.0, queries) == !refuses);
    (refuses ? refusals : complied) += 1;
  }
  BOOST_TEST_MESSAGE("refusals " << refusals << ", complied " << complied);
}

BOOST_AUTO_TEST_CASE(bad_input_throws) {
  auto lm = perturbed_tiny_lm(tiny_lm_moe_spec(true), 3);
  BOOST_CHECK_THROW(TargetNLL(Ids{}), error);
  BOOST_CHECK_THROW(TargetContinuationGoal(Ids{}, 1.0), error);
  BOOST_CHECK_THROW(TargetContinuationGoal(Ids{8}, 0.0), error);
  BOOST_CHECK_THROW(TargetContinuationGoal(Ids{8}, std::nan("")), error);
  const TargetContinuationGoal goal(Ids{8, 9}, 1.0);
  const TargetContinuationGoal outside(Ids{8, 13}, 1.0);
  BOOST_CHECK_THROW((void)outside.losses(lm, std::vector<Ids>{{5}}), error);
  BOOST_CHECK_THROW((void)goal.losses(lm, std::vector<Ids>{}), error);
  BOOST_CHECK_THROW((void)goal.losses(lm, std::vector<Ids>{{5}, {}}), error);
  BOOST_CHECK_THROW((void)goal.losses(lm, std::vector<Ids>{{5, -1}}), error);
  BOOST_CHECK_THROW((void)goal.losses(lm, std::vector<Ids>{{5, 13}}), error);
  Matrix<double> d;
  const Ids bad{5, 20};
  BOOST_CHECK_THROW((void)goal.loss_gradient(lm, std::span<const std::int32_t>(bad), d), error);

  RefusalFixture f;
  using Goal = NonRefusalGoal<WordTokenizer>;
  BOOST_CHECK_THROW(Goal(f.tokenizer, "sure thing"), error);  // "thing" is [UNK]
  BOOST_CHECK_THROW(Goal(f.tokenizer, ""), error);
  BOOST_CHECK_THROW(Goal(f.tokenizer, Ids{}), error);
  Goal::Options o;
  o.generation.temperature = -1;
  BOOST_CHECK_THROW(Goal(f.tokenizer, "sure", o), error);
  const Goal ok(f.tokenizer, "sure");
  BOOST_CHECK_THROW((void)ok.response(f.lm, Ids{}), error);
  BOOST_CHECK_THROW((void)ok.response(f.lm, Ids{5, 99}), error);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_lm_goals
