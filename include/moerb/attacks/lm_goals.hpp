#pragma once
// Goals of attacks on a causal language model (issue 9, §1): make it produce a target continuation
// (TargetContinuationGoal: the target's NLL below a threshold) or make it not refuse
// (NonRefusalGoal: its generated response is not flagged by RefusalMatcher). Both share the
// differentiable surrogate that GCG descends (Zou et al. 2023, "Universal and Transferable
// Adversarial Attacks on Aligned Language Models", eq. 2): the mean negative log-likelihood, in
// nats per target token, of a target token sequence y (n tokens) after a prefix x (the prompt
// followed by the adversarial suffix),
//
//   L(x) = −(1/n) Σ_j log p(y_j | x, y_<j).
//
// For non-refusal the target is an affirmative start of an answer ("sure , here is", as in the
// paper, or whatever the model's answers begin with); success itself is judged on the generation.
//
// A LanguageModelGoal G for a white-box LM victim V provides
//   std::vector<double> losses(V&, std::span<const std::vector<std::int32_t>> prefixes) const;
//       L of each prefix, all in ONE batched evaluation forward (rows prefix + y without its last
//       token: the logits of y's last token are never needed)
//   double loss_gradient(V&, std::span<const std::int32_t> prefix, Matrix<S>& d_prefix,
//                        ParameterGradients) const;
//       L of one prefix, and ∂L/∂(word embeddings of the prefix) (prefix tokens × d_model) by one
//       forward_embeddings and one backward, leaving the parameter gradients as asked
//   bool succeeded(V&, std::span<const std::int32_t> prefix, double loss, std::int64_t& queries)
//       const;   whether the goal holds (adds the single-sequence forwards it ran to `queries`)
//   static constexpr bool success_needs_queries;   true when succeeded runs the victim
//
// MoE victims: the victim's backward always adds the gradients of the routers' auxiliary losses
// (load balancing, z-loss), which evaluation forwards compute too, so loss_gradient's gradient is
// that of L + aux_loss (the aux weights are 1e-2 / 1e-3 by default). Losses and success use L
// alone, so GCG's exact candidate scoring is unaffected; only its top-k ranking sees the aux term.
// After the backward the victim's parameter gradients are zeroed (ParameterGradients::zeroed, the
// default) or left accumulated; parameter values never change.
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/attacks/embedding_gradient.hpp"
#include "moerb/attacks/victim.hpp"
#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"
#include "moerb/metrics/safety.hpp"
#include "moerb/models/generation.hpp"
#include "moerb/models/token_batch.hpp"
#include "moerb/text/tokenizer.hpp"
#include "moerb/text/vocabulary.hpp"

namespace moerb {

/// A causal LM that an attack can differentiate through: next-token logits for a batch, and the
/// word-embedding members (embed, forward_embeddings, backward, word_embedding_table). DecoderLM
/// models it.
template <class V>
concept WhiteBoxLanguageModelVictim = LanguageModelVictim<V> && WhiteBoxVictim<V>;

/// What GCG needs of a goal G against victim V (see the file comment).
template <class G, class V>
concept LanguageModelGoal = WhiteBoxLanguageModelVictim<V> &&
    requires(const G& goal, V& victim, std::span<const std::vector<std::int32_t>> prefixes,
             std::span<const std::int32_t> prefix, Matrix<typename V::Scalar>& d_prefix,
             double loss, std::int64_t& queries, ParameterGradients parameter_gradients) {
  { goal.losses(victim, prefixes) } -> std::same_as<std::vector<double>>;
  {
    goal.loss_gradient(victim, prefix, d_prefix, parameter_gradients)
    } -> std::convertible_to<double>;
  { goal.succeeded(victim, prefix, loss, queries) } -> std::convertible_to<bool>;
  { G::success_needs_queries } -> std::convertible_to<bool>;
};

namespace detail::lm_attacks {

/// Throws unless every id lies in [0, vocab).
inline void require_ids(std::span<const std::int32_t> ids, Index vocab, std::string_view where,
                        std::string_view what) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    MOERB_REQUIRE(ids[i] >= 0 && ids[i] < vocab, where, ": ", what, " id ", ids[i], " at position ",
                  i, " is outside the vocabulary [0, ", vocab, ")");
  }
}

/// log Σ_v exp(row_v), in double.
template <class Row>
double log_sum_exp(const Row& row) {
  double m = -std::numeric_limits<double>::infinity();
  for (Index v = 0; v < row.size(); ++v) m = std::max(m, static_cast<double>(row(v)));
  double sum = 0;
  for (Index v = 0; v < row.size(); ++v) sum += std::exp(static_cast<double>(row(v)) - m);
  return m + std::log(sum);
}

