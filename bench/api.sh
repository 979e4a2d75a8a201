#!/usr/bin/env bash
# Benchmark of the embedded platform (`mcp-platform serve`):
#   1. start-to-ready time (exec -> first 200 on /ready), median of several runs;
#   2. idle RSS (VmRSS) after start and a few requests;
#   3. authenticated GET /api/v1/mcps/{id} (cache hit) and
#      GET /api/v1/mcps?page_size=20 (25 tools exist) under wrk, 16 connections.
#
# The server and wrk run on the same machine, on loopback only.
# The server runs with LOG_LEVEL=warn (no access log line per request) and
# RATE_LIMIT_REQUESTS=1000000000: the per-user rate limiter stays in the
# request path but never refuses (its default, 1200 a minute, would turn the
# load into 429s).
#
# Usage: bench/api.sh            (from anywhere in the repository)
# Knobs: BENCH_DURATION (default 15s), BENCH_THREADS (wrk threads, default 1),
#        BENCH_CONNECTIONS (default 16), BENCH_READY_RUNS (default 9),
#        BENCH_REPORT (default bench/results/api-<UTC time>.md),
#        BENCH_BIN (a built mcp-platform binary to measure instead of building),
#        BENCH_SERVER_ENV (extra VAR=VALUE words for the server's environment,
#        e.g. "MALLOC_MMAP_THRESHOLD_=1048576").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${BENCH_DURATION:-15s}
THREADS=${BENCH_THREADS:-1}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
READY_RUNS=${BENCH_READY_RUNS:-9}
STAMP=$(date -u +%Y%m%d-%H%M%S)
REPORT=${BENCH_REPORT:-$ROOT/bench/results/api-$STAMP.md}
LIST_TOOLS=25

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench/api.sh: %s\n' "$*" >&2; exit 1; }

# --- tools ----------------------------------------------------------------

ensure_tools() {
  for tool in curl python3; do
    command -v "$tool" >/dev/null || die "$tool is required"
  done
  if ! command -v wrk >/dev/null; then
    log "installing wrk (apt)"
    if ! apt-get install -y --no-install-recommends wrk >/dev/null 2>&1; then
      apt-get update >/dev/null
      apt-get install -y --no-install-recommends wrk >/dev/null
    fi
  fi
}

