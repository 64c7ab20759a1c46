#pragma once
// Attack<Goal, Transformation, Search, Constraints...>: a textual attack composed of the four parts
// of TextAttack (Morris et al. 2020): a goal function (goal.hpp), a transformation
// (transformation.hpp), any number of constraints (constraint.hpp) and a search method
// (search.hpp). Recipes (recipes.hpp) are factories over these parts.
//
//   auto attack = make_attack(UntargetedClassification{}, WordDeletion{}, GreedyWordSwap{},
//                             StopWords{}, MaxWordsModifiedFraction{0.2});
//   std::vector<AttackResult> results = attack.attack_all(model, tokenizer, examples, options);
//   AttackSummary summary = summarize_attacks(results);
//
// The victim is any ClassifierVictim (victim.hpp) and the tokenizer any Tokenizer: each candidate
// text is encoded (encode_single / encode_pair, AttackOptions::max_length) and every candidate a
// search step proposes is scored in batched forwards of up to AttackOptions::batch_size sequences.
// Every scored sequence counts as one query; the original text is the first. An example's
// randomness comes from Rng(seed).split(example index), and examples run on threads with one
// victim copy each, results in example order: the same seed gives the same results for any
// thread count.
//
// Time: AttackResult::seconds is the wall time of the example; model_seconds the part inside the
// victim's forward and backward passes. Everything else (transformations, constraints, encoding,
// bookkeeping) is the attack's own overhead.
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "moerb/attacks/attack_result.hpp"
#include "moerb/attacks/attacked_text.hpp"
#include "moerb/attacks/constraint.hpp"
#include "moerb/attacks/detail/timing.hpp"
#include "moerb/attacks/goal.hpp"
#include "moerb/attacks/search.hpp"
#include "moerb/attacks/transformation.hpp"
#include "moerb/attacks/victim.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/data/example.hpp"
#include "moerb/evaluation/detail/ordered_parallel.hpp"
#include "moerb/models/token_batch.hpp"
#include "moerb/text/tokenizer.hpp"

namespace moerb {

struct AttackOptions {
  /// Queries (scored sequences) per example, the original included; 0: unlimited.
  std::int64_t query_budget = 2000;
  /// Candidates per victim forward.
  Index batch_size = 64;
  /// Tokens per encoded text ([CLS] and [SEP] included).
  std::size_t max_length = 128;
  /// Which sides of a pair are edited (automatic: the hypothesis of a pair).
  AttackedSides sides = AttackedSides::automatic;
  /// Threads over examples (0: all cores); each thread attacks with its own copy of the victim.
  int threads = 1;
  std::uint64_t seed = 0;
};

namespace detail::attacks {

inline void check_options(const AttackOptions& o) {
  MOERB_REQUIRE(o.query_budget >= 0, "AttackOptions: query_budget = ", o.query_budget,
                ", expected >= 0 (0 = unlimited)");
  MOERB_REQUIRE(o.batch_size >= 1, "AttackOptions: batch_size = ", o.batch_size, ", expected >= 1");
  MOERB_REQUIRE(o.max_length >= 3, "AttackOptions: max_length = ", o.max_length, ", expected >= 3");
  MOERB_REQUIRE(o.threads >= 0, "AttackOptions: threads = ", o.threads, ", expected >= 0");
}

}  // namespace detail::attacks

/// The state of one attacked example, which a search drives (see search.hpp for the interface).
template <ClassifierVictim V, Tokenizer Tok, ClassificationGoal G, Transformation T, class... Cs>
class AttackProblem {
 public:
  AttackProblem(V& victim, const Tok& tokenizer, const G& goal, const T& transformation,
                std::tuple<Cs...>& constraints, const AttackOptions& options,
                const AttackedText& original, std::int32_t label, Rng rng)
      : victim_(victim),
        tokenizer_(tokenizer),
        goal_(goal),
        transformation_(transformation),
        constraints_(constraints),
        options_(options),
        original_(original),
        label_(label),
        rng_(rng) {
    const EncodedText encoded = original_.encode(tokenizer_, options_.max_length);
    original_tokens_ = encoded.ids;
    Matrix<double> p = forward(std::span<const EncodedText>(&encoded, 1));
    original_probabilities_.assign(p.data(), p.data() + p.cols());
    MOERB_REQUIRE(label >= 0 && label < static_cast<std::int32_t>(p.cols()),
                  "Attack: the example's label ", label, " is out of range [0, ", p.cols(), ")");
    original_result_ = make_result(original_probabilities_);
    queries_ = 1;
  }

