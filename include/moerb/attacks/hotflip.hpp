#pragma once
// HotFlip (Ebrahimi, Rao, Lowd & Dou 2018, "HotFlip: White-Box Adversarial Examples for Text
// Classification"), at the token level: the change of the loss L when the token at position t
// becomes v is estimated to first order from the embedding gradient g_t = ∂L/∂e_t:
//
//   ΔL(t, v) ≈ (E[v] − E[x_t]) · g_t
//
// for every v of the vocabulary at once: one GEMM of the gradient rows (positions × d_model) by
// the embedding tableᵀ (d_model × vocab). Flips are searched with a beam: at each step the
// gradient of every beam element comes from one batched forward/backward, each element proposes
// its `candidates_per_beam` best (position, token) flips by estimate, all proposals of the step are
// scored exactly in one batched forward, and the `beam_width` best by true loss form the next beam.
// The search stops when the goal holds (the prediction changes, or becomes the target class), after
// `max_flips` flips, or when the query budget runs out.
//
// Rules: special tokens (ids below special_token_count, [PAD] [UNK] [CLS] [SEP] [MASK] [BOS] [EOS]
// in a moerb Vocabulary) are never inserted, and positions holding one are never flipped; a
// position flips at most once; for a pair (segment ids with a 1) only the attacked side flips
// (AttackedSides; automatic = the second side, the NLI convention of leaving the premise alone).
//
// Goal and loss: untargeted, L = −log p(label), ascended, success when the arg max is not the
// label, skipped when the model is already wrong. Targeted (target_class >= 0), L = −log p(target),
// descended, success when the arg max is the target, skipped when the label or the original
// prediction is the target (as TargetedClassification, goal.hpp). The gradient includes the MoE
// auxiliary losses (see embedding_gradient.hpp); the exact scores use class probabilities only.
//
// Bookkeeping (AttackResult): queries count every sequence whose class probabilities were scored:
// the original (through its gradient pass) and each distinct candidate. The gradient passes of
// later beam elements re-score sequences already counted and are not counted again. seconds is the
// wall time of the example, model_seconds the part inside the victim's forward and backward
// passes (std::chrono::steady_clock). Token-level: num_words counts the non-special tokens,
// words_changed the positions that differ. The overloads with a Tokenizer also decode the texts
// and count characters_changed as the edit distance of the decoded texts; without one the text
// fields stay empty and characters_changed is 0. After the attack the victim's parameter gradients
// are zero (ParameterGradients::zeroed); parameter values are never changed.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/attacks/attack_result.hpp"
#include "moerb/attacks/attacked_text.hpp"
#include "moerb/attacks/detail/table_product.hpp"
#include "moerb/attacks/detail/timing.hpp"
#include "moerb/attacks/embedding_gradient.hpp"
#include "moerb/attacks/victim.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"
#include "moerb/evaluation/detail/ordered_parallel.hpp"
#include "moerb/models/token_batch.hpp"
#include "moerb/text/tokenizer.hpp"
#include "moerb/text/vocabulary.hpp"
#include "moerb/train/encoded_example.hpp"

namespace moerb {

struct HotFlipOptions {
  /// B, the beam elements kept after each step (1 = greedy).
  Index beam_width = 10;
  /// Flips per example at most (each at a different position).
  Index max_flips = 2;
  /// (position, token) flips each beam element proposes per step, the best by estimate.
  Index candidates_per_beam = 10;
  /// Queries (scored sequences) per example, the original included; 0 = unlimited.
  std::int64_t query_budget = 0;
  /// Which side of a pair may flip; single sequences flip anywhere (but see the special tokens).
  AttackedSides sides = AttackedSides::automatic;
  /// Ids below this are special: never inserted, and positions holding one never flip.
  std::int32_t special_token_count = static_cast<std::int32_t>(Vocabulary::special_token_count);
  /// -1: untargeted; otherwise the class the attack tries to make the prediction.
  std::int32_t target_class = -1;

