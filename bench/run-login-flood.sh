#!/usr/bin/env bash
# Login-flood benchmark of the aduan daemon (issue 14), on a throw-away SQLite database.
#
#   bench/run-login-flood.sh                     # 500 logins at once from 100 addresses
#   LOGINS=192 SOURCES=1 bench/run-login-flood.sh
#
# Builds the release binaries, starts `aduan serve` on the shipped config (only the database,
# the listen address and the identity key file moved to a temp dir), creates an account with
# `aduan user add --password-stdin`, then runs `aduan-bench login-flood --pid <daemon>`:
# every login form fetched first, then all posted at once from loopback addresses
# 127.0.0.2…, while GET /healthz is timed every 20 ms and the daemon's VmRSS sampled. Prints
# the answers by status, /healthz p99/max and peak RSS / VmHWM against the targets
# (RSS ≤ 150 MB, /healthz ≤ 100 ms); exits non-zero when one is missed or anything fails.
#
# Environment (all optional):
#   LOGINS=500  SOURCES=100                flood shape (aduan-bench login-flood flags)
#   PORT=18081                            daemon listen port (loopback only)
#   CARGO_TARGET_DIR=target               where cargo builds and the binaries are taken from
#   SKIP_BUILD=1                          use the binaries already built
#   ADUAN_BIN=...  BENCH_BIN=...          other binaries (default: $CARGO_TARGET_DIR/release/…)
#   KEEP_TMP=1                            keep the temp dir (database, daemon log, report)
#   CONFIG=config/aduan.toml              the daemon's config (another checkout's, to compare)
# Needs: cargo (unless SKIP_BUILD=1), curl.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[run-login-flood] %s\n' "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }

LOGINS="${LOGINS:-500}"
SOURCES="${SOURCES:-100}"
PORT="${PORT:-18081}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
ADUAN_BIN="${ADUAN_BIN:-$CARGO_TARGET_DIR/release/aduan}"
BENCH_BIN="${BENCH_BIN:-$CARGO_TARGET_DIR/release/aduan-bench}"
BASE="http://127.0.0.1:$PORT"
CONFIG="${CONFIG:-config/aduan.toml}"
USERNAME=bench.kasi
PASSWORD="banjir-masuk-$RANDOM$RANDOM"

command -v curl >/dev/null 2>&1 || die "curl is required (apt-get install curl)"

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_prepare
TMP="$(mktemp -d "${TMPDIR:-/tmp}/aduan-login-flood.XXXXXX")"
DAEMON_PID=""
BENCH_PID=""
bench_traps

# The daemon and the CLI share these: a throw-away database and identity key, and a session
# secret (so nothing is written under ./data).
if grep -q '^\[privacy\]' "$CONFIG"; then export ADUAN__PRIVACY__KEY_FILE="$TMP/identity.key"; fi
export ADUAN__DATABASE__URL="sqlite://$TMP/bench.db"
export ADUAN__SERVER__LISTEN="127.0.0.1:$PORT"
export ADUAN__SERVER__PUBLIC_BASE_URL="$BASE"
export ADUAN_ADMIN_SESSION_SECRET="login-flood-$RANDOM$RANDOM"

say "starting $ADUAN_BIN serve on $BASE (database $TMP/bench.db)"
"$ADUAN_BIN" serve --config "$CONFIG" >"$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!

wait_healthy "$DAEMON_PID" "$BASE"

say "aduan user add --username $USERNAME --role kasi --password-stdin"
printf '%s\n' "$PASSWORD" | "$ADUAN_BIN" --config "$CONFIG" \
  user add --username "$USERNAME" --role kasi --password-stdin >/dev/null
say "daemon $DAEMON_PID healthy; letting it settle for 2 s"
sleep 2
say "idle memory of the daemon:"
"$BENCH_BIN" rss --pid "$DAEMON_PID" | sed 's/^/  /'

say "aduan-bench login-flood --logins $LOGINS --sources $SOURCES"
bench_rc=0
BENCH_LOGIN_PASSWORD="$PASSWORD" "$BENCH_BIN" login-flood --url "$BASE" \
  --username "$USERNAME" --logins "$LOGINS" --sources "$SOURCES" --pid "$DAEMON_PID" \
  --json >"$TMP/flood.out" &
BENCH_PID=$!
wait "$BENCH_PID" || bench_rc=$?
BENCH_PID=""
grep -v '^{' "$TMP/flood.out" || true
grep '^{' "$TMP/flood.out" | tail -n 1 >"$TMP/flood.json" || true
[ -s "$TMP/flood.json" ] || die "aduan-bench login-flood printed no report (exit $bench_rc)"

say "stopping daemon $DAEMON_PID (SIGTERM)"
stop_daemon "$DAEMON_PID" 30
DAEMON_PID=""
daemon_rc="$DAEMON_RC"
say "daemon exited with status $daemon_rc"

status=0
if [ "$bench_rc" != 0 ]; then
  say "aduan-bench login-flood exited with status $bench_rc (a target missed or a failure)" >&2
  status=1
fi
if [ "$daemon_rc" != 0 ]; then
  say "the daemon did not exit cleanly on SIGTERM (status $daemon_rc)" >&2
  status=1
fi
exit "$status"
