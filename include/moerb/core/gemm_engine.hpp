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
// Kernels: an engine is only as fast as the vectors its kernels use. OpenBLAS picks its kernels at
// load time from the CPU's model number, and a release older than the CPU falls back to its most
// generic ones (OpenBLAS 0.3.21 runs its SSE3 "Prescott" kernels on a 2023 Xeon with AVX-512, five
// times slower than Eigen's; benchmarks/RESULTS.md); Eigen's kernels use the vectors the
// translation unit was compiled for (-march). `gemm_engine_kernel_warning()` says when either is
// narrower than the CPU's widest vectors.
//
// Both engines are deterministic for a fixed thread count; they round differently, so results
// agree to float tolerance across engines, not bit for bit.
#include <Eigen/Core>
#include <cctype>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>

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

/// x86 vector extensions as a GEMM kernel sees them, narrowest first (`unknown`: not x86, or a
/// kernel set moerb does not know).
enum class VectorIsa { unknown, sse, avx, avx2, avx512 };

[[nodiscard]] constexpr const char* vector_isa_name(VectorIsa isa) {
  switch (isa) {
    case VectorIsa::sse:
      return "SSE";
    case VectorIsa::avx:
      return "AVX";
    case VectorIsa::avx2:
      return "AVX2";
    case VectorIsa::avx512:
      return "AVX-512";
    default:
      return "unknown";
  }
}

namespace detail {

/// The vectors of an OpenBLAS x86-64 core type's SGEMM kernels, from the name
/// `openblas_get_corename()` returns ("Prescott" in a DYNAMIC_ARCH build, "PRESCOTT" in a build for
/// one target); `unknown` for other architectures' cores and names moerb does not know.
[[nodiscard]] inline VectorIsa openblas_core_isa(std::string_view core) {
  std::string name;
  for (const char c : core) name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto any_of = [&](std::initializer_list<std::string_view> names) {
    for (const auto n : names) {
      if (name == n) return true;
    }
    return false;
  };
  if (any_of({"skylakex", "cooperlake", "sapphirerapids"})) return VectorIsa::avx512;
  if (any_of({"haswell", "zen"})) return VectorIsa::avx2;
  if (any_of({"sandybridge", "bulldozer", "piledriver", "steamroller", "excavator"})) {
    return VectorIsa::avx;
  }
  if (any_of({"katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2", "penryn",
              "dunnington", "nehalem", "athlon", "opteron", "opteron_sse3", "barcelona", "nano",
              "bobcat"})) {
    return VectorIsa::sse;
  }
  return VectorIsa::unknown;
}

/// The warning `gemm_engine_kernel_warning()` gives for kernels on `kernels` vectors running on a
/// CPU with `cpu` vectors: empty when they match or either is unknown. `openblas_core` is
/// OpenBLAS's core name (empty for Eigen's kernels); `forced_core` is OPENBLAS_CORETYPE (null when
/// unset).
[[nodiscard]] inline std::string kernel_warning(VectorIsa kernels, VectorIsa cpu,
                                                std::string_view openblas_core,
                                                const char* forced_core) {
  if (kernels == VectorIsa::unknown || cpu == VectorIsa::unknown || kernels >= cpu) return {};
  std::string text;
  if (openblas_core.empty()) {
    text.append("Eigen's kernels use ").append(vector_isa_name(kernels));
    text.append(" vectors (the -march this code was compiled for) on a CPU with ");
    text.append(vector_isa_name(cpu)).append(": compile with -march=native for its wider kernels");
    return text;
  }
  text.append("OpenBLAS runs its ").append(openblas_core).append(" kernels (");
  text.append(vector_isa_name(kernels)).append(") on a CPU with ").append(vector_isa_name(cpu));
  if (forced_core != nullptr) {
    text.append(": OPENBLAS_CORETYPE=")
        .append(forced_core)
        .append(" in the environment forces them");
  } else {
    text.append(
        ": this OpenBLAS does not know the CPU; set OPENBLAS_CORETYPE to a core type it knows");
    text.append(" with the CPU's vectors (");
    text.append(cpu == VectorIsa::avx512 ? "SkylakeX or Cooperlake" : "Haswell");
    text.append(") before the program starts, or use a newer OpenBLAS");
  }
  return text;
}

}  // namespace detail

/// The widest vectors this CPU runs, read at run time (AVX2 counts only with FMA, as GEMM kernels
/// need both); `unknown` off x86 or with a compiler without `__builtin_cpu_supports`.
[[nodiscard]] inline VectorIsa cpu_vector_isa() {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  if (__builtin_cpu_supports("avx512f")) return VectorIsa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return VectorIsa::avx2;
  if (__builtin_cpu_supports("avx")) return VectorIsa::avx;
  if (__builtin_cpu_supports("sse2")) return VectorIsa::sse;
#endif
  return VectorIsa::unknown;
}

/// The vectors the engine's products run on: OpenBLAS's chosen core type, or for Eigen's kernels
/// the vectors this translation unit was compiled for.
[[nodiscard]] inline VectorIsa gemm_kernel_isa() {
#ifdef EIGEN_USE_BLAS
  if (openblas_get_corename == nullptr) return VectorIsa::unknown;
  return detail::openblas_core_isa(openblas_get_corename());
#elif defined(EIGEN_VECTORIZE_AVX512)
  return VectorIsa::avx512;
#elif defined(EIGEN_VECTORIZE_AVX2) && defined(EIGEN_VECTORIZE_FMA)
  return VectorIsa::avx2;
#elif defined(EIGEN_VECTORIZE_AVX)
  return VectorIsa::avx;
#elif defined(EIGEN_VECTORIZE_SSE2)
  return VectorIsa::sse;
#else
  return VectorIsa::unknown;
#endif
}

/// Empty when the engine's kernels use this CPU's widest vectors (or either is unknown); otherwise
/// one sentence saying which kernels run, on which CPU, and how to get the wider ones. Programs
/// that report speed print it (the benchmarks do, in their context).
[[nodiscard]] inline std::string gemm_engine_kernel_warning() {
#ifdef EIGEN_USE_BLAS
  const std::string_view core =
      openblas_get_corename != nullptr ? std::string_view(openblas_get_corename()) : "";
  return detail::kernel_warning(gemm_kernel_isa(), cpu_vector_isa(), core,
                                std::getenv("OPENBLAS_CORETYPE"));
#else
  return detail::kernel_warning(gemm_kernel_isa(), cpu_vector_isa(), "", nullptr);
#endif
}

}  // namespace moerb
