#pragma once
// Optimizer<Update>: the one driver every first-order optimizer shares (as ensmallen's
// `using Adam = AdamType<AdamUpdate>`): it walks the model's parameters through
// visit_parameters, skips frozen ones, checks every gradient before anything changes, keeps
// per-parameter state keyed by name, and hands each parameter to the Update policy.
//
// An Update policy provides
//   struct Options { double lr; WeightDecayPolicy decay_policy; WeightDecayFilter decay_filter; ...
//   }; struct State { ... };                                   // per parameter,
//   default-constructible static constexpr std::string_view name;                 // for error
//   messages explicit Update(Options);                               // validates (throws
//   moerb::error) const Options& options() const; template <class P> void apply(State&, P&
//   parameter, bool decayed, double lr) const;
// See AdamWUpdate (adamw.hpp) and SGDUpdate (sgd.hpp).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "moerb/train/detail/optimizer_state.hpp"

namespace moerb {

template <class Update>
class Optimizer {
 public:
  using Options = typename Update::Options;
  using State = typename Update::State;

  Optimizer() : Optimizer(Options{}) {}
  explicit Optimizer(Options options) : update_(std::move(options)) {}

  [[nodiscard]] const Options& options() const { return update_.options(); }

  /// One update with the learning rate from Options.
  template <class Model>
  void step(Model& model) {
    step(model, options().lr);
  }

  /// One update of every non-frozen parameter of `model` with learning rate `lr` (>= 0). All or
  /// nothing: a non-finite or mis-shaped gradient, a name visited twice or a name whose shape
  /// changed throws moerb::error before any parameter or state changes.
  template <class Model>
  void step(Model& model, double lr) {
    const std::string where = std::string(Update::name) + "::step";
    detail::require_learning_rate(lr, where);
    const std::uint64_t pass = ++passes_;
    model.visit_parameters(
        [&](std::string_view name, auto& p) {
          if (p.frozen) return;
          detail::require_usable_gradient(p, name, where);
          state_.prepare(name, p.value.rows(), p.value.cols(), pass, where);
        },
        std::string_view{});
    const Options& o = options();
    model.visit_parameters(
        [&](std::string_view name, auto& p) {
          if (p.frozen) return;
          update_.apply(
              state_.at(name), p,
              detail::decays(o.decay_filter, o.decay_policy, name, p.value.rows(), p.value.cols()),
              lr);
        },
        std::string_view{});
    ++steps_;
  }

  /// Number of completed step() calls.
  [[nodiscard]] std::int64_t steps() const { return steps_; }
  /// The state of parameter `name`, or nullptr if it has none yet.
  [[nodiscard]] const State* state(std::string_view name) const { return state_.find(name); }
  /// Number of parameters with state.
  [[nodiscard]] std::size_t state_count() const { return state_.size(); }
  /// Forgets all state (e.g. after reshaping the model).
  void reset() {
    state_.clear();
    steps_ = 0;
  }

 private:
  Update update_;
  detail::ParameterStateTable<State> state_;
  std::int64_t steps_ = 0;
  std::uint64_t passes_ = 0;  ///< step() attempts, to detect a name visited twice in one step
};

}  // namespace moerb
