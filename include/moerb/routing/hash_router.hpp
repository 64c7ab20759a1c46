#pragma once
// Hash routing (Roller et al. 2021, "Hash Layers For Large Sparse Models").
//
// Every token goes to one expert chosen by a fixed function of its token id, not of its hidden
// state: nothing is learned, the routing cannot collapse, and the same id always meets the same
// expert. The paper's "random hash" is a fixed random lookup table from the vocabulary to the
// experts; this one is built balanced: the vocabulary is shuffled with a seeded Fisher–Yates
// shuffle (moerb::Rng(seed)) and the shuffled ids are dealt to experts round-robin, so every expert
// owns ⌊V/E⌋ or ⌈V/E⌉ ids. (The balance is over the vocabulary; the load of a batch follows its
// token frequencies, as in the paper.)
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/routing/detail/router_checks.hpp"
#include "moerb/routing/detail/token_choice.hpp"
#include "moerb/routing/router.hpp"

namespace moerb {

/// Hash router: expert = table[token id]. Scalar: float or double.
///
/// Needs `ctx.token_ids` (one id in [0, vocab_size) per row of x). Has no parameters
/// (visit_parameters visits nothing) and its backward adds nothing to dx.
///
/// What it puts into Routing: `k = 1`; `selected` (tokens × 1) = the hashed expert, `assignment`
/// its index; weight 1 for every token; `slot = 0`; no capacity, so `dropped = 0` and
/// `unrouted_tokens = 0`; `load` = tokens per expert; `probs` = one-hot of the hashed expert
/// (tokens × experts); `logits` is empty (0 × experts): hash routing computes no scores;
/// `load_balancing_loss = z_loss = aux_loss = 0`.
template <class S>
class HashRouter {
  static_assert(FloatingScalar<S>, "HashRouter<Scalar>: Scalar must be float or double");

 public:
  using Scalar = S;

  struct Options {
    Index input_dim = 0;                 ///< d_model, the columns of x (required, > 0)
    Index num_experts = 0;               ///< E (required, > 0)
    Index vocab_size = 0;                ///< V: token ids lie in [0, V) (required, > 0)
    std::uint64_t seed = 0x68617368ULL;  ///< seeds the shuffle that builds the table
  };

  explicit HashRouter(const Options& options) : options_(validated(options)) { build_table(); }

  /// No-op: the table depends only on Options::seed (built in the constructor), so that a model
  /// rebuilt from its options routes identically without a checkpoint of the table.
  void initialize(Rng& /*rng*/) {}

  [[nodiscard]] Index input_dim() const { return options_.input_dim; }
  [[nodiscard]] Index num_experts() const { return options_.num_experts; }
  /// TokenIndependentRouting: a token's expert depends on its id alone.
  [[nodiscard]] bool routes_tokens_independently() const { return true; }
  [[nodiscard]] Index vocab_size() const { return options_.vocab_size; }
  [[nodiscard]] const Options& options() const { return options_; }

  /// The expert of every token id (vocab_size entries).
  [[nodiscard]] const std::vector<Index>& table() const { return table_; }

  /// Replaces the seeded table by a user's own (e.g. the clustered or frequency-balanced hashes of
  /// Roller et al. 2021, §4, computed offline). `table[id]` is the expert of token id; it must have
  /// vocab_size entries in [0, num_experts).
  void set_table(std::vector<Index> table) {
    static constexpr std::string_view where = "HashRouter::set_table";
    MOERB_REQUIRE(static_cast<Index>(table.size()) == options_.vocab_size, where, ": table has ",
            table.size(), " entries, expected vocab_size = ", options_.vocab_size);
    for (std::size_t i = 0; i < table.size(); ++i) {
      MOERB_REQUIRE(table[i] >= 0 && table[i] < options_.num_experts, where, ": table[", i,
              "] = ", table[i], ", expected in [0, ", options_.num_experts, ")");
    }
    table_ = std::move(table);
  }

