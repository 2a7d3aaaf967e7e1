#!/usr/bin/env bash
# Intake benchmark of the aduan daemon, end to end, on a throw-away SQLite or PostgreSQL
# database.
#
#   bench/run-intake.sh                          # 64 clients, 3 s warm-up, 20 s measured
#   CLIENTS=16 DURATION=10s bench/run-intake.sh
#   DB=postgres bench/run-intake.sh              # one daemon on a fresh PostgreSQL database
#   DB=postgres REPLICAS=3 bench/run-intake.sh   # one daemon, then three on one database
#
# PostgreSQL (DB=postgres): a database `aduan_bench_<random>` is created on $PG_SERVER for
# every pass and dropped at the end; rows are counted with psql. With REPLICAS=N (N > 1) the
# script runs two passes on fresh databases: first one daemon, then N daemons sharing one
# database (ports $PORT, $PORT+1, …, distinct ADUAN_REPLICA_IDs, one identity key) with
# `aduan-bench intake` spreading requests round-robin over them; it prints both passes'
# throughput, p50 and p99 and the N-replica / 1-replica throughput ratio. It also reports,
# per pass, the CPU of the daemons and of the PostgreSQL backends serving the bench
# database, and the database's committed transactions (complaints per transaction is the
# mean group-commit size).
#
# Builds the release binaries, starts `aduan serve` on 127.0.0.1:$PORT with a fresh database
# in a temp dir and the web rate limit off, waits for GET /healthz, records the idle RSS,
# runs `aduan-bench intake --pid <daemon>` against it, stops the daemon (SIGTERM) and checks
# with the sqlite3 CLI that the complaints table holds exactly as many rows as the
# benchmark got 201 answers. Exits non-zero if anything fails or the counts differ.
#
# Environment (all optional):
#   CLIENTS=64  DURATION=20s  WARMUP=3s   load shape (aduan-bench intake flags)
#   DB=sqlite                             or postgres
#   PG_SERVER=postgres://postgres@127.0.0.1:5432   PostgreSQL server (DB=postgres)
#   REPLICAS=1                            daemons on one database (more needs DB=postgres)
#   BASELINE=1                            with REPLICAS>1, run the one-daemon pass first
#   PORT=18080                            first daemon's listen port (loopback only)
#   CARGO_TARGET_DIR=target               where cargo builds and the binaries are taken from
#   SKIP_BUILD=1                          use the binaries already built
#   ADUAN_BIN=...  BENCH_BIN=...          other binaries (default: $CARGO_TARGET_DIR/release/…)
#   KEEP_TMP=1                            keep the temp dir (database, daemon log, report)
#   CONFIG=config/aduan.toml              the daemon's config (another checkout's, to compare)
#   DETAIL=1  DETAIL_CLIENTS=4            then time the kasi's detail view on the full
#                                         database (aduan-bench detail; 0 skips it; on
#                                         PostgreSQL the default is 0)
# Needs: cargo (unless SKIP_BUILD=1), curl, sqlite3 (DB=sqlite) or psql (DB=postgres).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[run-intake] %s\n' "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }

CLIENTS="${CLIENTS:-64}"
DURATION="${DURATION:-20s}"
WARMUP="${WARMUP:-3s}"
PORT="${PORT:-18080}"
DB="${DB:-sqlite}"
PG_SERVER="${PG_SERVER:-postgres://postgres@127.0.0.1:5432}"
REPLICAS="${REPLICAS:-1}"
BASELINE="${BASELINE:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
ADUAN_BIN="${ADUAN_BIN:-$CARGO_TARGET_DIR/release/aduan}"
BENCH_BIN="${BENCH_BIN:-$CARGO_TARGET_DIR/release/aduan-bench}"
CONFIG="${CONFIG:-config/aduan.toml}"
DETAIL_CLIENTS="${DETAIL_CLIENTS:-4}"

case "$DB" in
  sqlite) DETAIL="${DETAIL:-1}"; tools="curl sqlite3" ;;
  postgres) DETAIL="${DETAIL:-0}"; tools="curl psql" ;;
  *) die "DB must be sqlite or postgres, not $DB" ;;
