#!/usr/bin/env bash
# IMAP intake benchmark: throughput from a private local Dovecot into SQLite and the IDLE
# arrival-to-acknowledgement latency, in process (see `aduan-bench imap --help`), beside the
# raw baseline (one UID FETCH 1:* of the same mailbox into one SQLite transaction); then the
# issue-16 timer figures: SLA escalation lateness and outbound acknowledgements/s to a
# local SMTP sink. Each figure is printed against its target.
#
#   bench/run-imap.sh                              # 5,000 messages; 50 latency messages;
#                                                  # 20 escalations; 5,000 outbound
#   MESSAGES=20000 LATENCY=100 bench/run-imap.sh
#   MESSAGES=0 LATENCY=0 bench/run-imap.sh         # only the timers (no Dovecot)
#
# Builds the release bench binary, then runs `aduan-bench imap --json`, which starts and
# stops its own Dovecot through scripts/dovecot-test (installing dovecot-imapd with apt-get
# when missing; needs root) on a free 127.0.0.1 port. Exits non-zero when a correctness
# check fails (complaints, acknowledgements queued, archived mail).
#
# Environment (all optional):
#   MESSAGES=5000  LATENCY=50  INTERVAL=200ms  ESCALATIONS=20  OUTBOUND=5000
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
  --interval "${INTERVAL:-200ms}" --escalations "${ESCALATIONS:-20}" \
  --outbound "${OUTBOUND:-5000}" --json
