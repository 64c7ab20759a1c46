#!/usr/bin/env bash
# Builds and runs the examples: moe_demo (examples/moe_demo.cpp: one MoE layer next to its dense
# counterpart), then wordnet_reliability (examples/wordnet_reliability.cpp: trains an MoE and a
# dense classifier on WordNet text and measures them; about two minutes on two cores).
# Arguments go to wordnet_reliability ([output-dir] [seed]).
#
# Environment: MOERB_JOBS (default: nproc), MOERB_BUILD_ROOT (default: <repo>/build),
# MOERB_SKIP_PACKAGES=1 (do not check Debian packages), MOERB_ARCH=<-march value> (default: the
# machine's).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "${1:-}" in
  -h | --help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac


moerb_ensure_packages
moerb_use_ccache
# The release preset is shared with scripts/test.sh, so a later test run reuses this build.
moerb_configure release release -DMOERB_BUILD_EXAMPLES=ON  # on again after a CI run (test.sh --ci)
moerb_log "Building the examples (${MOERB_JOBS} jobs)"
moerb_run cmake --build "${MOERB_BUILD_DIR}" --parallel "${MOERB_JOBS}" \
  --target moe_demo wordnet_reliability
moerb_log "Running moe_demo"
moerb_run "${MOERB_BUILD_DIR}/examples/moe_demo"
moerb_log "Running wordnet_reliability"
moerb_run "${MOERB_BUILD_DIR}/examples/wordnet_reliability" "$@"
