#pragma once
// Routing behaviour of MoE layers, from what moerb's routers and models report (Routing<S> from
// a layer's routing(), MoELayerTrace<S> / ModelTrace<S> from a model's trace()):
// - ExpertLoad (one layer) and ModelExpertLoad (every MoE layer of a model): per-expert load,
//   normalised load entropy, coefficient of variation, max/mean load, drop rate and the rate of
//   tokens no expert processed;
// - ExpertLabelCounts: which experts the tokens of each class reach (expert × label counts);
// - RoutingStability: how much the routing of the same tokens changes between two forwards (e.g.
//   a clean and a perturbed input): Jaccard overlap of each token's expert set, the fraction of
//   tokens whose top-1 expert changed, and the mean KL and Jensen–Shannon divergence of the router
//   distributions;
// - router_drift: cosine similarity of each expert's gate vector between two checkpoints.
//
// Load and label counts are integers (merging is exact); RoutingStability keeps compensated sums
// (merging agrees with one pass within 1e-12).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"
#include "moerb/metrics/count_matrix.hpp"
#include "moerb/metrics/detail/checks.hpp"
#include "moerb/metrics/detail/compensated_sum.hpp"
#include "moerb/models/model_trace.hpp"
#include "moerb/nn/sequence_batch.hpp"
#include "moerb/routing/routing.hpp"

namespace moerb {

struct ExpertLoadSummary {
  std::vector<std::int64_t> load;     ///< kept (token, expert) assignments per expert
  std::vector<double> load_fraction;  ///< load / Σ load
  /// −Σ_e f_e log f_e / log E over the load fractions f: 1 for a uniform load, 0 when one expert
  /// takes everything (1 when E = 1).
  double normalized_entropy = 0;
  /// Population standard deviation of the load over its mean (0 for a uniform load).
  double coefficient_of_variation = 0;
  double max_over_mean = 0;  ///< max_e load_e / mean load (1 for a uniform load)
  /// Dropped (token, choice) pairs over the pairs asked for (tokens × k; 0 for expert choice,
  /// which asks for none).
  double drop_rate = 0;
  double unrouted_rate = 0;  ///< tokens that no expert processed / tokens
  std::int64_t tokens = 0;
  friend bool operator==(const ExpertLoadSummary&, const ExpertLoadSummary&) = default;
};

/// Load statistics of one MoE layer over any number of batches. With no kept assignment at all
/// the load-shape figures (fractions, entropy, CV, max/mean) are NaN.
class ExpertLoad {
 public:
  using input_type = MoELayerTrace<float>;
  using value_type = ExpertLoadSummary;

  struct State {
    std::vector<std::int64_t> load;  ///< empty until the first batch fixes the number of experts
    std::int64_t tokens = 0;
    std::int64_t requested = 0;  ///< (token, choice) pairs asked for
    std::int64_t dropped = 0;
    std::int64_t unrouted = 0;
    friend bool operator==(const State&, const State&) = default;
  };

  ExpertLoad() = default;
  explicit ExpertLoad(State state) {
    MOERB_REQUIRE(state.tokens >= 0 && state.requested >= 0 && state.dropped >= 0 &&
                      state.dropped <= state.requested && state.unrouted >= 0 &&
                      state.unrouted <= state.tokens,
                  "ExpertLoad: invalid state (tokens = ", state.tokens,
                  ", requested = ", state.requested, ", dropped = ", state.dropped,
                  ", unrouted = ", state.unrouted, ")");
    for (const std::int64_t l : state.load) {
      MOERB_REQUIRE(l >= 0, "ExpertLoad: invalid state (negative load ", l, ")");
    }
    state_ = std::move(state);
  }

  template <FloatingScalar S>
  void add(const MoELayerTrace<S>& trace) {
    add_counts(trace.load, trace.probs.rows(), trace.probs.rows() * trace.selected.cols(),
               trace.dropped, trace.unrouted_tokens);
  }
  template <FloatingScalar S>
  void add(const Routing<S>& routing) {
    add_counts(routing.load, routing.num_tokens, routing.num_tokens * routing.k, routing.dropped,
               routing.unrouted_tokens);
  }

