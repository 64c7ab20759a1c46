# Compiler flags for moerb's own tests, examples and benchmarks, collected in the INTERFACE target
# moerb_dev_flags. They are never attached to moerb::moerb, so consumers keep their own flags.
add_library(moerb_dev_flags INTERFACE)
target_compile_options(moerb_dev_flags INTERFACE -Wall -Wextra -Wpedantic)
if(MOERB_WERROR)
  target_compile_options(moerb_dev_flags INTERFACE -Werror)
endif()
# AVX2/FMA when the build machine has them: Eigen's GEMMs and xsimd's kernels pick them up.
if(MOERB_NATIVE)
  target_compile_options(moerb_dev_flags INTERFACE -march=native)
endif()
if(MOERB_SANITIZE)
  target_compile_options(moerb_dev_flags INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(moerb_dev_flags INTERFACE -fsanitize=address,undefined)
  # GCC's manual: sanitizers raise the rate of false -Wmaybe-uninitialized warnings, so do not let
  # them fail a sanitizer build (they still print; the non-sanitized build keeps them as errors).
  if(MOERB_WERROR AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(moerb_dev_flags INTERFACE -Wno-error=maybe-uninitialized)
  endif()
endif()
