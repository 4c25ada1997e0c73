#!/usr/bin/env bash
# Makes the base images the Dockerfiles start FROM, without any container registry:
#
#   debian:bookworm-slim   debootstrap --variant=minbase bookworm, made slim
#   rust:<X.Y>-bookworm    the same plus build-essential, pkg-config, ca-certificates and this
#                          machine's own Rust toolchain (rustup layout of the official image:
#                          RUSTUP_HOME=/usr/local/rustup, CARGO_HOME=/usr/local/cargo)
#
# Each root file system is cached as a tarball under target/container-cache/ (rebuildable, never
# committed), named after a hash of this script and, for Rust, the toolchain version, so a change
# to either makes a new one. An image already in the engine with the same recipe label is kept.
#
# Needs root (debootstrap), the engine at $DOCKER_HOST and $DOCKER (default /usr/bin/docker).
# Every mount debootstrap leaves behind on failure is removed on exit.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly REPO_ROOT
readonly CACHE="${PARLEY_CONTAINER_CACHE:-${REPO_ROOT}/target/container-cache}"
readonly DOCKER="${DOCKER:-/usr/bin/docker}"
readonly MIRROR="${PARLEY_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
readonly SLIM_IMAGE=debian:bookworm-slim
# The builder image name comes from the Dockerfile, so the two never disagree.
RUST_IMAGE="$(sed -n 's/^FROM \(rust:[^ ]*\) AS builder$/\1/p' "${REPO_ROOT}/Dockerfile" | head -n1)"
readonly RUST_IMAGE
RECIPE="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)"
readonly RECIPE

log() { printf '[base-images] %s\n' "$*"; }
die() { printf '[base-images] ERROR: %s\n' "$*" >&2; exit 1; }

WORK=""
cleanup() {
  if [[ -n "${WORK}" && -d "${WORK}" ]]; then
    # debootstrap mounts proc, sys and dev/pts inside the target; unmount whatever is left.
    local m
    while read -r m; do
      umount -l "${m}" 2>/dev/null || true
    done < <(awk -v w="${WORK}" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r)
    rm -rf "${WORK}"
  fi
}
trap cleanup EXIT

image_recipe() {
  "${DOCKER}" image inspect -f '{{ index .Config.Labels "parley.base-recipe" }}' "$1" 2>/dev/null || true
}

