# Finds xsimd. Debian 12's xsimd 8.1 package config links its target to a bare "xtl" without finding
# it; xtl is optional for xsimd (complex-number support only). Use xtl's package when installed
# (xtl-dev), else give the name an empty target so that the link line stays valid.
include(CMakeFindDependencyMacro)
if(NOT TARGET xtl)
  find_package(xtl QUIET)
endif()
if(NOT TARGET xtl)
  add_library(xtl INTERFACE IMPORTED)
endif()
if(CMAKE_FIND_PACKAGE_NAME)
  find_dependency(xsimd)  # inside moerbConfig.cmake
else()
  find_package(xsimd REQUIRED)
endif()