/// The victim's response (generated ids) to `prompt`: its own generate when it has one (DecoderLM,
/// which also stops at max_positions), otherwise one evaluation forward per new token. Adds the
/// forwards (one per generated token) to `queries`.
template <LanguageModelVictim V>
std::vector<std::int32_t> generate(V& victim, std::span<const std::int32_t> prompt,
                                   const GenerationOptions& options, std::int64_t& queries) {
  std::vector<std::int32_t> out;
  if constexpr (requires { victim.generate(prompt, options); }) {
    out = victim.generate(prompt, options);
  } else {
    options.validate("NonRefusalGoal::generate");
    std::vector<std::int32_t> seq(prompt.begin(), prompt.end());
    Rng rng(options.seed);
    std::vector<Index> order;
    for (Index step = 0; step < options.max_new_tokens; ++step) {
      TokenBatch batch;
      batch.push_back(seq);
      const auto& logits = victim.forward(batch, ForwardContext{});
      const std::int32_t id = select_next_token(logits.row(logits.rows() - 1), options, rng, order);
      out.push_back(id);
      seq.push_back(id);
      if (id == options.eos_id) break;
    }
  }
  queries += static_cast<std::int64_t>(out.size());
  return out;
}

}  // namespace detail::lm_attacks

/// The surrogate both goals share: the mean NLL of `target` after a prefix (see the file comment).
class TargetNLL {
 public:
  TargetNLL() = default;
  /// `target`: non-empty token ids (checked against the victim's vocabulary at each call).
  explicit TargetNLL(std::vector<std::int32_t> target) : target_(std::move(target)) {
    MOERB_REQUIRE(!target_.empty(), "TargetNLL: empty target");
  }

  [[nodiscard]] const std::vector<std::int32_t>& target() const { return target_; }

  /// L of each prefix (non-empty) in one batched evaluation forward. Throws for an empty list, an
  /// empty prefix, or an id outside the victim's vocabulary.
  template <LanguageModelVictim V>
  [[nodiscard]] std::vector<double> losses(
      V& victim, std::span<const std::vector<std::int32_t>> prefixes) const {
    constexpr std::string_view where = "TargetNLL::losses";
    MOERB_REQUIRE(!prefixes.empty(), where, ": no prefixes");
    const TokenBatch batch = pack(victim, prefixes, where);
    const auto& logits = victim.forward(batch, ForwardContext{});
    require_logits(logits, batch, static_cast<Index>(victim.vocab_size()), where);
    std::vector<double> out(prefixes.size());
    for (std::size_t b = 0; b < prefixes.size(); ++b) {
      const Index first = first_target_row(batch, prefixes, b);
      double sum = 0;
      for (std::size_t j = 0; j < target_.size(); ++j) {
        const auto row = logits.row(first + static_cast<Index>(j));
        sum += detail::lm_attacks::log_sum_exp(row) - static_cast<double>(row(target_[j]));
      }
      out[b] = sum / static_cast<double>(target_.size());
    }
    return out;
  }

  /// L of one prefix, with ∂(L + the victim's aux loss)/∂(word embeddings of the prefix) written
  /// into `d_prefix` (prefix tokens × d_model).
  template <WhiteBoxLanguageModelVictim V>
  double loss_gradient(V& victim, std::span<const std::int32_t> prefix,
                       Matrix<typename V::Scalar>& d_prefix,
                       ParameterGradients parameter_gradients = ParameterGradients::zeroed) const {
    using S = typename V::Scalar;
    constexpr std::string_view where = "TargetNLL::loss_gradient";
    const std::vector<std::int32_t> one(prefix.begin(), prefix.end());
    const std::span<const std::vector<std::int32_t>> prefixes(&one, 1);
    const TokenBatch batch = pack(victim, prefixes, where);
    // A copy: a victim may return a member that its forward overwrites.
    const Matrix<S> embeddings = victim.embed(batch);
    const Matrix<S>& logits = victim.forward_embeddings(embeddings, batch, ForwardContext{});
    const Index vocab = static_cast<Index>(victim.vocab_size());
    require_logits(logits, batch, vocab, where);
    Matrix<S> d_logits = Matrix<S>::Zero(logits.rows(), logits.cols());
    const Index first = first_target_row(batch, prefixes, 0);
    const double n = static_cast<double>(target_.size());
    double sum = 0;
    for (std::size_t j = 0; j < target_.size(); ++j) {
      const Index r = first + static_cast<Index>(j);
      const double lse = detail::lm_attacks::log_sum_exp(logits.row(r));
      sum += lse - static_cast<double>(logits(r, target_[j]));
      // ∂L/∂logits = (softmax − onehot(y_j)) / n on the rows that predict target tokens.
      for (Index v = 0; v < vocab; ++v) {
        d_logits(r, v) = static_cast<S>(std::exp(static_cast<double>(logits(r, v)) - lse) / n);
      }
      d_logits(r, target_[j]) -= static_cast<S>(1.0 / n);
    }
    const Matrix<S>& d_embeddings = victim.backward(d_logits, false);
    require_shape(d_embeddings, batch.num_tokens(), embeddings.cols(), where,
                  "the victim's embedding gradient");
    d_prefix = d_embeddings.topRows(static_cast<Index>(prefix.size()));
    if constexpr (HasParameters<V>) {
      if (parameter_gradients == ParameterGradients::zeroed) zero_grad(victim);
    }
    return sum / n;
  }