  void merge(const ExpertLoad& other) {
    if (other.state_.load.empty() && other.state_.tokens == 0) return;
    match_experts(other.state_.load.size(), "ExpertLoad::merge");
    for (std::size_t e = 0; e < state_.load.size(); ++e) state_.load[e] += other.state_.load[e];
    state_.tokens += other.state_.tokens;
    state_.requested += other.state_.requested;
    state_.dropped += other.state_.dropped;
    state_.unrouted += other.state_.unrouted;
  }
  void reset() { state_ = {}; }

  [[nodiscard]] ExpertLoadSummary value() const {
    MOERB_REQUIRE(state_.tokens > 0, "ExpertLoad::value: no tokens");
    ExpertLoadSummary s;
    s.load = state_.load;
    s.tokens = state_.tokens;
    s.drop_rate = state_.requested > 0
                      ? static_cast<double>(state_.dropped) / static_cast<double>(state_.requested)
                      : 0.0;
    s.unrouted_rate = static_cast<double>(state_.unrouted) / static_cast<double>(state_.tokens);
    const auto experts = static_cast<double>(s.load.size());
    std::int64_t total = 0, max = 0;
    for (const std::int64_t l : s.load) {
      total += l;
      max = std::max(max, l);
    }
    if (total == 0) {
      const double nan = std::numeric_limits<double>::quiet_NaN();
      s.load_fraction.assign(s.load.size(), nan);
      s.normalized_entropy = s.coefficient_of_variation = s.max_over_mean = nan;
      return s;
    }
    const double mean = static_cast<double>(total) / experts;
    double entropy = 0, squares = 0;
    for (const std::int64_t l : s.load) {
      const double f = static_cast<double>(l) / static_cast<double>(total);
      s.load_fraction.push_back(f);
      if (f > 0) entropy -= f * std::log(f);
      const double d = static_cast<double>(l) - mean;
      squares += d * d;
    }
    s.normalized_entropy = s.load.size() > 1 ? entropy / std::log(experts) : 1.0;
    s.coefficient_of_variation = std::sqrt(squares / experts) / mean;
    s.max_over_mean = static_cast<double>(max) / mean;
    return s;
  }

  [[nodiscard]] const State& state() const { return state_; }

 private:
  void match_experts(std::size_t experts, std::string_view where) {
    if (state_.load.empty()) state_.load.assign(experts, 0);
    MOERB_REQUIRE(experts == state_.load.size(), where, ": ", experts, " experts, expected ",
                  state_.load.size(), " as before");
  }
  void add_counts(const std::vector<Index>& load, Index tokens, Index requested, Index dropped,
                  Index unrouted) {
    MOERB_REQUIRE(!load.empty(), "ExpertLoad::add: the routing has no experts");
    MOERB_REQUIRE(tokens >= 0 && requested >= 0 && dropped >= 0 && dropped <= requested &&
                      unrouted >= 0 && unrouted <= tokens,
                  "ExpertLoad::add: inconsistent routing (tokens = ", tokens,
                  ", requested = ", requested, ", dropped = ", dropped, ", unrouted = ", unrouted,
                  ")");
    match_experts(load.size(), "ExpertLoad::add");
    for (std::size_t e = 0; e < load.size(); ++e) {
      MOERB_REQUIRE(load[e] >= 0, "ExpertLoad::add: load of expert ", e, " is ", load[e]);
      state_.load[e] += load[e];
    }
    state_.tokens += tokens;
    state_.requested += requested;
    state_.dropped += dropped;
    state_.unrouted += unrouted;
  }

  State state_;
};

/// ExpertLoad for every MoE layer of a model, from ModelTrace (one entry per MoE block, in block
/// order). value()[i] belongs to the block layers()[i].
class ModelExpertLoad {
 public:
  using input_type = ModelTrace<float>;
  using value_type = std::vector<ExpertLoadSummary>;

  struct State {
    std::vector<Index> layers;  ///< block index of each MoE layer
    std::vector<ExpertLoad::State> per_layer;
    friend bool operator==(const State&, const State&) = default;
  };

