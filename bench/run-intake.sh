#!/usr/bin/env bash
# Intake benchmark of the aduan daemon, end to end, on a throw-away SQLite database.
#
#   bench/run-intake.sh                          # 64 clients, 3 s warm-up, 20 s measured
#   CLIENTS=16 DURATION=10s bench/run-intake.sh
#
# Builds the release binaries, starts `aduan serve` on 127.0.0.1:$PORT with a fresh database
# in a temp dir and the web rate limit off, waits for GET /healthz, records the idle RSS,
# runs `aduan-bench intake --pid <daemon>` against it, stops the daemon (SIGTERM) and checks
# with the sqlite3 CLI that the complaints table holds exactly as many rows as the
# benchmark got 201 answers. Exits non-zero if anything fails or the counts differ.
#
# Environment (all optional):
#   CLIENTS=64  DURATION=20s  WARMUP=3s   load shape (aduan-bench intake flags)
#   PORT=18080                            daemon listen port (loopback only)
#   CARGO_TARGET_DIR=target               where cargo builds and the binaries are taken from
#   SKIP_BUILD=1                          use the binaries already built
#   ADUAN_BIN=...  BENCH_BIN=...          other binaries (default: $CARGO_TARGET_DIR/release/…)
#   KEEP_TMP=1                            keep the temp dir (database, daemon log, report)
#   CONFIG=config/aduan.toml              the daemon's config (another checkout's, to compare)
#   DETAIL=1  DETAIL_CLIENTS=4            then time the kasi's detail view on the full
#                                         database (aduan-bench detail; 0 skips it)
# Needs: cargo (unless SKIP_BUILD=1), curl, sqlite3.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[run-intake] %s\n' "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }

CLIENTS="${CLIENTS:-64}"
DURATION="${DURATION:-20s}"
WARMUP="${WARMUP:-3s}"
PORT="${PORT:-18080}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
ADUAN_BIN="${ADUAN_BIN:-$CARGO_TARGET_DIR/release/aduan}"
BENCH_BIN="${BENCH_BIN:-$CARGO_TARGET_DIR/release/aduan-bench}"
BASE="http://127.0.0.1:$PORT"
CONFIG="${CONFIG:-config/aduan.toml}"
DETAIL="${DETAIL:-1}"
DETAIL_CLIENTS="${DETAIL_CLIENTS:-4}"

for tool in curl sqlite3; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required (apt-get install $tool)"
done

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "cargo build --release -p aduan -p aduan-bench (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  cargo build --release -p aduan -p aduan-bench
fi
[ -x "$ADUAN_BIN" ] || die "no daemon binary at $ADUAN_BIN"
[ -x "$BENCH_BIN" ] || die "no bench binary at $BENCH_BIN"

# Refuse to benchmark whatever else may already answer on the port.
if curl -s -o /dev/null --max-time 2 "$BASE/healthz"; then
  die "something already answers on $BASE; set PORT to a free port"
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/aduan-bench.XXXXXX")"
DAEMON_PID=""
BENCH_PID=""

