"""Which BLAS a PyTorch reference runs on, for the first line of its report.

Finds the OpenBLAS library mapped into this process (Debian's torch links libblas.so.3, which the
alternatives system points at OpenBLAS's pthread, OpenMP or serial build) and asks it for its
configuration and the core type whose kernels it chose. OPENBLAS_CORETYPE in the environment forces
that core type (some of this project's machines set it, and OPENBLAS_L2_SIZE): a fair reference runs
with both unset in its own command, as benchmarks/RESULTS.md shows.
"""
import ctypes
import os


# OpenBLAS x86-64 core types by the vectors of their SGEMM kernels (include/moerb/core/gemm_engine.hpp
# keeps the same table for moerb's BLAS engine).
_CORE_VECTORS = {
    **dict.fromkeys(("skylakex", "cooperlake", "sapphirerapids"), 4),
    **dict.fromkeys(("haswell", "zen"), 3),
    **dict.fromkeys(("sandybridge", "bulldozer", "piledriver", "steamroller", "excavator"), 2),
    **dict.fromkeys(("katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2",
                     "penryn", "dunnington", "nehalem", "athlon", "opteron", "opteron_sse3",
                     "barcelona", "nano", "bobcat"), 1),
}
_VECTOR_NAMES = {1: "SSE", 2: "AVX", 3: "AVX2", 4: "AVX-512"}


def cpu_vectors():
    """The widest vectors this CPU runs (1 SSE .. 4 AVX-512), from /proc/cpuinfo; 0 if unknown."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    if "avx512f" in flags:
                        return 4
                    if "avx2" in flags and "fma" in flags:
                        return 3
                    return 2 if "avx" in flags else 1
    except OSError:
        pass
    return 0


def kernel_note(core):
    """A warning when OpenBLAS's kernels use narrower vectors than the CPU has, else ''."""
    kernels, cpu = _CORE_VECTORS.get(core.lower(), 0), cpu_vectors()
    if kernels == 0 or cpu == 0 or kernels >= cpu:
        return ""
    return (f"; WARNING: {core} kernels use {_VECTOR_NAMES[kernels]} on a CPU with {_VECTOR_NAMES[cpu]}"
            " (an OpenBLAS older than the CPU, or OPENBLAS_CORETYPE): a reference at its best sets"
            " OPENBLAS_CORETYPE to a core type with the CPU's vectors")


def openblas_info():
    """One line: OpenBLAS's configuration, kernels and threading, or why it is unknown."""
    paths = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "blas" in os.path.basename(path) and ".so" in path:
                paths.add(path)
    for path in sorted(paths):
        lib = ctypes.CDLL(path)
        if not hasattr(lib, "openblas_get_corename"):
            continue
        for name in ("openblas_get_corename", "openblas_get_config"):
            getattr(lib, name).restype = ctypes.c_char_p
        parallel = {0: "sequential", 1: "pthreads", 2: "OpenMP"}.get(lib.openblas_get_parallel(), "?")
        forced = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
        return (f"{lib.openblas_get_config().decode()} ({os.path.realpath(path)}), "
                f"kernels {lib.openblas_get_corename().decode()}, threads {parallel}, "
                f"num_threads {lib.openblas_get_num_threads()}"
                + (f", environment forces {forced}" if forced else ", nothing forced by the environment")
                + kernel_note(lib.openblas_get_corename().decode()))
    return "no OpenBLAS mapped: " + (", ".join(sorted(paths)) or "no BLAS library found")