  void validate(std::string_view where, Index vocab_size, Index num_classes) const {
    MOERB_REQUIRE(beam_width >= 1, where, ": HotFlipOptions::beam_width = ", beam_width,
                  ", expected >= 1");
    MOERB_REQUIRE(max_flips >= 1, where, ": HotFlipOptions::max_flips = ", max_flips,
                  ", expected >= 1");
    MOERB_REQUIRE(candidates_per_beam >= 1, where,
                  ": HotFlipOptions::candidates_per_beam = ", candidates_per_beam,
                  ", expected >= 1");
    MOERB_REQUIRE(query_budget >= 0, where, ": HotFlipOptions::query_budget = ", query_budget,
                  ", expected >= 0 (0 = unlimited)");
    MOERB_REQUIRE(special_token_count >= 0 && special_token_count < vocab_size, where,
                  ": HotFlipOptions::special_token_count = ", special_token_count,
                  ", expected in [0, ", vocab_size, ") (the vocabulary size)");
    MOERB_REQUIRE(target_class >= -1 && target_class < num_classes, where,
                  ": HotFlipOptions::target_class = ", target_class, ", expected -1 or in [0, ",
                  num_classes, ")");
  }
};

namespace detail::hotflip {

/// products(i, v) = E[v] · gradient.row(rows[i]) (rows.size() × vocab), from `gathered` (scratch,
/// rows.size() × d_model): the estimates before the current token's E[x_t]·g_t is subtracted.
template <FloatingScalar S>
void gradient_table_products(const Matrix<S>& table, const Matrix<S>& gradient,
                             std::span<const std::int32_t> ids, std::span<const Index> rows,
                             Matrix<S>& products, Matrix<S>& gathered) {
  constexpr std::string_view where = "hotflip_estimates";
  MOERB_REQUIRE(gradient.cols() == table.cols(), where, ": the gradient has ", gradient.cols(),
                " columns, the embedding table ", table.cols());
  MOERB_REQUIRE(static_cast<Index>(ids.size()) == gradient.rows(), where, ": ", ids.size(),
                " ids for ", gradient.rows(), " gradient rows");
  const auto n = static_cast<Index>(rows.size());
  gathered.resize(n, table.cols());
  for (Index i = 0; i < n; ++i) {
    const Index r = rows[static_cast<std::size_t>(i)];
    MOERB_REQUIRE(r >= 0 && r < gradient.rows(), where, ": row ", r, " is outside [0, ",
                  gradient.rows(), ")");
    const std::int32_t id = ids[static_cast<std::size_t>(r)];
    MOERB_REQUIRE(id >= 0 && id < table.rows(), where, ": id ", id, " at row ", r,
                  " is outside the vocabulary [0, ", table.rows(), ")");
    gathered.row(i) = gradient.row(r);
  }
  detail::attacks::times_table_transposed<S>(gathered, table, products);
}

}  // namespace detail::hotflip

/// First-order HotFlip estimates (Ebrahimi et al. 2018) for the rows `rows` of a packed
/// batch: estimates(i, v) = (E[v] − E[ids[rows[i]]]) · gradient.row(rows[i]), rows.size() × vocab,
/// for the embedding table E (vocab × d_model) and the gradient (tokens × d_model). One product
/// of the gathered gradient rows by Eᵀ (over OpenMP threads in fixed vocabulary blocks, the same
/// for any thread count: detail/table_product.hpp); `gathered` is scratch (rows.size() ×
/// d_model). estimates(i, ids[rows[i]]) is exactly 0.
template <FloatingScalar S>
void hotflip_estimates(const Matrix<S>& table, const Matrix<S>& gradient,
                       std::span<const std::int32_t> ids, std::span<const Index> rows,
                       Matrix<S>& estimates, Matrix<S>& gathered) {
  detail::hotflip::gradient_table_products(table, gradient, ids, rows, estimates, gathered);
  for (Index i = 0; i < estimates.rows(); ++i) {
    // E[x_t]·g_t is the estimate's own entry at the current token.
    const S current =
        estimates(i, ids[static_cast<std::size_t>(rows[static_cast<std::size_t>(i)])]);
    estimates.row(i).array() -= current;
  }
}

/// As above, returning the estimates.
template <FloatingScalar S>
[[nodiscard]] Matrix<S> hotflip_estimates(const Matrix<S>& table, const Matrix<S>& gradient,
                                          std::span<const std::int32_t> ids,
                                          std::span<const Index> rows) {
  Matrix<S> estimates, gathered;
  hotflip_estimates(table, gradient, ids, rows, estimates, gathered);
  return estimates;
}

namespace detail::hotflip {

using detail::attacks::Clock;
using detail::attacks::seconds_since;

struct BeamEntry {
  std::vector<std::int32_t> ids;
  std::vector<std::uint8_t> flipped;  ///< per position: flipped already
  std::vector<double> probabilities;
  double score = 0;  ///< the objective the search maximises (see objective())
};

struct Candidate {
  Index beam = 0;
  Index position = 0;  ///< within the sequence
  std::int32_t token = 0;
  double gain = 0;      ///< first-order estimate of the objective's change
  double priority = 0;  ///< parent's score + gain: estimated objective, orders the step's scoring
};

/// The objective the search maximises: −log p(label) (untargeted) or log p(target).
inline double objective(std::span<const double> p, std::int32_t label, std::int32_t target) {
  constexpr double tiny = 1e-300;  // log(0) guard; probabilities come from a stable softmax
  return target >= 0 ? std::log(std::max(p[static_cast<std::size_t>(target)], tiny))
                     : -std::log(std::max(p[static_cast<std::size_t>(label)], tiny));
}

inline bool goal_reached(std::span<const double> p, std::int32_t label, std::int32_t target) {
  const std::int32_t predicted = predicted_class(p);
  return target >= 0 ? predicted == target : predicted != label;
}

/// Strict "a ranks before b": larger gain first, then lower row, then lower token (deterministic).
inline bool ranks_before(const Candidate& a, const Candidate& b) {
  if (a.gain != b.gain) return a.gain > b.gain;
  if (a.position != b.position) return a.position < b.position;
  return a.token < b.token;
}

/// Per position: may it flip under `sides` (segment 1 is the second side of a pair)?
inline std::vector<std::uint8_t> flippable_positions(const EncodedExample& example,
                                                     AttackedSides sides,
                                                     std::int32_t special_token_count,
                                                     std::string_view where) {
  const bool is_pair = std::any_of(example.segments.begin(), example.segments.end(),
                                   [](std::int32_t s) { return s != 0; });
  MOERB_REQUIRE(is_pair || sides != AttackedSides::second, where,
                ": the second side is attacked but the example has no segment-1 token");
  bool first = true, second = true;
  if (is_pair) {
    first = sides == AttackedSides::first || sides == AttackedSides::both;
    second = sides != AttackedSides::first;
  }
  std::vector<std::uint8_t> out(example.ids.size(), 0);
  for (std::size_t i = 0; i < example.ids.size(); ++i) {
    const bool side_ok = example.segments.empty() || example.segments[i] == 0 ? first : second;
    out[i] = side_ok && example.ids[i] >= special_token_count ? 1 : 0;
  }
  return out;
}

/// The decoded non-special tokens of a side: all tokens when `segments` is empty.
template <Tokenizer T>
std::string decode_side(const T& tokenizer, std::span<const std::int32_t> ids,
                        std::span<const std::int32_t> segments, std::int32_t side,
                        std::int32_t special_token_count) {
  std::vector<TokenId> kept;
  kept.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int32_t s = segments.empty() ? 0 : segments[i];
    if (s == side && ids[i] >= special_token_count) kept.push_back(ids[i]);
  }
  return tokenizer.decode(std::span<const TokenId>(kept));
}

template <Tokenizer T>
std::string decode_text(const T& tokenizer, std::span<const std::int32_t> ids,
                        std::span<const std::int32_t> segments, std::int32_t special_token_count) {
  const bool is_pair =
      std::any_of(segments.begin(), segments.end(), [](std::int32_t s) { return s != 0; });
  std::string text = decode_side(tokenizer, ids, segments, 0, special_token_count);
  if (is_pair) text += " ||| " + decode_side(tokenizer, ids, segments, 1, special_token_count);
  return text;
}

}  // namespace detail::hotflip

