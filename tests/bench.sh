#!/usr/bin/env bash
# Benchmarks (release build): throughput of ingest and of the whole pipeline, as ratios to raw
# JetStream publish-ack throughput measured in the same run. Usage: tests/bench.sh [--n 3000]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. tests/setup.sh
RUST_LOG="${RUST_LOG:-warn}" cargo run --release --quiet -p relay-bench -- "$@"