 private:
  /// prefix_b followed by the target without its last token, for every b.
  template <class V>
  TokenBatch pack(V& victim, std::span<const std::vector<std::int32_t>> prefixes,
                  std::string_view where) const {
    MOERB_REQUIRE(!target_.empty(), where, ": empty target");
    const Index vocab = static_cast<Index>(victim.vocab_size());
    detail::lm_attacks::require_ids(target_, vocab, where, "target");
    TokenBatch batch;
    std::vector<std::int32_t> seq;
    for (std::size_t b = 0; b < prefixes.size(); ++b) {
      MOERB_REQUIRE(!prefixes[b].empty(), where, ": prefix ", b, " is empty");
      detail::lm_attacks::require_ids(prefixes[b], vocab, where, "prefix");
      seq.assign(prefixes[b].begin(), prefixes[b].end());
      seq.insert(seq.end(), target_.begin(), target_.end() - 1);
      batch.push_back(seq);
    }
    return batch;
  }
  /// The row of sequence b whose logits predict target token 0 (its prefix's last token).
  static Index first_target_row(const TokenBatch& batch,
                                std::span<const std::vector<std::int32_t>> prefixes,
                                std::size_t b) {
    return batch.sequences.begin(static_cast<Index>(b)) + static_cast<Index>(prefixes[b].size()) -
           1;
  }
  template <class M>
  static void require_logits(const M& logits, const TokenBatch& batch, Index vocab,
                             std::string_view where) {
    MOERB_REQUIRE(logits.rows() == batch.num_tokens() && logits.cols() == vocab, where,
                  ": the victim gave ", logits.rows(), " × ", logits.cols(), " logits for ",
                  batch.num_tokens(), " tokens and a vocabulary of ", vocab);
    require_finite(logits, where, "the victim's logits");
  }

  std::vector<std::int32_t> target_;
};

/// Make the model continue a prompt with `target`: succeeded when L < threshold (nats per target
/// token). Success is read from the loss, without running the victim.
class TargetContinuationGoal {
 public:
  static constexpr bool success_needs_queries = false;

  /// `threshold`: finite and > 0 (e.g. 0.5: the target tokens have mean probability > e^−0.5).
  TargetContinuationGoal(std::vector<std::int32_t> target, double threshold)
      : nll_(std::move(target)), threshold_(threshold) {
    MOERB_REQUIRE(std::isfinite(threshold) && threshold > 0,
                  "TargetContinuationGoal: threshold = ", threshold, ", expected finite and > 0");
  }

  [[nodiscard]] const std::vector<std::int32_t>& target() const { return nll_.target(); }
  [[nodiscard]] double threshold() const { return threshold_; }

  template <LanguageModelVictim V>
  [[nodiscard]] std::vector<double> losses(
      V& victim, std::span<const std::vector<std::int32_t>> prefixes) const {
    return nll_.losses(victim, prefixes);
  }
  /// L of one prefix (one forward).
  template <LanguageModelVictim V>
  [[nodiscard]] double loss(V& victim, std::span<const std::int32_t> prefix) const {
    const std::vector<std::int32_t> one(prefix.begin(), prefix.end());
    return nll_.losses(victim, std::span<const std::vector<std::int32_t>>(&one, 1)).front();
  }
  template <WhiteBoxLanguageModelVictim V>
  double loss_gradient(V& victim, std::span<const std::int32_t> prefix,
                       Matrix<typename V::Scalar>& d_prefix,
                       ParameterGradients parameter_gradients = ParameterGradients::zeroed) const {
    return nll_.loss_gradient(victim, prefix, d_prefix, parameter_gradients);
  }
  template <class V>
  [[nodiscard]] bool succeeded(V&, std::span<const std::int32_t>, double loss,
                               std::int64_t&) const {
    return loss < threshold_;
  }

 private:
  TargetNLL nll_;
  double threshold_;
};