# Reads one field of the JSON document on stdin: json_field access_token
json_field() {
  python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- build ----------------------------------------------------------------

build() {
  if [ -n "${BENCH_BIN:-}" ]; then
    BIN=$BENCH_BIN
    [ -x "$BIN" ] || die "BENCH_BIN=$BIN is not an executable"
    return
  fi
  log "building release (CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-<cargo default>})"
  cargo build --release --locked -p mcp-platform >&2
  local target_dir
  target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  BIN="$target_dir/release/mcp-platform"
  [ -x "$BIN" ] || die "no binary at $BIN"
}

# --- server ---------------------------------------------------------------

SERVER_PID=""
WORK=""

cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  [ -n "$WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT

start_server() {
  WORK=$(mktemp -d /tmp/mcp-bench-api.XXXXXX)
  PORT=$(free_port)
  BASE="http://127.0.0.1:$PORT"
  # shellcheck disable=SC2086 # BENCH_SERVER_ENV is a list of words on purpose
  env LOG_LEVEL=warn RATE_LIMIT_REQUESTS=1000000000 ${BENCH_SERVER_ENV:-} "$BIN" serve --bind "127.0.0.1:$PORT" --data-dir "$WORK/data" \
    >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  local deadline=$((SECONDS + 30))
  until curl -sf -o /dev/null "$BASE/ready"; do
    kill -0 "$SERVER_PID" 2>/dev/null || die "server exited: $(cat "$WORK/server.log")"
    [ "$SECONDS" -lt "$deadline" ] || die "server not ready after 30 s"
    sleep 0.05
  done
}

rss_kb() {
  awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"
}

# POST JSON, fail on an unexpected status, print the body.
post() {
  local path=$1 body=$2 expect=$3
  shift 3
  local out status
  out=$(curl -s -w '\n%{http_code}' -X POST "$BASE$path" \
    -H 'Content-Type: application/json' "$@" -d "$body")
  status=${out##*$'\n'}
  [ "$status" = "$expect" ] || die "POST $path: expected $expect, got $status: ${out%$'\n'*}"
  printf '%s\n' "${out%$'\n'*}"
}

tool_body() {
  cat <<JSON
{"name": "Bench tool $1", "slug": "bench-tool-$1", "description": "Benchmark tool number $1",
 "version": "1.0.0", "tags": ["bench"],
 "config": {"runtime": {"transport": "stdio", "command": "node", "args": ["server.js"], "env": {}},
            "tools": [{"name": "echo", "description": "Echoes its input",
                       "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}}]}}
JSON
}

seed() {
  post /api/v1/auth/register \
    '{"username":"bench","email":"bench@example.com","password":"bench-password-long-enough"}' 201 >/dev/null
  TOKEN=$(post /api/v1/auth/login '{"username":"bench","password":"bench-password-long-enough"}' 200 |
    json_field access_token)
  API_KEY=$(post /api/v1/auth/api-keys '{"name":"bench"}' 201 -H "Authorization: Bearer $TOKEN" |
    json_field key)
  TOOL_ID=$(post /api/v1/mcps "$(tool_body 1)" 201 -H "Authorization: Bearer $TOKEN" | json_field id)
  local i
  for i in $(seq 2 "$LIST_TOOLS"); do
    post /api/v1/mcps "$(tool_body "$i")" 201 -H "Authorization: Bearer $TOKEN" >/dev/null
  done
  # A few reads: the first fills the cache, the rest hit it.
  for i in 1 2 3 4 5; do
    curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/mcps/$TOOL_ID"
    curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/mcps?page_size=20"
  done
  local items
  items=$(curl -sf -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/mcps?page_size=20" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
  [ "$items" = 20 ] || die "list returned $items items, expected 20"
}

metric() {
  curl -sf "$BASE/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

# --- load -----------------------------------------------------------------

# load NAME URL HEADER: runs wrk, appends a table row and the raw output.
load() {
  local name=$1 url=$2 header=$3 out rps p50 p99 errors
  log "wrk: $name"
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "$header" "$url")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
  errors=${errors:-0}
  [ "$errors" = 0 ] || die "$name: $errors non-2xx responses"
  ROWS+=("| $name | $rps | $p50 | $p99 |")
  RAW+=("### $name"$'\n\n```\n'"$out"$'\n```')
}

# --- main -----------------------------------------------------------------

main() {
  ensure_tools
  build
  LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

  log "start-to-ready, $READY_RUNS runs on new data directories"
  local ready_fresh ready_restart
  ready_fresh=$(python3 bench/ready.py "$BIN" "$READY_RUNS")
  log "start-to-ready, $READY_RUNS restarts on one data directory"
  ready_restart=$(python3 bench/ready.py "$BIN" "$READY_RUNS" --reuse-data-dir)

  log "starting serve on a new data directory"
  start_server
  local rss_start rss_idle rss_logins rss_after
  rss_start=$(rss_kb)
  seed
  rss_idle=$(rss_kb)
  # Each login runs Argon2id (19 MiB); how much of that stays resident?
  local i
  for i in 1 2 3 4 5 6; do
    post /api/v1/auth/login '{"username":"bench","password":"bench-password-long-enough"}' 200 >/dev/null
  done
  rss_logins=$(rss_kb)

  ROWS=()
  RAW=()
  local hits_before
  hits_before=$(metric cache_hits_total)
  load "GET /api/v1/mcps/{id} (bearer, cache hit)" "$BASE/api/v1/mcps/$TOOL_ID" "Authorization: Bearer $TOKEN"
  local hits_after misses
  hits_after=$(metric cache_hits_total)
  misses=$(metric cache_misses_total)
  load "GET /api/v1/mcps?page_size=20 (bearer)" "$BASE/api/v1/mcps?page_size=20" "Authorization: Bearer $TOKEN"
  load "GET /api/v1/mcps/{id} (X-API-Key, cache hit)" "$BASE/api/v1/mcps/$TOOL_ID" "X-API-Key: $API_KEY"
  rss_after=$(rss_kb)

  mkdir -p "$(dirname "$REPORT")"
  {
    echo "# bench/api.sh run $STAMP (UTC)"
    echo
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (work tree has uncommitted changes)')"
    echo "- machine: $(nproc) cores ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/^MemTotal:/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) memory, $(uname -sr)"
    echo "- load average before the run: $LOAD_BEFORE (other work on the machine skews the figures)"
    echo "- $(rustc --version), $(wrk --version 2>&1 | head -n1 | awk '{print "wrk " $2}')"
    echo "- server: \`env LOG_LEVEL=warn RATE_LIMIT_REQUESTS=1000000000 ${BENCH_SERVER_ENV:-}${BENCH_SERVER_ENV:+ }mcp-platform serve\` (release build), embedded SQLite + in-process cache, new data directory"
    echo "- load: \`wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -H <auth> URL\`, same machine, loopback"
    echo
    echo "## Start-to-ready (exec -> first 200 on /ready)"
    echo
    echo "New data directory each run (migrations run, secret generated):"
    echo
    echo '```'
    echo "$ready_fresh"
    echo '```'
    echo
    echo "Restart on an existing data directory:"
    echo
    echo '```'
    echo "$ready_restart"
    echo '```'
    echo
    echo "## Memory (VmRSS)"
    echo
    echo "| when | RSS |"
    echo "|---|---|"
    echo "| just ready | $((rss_start / 1024)) MiB ($rss_start kB) |"
    echo "| idle, after register, login, $LIST_TOOLS creates and 10 reads | $((rss_idle / 1024)) MiB ($rss_idle kB) |"
    echo "| after 6 more logins | $((rss_logins / 1024)) MiB ($rss_logins kB) |"
    echo "| after the load below | $((rss_after / 1024)) MiB ($rss_after kB) |"
    echo
    echo "## Load ($CONNECTIONS connections, $DURATION each, $LIST_TOOLS tools exist)"
    echo
    echo "| request | req/s | p50 | p99 |"
    echo "|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "Cache during the first run: $((hits_after - hits_before)) hits; misses since start: $misses."
    echo
    echo "## Raw wrk output"
    echo
    printf '%s\n\n' "${RAW[@]}"
  } >"$REPORT"
  cat "$REPORT"
  log "report written to $REPORT"
}

main "$@"
