#pragma once
// Routing<Scalar>: what a gating policy decides for one batch, and what losses and metrics read.
#include <vector>

#include "moerb/core/types.hpp"

namespace moerb {

/// The assignments of a batch of `num_tokens` tokens to `num_experts` experts.
///
/// Assignments are stored grouped by expert (compressed rows): expert e processes the tokens
/// `token[offsets[e] .. offsets[e+1])` (ascending token order) and its output for each is scaled by
/// the matching `weight`. This one layout serves token choice (top-k, Switch), expert choice and
/// fixed routings alike, and is what the MoE layer's dispatch gathers from.
template <class Scalar>
struct Routing {
  Index num_tokens = 0;
  Index num_experts = 0;
  /// Experts each token asked for (token-choice policies); 0 for expert choice.
  Index k = 0;

  std::vector<Index> offsets;  ///< num_experts + 1 entries
  std::vector<Index> token;    ///< token of each kept assignment, grouped by expert
  std::vector<Scalar> weight;  ///< combine weight of each kept assignment
  std::vector<Index> slot;     ///< rank of the expert among the token's choices (0 = first)

  /// `tokens × k` experts each token selected before capacity, -1 where none (token choice only).
  IndexMatrix selected;
  /// `tokens × k` index into token/weight of that selection's kept assignment, -1 where it was
  /// dropped by capacity or absent (token choice only).
  IndexMatrix assignment;
  /// `tokens × experts` router scores after jitter and temperature (what the z-loss reads).
  Matrix<Scalar> logits;
  /// `tokens × experts` router probabilities (softmax over experts unless the policy says
  /// otherwise, e.g. sigmoid affinities for DeepSeek-V3 bias balancing).
  Matrix<Scalar> probs;

  std::vector<Index> load;    ///< kept assignments per expert
  Index dropped = 0;          ///< (token, choice) pairs dropped because an expert was full
  Index unrouted_tokens = 0;  ///< tokens that reach no expert at all (pass through the residual)

  Scalar load_balancing_loss = 0;  ///< unweighted Switch loss N·Σ f_i·P_i (0 if not computed)
  Scalar z_loss = 0;               ///< unweighted ST-MoE router z-loss (0 if not computed)
  Scalar aux_loss = 0;             ///< weighted sum that the router adds to the objective

  [[nodiscard]] Index num_assignments() const { return static_cast<Index>(token.size()); }
  [[nodiscard]] Index begin(Index e) const { return offsets[static_cast<std::size_t>(e)]; }
  [[nodiscard]] Index end(Index e) const { return offsets[static_cast<std::size_t>(e) + 1]; }
  /// Fraction of (token, choice) pairs that were dropped.
  [[nodiscard]] double drop_rate() const {
    const Index asked = num_tokens * k;
    return asked > 0 ? static_cast<double>(dropped) / static_cast<double>(asked) : 0.0;
  }
};

}  // namespace moerb
