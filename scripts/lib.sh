# shellcheck shell=bash
# Shared by the scripts in scripts/ (sourced, never run): where the checkout and cargo's build
# output are, and the server binary the tests run.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The checkout (this file's parent folder's parent), and cargo's target directory.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
BUILD_DIR="${CARGO_TARGET_DIR:-${REPO_ROOT}/target}"
readonly BUILD_DIR

# server_binary NAME: sets BIN to the server binary ($PARLEY_BIN, default the debug build);
# when there is none, says so as NAME and exits 2.
server_binary() {
  BIN="${PARLEY_BIN:-${BUILD_DIR}/debug/parley}"
  [[ -x "${BIN}" ]] || { echo "$1: no server binary at ${BIN} (cargo build --bin parley)" >&2; exit 2; }
}