esac
[[ "$REPLICAS" =~ ^[1-9][0-9]*$ ]] || die "REPLICAS must be a positive number"
if [ "$REPLICAS" -gt 1 ] && [ "$DB" != postgres ]; then
  die "REPLICAS>1 needs DB=postgres (replicas share one database server)"
fi
for tool in $tools; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required (apt-get install $tool)"
done

BASE="http://127.0.0.1:$PORT"
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_prepare

# Refuse to benchmark whatever else may already answer on the ports.
for ((r = 0; r < REPLICAS; r++)); do
  if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$((PORT + r))/healthz"; then
    die "something already answers on 127.0.0.1:$((PORT + r)); set PORT to a free port"
  fi
done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/aduan-bench.XXXXXX")"
DAEMON_PIDS=()
BENCH_PID=""
PG_DBS=()

# Stop every daemon of the pass; DAEMONS_RC is the first non-zero exit status (or 0).
DAEMONS_RC=0
stop_daemons() {
  local pid
  DAEMONS_RC=0
  for pid in "${DAEMON_PIDS[@]}"; do
    say "stopping daemon $pid (SIGTERM)"
    stop_daemon "$pid" "$1"
    say "daemon $pid exited with status $DAEMON_RC"
    [ "$DAEMONS_RC" = 0 ] && DAEMONS_RC="$DAEMON_RC"
  done
  DAEMON_PIDS=()
}

psql_q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

drop_pg() {
  local db="$1"
  psql_q "$PG_SERVER/postgres" "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null ||
    say "could not drop database $db" >&2
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$? db
  if [ -n "$BENCH_PID" ]; then
    kill -TERM "$BENCH_PID" 2>/dev/null || true
    wait "$BENCH_PID" 2>/dev/null || true
    BENCH_PID=""
  fi
  if [ "${#DAEMON_PIDS[@]}" -gt 0 ]; then
    stop_daemons 10 >&2
  fi
  if [ "$rc" != 0 ]; then
    for log in "$TMP"/daemon*.log; do
      [ -s "$log" ] || continue
      say "last lines of $log:" >&2
      tail -n 20 "$log" >&2 || true
    done
  fi
  for db in "${PG_DBS[@]}"; do [ -n "$db" ] && drop_pg "$db"; done
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

# The identity key of the throw-away databases lives with them (only for a version that has
# [privacy]: an older one would refuse the unknown key). All replicas share it.
if grep -q '^\[privacy\]' "$CONFIG"; then export ADUAN__PRIVACY__KEY_FILE="$TMP/identity.key"; fi

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
sum_ticks() {
  local t=0 p
  for p in "$@"; do t=$((t + $(cpu_ticks "$p"))); done
  echo "$t"
}
per_complaint_us() {
  awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }'
}
json_num() { grep -o "\"$2\":[0-9.]*" <<<"$1" | head -n 1 | cut -d: -f2; }

