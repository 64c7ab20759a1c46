#!/usr/bin/env bash
# Builds moerb and runs its tests. With no argument: the release build with GCC and the whole CTest
# suite. Arguments choose other builds (several may be given; each is its own timed stage):
#
#   --release          GCC, Release (preset 'release', build/release): all tests      [default]
#   --sanitize         GCC, ASan + UBSan (preset 'sanitize'); MOERB_SANITIZE=1 does the same
#   --clang            Clang, Release (preset 'clang')
#   --clang-sanitize   Clang, ASan + UBSan (preset 'clang-sanitize')
#   --arch             Instruction sets: examples, benchmarks and kernel tests compiled for
#                      x86-64-v2 (SSE4.2), x86-64-v3 (AVX2+FMA) and x86-64-v4 (AVX-512); the kernel
#                      tests and moe_demo run for every level this CPU supports
#   --fuzz             A short run of every fuzz harness (scripts/fuzz.sh)
#   --ci               What CI runs, warnings as errors: the release and clang-sanitize suites (both
#                      trees built at once, examples and benchmarks left to --arch), --arch, --fuzz
#   --all              Every build above
#
# Tests run in random order, in parallel. Environment: MOERB_JOBS (default: nproc), MOERB_BUILD_ROOT
# (default: <repo>/build), MOERB_SKIP_PACKAGES=1 (do not check Debian packages), MOERB_WERROR=ON
# (warnings are errors), MOERB_CCACHE=0 (no compiler cache; else ccache in ~/.cache/moerb-ccache),
# MOERB_ARCH=<-march value> (build for that target instead of the machine's: x86-64-v3 checks what
# an AVX2-only machine builds, on any CPU that runs AVX2). Extra arguments after -- go to ctest.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

stages=()
ctest_args=()
ci=0
while (($#)); do
  case "$1" in
    --release) stages+=(release) ;;
    --sanitize) stages+=(sanitize) ;;
    --clang) stages+=(clang) ;;
    --clang-sanitize) stages+=(clang-sanitize) ;;
    --arch) stages+=(arch) ;;
    --fuzz) stages+=(fuzz) ;;
    --ci) stages+=(ci-builds arch fuzz); export MOERB_WERROR="${MOERB_WERROR:-ON}"; ci=1 ;;
    --all) stages+=(release sanitize clang clang-sanitize arch fuzz) ;;
    -h | --help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; ctest_args=("$@"); break ;;
    *) moerb_die "unknown argument '$1' (try --help)" ;;
  esac
  shift
done
if ((${#stages[@]} == 0)); then
  if [[ "${MOERB_SANITIZE:-0}" == 1 ]]; then stages=(sanitize); else stages=(release); fi
fi

moerb_stage packages
moerb_ensure_packages
moerb_use_ccache
[[ "${MOERB_CCACHE:-1}" == 1 ]] && command -v ccache >/dev/null 2>&1 && ccache --zero-stats >/dev/null

sanitizer_env() {
  # Same settings as the sanitizer test presets: any report fails the test.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
}

run_ctest() {
  moerb_run ctest --test-dir "$1" --output-on-failure --schedule-random -j "${MOERB_JOBS}" \
    "${ctest_args[@]}"
}

test_tree() {
  local preset="$1" dir="$2"
  moerb_stage "${preset}: test"
  case "${preset}" in *sanitize) (sanitizer_env; run_ctest "${dir}") ;; *) run_ctest "${dir}" ;; esac
}

# One preset: configure, build everything, run the suite.
build_and_test() {
  local preset="$1"
  moerb_stage "${preset}: build"
  # Examples and benchmarks on again after a CI run (which builds them in the --arch stage only);
  # the presets that leave one out keep it out.
  case "${preset}" in
    release | clang) moerb_configure "${preset}" "${preset}" -DMOERB_BUILD_EXAMPLES=ON -DMOERB_BUILD_BENCHMARKS=ON ;;
    *) moerb_configure "${preset}" "${preset}" -DMOERB_BUILD_EXAMPLES=ON ;;
  esac
  moerb_run cmake --build "${MOERB_BUILD_DIR}" --parallel "${MOERB_JOBS}"
  test_tree "${preset}" "${MOERB_BUILD_DIR}"
}

