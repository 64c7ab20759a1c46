// Force-included (-include) into moerb's own tests, examples and benchmarks when GCC < 13 compiles
// for AVX-512; see cmake/MoerbWarnings.cmake. Never part of the installed library.
//
// GCC 12's <avx512fintrin.h> makes its "undefined" vectors with `__m512d __Y = __Y;`, so every Eigen
// AVX-512 packet operation that gets inlined (GEMM packing, reductions, exp) raises a false
// -Wuninitialized / -Wmaybe-uninitialized located in that header (GCC bug 105593, fixed in GCC 13).
// GCC decides by the pragma state at the warning's location, so including the intrinsics first,
// under these pragmas, silences exactly those warnings and keeps them for every other line.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
