#pragma once
// Keeps a small forward pass on its calling thread.
//
// A forward of a handful of tokens (one sequence being scored by an attack, one token being
// generated) is made of products of a few rows each. On several threads every one of them pays
// for a parallel region, its barrier and Eigen's per-thread packing, and the pass got slower, not
// faster: on the 2-core AVX-512 machine a 14-token forward of a d_model-128, 2-block MoE
// classifier took 257-293 µs on two threads and 198-247 µs on one (a timing loop and bench_attack's
// BM_VictimForward, interleaved runs); at 28 tokens the two were about equal, and from 56 tokens
// on two threads won. Generating with a key-value cache (one token per forward) ran 10-20 % more
// tokens per second with the forward on one thread (bench_generation, RESULTS.md).
//
// OpenMP keeps the thread count of the next parallel region per thread (the nthreads-var ICV),
// and Eigen::nbThreads() reads it unless the program called Eigen::setNbThreads; moerb's own
// parallel loops use Eigen::nbThreads(). So setting it to 1 on the calling thread for the length
// of the pass keeps the whole pass there without touching any other thread. (After an explicit
// Eigen::setNbThreads(n) the scope has no effect on Eigen's products.)
#include <Eigen/Core>

#include "moerb/core/types.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace moerb::detail {

/// A forward pass with fewer than this many token · d_model² products stays on its calling thread
/// (2^18: 16 tokens at d_model 128, none at d_model 512 or wider), below the crossover above.
inline constexpr double serial_forward_max_work = 262144.0;

/// True when a pass over `tokens` tokens of width `d_model` is small enough to stay on one thread.
[[nodiscard]] inline bool small_forward(Index tokens, Index d_model) {
  return static_cast<double>(tokens) * static_cast<double>(d_model) * static_cast<double>(d_model) <
         serial_forward_max_work;
}

/// While alive and `active`, parallel regions started from this thread (moerb's loops, Eigen's
/// products) run on it alone; the thread's previous setting comes back at the end of the scope.
class SerialScope {
 public:
  explicit SerialScope([[maybe_unused]] bool active) {
#ifdef _OPENMP
    if (active && omp_get_max_threads() > 1) {
      saved_ = omp_get_max_threads();
      omp_set_num_threads(1);
    }
#endif
  }
  ~SerialScope() {
#ifdef _OPENMP
    if (saved_ > 0) omp_set_num_threads(saved_);
#endif
  }
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;

#ifdef _OPENMP
 private:
  int saved_ = 0;  ///< the thread count to restore; 0: the scope changed nothing
#endif
};

}  // namespace moerb::detail