  ModelExpertLoad() = default;
  explicit ModelExpertLoad(const State& state) {
    MOERB_REQUIRE(state.layers.size() == state.per_layer.size(), "ModelExpertLoad: invalid state (",
                  state.layers.size(), " layers, ", state.per_layer.size(), " load states)");
    layers_ = state.layers;
    for (const ExpertLoad::State& s : state.per_layer) loads_.emplace_back(s);
  }

  template <FloatingScalar S>
  void add(const ModelTrace<S>& trace) {
    std::vector<Index> layers;
    for (const MoELayerTrace<S>& t : trace.moe_layers) layers.push_back(t.layer);
    match_layers(layers, "ModelExpertLoad::add");
    for (std::size_t i = 0; i < trace.moe_layers.size(); ++i) loads_[i].add(trace.moe_layers[i]);
  }

  void merge(const ModelExpertLoad& other) {
    if (other.layers_.empty() && other.loads_.empty()) return;
    match_layers(other.layers_, "ModelExpertLoad::merge");
    for (std::size_t i = 0; i < loads_.size(); ++i) loads_[i].merge(other.loads_[i]);
  }
  void reset() {
    layers_.clear();
    loads_.clear();
  }

  [[nodiscard]] std::vector<ExpertLoadSummary> value() const {
    MOERB_REQUIRE(!loads_.empty(), "ModelExpertLoad::value: no trace with MoE layers was added");
    std::vector<ExpertLoadSummary> out;
    for (const ExpertLoad& l : loads_) out.push_back(l.value());
    return out;
  }
  [[nodiscard]] const std::vector<Index>& layers() const { return layers_; }
  [[nodiscard]] State state() const {
    State s;
    s.layers = layers_;
    for (const ExpertLoad& l : loads_) s.per_layer.push_back(l.state());
    return s;
  }

 private:
  void match_layers(const std::vector<Index>& layers, std::string_view where) {
    if (loads_.empty()) {
      layers_ = layers;
      loads_.assign(layers.size(), ExpertLoad{});
    }
    MOERB_REQUIRE(layers == layers_, where,
                  ": the trace's MoE layers differ from the earlier ones (", layers.size(),
                  " layers, expected ", layers_.size(), ")");
  }

  std::vector<Index> layers_;
  std::vector<ExpertLoad> loads_;
};

/// The experts one token reached (entries < 0 are ignored, e.g. MoELayerTrace::chosen's padding)
/// and the label of its example.
struct TokenExperts {
  std::span<const Index> experts;
  std::int32_t label = 0;
};

/// The label of every token of a packed batch: each sequence's label repeated over its tokens.
[[nodiscard]] inline std::vector<std::int32_t> token_labels(
    const SequenceBatch& sequences, std::span<const std::int32_t> sequence_labels) {
  detail::metrics::check_same_size(static_cast<std::size_t>(sequences.num_sequences()),
                                   sequence_labels.size(), "token_labels", "sequences", "labels");
  std::vector<std::int32_t> out;
  out.reserve(static_cast<std::size_t>(sequences.num_tokens()));
  for (Index b = 0; b < sequences.num_sequences(); ++b) {
    out.insert(out.end(), static_cast<std::size_t>(sequences.length(b)),
               sequence_labels[static_cast<std::size_t>(b)]);
  }
  return out;
}

/// Expert × label counts: entry (e, c) counts the kept assignments of tokens with label c to
/// expert e. Options::num_classes = 0 grows the label range with the labels seen; the number of
/// experts is fixed by Options::num_experts or, when 0, by the first routing or trace added
/// (TokenExperts alone grows it to the largest expert seen).
class ExpertLabelCounts {
 public:
  using input_type = TokenExperts;
  using value_type = CountMatrix;

  struct Options {
    Index num_experts = 0;
    Index num_classes = 0;
    friend bool operator==(const Options&, const Options&) = default;
  };
  struct State {
    Index num_experts = 0;
    Index num_classes = 0;
    std::vector<std::int64_t> counts;  ///< num_experts × num_classes, row-major
    friend bool operator==(const State&, const State&) = default;
  };

