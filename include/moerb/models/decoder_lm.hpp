#pragma once
// DecoderLM<FFN, Norm>: a causal transformer language model (GPT-2 style pre-norm trunk, tied or
// untied LM head). It trains on next-token prediction, scores continuations (the log-probability
// of an answer after a prompt, as TruthfulQA MC1/MC2 scoring needs) and generates.
//
//   logits = LMHead(Trunk(ids))          (tokens × vocab; row t predicts token t+1)
#include <cmath>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/kernels/softmax.hpp"
#include "moerb/models/feed_forward.hpp"
#include "moerb/models/generation.hpp"
#include "moerb/models/model_trace.hpp"
#include "moerb/models/token_batch.hpp"
#include "moerb/models/transformer_config.hpp"
#include "moerb/models/transformer_trunk.hpp"
#include "moerb/nn/cross_entropy.hpp"
#include "moerb/nn/layer_norm.hpp"
#include "moerb/nn/lm_head.hpp"

namespace moerb {

/// Log-probability of a continuation (answer) after a prompt.
struct ContinuationScore {
  double sum_log_prob = 0;   ///< Σ_t log p(answer_t | prompt, answer_<t)
  double mean_log_prob = 0;  ///< sum / number of answer tokens
  Index num_tokens = 0;
};

template <class FFN, template <class> class Norm = LayerNorm>
class DecoderLM {
 public:
  using Trunk = TransformerTrunk<FFN, Norm>;
  using Scalar = typename Trunk::Scalar;
  using S = Scalar;
  using FeedForward = FFN;

  /// Targets of rows whose next token lies outside the sequence.
  static constexpr std::int32_t ignore_index = -100;

  struct Options {
    TransformerConfig transformer{};
    /// Tie the output projection to the token embedding table (Press & Wolf 2017).
    bool tie_embeddings = true;
    bool head_bias = false;
  };

  DecoderLM(const Options& options, const FeedForwardSpec<FFN>& spec)
      : options_(options),
        trunk_(options.transformer, spec, /*causal=*/true),
        head_(head_options(options)) {}

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] const TransformerConfig& config() const { return trunk_.config(); }
  [[nodiscard]] Index vocab_size() const { return trunk_.config().vocab_size; }
  [[nodiscard]] Index num_layers() const { return trunk_.num_layers(); }
  Trunk& trunk() { return trunk_; }
  const Trunk& trunk() const { return trunk_; }

  void initialize(Rng& rng) {
    const Rng base(rng.next_u64());
    Rng r = base.split(rng_tag::trunk);
    trunk_.initialize(r);
    r = base.split(rng_tag::head);
    head_.initialize(r);
  }

