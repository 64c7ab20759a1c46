#pragma once
// The per-example inputs that several metric accumulators accept, so that one MetricSet can feed
// them all from the same call (see metric_set.hpp).
#include <cstdint>
#include <span>

#include "moerb/core/types.hpp"

namespace moerb {

/// A classifier's decision on one example: the predicted class and the true class (both >= 0).
struct LabeledPrediction {
  std::int32_t predicted = 0;
  std::int32_t label = 0;
};

/// A classifier's probability row for one example (num_classes entries in [0, 1] that sum to 1)
/// and the true class. The predicted class is the arg max, the lowest index among ties (as
/// numpy.argmax). `S` is float or double; the view must outlive the add() call only.
template <FloatingScalar S>
struct LabeledProbabilities {
  std::span<const S> probabilities;
  std::int32_t label = 0;
};

}  // namespace moerb