  [[nodiscard]] const AttackedText& original() const { return original_; }
  [[nodiscard]] const ScoredText& original_result() const { return original_result_; }
  [[nodiscard]] std::span<const double> original_probabilities() const {
    return original_probabilities_;
  }
  [[nodiscard]] const std::vector<std::int32_t>& original_tokens() const {
    return original_tokens_;
  }
  [[nodiscard]] std::int32_t label() const { return label_; }
  [[nodiscard]] bool skipped() const { return goal_.skips(original_probabilities_, label_); }
  [[nodiscard]] std::int64_t queries() const { return queries_; }
  [[nodiscard]] double model_seconds() const { return model_seconds_; }
  Rng& rng() { return rng_; }
  [[nodiscard]] bool exhausted() const {
    return options_.query_budget > 0 && queries_ >= options_.query_budget;
  }

  /// Attackable slots of `text` that every position constraint allows.
  [[nodiscard]] std::vector<WordPosition> positions(const AttackedText& text) const {
    std::vector<WordPosition> out;
    for (const WordPosition p : text.attackable_positions()) {
      if (detail::attacks::position_allowed(constraints_, text, p)) out.push_back(p);
    }
    return out;
  }

  /// The transformation's candidates of `text` at `positions` (those a position constraint
  /// forbids are left out) that pass every candidate and batch constraint, in order; candidates
  /// equal to `text` are dropped.
  std::vector<AttackedText> candidates(const AttackedText& text,
                                       std::span<const WordPosition> positions) {
    allowed_.clear();
    for (const WordPosition p : positions) {
      if (detail::attacks::position_allowed(constraints_, text, p)) allowed_.push_back(p);
    }
    std::vector<AttackedText> raw;
    if (allowed_.empty() && !positions.empty()) return raw;
    transformation_.transform(text, allowed_, raw, rng_);
    std::erase_if(raw, [&](const AttackedText& c) { return c.same_words(text); });
    if (raw.empty()) return raw;
    detail::attacks::filter_candidates(constraints_, raw, original_, keep_);
    std::vector<AttackedText> out;
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (keep_[i] != 0) out.push_back(std::move(raw[i]));
    }
    return out;
  }

  /// Whether `text` passes the candidate and batch constraints (crossover children).
  bool acceptable(const AttackedText& text) {
    detail::attacks::filter_candidates(constraints_, std::span<const AttackedText>(&text, 1),
                                       original_, keep_);
    return keep_.front() != 0;
  }

  /// Scores `texts` in batches of batch_size, stopping at the query budget: the result has one
  /// entry per scored text, a prefix of `texts`.
  std::vector<ScoredText> score(std::span<const AttackedText> texts) {
    std::vector<ScoredText> out;
    const std::size_t n = affordable(texts.size());
    out.reserve(n);
    std::vector<EncodedText> encoded;
    for (std::size_t first = 0; first < n; first += static_cast<std::size_t>(options_.batch_size)) {
      const std::size_t count = std::min(n - first, static_cast<std::size_t>(options_.batch_size));
      encoded.clear();
      for (std::size_t i = 0; i < count; ++i) {
        encoded.push_back(texts[first + i].encode(tokenizer_, options_.max_length));
      }
      score_encoded(encoded, out);
    }
    return out;
  }

  /// PWWS's saliency: the goal-score gain when a word's tokens are replaced by one [UNK] token,
  /// for each of `positions` of `text` (−∞ for a word truncated away or past the budget).
  std::vector<double> unk_importance(const AttackedText& text,
                                     std::span<const WordPosition> positions) {
    const EncodedText base = text.encode(tokenizer_, options_.max_length);
    const double base_score = score_of(text, base);
    const std::vector<TokenSpan> spans = token_spans(text, positions);
    std::vector<EncodedText> variants;
    std::vector<std::size_t> which;
    for (std::size_t i = 0; i < positions.size(); ++i) {
      if (spans[i].begin == spans[i].end) continue;
      EncodedText e = base;
      const auto b = static_cast<std::ptrdiff_t>(spans[i].begin);
      const auto en = static_cast<std::ptrdiff_t>(spans[i].end);
      e.ids.erase(e.ids.begin() + b + 1, e.ids.begin() + en);
      e.segment_ids.erase(e.segment_ids.begin() + b + 1, e.segment_ids.begin() + en);
      e.ids[static_cast<std::size_t>(b)] = Vocabulary::unk_id;
      variants.push_back(std::move(e));
      which.push_back(i);
    }
    std::vector<double> out(positions.size(), -std::numeric_limits<double>::infinity());
    std::vector<ScoredText> scored;
    const std::size_t n = affordable(variants.size());
    for (std::size_t first = 0; first < n; first += static_cast<std::size_t>(options_.batch_size)) {
      const std::size_t count = std::min(n - first, static_cast<std::size_t>(options_.batch_size));
      score_encoded(std::span<const EncodedText>(variants).subspan(first, count), scored);
    }
    for (std::size_t j = 0; j < scored.size(); ++j) out[which[j]] = scored[j].score - base_score;
    return out;
  }

