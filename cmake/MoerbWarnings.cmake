# Warnings and sanitizers for moerb's own tests, examples and benchmarks (never pushed onto consumers).
add_library(moerb_dev_flags INTERFACE)
target_compile_options(moerb_dev_flags INTERFACE -Wall -Wextra -Wpedantic)
if(MOERB_WERROR)
  target_compile_options(moerb_dev_flags INTERFACE -Werror)
endif()
# AVX2/FMA when the build machine has them: Eigen's GEMM and xsimd's kernels pick them up.
option(MOERB_NATIVE "Compile project targets with -march=native" ON)
if(MOERB_NATIVE)
  target_compile_options(moerb_dev_flags INTERFACE -march=native)
endif()
if(MOERB_SANITIZE)
  target_compile_options(moerb_dev_flags INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(moerb_dev_flags INTERFACE -fsanitize=address,undefined)
endif()
