# Finds the BLAS behind moerb::blas, the optional GEMM engine: with EIGEN_USE_BLAS, Eigen sends its
# float and double products (GEMM, GEMV, triangular) to the system BLAS instead of its own kernels.
# Included by moerb's CMakeLists.txt and by the installed moerbConfig.cmake (component "blas").
#
# The vendor is OpenBLAS unless the caller sets BLA_VENDOR (FindBLAS's variable). Use OpenBLAS's
# OpenMP build (Debian: libopenblas-openmp-dev): inside an OpenMP parallel region, where moerb runs
# experts concurrently, it computes each product on the calling thread, and outside one (the dense
# layer) on all of OpenMP's threads. Its pthread build would start its own pool under every expert.
# Sets moerb_blas_found and defines the imported target BLAS::BLAS when found.
macro(moerb_find_blas)
  if(DEFINED BLA_VENDOR)
    find_package(BLAS QUIET)
  else()
    set(BLA_VENDOR OpenBLAS)  # for this call only: the caller's scope is left as it was
    find_package(BLAS QUIET)
    unset(BLA_VENDOR)
  endif()
  set(moerb_blas_found ${BLAS_FOUND})
endmacro()