  /// Gradient importance (white-box victims): Σ over a word's tokens of ‖∂CE(label)/∂e_t‖₂ at
  /// `text`, from one forward and backward (one query). 0 for words truncated away.
  std::vector<double> gradient_importance(const AttackedText& text,
                                          std::span<const WordPosition> positions) {
    if constexpr (WhiteBoxClassifierVictim<V>) {
      using S = typename V::Scalar;
      std::vector<double> out(positions.size(), 0.0);
      if (affordable(1) == 0) return out;
      const EncodedText e = text.encode(tokenizer_, options_.max_length);
      TokenBatch batch;
      batch.push_back(e.ids, e.segment_ids);
      const auto start = detail::attacks::Clock::now();
      const Matrix<S> embeddings = victim_.embed(batch);
      const Matrix<S>& logits = victim_.forward_embeddings(embeddings, batch, ForwardContext{});
      const Matrix<double> p = softmax_rows(logits, "Attack::gradient_importance");
      Matrix<S> d_logits = p.template cast<S>();
      d_logits(0, label_) -= S(1);
      const Matrix<S>& d_embeddings = victim_.backward(d_logits, false);
      model_seconds_ += detail::attacks::seconds_since(start);
      ++queries_;
      const std::vector<TokenSpan> spans = token_spans(text, positions);
      for (std::size_t i = 0; i < positions.size(); ++i) {
        for (std::size_t t = spans[i].begin; t < spans[i].end; ++t) {
          out[i] += static_cast<double>(d_embeddings.row(static_cast<Index>(t)).norm());
        }
      }
      return out;
    } else {
      // The importance is chosen at run time (GreedyWordSwap::Options), so this is an error, not
      // a static_assert.
      throw error(
          "Attack: WordImportance::gradient needs a white-box victim (WhiteBoxVictim in "
          "moerb/attacks/victim.hpp: embed, forward_embeddings, backward, word_embedding_table)");
    }
  }

  /// The class probabilities and prediction of the last scored text are not kept; this scores
  /// one text outside the budget bookkeeping's prefix rule (used for the final result only when
  /// the search returns the original).
  [[nodiscard]] ScoredText make_result(std::span<const double> p) const {
    ScoredText r;
    r.score = goal_.score(p, original_probabilities_, label_);
    r.succeeded = goal_.succeeded(p, original_probabilities_, label_);
    r.prediction = predicted_class(p);
    r.confidence = p[static_cast<std::size_t>(r.prediction)];
    r.label_probability = p[static_cast<std::size_t>(label_)];
    return r;
  }

  /// The token ids of `text` as the victim sees it.
  [[nodiscard]] std::vector<std::int32_t> tokens_of(const AttackedText& text) const {
    return text.encode(tokenizer_, options_.max_length).ids;
  }

 private:
  struct TokenSpan {
    std::size_t begin = 0;
    std::size_t end = 0;
  };

  std::size_t affordable(std::size_t wanted) const {
    if (options_.query_budget == 0) return wanted;
    const std::int64_t left = std::max<std::int64_t>(0, options_.query_budget - queries_);
    return std::min(wanted, static_cast<std::size_t>(left));
  }

  Matrix<double> forward(std::span<const EncodedText> encoded) {
    TokenBatch batch;
    for (const EncodedText& e : encoded) batch.push_back(e.ids, e.segment_ids);
    const auto start = detail::attacks::Clock::now();
    Matrix<double> p = class_probabilities(victim_, batch);
    model_seconds_ += detail::attacks::seconds_since(start);
    return p;
  }

  void score_encoded(std::span<const EncodedText> encoded, std::vector<ScoredText>& out) {
    if (encoded.empty()) return;
    const Matrix<double> p = forward(encoded);
    queries_ += static_cast<std::int64_t>(encoded.size());
    std::vector<double> row(static_cast<std::size_t>(p.cols()));
    for (Index i = 0; i < p.rows(); ++i) {
      for (Index j = 0; j < p.cols(); ++j) row[static_cast<std::size_t>(j)] = p(i, j);
      out.push_back(make_result(row));
    }
  }

