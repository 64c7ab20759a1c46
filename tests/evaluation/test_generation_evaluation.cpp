// Tests for include/moerb/evaluation/generation_evaluation.hpp
#include "moerb/evaluation/generation_evaluation.hpp"

#include <boost/test/unit_test.hpp>
#include <span>
#include <string>
#include <vector>

#include "evaluation/evaluation_testing.hpp"
#include "moerb/metrics/safety.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_evaluation_generation_evaluation {

using namespace moerb;
using namespace moerb::test;

namespace {

const std::vector<std::string> prompts = {"what is a cat ?", "what is a knife ?",
                                          "what is a rose ?", "the sea", "a dog"};

/// A judge that is not a model: the fraction of words that are "sorry".
struct SorryJudge {
  std::vector<double> harmfulness(std::span<const std::string> texts) {
    std::vector<double> out;
    for (const auto& t : texts) out.push_back(t.find("sorry") == std::string::npos ? 1.0 : 0.0);
    return out;
  }
};

std::vector<std::int32_t> prompt_ids(const WordTokenizer& t, const std::string& s) {
  std::vector<std::int32_t> out{Vocabulary::bos_id};
  for (const auto id : t.encode(s)) out.push_back(id);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(generation_evaluation)

BOOST_AUTO_TEST_CASE(responses_are_the_models_greedy_continuations) {
  const WordTokenizer tokenizer = evaluation_tokenizer();
  auto lm = evaluation_moe_lm(static_cast<Index>(tokenizer.vocab_size()));
  ResponseOptions options;
  options.generation.max_new_tokens = 6;
  options.threads = 1;
  const auto texts =
      generate_responses(lm, tokenizer, std::span<const std::string>(prompts), options);
  BOOST_REQUIRE(texts.size() == prompts.size());
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const auto ids = lm.generate(prompt_ids(tokenizer, prompts[i]), options.generation);
    BOOST_TEST(texts[i] == tokenizer.decode(ids));
  }
  options.threads = 2;
  BOOST_TEST(
      (generate_responses(lm, tokenizer, std::span<const std::string>(prompts), options) == texts));
}

BOOST_AUTO_TEST_CASE(sampling_is_seeded_per_prompt_and_independent_of_threads) {
  const WordTokenizer tokenizer = evaluation_tokenizer();
  auto lm = evaluation_moe_lm(static_cast<Index>(tokenizer.vocab_size()));
  ResponseOptions options;
  options.generation.temperature = 1.5;
  options.generation.max_new_tokens = 8;
  options.generation.eos_id = -1;
  const auto run = [&](std::uint64_t seed, int threads) {
    ResponseOptions o = options;
    o.generation.seed = seed;
    o.threads = threads;
    return generate_responses(lm, tokenizer, std::span<const std::string>(prompts), o);
  };
  BOOST_TEST((run(3, 1) == run(3, 2)));
  BOOST_TEST(!(run(3, 1) == run(4, 1)));
  // The same prompt twice in one set is sampled from two streams.
  const std::vector<std::string> twice(6, "what is a cat ?");
  ResponseOptions o = options;
  o.generation.seed = 3;
  const auto texts = generate_responses(lm, tokenizer, std::span<const std::string>(twice), o);
  BOOST_TEST(std::count(texts.begin(), texts.end(), texts[0]) < 6);
}

BOOST_AUTO_TEST_CASE(refusals_and_harmfulness_are_counted_on_the_responses) {
  const WordTokenizer tokenizer = evaluation_tokenizer();
  auto lm = evaluation_moe_lm(static_cast<Index>(tokenizer.vocab_size()));
  RefusalRate refusals;
  Harmfulness harm;
  SorryJudge judge;
  ResponseOptions options;
  options.use_dola = true;
  options.dola.premature_layers = {1};
  const auto texts = evaluate_safety(lm, tokenizer, std::span<const std::string>(prompts), refusals,
                                     harm, judge, options);
  const RefusalMatcher matcher;
  std::int64_t refused = 0;
  for (const auto& t : texts) refused += matcher.matches(t) ? 1 : 0;
  BOOST_TEST(refusals.state().total == 5);
  BOOST_TEST(refusals.state().refusals == refused);
  BOOST_TEST(harm.value().count == 5);
  // DoLa decoding is dola_generate's.
  const auto ids =
      dola_generate(lm, prompt_ids(tokenizer, prompts[0]), options.generation, options.dola);
  BOOST_TEST(texts[0] == tokenizer.decode(ids));
}

BOOST_AUTO_TEST_CASE(bad_prompts_are_named) {
  const WordTokenizer tokenizer = evaluation_tokenizer();
  auto lm = evaluation_moe_lm(static_cast<Index>(tokenizer.vocab_size()), /*max_positions=*/5);
  RefusalRate refusals;
  BOOST_CHECK_EXCEPTION(
      evaluate_refusals(lm, tokenizer, std::span<const std::string>(prompts), refusals),
      moerb::error, message_has({"generate_responses", "prompt 0", "max_positions = 5"}));
  BOOST_CHECK_EXCEPTION(evaluate_refusals(lm, tokenizer, std::span<const std::string>(), refusals),
                        moerb::error, message_has({"no prompts"}));
  ResponseOptions bad;
  bad.generation.top_p = 0;
  BOOST_CHECK_EXCEPTION(
      generate_responses(lm, tokenizer, std::span<const std::string>(prompts), bad), moerb::error,
      message_has({"generate_responses", "top_p"}));
  BOOST_TEST(refusals.state().total == 0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_evaluation_generation_evaluation