  /// The trunk's names and, when untied, "lm_head.*".
  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    trunk_.visit_parameters(visitor, prefix);
    head_.visit_parameters(visitor, join_name(prefix, "lm_head"));
  }
  template <class Visitor>
  void visit_buffers(Visitor&& visitor, std::string_view prefix) {
    trunk_.visit_buffers(visitor, prefix);
  }

  /// The token embedding table (vocab_size × d_model): what HotFlip and GCG score swaps against.
  [[nodiscard]] const Matrix<S>& word_embedding_table() const {
    return trunk_.token_embedding().weight().value;
  }
  /// Logits (tokens × vocab, a member).
  const Matrix<S>& forward(const TokenBatch& input, const ForwardContext& ctx) {
    word_embeddings_ = trunk_.embed(input);
    return forward_embeddings(word_embeddings_, input, ctx);
  }
  const Matrix<S>& forward_embeddings(const Matrix<S>& word_embeddings, const TokenBatch& input,
                                      const ForwardContext& ctx) {
    backward_ready_ = false;
    const Matrix<S>& out = trunk_.forward_embeddings(word_embeddings, input, ctx);
    final_out_ = out;
    const Matrix<S>& logits = head_.forward(final_out_, tied_weight());
    backward_ready_ = true;
    return logits;
  }
  const Matrix<S>& embed(const TokenBatch& input) { return trunk_.embed(input); }

  /// For d_logits = ∂L/∂logits of the last forward: accumulates the parameter gradients and
  /// returns ∂L/∂(word embeddings).
  const Matrix<S>& backward(const Matrix<S>& d_logits, bool update_token_embedding = true) {
    MOERB_REQUIRE(backward_ready_,
            "DecoderLM::backward: no forward since the last layer_logits / "
            "scoring call; run forward first");
    const Matrix<S>& d_out = head_.backward(final_out_, d_logits, tied_weight());
    return trunk_.backward(d_out, update_token_embedding);
  }

  /// Next-token targets of a batch: ids[t+1] within the same sequence, ignore_index at the
  /// last token of each sequence.
  static std::vector<std::int32_t> next_token_targets(const TokenBatch& input) {
    std::vector<std::int32_t> targets(input.ids.size(), ignore_index);
    for (Index b = 0; b < input.num_sequences(); ++b) {
      for (Index t = input.sequences.begin(b); t + 1 < input.sequences.end(b); ++t) {
        targets[static_cast<std::size_t>(t)] = input.ids[static_cast<std::size_t>(t) + 1];
      }
    }
    return targets;
  }

  /// Mean next-token negative log-likelihood of `logits` (from forward(input)) and its gradient.
  S lm_loss(const Matrix<S>& logits, const TokenBatch& input, Matrix<S>& d_logits) const {
    targets_ = next_token_targets(input);
    return static_cast<S>(softmax_cross_entropy(logits, std::span<const std::int32_t>(targets_),
                                                d_logits, ignore_index));
  }

  /// exp(mean next-token NLL) of the batch (evaluation forward).
  double perplexity(const TokenBatch& input) {
    const Matrix<S>& logits = forward(input, ForwardContext{});
    Matrix<S> d;
    return std::exp(static_cast<double>(lm_loss(logits, input, d)));
  }

  [[nodiscard]] S aux_loss() const { return trunk_.aux_loss(); }
  [[nodiscard]] ModelTrace<S> trace(bool hidden_states = false) const {
    return make_trace(trunk_, hidden_states);
  }
  Index set_inference_k(Index k) { return trunk_.set_inference_k(k); }
  void set_random_inference_routing(bool on) { trunk_.set_random_inference_routing(on); }

  /// Early exit (DoLa): the logits the LM head gives to hidden state `layer` of the last forward
  /// (0 = embeddings, num_layers() = last block; the final norm is applied as for the mature
  /// layer), for the given rows (empty = all). Invalidates backward until the next forward.
  Matrix<S> layer_logits(Index layer, std::span<const Index> rows = {}) {
    const Matrix<S>& h = trunk_.hidden_state(layer);
    Matrix<S> x;
    if (rows.empty()) {
      x = h;
    } else {
      x.resize(static_cast<Index>(rows.size()), h.cols());
      for (std::size_t i = 0; i < rows.size(); ++i) {
        MOERB_REQUIRE(rows[i] >= 0 && rows[i] < h.rows(), "DecoderLM::layer_logits: row ", rows[i],
                ", expected in [0, ", h.rows(), ")");
        x.row(static_cast<Index>(i)) = h.row(rows[i]);
      }
    }
    Norm<S> norm = trunk_.final_norm();  // a copy: the trunk's norm keeps its backward state
    Matrix<S> normed = norm.forward(x, ForwardContext{});
    backward_ready_ = false;
    return head_.forward(normed, tied_weight());
  }

  /// Scores each (prompt, answer) pair (both non-empty token id lists) in one batched evaluation
  /// forward: Σ and mean of log p(answer_t | prompt, answer_<t).
  std::vector<ContinuationScore> score_continuations(
      const std::vector<std::pair<std::vector<std::int32_t>, std::vector<std::int32_t>>>& pairs) {
    TokenBatch batch;
    std::vector<Index> rows;  // rows whose next token is an answer token
    std::vector<std::int32_t> next;
    std::vector<std::size_t> owner;
    build_scoring_batch(pairs, batch, rows, next, owner);
    const Matrix<S>& logits = forward(batch, ForwardContext{});
    std::vector<ContinuationScore> scores(pairs.size());
    Vector<double> row;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      row = logits.row(rows[i]).transpose().template cast<double>();
      const double lse = std::log((row.array() - row.maxCoeff()).exp().sum()) + row.maxCoeff();
      ContinuationScore& s = scores[owner[i]];
      s.sum_log_prob += row(next[i]) - lse;
      ++s.num_tokens;
    }
    for (auto& s : scores) s.mean_log_prob = s.sum_log_prob / static_cast<double>(s.num_tokens);
    backward_ready_ = false;
    return scores;
  }
  ContinuationScore score_continuation(std::span<const std::int32_t> prompt,
                                       std::span<const std::int32_t> answer) {
    return score_continuations({{std::vector<std::int32_t>(prompt.begin(), prompt.end()),
                                 std::vector<std::int32_t>(answer.begin(), answer.end())}})
        .front();
  }

  /// Builds the packed batch of prompt+answer sequences and lists the rows that predict answer
  /// tokens (rows[i] predicts next[i] of pair owner[i]). Used by scoring and DoLa.
  void build_scoring_batch(
      const std::vector<std::pair<std::vector<std::int32_t>, std::vector<std::int32_t>>>& pairs,
      TokenBatch& batch, std::vector<Index>& rows, std::vector<std::int32_t>& next,
      std::vector<std::size_t>& owner) const {
    MOERB_REQUIRE(!pairs.empty(), "DecoderLM::score_continuations: no pairs");
    std::vector<std::int32_t> seq;
    for (std::size_t p = 0; p < pairs.size(); ++p) {
      const auto& [prompt, answer] = pairs[p];
      MOERB_REQUIRE(!prompt.empty() && !answer.empty(), "DecoderLM::score_continuations: pair ", p,
              " has an empty prompt or answer");
      seq = prompt;
      seq.insert(seq.end(), answer.begin(), answer.end());
      const Index start = batch.num_tokens();
      batch.push_back(seq);
      for (std::size_t j = 0; j < answer.size(); ++j) {
        rows.push_back(start + static_cast<Index>(prompt.size() + j) - 1);
        next.push_back(answer[j]);
        owner.push_back(p);
      }
    }
  }

  /// Greedy or sampled continuation of `prompt` (non-empty): at most max_new_tokens ids, fewer
  /// when eos_id is produced or the sequence reaches max_positions. With options.kv_cache and a
  /// model that supports it (trunk().supports_cached_decoding()), the prompt runs once and each
  /// new token costs one row of attention per layer (O(n) per token); otherwise every step
  /// re-runs the whole prefix (O(n²)). Both give the same tokens (to the rounding of the logits).
  std::vector<std::int32_t> generate(std::span<const std::int32_t> prompt,
                                     const GenerationOptions& options) {
    options.validate("DecoderLM::generate");
    MOERB_REQUIRE(!prompt.empty(), "DecoderLM::generate: empty prompt");
    backward_ready_ = false;
    std::vector<std::int32_t> seq(prompt.begin(), prompt.end());
    std::vector<std::int32_t> out;
    Rng rng(options.seed);
    std::vector<Index> order;
    const bool cached = options.kv_cache && trunk_.supports_cached_decoding();
    typename Trunk::DecodingCache cache;
    for (Index step = 0; step < options.max_new_tokens; ++step) {
      if (static_cast<Index>(seq.size()) >= config().max_positions) break;
      std::int32_t id = 0;
      if (cached) {
        // The tokens the cache lacks: the prompt first, then the last generated one.
        const std::span<const std::int32_t> fresh =
            std::span<const std::int32_t>(seq).subspan(static_cast<std::size_t>(cache.length));
        const Matrix<S>& hidden = trunk_.forward_cached(fresh, cache);
        last_hidden_ = hidden.bottomRows(1);
        const Matrix<S>& logits = head_.forward(last_hidden_, tied_weight());
        id = select_next_token(logits.row(0), options, rng, order);
      } else {
        TokenBatch batch;
        batch.push_back(seq);
        const Matrix<S>& logits = forward(batch, ForwardContext{});
        id = select_next_token(logits.row(logits.rows() - 1), options, rng, order);
      }
      out.push_back(id);
      seq.push_back(id);
      if (id == options.eos_id) break;
    }
    backward_ready_ = false;
    return out;
  }

  // ---- checkpoints -----------------------------------------------------------------------------
  [[nodiscard]] std::map<std::string, std::string> config_metadata() const {
    auto m = trunk_.metadata();
    for (auto& [key, value] : model_metadata()) m[key] = value;
    return m;
  }
  /// Throws moerb::error naming the first architecture key where `metadata` differs from
  /// config_metadata(): the trunk's, then the model's ("model" first).
  void check_config_metadata(const std::map<std::string, std::string>& metadata) const {
    constexpr std::string_view where = "DecoderLM checkpoint";
    trunk_.check_metadata(metadata, where);
    require_metadata_matches(model_metadata(), metadata, where);
  }

 private:
  std::vector<std::pair<std::string, std::string>> model_metadata() const {
    return {{"model", "DecoderLM"},
            {"tie_embeddings", options_.tie_embeddings ? "true" : "false"},
            {"head_bias", options_.head_bias ? "true" : "false"}};
  }
  static typename LMHead<S>::Options head_options(const Options& o) {
    typename LMHead<S>::Options h{};
    h.d_model = o.transformer.d_model;
    h.vocab_size = o.transformer.vocab_size;
    h.tied = o.tie_embeddings;
    h.bias = o.head_bias;
    return h;
  }
  Parameter<S>* tied_weight() {
    return options_.tie_embeddings ? &trunk_.token_embedding().weight() : nullptr;
  }

  Options options_;
  Trunk trunk_;
  LMHead<S> head_;
  bool backward_ready_ = false;
  Matrix<S> word_embeddings_, final_out_;
  Matrix<S> last_hidden_;  // generate's last position (1 × d_model)
  mutable std::vector<std::int32_t> targets_;
};

}  // namespace moerb