  ExpertLabelCounts() = default;
  explicit ExpertLabelCounts(const Options& options) : options_(options) {
    MOERB_REQUIRE(options.num_experts >= 0 && options.num_classes >= 0,
                  "ExpertLabelCounts: num_experts = ", options.num_experts,
                  ", num_classes = ", options.num_classes, ", expected >= 0");
    grow(options.num_experts, options.num_classes);
  }
  ExpertLabelCounts(const Options& options, const State& state) : ExpertLabelCounts(options) {
    MOERB_REQUIRE(state.num_experts >= 0 && state.num_classes >= 0 &&
                      state.counts.size() == static_cast<std::size_t>(state.num_experts) *
                                                 static_cast<std::size_t>(state.num_classes),
                  "ExpertLabelCounts: invalid state (", state.counts.size(), " counts for ",
                  state.num_experts, " × ", state.num_classes, ")");
    MOERB_REQUIRE((options.num_experts == 0 || state.num_experts == options.num_experts) &&
                      (options.num_classes == 0 || state.num_classes == options.num_classes),
                  "ExpertLabelCounts: the state's size differs from the options");
    for (const std::int64_t c : state.counts) {
      MOERB_REQUIRE(c >= 0, "ExpertLabelCounts: invalid state (negative count ", c, ")");
    }
    state_ = state;
  }

  void add(const TokenExperts& token) {
    check_label(token.label);
    Index max_expert = -1;
    for (const Index e : token.experts) max_expert = std::max(max_expert, e);
    MOERB_REQUIRE(options_.num_experts == 0 || max_expert < options_.num_experts,
                  "ExpertLabelCounts::add: expert ", max_expert, " is out of range [0, ",
                  options_.num_experts, ")");
    grow(max_expert + 1, token.label + Index(1));
    for (const Index e : token.experts) {
      if (e >= 0) ++state_.counts[cell(e, token.label)];
    }
  }
  /// Every token of a layer's trace (its `chosen` experts), with one label per token.
  template <FloatingScalar S>
  void add(const MoELayerTrace<S>& trace, std::span<const std::int32_t> token_labels) {
    detail::metrics::check_same_size(static_cast<std::size_t>(trace.chosen.rows()),
                                     token_labels.size(), "ExpertLabelCounts::add",
                                     "tokens in the trace", "token labels");
    fix_experts(static_cast<Index>(trace.load.size()));
    for (Index t = 0; t < trace.chosen.rows(); ++t) {
      add(TokenExperts{std::span<const Index>(trace.chosen.row(t).data(),
                                              static_cast<std::size_t>(trace.chosen.cols())),
                       token_labels[static_cast<std::size_t>(t)]});
    }
  }
  /// Every kept assignment of a routing, with one label per token.
  template <FloatingScalar S>
  void add(const Routing<S>& routing, std::span<const std::int32_t> token_labels) {
    detail::metrics::check_same_size(static_cast<std::size_t>(routing.num_tokens),
                                     token_labels.size(), "ExpertLabelCounts::add",
                                     "tokens in the routing", "token labels");
    fix_experts(routing.num_experts);
    for (const std::int32_t label : token_labels) check_label(label);
    for (const std::int32_t label : token_labels) grow(state_.num_experts, label + Index(1));
    for (Index e = 0; e < routing.num_experts; ++e) {
      for (Index a = routing.begin(e); a < routing.end(e); ++a) {
        const Index t = routing.token[static_cast<std::size_t>(a)];
        ++state_.counts[cell(e, token_labels[static_cast<std::size_t>(t)])];
      }
    }
  }

  void merge(const ExpertLabelCounts& other) {
    MOERB_REQUIRE(options_ == other.options_, "ExpertLabelCounts::merge: the options differ");
    grow(other.state_.num_experts, other.state_.num_classes);
    for (Index e = 0; e < other.state_.num_experts; ++e) {
      for (Index c = 0; c < other.state_.num_classes; ++c) {
        state_.counts[cell(e, c)] +=
            other.state_.counts[static_cast<std::size_t>(e * other.state_.num_classes + c)];
      }
    }
  }
  void reset() {
    state_ = {};
    grow(options_.num_experts, options_.num_classes);
  }