# CI: the GCC release tree (on the BLAS engine) and the clang ASan + UBSan tree (on Eigen's), built at the same time so that neither
# build's last long translation unit leaves a core idle, then tested one after the other. Neither
# builds the examples or benchmarks: the instruction-set stage compiles them with both compilers
# (x86-64-v4 with GCC, x86-64-v2 with clang).
ci_builds() {
  local release_dir sanitize_dir
  moerb_stage "release + clang-sanitize: build"
  # The GCC test tree at -Og: 8-26 % less compile time than -O1 on the three heaviest areas
  # (compiled side by side; template instantiation, which -O levels do not change, is about half of
  # an area's time), and its tests still run in about a minute. GCC's warnings that need the full
  # optimiser are the x86-64-v4 stage's job (examples and benchmarks at -O1, where -Og misses a
  # third of GCC 12's AVX-512 false positives); the x86-64-v3 stage tests GCC's -O3 code of the
  # kernels. `scripts/test.sh` alone builds the tests at -O3.
  # Its own build folder, so that these flags never stay in the cache of build/release.
  # Its suites run on the BLAS engine (moerb::blas, OpenBLAS), the clang tree's on Eigen's kernels:
  # the whole suite passes on both engines (include/moerb/core/gemm_engine.hpp).
  moerb_configure release ci-release -DMOERB_BUILD_EXAMPLES=OFF -DMOERB_BUILD_BENCHMARKS=OFF \
    "-DCMAKE_CXX_FLAGS_RELEASE=-Og -DNDEBUG" -DMOERB_BLAS=ON -DMOERB_TEST_GEMM_ENGINE=blas
  release_dir="${MOERB_BUILD_DIR}"
  # Without -g1 (the preset's): about an eighth less compile time; reports still name functions,
  # and `scripts/test.sh --clang-sanitize` rebuilds with line numbers to chase a finding. The areas
  # whose tests are light compile at -O0 (tests/CMakeLists.txt, MOERB_TEST_UNOPTIMIZED_AREAS): under
  # the sanitizers -O0 compiles in about a third of the time, and their tests stay short.
  # The packaging test runs in full in the GCC tree and quick here (the preset's choice). In full
  # under clang it compiled in about two thirds of GCC's time, but the cold run as a whole gained
  # nothing measurable, and clang's precompiled header is passed through -Xclang paths that ccache
  # does not make relative, so a second clone recompiled all of it (warm suite 3:50 against 2:00).
  moerb_configure clang-sanitize clang-sanitize -DMOERB_BUILD_EXAMPLES=OFF \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 \
    "-DMOERB_TEST_UNOPTIMIZED_AREAS=attacks;core;evaluation;experts;io;layers;metrics;models;nn;routing;text;train"
  sanitize_dir="${MOERB_BUILD_DIR}"
  local pid_release pid_sanitize status=0
  cmake --build "${release_dir}" --parallel "${MOERB_JOBS}" > >(sed -u 's/^/[release] /') 2>&1 &
  pid_release=$!
  cmake --build "${sanitize_dir}" --parallel "${MOERB_JOBS}" > >(sed -u 's/^/[clang-sanitize] /') 2>&1 &
  pid_sanitize=$!
  wait "${pid_release}" || status=$?
  wait "${pid_sanitize}" || status=$?
  ((status == 0)) || moerb_die "a build failed (see the [release] / [clang-sanitize] lines above)"
  test_tree release "${release_dir}"
  test_tree clang-sanitize "${sanitize_dir}"
}

