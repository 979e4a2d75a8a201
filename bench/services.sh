#!/usr/bin/env bash
# Issue 3's benchmark: the same loads as bench/api.sh, in one session, on
#   1. the embedded shape (SQLite, in-process cache),
#   2. MySQL (MariaDB here) + Redis cache: GET by id is a Redis cache hit,
#   3. MySQL with the cache off (CACHE_ENABLED=false): GET by id is a
#      primary-key read, and the list is always a MySQL query.
# Each configuration gets a new database and Redis key prefix.
#
# Needs: MariaDB/MySQL and Redis running (RUNNING-SERVICES.md), the `mysql`
# and `redis-cli` clients. Knobs: BENCH_MYSQL (default
# mysql://root@127.0.0.1:3306), BENCH_REDIS (default redis://127.0.0.1:6379),
# and every knob of bench/api.sh (BENCH_DURATION, BENCH_BIN, …).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
MYSQL=${BENCH_MYSQL:-mysql://root@127.0.0.1:3306}
REDIS=${BENCH_REDIS:-redis://127.0.0.1:6379}
STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT=$ROOT/bench/results/services-$STAMP.md
mkdir -p "$ROOT/bench/results"
export BENCH_READY_RUNS=${BENCH_READY_RUNS:-3}

if [ -z "${BENCH_BIN:-}" ]; then
  cargo build --release --locked -p mcp-platform >&2
  BENCH_BIN="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/mcp-platform"
fi
export BENCH_BIN

DATABASES=()
cleanup() {
  local db
  for db in "${DATABASES[@]}"; do
    mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $db" || true
  done
}
trap cleanup EXIT

# run NAME [VAR=VALUE…]: one bench/api.sh run with that server environment.
run() {
  local name=$1
  shift
  local report=$ROOT/bench/results/services-$STAMP-$name.md
  BENCH_REPORT=$report BENCH_SERVER_ENV="$*" bench/api.sh >/dev/null
  printf '\n### %s\n\n' "$name" >>"$OUT"
  sed -n '/^| request/,/^$/p' "$report" >>"$OUT"
}

new_database() {
  local db=mcp_bench_$(date +%s%N | tail -c 9)
  mysql -uroot -h127.0.0.1 -e "CREATE DATABASE $db CHARACTER SET utf8mb4"
  DATABASES+=("$db")
  printf '%s/%s' "$MYSQL" "$db"
}

{
  echo "# bench/services.sh run $STAMP (UTC)"
  echo
  echo "- commit: $(git rev-parse --short HEAD)"
  echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- loads as bench/api.sh (wrk, 16 connections); MariaDB $(mysql -uroot -h127.0.0.1 -N -e 'SELECT VERSION()'), $(redis-cli INFO server | awk -F: '/redis_version/ {print "Redis " $2}' | tr -d '\r')"
} >"$OUT"

run embedded
run mysql-redis "DATABASE_URL=$(new_database) REDIS_URL=$REDIS REDIS_KEY_PREFIX=bench$STAMP:"
run mysql-nocache "DATABASE_URL=$(new_database) CACHE_ENABLED=false"
redis-cli --scan --pattern "bench$STAMP:*" | xargs -r redis-cli DEL >/dev/null

cat "$OUT"
printf '\nreport: %s\n' "$OUT" >&2