/// Attacks one example (token ids, optional segment ids, label) with HotFlip; `index` is copied to
/// AttackResult::index. Throws moerb::error for invalid options, empty ids, segment ids of another
/// length, ids outside the vocabulary or a label outside [0, num_classes).
template <WhiteBoxClassifierVictim V>
[[nodiscard]] AttackResult hotflip(V& victim, const EncodedExample& example,
                                   const HotFlipOptions& options, std::size_t index = 0) {
  using S = typename V::Scalar;
  namespace hf = detail::hotflip;
  constexpr std::string_view where = "hotflip";
  const auto start = hf::Clock::now();
  double model_seconds = 0;

  const Matrix<S>& table = victim.word_embedding_table();
  const Index vocab = table.rows();
  const Index classes = static_cast<Index>(victim.num_classes());
  options.validate(where, vocab, classes);
  const std::size_t n = example.ids.size();
  MOERB_REQUIRE(n > 0, where, ": example ", index, " has no token ids");
  MOERB_REQUIRE(example.segments.empty() || example.segments.size() == n, where, ": example ",
                index, " has ", example.segments.size(), " segment ids for ", n, " tokens");
  for (std::size_t i = 0; i < n; ++i) {
    MOERB_REQUIRE(example.ids[i] >= 0 && example.ids[i] < vocab, where, ": example ", index,
                  " has id ", example.ids[i], " at position ", i, ", outside [0, ", vocab, ")");
  }
  MOERB_REQUIRE(example.label >= 0 && example.label < classes, where, ": example ", index,
                " has label ", example.label, ", outside [0, ", classes, ")");
  const std::int32_t label = example.label;
  const std::int32_t target = options.target_class;
  const std::int32_t special = options.special_token_count;
  const std::vector<std::uint8_t> flippable =
      hf::flippable_positions(example, options.sides, special, where);

  AttackResult result;
  result.index = index;
  result.original_tokens = example.ids;
  result.label = label;
  result.num_words = static_cast<std::size_t>(std::count_if(
      example.ids.begin(), example.ids.end(), [&](std::int32_t id) { return id >= special; }));

  // The original's gradient pass also gives its probabilities: the first query.
  const std::int32_t gradient_label = target >= 0 ? target : label;
  std::vector<std::int32_t> gradient_labels{gradient_label};
  TokenBatch batch;
  batch.push_back(example.ids, example.segments);
  EmbeddingGradient<S> gradient;
  auto timed_gradient = [&](const TokenBatch& b) {
    const auto t0 = hf::Clock::now();
    embedding_gradient(victim, b, gradient_labels, gradient);
    model_seconds += hf::seconds_since(t0);
  };
  timed_gradient(batch);
  result.queries = 1;

  std::vector<hf::BeamEntry> beam(1);
  beam[0].ids = example.ids;
  beam[0].flipped.assign(n, 0);
  beam[0].probabilities.assign(gradient.probabilities.data(),
                               gradient.probabilities.data() + classes);
  beam[0].score = hf::objective(beam[0].probabilities, label, target);
  const std::span<const double> p0 = beam[0].probabilities;
  result.original_prediction = predicted_class(p0);
  result.original_confidence = p0[static_cast<std::size_t>(result.original_prediction)];
  result.original_label_probability = p0[static_cast<std::size_t>(label)];

  const bool skip = target >= 0 ? (label == target || result.original_prediction == target)
                                : result.original_prediction != label;
  hf::BeamEntry final_entry = beam[0];
  result.status = skip ? AttackStatus::skipped : AttackStatus::failed;

  const Index candidates_per_beam = options.candidates_per_beam;
  const double sign = target >= 0 ? -1.0 : 1.0;  // descend −log p(target)
  std::vector<Index> rows, row_beam, row_position;
  Matrix<S> products, gathered;
  std::vector<hf::Candidate> candidates, heap;
  std::vector<std::vector<std::int32_t>> candidate_ids;
  std::set<std::vector<std::int32_t>> seen;
  for (Index step = 0; !skip && step < options.max_flips; ++step) {
    if (step > 0) {
      batch = TokenBatch{};
      for (const hf::BeamEntry& e : beam) batch.push_back(e.ids, example.segments);
      gradient_labels.assign(beam.size(), gradient_label);
      timed_gradient(batch);
    }
    // Every flippable, not yet flipped position of every beam element: one GEMM for all.
    rows.clear();
    row_beam.clear();
    row_position.clear();
    for (std::size_t b = 0; b < beam.size(); ++b) {
      const Index offset = batch.sequences.begin(static_cast<Index>(b));
      for (std::size_t t = 0; t < n; ++t) {
        if (flippable[t] == 0 || beam[b].flipped[t] != 0) continue;
        rows.push_back(offset + static_cast<Index>(t));
        row_beam.push_back(static_cast<Index>(b));
        row_position.push_back(static_cast<Index>(t));
      }
    }
    if (rows.empty()) break;
    // E[v]·g_t for every row and word; the scan below subtracts E[x_t]·g_t (as hotflip_estimates
    // does, the same float operation) instead of a separate pass over the matrix.
    hf::gradient_table_products(table, gradient.gradient, std::span<const std::int32_t>(batch.ids),
                                rows, products, gathered);

    // Per beam element, its candidates_per_beam best flips by estimate (a min-heap of the best).
    candidates.clear();
    const auto worse_first = [](const hf::Candidate& a, const hf::Candidate& b) {
      return hf::ranks_before(a, b);
    };
    std::size_t i = 0;
    while (i < rows.size()) {
      const Index b = row_beam[i];
      heap.clear();
      for (; i < rows.size() && row_beam[i] == b; ++i) {
        const Index t = row_position[i];
        const std::int32_t current =
            beam[static_cast<std::size_t>(b)].ids[static_cast<std::size_t>(t)];
        const S* row = products.row(static_cast<Index>(i)).data();
        const S own = row[current];
        // Within a beam element the scan runs in (position, token) order, so a new candidate ranks
        // before the heap's worst only with a strictly larger gain: `bar` is that gain once the
        // heap is full, and most words fail the one comparison (NaN fails it too).
        double bar = static_cast<Index>(heap.size()) >= candidates_per_beam
                         ? heap.front().gain
                         : -std::numeric_limits<double>::infinity();
        for (std::int32_t v = special; v < vocab; ++v) {
          const S estimate = row[v] - own;
          const double gain = sign * static_cast<double>(estimate);
          if (!(gain > bar) || v == current || !std::isfinite(gain)) continue;
          const hf::Candidate c{b, t, v, gain, 0.0};
          if (static_cast<Index>(heap.size()) < candidates_per_beam) {
            heap.push_back(c);
            std::push_heap(heap.begin(), heap.end(), worse_first);
          } else {
            std::pop_heap(heap.begin(), heap.end(), worse_first);
            heap.back() = c;
            std::push_heap(heap.begin(), heap.end(), worse_first);
          }
          if (static_cast<Index>(heap.size()) >= candidates_per_beam) bar = heap.front().gain;
        }
      }
      std::sort(heap.begin(), heap.end(), hf::ranks_before);
      for (hf::Candidate& c : heap) {
        c.priority = beam[static_cast<std::size_t>(b)].score + c.gain;
        candidates.push_back(c);
      }
    }
    std::stable_sort(
        candidates.begin(), candidates.end(),
        [](const hf::Candidate& a, const hf::Candidate& b) { return a.priority > b.priority; });

    // Distinct candidate sequences, within the budget, in priority order.
    std::size_t room = candidates.size();
    if (options.query_budget > 0) {
      room = static_cast<std::size_t>(
          std::max<std::int64_t>(0, options.query_budget - result.queries));
    }
    seen.clear();
    candidate_ids.clear();
    std::size_t kept = 0;
    bool truncated = false;
    for (const hf::Candidate& c : candidates) {
      std::vector<std::int32_t> ids = beam[static_cast<std::size_t>(c.beam)].ids;
      ids[static_cast<std::size_t>(c.position)] = c.token;
      if (seen.contains(ids)) continue;
      if (candidate_ids.size() == room) {
        truncated = true;
        break;
      }
      seen.insert(ids);
      candidate_ids.push_back(std::move(ids));
      candidates[kept++] = c;
    }
    candidates.resize(kept);
    if (candidate_ids.empty()) break;

    TokenBatch scored;
    for (const auto& ids : candidate_ids) scored.push_back(ids, example.segments);
    const auto t0 = hf::Clock::now();
    const Matrix<double> p = class_probabilities(victim, scored);
    model_seconds += hf::seconds_since(t0);
    result.queries += static_cast<std::int64_t>(candidate_ids.size());

    std::vector<double> scores(candidate_ids.size());
    std::ptrdiff_t best_success = -1;
    for (std::size_t c = 0; c < candidate_ids.size(); ++c) {
      const std::span<const double> pc(p.row(static_cast<Index>(c)).data(),
                                       static_cast<std::size_t>(classes));
      scores[c] = hf::objective(pc, label, target);
      if (hf::goal_reached(pc, label, target) &&
          (best_success < 0 || scores[c] > scores[static_cast<std::size_t>(best_success)])) {
        best_success = static_cast<std::ptrdiff_t>(c);
      }
    }
    const auto entry_of = [&](std::size_t c) {
      const hf::Candidate& cand = candidates[c];
      hf::BeamEntry e;
      e.ids = std::move(candidate_ids[c]);
      e.flipped = beam[static_cast<std::size_t>(cand.beam)].flipped;
      e.flipped[static_cast<std::size_t>(cand.position)] = 1;
      e.probabilities.assign(p.row(static_cast<Index>(c)).data(),
                             p.row(static_cast<Index>(c)).data() + classes);
      e.score = scores[c];
      return e;
    };
    if (best_success >= 0) {
      final_entry = entry_of(static_cast<std::size_t>(best_success));
      result.status = AttackStatus::succeeded;
      break;
    }
    std::vector<std::size_t> order(candidate_ids.size());
    for (std::size_t c = 0; c < order.size(); ++c) order[c] = c;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
    order.resize(std::min(order.size(), static_cast<std::size_t>(options.beam_width)));
    std::vector<hf::BeamEntry> next;
    next.reserve(order.size());
    for (const std::size_t c : order) next.push_back(entry_of(c));
    beam = std::move(next);
    if (truncated) break;
  }
  // A failed search ends with the best sequence of its last beam (the original if none).
  if (result.status == AttackStatus::failed) final_entry = beam.front();

  result.perturbed_tokens = final_entry.ids;
  result.final_prediction = predicted_class(final_entry.probabilities);
  result.final_confidence =
      final_entry.probabilities[static_cast<std::size_t>(result.final_prediction)];
  result.final_label_probability = final_entry.probabilities[static_cast<std::size_t>(label)];
  for (std::size_t t = 0; t < n; ++t) {
    result.words_changed += final_entry.ids[t] != example.ids[t] ? 1 : 0;
  }
  result.model_seconds = model_seconds;
  result.seconds = hf::seconds_since(start);
  return result;
}

