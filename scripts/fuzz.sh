#!/usr/bin/env bash
# Runs every `cargo fuzz` target (fuzz/fuzz_targets/*.rs) for a bounded time each.
#
#   scripts/fuzz.sh            15 s per target (a smoke run)
#   scripts/fuzz.sh 600        10 minutes per target (the longer run; see docs/security.md)
#   scripts/fuzz.sh 60 payload only the named targets
#
# libFuzzer needs nightly compiler flags (-Zsanitizer, coverage instrumentation); the only
# toolchain here is stable, so RUSTC_BOOTSTRAP=1 unlocks them (cargo-fuzz is installed by
# `scripts/setup-test-deps.sh --fuzz` on first use). The committed seed corpus (fuzz/corpus/<target>) is read, never
# written: new inputs and any crash go under $CARGO_TARGET_DIR/fuzz-work/. A crash fails the
# run and prints its reproducer; keep it as a regression test (docs/security.md "Fuzzing").
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "${REPO_ROOT}/fuzz"

SECONDS_PER_TARGET="${1:-15}"
shift || true
readonly SECONDS_PER_TARGET

export RUSTC_BOOTSTRAP=1
TARGET_DIR="${BUILD_DIR}/fuzz"
WORK="${BUILD_DIR}/fuzz-work"
readonly TARGET_DIR WORK

# cargo-fuzz (pinned) and g++, installed on first use.
command -v cargo-fuzz >/dev/null || "${REPO_ROOT}/scripts/setup-test-deps.sh" --fuzz

if (($# > 0)); then
  TARGETS=("$@")
else
  mapfile -t TARGETS < <(cargo fuzz list)
fi

# One build for all targets (debug assertions on, address sanitizer).
cargo fuzz build --debug-assertions --target-dir "${TARGET_DIR}"

SUMMARY=()
for target in "${TARGETS[@]}"; do
  mkdir -p "${WORK}/corpus/${target}" "${WORK}/artifacts/${target}"
  log="${WORK}/${target}.log"
  echo "[fuzz] ${target}: ${SECONDS_PER_TARGET} s"
  status=0
  cargo fuzz run --debug-assertions --target-dir "${TARGET_DIR}" "${target}" \
    "${WORK}/corpus/${target}" "corpus/${target}" -- \
    -max_total_time="${SECONDS_PER_TARGET}" -artifact_prefix="${WORK}/artifacts/${target}/" \
    -print_final_stats=1 >"${log}" 2>&1 || status=$?
  runs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "${log}" | grep -Eo '[0-9]+$' | tail -n 1 || true)"
  if ((status != 0)); then
    tail -n 40 "${log}" >&2
    echo "[fuzz] ${target}: FAILED (exit ${status}); the crashing input is in ${WORK}/artifacts/${target}/" >&2
    exit 1
  fi
  SUMMARY+=("$(printf '%-16s %10s executions in %s s' "${target}" "${runs:-?}" "${SECONDS_PER_TARGET}")")
done
printf '[fuzz] %s\n' "${SUMMARY[@]}"
echo "[fuzz] ${#TARGETS[@]} passed, 0 failed"
