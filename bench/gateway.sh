#!/usr/bin/env bash
# MCP tools/call (`echo`) through the gateway vs. straight to the server, the
# way /work/shared/BENCHMARKS.md measured its baseline: one prepared session
# per path, wrk with one thread, concurrency 1, 8 and 32.
#
# Paths (each one skipped, with a note in the report, when it cannot run):
#   everything/direct      server-everything (npm) in Streamable HTTP mode
#   everything/gateway     the same server through /mcp/{slug} (remote runner)
#   echo/direct            bench/echo-server (a fast Rust MCP echo server)
#   echo/upstream-proxy    the remote runner's upstream client alone in front
#                          of it (mcp-upstream-proxy: no auth, no sessions)
#   echo/gateway           the echo server through /mcp/{slug}: the
#                          gateway's own ceiling, the upstream being cheap
#
# The /mcp/{slug} paths need a platform built with the gateway (deployments
# API). On a build without it (POST /api/v1/deployments answers 404 or 405)
# they are reported as not available and the rest still runs.
#
# Usage: bench/gateway.sh          (from anywhere in the repository)
# Knobs: BENCH_DURATION (default 10s), BENCH_CONCURRENCY (default "1 8 32"),
#        BENCH_REPORT (default bench/results/gateway-<UTC time>.md),
#        BENCH_BIN_DIR (a directory holding release builds of mcp-platform,
#        mcp-echo-server and mcp-upstream-proxy; otherwise they are built),
#        BENCH_SKIP_GATEWAY=1 (do not start the platform at all).
# Needs: node and `npm install --prefix tests` (server-everything), wrk
# (installed with apt when missing), curl, python3.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${BENCH_DURATION:-10s}
CONCURRENCY=${BENCH_CONCURRENCY:-1 8 32}
STAMP=$(date -u +%Y%m%d-%H%M%S)
REPORT=${BENCH_REPORT:-$ROOT/bench/results/gateway-$STAMP.md}
EVERYTHING_JS=${MCP_TEST_SERVER_EVERYTHING:-$ROOT/tests/node_modules/@modelcontextprotocol/server-everything/dist/index.js}
PROTOCOL=2025-11-25

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench/gateway.sh: %s\n' "$*" >&2; exit 1; }

