#pragma once
// Runs a model over numbered work items (batches, questions, prompts) on every core and hands the
// results to the caller in item order, so that an evaluation's accumulators see exactly what a
// single-threaded pass would show them.
//
// With one thread the caller's model runs every item (its layers may use the cores themselves).
// With T > 1 threads each thread owns a copy of the model (a replica, as in DataParallel) and the
// items run in rounds of `round` items; after each round the results are consumed serially in
// item order. An item's result depends only on the item and the model, never on which thread ran
// it, so a seed and a thread count give the same numbers bit for bit.
#include <algorithm>
#include <cstddef>
#include <exception>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"
#include "moerb/train/data_parallel.hpp"

namespace moerb::detail::evaluation {

/// Threads to use for `num_items` items when the caller asked for `requested` (0 = all cores).
inline int evaluation_threads(int requested, Index num_items) {
  MOERB_REQUIRE(requested >= 0, "evaluation: threads = ", requested, ", expected >= 0 (0 = all)");
  const int available = requested > 0 ? requested : available_threads();
  return static_cast<int>(std::max<Index>(1, std::min<Index>(available, num_items)));
}

/// For every item i in [0, num_items): compute(replica, i, slot) fills a Slot, then consume(i,
/// slot) runs on the calling thread, in increasing i. An exception thrown by compute is rethrown
/// (the lowest item's first) before anything of its round is consumed.
template <class Slot, class Model, class Compute, class Consume>
void ordered_parallel(Model& model, Index num_items, int threads, Compute&& compute,
                      Consume&& consume) {
  if (num_items <= 0) return;
  const int T = evaluation_threads(threads, num_items);
  if (T == 1) {
    Slot slot{};
    for (Index i = 0; i < num_items; ++i) {
      compute(model, i, slot);
      consume(i, slot);
    }
    return;
  }
  std::vector<Model> replicas(static_cast<std::size_t>(T), model);
  // A few items per thread per round keeps threads busy when item costs differ, while the slots
  // (and whatever each holds: logits, traces) stay bounded.
  const Index round = static_cast<Index>(T) * 4;
  std::vector<Slot> slots(static_cast<std::size_t>(round));
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(round));
  for (Index first = 0; first < num_items; first += round) {
    const Index count = std::min(round, num_items - first);
#ifdef _OPENMP
#pragma omp parallel for num_threads(T) schedule(static, 1)
#endif
    for (Index j = 0; j < count; ++j) {
#ifdef _OPENMP
      const auto t = static_cast<std::size_t>(omp_get_thread_num());
#else
      const std::size_t t = 0;
#endif
      const auto sj = static_cast<std::size_t>(j);
      try {
        compute(replicas[t], first + j, slots[sj]);
      } catch (...) {
        errors[sj] = std::current_exception();
      }
    }
    for (Index j = 0; j < count; ++j) {
      if (auto& e = errors[static_cast<std::size_t>(j)]) std::rethrow_exception(e);
    }
    for (Index j = 0; j < count; ++j) consume(first + j, slots[static_cast<std::size_t>(j)]);
  }
}

}  // namespace moerb::detail::evaluation