# Strip what a container never needs, as the official slim images do.
slim_down() {
  local root="$1"
  rm -rf "${root}"/var/lib/apt/lists/* "${root}"/var/cache/apt/*.bin \
    "${root}"/var/cache/apt/archives/*.deb "${root}"/var/log/*.log "${root}"/var/log/apt/* \
    "${root}"/usr/share/doc/* "${root}"/usr/share/man/* "${root}"/usr/share/info/* \
    "${root}"/usr/share/locale/* "${root}"/tmp/* "${root}"/root/.bash_history
  # Same apt sources as the official image (debootstrap writes only the main suite).
  rm -f "${root}/etc/apt/sources.list"
  cat >"${root}/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # Keep documentation out of images built on top, as debian:*-slim does.
  mkdir -p "${root}/etc/dpkg/dpkg.cfg.d"
  cat >"${root}/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  cat >"${root}/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Binary::apt::APT::Keep-Downloaded-Packages "false";
EOF
  : >"${root}/etc/hostname"
}

debootstrap_to() {
  local dir="$1" include="$2" args=(--variant=minbase)
  [[ -n "${include}" ]] && args+=("--include=${include}")
  log "debootstrap ${args[*]} bookworm (about a minute or two)"
  debootstrap "${args[@]}" bookworm "${dir}" "${MIRROR}" >"${WORK}/debootstrap.log" 2>&1 || {
    tail -n 30 "${WORK}/debootstrap.log" >&2
    die "debootstrap failed"
  }
}

# import NAME TARBALL CHANGE...: load the tarball into the engine under NAME.
import_tarball() {
  local name="$1" tarball="$2"
  shift 2
  local changes=(--change "LABEL parley.base-recipe=${RECIPE_OF_IMAGE}")
  local c
  for c in "$@"; do changes+=(--change "${c}"); done
  log "docker import ${tarball#"${REPO_ROOT}/"} as ${name}"
  "${DOCKER}" import "${changes[@]}" "${tarball}" "${name}" >/dev/null
}

# ensure_image IMAGE RECIPE TARBALL MAKE_ROOT NOTE CHANGE...: nothing when the engine has IMAGE
# made from RECIPE (it says so, with NOTE); otherwise IMAGE is imported from TARBALL (CHANGEs as
# for import_tarball), which is first made, when not cached, from the root file system that
# `MAKE_ROOT DIR` builds in DIR. MAKE_ROOT runs inside the caller, so it sees the caller's locals.
ensure_image() {
  local image="$1" tarball="$3" make_root="$4" note="$5"
  RECIPE_OF_IMAGE="$2"
  shift 5
  if [[ "$(image_recipe "${image}")" == "${RECIPE_OF_IMAGE}" ]]; then
    log "${image} is present${note}"
    return
  fi
  if [[ ! -s "${tarball}" ]]; then
    local root="${WORK}/${image%%:*}"
    "${make_root}" "${root}"
    tar --numeric-owner -C "${root}" -cf "${tarball}.part" .
    mv "${tarball}.part" "${tarball}"
  else
    log "using cached ${tarball#"${REPO_ROOT}/"}"
  fi
  import_tarball "${image}" "${tarball}" "$@"
}

slim_root() {
  debootstrap_to "$1" ""
  slim_down "$1"
}

ensure_slim() {
  ensure_image "${SLIM_IMAGE}" "${RECIPE}" "${CACHE}/debian-bookworm-slim-${RECIPE}.tar" slim_root "" 'CMD ["bash"]'
}

# rust_root DIR: the slim system plus build tools and this machine's toolchain (from ensure_rust:
# sees its `sysroot` and `version`).
rust_root() {
  local root="$1" toolchain="${version}-x86_64-unknown-linux-gnu"
  debootstrap_to "${root}" "build-essential,pkg-config,ca-certificates"
  slim_down "${root}"
  log "copying the Rust ${version} toolchain from ${sysroot} (without its HTML docs)"
  mkdir -p "${root}/usr/local/rustup/toolchains/${toolchain}" "${root}/usr/local/cargo/bin"
  tar -C "${sysroot}" --exclude=./share/doc -cf - . |
    tar -C "${root}/usr/local/rustup/toolchains/${toolchain}" -xf -
  printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\nauto_self_update = "disable"\n\n[overrides]\n' \
    "${toolchain}" >"${root}/usr/local/rustup/settings.toml"
  local rustup_bin
  rustup_bin="$(command -v rustup || true)"
  if [[ -n "${rustup_bin}" ]]; then
    # The official layout: rustup and its proxies in CARGO_HOME/bin.
    install -m 0755 "${rustup_bin}" "${root}/usr/local/cargo/bin/rustup"
    local tool
    for tool in cargo rustc rustdoc cargo-clippy clippy-driver rustfmt cargo-fmt; do
      [[ -e "${sysroot}/bin/${tool}" ]] && ln -s rustup "${root}/usr/local/cargo/bin/${tool}"
    done
  else
    local tool
    for tool in "${sysroot}"/bin/*; do
      ln -s "/usr/local/rustup/toolchains/${toolchain}/bin/${tool##*/}" "${root}/usr/local/cargo/bin/"
    done
  fi
  chmod -R a+rX,go-w "${root}/usr/local/rustup" "${root}/usr/local/cargo"
}

ensure_rust() {
  [[ -n "${RUST_IMAGE}" ]] || die "no 'FROM rust:… AS builder' line in the Dockerfile"
  local sysroot version
  sysroot="$(rustc --print sysroot)" || die "rustc not found: the Rust image copies this machine's toolchain"
  version="$(rustc --version | awk '{print $2}')"
  local want="${RUST_IMAGE#rust:}"
  want="${want%-bookworm}"
  if [[ "${version}" != "${want}" && "${version}" != "${want}".* ]]; then
    log "warning: this machine has Rust ${version}; ${RUST_IMAGE} is made from it anyway"
  fi
  ensure_image "${RUST_IMAGE}" "${RECIPE}-${version}" "${CACHE}/rust-${version}-bookworm-${RECIPE}.tar" rust_root " (Rust ${version})" \
    'ENV RUSTUP_HOME=/usr/local/rustup' \
    'ENV CARGO_HOME=/usr/local/cargo' \
    'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "ENV RUST_VERSION=${version}" \
    'CMD ["bash"]'
}

main() {
  ((EUID == 0)) || die "run as root (debootstrap needs it)"
  command -v debootstrap >/dev/null || die "debootstrap is not installed"
  mkdir -p "${CACHE}"
  WORK="$(mktemp -d "${CACHE}/rootfs.XXXXXX")"
  # Old tarballs of other recipes are dead weight.
  find "${CACHE}" -maxdepth 1 -name '*.tar' ! -name "*-${RECIPE}.tar" -delete
  local what="${1:-all}"
  case "${what}" in
    all) ensure_slim; ensure_rust ;;
    slim) ensure_slim ;;
    rust) ensure_rust ;;
    *) die "usage: $0 [all|slim|rust]" ;;
  esac
}

main "$@"