ensure_tools() {
  for tool in curl python3 node; do
    command -v "$tool" >/dev/null || die "$tool is required"
  done
  [ -f "$EVERYTHING_JS" ] ||
    die "server-everything is missing at $EVERYTHING_JS: run \`npm install --prefix tests\`"
  if ! command -v wrk >/dev/null; then
    log "installing wrk (apt)"
    if ! apt-get install -y --no-install-recommends wrk >/dev/null 2>&1; then
      apt-get update >/dev/null
      apt-get install -y --no-install-recommends wrk >/dev/null
    fi
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

json_field() {
  python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# --- build ----------------------------------------------------------------

build() {
  if [ -n "${BENCH_BIN_DIR:-}" ]; then
    BIN_DIR=$BENCH_BIN_DIR
  else
    local packages=(-p mcp-bench --features mcp-bench/proxy)
    [ "${BENCH_SKIP_GATEWAY:-0}" = 1 ] || packages+=(-p mcp-platform)
    log "building release: ${packages[*]} (CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-<cargo default>})"
    cargo build --release --locked "${packages[@]}" >&2
    BIN_DIR=$(cargo metadata --format-version 1 --no-deps |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release
  fi
  for bin in mcp-echo-server mcp-upstream-proxy; do
    [ -x "$BIN_DIR/$bin" ] || die "no $bin in $BIN_DIR"
  done
}

# --- processes ------------------------------------------------------------

PIDS=()
WORK=$(mktemp -d /tmp/mcp-bench-gateway.XXXXXX)
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME READY-URL COMMAND...: runs COMMAND in the background and waits
# until READY-URL answers at all (any HTTP status).
start() {
  local name=$1 ready=$2
  shift 2
  "$@" >"$WORK/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  local deadline=$((SECONDS + 30))
  until curl -s -o /dev/null "$ready"; do
    kill -0 "$pid" 2>/dev/null || die "$name exited: $(cat "$WORK/$name.log")"
    [ "$SECONDS" -lt "$deadline" ] || die "$name not answering at $ready after 30 s"
    sleep 0.05
  done
}

# --- MCP sessions ---------------------------------------------------------

# mcp_post URL SESSION AUTH BODY: POSTs one JSON-RPC message; prints the
# response headers and body to $WORK/last.{headers,body}; echoes the status.
mcp_post() {
  local url=$1 session=$2 auth=$3 body=$4
  local args=(-s -o "$WORK/last.body" -D "$WORK/last.headers" -w '%{http_code}'
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream'
    -H "MCP-Protocol-Version: $PROTOCOL")
  [ -z "$session" ] || args+=(-H "Mcp-Session-Id: $session")
  [ -z "$auth" ] || args+=(-H "$auth")
  curl "${args[@]}" -X POST "$url" -d "$body"
}

# open_session URL AUTH: initialize + notifications/initialized; prints the
# session id (empty for a server without sessions).
open_session() {
  local url=$1 auth=$2 status session
  status=$(mcp_post "$url" "" "$auth" \
    '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"'"$PROTOCOL"'","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}')
  [ "$status" = 200 ] || die "initialize at $url: HTTP $status: $(cat "$WORK/last.body")"
  session=$(awk 'tolower($1) == "mcp-session-id:" {print $2}' "$WORK/last.headers" | tr -d '\r')
  status=$(mcp_post "$url" "$session" "$auth" '{"jsonrpc":"2.0","method":"notifications/initialized"}')
  [ "$status" = 202 ] || die "notifications/initialized at $url: HTTP $status"
  printf '%s' "$session"
}

CALL='{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}'

# check_echo URL SESSION AUTH: one call answered with "Echo: hello", or die.
check_echo() {
  local status
  status=$(mcp_post "$1" "$2" "$3" "$CALL")
  [ "$status" = 200 ] && grep -q 'Echo: hello' "$WORK/last.body" ||
    die "tools/call echo at $1: HTTP $status: $(cat "$WORK/last.body")"
}

# --- load -----------------------------------------------------------------

ROWS=()
RAW=()
NOTES=()
declare -A P50

# to_ms 1.66ms|850.00us|1.20s -> milliseconds
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
    else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
    else print v }'
}

# load NAME URL SESSION AUTH [BASELINE-NAME]
load() {
  local name=$1 url=$2 session=$3 auth=$4 baseline=${5:-}
  check_echo "$url" "$session" "$auth"
  local script="$WORK/call.lua"
  {
    printf 'wrk.method = "POST"\n'
    printf 'wrk.body = [[%s]]\n' "$CALL"
    printf 'wrk.headers["Content-Type"] = "application/json"\n'
    printf 'wrk.headers["Accept"] = "application/json, text/event-stream"\n'
    printf 'wrk.headers["MCP-Protocol-Version"] = "%s"\n' "$PROTOCOL"
    [ -z "$session" ] || printf 'wrk.headers["Mcp-Session-Id"] = "%s"\n' "$session"
    if [ -n "$auth" ]; then
      printf 'wrk.headers["%s"] = "%s"\n' "${auth%%: *}" "${auth#*: }"
    fi
  } >"$script"
  local c out rps p50 p99 errors delta
  for c in $CONCURRENCY; do
    log "wrk: $name, c=$c"
    out=$(wrk -t1 -c"$c" -d"$DURATION" --latency -s "$script" "$url")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    errors=${errors:-0}
    [ "$errors" = 0 ] || die "$name c=$c: $errors non-2xx responses"
    P50["$name/$c"]=$(to_ms "$p50")
    delta=""
    if [ -n "$baseline" ] && [ -n "${P50["$baseline/$c"]:-}" ]; then
      delta=$(awk -v a="${P50["$name/$c"]}" -v b="${P50["$baseline/$c"]}" \
        'BEGIN { printf "%+.3f ms", a - b }')
    fi
    ROWS+=("| $name | $c | $rps | $p50 | $p99 | $delta |")
    RAW+=("### $name, c=$c"$'\n\n```\n'"$out"$'\n```')
  done
}

# --- the platform with a deployment ----------------------------------------

PLATFORM=""
TOKEN=""

start_platform() {
  [ "${BENCH_SKIP_GATEWAY:-0}" != 1 ] || return 1
  [ -x "$BIN_DIR/mcp-platform" ] || return 1
  local port
  port=$(free_port)
  PLATFORM="http://127.0.0.1:$port"
  start platform "$PLATFORM/ready" env LOG_LEVEL=warn RATE_LIMIT_REQUESTS=1000000000 \
    GATEWAY_ALLOW_LOOPBACK_UPSTREAMS=true \
    "$BIN_DIR/mcp-platform" serve --bind "127.0.0.1:$port" --data-dir "$WORK/data"
  curl -sf -o /dev/null -X POST "$PLATFORM/api/v1/auth/register" -H 'Content-Type: application/json' \
    -d '{"username":"bench","email":"bench@example.com","password":"bench-password-long-enough"}' ||
    die "register failed"
  TOKEN=$(curl -sf -X POST "$PLATFORM/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d '{"username":"bench","password":"bench-password-long-enough"}' | json_field access_token)
}

# deploy SLUG UPSTREAM-URL: registers a remote tool, deploys it, waits until
# the deployment is `running` and prints its /mcp/{slug} URL. Exits 3 when
# this build has no deployments API.
deploy() {
  local slug=$1 upstream=$2 tool_id status deployment_id state deadline
  tool_id=$(curl -sf -X POST "$PLATFORM/api/v1/mcps" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d @- <<JSON | json_field id
{"name": "Bench $slug", "slug": "$slug", "description": "bench/gateway.sh upstream",
 "version": "1.0.0", "config": {"runtime": {"transport": "streamable-http", "url": "$upstream"}}}
JSON
  ) || die "creating tool $slug failed"
  status=$(curl -s -o "$WORK/deploy.body" -w '%{http_code}' -X POST "$PLATFORM/api/v1/deployments" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"tool_id":"'"$tool_id"'","config":{}}')
  case $status in
    201) ;;
    404 | 405) exit 3 ;;
    *) die "POST /api/v1/deployments: HTTP $status: $(cat "$WORK/deploy.body")" ;;
  esac
  deployment_id=$(json_field deployment_id <"$WORK/deploy.body")
  deadline=$((SECONDS + 30))
  while :; do
    state=$(curl -sf -H "Authorization: Bearer $TOKEN" "$PLATFORM/api/v1/deployments/$deployment_id" |
      json_field status)
    [ "$state" != running ] || break
    [ "$state" != failed ] || die "deployment of $slug failed"
    [ "$SECONDS" -lt "$deadline" ] || die "deployment of $slug still $state after 30 s"
    sleep 0.2
  done
  printf '%s' "$PLATFORM/mcp/$slug"
}