/// As above, with the texts decoded by `tokenizer` (special tokens left out; "a ||| b" for a
/// pair) and characters_changed the edit distance between them.
template <WhiteBoxClassifierVictim V, Tokenizer T>
[[nodiscard]] AttackResult hotflip(V& victim, const EncodedExample& example,
                                   const HotFlipOptions& options, const T& tokenizer,
                                   std::size_t index = 0) {
  const auto start = detail::hotflip::Clock::now();
  AttackResult r = hotflip(victim, example, options, index);
  const std::int32_t special = options.special_token_count;
  r.original_text =
      detail::hotflip::decode_text(tokenizer, r.original_tokens, example.segments, special);
  r.perturbed_text =
      detail::hotflip::decode_text(tokenizer, r.perturbed_tokens, example.segments, special);
  r.characters_changed = edit_distance(r.original_text, r.perturbed_text);
  r.seconds = detail::hotflip::seconds_since(start);
  return r;
}

namespace detail::hotflip {

/// Runs attack_one(victim, i) for every example, on `threads` threads (0: all cores) with one
/// victim copy each, results in example order (the evaluations' ordered_parallel).
template <class V, class AttackOne>
std::vector<AttackResult> for_each_example(V& victim, std::size_t n, int threads,
                                           AttackOne&& attack_one) {
  std::vector<AttackResult> out;
  out.reserve(n);
  if (threads == 1) {
    for (std::size_t i = 0; i < n; ++i) out.push_back(attack_one(victim, i));
    return out;
  }
  struct Slot {
    AttackResult result;
  };
  detail::evaluation::ordered_parallel<Slot>(
      victim, static_cast<Index>(n), threads,
      [&](V& replica, Index i, Slot& slot) {
        slot.result = attack_one(replica, static_cast<std::size_t>(i));
      },
      [&](Index, Slot& slot) { out.push_back(std::move(slot.result)); });
  return out;
}

}  // namespace detail::hotflip

/// Every example (AttackResult::index = its position), on `threads` threads (0: all cores; each
/// thread attacks with its own copy of the victim); results in example order, the same for any
/// thread count.
template <WhiteBoxClassifierVictim V>
[[nodiscard]] std::vector<AttackResult> hotflip(V& victim, std::span<const EncodedExample> examples,
                                                const HotFlipOptions& options, int threads = 1) {
  return detail::hotflip::for_each_example(
      victim, examples.size(), threads,
      [&](V& v, std::size_t i) { return hotflip(v, examples[i], options, i); });
}

template <WhiteBoxClassifierVictim V, Tokenizer T>
[[nodiscard]] std::vector<AttackResult> hotflip(V& victim, std::span<const EncodedExample> examples,
                                                const HotFlipOptions& options, const T& tokenizer,
                                                int threads = 1) {
  return detail::hotflip::for_each_example(
      victim, examples.size(), threads,
      [&](V& v, std::size_t i) { return hotflip(v, examples[i], options, tokenizer, i); });
}

}  // namespace moerb
