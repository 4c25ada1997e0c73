#!/usr/bin/env bash
# The benchmarks of issue 10 (docs/performance.md): one command each, figures on stdout.
#
#   scripts/bench.sh [relay|relay-pg|idle|storm|history|all] [--smoke] [extra options for the benchmark]
#
#   relay  crates/parley/examples/relay_bench.rs relay: msgs/s at saturation, server CPU and
#          context switches per message, send→deliver p50/p99 at half the peak; Parley and a
#          bare tokio-rustls WebSocket relay in the same run (options: --pairs 1,10,50
#          --sizes 100,4096 --secs 5 --window 4; --strace adds Parley's syscalls per message)
#   relay-pg  the same with Parley on PostgreSQL ($PARLEY_TEST_DATABASE_URL, default the local
#          server; a fresh database per run); --instances 2 starts two Parley processes sharing
#          it, recipients on the second (every message crosses by LISTEN/NOTIFY)
#   idle   relay_bench idle: server KiB per idle authenticated WebSocket, Parley and bare
#          (options: --conns 1000,10000[,50000]; 50,000 needs an open-file hard limit above it)
#   storm  crates/parley/examples/auth_bench.rs: GET /api/conversations p50/p99 alone, during
#          100 concurrent sign-ins, and with 90,000 messages stored (--stored N for another
#          count), beside the pre-0009 aggregate query on the same file (plus Argon2id and
#          sign-in timings); --database-url postgres://… runs it on PostgreSQL (without the
#          stored-messages figure)
#   history tests/bench/history.mjs: a 10,000- and a 100,000-message conversation (real E2EE
#          messages from the web client's protocol module) opened in headless Chromium by a
#          recipient who was away: time to the chat list, to the newest message, and to page
#          back to the first, and whether every message is on screen once (options:
#          --counts 10000,100000)
#
# Full runs build in release (thin LTO: slow the first time) and take several minutes.
# --smoke uses the debug build and tiny sizes (well under a minute) and checks only that each
# benchmark completes and prints its figures: scripts/test.sh runs `scripts/bench.sh all --smoke`.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "${REPO_ROOT}"

what="${1:-all}"
shift || true
smoke=0
if [[ "${1:-}" == "--smoke" ]]; then
  smoke=1
  shift
fi
extra=("$@")

case "${what}" in
  relay | relay-pg | idle | storm | history | all) ;;
  *)
    echo "usage: scripts/bench.sh [relay|relay-pg|idle|storm|history|all] [--smoke] [options]" >&2
    exit 2
    ;;
esac

if ((smoke)); then
  profile=(); dir=debug
else
  profile=(--release); dir=release
fi
cargo build "${profile[@]}" -p parley --example relay_bench --example auth_bench --bin parley
bin="${BUILD_DIR}/${dir}/examples"
server_bin="${BUILD_DIR}/${dir}/parley"

# Idle sockets need one descriptor each, on both sides (the benchmark raises the soft limit to
# the hard one itself too).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

out="$(mktemp)"
trap 'rm -f "${out}"' EXIT

# Run a benchmark, show its output, and (smoke) require each pattern in it.
run() {
  local patterns=("${@:2}")
  echo "\$ $1"
  bash -c "$1" | tee "${out}"
  if ((smoke)); then
    local p
    for p in "${patterns[@]}"; do
      if ! grep -Eq -- "${p}" "${out}"; then
        echo "bench smoke: no line matching '${p}' in the output of: $1" >&2
        exit 1
      fi
    done
    if grep -Eq 'NaN|not delivered|NOT RUN' "${out}"; then
      echo "bench smoke: missing figures in the output of: $1" >&2
      exit 1
    fi
  fi
}

# bench NAME SMOKE_OPTIONS COMMAND PATTERN...: when NAME (or all) was asked for, run COMMAND with
# SMOKE_OPTIONS (--smoke only) and the extra options, requiring each PATTERN (--smoke only).
bench() {
  local name="$1" options="$2" command="$3"
  shift 3
  [[ "${what}" == "${name}" || "${what}" == all ]] || return 0
  ((smoke)) || options=""
  run "${command} ${options} ${extra[*]}" "$@"
}

num='[0-9]+(\.[0-9]+)?'
bench relay "--pairs 2 --sizes 100 --secs 1 --window 2" "'${bin}/relay_bench' relay" \
  "^relay parley .* ${num} msg/s .* ${num} µs CPU/msg .*p99= *${num} ms" \
  "^relay bare .* ${num} msg/s .* ${num} µs CPU/msg .*p99= *${num} ms" \
  "^ratio pairs=2 size=100: parley/bare msgs/s = ${num}"
postgres="${PARLEY_TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432}"
bench relay-pg "--pairs 1 --sizes 100 --secs 1 --window 2 --instances 2" \
  "'${bin}/relay_bench' relay --database-url '${postgres}'" \
  "^== relay: .*Parley on PostgreSQL" \
  "^relay parley .* ${num} msg/s .* ${num} µs CPU/msg \\(\\+${num} µs in PostgreSQL\\)" \
  "^ratio pairs=1 size=100: parley/bare msgs/s = ${num}"
bench idle "--conns 50" "'${bin}/relay_bench' idle" \
  "^idle parley +50 sockets .* = ${num} KiB per socket" \
  "^idle bare +50 sockets .* = ${num} KiB per socket"
bench storm --smoke "'${bin}/auth_bench'" \
  "^alone +n=${num} +p50= *${num} ms .*p99= *${num} ms" \
  "^while [0-9]+ sign-ins run +n=${num} +p50= *${num} ms .*p99= *${num} ms" \
  "^alone, [0-9]+ messages stored +n=${num} +p50= *${num} ms .*p99= *${num} ms"
bench history --smoke "PARLEY_BIN='${server_bin}' node tests/bench/history.mjs" \
  "^history n=[0-9]+ seed: .* = ${num} msg/s" \
  "^history n=[0-9]+ ready=${num} s newest=${num} s all=${num} s pages=[0-9]+ .* gaps=0"
