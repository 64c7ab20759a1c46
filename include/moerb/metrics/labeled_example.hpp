#pragma once
// The per-example inputs that several metric accumulators accept, so that one MetricSet can feed
// them all from the same call (see metric_set.hpp).
#include <cstddef>
#include <cstdint>
#include <span>

#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"

namespace moerb {

/// A classifier's decision on one example: the predicted class and the true class (both >= 0).
struct LabeledPrediction {
  std::int32_t predicted = 0;
  std::int32_t label = 0;
};

/// A classifier's probability row for one example (num_classes entries in [0, 1] that sum to 1)
/// and the true class. The predicted class is the arg max, the lowest index among ties (as
/// numpy.argmax). `S` is float or double; the view must outlive the add() call only. From Eigen:
/// labeled_row(probabilities, i, label) for row i of an examples × classes matrix, or
/// {std::span<const S>(v.data(), v.size()), label} for a vector v.
template <FloatingScalar S>
struct LabeledProbabilities {
  std::span<const S> probabilities;
  std::int32_t label = 0;
};

/// Row `i` of a row-major examples × classes matrix of probabilities, with its label.
template <FloatingScalar S>
[[nodiscard]] LabeledProbabilities<S> labeled_row(const Matrix<S>& probabilities, Index i,
                                                  std::int32_t label) {
  MOERB_REQUIRE(i >= 0 && i < probabilities.rows(), "labeled_row: row ", i, " is out of range [0, ",
                probabilities.rows(), ")");
  return {std::span<const S>(probabilities.row(i).data(),
                             static_cast<std::size_t>(probabilities.cols())),
          label};
}

}  // namespace moerb