# One pass: a fresh database, $1 daemons, the load, the checks. Leaves the report's JSON in
# PASS_JSON and returns non-zero if a check failed.
PASS_JSON=""
run_pass() {
  local n="$1" tag="$2" db_url db_name="" r port urls="" pids_csv pg_pids=()
  local status=0
  if [ "$DB" = postgres ]; then
    db_name="aduan_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
    psql_q "$PG_SERVER/postgres" "CREATE DATABASE $db_name" >/dev/null
    PG_DBS+=("$db_name")
    db_url="$PG_SERVER/$db_name"
  else
    db_url="sqlite://$TMP/bench-$tag.db"
  fi
  say "[$tag] $n daemon(s) on $DB ($db_url)"
  for ((r = 0; r < n; r++)); do
    port=$((PORT + r))
    ADUAN__DATABASE__URL="$db_url" \
    ADUAN__SERVER__LISTEN="127.0.0.1:$port" \
    ADUAN__SERVER__PUBLIC_BASE_URL="http://127.0.0.1:$port" \
    ADUAN__CHANNELS__WEB__RATE_LIMIT=off \
    ADUAN_REPLICA_ID="bench-$tag-$r" \
      "$ADUAN_BIN" serve --config "$CONFIG" >"$TMP/daemon-$tag-$r.log" 2>&1 &
    DAEMON_PIDS+=($!)
    # One at a time: the first migrates the database and writes the identity key.
    wait_healthy "$!" "http://127.0.0.1:$port"
    urls="${urls:+$urls,}http://127.0.0.1:$port"
  done
  say "[$tag] daemons ${DAEMON_PIDS[*]} healthy; letting them settle for 2 s"
  sleep 2
  say "[$tag] idle memory of the first daemon:"
  "$BENCH_BIN" rss --pid "${DAEMON_PIDS[0]}" | sed 's/^/  /'

  # CPU time (user + system, clock ticks) around the load: CPU per complaint is steadier
  # than throughput on a machine shared with other work. On PostgreSQL also the backends of
  # the bench database (the daemons' pooled connections, opened at start-up).
  if [ "$DB" = postgres ]; then
    mapfile -t pg_pids < <(psql_q "$PG_SERVER/postgres" \
      "SELECT pid FROM pg_stat_activity WHERE datname = '$db_name'")
  fi
  local cpu_before pg_before cpu_after pg_after
  cpu_before="$(sum_ticks "${DAEMON_PIDS[@]}")"
  pg_before="$(sum_ticks "${pg_pids[@]}")"
  say "[$tag] aduan-bench intake --url $urls --clients $CLIENTS --warmup $WARMUP --duration $DURATION"
  # In the background and waited for, so that a SIGTERM to this script is acted on at once.
  local bench_rc=0
  "$BENCH_BIN" intake --url "$urls" --clients "$CLIENTS" --warmup "$WARMUP" \
    --duration "$DURATION" --pid "${DAEMON_PIDS[0]}" --json >"$TMP/intake-$tag.out" &
  BENCH_PID=$!
  wait "$BENCH_PID" || bench_rc=$?
  BENCH_PID=""
  # The table for people, without the JSON line (kept in $TMP/intake-$tag.out).
  grep -v '^{' "$TMP/intake-$tag.out" || true
  local json
  json="$(grep '^{' "$TMP/intake-$tag.out" | tail -n 1 || true)"
  [ -n "$json" ] || die "aduan-bench intake printed no report (exit $bench_rc)"
  cpu_after="$(sum_ticks "${DAEMON_PIDS[@]}")"
  pg_after="$(sum_ticks "${pg_pids[@]}")"
  local made
  made="$(json_num "$json" created_201)"
  if [ -n "$made" ] && [ "$made" -gt 0 ]; then
    say "[$tag] daemon CPU per complaint: $(per_complaint_us "$((cpu_after - cpu_before))" "$made") µs \
($((cpu_after - cpu_before)) ticks of $n daemon(s) for $made complaints, warm-up included)"
    if [ "$DB" = postgres ]; then
      say "[$tag] PostgreSQL CPU per complaint: $(per_complaint_us "$((pg_after - pg_before))" "$made") µs \
($((pg_after - pg_before)) ticks of ${#pg_pids[@]} backends of $db_name)"
    fi
  fi
  PASS_JSON="$json"

  local detail_rc=0
  if [ "$DETAIL" = 1 ]; then
    local token
    token="$(ADUAN__DATABASE__URL="$db_url" "$ADUAN_BIN" --config "$CONFIG" \
      user add --username benchkasi --role kasi | tail -n 1)"
    say "[$tag] aduan-bench detail --clients $DETAIL_CLIENTS (kasi views)"
    "$BENCH_BIN" detail --url "http://127.0.0.1:$PORT" --token "$token" \
      --clients "$DETAIL_CLIENTS" --duration 10s || detail_rc=$?
  fi

  stop_daemons 30
  local daemon_rc="$DAEMONS_RC"

  local created rows
  created="$(json_num "$json" created_201)"
  [ -n "$created" ] || die "no created_201 in the report"
  # The detail run filed 200 complaints of its own.
  [ "$DETAIL" = 1 ] && created=$((created + 200))
  if [ "$DB" = postgres ]; then
    rows="$(psql_q "$db_url" 'SELECT COUNT(*) FROM complaints')"
    # Every number taken is held by one committed complaint: the counters sum to the rows,
    # and the tickets are distinct.
    local gaps
    gaps="$(psql_q "$db_url" "SELECT CASE WHEN COUNT(*) = COUNT(DISTINCT ticket) AND COUNT(*) = \
      (SELECT COALESCE(SUM(last), 0) FROM ticket_counters) THEN 0 ELSE 1 END FROM complaints")"
    # The daemons have exited, so their backends' statistics are flushed.
    local stats
    stats="$(psql_q "$PG_SERVER/postgres" "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated \
      FROM pg_stat_database WHERE datname = '$db_name'")"
    IFS='|' read -r xc xr ti tu <<<"$stats"
    say "[$tag] $db_name: $xc transactions committed, $xr rolled back, $ti rows inserted, $tu updated \
($(awk -v r="$rows" -v x="$xc" 'BEGIN { printf "%.1f", r / x }') complaints per committed transaction, reads included)"
    if [ "$gaps" != 0 ]; then
      say "[$tag] NUMBERING: counters and tickets disagree ($gaps)" >&2
      status=1
    else
      say "[$tag] ticket counters = complaints = distinct tickets (no gap, no duplicate)"
    fi
  else
    rows="$(sqlite3 "$TMP/bench-$tag.db" 'SELECT COUNT(*) FROM complaints')"
  fi
  say "[$tag] 201 responses reported by aduan-bench: $created"
  say "[$tag] rows in complaints:                    $rows"
  if [ "$rows" != "$created" ]; then
    say "[$tag] MISMATCH: the database holds $rows complaints but $created were acknowledged with 201" >&2
    status=1
  else
    say "[$tag] counts agree"
  fi
  if [ "$bench_rc" != 0 ]; then
    say "[$tag] aduan-bench intake exited with status $bench_rc" >&2
    status=1
  fi
  if [ "$detail_rc" != 0 ]; then
    say "[$tag] aduan-bench detail exited with status $detail_rc" >&2
    status=1
  fi
  if [ "$daemon_rc" != 0 ]; then
    say "[$tag] a daemon did not exit cleanly on SIGTERM (status $daemon_rc)" >&2
    status=1
  fi
  if [ "$DB" = postgres ]; then
    drop_pg "$db_name"
    PG_DBS=("${PG_DBS[@]/$db_name/}")
  fi
  return "$status"
}

