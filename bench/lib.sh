# Shared by the bench/run-*.sh scripts (sourced, after they define `say` and `die` and set
# ADUAN_BIN, BENCH_BIN, BASE): building the release binaries, starting one throw-away
# daemon, waiting for it, and stopping only the processes the script started.
#
# The sourcing script sets TMP (its temp dir) and may set DAEMON_PID / BENCH_PID; the EXIT
# trap installed by `bench_traps` stops them, shows the daemon log on failure and removes
# TMP (unless KEEP_TMP=1).

# Build (unless SKIP_BUILD=1) and check the binaries; refuse a port something answers on.
bench_prepare() {
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    say "cargo build --release -p aduan -p aduan-bench (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    cargo build --release -p aduan -p aduan-bench
  fi
  [ -x "$ADUAN_BIN" ] || die "no daemon binary at $ADUAN_BIN"
  [ -x "$BENCH_BIN" ] || die "no bench binary at $BENCH_BIN"
  if curl -s -o /dev/null --max-time 2 "$BASE/healthz"; then
    die "something already answers on $BASE; set PORT to a free port"
  fi
}

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

# Wait until GET $2/healthz answers 200 (30 s), failing if process $1 exits first.
wait_healthy() {
  local pid="$1" base="$2" i code
  for ((i = 0; i < 300; i++)); do
    alive "$pid" || die "the daemon exited during start-up"
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$base/healthz" || true)"
    [ "$code" = 200 ] && return 0
    sleep 0.1
  done
  die "GET $base/healthz did not answer 200 within 30 s"
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
bench_cleanup() {
  local rc=$?
  if [ -n "${BENCH_PID:-}" ]; then
    kill -TERM "$BENCH_PID" 2>/dev/null || true
    wait "$BENCH_PID" 2>/dev/null || true
    BENCH_PID=""
  fi
  if [ -n "${DAEMON_PID:-}" ]; then
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

bench_traps() {
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