# --- main -----------------------------------------------------------------

main() {
  ensure_tools
  build
  mkdir -p "$(dirname "$REPORT")"
  local load_before
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)

  local p_everything p_echo p_proxy
  p_everything=$(free_port)
  p_echo=$(free_port)
  p_proxy=$(free_port)
  local everything="http://127.0.0.1:$p_everything/mcp"
  local echo_url="http://127.0.0.1:$p_echo/mcp"
  local proxy_url="http://127.0.0.1:$p_proxy/mcp"
  start server-everything "$everything" env PORT="$p_everything" node "$EVERYTHING_JS" streamableHttp
  start echo-server "$echo_url" "$BIN_DIR/mcp-echo-server" "127.0.0.1:$p_echo"
  start upstream-proxy "$proxy_url" "$BIN_DIR/mcp-upstream-proxy" "127.0.0.1:$p_proxy" "$echo_url"

  local session
  session=$(open_session "$everything" "")
  load everything/direct "$everything" "$session" ""

  local gateway_everything="" gateway_echo="" rc=0
  if start_platform; then
    gateway_everything=$(deploy bench-everything "$everything") || rc=$?
    case $rc in
      0) gateway_echo=$(deploy bench-echo "$echo_url") ;;
      3)
        NOTES+=("this mcp-platform build has no deployments API (POST /api/v1/deployments: 404/405): the /mcp/{slug} paths did not run")
        gateway_everything=""
        ;;
      *) exit "$rc" ;;
    esac
  else
    NOTES+=("the platform was not started: the /mcp/{slug} paths did not run")
  fi
  local auth="Authorization: Bearer $TOKEN"
  if [ -n "$gateway_everything" ]; then
    session=$(open_session "$gateway_everything" "$auth")
    load everything/gateway "$gateway_everything" "$session" "$auth" everything/direct
  fi

  session=$(open_session "$echo_url" "")
  load echo/direct "$echo_url" "$session" ""
  session=$(open_session "$proxy_url" "")
  load echo/upstream-proxy "$proxy_url" "$session" "" echo/direct
  if [ -n "$gateway_echo" ]; then
    session=$(open_session "$gateway_echo" "$auth")
    load echo/gateway "$gateway_echo" "$session" "$auth" echo/direct
  fi

  {
    echo "# MCP tools/call through the gateway: $STAMP UTC"
    echo
    echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), load average before: $load_before," \
      "wrk -t1 -d$DURATION, server-everything $(node -p "require('$(dirname "$EVERYTHING_JS")/../package.json').version")"
    echo
    echo "| path | c | calls/s | p50 | p99 | p50 vs direct |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    local note
    for note in "${NOTES[@]}"; do echo "- $note"; done
    echo
    echo "## wrk output"
    echo
    printf '%s\n\n' "${RAW[@]}"
  } >"$REPORT"
  sed -n '1,/^## wrk output/p' "$REPORT" | head -n -1
  log "report: $REPORT"
}

main "$@"
