# shellcheck shell=bash
# Shared by scripts/test.sh and scripts/demo.sh (sourced, not run).
# Sets MOERB_ROOT (the repository), MOERB_JOBS and MOERB_BUILD_ROOT, and defines the helpers below.

MOERB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOERB_JOBS="${MOERB_JOBS:-$(nproc)}"
MOERB_BUILD_ROOT="${MOERB_BUILD_ROOT:-${MOERB_ROOT}/build}"

# Debian 12 packages needed to configure and build everything (tests, examples, benchmarks) with GCC
# and clang (clang's OpenMP runtime and sanitizer/libFuzzer runtimes; llvm-symbolizer for readable
# sanitizer reports), plus ccache; CLI11 parses the examples' command lines; OpenBLAS's OpenMP build
# is the engine of moerb::blas (cmake/MoerbBlas.cmake), on which CI runs the GCC test tree.
MOERB_DEBIAN_PACKAGES=(cmake ninja-build g++ clang libomp-14-dev libclang-rt-14-dev llvm-14 ccache
                       libeigen3-dev libxsimd-dev xtl-dev libboost-test-dev libbenchmark-dev
                       nlohmann-json3-dev libcli11-dev wordnet-base libopenblas-openmp-dev)

# Extra -D arguments for every configure (set by moerb_use_ccache and the scripts).
MOERB_CMAKE_ARGS=()

moerb_log() { printf '\n==> %s\n' "$*"; }
moerb_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# MOERB_ARCH=<-march value> builds moerb's own programs for that target instead of the machine's
# (`native`): MOERB_ARCH=x86-64-v3 runs the whole suite as an AVX2-only machine would build it, on
# any CPU that can execute it. The instruction-set stage of scripts/test.sh sets its own levels.
if [[ -n "${MOERB_ARCH:-}" ]]; then
  [[ "${MOERB_ARCH}" =~ ^[A-Za-z0-9._-]+$ ]] || moerb_die "MOERB_ARCH='${MOERB_ARCH}' is not a -march value"
  MOERB_CMAKE_ARGS+=("-DMOERB_ARCH=${MOERB_ARCH}")
fi

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

# Compiles through ccache (unless MOERB_CCACHE=0), with its cache outside the clone: a second run on
# the same machine, or a fresh clone of the same sources, recompiles only what changed. Paths under
# the repository are hashed relative to it, so clones in different folders share the cache.
moerb_use_ccache() {
  [[ "${MOERB_CCACHE:-1}" == 1 ]] || return 0
  command -v ccache >/dev/null 2>&1 || { moerb_log "ccache not found: compiling without it"; return 0; }
  export CCACHE_DIR="${CCACHE_DIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/moerb-ccache}"
  export CCACHE_BASEDIR="${MOERB_ROOT}"
  export CCACHE_NOHASHDIR=1
  # The packaging test's header check compiles with a precompiled header, which ccache caches only
  # with these two sloppiness settings.
  export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros}"
  export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-8G}"
  MOERB_CMAKE_ARGS+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
}

# Configures the CMake preset $1 into ${MOERB_BUILD_ROOT}/<$2, default $1> (the preset's own
# binaryDir unless MOERB_BUILD_ROOT is set) and sets MOERB_BUILD_DIR to that directory. Further
# arguments go to cmake. Warnings are errors when MOERB_WERROR=ON (CI sets it).
moerb_configure() {
  local preset="$1" dir="${2:-$1}"
  shift $(($# < 2 ? $# : 2))
  MOERB_BUILD_DIR="${MOERB_BUILD_ROOT}/${dir}"
  moerb_log "Configuring preset '${preset}' in ${MOERB_BUILD_DIR}"
  cd "${MOERB_ROOT}" || moerb_die "cannot enter ${MOERB_ROOT}"
  moerb_run cmake --preset "${preset}" -B "${MOERB_BUILD_DIR}" \
    "-DMOERB_WERROR=${MOERB_WERROR:-OFF}" "${MOERB_CMAKE_ARGS[@]}" "$@"
}

# Stage timing: moerb_stage NAME starts a stage (ending the previous one); moerb_stage_summary prints
# every stage's wall time and the total.
MOERB_STAGE_NAMES=()
MOERB_STAGE_SECONDS=()
MOERB_STAGE_CURRENT=""
MOERB_STAGE_START=0
MOERB_RUN_START=${SECONDS}
moerb_stage_end() {
  [[ -n "${MOERB_STAGE_CURRENT}" ]] || return 0
  local took=$((SECONDS - MOERB_STAGE_START))
  MOERB_STAGE_NAMES+=("${MOERB_STAGE_CURRENT}")
  MOERB_STAGE_SECONDS+=("${took}")
  printf '\n==> stage %s: %d s (%d:%02d)\n' "${MOERB_STAGE_CURRENT}" "${took}" $((took / 60)) $((took % 60))
  MOERB_STAGE_CURRENT=""
}
moerb_stage() {
  moerb_stage_end
  MOERB_STAGE_CURRENT="$1"
  MOERB_STAGE_START=${SECONDS}
  printf '\n==> stage %s\n' "$1"
}
moerb_stage_summary() {
  moerb_stage_end
  local i total=$((SECONDS - MOERB_RUN_START))
  printf '\n==> wall time per stage\n'
  for i in "${!MOERB_STAGE_NAMES[@]}"; do
    printf '    %-28s %6d s\n' "${MOERB_STAGE_NAMES[$i]}" "${MOERB_STAGE_SECONDS[$i]}"
  done
  printf '    %-28s %6d s (%d:%02d)\n' total "${total}" $((total / 60)) $((total % 60))
}
