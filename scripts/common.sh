# shellcheck shell=bash
# Shared by scripts/test.sh and scripts/demo.sh (sourced, not run).
# Sets MOERB_ROOT (the repository), MOERB_JOBS and MOERB_BUILD_ROOT, and defines the helpers below.

MOERB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOERB_JOBS="${MOERB_JOBS:-$(nproc)}"
MOERB_BUILD_ROOT="${MOERB_BUILD_ROOT:-${MOERB_ROOT}/build}"

# Debian 12 packages needed to configure and build everything (tests, examples, benchmarks).
MOERB_DEBIAN_PACKAGES=(cmake ninja-build g++ libeigen3-dev libxsimd-dev xtl-dev
                       libboost-test-dev libbenchmark-dev nlohmann-json3-dev wordnet-base)

moerb_log() { printf '\n==> %s\n' "$*"; }
moerb_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Prints a command, then runs it.
moerb_run() {
  printf '+ %s\n' "$*"
  "$@"
}

# Installs the packages of MOERB_DEBIAN_PACKAGES that are missing; does nothing when all are there.
moerb_ensure_packages() {
  if [[ "${MOERB_SKIP_PACKAGES:-0}" == 1 ]]; then
    moerb_log "Skipping the package check (MOERB_SKIP_PACKAGES=1)"
    return 0
  fi
  command -v dpkg-query >/dev/null 2>&1 ||
    moerb_die "dpkg-query not found: this script installs Debian packages; on another system install" \
              "the dependencies yourself and set MOERB_SKIP_PACKAGES=1"
  local missing=() pkg status
  for pkg in "${MOERB_DEBIAN_PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "${pkg}" 2>/dev/null || true)"
    [[ "${status}" == installed ]] || missing+=("${pkg}")
  done
  if ((${#missing[@]} == 0)); then
    moerb_log "Debian packages present: ${MOERB_DEBIAN_PACKAGES[*]}"
    return 0
  fi
  moerb_log "Installing missing Debian packages: ${missing[*]}"
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 ||
      moerb_die "not root and sudo is not available; install as root: apt-get install ${missing[*]}"
    sudo=(sudo)
  fi
  moerb_run "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  moerb_run "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
}

# Configures the CMake preset $1 into ${MOERB_BUILD_ROOT}/$1 (the preset's own binaryDir unless
# MOERB_BUILD_ROOT is set) and sets MOERB_BUILD_DIR to that directory.
moerb_configure() {
  local preset="$1"
  MOERB_BUILD_DIR="${MOERB_BUILD_ROOT}/${preset}"
  moerb_log "Configuring preset '${preset}' in ${MOERB_BUILD_DIR}"
  cd "${MOERB_ROOT}" || moerb_die "cannot enter ${MOERB_ROOT}"
  moerb_run cmake --preset "${preset}" -B "${MOERB_BUILD_DIR}"
}