  double score_of(const AttackedText& text, const EncodedText& encoded) {
    if (text.same_words(original_)) return original_result_.score;
    std::vector<ScoredText> r;
    if (affordable(1) == 0) return original_result_.score;
    score_encoded(std::span<const EncodedText>(&encoded, 1), r);
    return r.front().score;
  }

  // Token span of each word slot in the encoded input ([CLS] side 0 [SEP] side 1 [SEP]): each
  // word's own encoding is found, in order, in the encoding of its side (punctuation in the gaps
  // has tokens of its own). Throws when a word's tokens are not there (a tokenizer that merges
  // across word boundaries).
  std::vector<TokenSpan> token_spans(const AttackedText& text,
                                     std::span<const WordPosition> positions) const {
    std::vector<std::size_t> side_lengths(text.num_sides());
    // Gap tokens (punctuation) sit between words: find each word's tokens by matching the word's
    // encoding in order in the side's encoding.
    std::vector<std::vector<TokenSpan>> located(text.num_sides());
    for (std::size_t s = 0; s < text.num_sides(); ++s) {
      const std::vector<TokenId> ids = tokenizer_.encode(text.text(s));
      side_lengths[s] = ids.size();
      std::size_t cursor = 0;
      located[s].resize(text.num_words(s));
      for (std::size_t w = 0; w < text.num_words(s); ++w) {
        const WordPosition p{static_cast<std::uint8_t>(s), static_cast<std::uint32_t>(w)};
        if (text.word(p).empty()) {
          located[s][w] = {cursor, cursor};
          continue;
        }
        const std::vector<TokenId> word_ids = tokenizer_.encode(text.word(p));
        std::size_t found = ids.size();
        for (std::size_t k = cursor; k + word_ids.size() <= ids.size(); ++k) {
          if (std::equal(word_ids.begin(), word_ids.end(),
                         ids.begin() + static_cast<std::ptrdiff_t>(k))) {
            found = k;
            break;
          }
        }
        MOERB_REQUIRE(found < ids.size() || word_ids.empty(),
                      "Attack: cannot find the tokens of word '", text.word(p), "' in side ", s,
                      " of '", text.display(), "'");
        located[s][w] = {found, found + word_ids.size()};
        cursor = found + word_ids.size();
      }
    }
    // Offsets in the model input, after truncation.
    std::size_t kept0 = side_lengths[0], kept1 = text.num_sides() > 1 ? side_lengths[1] : 0;
    if (text.is_pair()) {
      std::tie(kept0, kept1) =
          detail::text::longest_first(side_lengths[0], side_lengths[1], options_.max_length - 3);
    } else {
      kept0 = std::min(kept0, options_.max_length - 2);
    }
    std::vector<TokenSpan> out;
    out.reserve(positions.size());
    for (const WordPosition p : positions) {
      const TokenSpan local = located[p.side][p.word];
      const std::size_t kept = p.side == 0 ? kept0 : kept1;
      const std::size_t offset = p.side == 0 ? 1 : kept0 + 2;
      const std::size_t end = std::min(local.end, kept);
      const std::size_t begin = std::min(local.begin, end);
      out.push_back({offset + begin, offset + end});
    }
    return out;
  }

  V& victim_;
  const Tok& tokenizer_;
  const G& goal_;
  const T& transformation_;
  std::tuple<Cs...>& constraints_;
  const AttackOptions& options_;
  const AttackedText& original_;
  std::int32_t label_;
  Rng rng_;
  std::vector<double> original_probabilities_;
  std::vector<std::int32_t> original_tokens_;
  ScoredText original_result_;
  std::int64_t queries_ = 0;
  double model_seconds_ = 0;
  std::vector<WordPosition> allowed_;
  std::vector<std::uint8_t> keep_;
};

template <ClassificationGoal G, Transformation T, SearchMethod Search, Constraint... Cs>
class Attack {
 public:
  Attack(G goal, T transformation, Search search, Cs... constraints)
      : goal_(std::move(goal)),
        transformation_(std::move(transformation)),
        search_(std::move(search)),
        constraints_(std::move(constraints)...) {}

  [[nodiscard]] const G& goal() const { return goal_; }
  [[nodiscard]] const T& transformation() const { return transformation_; }
  [[nodiscard]] const Search& search_method() const { return search_; }
  [[nodiscard]] const std::tuple<Cs...>& constraints() const { return constraints_; }

