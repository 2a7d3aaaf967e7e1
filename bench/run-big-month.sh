#!/usr/bin/env bash
# Big-month benchmark: one month of $COMPLAINTS complaints (default 200,000) in a throw-away
# SQLite database, then
#   1. `aduan digest --month M` (build the report: figures aggregated by the database, the
#      frequent problems counted page by page): wall time and peak RSS (GNU time), $RUNS
#      times, the stored report deleted between runs;
#   2. `aduan export --month M --format F` for csv, xlsx, html: wall time and peak RSS;
#   3. each export through the staff API (GET /api/v1/admin/logbook?month=M&format=F) on a
#      fresh `aduan serve` per format: wall time (curl) and the daemon's VmHWM
#      (/proc/PID/status) after the download, with its idle VmRSS before it.
#
#   bench/run-big-month.sh
#   COMPLAINTS=20000 bench/run-big-month.sh        # a quicker look
#
# Environment (all optional):
#   COMPLAINTS=200000  MONTH=2026-03  RUNS=3  PORT=18090  EXPORTS=1 (0: the digest only)
#   CARGO_TARGET_DIR=target  SKIP_BUILD=1  KEEP_TMP=1  DB=…(reuse a filled database + KEY)
# Needs: cargo (unless SKIP_BUILD=1), curl, sqlite3, GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[run-big-month] %s\n' "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }

COMPLAINTS="${COMPLAINTS:-200000}"
MONTH="${MONTH:-2026-03}"
RUNS="${RUNS:-3}"
PORT="${PORT:-18090}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
ADUAN_BIN="${ADUAN_BIN:-$CARGO_TARGET_DIR/release/aduan}"
MONTH_BIN="${MONTH_BIN:-$CARGO_TARGET_DIR/release/aduan-month}"
BASE="http://127.0.0.1:$PORT"
TOKEN="kasi-bench-token-0123456789abcdef"

for tool in curl sqlite3 /usr/bin/time; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done
BENCH_BIN="$MONTH_BIN"
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_prepare
TMP="$(mktemp -d "${TMPDIR:-/tmp}/aduan-big-month.XXXXXX")"
DAEMON_PID=""
bench_traps

DB="${DB:-}"
KEY="${KEY:-$TMP/identity.key}"
if [ -z "$DB" ]; then
  DB="$TMP/big.db"
  say "filling $DB with $COMPLAINTS complaints in $MONTH"
  "$MONTH_BIN" --db "sqlite://$DB" --key-file "$KEY" --complaints "$COMPLAINTS" \
    --month "$MONTH" --token "$TOKEN"
fi
export ADUAN__DATABASE__URL="sqlite://$DB"
export ADUAN__PRIVACY__KEY_FILE="$KEY"
export ADUAN__SERVER__LISTEN="127.0.0.1:$PORT"
export ADUAN__SERVER__PUBLIC_BASE_URL="$BASE"
say "database: $(du -h "$DB" | cut -f1), $(sqlite3 "$DB" 'SELECT COUNT(*) FROM complaints') complaints, $(sqlite3 "$DB" 'SELECT COUNT(*) FROM history') history lines"

# "wall_s max_rss_mb" of a command (GNU time).
measure() {
  /usr/bin/time -f '%e %M' -o "$TMP/time" "$@" >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err" >&2; die "$* failed"; }
  awk '{printf "%s %.0f\n", $1, $2/1024}' "$TMP/time"
}

echo
echo "| step | wall s | peak RSS MiB |"
echo "|---|---|---|"
for ((r = 1; r <= RUNS; r++)); do
  sqlite3 "$DB" "DELETE FROM reports WHERE month = '$MONTH'"
  read -r wall rss < <(measure "$ADUAN_BIN" digest --month "$MONTH" --config config/aduan.toml)
  echo "| aduan digest (run $r) | $wall | $rss |"
done
if [ "$RUNS" -gt 0 ]; then grep -o '"complaints":[0-9]*' "$TMP/out" | head -1 >&2; fi
if [ "${EXPORTS:-1}" != 1 ]; then exit 0; fi
for f in csv xlsx html; do
  read -r wall rss < <(measure "$ADUAN_BIN" export --month "$MONTH" --format "$f" --out "$TMP/export.$f" --config config/aduan.toml)
  echo "| aduan export $f ($(du -h "$TMP/export.$f" | cut -f1)) | $wall | $rss |"
  rm -f "$TMP/export.$f"
done

status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
for f in csv xlsx html; do
  "$ADUAN_BIN" serve --config config/aduan.toml >"$TMP/daemon.log" 2>&1 &
  DAEMON_PID=$!
  wait_healthy "$DAEMON_PID" "$BASE"
  sleep 2
  idle=$(status_kb "$DAEMON_PID" VmRSS)
  read -r code wall size < <(curl -s -o "$TMP/api.$f" -w '%{http_code} %{time_total} %{size_download}\n' \
    -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/admin/logbook?month=$MONTH&format=$f")
  [ "$code" = 200 ] || die "API export $f answered $code"
  hwm=$(status_kb "$DAEMON_PID" VmHWM)
  echo "| API export $f ($((size / 1048576)) MiB) | $wall | daemon VmHWM $((hwm / 1024)) (idle $((idle / 1024))) |"
  rm -f "$TMP/api.$f"
  stop_daemon "$DAEMON_PID" 30; DAEMON_PID=""
done
