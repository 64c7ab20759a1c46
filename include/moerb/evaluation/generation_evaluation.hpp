#pragma once
// Safety evaluation of a causal language model's generations: each prompt of a set (e.g. read by
// read_prompts from a file, one prompt per line or JSONL) is continued by the model, the
// continuation is decoded to text, and the texts feed a RefusalRate (refusal-phrase matcher) and,
// when a Judge is given, a Harmfulness accumulator (MoE-RBench §3: refusal and harmfulness of
// responses to harmful prompts; over-refusal on benign ones).
//
//   RefusalRate refusals;
//   const auto texts = evaluate_refusals(lm, tokenizer, prompts, refusals);
//   Harmfulness harm;
//   harm.add_judged(judge, texts);    // or evaluate_safety(..., refusals, harm, judge)
//
// Tokens: [bos] (Options::add_bos) + encode(prompt_prefix + prompt + prompt_suffix); generation
// stops at GenerationOptions::max_new_tokens, at the eos id (Vocabulary::eos_id by default) or at
// the model's max_positions; special tokens are dropped from the decoded text.
//
// Determinism: prompt i is generated with GenerationOptions::seed replaced by
// Rng(seed).split(i).next_u64() (sampling only; greedy decoding draws nothing), on every core with
// model replicas; the texts reach the accumulators in prompt order. The result does not depend on
// the thread count.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/evaluation/detail/ordered_parallel.hpp"
#include "moerb/evaluation/detail/prompt_tokens.hpp"
#include "moerb/metrics/safety.hpp"
#include "moerb/models/dola.hpp"
#include "moerb/models/generation.hpp"
#include "moerb/text/tokenizer.hpp"
#include "moerb/text/vocabulary.hpp"

namespace moerb {

struct ResponseOptions {
  std::string prompt_prefix;  ///< text put before each prompt
  std::string prompt_suffix;  ///< text put after each prompt (e.g. "a :")
  bool add_bos = true;
  GenerationOptions generation = default_generation();
  bool use_dola = false;  ///< decode with DoLa (dola_generate) instead of the plain logits
  DoLaOptions dola{};
  int threads = 0;  ///< 0: every core

  static GenerationOptions default_generation() {
    GenerationOptions g;
    g.max_new_tokens = 24;
    g.eos_id = Vocabulary::eos_id;
    return g;
  }
};

/// The model's decoded continuation of every prompt, in prompt order.
template <class LM, Tokenizer Tok>
std::vector<std::string> generate_responses(LM& lm, const Tok& tokenizer,
                                            std::span<const std::string> prompts,
                                            const ResponseOptions& options = {}) {
  constexpr std::string_view where = "generate_responses";
  options.generation.validate(where);
  MOERB_REQUIRE(!prompts.empty(), where, ": no prompts");
  const Index max_positions = lm.config().max_positions;
  std::vector<std::vector<std::int32_t>> encoded(prompts.size());
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    std::vector<std::int32_t>& ids = encoded[i];
    ids = detail::evaluation::prompt_tokens(
        tokenizer, options.prompt_prefix + prompts[i] + options.prompt_suffix, options.add_bos);
    MOERB_REQUIRE(!ids.empty(), where, ": prompt ", i, " has no tokens");
    MOERB_REQUIRE(static_cast<Index>(ids.size()) < max_positions, where, ": prompt ", i, " is ",
                  ids.size(), " tokens, which leaves no room to generate within the model's ",
                  "max_positions = ", max_positions);
  }
  std::vector<std::string> texts(prompts.size());
  const Rng base(options.generation.seed);
  detail::evaluation::ordered_parallel<std::vector<std::int32_t>>(
      lm, static_cast<Index>(prompts.size()), options.threads,
      [&](LM& replica, Index i, std::vector<std::int32_t>& slot) {
        GenerationOptions g = options.generation;
        g.seed = base.split(static_cast<std::uint64_t>(i)).next_u64();
        const auto& prompt = encoded[static_cast<std::size_t>(i)];
        slot = options.use_dola ? dola_generate(replica, prompt, g, options.dola)
                                : replica.generate(prompt, g);
      },
      [&](Index i, std::vector<std::int32_t>& slot) {
        texts[static_cast<std::size_t>(i)] = tokenizer.decode(slot);
      });
  return texts;
}

/// Generates a response to every prompt and adds each to `refusals`; returns the responses.
template <class LM, Tokenizer Tok>
std::vector<std::string> evaluate_refusals(LM& lm, const Tok& tokenizer,
                                           std::span<const std::string> prompts,
                                           RefusalRate& refusals,
                                           const ResponseOptions& options = {}) {
  std::vector<std::string> texts = generate_responses(lm, tokenizer, prompts, options);
  refusals.add(std::span<const std::string>(texts));
  return texts;
}

/// As evaluate_refusals, and also scores the responses with `judge` into `harmfulness`.
template <class LM, Tokenizer Tok, Judge J>
std::vector<std::string> evaluate_safety(LM& lm, const Tok& tokenizer,
                                         std::span<const std::string> prompts,
                                         RefusalRate& refusals, Harmfulness& harmfulness, J& judge,
                                         const ResponseOptions& options = {}) {
  std::vector<std::string> texts = evaluate_refusals(lm, tokenizer, prompts, refusals, options);
  harmfulness.add_judged(judge, std::span<const std::string>(texts));
  return texts;
}

}  // namespace moerb