summary() {
  printf '  %-12s %12s %10s %10s\n' "$1" "$(json_num "$2" complaints_per_s)" \
    "$(grep -o '"p50":[0-9.]*' <<<"$2" | cut -d: -f2)" "$(grep -o '"p99":[0-9.]*' <<<"$2" | cut -d: -f2)"
}

status=0
one_json=""
if [ "$REPLICAS" = 1 ] || [ "$BASELINE" = 1 ]; then
  run_pass 1 one || status=1
  one_json="$PASS_JSON"
  echo "$one_json" >"$TMP/intake.json"
fi
if [ "$REPLICAS" -gt 1 ]; then
  [ -n "$one_json" ] && sleep 2
  run_pass "$REPLICAS" "r$REPLICAS" || status=1
  many_json="$PASS_JSON"
  echo "$many_json" >"$TMP/intake-r$REPLICAS.json"
fi

echo
say "summary ($DB, $CLIENTS clients, $DURATION measured)"
printf '  %-12s %12s %10s %10s\n' daemons complaints/s "p50 ms" "p99 ms"
[ -n "$one_json" ] && summary 1 "$one_json"
if [ "$REPLICAS" -gt 1 ]; then
  summary "$REPLICAS" "$many_json"
  if [ -n "$one_json" ]; then
    say "$REPLICAS replicas / 1 replica throughput: $(awk -v a="$(json_num "$many_json" complaints_per_s)" \
      -v b="$(json_num "$one_json" complaints_per_s)" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')×"
  fi
fi
exit "$status"