  /// The expert of one token id (throws moerb::error if the id is outside [0, vocab_size)).
  [[nodiscard]] Index expert_of(std::int64_t token_id) const {
    MOERB_REQUIRE(token_id >= 0 && token_id < options_.vocab_size,
            "HashRouter::expert_of: token_id = ", token_id, ", expected in [0, ",
            options_.vocab_size, ")");
    return table_[static_cast<std::size_t>(token_id)];
  }

  /// x: tokens × input_dim (checked, not read); ctx.token_ids: one id per row of x.
  const Routing<S>& forward(const Matrix<S>& x, const ForwardContext& ctx) {
    static constexpr std::string_view where = "HashRouter::forward";
    require_cols(x, input_dim(), where, "x");
    require_finite(x, where, "x");
    has_forward_ = false;
    const Index T = x.rows();
    const Index E = num_experts();
    const auto ids = ctx.token_ids;
    MOERB_REQUIRE(static_cast<Index>(ids.size()) == T, where, ": token_ids has ", ids.size(),
            " entries, expected ", T, " (one per row of x; set ForwardContext::token_ids)");
    for (std::size_t t = 0; t < ids.size(); ++t) {
      MOERB_REQUIRE(ids[t] >= 0 && ids[t] < options_.vocab_size, where, ": token_ids[", t, "] = ", ids[t],
              ", expected in [0, ", options_.vocab_size, ")");
    }

    Routing<S>& r = routing_;
    r.num_experts = E;
    r.selected.resize(T, 1);
    ones_.setOnes(T, 1);
    r.probs.setZero(T, E);
    for (Index t = 0; t < T; ++t) {
      const Index e = table_[static_cast<std::size_t>(ids[static_cast<std::size_t>(t)])];
      r.selected(t, 0) = e;
      r.probs(t, e) = S(1);
    }
    r.logits.resize(0, E);
    detail::build_token_choice(r, ones_, Index{-1}, choice_counts_, scratch_);
    r.load_balancing_loss = 0;
    r.z_loss = 0;
    r.aux_loss = 0;
    has_forward_ = true;
    return r;
  }

  /// The routing does not depend on x and there are no parameters: checks the arguments only.
  void backward(const Matrix<S>& x, std::span<const S> d_weight, Matrix<S>& dx) {
    detail::require_router_backward_args(has_forward_, routing_, input_dim(), x, d_weight, dx,
                                         "HashRouter::backward");
  }

  /// No learnable parameters: visits nothing.
  template <class Visitor>
  void visit_parameters(Visitor&& /*visitor*/, std::string_view /*prefix*/) {}

  /// The routing of the last forward.
  [[nodiscard]] const Routing<S>& routing() const { return routing_; }

 private:
  static Options validated(const Options& o) {
    static constexpr std::string_view where = "HashRouter";
    detail::require_router_dims(o.input_dim, o.num_experts, where);
    MOERB_REQUIRE(o.vocab_size > 0, where, ": vocab_size = ", o.vocab_size, ", expected > 0");
    return o;
  }

  void build_table() {
    const auto V = static_cast<std::size_t>(options_.vocab_size);
    std::vector<Index> ids(V);
    std::iota(ids.begin(), ids.end(), Index{0});
    Rng rng(options_.seed);
    for (std::size_t i = V; i > 1; --i) {  // Fisher–Yates
      const auto j = static_cast<std::size_t>(rng.uniform_index(i));
      std::swap(ids[i - 1], ids[j]);
    }
    table_.resize(V);
    for (std::size_t i = 0; i < V; ++i) {
      table_[static_cast<std::size_t>(ids[i])] =
          static_cast<Index>(i % static_cast<std::size_t>(options_.num_experts));
    }
  }

  Options options_;
  std::vector<Index> table_;
  Routing<S> routing_;
  bool has_forward_ = false;
  Matrix<S> ones_;
  std::vector<Index> choice_counts_, scratch_;
};

static_assert(Router<HashRouter<float>>, "HashRouter<float> must model moerb::Router");
static_assert(Router<HashRouter<double>>, "HashRouter<double> must model moerb::Router");

}  // namespace moerb