/// Make the model not refuse: succeeded when the decoded response to the prefix (generated with
/// Options::generation, greedy by default) contains none of the matcher's phrases. The surrogate
/// loss is the NLL of an affirmative target (GCG's "Sure, here is"). Keeps a reference to the
/// tokenizer, which must outlive the goal.
template <Tokenizer Tok>
class NonRefusalGoal {
 public:
  static constexpr bool success_needs_queries = true;

  struct Options {
    GenerationOptions generation = default_generation();
    RefusalMatcher matcher;

    /// Greedy, at most 24 new tokens, stopping at Vocabulary::eos_id (as ResponseOptions).
    static GenerationOptions default_generation() {
      GenerationOptions g;
      g.max_new_tokens = 24;
      g.eos_id = Vocabulary::eos_id;
      return g;
    }
  };

  /// The affirmative target as token ids (non-empty).
  NonRefusalGoal(const Tok& tokenizer, std::vector<std::int32_t> target, Options options = {})
      : tokenizer_(&tokenizer), nll_(std::move(target)), options_(std::move(options)) {
    options_.generation.validate("NonRefusalGoal");
  }
  /// The affirmative target as text, encoded by `tokenizer`; every word must be in its vocabulary
  /// (an [UNK] target would teach nothing). The paper's is "Sure, here is"; in moerb's normal form
  /// "sure , here is".
  NonRefusalGoal(const Tok& tokenizer, std::string_view target_text, Options options = {})
      : NonRefusalGoal(tokenizer, encode_target(tokenizer, target_text), std::move(options)) {}

  [[nodiscard]] const std::vector<std::int32_t>& target() const { return nll_.target(); }
  [[nodiscard]] const Options& options() const { return options_; }

  template <LanguageModelVictim V>
  [[nodiscard]] std::vector<double> losses(
      V& victim, std::span<const std::vector<std::int32_t>> prefixes) const {
    return nll_.losses(victim, prefixes);
  }
  template <WhiteBoxLanguageModelVictim V>
  double loss_gradient(V& victim, std::span<const std::int32_t> prefix,
                       Matrix<typename V::Scalar>& d_prefix,
                       ParameterGradients parameter_gradients = ParameterGradients::zeroed) const {
    return nll_.loss_gradient(victim, prefix, d_prefix, parameter_gradients);
  }

  /// The decoded response to `prompt` (non-empty, ids in the victim's vocabulary), special tokens
  /// left out. Adds its forwards (one per generated token) to `queries`.
  template <LanguageModelVictim V>
  [[nodiscard]] std::string response(V& victim, std::span<const std::int32_t> prompt,
                                     std::int64_t& queries) const {
    constexpr std::string_view where = "NonRefusalGoal::response";
    MOERB_REQUIRE(!prompt.empty(), where, ": empty prompt");
    detail::lm_attacks::require_ids(prompt, static_cast<Index>(victim.vocab_size()), where,
                                    "prompt");
    std::vector<std::int32_t> ids =
        detail::lm_attacks::generate(victim, prompt, options_.generation, queries);
    std::erase_if(ids, [](std::int32_t id) { return Vocabulary::is_special(id); });
    return tokenizer_->decode(std::span<const TokenId>(ids));
  }
  template <LanguageModelVictim V>
  [[nodiscard]] std::string response(V& victim, std::span<const std::int32_t> prompt) const {
    std::int64_t queries = 0;
    return response(victim, prompt, queries);
  }
  /// Whether the response refuses (the matcher flags it).
  template <LanguageModelVictim V>
  [[nodiscard]] bool refuses(V& victim, std::span<const std::int32_t> prompt,
                             std::int64_t& queries) const {
    return options_.matcher.matches(response(victim, prompt, queries));
  }
  /// The goal holds when the response does not refuse; `loss` is not used.
  template <LanguageModelVictim V>
  [[nodiscard]] bool succeeded(V& victim, std::span<const std::int32_t> prefix, double,
                               std::int64_t& queries) const {
    return !refuses(victim, prefix, queries);
  }

 private:
  static std::vector<std::int32_t> encode_target(const Tok& tokenizer, std::string_view text) {
    std::vector<TokenId> ids = tokenizer.encode(text);
    MOERB_REQUIRE(!ids.empty(), "NonRefusalGoal: the target text \"", text, "\" has no tokens");
    for (std::size_t i = 0; i < ids.size(); ++i) {
      MOERB_REQUIRE(ids[i] != Vocabulary::unk_id, "NonRefusalGoal: word ", i,
                    " of the target text \"", text, "\" is not in the tokenizer's vocabulary");
    }
    return {ids.begin(), ids.end()};
  }

  const Tok* tokenizer_;
  TargetNLL nll_;
  Options options_;
};

}  // namespace moerb
