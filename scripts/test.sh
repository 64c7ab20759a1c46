#!/usr/bin/env bash
# Builds moerb and runs the whole CTest suite.
#
#   scripts/test.sh              Release build (preset 'release', build/release)
#   scripts/test.sh --sanitize   ASan + UBSan build (preset 'sanitize', build/sanitize);
#                                MOERB_SANITIZE=1 does the same
#   scripts/test.sh --all        both, release first
#
# Environment: MOERB_JOBS (default: nproc), MOERB_BUILD_ROOT (default: <repo>/build),
# MOERB_SKIP_PACKAGES=1 (do not check Debian packages). Extra arguments after -- go to ctest.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

presets=(release)
[[ "${MOERB_SANITIZE:-0}" == 1 ]] && presets=(sanitize)
ctest_args=()
while (($#)); do
  case "$1" in
    --sanitize) presets=(sanitize) ;;
    --all) presets=(release sanitize) ;;
    -h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; ctest_args=("$@"); break ;;
    *) moerb_die "unknown argument '$1' (try --help)" ;;
  esac
  shift
done

moerb_ensure_packages

for preset in "${presets[@]}"; do
  moerb_configure "${preset}"
  moerb_log "Building (${MOERB_JOBS} jobs)"
  moerb_run cmake --build "${MOERB_BUILD_DIR}" --parallel "${MOERB_JOBS}"
  if [[ "${preset}" == sanitize ]]; then
    # Same settings as the 'sanitize' test preset: any report fails the test.
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  fi
  moerb_log "Running the test suite (${preset})"
  moerb_run ctest --test-dir "${MOERB_BUILD_DIR}" --output-on-failure -j "${MOERB_JOBS}" \
    "${ctest_args[@]}"
done
moerb_log "All tests passed (${presets[*]})"