  /// Attacks one example (its position `index` in the data set seeds its randomness).
  template <ClassifierVictim V, Tokenizer Tok>
  AttackResult attack(V& victim, const Tok& tokenizer, const TextExample& example,
                      const AttackOptions& options, std::size_t index = 0) {
    detail::attacks::check_options(options);
    const auto start = detail::attacks::Clock::now();
    MOERB_REQUIRE(example.label >= 0, "Attack: example ", index, " has no label (", example.label,
                  ")");
    const AttackedText original(example.text_a, example.text_b, !example.text_b.empty(),
                                options.sides);
    AttackProblem<V, Tok, G, T, Cs...> problem(victim, tokenizer, goal_, transformation_,
                                               constraints_, options, original, example.label,
                                               Rng(options.seed).split(index));
    AttackResult r;
    r.index = index;
    r.label = example.label;
    r.original_text = original.display();
    r.original_tokens = problem.original_tokens();
    r.num_words = original.num_original_words();
    r.original_prediction = problem.original_result().prediction;
    r.original_confidence = problem.original_result().confidence;
    r.original_label_probability = problem.original_result().label_probability;
    SearchOutcome outcome{original, problem.original_result()};
    if (problem.skipped()) {
      r.status = AttackStatus::skipped;
    } else {
      outcome = search_.search(problem);
      r.status = outcome.result.succeeded ? AttackStatus::succeeded : AttackStatus::failed;
    }
    r.perturbed_text = outcome.text.display();
    r.perturbed_tokens = problem.tokens_of(outcome.text);
    r.final_prediction = outcome.result.prediction;
    r.final_confidence = outcome.result.confidence;
    r.final_label_probability = outcome.result.label_probability;
    r.words_changed = outcome.text.words_changed();
    r.characters_changed = outcome.text.characters_changed();
    r.queries = problem.queries();
    r.model_seconds = problem.model_seconds();
    r.seconds = detail::attacks::seconds_since(start);
    return r;
  }

  /// Attacks every example; results in example order. With threads != 1 each thread works on
  /// its own copy of the victim and of this attack (constraints that hold a model by pointer,
  /// such as LanguageModelPerplexity, share that model: use threads = 1 with them).
  template <ClassifierVictim V, Tokenizer Tok>
  std::vector<AttackResult> attack_all(V& victim, const Tok& tokenizer,
                                       std::span<const TextExample> examples,
                                       const AttackOptions& options) {
    std::vector<AttackResult> results;
    results.reserve(examples.size());
    attack_each(victim, tokenizer, examples, options,
                [&](AttackResult&& r) { results.push_back(std::move(r)); });
    return results;
  }

  /// Streams: calls on_result(AttackResult&&) for each example in example order as soon as it
  /// and every earlier one are done (e.g. to write an AttackResultStream).
  template <ClassifierVictim V, Tokenizer Tok, class OnResult>
  void attack_each(V& victim, const Tok& tokenizer, std::span<const TextExample> examples,
                   const AttackOptions& options, OnResult&& on_result) {
    detail::attacks::check_options(options);
    if (options.threads == 1) {
      for (std::size_t i = 0; i < examples.size(); ++i) {
        on_result(attack(victim, tokenizer, examples[i], options, i));
      }
      return;
    }
    struct Slot {
      AttackResult result;
    };
    detail::evaluation::ordered_parallel<Slot>(
        victim, static_cast<Index>(examples.size()), options.threads,
        [&](V& replica, Index i, Slot& slot) {
          Attack copy = *this;
          slot.result = copy.attack(replica, tokenizer, examples[static_cast<std::size_t>(i)],
                                    options, static_cast<std::size_t>(i));
        },
        [&](Index, Slot& slot) { on_result(std::move(slot.result)); });
  }

 private:
  G goal_;
  T transformation_;
  Search search_;
  std::tuple<Cs...> constraints_;
};

/// Builds an Attack, deducing the part types: make_attack(goal, transformation, search,
/// constraints...).
template <ClassificationGoal G, Transformation T, SearchMethod Search, Constraint... Cs>
[[nodiscard]] Attack<G, T, Search, Cs...> make_attack(G goal, T transformation, Search search,
                                                      Cs... constraints) {
  return Attack<G, T, Search, Cs...>(std::move(goal), std::move(transformation), std::move(search),
                                     std::move(constraints)...);
}

}  // namespace moerb
