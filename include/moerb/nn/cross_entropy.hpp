#pragma once
// Softmax cross-entropy for classification and language-model heads, with its gradient.
//
// For a row of logits z with target t: ℓ = −log softmax(z)_t = logsumexp(z) − z_t, computed by
// log-sum-exp with max subtraction (moerb/kernels/softmax.hpp) so that logits of ±1e4 neither
// overflow nor lose the target's term; ∂ℓ/∂z = softmax(z) − onehot(t). The loss is the mean over
// the rows whose target is not `ignore_index` (PyTorch's F.cross_entropy with reduction='mean'),
// so ∂mean/∂z = (softmax(z) − onehot(t)) / n_counted on those rows and 0 on ignored rows.
// Row-wise log-probabilities are kernels::log_softmax_rows (moerb/kernels/softmax.hpp).
#include <cstdint>
#include <span>
#include <string_view>

#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"
#include "moerb/kernels/softmax.hpp"

namespace moerb {

/// PyTorch's default ignore_index: rows with this target (e.g. padding, prompt tokens) add nothing.
inline constexpr std::int32_t default_ignore_index = -100;

/// Mean softmax cross-entropy of `logits` (rows × num_classes) against `targets` (one per row,
/// in [0, num_classes) or equal to `ignore_index`), over the rows that are not ignored; writes
/// d_logits (resized to rows × num_classes; no allocation when it already has that shape) =
/// ∂mean/∂logits. d_logits may be `logits` itself (the logits are then overwritten by the
/// gradient). When every row is ignored (or there are no rows) the loss is 0 and d_logits is 0.
/// The per-row losses are summed in double, so float logits lose no precision in the mean.
/// Throws moerb::error for a size mismatch, a non-finite logit, or a target out of range (naming
/// its row and value).
template <FloatingScalar S>
S softmax_cross_entropy(const Matrix<S>& logits, std::span<const std::int32_t> targets,
                        Matrix<S>& d_logits, std::int32_t ignore_index = default_ignore_index) {
  constexpr std::string_view where = "softmax_cross_entropy";
  const Index rows = logits.rows();
  const Index classes = logits.cols();
  MOERB_REQUIRE(static_cast<Index>(targets.size()) == rows, where, ": ", targets.size(), " targets for ",
          rows, " rows of logits");
  Index counted = 0;
  for (std::size_t r = 0; r < targets.size(); ++r) {
    const std::int32_t t = targets[r];
    if (t == ignore_index) continue;
    MOERB_REQUIRE(t >= 0 && t < classes, where, ": targets[", r, "] = ", t, ", expected in [0, ", classes,
            ") or ignore_index = ", ignore_index);
    ++counted;
  }
  require_finite(logits, where, "logits");
  d_logits.resize(rows, classes);
  if (counted == 0) {
    d_logits.setZero();
    return S(0);
  }
  const S scale = S(1) / static_cast<S>(counted);
  double total = 0.0;
  for (Index r = 0; r < rows; ++r) {
    const std::int32_t t = targets[static_cast<std::size_t>(r)];
    if (t == ignore_index) {
      d_logits.row(r).setZero();
      continue;
    }
    // Read what the loss needs before the softmax overwrites the row when d_logits is logits.
    const S* z = logits.row(r).data();
    const S lse = kernels::logsumexp(z, classes);
    total += static_cast<double>(lse) - static_cast<double>(z[t]);
    S* g = d_logits.row(r).data();
    kernels::softmax(z, g, classes);
    g[t] -= S(1);
    d_logits.row(r) *= scale;
  }
  return static_cast<S>(total / static_cast<double>(counted));
}

}  // namespace moerb
