#pragma once
// Greedy Coordinate Gradient, GCG (Zou et al. 2023, "Universal and Transferable Adversarial
// Attacks on Aligned Language Models", Algorithm 1): an adversarial suffix of m tokens appended to
// a prompt, optimised token by token to minimise a language-model goal's loss L (lm_goals.hpp:
// the NLL of a target continuation, e.g. an affirmative answer).
//
// In the paper the suffix ends the user's message and the chat template's closing tokens (the
// assistant marker) follow it; `prompt_end` holds such tokens (e.g. the "?" that ends a question
// of the WordNet safety task, after which the model answers), and may be empty.
//
// Each step, with x = prompt, current suffix s (m ids), prompt_end:
//   1. the one-hot token gradient G = ∂L/∂e_{s_i} (one-hot of each suffix token, m × vocab): with
//      the word embeddings E = onehot(x)·T (T the embedding table, vocab × d_model),
//          G = ∂L/∂E_suffix · Tᵀ         (one forward_embeddings, one backward, one GEMM);
//   2. the top_k tokens of each suffix position by −G (ids below first_candidate_id, the special
//      tokens, excluded; ties to the lower id);
//   3. batch_size candidates, each the current suffix with ONE token replaced: position uniform in
//      [0, m), token uniform among that position's top_k;
//   4. every candidate's exact loss, all in ONE batched forward (goal.losses);
//   5. the best candidate (lowest loss, the first among ties) becomes the current suffix, even when
//      it is worse than the current one, as in the paper's Algorithm 1 (a greedy step that may
//      leave a local minimum of the first-order ranking). accept_worse = false keeps the current
//      suffix instead unless the candidate is strictly better.
// The result's suffix is the one that reached the goal or, when none did, the lowest-loss suffix
// seen (the loss history records the current suffix after every step).
//
// Success: a goal whose success is read from the loss (TargetContinuationGoal) is checked after
// every step for free; one that runs the victim (NonRefusalGoal generates a response) every
// check_every steps and on the returned suffix at the end. early_stop ends the search at the first
// success. With skip_if_already_succeeded the bare prompt is checked first and, when the goal
// already holds, the result is AttackStatus::skipped with an empty suffix.
//
// Queries count single sequences through the victim: 1 per gradient, batch_size per step, one per
// generated token in success checks (and 1 for the bare-prompt check of a loss-read goal).
// max_queries (0 = none) stops the search before a step that would pass it (the final success
// check may still run). model_seconds is the
// time inside the goal's victim calls (forwards, backward, generation); the rest of `seconds` is
// GCG's own work (the m × d_model × vocab GEMM, top-k, sampling).
//
// Determinism: the initial random suffix and the candidates come from Rng(seed) splits; the same
// seed, victim and thread count give the same suffix bit for bit. The victim's parameter
// gradients are zeroed after each backward (ParameterGradients::zeroed, the default; see
// lm_goals.hpp), and its parameter values never change.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include "moerb/attacks/attack_result.hpp"
#include "moerb/attacks/detail/table_product.hpp"
#include "moerb/attacks/detail/timing.hpp"
#include "moerb/attacks/embedding_gradient.hpp"
#include "moerb/attacks/lm_goals.hpp"
#include "moerb/attacks/victim.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"
#include "moerb/text/vocabulary.hpp"

namespace moerb {

struct GCGOptions {
  Index suffix_length = 20;  ///< m (the paper's 20)
  Index top_k = 256;         ///< candidate tokens per position (the paper's 256)
  Index batch_size = 512;    ///< B, candidates per step (the paper's 512)
  Index steps = 500;         ///< the paper's 500
  std::uint64_t seed = 0;
  /// The suffix to start from (m ids); empty: initial_token repeated, or, when initial_token is
  /// −1, ids drawn uniformly from [first_candidate_id, vocab) (the paper starts from "! ! ! ...").
  std::vector<std::int32_t> initial_suffix;
  std::int32_t initial_token = -1;
  /// Candidate tokens are ids >= this (moerb's 7 special tokens are never chosen by default).
  std::int32_t first_candidate_id = static_cast<std::int32_t>(Vocabulary::special_token_count);
  bool accept_worse = true;  ///< the paper's rule (see the file comment)
  /// Steps between success checks of goals that run the victim to decide (NonRefusalGoal).
  Index check_every = 10;
  bool early_stop = true;
  bool skip_if_already_succeeded = true;
  std::int64_t max_queries = 0;  ///< 0: no budget
  ParameterGradients parameter_gradients = ParameterGradients::zeroed;

