#pragma once
// Bookkeeping for the MoE layer's dispatch and combine: the token-major view of a Routing and the
// nominal number of experts a router gives each token.
#include <algorithm>
#include <cstddef>
#include <exception>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "moerb/core/error.hpp"
#include "moerb/routing/routing.hpp"

namespace moerb::detail {

/// The kept assignments of a Routing listed per token: token t's assignments are
/// `assignments[offsets[t] .. offsets[t+1])`, in ascending assignment order, i.e. by expert (the
/// Routing is grouped by expert). Combine and scatter-add sum in this fixed order, so every token's
/// sum is the same whatever the number of threads.
class TokenIndex {
 public:
  /// Builds the index by a counting sort, checking that `r` is well formed for `num_tokens` tokens
  /// and `num_experts` experts (a router bug must not become an out-of-bounds write).
  template <class S>
  void build(const Routing<S>& r, Index num_tokens, Index num_experts, std::string_view where) {
    const auto E = static_cast<std::size_t>(num_experts);
    MOERB_REQUIRE(r.num_tokens == num_tokens && r.num_experts == num_experts, where,
            ": the router returned a routing for ", r.num_tokens, " tokens and ", r.num_experts,
            " experts, expected ", num_tokens, " and ", num_experts);
    MOERB_REQUIRE(r.offsets.size() == E + 1 && r.offsets.front() == 0, where, ": routing.offsets has ",
            r.offsets.size(), " entries, expected ", E + 1, " starting at 0");
    const auto A = r.token.size();
    MOERB_REQUIRE(r.weight.size() == A && static_cast<std::size_t>(r.offsets.back()) == A, where,
            ": routing has ", A, " tokens, ", r.weight.size(),
            " weights and offsets[E] = ", r.offsets.back(), ", expected all equal");
    for (std::size_t e = 0; e < E; ++e) {
      MOERB_REQUIRE(r.offsets[e] <= r.offsets[e + 1], where, ": routing.offsets decreases at expert ", e);
    }
    offsets_.assign(static_cast<std::size_t>(num_tokens) + 1, 0);
    for (std::size_t a = 0; a < A; ++a) {
      const Index t = r.token[a];
      MOERB_REQUIRE(t >= 0 && t < num_tokens, where, ": routing.token[", a, "] = ", t,
              ", expected in [0, ", num_tokens, ")");
      ++offsets_[static_cast<std::size_t>(t) + 1];
    }
    for (std::size_t t = 0; t < static_cast<std::size_t>(num_tokens); ++t) {
      offsets_[t + 1] += offsets_[t];
    }
    cursor_.assign(offsets_.begin(), offsets_.end() - 1);
    assignments_.resize(A);
    for (std::size_t a = 0; a < A; ++a) {
      const auto t = static_cast<std::size_t>(r.token[a]);
      assignments_[static_cast<std::size_t>(cursor_[t]++)] = static_cast<Index>(a);
    }
  }

  [[nodiscard]] Index begin(Index t) const { return offsets_[static_cast<std::size_t>(t)]; }
  [[nodiscard]] Index end(Index t) const { return offsets_[static_cast<std::size_t>(t) + 1]; }
  [[nodiscard]] Index assignment(Index i) const {
    return assignments_[static_cast<std::size_t>(i)];
  }
  [[nodiscard]] Index num_assignments() const { return static_cast<Index>(assignments_.size()); }

 private:
  std::vector<Index> offsets_, cursor_, assignments_;
};

/// Runs `f(e)` for every expert e in [0, E); `rows(e)` is the number of tokens expert e handles.
///
/// With several OpenMP threads and at least as many experts as threads, experts run concurrently,
/// each with a single-threaded GEMM on its own contiguous block. On 2 cores this is about twice as
/// fast as running experts one after another with a multi-threaded GEMM, whose per-product thread
/// barriers dominate at these sizes. They are handed out most loaded first (dynamic schedule, the
/// longest-processing-time rule of Graham, "Bounds on Multiprocessing Timing Anomalies", 1969), so
/// that the last expert to start is a short one and no thread waits long for the others; `order`
/// is the caller's scratch buffer for that order (reused: no allocation in steady state). With
/// fewer experts than threads they run one after another and the GEMM engine parallelises inside
/// each product. Each expert owns its workspaces and gradients and sums in a fixed order, so
/// results do not depend on which thread ran which expert. An exception thrown by f is rethrown
/// after the loop.
template <class Rows, class F>
void for_each_expert(Index E, Rows&& rows, std::vector<Index>& order, F&& f) {
#ifdef _OPENMP
  const int threads = Eigen::nbThreads();
  if (threads > 1 && E >= threads) {
    order.resize(static_cast<std::size_t>(E));
    for (Index e = 0; e < E; ++e) order[static_cast<std::size_t>(e)] = e;
    std::sort(order.begin(), order.end(), [&](Index a, Index b) {
      const Index ra = rows(a), rb = rows(b);
      return ra != rb ? ra > rb : a < b;
    });
    std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (Index i = 0; i < E; ++i) {
      try {
        f(order[static_cast<std::size_t>(i)]);
      } catch (...) {
#pragma omp critical(moerb_for_each_expert)
        if (!failure) failure = std::current_exception();
      }
    }
    if (failure) std::rethrow_exception(failure);
    return;
  }
#endif
  static_cast<void>(rows);
  static_cast<void>(order);
  for (Index e = 0; e < E; ++e) f(e);
}

/// Routed experts per token that a router is configured for: `k()` for token-choice routers, the
/// capacity factor (the mean number of experts per token) for expert choice, and 1 for routers
/// with neither (hash and BASE routing send every token to one expert).
template <class R>
double nominal_experts_per_token(const R& router) {
  if constexpr (requires { router.k(); }) {
    return static_cast<double>(router.k());
  } else if constexpr (requires { router.options().capacity_factor; }) {
    return static_cast<double>(router.options().capacity_factor);
  } else {
    return 1.0;
  }
}

}  // namespace moerb::detail