# Alive and not a zombie (a child that exited but is not yet reaped still passes kill -0).
alive() {
  local st
  st="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# SIGTERM the daemon we started (and only it), wait up to $2 seconds, then SIGKILL; reap it
# and leave its exit status in DAEMON_RC. (Not in a subshell: only this shell can reap it.)
DAEMON_RC=""
stop_daemon() {
  local pid="$1" grace="$2" i
  DAEMON_RC=0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    say "daemon $pid still running after ${grace}s; SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || DAEMON_RC=$?
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  if [ -n "$BENCH_PID" ]; then
    kill -TERM "$BENCH_PID" 2>/dev/null || true
    wait "$BENCH_PID" 2>/dev/null || true
    BENCH_PID=""
  fi
  if [ -n "$DAEMON_PID" ]; then
    say "stopping daemon $DAEMON_PID" >&2
    stop_daemon "$DAEMON_PID" 10
    DAEMON_PID=""
  fi
  if [ "$rc" != 0 ] && [ -s "$TMP/daemon.log" ]; then
    say "last lines of the daemon log:" >&2
    tail -n 20 "$TMP/daemon.log" >&2 || true
  fi
  if [ "${KEEP_TMP:-0}" = 1 ]; then
    say "kept $TMP" >&2
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "starting $ADUAN_BIN serve on $BASE (database $TMP/bench.db)"
# The identity key of this throw-away database lives with it (only for a version that has
# [privacy]: an older one would refuse the unknown key).
if grep -q '^\[privacy\]' "$CONFIG"; then export ADUAN__PRIVACY__KEY_FILE="$TMP/identity.key"; fi
ADUAN__DATABASE__URL="sqlite://$TMP/bench.db" \
ADUAN__SERVER__LISTEN="127.0.0.1:$PORT" \
ADUAN__SERVER__PUBLIC_BASE_URL="$BASE" \
ADUAN__CHANNELS__WEB__RATE_LIMIT=off \
  "$ADUAN_BIN" serve --config "$CONFIG" >"$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!

ready=0
for ((i = 0; i < 300; i++)); do
  alive "$DAEMON_PID" || die "the daemon exited during start-up"
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$BASE/healthz" || true)"
  if [ "$code" = 200 ]; then ready=1; break; fi
  sleep 0.1
done
[ "$ready" = 1 ] || die "GET $BASE/healthz did not answer 200 within 30 s"
say "daemon $DAEMON_PID healthy; letting it settle for 2 s"
sleep 2
say "idle memory of the daemon:"
"$BENCH_BIN" rss --pid "$DAEMON_PID" | sed 's/^/  /'

# The daemon's CPU time (user + system, clock ticks) around the load: CPU per complaint is
# steadier than throughput on a machine shared with other work.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu_before="$(cpu_ticks "$DAEMON_PID")"
say "aduan-bench intake --clients $CLIENTS --warmup $WARMUP --duration $DURATION"
# In the background and waited for, so that a SIGTERM to this script is acted on at once.
bench_rc=0
"$BENCH_BIN" intake --url "$BASE" --clients "$CLIENTS" --warmup "$WARMUP" \
  --duration "$DURATION" --pid "$DAEMON_PID" --json >"$TMP/intake.out" &
BENCH_PID=$!
wait "$BENCH_PID" || bench_rc=$?
BENCH_PID=""
# The table for people, without the JSON line (kept in $TMP/intake.out).
grep -v '^{' "$TMP/intake.out" || true
json="$(grep '^{' "$TMP/intake.out" | tail -n 1 || true)"
[ -n "$json" ] || die "aduan-bench intake printed no report (exit $bench_rc)"
cpu_after="$(cpu_ticks "$DAEMON_PID")"
made="$(grep -o '"created_201":[0-9]*' <<<"$json" | cut -d: -f2)"
if [ -n "$made" ] && [ "$made" -gt 0 ]; then
  say "daemon CPU per complaint: $(awk -v t="$((cpu_after - cpu_before))" -v n="$made" \
    -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }') µs \
($((cpu_after - cpu_before)) ticks for $made complaints, warm-up included)"
fi
echo "$json" >"$TMP/intake.json"

detail_rc=0
if [ "$DETAIL" = 1 ]; then
  token="$(ADUAN__DATABASE__URL="sqlite://$TMP/bench.db" "$ADUAN_BIN" --config "$CONFIG" \
    user add --username benchkasi --role kasi | tail -n 1)"
  say "aduan-bench detail --clients $DETAIL_CLIENTS (kasi views on the $(sqlite3 "$TMP/bench.db" \
    'SELECT COUNT(*) FROM complaints')-complaint database)"
  "$BENCH_BIN" detail --url "$BASE" --token "$token" --clients "$DETAIL_CLIENTS" \
    --duration 10s || detail_rc=$?
fi

say "stopping daemon $DAEMON_PID (SIGTERM)"
stop_daemon "$DAEMON_PID" 30
DAEMON_PID=""
daemon_rc="$DAEMON_RC"
say "daemon exited with status $daemon_rc"

created="$(grep -o '"created_201":[0-9]*' <<<"$json" | cut -d: -f2)"
[ -n "$created" ] || die "no created_201 in the report"
# The detail run filed 200 complaints of its own.
[ "$DETAIL" = 1 ] && created=$((created + 200))
rows="$(sqlite3 "$TMP/bench.db" 'SELECT COUNT(*) FROM complaints')"
say "201 responses reported by aduan-bench: $created"
say "rows in complaints (sqlite3):          $rows"

status=0
if [ "$rows" != "$created" ]; then
  say "MISMATCH: the database holds $rows complaints but $created were acknowledged with 201" >&2
  status=1
else
  say "counts agree"
fi
if [ "$bench_rc" != 0 ]; then
  say "aduan-bench intake exited with status $bench_rc" >&2
  status=1
fi
if [ "$detail_rc" != 0 ]; then
  say "aduan-bench detail exited with status $detail_rc" >&2
  status=1
fi
if [ "$daemon_rc" != 0 ]; then
  say "the daemon did not exit cleanly on SIGTERM (status $daemon_rc)" >&2
  status=1
fi
exit "$status"