  /// num_experts × num_classes counts; throws when nothing was counted.
  [[nodiscard]] CountMatrix value() const {
    MOERB_REQUIRE(state_.num_experts > 0 && state_.num_classes > 0,
                  "ExpertLabelCounts::value: no tokens");
    CountMatrix m(state_.num_experts, state_.num_classes);
    std::copy(state_.counts.begin(), state_.counts.end(), m.data());
    return m;
  }

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] const State& state() const { return state_; }

 private:
  void check_label(std::int32_t label) const {
    MOERB_REQUIRE(label >= 0 && (options_.num_classes == 0 || label < options_.num_classes),
                  "ExpertLabelCounts::add: label ", label, " is out of range");
  }
  void fix_experts(Index experts) {
    MOERB_REQUIRE(experts >= 1 && (options_.num_experts == 0 || experts == options_.num_experts),
                  "ExpertLabelCounts::add: the routing has ", experts, " experts, expected ",
                  options_.num_experts);
    grow(experts, state_.num_classes);
  }
  [[nodiscard]] std::size_t cell(Index expert, Index label) const {
    return static_cast<std::size_t>(expert * state_.num_classes + label);
  }
  /// Enlarges to at least experts × classes, keeping the counts.
  void grow(Index experts, Index classes) {
    experts = std::max(experts, state_.num_experts);
    classes = std::max(classes, state_.num_classes);
    if (experts == state_.num_experts && classes == state_.num_classes) return;
    std::vector<std::int64_t> counts(static_cast<std::size_t>(experts * classes), 0);
    for (Index e = 0; e < state_.num_experts; ++e) {
      for (Index c = 0; c < state_.num_classes; ++c) {
        counts[static_cast<std::size_t>(e * classes + c)] = state_.counts[cell(e, c)];
      }
    }
    state_ = {experts, classes, std::move(counts)};
  }

  Options options_;
  State state_;
};

/// One token's routing in two forwards: router probabilities (one entry per expert; rows are
/// normalised to sum 1 before the divergences, so sigmoid affinities work too) and the experts it
/// selected (entries < 0 ignored).
template <FloatingScalar S>
struct TokenRoutingPair {
  std::span<const S> probabilities_a;
  std::span<const S> probabilities_b;
  std::span<const Index> experts_a;
  std::span<const Index> experts_b;
};

struct RoutingStabilitySummary {
  /// Mean over tokens of |A ∩ B| / |A ∪ B| of the two expert sets (1 when both are empty).
  double mean_jaccard = 0;
  /// Fraction of tokens whose top-1 expert (arg max of the router probabilities, lowest index among
  /// ties) differs.
  double top1_change_rate = 0;
  /// Mean KL(P_a ‖ P_b) in nats; +∞ when some token has P_b = 0 where P_a > 0.
  double mean_kl = 0;
  /// Mean Jensen–Shannon divergence in nats (in [0, ln 2]; Lin 1991).
  double mean_js = 0;
  std::int64_t tokens = 0;
  friend bool operator==(const RoutingStabilitySummary&, const RoutingStabilitySummary&) = default;
};

/// Routing stability between two forwards over the same tokens (see RoutingStabilitySummary). The
/// expert sets are the experts each token asked for (MoELayerTrace::selected / Routing::selected
/// for token-choice routers), or the experts that processed it (chosen) for expert choice.
/// A ModelTrace pair pools the tokens of all MoE layers. Sums are compensated: merging shards
/// agrees with one pass within 1e-12.
class RoutingStability {
 public:
  using input_type = TokenRoutingPair<float>;
  using value_type = RoutingStabilitySummary;

  struct State {
    std::int64_t tokens = 0;
    std::int64_t top1_changes = 0;
    std::int64_t infinite_kl = 0;  ///< tokens whose KL is +∞ (not in kl)
    detail::metrics::CompensatedSum jaccard;
    detail::metrics::CompensatedSum kl;
    detail::metrics::CompensatedSum js;
    friend bool operator==(const State&, const State&) = default;
  };

  RoutingStability() = default;
  explicit RoutingStability(const State& state) : state_(state) {
    MOERB_REQUIRE(
        state.tokens >= 0 && state.top1_changes >= 0 && state.top1_changes <= state.tokens &&
            state.infinite_kl >= 0 && state.infinite_kl <= state.tokens,
        "RoutingStability: invalid state (tokens = ", state.tokens,
        ", top1_changes = ", state.top1_changes, ", infinite_kl = ", state.infinite_kl, ")");
  }

