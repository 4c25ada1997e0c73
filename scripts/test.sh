#!/usr/bin/env bash
# Runs Parley's whole test suite: the one command for developers and CI.
#
# Installs missing test dependencies first (scripts/setup-test-deps.sh), then runs each step in
# order and stops at the first failure, naming the step. Ends with a summary of every step.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
cd "${REPO_ROOT}"

# A run from a clean clone gains nothing from incremental caches, and they cost GiBs of disk
# (CI once failed linking with "No space left on device").
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# The browser tests run the binaries that the build step makes (the server, and the terminal
# client for the interop test, issue 12).
if [[ -z "${PARLEY_BIN:-}" ]]; then
  export PARLEY_BIN="${CARGO_TARGET_DIR:-${REPO_ROOT}/target}/debug/parley"
fi
if [[ -z "${PARLEY_CHAT_BIN:-}" ]]; then
  export PARLEY_CHAT_BIN="${CARGO_TARGET_DIR:-${REPO_ROOT}/target}/debug/parley-chat"
fi

# Each step: "name|command". Commands are run by bash from the repository root.
readonly STEPS=(
  "setup test dependencies|scripts/setup-test-deps.sh"
  "rustfmt|cargo fmt --all -- --check"
  "clippy|cargo clippy --workspace --all-targets -- -D warnings"
  "build server and terminal client|cargo build --bin parley --bin parley-chat"
  "benchmarks still run (smoke: tiny sizes, debug build)|scripts/bench.sh all --smoke"
  "CAPTCHA against plain OCR (100 seeded images)|scripts/captcha-ocr.sh 100 1 1"
  "API against its OpenAPI document (schemathesis, 20 examples per operation)|scripts/api-schema-check.sh 20"
  "cargo test (SQLite)|cargo test --workspace"
  "integration tests on PostgreSQL|PARLEY_TEST_DATABASE_URL=${PARLEY_TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432} cargo test --test it"
  "typecheck web client|npx --no-install tsc -p tsconfig.json"
  "typecheck browser tests|npx --no-install tsc -p tests/tsconfig.json"
  "protocol tests (node:test)|node --test tests/protocol/*.test.mjs"
  "model check (SPIN)|scripts/model-check.sh"
  "browser tests|node --test --test-concurrency=1 tests/browser/*.test.mjs"
  "container tests|scripts/container-test.sh"
)

SUMMARY=()

# Colour only on a terminal.
if [[ -t 1 ]]; then
  BOLD=$'\033[1m' RED=$'\033[1;31m' GREEN=$'\033[1;32m' RESET=$'\033[0m'
else
  BOLD='' RED='' GREEN='' RESET=''
fi
readonly BOLD RED GREEN RESET

banner() {
  printf '\n%s==> [%d/%d] %s%s\n    $ %s\n\n' "${BOLD}" "$1" "${#STEPS[@]}" "$2" "${RESET}" "$3"
}

print_summary() {
  printf '\n==> Summary\n'
  local line
  for line in "${SUMMARY[@]}"; do
    printf '    %s\n' "${line}"
  done
}

main() {
  local index=0 step name command start elapsed status
  for step in "${STEPS[@]}"; do
    index=$((index + 1))
    name="${step%%|*}"
    command="${step#*|}"
    banner "${index}" "${name}" "${command}"
    start=${SECONDS}
    status=0
    bash -c "${command}" || status=$?
    elapsed=$((SECONDS - start))
    if ((status != 0)); then
      SUMMARY+=("$(printf 'FAIL  %-26s %4ds  (exit %d)' "${name}" "${elapsed}" "${status}")")
      local rest
      for rest in "${STEPS[@]:index}"; do
        SUMMARY+=("SKIP  ${rest%%|*}")
      done
      print_summary
      printf '\n%sFAILED at step %d/%d: %s%s (%s exited with %d)\n' "${RED}" \
        "${index}" "${#STEPS[@]}" "${name}" "${RESET}" "${command}" "${status}"
      exit 1
    fi
    SUMMARY+=("$(printf 'ok    %-26s %4ds' "${name}" "${elapsed}")")
  done
  print_summary
  printf '\n%sAll %d steps passed.%s\n' "${GREEN}" "${#STEPS[@]}" "${RESET}"
}

main "$@"
