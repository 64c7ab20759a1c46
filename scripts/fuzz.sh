#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (preset 'fuzz': clang, ASan + UBSan) and runs each
# one, time-bounded, on a copy of its seed corpus tests/fuzz/corpus/<name>.
#
#   scripts/fuzz.sh                  every harness for 15 s
#   scripts/fuzz.sh csv utf8         only the named harnesses (fuzz_csv, fuzz_utf8)
#   scripts/fuzz.sh --minutes 10     10 minutes per harness (--seconds N for N seconds)
#   scripts/fuzz.sh --jobs 2         two harnesses at a time (default: MOERB_JOBS)
#   scripts/fuzz.sh --keep           keep the working directory (grown corpora, logs) on success
#   scripts/fuzz.sh -- -only_ascii=1 extra arguments after -- go to every fuzzer
#
# New inputs and findings go to a temporary directory, never into tests/fuzz/corpus. Prints each
# harness's executions; exits non-zero when any harness finds a crash, a sanitizer report, a leak,
# a timeout (-timeout=10) or an out-of-memory (-rss_limit_mb=2048), naming the file that
# reproduces it (rerun: build/fuzz/tests/fuzz/fuzz_<name> <file>).
#
# Environment: MOERB_JOBS (default: nproc), MOERB_BUILD_ROOT (default: <repo>/build),
# MOERB_SKIP_PACKAGES=1 (do not check Debian packages), TMPDIR (where the working directory goes;
# default /dev/shm when writable, else /tmp).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() { sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

seconds=15
jobs="${MOERB_JOBS}"
keep=0
requested=()
fuzzer_args=()
while (($#)); do
  case "$1" in
    --minutes | --seconds | --jobs)
      [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || moerb_die "$1 needs a positive integer (try --help)"
      case "$1" in
        --minutes) seconds=$(($2 * 60)) ;;
        --seconds) seconds=$2 ;;
        --jobs) jobs=$2 ;;
      esac
      shift ;;
    --keep) keep=1 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; fuzzer_args=("$@"); break ;;
    -*) moerb_die "unknown option '$1' (try --help)" ;;
    *) requested+=("$1") ;;
  esac
  shift
done

fuzz_dir="${MOERB_ROOT}/tests/fuzz"
available=()
for src in "${fuzz_dir}"/fuzz_*.cpp; do
  name="$(basename "${src}" .cpp)"
  available+=("${name#fuzz_}")
done
if ((${#requested[@]} == 0)); then
  harnesses=("${available[@]}")
else
  harnesses=()
  for name in "${requested[@]}"; do
    name="${name#fuzz_}"
    [[ " ${available[*]} " == *" ${name} "* ]] ||
      moerb_die "no harness '${name}' (available: ${available[*]})"
    harnesses+=("${name}")
  done
fi

# MOERB_DEBIAN_PACKAGES has clang, libFuzzer and the sanitizer runtimes, and llvm-symbolizer.
moerb_ensure_packages
moerb_use_ccache

moerb_configure fuzz
moerb_log "Building ${#harnesses[@]} harness(es) (${MOERB_JOBS} jobs)"
targets=()
for name in "${harnesses[@]}"; do targets+=(--target "fuzz_${name}"); done
moerb_run cmake --build "${MOERB_BUILD_DIR}" --parallel "${MOERB_JOBS}" "${targets[@]}"
build_seconds=${SECONDS}

# The working directory (and the harnesses' per-input temporary files in it) goes to $TMPDIR, or
# else to the memory file system /dev/shm where there is one: the harnesses that read through a
# path write a file per input, which on a disk costs more than parsing it.
work_base="${TMPDIR:-}"
if [[ -z "${work_base}" ]]; then
  work_base=/tmp
  [[ -d /dev/shm && -w /dev/shm ]] && work_base=/dev/shm
fi
work="$(mktemp -d "${work_base}/moerb-fuzz.XXXXXX")"
for symbolizer in llvm-symbolizer-14 llvm-symbolizer; do
  if command -v "${symbolizer}" >/dev/null 2>&1; then
    export ASAN_SYMBOLIZER_PATH="${ASAN_SYMBOLIZER_PATH:-$(command -v "${symbolizer}")}"
    break
  fi
done
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# Runs one harness in ${work}/<name>: corpus/ (a copy of the seeds, grown by the run), log, status.
run_harness() {
  local name="$1" dir="${work}/$1"
  mkdir -p "${dir}/corpus"
  cp -- "${fuzz_dir}/corpus/${name}"/* "${dir}/corpus/"
  local args=(-max_total_time="${seconds}" -print_final_stats=1 -artifact_prefix="${dir}/"
              -rss_limit_mb=2048 -timeout=10)
  [[ -f "${fuzz_dir}/dict/${name}.dict" ]] && args+=(-dict="${fuzz_dir}/dict/${name}.dict")
  local status=0
  (cd "${dir}" && TMPDIR="${dir}" "${MOERB_BUILD_DIR}/tests/fuzz/fuzz_${name}" "${args[@]}" \
    "${fuzzer_args[@]}" corpus >"${dir}/log" 2>&1) || status=$?
  echo "${status}" >"${dir}/status"
}

moerb_log "Fuzzing ${harnesses[*]}: ${seconds} s each, ${jobs} at a time, in ${work}"
for name in "${harnesses[@]}"; do
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
  printf '+ fuzz_%s\n' "${name}"
  run_harness "${name}" &
done
wait
fuzz_seconds=$((SECONDS - build_seconds))

failed=()
printf '\n%-12s %14s %8s  %s\n' harness executions seconds result
for name in "${harnesses[@]}"; do
  dir="${work}/${name}"
  executions="$(sed -n 's/^stat::number_of_executed_units: *//p' "${dir}/log" | tail -n 1)"
  shopt -s nullglob
  findings=("${dir}"/crash-* "${dir}"/leak-* "${dir}"/timeout-* "${dir}"/oom-*)
  shopt -u nullglob
  if [[ "$(cat "${dir}/status")" == 0 && ${#findings[@]} == 0 && -n "${executions}" ]]; then
    printf '%-12s %14s %8s  %s\n' "${name}" "${executions}" "${seconds}" ok
  else
    printf '%-12s %14s %8s  %s\n' "${name}" "${executions:-?}" "${seconds}" FOUND
    failed+=("${name}")
  fi
done

for name in ${failed[@]+"${failed[@]}"}; do
  dir="${work}/${name}"
  moerb_log "fuzz_${name} found something (exit status $(cat "${dir}/status")); log: ${dir}/log"
  tail -n 60 "${dir}/log"
  shopt -s nullglob
  for file in "${dir}"/crash-* "${dir}"/leak-* "${dir}"/timeout-* "${dir}"/oom-*; do
    printf 'reproducer: %s\n  rerun: %s %s\n' "${file}" \
      "${MOERB_BUILD_DIR}/tests/fuzz/fuzz_${name}" "${file}"
  done
  shopt -u nullglob
done
printf '\nbuild %d s, fuzzing %d s, total %d s\n' "${build_seconds}" "${fuzz_seconds}" "${SECONDS}"
if ((${#failed[@]})); then
  moerb_die "fuzzing found problems in: ${failed[*]} (working directory kept: ${work})"
fi
if ((keep)); then
  moerb_log "No findings; working directory kept: ${work}"
else
  rm -rf -- "${work}"
  moerb_log "No findings (${#harnesses[@]} harness(es), ${seconds} s each)"
fi
