#!/usr/bin/env bash
# Issue 11: schemathesis (property-based API testing) against a running server, driven by the
# server's own OpenAPI document (GET /api/openapi.json). For every operation it sends up to
# EXAMPLES generated requests, valid and invalid, and checks that no input produces a 5xx
# (`not_a_server_error`) and that every response matches the document
# (`response_schema_conformance`, `status_code_conformance`, `content_type_conformance`).
#
#   scripts/api-schema-check.sh [EXAMPLES]   # default 20 per operation; a fixed seed
#
# Signed out, then signed in as a fresh user (without the operations that end its session).
# The server is the build's binary ($PARLEY_BIN, default target/debug/parley) on a random port
# with a fresh data directory and the test settings (fixed CAPTCHA answer, test clock, no
# breach API), as tests/browser start it. Needs schemathesis in target/tools/venv
# (scripts/setup-test-deps.sh installs it).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
EXAMPLES="${1:-20}"
SEED="${API_SCHEMA_SEED:-11}"
ST="${REPO_ROOT}/target/tools/venv/bin/schemathesis"
[[ -x "${ST}" ]] || { echo "api-schema-check: no schemathesis at ${ST} (scripts/setup-test-deps.sh)" >&2; exit 2; }
server_binary api-schema-check

dir="$(mktemp -d)"
pid=""
cleanup() {
  if [[ -n "${pid}" ]]; then
    kill "${pid}" 2>/dev/null || true
    wait "${pid}" 2>/dev/null || true
  fi
  rm -rf "${dir}"
}
trap cleanup EXIT

PARLEY__TEST_CAPTCHA_ANSWER=testcaptcha PARLEY__TEST_CLOCK=true PARLEY__BREACH_API_URL='' \
  "${BIN}" serve --data-dir "${dir}/data" --listen 127.0.0.1:0 --domain localhost \
  >"${dir}/server.log" 2>&1 &
pid=$!

url=""
for _ in $(seq 1 100); do
  url="$(sed -n 's|^Parley is listening on \(https://localhost:[0-9]*\)/$|\1|p' "${dir}/server.log" | head -n 1)"
  [[ -n "${url}" ]] && break
  kill -0 "${pid}" 2>/dev/null || { cat "${dir}/server.log" >&2; echo "api-schema-check: the server exited" >&2; exit 1; }
  sleep 0.2
done
[[ -n "${url}" ]] || { cat "${dir}/server.log" >&2; echo "api-schema-check: the server did not start" >&2; exit 1; }
echo "api-schema-check: server at ${url}, ${EXAMPLES} examples per operation, seed ${SEED}"

# A request that fails at the network level is retried (twice): the server closes a keep-alive
# connection idle for 10 s (HTTP/1.1 header timeout, docs/security.md), and a client that sends on
# it at that moment sees an EOF, as any client may; browsers retry the same way.
# Two runs with the same checks, neither moving the test clock (`POST /api/test/clock` could
# jump it by 400 days and end the test user's session): signed out, every other operation (401s
# and 403s must match the document too); then signed in as a fresh user
# (scripts/api-schema-session.py), so the operations are exercised past authentication — all but
# those that end the session: logout, revoke-all, revoking a session by id (schemathesis finds
# the session's own id in `GET /api/sessions`), and sign-in (an attempt ends the session it
# comes with, by design against fixation).
# Run from the temporary directory: schemathesis keeps a cache of failures (for `st replay`)
# in the working directory.
run_schemathesis() {
  (cd "${dir}" && "${ST}" run "${url}/api/openapi.json" \
    --url "${url}" \
    --tls-verify "${dir}/data/tls/ca.pem" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --max-examples "${EXAMPLES}" \
    --seed "${SEED}" \
    --workers 1 \
    --phases examples,coverage,fuzzing \
    --generation-database none \
    --request-retries 2 \
    --no-color "$@")
}

# Signed up first: the signed-out run spends the address's sign-up and CAPTCHA budgets.
mapfile -t auth < <("${REPO_ROOT}/target/tools/venv/bin/python" "${REPO_ROOT}/scripts/api-schema-session.py" \
  "${url}" "${dir}/data/tls/ca.pem" testcaptcha)
((${#auth[@]} == 2)) || { echo "api-schema-check: could not sign up a test user" >&2; exit 1; }

status=0
echo "api-schema-check: signed out"
run_schemathesis --exclude-path /api/test/clock || status=$?

echo "api-schema-check: signed in"
run_schemathesis -H "${auth[0]}" -H "${auth[1]}" \
  --exclude-path-regex '^/api/(login|logout|sessions/revoke-all|sessions/[{]id[}]|test/clock)$' || status=$?

if grep -qE '"level":"ERROR"| ERROR |panicked' "${dir}/server.log"; then
  echo "api-schema-check: the server logged errors:" >&2
  grep -E '"level":"ERROR"| ERROR |panicked' "${dir}/server.log" | head -n 20 >&2
  status=1
fi
exit "${status}"
