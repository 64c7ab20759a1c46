#!/usr/bin/env bash
# Builds and runs the example moe_demo (examples/moe_demo.cpp). Arguments go to the program.
#
# Environment: MOERB_JOBS (default: nproc), MOERB_BUILD_ROOT (default: <repo>/build),
# MOERB_SKIP_PACKAGES=1 (do not check Debian packages).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "${1:-}" in
  -h | --help) sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

[[ -f "${MOERB_ROOT}/examples/moe_demo.cpp" ]] ||
  moerb_die "examples/moe_demo.cpp does not exist (yet); nothing to run"

moerb_ensure_packages
# The release preset is shared with scripts/test.sh, so a later test run reuses this build.
moerb_configure release
moerb_log "Building moe_demo (${MOERB_JOBS} jobs)"
moerb_run cmake --build "${MOERB_BUILD_DIR}" --parallel "${MOERB_JOBS}" --target moe_demo
moerb_log "Running moe_demo"
moerb_run "${MOERB_BUILD_DIR}/examples/moe_demo" "$@"
