#!/usr/bin/env bash
# Sets up what the tests need (protoc, nats-server into .venv/) and runs every test of the
# workspace against real nats-server processes and the sandbox, then the local stack's smoke
# run (deploy/local/up.sh --smoke). This is what CI runs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. tests/setup.sh

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --profile ci "$@"
else
  echo "run.sh: cargo-nextest not found, using cargo test" >&2
  cargo test --workspace "$@"
fi
cargo test --workspace --doc --quiet

echo "==> local stack smoke run"
deploy/local/up.sh --smoke
