#pragma once
// Puts the GEMM engine of this build (Eigen's kernels or a BLAS, and how it threads; see
// include/moerb/core/gemm_engine.hpp) into Google Benchmark's context header, so that every
// report says which engine its figures come from.
#include <benchmark/benchmark.h>

#include "moerb/core/gemm_engine.hpp"

namespace moerb_bench {

inline const bool gemm_engine_context_added = [] {
  benchmark::AddCustomContext("gemm_engine", moerb::gemm_engine_description());
  return true;
}();

}  // namespace moerb_bench
