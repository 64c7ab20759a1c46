#pragma once
// Balanced token-to-expert assignment: log-domain Sinkhorn balancing of a score matrix and a greedy
// rounding of the resulting transport plan to a hard assignment with per-expert capacity.
//
// BASE layers (Lewis et al. 2021) solve the balanced linear assignment exactly with an auction
// algorithm; the Sinkhorn relaxation (Cuturi 2013; used for routing by S-BASE, Clark et al. 2022,
// "Unified Scaling Laws for Routed Language Models") approximates it with dense row/column
// normalisations that vectorise well.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <vector>

#include "moerb/core/types.hpp"

namespace moerb::detail {

struct SinkhornStats {
  Index iterations = 0;  ///< row + column normalisations performed
  /// max_e |column mass_e / col_mass − 1| measured before the last column normalisation (the
  /// column marginal error of the plan after the last row normalisation).
  double column_error = std::numeric_limits<double>::infinity();
};

/// Log-domain Sinkhorn–Knopp on the kernel K = exp(log_kernel) (rows × cols).
///
/// Finds potentials u (rows), v (cols) such that P = diag(e^u)·K·diag(e^v) has every row sum
/// `row_mass` and every column sum `col_mass` (rows·row_mass must equal cols·col_mass). Works on
/// logs with max-shifted logsumexps, so kernels of exp(±1e3) neither overflow nor underflow. Stops
/// after `max_iterations` or once the column error is <= `tolerance`; on return the columns are
/// exact and the rows are within about `tolerance` of their mass. Accumulates in double.
template <class S>
SinkhornStats log_sinkhorn(const Matrix<S>& log_kernel, double row_mass, double col_mass,
                           Index max_iterations, double tolerance, std::vector<double>& log_u,
                           std::vector<double>& log_v, std::vector<double>& col_max,
                           std::vector<double>& col_sum) {
  const Index R = log_kernel.rows();
  const Index C = log_kernel.cols();
  const auto nr = static_cast<std::size_t>(R);
  const auto nc = static_cast<std::size_t>(C);
  log_u.assign(nr, 0.0);
  log_v.assign(nc, 0.0);
  col_max.resize(nc);
  col_sum.resize(nc);
  SinkhornStats stats;
  if (R == 0 || C == 0) {
    stats.column_error = 0;
    return stats;
  }
  const double log_row_mass = std::log(row_mass);
  const double log_col_mass = std::log(col_mass);
  for (Index it = 0; it < max_iterations; ++it) {
    // Rows: u_t = log a − logsumexp_e(K_te + v_e).
    for (Index t = 0; t < R; ++t) {
      const S* k = log_kernel.row(t).data();
      double m = -std::numeric_limits<double>::infinity();
      for (std::size_t e = 0; e < nc; ++e) m = std::max(m, static_cast<double>(k[e]) + log_v[e]);
      double s = 0;
      for (std::size_t e = 0; e < nc; ++e) s += std::exp(static_cast<double>(k[e]) + log_v[e] - m);
      log_u[static_cast<std::size_t>(t)] = log_row_mass - (m + std::log(s));
    }
    // Columns: v_e = log b − logsumexp_t(K_te + u_t), traversing rows for contiguous access.
    std::fill(col_max.begin(), col_max.end(), -std::numeric_limits<double>::infinity());
    for (Index t = 0; t < R; ++t) {
      const S* k = log_kernel.row(t).data();
      const double u = log_u[static_cast<std::size_t>(t)];
      for (std::size_t e = 0; e < nc; ++e) {
        col_max[e] = std::max(col_max[e], static_cast<double>(k[e]) + u);
      }
    }
    std::fill(col_sum.begin(), col_sum.end(), 0.0);
    for (Index t = 0; t < R; ++t) {
      const S* k = log_kernel.row(t).data();
      const double u = log_u[static_cast<std::size_t>(t)];
      for (std::size_t e = 0; e < nc; ++e) {
        col_sum[e] += std::exp(static_cast<double>(k[e]) + u - col_max[e]);
      }
    }
    double error = 0;
    for (std::size_t e = 0; e < nc; ++e) {
      const double lse = col_max[e] + std::log(col_sum[e]);
      // Column mass before this normalisation, relative to the target.
      error = std::max(error, std::abs(std::exp(log_v[e] + lse - log_col_mass) - 1.0));
      log_v[e] = log_col_mass - lse;
    }
    stats.iterations = it + 1;
    stats.column_error = error;
    if (error <= tolerance) break;
  }
  return stats;
}

/// Rounds the plan P_te = exp(log_kernel_te + u_t + v_e) to a hard assignment: visits all
/// (token, expert) pairs by descending P (ties: lower token, then lower expert) and gives token t
/// to expert e when t is still unassigned and e holds fewer than `capacity` tokens. If
/// capacity · experts >= tokens, every token is assigned (an unassigned token would mean that all
/// experts were full). `expert_of_token` receives the expert of each token (-1 if none) and `load`
/// the tokens per expert.
template <class S>
void greedy_capacity_rounding(const Matrix<S>& log_kernel, const std::vector<double>& log_u,
                              const std::vector<double>& log_v, Index capacity,
                              std::vector<Index>& expert_of_token, std::vector<Index>& load,
                              std::vector<double>& key, std::vector<Index>& order) {
  const Index R = log_kernel.rows();
  const Index C = log_kernel.cols();
  const auto n = static_cast<std::size_t>(R * C);
  key.resize(n);
  order.resize(n);
  for (Index t = 0; t < R; ++t) {
    for (Index e = 0; e < C; ++e) {
      key[static_cast<std::size_t>(t * C + e)] = static_cast<double>(log_kernel(t, e)) +
                                                 log_u[static_cast<std::size_t>(t)] +
                                                 log_v[static_cast<std::size_t>(e)];
    }
  }
  std::iota(order.begin(), order.end(), Index{0});
  std::sort(order.begin(), order.end(), [&key](Index a, Index b) {
    const double ka = key[static_cast<std::size_t>(a)];
    const double kb = key[static_cast<std::size_t>(b)];
    return ka > kb || (ka == kb && a < b);  // pair index t·C + e: lower token, then lower expert
  });
  expert_of_token.assign(static_cast<std::size_t>(R), -1);
  load.assign(static_cast<std::size_t>(C), 0);
  Index assigned = 0;
  for (std::size_t i = 0; i < n && assigned < R; ++i) {
    const Index t = order[i] / C;
    const Index e = order[i] % C;
    Index& owner = expert_of_token[static_cast<std::size_t>(t)];
    Index& l = load[static_cast<std::size_t>(e)];
    if (owner >= 0 || l >= capacity) continue;
    owner = e;
    ++l;
    ++assigned;
  }
}

}  // namespace moerb::detail
