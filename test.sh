#!/usr/bin/env bash
# Runs the whole aduan test suite: unit tests, the storage conformance suite and the HTTP /
# process tests on SQLite and on PostgreSQL (127.0.0.1:5432, user postgres, trust auth).
# Idempotent: it checks (and starts, when it can) what the tests need, and says so.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\033[1m[test.sh]\033[0m %s\n' "$*"; }

if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  if [ -d /work ] && [ -w /work ]; then export CARGO_TARGET_DIR=/work/target
  else export CARGO_TARGET_DIR="$HOME/.cache/aduan/target"; fi
fi
say "build cache: $CARGO_TARGET_DIR"

# --- PostgreSQL -------------------------------------------------------------------------
PGURL="${ADUAN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! command -v pg_isready >/dev/null 2>&1; then
  say "pg_isready not found; relying on the tests to reach $PGURL"
elif ! pg_up; then
  say "PostgreSQL is not answering on 127.0.0.1:5432; trying to start the local cluster"
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for v in $(ls /etc/postgresql); do pg_ctlcluster --skip-systemctl-redirect "$v" main start || true; done
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { say "ERROR: PostgreSQL at 127.0.0.1:5432 is required (storage conformance runs on it)"; exit 1; }
fi
if command -v psql >/dev/null 2>&1 && pg_up 2>/dev/null; then
  stale=$(psql "$PGURL" -Atc "select datname from pg_database where datname like 'aduan_test_%'" 2>/dev/null || true)
  if [ -n "$stale" ]; then
    say "dropping $(echo "$stale" | wc -l) test databases left by earlier runs"
    for d in $stale; do psql "$PGURL" -qc "drop database if exists \"$d\"" >/dev/null 2>&1 || true; done
  fi
fi
say "PostgreSQL ready at 127.0.0.1:5432"

# --- Dovecot (e-mail tests) and Chromium (admin page tests) ----------------------------
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    say "ERROR: $* missing and apt-get is not available; install it and re-run"; exit 1
  fi
  say "installing $* with apt-get (once)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null \
    || { $SUDO apt-get update -q >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; } \
    || { say "ERROR: could not install $*"; exit 1; }
}
if command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; then
  say "Dovecot present (the e-mail tests start private instances on loopback ports)"
else
  apt_install dovecot-imapd
fi
if command -v sqlite3 >/dev/null 2>&1; then
  say "sqlite3 present (the at-rest tests read a database dump with it)"
else
  apt_install sqlite3
fi
if ! command -v pg_dump >/dev/null 2>&1; then apt_install postgresql-client; fi
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  say "Chromium and ChromeDriver present (the admin page tests drive them headless)"
else
  apt_install chromium chromium-driver
fi

# --- The suite ---------------------------------------------------------------------------
say "cargo test --workspace"
cargo test --workspace --locked "$@"
say "all tests passed"
