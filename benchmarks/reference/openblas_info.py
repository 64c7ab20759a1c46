"""Which BLAS a PyTorch reference runs on, for the first line of its report.

Finds the OpenBLAS library mapped into this process (Debian's torch links libblas.so.3, which the
alternatives system points at OpenBLAS's pthread, OpenMP or serial build) and asks it for its
configuration and the core type whose kernels it chose. OPENBLAS_CORETYPE in the environment forces
that core type (some of this project's machines set it, and OPENBLAS_L2_SIZE): a fair reference runs
with both unset in its own command, as benchmarks/RESULTS.md shows.
"""
import ctypes
import os


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
                + (f", environment forces {forced}" if forced else ", nothing forced by the environment"))
    return "no OpenBLAS mapped: " + (", ".join(sorted(paths)) or "no BLAS library found")
