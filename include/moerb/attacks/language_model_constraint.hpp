#pragma once
// LanguageModelPerplexity: the optional fluency constraint of word-level attacks. A user-given
// causal language model (a moerb DecoderLM, or any LanguageModelVictim) scores the original text
// and every candidate in ONE batched evaluation forward, and a candidate is kept when its
// perplexity has not grown by more than a factor over the original's:
//
//   x      = tokenizer.encode(text)
//   ppl(x) = exp( (1/n) Σ_{t=1..n} −log p(x_t | [BOS], x_1..x_{t−1}) )
//   keep   ⇔ ppl(candidate) / ppl(original) ≤ max_perplexity_ratio
//          ⇔ mean NLL(candidate) − mean NLL(original) ≤ log(max_perplexity_ratio)
//
// The ratio (not the difference of perplexities) is used because it does not depend on how fluent
// the original already is, and it is a bound on the difference of mean log-probabilities.
// TextAttack's LanguageModelConstraint (its "GPT2" and Google-LM constraints, after Alzantot et al.
// 2018) instead compares the summed log-probability of a window of words around the swapped word
// (keep ⇔ log p(candidate window) ≥ log p(original window) − max_log_prob_diff). Scoring the whole
// text needs no alignment between words and subword tokens and is length-normalised; a text much
// longer than the edit dilutes the change, so choose the ratio with the text length in mind.
//
// The scored text is the example's text (a pair's two sides joined by a space). Sequences are
// [BOS] followed by the text's tokens, truncated to max_tokens (by default the model's
// config().max_positions when it has one). A candidate whose text has no token is rejected.
//
// The model and the tokenizer are held by pointer, not owned: they must outlive the constraint and
// its copies. filter() runs a forward on the model, so a constraint (and its model) must not be
// used by two threads at once.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/attacks/attacked_text.hpp"
#include "moerb/attacks/constraint.hpp"
#include "moerb/attacks/victim.hpp"
#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"
#include "moerb/models/token_batch.hpp"
#include "moerb/text/tokenizer.hpp"
#include "moerb/text/vocabulary.hpp"

namespace moerb {

struct LanguageModelPerplexityOptions {
  /// Longest scored sequence, [BOS] included (>= 2); 0: the model's config().max_positions when it
  /// has one, else no limit.
  std::size_t max_tokens = 0;
};

template <LanguageModelVictim Model, Tokenizer Tok>
class LanguageModelPerplexity {
 public:
  using Options = LanguageModelPerplexityOptions;

  /// Keeps candidates with ppl(candidate) / ppl(original) <= max_perplexity_ratio (> 0, finite).
  LanguageModelPerplexity(Model& model, const Tok& tokenizer, double max_perplexity_ratio,
                          const Options& options = {})
      : model_(&model),
        tokenizer_(&tokenizer),
        max_ratio_(max_perplexity_ratio),
        max_tokens_(options.max_tokens) {
    constexpr std::string_view where = "LanguageModelPerplexity";
    MOERB_REQUIRE(std::isfinite(max_perplexity_ratio) && max_perplexity_ratio > 0, where,
                  ": max_perplexity_ratio = ", max_perplexity_ratio, ", expected finite and > 0");
    if (max_tokens_ == 0) {
      if constexpr (requires(const Model& m) { m.config().max_positions; }) {
        max_tokens_ = static_cast<std::size_t>(model.config().max_positions);
      } else {
        max_tokens_ = std::numeric_limits<std::size_t>::max();
      }
    }
    MOERB_REQUIRE(max_tokens_ >= 2, where, ": max_tokens = ", max_tokens_,
                  ", expected >= 2 ([BOS] and one token)");
  }

  [[nodiscard]] double max_perplexity_ratio() const { return max_ratio_; }
  [[nodiscard]] std::size_t max_tokens() const { return max_tokens_; }

  /// The text the model scores: side 0, or both sides of a pair joined by a space.
  [[nodiscard]] static std::string scored_text(const AttackedText& text) {
    return text.is_pair() ? text.text(0) + " " + text.text(1) : text.text(0);
  }

  /// The perplexity of each text under the model, all scored in one batched forward; NaN for a
  /// text without tokens (none is scored when no text has one).
  [[nodiscard]] std::vector<double> perplexities(std::span<const AttackedText> texts) {
    std::vector<const AttackedText*> pointers;
    pointers.reserve(texts.size());
    for (const AttackedText& t : texts) pointers.push_back(&t);
    std::vector<double> out;
    score(pointers, out);
    return out;
  }

