# Compiler flags for moerb's own tests, examples, benchmarks and fuzzers, collected in the INTERFACE
# target moerb_dev_flags. They are never attached to moerb::moerb, so consumers keep their own flags.
include(CheckCXXSourceCompiles)

add_library(moerb_dev_flags INTERFACE)
target_compile_options(moerb_dev_flags INTERFACE -Wall -Wextra -Wpedantic)
if(MOERB_WERROR)
  target_compile_options(moerb_dev_flags INTERFACE -Werror)
endif()

# The instruction set: Eigen's GEMMs and xsimd's kernels use whatever the translation unit is
# compiled for (see README, "Instruction sets").
if(MOERB_ARCH)
  set(_moerb_arch_flag "-march=${MOERB_ARCH}")
  target_compile_options(moerb_dev_flags INTERFACE ${_moerb_arch_flag})
else()
  set(_moerb_arch_flag "")
endif()

# GCC before 13 raises false -Wuninitialized / -Wmaybe-uninitialized warnings inside its own AVX-512
# intrinsic headers wherever Eigen's AVX-512 code is inlined (GCC bug 105593). The fix is local: the
# header below includes the intrinsics under a diagnostic pragma first, so moerb's own code keeps
# both warnings (and -Werror) on every target.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  set(CMAKE_REQUIRED_FLAGS "${_moerb_arch_flag}")
  string(MAKE_C_IDENTIFIER "MOERB_TARGET_HAS_AVX512_${MOERB_ARCH}" _moerb_avx512_var)
  check_cxx_source_compiles("
    #ifndef __AVX512F__
    #error no AVX-512
    #endif
    int main() { return 0; }" ${_moerb_avx512_var})
  unset(CMAKE_REQUIRED_FLAGS)
  if(${_moerb_avx512_var})
    target_compile_options(moerb_dev_flags INTERFACE
      "SHELL:-include ${CMAKE_CURRENT_LIST_DIR}/gcc12_avx512_intrinsics.hpp")
  endif()
endif()

if(MOERB_SANITIZE)
  target_compile_options(moerb_dev_flags INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(moerb_dev_flags INTERFACE -fsanitize=address,undefined)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC's -fsanitize=undefined leaves out float-to-integer overflow, which clang's includes (xsimd's
    # exp converting ±inf to an integer was found that way).
    target_compile_options(moerb_dev_flags INTERFACE -fsanitize=float-cast-overflow)
    target_link_options(moerb_dev_flags INTERFACE -fsanitize=float-cast-overflow)
  endif()
  # GCC's manual: sanitizers raise the rate of false -Wmaybe-uninitialized warnings, so do not let
  # them fail a sanitizer build (they still print; the non-sanitized build keeps them as errors).
  if(MOERB_WERROR AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(moerb_dev_flags INTERFACE -Wno-error=maybe-uninitialized)
  endif()
endif()
