# Prepares for find_package(xsimd). Included by moerb's CMakeLists.txt and by the installed
# moerbConfig.cmake, each of which then finds xsimd itself.
#
# Debian 12's xsimd 8.1 package config links its imported target to a bare "xtl" without finding
# it; xtl is optional for xsimd (complex-number support only). Use xtl's own package when it is
# installed (xtl-dev), otherwise define an empty imported "xtl" target so that the link line stays
# valid. The fallback is GLOBAL so that an xsimd target found in any directory of the build can
# resolve it.
if(NOT TARGET xtl)
  find_package(xtl QUIET)
endif()
if(NOT TARGET xtl)
  add_library(xtl INTERFACE IMPORTED GLOBAL)
endif()