  void validate(std::string_view where, Index vocab) const {
    MOERB_REQUIRE(suffix_length >= 1, where, ": GCGOptions::suffix_length = ", suffix_length,
                  ", expected >= 1");
    MOERB_REQUIRE(first_candidate_id >= 0 && first_candidate_id < vocab, where,
                  ": GCGOptions::first_candidate_id = ", first_candidate_id, ", expected in [0, ",
                  vocab, ")");
    MOERB_REQUIRE(top_k >= 1 && top_k <= vocab - first_candidate_id, where,
                  ": GCGOptions::top_k = ", top_k, ", expected in [1, ", vocab - first_candidate_id,
                  "] (the candidate ids [", first_candidate_id, ", ", vocab, "))");
    MOERB_REQUIRE(batch_size >= 1, where, ": GCGOptions::batch_size = ", batch_size,
                  ", expected >= 1");
    MOERB_REQUIRE(steps >= 0, where, ": GCGOptions::steps = ", steps, ", expected >= 0");
    MOERB_REQUIRE(check_every >= 1, where, ": GCGOptions::check_every = ", check_every,
                  ", expected >= 1");
    MOERB_REQUIRE(max_queries >= 0, where, ": GCGOptions::max_queries = ", max_queries,
                  ", expected >= 0");
    if (initial_suffix.empty()) {
      MOERB_REQUIRE(initial_token == -1 || (initial_token >= 0 && initial_token < vocab), where,
                    ": GCGOptions::initial_token = ", initial_token, ", expected −1 or in [0, ",
                    vocab, ")");
    } else {
      MOERB_REQUIRE(static_cast<Index>(initial_suffix.size()) == suffix_length, where,
                    ": GCGOptions::initial_suffix has ", initial_suffix.size(),
                    " ids, expected suffix_length = ", suffix_length);
      detail::lm_attacks::require_ids(initial_suffix, vocab, where, "initial_suffix");
    }
  }
};

struct GCGResult {
  std::vector<std::int32_t> suffix;              ///< m ids (empty when skipped)
  std::vector<std::int32_t> adversarial_prompt;  ///< prompt followed by suffix
  /// L of the current suffix: [0] the initial one, [s] after step s (empty when skipped).
  std::vector<double> loss_history;
  double loss = std::numeric_limits<double>::quiet_NaN();  ///< L of `suffix`
  AttackStatus status = AttackStatus::failed;
  Index steps = 0;           ///< steps run
  std::int64_t queries = 0;  ///< see the file comment
  double seconds = 0;
  double model_seconds = 0;

  [[nodiscard]] bool succeeded() const { return status == AttackStatus::succeeded; }
};

namespace detail::lm_attacks {

using detail::attacks::Clock;

/// Runs f() and adds its wall time to `seconds`.
template <class F>
decltype(auto) timed(double& seconds, F&& f) {
  struct Add {
    double& s;
    Clock::time_point start = Clock::now();
    ~Add() { s += detail::attacks::seconds_since(start); }
  } add{seconds};
  return f();
}

/// The top_k ids of each row of `gradient` (rows × vocab) by increasing value among ids >= first,
/// ties to the lower id, written row after row into `top` (rows × k). `order` is a workspace.
template <class S>
void top_k_lowest(const Matrix<S>& gradient, std::int32_t first, Index k,
                  std::vector<std::int32_t>& order, std::vector<std::int32_t>& top) {
  const Index vocab = gradient.cols();
  top.resize(static_cast<std::size_t>(gradient.rows() * k));
  order.resize(static_cast<std::size_t>(vocab - first));
  for (Index r = 0; r < gradient.rows(); ++r) {
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = first + static_cast<std::int32_t>(i);
    const auto row = gradient.row(r);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](std::int32_t a, std::int32_t b) {
                        return row(a) < row(b) || (row(a) == row(b) && a < b);
                      });
    std::copy(order.begin(), order.begin() + k, top.begin() + r * k);
  }
}

}  // namespace detail::lm_attacks

