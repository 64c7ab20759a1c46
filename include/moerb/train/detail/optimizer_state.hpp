#pragma once
// Shared pieces of moerb's optimizers: the weight-decay selection, per-parameter state keyed by the
// names visit_parameters reports, and the gradient checks every step runs before it changes
// anything.
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>

#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/types.hpp"

namespace moerb {

/// Which parameters an optimizer's weight decay applies to.
enum class WeightDecayPolicy {
  /// Every (non-frozen) parameter, as torch.optim does with a single parameter group.
  all,
  /// Only parameters with more than one row: 1-row tensors (biases, normalisation gains and
  /// shifts, stored as `1 × n`) are not decayed, the usual transformer recipe (e.g. BERT, GPT-2).
  matrices_only,
};

/// Optional per-parameter override of WeightDecayPolicy: called with the parameter's name and
/// shape, returns true when the parameter is decayed. Scalar-independent so one optimizer serves
/// float and double models.
using WeightDecayFilter = std::function<bool(std::string_view name, Index rows, Index cols)>;

namespace detail {

/// True when a parameter named `name` of shape `rows × cols` receives weight decay.
inline bool decays(const WeightDecayFilter& filter, WeightDecayPolicy policy, std::string_view name,
                   Index rows, Index cols) {
  if (filter) return filter(name, rows, cols);
  return policy == WeightDecayPolicy::all || rows > 1;
}

/// The scalar type of a Parameter<S> (via its value matrix).
template <class P>
using parameter_scalar_t = typename std::remove_cvref_t<decltype(std::declval<P&>().value)>::Scalar;

/// Checks that `p.grad` has `p.value`'s shape and only finite entries; `where` names the caller.
template <class S>
void require_usable_gradient(const Parameter<S>& p, std::string_view name, std::string_view where) {
  if (p.grad.rows() != p.value.rows() || p.grad.cols() != p.value.cols()) {
    throw error(detail::concat(where, ": gradient of '", name, "' has shape ", p.grad.rows(), "×",
                               p.grad.cols(), ", expected the parameter's ", p.value.rows(), "×",
                               p.value.cols()));
  }
  // Σ g·0 is 0 exactly when every entry is finite; scan for the culprit only when it is not.
  if (p.grad.size() == 0 || (p.grad.array() * S(0)).sum() == S(0)) return;
  for (Index r = 0; r < p.grad.rows(); ++r) {
    for (Index c = 0; c < p.grad.cols(); ++c) {
      if (!std::isfinite(p.grad(r, c))) {
        throw error(detail::concat(where, ": gradient of '", name, "' at (", r, ", ", c, ") is ",
                                   p.grad(r, c), ", expected a finite value"));
      }
    }
  }
}

/// Per-parameter optimizer state keyed by parameter name.
///
/// An optimizer step runs two passes over the model: `prepare` (checks; creates missing entries)
/// for every non-frozen parameter, then `at` while updating. `prepare` rejects a name whose shape
/// differs from the one its state was created for, and a name visited twice in one step (two
/// parameters would otherwise share one state). A fresh entry holds a default-constructed State
/// and `steps == 0`; optimizers size their buffers on a parameter's first update, so an entry
/// created by a step that then failed its checks behaves exactly like a missing one.
template <class State>
class ParameterStateTable {
 public:
  struct Entry {
    Index rows = 0;
    Index cols = 0;
    std::uint64_t pass = 0;  ///< the last step pass that visited this name
    State state;
  };

  State& prepare(std::string_view name, Index rows, Index cols, std::uint64_t pass,
                 std::string_view where) {
    auto it = entries_.find(name);
    if (it == entries_.end()) {
      it = entries_.emplace(std::string(name), Entry{rows, cols, pass, State{}}).first;
      return it->second.state;
    }
    Entry& e = it->second;
    if (e.rows != rows || e.cols != cols) {
      throw error(
          detail::concat(where, ": parameter '", name, "' has shape ", rows, "×", cols,
                         ", but its optimizer state was created for ", e.rows, "×", e.cols,
                         " (state is keyed by name; call reset() after reshaping a model)"));
    }
    if (e.pass == pass) {
      throw error(detail::concat(where, ": parameter name '", name,
                                 "' is visited twice in one step; optimizer state is keyed by "
                                 "name, so parameter names must be unique"));
    }
    e.pass = pass;
    return e.state;
  }

  /// The state of a name `prepare` saw in this step.
  State& at(std::string_view name) { return entries_.find(name)->second.state; }

  [[nodiscard]] const State* find(std::string_view name) const {
    const auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second.state;
  }
  [[nodiscard]] std::size_t size() const { return entries_.size(); }
  void clear() { entries_.clear(); }

 private:
  std::map<std::string, Entry, std::less<>> entries_;
};

/// Rejects a learning rate that is negative, NaN or infinite.
inline void require_learning_rate(double lr, std::string_view where) {
  if (!(std::isfinite(lr) && lr >= 0.0)) {
    throw error(detail::concat(where, ": lr = ", lr, ", expected a finite value >= 0"));
  }
}

}  // namespace detail
}  // namespace moerb
