#pragma once
// Which engine computes moerb's matrix products, and how it threads.
//
// Engines:
// - Eigen (the default; header-only, nothing to link): Eigen's own GEMM kernels.
// - BLAS: the CMake target `moerb::blas` (`find_package(moerb COMPONENTS blas)`) defines
//   EIGEN_USE_BLAS and links the system BLAS, OpenBLAS unless the consumer sets BLA_VENDOR. Eigen
//   then sends its float and double products (GEMM, GEMV, triangular) to the BLAS routines
//   (`sgemm_`, `dgemm_`, ...); moerb's code is the same for both engines. In benchmarks/RESULTS.md
//   (AVX-512 machine), OpenBLAS's kernels ran the MoE layer about 1.2× (forward) and 1.3×
//   (forward + backward) faster than Eigen 3.4's.
//
// Threads: moerb runs the experts of an MoE layer concurrently, one OpenMP thread each
// (layers/detail/dispatch.hpp), and expects each product inside that loop to run on its calling
// thread. Eigen's kernels do (they see the enclosing parallel region). OpenBLAS's OpenMP build does
// too, and uses all of OpenMP's threads outside a parallel region (the dense layer, attention). Its
// pthread build would start its own pool under every expert and oversubscribe the cores:
// `gemm_engine_threading()` says which build is linked, and the engine's test requires OpenMP.
//
// Both engines are deterministic for a fixed thread count; they round differently, so results
// agree to float tolerance across engines, not bit for bit.
#include <Eigen/Core>
#include <string>

#ifdef EIGEN_USE_BLAS
// OpenBLAS's own entry points, weak so that another BLAS links too (they are then null).
extern "C" int openblas_get_parallel(void) __attribute__((weak));
extern "C" char* openblas_get_config(void) __attribute__((weak));
extern "C" char* openblas_get_corename(void) __attribute__((weak));
#endif

namespace moerb {

/// "Eigen" or "BLAS": the engine this translation unit was compiled with.
[[nodiscard]] constexpr const char* gemm_engine_name() {
#ifdef EIGEN_USE_BLAS
  return "BLAS";
#else
  return "Eigen";
#endif
}

/// How the linked engine threads a product: "OpenMP" (Eigen built with OpenMP, or OpenBLAS's
/// OpenMP build), "pthreads" or "sequential" (other OpenBLAS builds, or Eigen without OpenMP), or
/// "unknown" (a BLAS other than OpenBLAS).
[[nodiscard]] inline std::string gemm_engine_threading() {
#ifdef EIGEN_USE_BLAS
  if (openblas_get_parallel == nullptr) return "unknown";
  switch (openblas_get_parallel()) {
    case 0:
      return "sequential";
    case 1:
      return "pthreads";
    case 2:
      return "OpenMP";
    default:
      return "unknown";
  }
#elif defined(_OPENMP)
  return "OpenMP";
#else
  return "sequential";
#endif
}

/// One line for benchmark reports: the engine, and for OpenBLAS its configuration and the core
/// type its kernels were chosen for (e.g. "BLAS: OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY
/// Cooperlake MAX_THREADS=64, kernels Cooperlake, threads OpenMP").
[[nodiscard]] inline std::string gemm_engine_description() {
  // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on chains of
  // std::string operator+ at -O3.
  std::string text = gemm_engine_name();
#ifdef EIGEN_USE_BLAS
  if (openblas_get_config != nullptr) {
    text.append(": ").append(openblas_get_config());
    if (openblas_get_corename != nullptr) text.append(", kernels ").append(openblas_get_corename());
  } else {
    text.append(": not OpenBLAS");
  }
#else
  text.append(" ").append(std::to_string(EIGEN_WORLD_VERSION)).append(".");
  text.append(std::to_string(EIGEN_MAJOR_VERSION)).append(".");
  text.append(std::to_string(EIGEN_MINOR_VERSION)).append(" kernels");
#endif
  text.append(", threads ").append(gemm_engine_threading());
  return text;
}

}  // namespace moerb
