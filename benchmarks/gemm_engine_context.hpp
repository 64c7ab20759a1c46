#pragma once
// Puts the GEMM engine of this build (Eigen's kernels or a BLAS, and how it threads; see
// include/moerb/core/gemm_engine.hpp) into Google Benchmark's context header, so that every
// report says which engine its figures come from, and, when its kernels use narrower vectors than
// the CPU has (an OpenBLAS older than the CPU, or a build without -march=native), says that too.
#include <benchmark/benchmark.h>

#include <string>

#include "moerb/core/gemm_engine.hpp"

namespace moerb_bench {

inline const bool gemm_engine_context_added = [] {
  benchmark::AddCustomContext("gemm_engine", moerb::gemm_engine_description());
  if (const std::string warning = moerb::gemm_engine_kernel_warning(); !warning.empty()) {
    benchmark::AddCustomContext("gemm_engine_warning", warning);
  }
  return true;
}();

}  // namespace moerb_bench