  /// Clears keep[i] for each candidate whose perplexity ratio to the original exceeds the bound
  /// (or that has no token). Candidates with keep[i] == 0 already are not scored. Throws when keep
  /// has the wrong size or the original text has no token.
  void filter(std::span<const AttackedText> candidates, const AttackedText& original,
              std::vector<std::uint8_t>& keep) {
    constexpr std::string_view where = "LanguageModelPerplexity::filter";
    MOERB_REQUIRE(keep.size() == candidates.size(), where, ": keep has ", keep.size(),
                  " entries for ", candidates.size(), " candidates");
    std::vector<const AttackedText*> texts{&original};
    std::vector<std::size_t> which;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      if (keep[i] == 0) continue;
      texts.push_back(&candidates[i]);
      which.push_back(i);
    }
    std::vector<double> ppl;
    score(texts, ppl);
    MOERB_REQUIRE(!std::isnan(ppl.front()), where, ": the original text '", scored_text(original),
                  "' has no token");
    original_perplexity_ = ppl.front();
    ratios_.assign(candidates.size(), std::numeric_limits<double>::quiet_NaN());
    for (std::size_t j = 0; j < which.size(); ++j) {
      const double ratio = ppl[j + 1] / original_perplexity_;
      ratios_[which[j]] = ratio;
      if (std::isnan(ratio) || ratio > max_ratio_) keep[which[j]] = 0;
    }
  }

  /// The original's perplexity in the last filter() call.
  [[nodiscard]] double last_original_perplexity() const { return original_perplexity_; }
  /// ppl(candidate) / ppl(original) of each candidate of the last filter() call (NaN for those not
  /// scored or without tokens).
  [[nodiscard]] const std::vector<double>& last_ratios() const { return ratios_; }

 private:
  /// One forward over [BOS] + tokens of every text that has tokens; out[i] = exp(mean NLL) or NaN.
  void score(std::span<const AttackedText* const> texts, std::vector<double>& out) {
    constexpr std::string_view where = "LanguageModelPerplexity";
    out.assign(texts.size(), std::numeric_limits<double>::quiet_NaN());
    const auto vocab = static_cast<Index>(model_->vocab_size());
    TokenBatch batch;
    std::vector<std::size_t> owner;
    std::vector<std::int32_t> sequence;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const std::vector<TokenId> ids = tokenizer_->encode(scored_text(*texts[i]));
      if (ids.empty()) continue;
      const std::size_t n = std::min(ids.size(), max_tokens_ - 1);
      sequence.assign(1, Vocabulary::bos_id);
      for (std::size_t t = 0; t < n; ++t) {
        MOERB_REQUIRE(ids[t] >= 0 && ids[t] < vocab, where, ": the tokenizer gave id ", ids[t],
                      ", outside the model's vocabulary of ", vocab);
        sequence.push_back(ids[t]);
      }
      batch.push_back(sequence);
      owner.push_back(i);
    }
    if (owner.empty()) return;
    const Matrix<typename Model::Scalar>& logits = model_->forward(batch, ForwardContext{});
    MOERB_REQUIRE(logits.rows() == batch.num_tokens() && logits.cols() == vocab, where,
                  ": the model gave ", logits.rows(), " × ", logits.cols(), " logits for ",
                  batch.num_tokens(), " tokens and a vocabulary of ", vocab);
    for (Index b = 0; b < batch.num_sequences(); ++b) {
      double nll = 0;
      const Index begin = batch.sequences.begin(b), end = batch.sequences.end(b);
      for (Index t = begin; t + 1 < end; ++t) {  // row t predicts token t + 1
        double max = -std::numeric_limits<double>::infinity();
        for (Index j = 0; j < vocab; ++j) {
          const auto v = static_cast<double>(logits(t, j));
          MOERB_REQUIRE(std::isfinite(v), where, ": the model gave a non-finite logit (", v,
                        ") at token ", t, ", vocabulary entry ", j);
          max = std::max(max, v);
        }
        double sum = 0;
        for (Index j = 0; j < vocab; ++j) sum += std::exp(static_cast<double>(logits(t, j)) - max);
        const auto target = static_cast<Index>(batch.ids[static_cast<std::size_t>(t) + 1]);
        nll += std::log(sum) + max - static_cast<double>(logits(t, target));
      }
      out[owner[static_cast<std::size_t>(b)]] =
          std::exp(nll / static_cast<double>(end - begin - 1));
    }
  }

  Model* model_;
  const Tok* tokenizer_;
  double max_ratio_;
  std::size_t max_tokens_;
  double original_perplexity_ = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> ratios_;
};

namespace detail::lexical {

/// Stand-ins with just the members the concepts ask for, to check LanguageModelPerplexity against
/// the constraint concepts without pulling a model into this header.
struct ConceptCheckLanguageModel {
  using Scalar = double;
  [[nodiscard]] Index vocab_size() const;
  const Matrix<double>& forward(const TokenBatch& batch, const ForwardContext& ctx);
};
struct ConceptCheckTokenizer {
  [[nodiscard]] std::vector<TokenId> encode(std::string_view text) const;
  [[nodiscard]] std::string decode(std::span<const TokenId> ids) const;
  [[nodiscard]] const Vocabulary& vocabulary() const;
  [[nodiscard]] std::size_t vocab_size() const;
};

}  // namespace detail::lexical

static_assert(BatchConstraint<LanguageModelPerplexity<detail::lexical::ConceptCheckLanguageModel,
                                                      detail::lexical::ConceptCheckTokenizer>> &&
              Constraint<LanguageModelPerplexity<detail::lexical::ConceptCheckLanguageModel,
                                                 detail::lexical::ConceptCheckTokenizer>>);

}  // namespace moerb
