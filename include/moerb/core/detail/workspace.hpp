#pragma once
// Grow-only row buffers and the row-parallel loop shared by experts and layers.
//
// An expert in an MoE layer sees a different number of tokens every step. Eigen reallocates a
// matrix whenever its size changes, so the per-step activations live in buffers that only ever
// grow and are used through their first n rows (contiguous for row-major storage): in steady state
// forward and backward allocate nothing.
#include <Eigen/Core>
#include <algorithm>

#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"

namespace moerb::detail {

/// A row-major buffer whose first `n` rows are handed out as an `n × cols` block.
template <class S>
class RowBuffer {
 public:
  /// The first n rows (n × cols). Reallocates (discarding the contents) only when n exceeds the
  /// rows allocated so far — then by at least 1.5× — or when the width changes.
  auto rows(Index n, Index cols) {
    if (buffer_.cols() != cols || buffer_.rows() < n) {
      const Index grown = buffer_.cols() == cols ? buffer_.rows() + buffer_.rows() / 2 : Index(0);
      buffer_.resize(std::max(n, grown), cols);
    }
    return buffer_.topRows(n);
  }
  /// The first n rows as last written (n must not exceed what `rows` handed out).
  auto view(Index n) { return buffer_.topRows(n); }
  auto view(Index n) const { return buffer_.topRows(n); }

  [[nodiscard]] Index capacity_rows() const { return buffer_.rows(); }
  [[nodiscard]] Index cols() const { return buffer_.cols(); }

 private:
  Matrix<S> buffer_;
};

/// Below this many scalar operations a row loop stays on the calling thread (a parallel region
/// costs a few microseconds).
inline constexpr Index parallel_min_work = Index(1) << 15;

/// Runs f(r) for r in [0, n), over OpenMP threads when `n · work_per_row` is large enough. Uses
/// as many threads as Eigen's GEMMs (Eigen::nbThreads()). f must not throw. Each row is handled by
/// exactly one thread, so results do not depend on the thread count as long as f(r) only writes
/// row r's outputs.
template <class F>
void for_each_row(Index n, [[maybe_unused]] Index work_per_row, F&& f) {
#ifdef _OPENMP
  const int threads = Eigen::nbThreads();
  if (threads > 1 && n > 1 && n * work_per_row >= parallel_min_work) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (Index r = 0; r < n; ++r) f(r);
    return;
  }
#endif
  for (Index r = 0; r < n; ++r) f(r);
}

/// require_finite with a vectorised fast path: Σ x·0 is 0 for finite x and NaN as soon as one
/// entry is NaN or ±Inf (a packet reduction, ~20× faster than Eigen's allFinite()); only then does
/// the element-by-element scan that names the offending entry run.
template <class Derived>
void require_all_finite(const Eigen::DenseBase<Derived>& m, std::string_view where,
                        std::string_view what) {
  using S = typename Derived::Scalar;
  if (m.size() == 0) return;
  const S probe = (m.derived().array() * S(0)).sum();
  if (!(probe == S(0))) require_finite(m, where, what);
}

}  // namespace moerb::detail