  template <FloatingScalar S>
  void add(const TokenRoutingPair<S>& token) {
    constexpr std::string_view where = "RoutingStability::add";
    const std::size_t n = token.probabilities_a.size();
    MOERB_REQUIRE(n >= 1 && token.probabilities_b.size() == n, where, ": probability rows of ", n,
                  " and ", token.probabilities_b.size(), " experts");
    const double sum_a = checked_sum(token.probabilities_a, where);
    const double sum_b = checked_sum(token.probabilities_b, where);
    double kl = 0, js = 0;
    bool infinite = false;
    for (std::size_t e = 0; e < n; ++e) {
      const double p = static_cast<double>(token.probabilities_a[e]) / sum_a;
      const double q = static_cast<double>(token.probabilities_b[e]) / sum_b;
      const double m = (p + q) / 2;
      if (p > 0) {
        if (q > 0) {
          kl += p * std::log(p / q);
        } else {
          infinite = true;
        }
        js += p / 2 * std::log(p / m);
      }
      if (q > 0) js += q / 2 * std::log(q / m);
    }
    const auto top1_a = detail::metrics::arg_max(token.probabilities_a);
    const auto top1_b = detail::metrics::arg_max(token.probabilities_b);
    ++state_.tokens;
    state_.top1_changes += top1_a != top1_b ? 1 : 0;
    if (infinite) {
      ++state_.infinite_kl;
    } else {
      state_.kl.add(std::max(kl, 0.0));
    }
    state_.js.add(std::max(js, 0.0));
    state_.jaccard.add(jaccard(token.experts_a, token.experts_b));
  }
  /// Two traces of one layer over the same tokens.
  template <FloatingScalar S>
  void add(const MoELayerTrace<S>& a, const MoELayerTrace<S>& b) {
    add_rows(a.probs, b.probs, expert_sets(a), expert_sets(b));
  }
  /// Two routings of one layer over the same tokens.
  template <FloatingScalar S>
  void add(const Routing<S>& a, const Routing<S>& b) {
    add_rows(a.probs, b.probs, a.k > 0 ? a.selected : chosen_experts(a),
             b.k > 0 ? b.selected : chosen_experts(b));
  }
  /// Two traces of a model over the same tokens: every MoE layer, pooled.
  template <FloatingScalar S>
  void add(const ModelTrace<S>& a, const ModelTrace<S>& b) {
    MOERB_REQUIRE(a.moe_layers.size() == b.moe_layers.size(), "RoutingStability::add: traces with ",
                  a.moe_layers.size(), " and ", b.moe_layers.size(), " MoE layers");
    for (std::size_t i = 0; i < a.moe_layers.size(); ++i) add(a.moe_layers[i], b.moe_layers[i]);
  }

  void merge(const RoutingStability& other) {
    state_.tokens += other.state_.tokens;
    state_.top1_changes += other.state_.top1_changes;
    state_.infinite_kl += other.state_.infinite_kl;
    state_.jaccard.merge(other.state_.jaccard);
    state_.kl.merge(other.state_.kl);
    state_.js.merge(other.state_.js);
  }
  void reset() { state_ = {}; }

  [[nodiscard]] RoutingStabilitySummary value() const {
    MOERB_REQUIRE(state_.tokens > 0, "RoutingStability::value: no tokens");
    const double n = static_cast<double>(state_.tokens);
    return {.mean_jaccard = state_.jaccard.value() / n,
            .top1_change_rate = static_cast<double>(state_.top1_changes) / n,
            .mean_kl = state_.infinite_kl > 0 ? std::numeric_limits<double>::infinity()
                                              : state_.kl.value() / n,
            .mean_js = state_.js.value() / n,
            .tokens = state_.tokens};
  }

  [[nodiscard]] const State& state() const { return state_; }