# Whether this CPU runs code built for the x86-64 micro-architecture level $1 (x86-64-v2/v3/v4).
cpu_supports() {
  local level="$1" loader
  for loader in /lib64/ld-linux-x86-64.so.2 /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2; do
    if [[ -x "${loader}" ]] && "${loader}" --help 2>/dev/null | grep -q "${level} (supported"; then
      return 0
    fi
  done
  # Older loaders do not list the levels: check the CPU flags that define them.
  local flags need
  flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
  case "${level}" in
    x86-64-v2) need="sse4_2 ssse3 popcnt cx16" ;;
    x86-64-v3) need="sse4_2 avx avx2 fma bmi1 bmi2 movbe" ;;
    x86-64-v4) need="avx2 fma avx512f avx512bw avx512cd avx512dq avx512vl" ;;
    *) return 1 ;;
  esac
  for f in ${need}; do [[ "${flags}" == *" ${f} "* ]] || return 1; done
}

# Every instruction-set level, each with the compiler that the other stages leave uncovered:
# x86-64-v2 (no AVX2/FMA) with clang and x86-64-v4 (AVX-512, where GCC 12's intrinsics headers
# misbehave) with GCC compile the examples, the benchmarks and the kernel tests; x86-64-v3 the kernel
# tests and moe_demo. The kernel tests and moe_demo run for every level this CPU supports. GCC builds
# the x86-64-v4 examples and benchmarks at -O1, which compiles in about 60 % of the time of -O3: GCC
# 12's AVX-512 false positives appear at -O1 as at -O3 (139 warnings in moe_demo.cpp at either level
# without cmake/gcc12_avx512_intrinsics.hpp) but need the optimiser. Clang builds x86-64-v2 at -O0:
# its warnings come from its front end, and a target-feature error (an intrinsic this level lacks)
# from code generation, which -O0 runs too. The x86-64-v3 build keeps -O3, so that GCC's -O3 code for
# the kernels is tested on every machine.
arch_matrix() {
  local entry level compiler targets optimization
  for entry in x86-64-v2:clang++:all:-O0 x86-64-v3:g++:kernels:-O3 x86-64-v4:g++:all:-O1; do
    IFS=: read -r level compiler targets optimization <<<"${entry}"
    moerb_stage "arch ${level} (${compiler} ${optimization})"
    # Without moerb::blas, which would add the BLAS twins of two benchmarks: BLAS's kernels are
    # chosen at run time, so the instruction set changes nothing in them.
    moerb_configure arch "arch-${level}" "-DMOERB_ARCH=${level}" "-DCMAKE_CXX_COMPILER=${compiler}" \
      "-DCMAKE_CXX_FLAGS_RELEASE=${optimization} -DNDEBUG" -DMOERB_BLAS=OFF
    if [[ "${targets}" == all ]]; then
      moerb_run cmake --build "${MOERB_BUILD_DIR}" --parallel "${MOERB_JOBS}"
    else
      moerb_run cmake --build "${MOERB_BUILD_DIR}" --parallel "${MOERB_JOBS}" \
        --target moerb_kernels_tests moe_demo
    fi
    if cpu_supports "${level}"; then
      run_ctest "${MOERB_BUILD_DIR}"
      moerb_run "${MOERB_BUILD_DIR}/examples/moe_demo" >/dev/null
      moerb_log "${level}: kernel tests and moe_demo passed"
    else
      moerb_log "${level}: compiled; this CPU cannot run it, so its tests were not run"
    fi
  done
}

for stage in "${stages[@]}"; do
  case "${stage}" in
    arch) arch_matrix ;;
    ci-builds) ci_builds ;;
    fuzz)
      moerb_stage "fuzz"
      # CI: 5 s per harness (a smoke run; scripts/fuzz.sh --minutes N for real campaigns).
      if ((ci)); then
        MOERB_SKIP_PACKAGES=1 moerb_run "${MOERB_ROOT}/scripts/fuzz.sh" --seconds 5
      else
        MOERB_SKIP_PACKAGES=1 moerb_run "${MOERB_ROOT}/scripts/fuzz.sh"
      fi
      ;;
    *) build_and_test "${stage}" ;;
  esac
done
moerb_stage_end
if [[ "${MOERB_CCACHE:-1}" == 1 ]] && command -v ccache >/dev/null 2>&1; then
  moerb_log "ccache ($(ccache --get-config cache_dir))"
  ccache --show-stats | grep -E 'Hits|Misses|hit|miss' || true
fi
moerb_stage_summary
moerb_log "All passed (${stages[*]})"
