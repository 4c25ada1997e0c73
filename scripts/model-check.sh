#!/usr/bin/env bash
# Model-checks Parley's conversation state machine with SPIN (docs/model/README.md, issue 8).
#
#   scripts/model-check.sh            the suite: NEW rules verified with 0 errors in every
#                                     configuration, OLD rules must still show findings 1-4
#   scripts/model-check.sh --update   also rewrite docs/model/trails/ (trail + replayed MSC)
#   PARTY_STEPS=3 ADV_STEPS=2 scripts/model-check.sh --deep   one longer NEW run (minutes, GBs)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly MODEL="${REPO_ROOT}/docs/model/parley.pml"
readonly TRAILS="${REPO_ROOT}/docs/model/trails"
UPDATE=0
DEEP=0
for arg in "$@"; do
  case "${arg}" in
    --update) UPDATE=1 ;;
    --deep) DEEP=1 ;;
    *) echo "usage: $0 [--update] [--deep]" >&2; exit 2 ;;
  esac
done

command -v spin >/dev/null || { echo "[model] spin is not installed (scripts/setup-test-deps.sh)" >&2; exit 1; }
command -v gcc >/dev/null || { echo "[model] gcc is not installed" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT
FAILED=0

# run NAME EXPECTED_ERRORS PAN_CFLAGS SPIN_DEFINES...
run() {
  local name="$1" expect="$2" cflags="$3"
  shift 3
  local dir="${WORK}/${name}" start=${SECONDS}
  mkdir -p "${dir}"
  (cd "${dir}" && spin -a "$@" "${MODEL}" >spin.out 2>&1) || { cat "${dir}/spin.out"; FAILED=1; return; }
  # shellcheck disable=SC2086
  (cd "${dir}" && gcc -O2 -DSAFETY -DMEMLIM=2048 ${cflags} -o pan pan.c 2>gcc.out) || { cat "${dir}/gcc.out"; FAILED=1; return; }
  (cd "${dir}" && ./pan -m20000 >pan.out 2>&1) || true
  local errors states
  errors="$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "${dir}/pan.out" | head -n 1)"
  states="$(sed -n 's/^ *\([0-9]*\) states, stored.*/\1/p' "${dir}/pan.out" | head -n 1)"
  if grep -q 'max search depth too small\|out of memory\|Search not completed' "${dir}/pan.out" && [[ "${expect}" == 0 ]]; then
    echo "[model] FAIL ${name}: search incomplete"; cat "${dir}/pan.out"; FAILED=1; return
  fi
  if [[ "${errors}" != "${expect}" ]]; then
    echo "[model] FAIL ${name}: ${errors:-?} errors, expected ${expect}"
    cat "${dir}/pan.out"
    if [[ -f "${dir}/parley.pml.trail" ]]; then
      (cd "${dir}" && spin -t -k parley.pml.trail "$@" "${MODEL}" | grep -E 'MSC|assert') || true
    fi
    FAILED=1
    return
  fi
  echo "[model] ok   ${name}: ${errors} errors (expected ${expect}), ${states} states, $((SECONDS - start))s"
  if ((expect > 0 && UPDATE)); then
    cp "${dir}/parley.pml.trail" "${TRAILS}/${name}.trail"
    {
      echo "# spin -t -k docs/model/trails/${name}.trail $* docs/model/parley.pml"
      (cd "${dir}" && spin -t -k parley.pml.trail "$@" "${MODEL}" | grep -E 'MSC|assertion violated|text of failed' \
        | sed -e 's/^ *MSC: //' -e "s|${REPO_ROOT}/||")
    } >"${TRAILS}/${name}.txt"
  fi
}

if ((DEEP)); then
  run "new-deep" 0 "" -DPARTY_STEPS="${PARTY_STEPS:-3}" -DADV_STEPS="${ADV_STEPS:-2}"
  exit "${FAILED}"
fi

# The NEW rules (docs/protocol.md): every property, 0 errors, in configurations that together
# cover rollback-heavy runs (4 user steps), attack-heavy runs (2 server steps) and mixes.
run "new-p4-a0" 0 "" -DPARTY_STEPS=4 -DADV_STEPS=0
run "new-p3-a1" 0 "" -DPARTY_STEPS=3 -DADV_STEPS=1
run "new-p2-a1" 0 "" -DPARTY_STEPS=2 -DADV_STEPS=1
run "new-p1-a2" 0 "" -DPARTY_STEPS=1 -DADV_STEPS=2

# The OLD rules (web/protocol before issue 8): SPIN must find each finding of the issue.
run "old-finding-1" 1 "-DBFS" -DOLD -DCHECK=1 -DPARTY_STEPS=4 -DADV_STEPS=0   # (key, IV) reused after a rollback
run "old-finding-2" 1 "" -DOLD -DCHECK=3 -DPARTY_STEPS=1 -DADV_STEPS=2        # stand-in key shown silently
run "old-finding-3" 1 "" -DOLD -DCHECK=4 -DPARTY_STEPS=1 -DADV_STEPS=1        # verified contact: send to a new key
run "old-finding-4" 1 "" -DOLD -DCHECK=2 -DPARTY_STEPS=2 -DADV_STEPS=2        # replayed ecdh undoes a Refresh

if ((FAILED)); then
  echo "[model] FAILED"
  exit 1
fi
echo "[model] all model checks passed"