/// The one-hot token gradient (rows × vocab) of the rows of `d_embeddings` (∂L/∂E, rows ×
/// d_model): ∂L/∂E · Tᵀ with T the victim's embedding table (vocab × d_model). Entry (i, v) is the
/// first-order change of L when row i's embedding moves from its token's E[x_i] to T[v], plus the
/// constant −∂L/∂E_i·E[x_i] shared by the row (it does not change the ranking).
template <WhiteBoxVictim V>
[[nodiscard]] Matrix<typename V::Scalar> one_hot_token_gradient(
    V& victim, const Matrix<typename V::Scalar>& d_embeddings) {
  const auto& table = victim.word_embedding_table();
  require_shape(d_embeddings, d_embeddings.rows(), table.cols(), "one_hot_token_gradient",
                "d_embeddings");
  Matrix<typename V::Scalar> out;
  detail::attacks::times_table_transposed<typename V::Scalar>(d_embeddings, table, out);
  return out;
}

/// GCG against `victim` for `goal`: the adversarial tokens go after `prompt` (non-empty) and
/// before `prompt_end` (possibly empty), all ids in the victim's vocabulary. `prompt_end` plays the
/// part of a chat template's closing tokens (the paper's suffix sits inside the user turn, before
/// the assistant marker): the model answers after it. Throws moerb::error for invalid options, an
/// empty prompt, ids outside the vocabulary, or a prompt + suffix + prompt_end that leaves no
/// position for a continuation within the victim's max_positions (when it has a config()).
template <class V, class Goal>
requires LanguageModelGoal<Goal, V>
[[nodiscard]] GCGResult gcg_attack(V& victim, const Goal& goal,
                                   std::span<const std::int32_t> prompt,
                                   std::span<const std::int32_t> prompt_end,
                                   const GCGOptions& options) {
  using S = typename V::Scalar;
  constexpr std::string_view where = "gcg_attack";
  const auto start = detail::lm_attacks::Clock::now();
  const Index vocab = static_cast<Index>(victim.vocab_size());
  options.validate(where, vocab);
  MOERB_REQUIRE(!prompt.empty(), where, ": empty prompt");
  detail::lm_attacks::require_ids(prompt, vocab, where, "prompt");
  detail::lm_attacks::require_ids(prompt_end, vocab, where, "prompt_end");
  const Index m = options.suffix_length;
  const Index prompt_length = static_cast<Index>(prompt.size());
  const Index full_length = prompt_length + m + static_cast<Index>(prompt_end.size());
  if constexpr (requires { victim.config().max_positions; }) {
    const Index max_positions = victim.config().max_positions;
    MOERB_REQUIRE(
        full_length < max_positions, where, ": the prompt (", prompt_length,
        " tokens), the suffix (", m, ") and prompt_end (", prompt_end.size(),
        ") leave no room for a continuation within the victim's max_positions = ", max_positions);
  }
  // prompt, then the suffix, then prompt_end.
  const auto assemble = [&](std::span<const std::int32_t> suffix, std::vector<std::int32_t>& out) {
    out.assign(prompt.begin(), prompt.end());
    out.insert(out.end(), suffix.begin(), suffix.end());
    out.insert(out.end(), prompt_end.begin(), prompt_end.end());
  };
  const auto suffix_of = [&](const std::vector<std::int32_t>& full) {
    return std::vector<std::int32_t>(full.begin() + prompt_length,
                                     full.begin() + prompt_length + m);
  };
  require_shape(victim.word_embedding_table(), vocab, victim.word_embedding_table().cols(), where,
                "the victim's word_embedding_table");

  GCGResult result;
  const auto finish = [&](AttackStatus status) {
    result.status = status;
    assemble(result.suffix, result.adversarial_prompt);
    result.seconds = detail::attacks::seconds_since(start);
    return result;
  };
  const auto check = [&](std::span<const std::int32_t> ids, double loss) {
    return detail::lm_attacks::timed(result.model_seconds, [&] {
      return static_cast<bool>(goal.succeeded(victim, ids, loss, result.queries));
    });
  };
  const auto score = [&](std::span<const std::vector<std::int32_t>> prefixes) {
    result.queries += static_cast<std::int64_t>(prefixes.size());
    return detail::lm_attacks::timed(result.model_seconds,
                                     [&] { return goal.losses(victim, prefixes); });
  };

  if (options.skip_if_already_succeeded) {
    std::vector<std::int32_t> bare;
    assemble({}, bare);
    double bare_loss = std::numeric_limits<double>::quiet_NaN();
    if constexpr (!Goal::success_needs_queries) {
      bare_loss = score(std::span<const std::vector<std::int32_t>>(&bare, 1)).front();
    }
    if (check(bare, bare_loss)) {
      result.loss = bare_loss;
      return finish(AttackStatus::skipped);
    }
  }

  // The initial suffix.
  const Rng base(options.seed);
  std::vector<std::int32_t> suffix = options.initial_suffix;
  if (suffix.empty()) {
    Rng init = base.split(1);
    suffix.resize(static_cast<std::size_t>(m), options.initial_token);
    if (options.initial_token < 0) {
      const auto candidates = static_cast<std::uint64_t>(vocab - options.first_candidate_id);
      for (auto& id : suffix) {
        id = options.first_candidate_id + static_cast<std::int32_t>(init.uniform_index(candidates));
      }
    }
  }
  std::vector<std::int32_t> prefix;
  assemble(suffix, prefix);

  Rng sampler = base.split(2);
  const auto k = options.top_k;
  const auto batch = static_cast<std::size_t>(options.batch_size);
  Matrix<S> d_prefix, token_gradient;
  std::vector<std::int32_t> order, top;
  std::vector<std::vector<std::int32_t>> candidates(batch, prefix);
  std::vector<std::int32_t> best_suffix = suffix, checked_suffix;
  double loss = std::numeric_limits<double>::quiet_NaN();
  double best_loss = loss;
  bool succeeded = false;
  for (Index step = 0; step < options.steps; ++step) {
    if (options.max_queries > 0 && result.queries + 1 + options.batch_size > options.max_queries) {
      break;
    }
    // 1. The one-hot token gradient of the suffix rows.
    const double gradient_loss = detail::lm_attacks::timed(result.model_seconds, [&] {
      return goal.loss_gradient(victim, std::span<const std::int32_t>(prefix), d_prefix,
                                options.parameter_gradients);
    });
    ++result.queries;
    if (step == 0) {
      loss = best_loss = gradient_loss;
      result.loss_history.push_back(loss);
      if constexpr (!Goal::success_needs_queries) {
        if (options.early_stop && check(prefix, loss)) {
          succeeded = true;
          break;
        }
      }
    }
    token_gradient =
        one_hot_token_gradient(victim, Matrix<S>(d_prefix.middleRows(prompt_length, m)));
    // 2. Top-k per position.
    detail::lm_attacks::top_k_lowest(token_gradient, options.first_candidate_id, k, order, top);
    // 3. Random single-token replacements.
    for (auto& c : candidates) {
      c = prefix;
      const auto position =
          static_cast<Index>(sampler.uniform_index(static_cast<std::uint64_t>(m)));
      const auto choice = static_cast<Index>(sampler.uniform_index(static_cast<std::uint64_t>(k)));
      c[static_cast<std::size_t>(prompt_length + position)] =
          top[static_cast<std::size_t>(position * k + choice)];
    }
    // 4. Exact losses in one forward; 5. the best one.
    const std::vector<double> losses = score(candidates);
    const auto best =
        static_cast<std::size_t>(std::min_element(losses.begin(), losses.end()) - losses.begin());
    if (options.accept_worse || losses[best] < loss) {
      prefix = candidates[best];
      loss = losses[best];
    }
    result.loss_history.push_back(loss);
    ++result.steps;
    if (loss < best_loss) {
      best_loss = loss;
      best_suffix = suffix_of(prefix);
    }
    if (options.early_stop &&
        (!Goal::success_needs_queries || result.steps % options.check_every == 0)) {
      checked_suffix = suffix_of(prefix);
      if (check(prefix, loss)) {
        succeeded = true;
        break;
      }
    }
  }

  if (succeeded) {
    result.suffix = suffix_of(prefix);
    result.loss = loss;
    return finish(AttackStatus::succeeded);
  }
  result.suffix = best_suffix;
  result.loss = best_loss;
  if (std::isnan(best_loss)) {
    // No step ran (steps = 0 or the budget): the initial suffix, unscored.
    result.suffix = suffix;
  }
  if (!Goal::success_needs_queries && std::isnan(result.loss)) return finish(AttackStatus::failed);
  if (Goal::success_needs_queries && result.suffix == checked_suffix) {
    return finish(AttackStatus::failed);
  }
  std::vector<std::int32_t> final_prefix;
  assemble(result.suffix, final_prefix);
  return finish(check(final_prefix, result.loss) ? AttackStatus::succeeded : AttackStatus::failed);
}

/// GCG with the suffix at the very end of the prompt (no prompt_end).
template <class V, class Goal>
requires LanguageModelGoal<Goal, V>
[[nodiscard]] GCGResult gcg_attack(V& victim, const Goal& goal,
                                   std::span<const std::int32_t> prompt,
                                   const GCGOptions& options = {}) {
  return gcg_attack(victim, goal, prompt, std::span<const std::int32_t>{}, options);
}

}  // namespace moerb