 private:
  template <class S>
  static double checked_sum(std::span<const S> row, std::string_view where) {
    double sum = 0;
    for (std::size_t e = 0; e < row.size(); ++e) {
      const double p = static_cast<double>(row[e]);
      MOERB_REQUIRE(std::isfinite(p) && p >= 0, where, ": router probability ", e, " is ", p,
                    ", expected a finite value >= 0");
      sum += p;
    }
    MOERB_REQUIRE(sum > 0, where, ": router probabilities sum to 0");
    return sum;
  }
  static double jaccard(std::span<const Index> a, std::span<const Index> b) {
    std::int64_t both = 0, either = 0;
    // Sets are small (k experts): quadratic membership tests, no allocation. Repeats count once.
    const auto seen_before = [](std::span<const Index> s, std::size_t i) {
      return std::find(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(i), s[i]) !=
             s.begin() + static_cast<std::ptrdiff_t>(i);
    };
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (a[i] < 0 || seen_before(a, i)) continue;
      ++either;
      if (std::find(b.begin(), b.end(), a[i]) != b.end()) ++both;
    }
    for (std::size_t i = 0; i < b.size(); ++i) {
      if (b[i] < 0 || seen_before(b, i)) continue;
      if (std::find(a.begin(), a.end(), b[i]) == a.end()) ++either;
    }
    return either == 0 ? 1.0 : static_cast<double>(both) / static_cast<double>(either);
  }
  template <class S>
  static const IndexMatrix& expert_sets(const MoELayerTrace<S>& t) {
    return t.selected.size() > 0 ? t.selected : t.chosen;
  }
  template <class S>
  void add_rows(const Matrix<S>& probs_a, const Matrix<S>& probs_b, const IndexMatrix& experts_a,
                const IndexMatrix& experts_b) {
    const Index tokens = probs_a.rows();
    MOERB_REQUIRE(probs_b.rows() == tokens && probs_a.cols() == probs_b.cols(),
                  "RoutingStability::add: router probabilities of shape ", probs_a.rows(), "×",
                  probs_a.cols(), " and ", probs_b.rows(), "×", probs_b.cols(),
                  " (expected the same tokens and experts)");
    MOERB_REQUIRE(experts_a.rows() == tokens && experts_b.rows() == tokens,
                  "RoutingStability::add: expert sets for ", experts_a.rows(), " and ",
                  experts_b.rows(), " tokens, expected ", tokens);
    const auto experts = static_cast<std::size_t>(probs_a.cols());
    for (Index t = 0; t < tokens; ++t) {
      add(TokenRoutingPair<S>{std::span<const S>(probs_a.row(t).data(), experts),
                              std::span<const S>(probs_b.row(t).data(), experts),
                              std::span<const Index>(experts_a.row(t).data(),
                                                     static_cast<std::size_t>(experts_a.cols())),
                              std::span<const Index>(experts_b.row(t).data(),
                                                     static_cast<std::size_t>(experts_b.cols()))});
    }
  }

  State state_;
};

/// Router drift between two checkpoints of the same model: the cosine similarity of each expert's
/// gate vector, column e of the gate weight (input_dim × num_experts, as LinearGate stores it).
/// Throws when the shapes differ or a gate vector is zero.
template <FloatingScalar S>
[[nodiscard]] std::vector<double> router_drift(const Matrix<S>& before, const Matrix<S>& after) {
  MOERB_REQUIRE(before.rows() == after.rows() && before.cols() == after.cols(),
                "router_drift: gate weights of shape ", before.rows(), "×", before.cols(), " and ",
                after.rows(), "×", after.cols());
  std::vector<double> cosine(static_cast<std::size_t>(before.cols()));
  for (Index e = 0; e < before.cols(); ++e) {
    const Vector<double> a = before.col(e).template cast<double>();
    const Vector<double> b = after.col(e).template cast<double>();
    MOERB_REQUIRE(a.allFinite() && b.allFinite(), "router_drift: the gate vector of expert ", e,
                  " is not finite");
    const double na = a.norm(), nb = b.norm();
    MOERB_REQUIRE(na > 0 && nb > 0, "router_drift: the gate vector of expert ", e, " is zero");
    cosine[static_cast<std::size_t>(e)] = std::clamp(a.dot(b) / (na * nb), -1.0, 1.0);
  }
  return cosine;
}

}  // namespace moerb
