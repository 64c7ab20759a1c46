#pragma once
// ModelTrace: what a forward did inside the model, for probing and routing metrics — per-layer
// hidden states and, for every MoE block, the router's probabilities, the experts each token
// reached, drops and auxiliary losses.
#include <algorithm>
#include <utility>
#include <vector>

#include "moerb/core/types.hpp"
#include "moerb/routing/routing.hpp"

namespace moerb {

template <class S>
struct MoELayerTrace {
  Index layer = 0;  ///< block index
  Matrix<S> probs;  ///< tokens × experts router probabilities
  /// tokens × m experts each token was processed by (kept assignments, by slot where the router
  /// has slots, else by expert id), −1 padded; m = the most any token got. Dropped choices are
  /// absent.
  IndexMatrix chosen;
  /// tokens × k experts each token asked for before capacity (token-choice routers; empty for
  /// expert choice).
  IndexMatrix selected;
  std::vector<Index> load;    ///< kept assignments per expert
  Index dropped = 0;          ///< (token, choice) pairs dropped by capacity
  Index unrouted_tokens = 0;  ///< tokens no expert processed
  double drop_rate = 0;
  S load_balancing_loss = 0, z_loss = 0, aux_loss = 0;
};

template <class S>
struct ModelTrace {
  /// hidden_states[i] = input of block i (i < L) and the last block's output (i = L), each
  /// tokens × d_model; empty unless requested.
  std::vector<Matrix<S>> hidden_states;
  std::vector<MoELayerTrace<S>> moe_layers;  ///< one per MoE block, in block order
  S aux_loss = 0;                            ///< Σ of the MoE blocks' weighted aux losses
};

/// The per-token view of a Routing (see MoELayerTrace::chosen).
template <class S>
IndexMatrix chosen_experts(const Routing<S>& r) {
  const Index T = r.num_tokens;
  std::vector<Index> count(static_cast<std::size_t>(T), 0);
  for (Index t : r.token) ++count[static_cast<std::size_t>(t)];
  const Index m = T > 0 ? *std::max_element(count.begin(), count.end()) : 0;
  IndexMatrix out = IndexMatrix::Constant(T, m, -1);
  std::fill(count.begin(), count.end(), 0);
  const bool has_slots = r.slot.size() == r.token.size();
  for (Index e = 0; e < r.num_experts; ++e) {
    for (Index a = r.begin(e); a < r.end(e); ++a) {
      const auto sa = static_cast<std::size_t>(a);
      const Index t = r.token[sa];
      Index col = count[static_cast<std::size_t>(t)]++;
      if (has_slots && r.slot[sa] >= 0 && r.slot[sa] < m && out(t, r.slot[sa]) == -1) {
        col = r.slot[sa];
      }
      while (out(t, col) != -1) col = (col + 1) % m;  // slot taken: next free column
      out(t, col) = e;
    }
  }
  return out;
}

/// Trace of the last forward of `trunk` (a TransformerTrunk).
template <class Trunk>
ModelTrace<typename Trunk::Scalar> make_trace(const Trunk& trunk, bool hidden_states) {
  using S = typename Trunk::Scalar;
  ModelTrace<S> trace;
  if (hidden_states) {
    for (Index i = 0; i <= trunk.num_layers(); ++i) {
      trace.hidden_states.push_back(trunk.hidden_state(i));
    }
  }
  trunk.for_each_moe([&](Index layer, const auto& moe) {
    const Routing<S>& r = moe.routing();
    MoELayerTrace<S> t;
    t.layer = layer;
    t.probs = r.probs;
    t.chosen = chosen_experts(r);
    t.selected = r.selected;
    t.load = r.load;
    t.dropped = r.dropped;
    t.unrouted_tokens = r.unrouted_tokens;
    t.drop_rate = r.drop_rate();
    t.load_balancing_loss = r.load_balancing_loss;
    t.z_loss = r.z_loss;
    t.aux_loss = r.aux_loss;
    trace.aux_loss += r.aux_loss;
    trace.moe_layers.push_back(std::move(t));
  });
  return trace;
}

}  // namespace moerb
