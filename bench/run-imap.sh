#!/usr/bin/env bash
# IMAP intake benchmark: throughput from a private local Dovecot into SQLite and the IDLE
# arrival-to-acknowledgement latency, in process (see `aduan-bench imap --help`).
#
#   bench/run-imap.sh                              # 5,000 messages; 50 latency messages
#   MESSAGES=20000 LATENCY=100 bench/run-imap.sh
#
# Builds the release bench binary, then runs `aduan-bench imap --json`, which starts and
# stops its own Dovecot through scripts/dovecot-test (installing dovecot-imapd with apt-get
# when missing; needs root) on a free 127.0.0.1 port. Exits non-zero when a correctness
# check fails (complaints, acknowledgements queued, archived mail).
#
# Environment (all optional):
#   MESSAGES=5000  LATENCY=50  INTERVAL=200ms
#   CARGO_TARGET_DIR=target   SKIP_BUILD=1   BENCH_BIN=...
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
BENCH_BIN="${BENCH_BIN:-$CARGO_TARGET_DIR/release/aduan-bench}"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  echo "[run-imap] cargo build --release -p aduan-bench (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  cargo build --release -p aduan-bench
fi
[ -x "$BENCH_BIN" ] || { echo "[run-imap] no bench binary at $BENCH_BIN" >&2; exit 1; }
exec "$BENCH_BIN" imap --messages "${MESSAGES:-5000}" --latency-messages "${LATENCY:-50}" \
  --interval "${INTERVAL:-200ms}" --json
