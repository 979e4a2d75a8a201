#!/usr/bin/env bash
# MCP tools/call (`echo`) through the gateway vs. straight to the server, the
# way /work/shared/BENCHMARKS.md measured its baseline: one prepared session
# per path, wrk with one thread, concurrency 1, 8 and 32.
#
# Paths (each one skipped, with a note in the report, when it cannot run):
#   everything/direct      server-everything (npm) in Streamable HTTP mode
#   everything/gateway     the same server through /mcp/{slug} (remote runner)
#   everything/stdio       server-everything in stdio mode through /mcp/{slug}
#                          (the process runner: the gateway's stdio bridge)
#   everything/contextforge  the same HTTP server behind ContextForge (PyPI
#                          mcp-contextforge-gateway, its own venv, SQLite)
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
#        mcp-echo-server and mcp-upstream-proxy; otherwise they are built;
#        the echo/* paths are skipped when the echo binaries are not there),
#        BENCH_SKIP_GATEWAY=1 (do not start the platform at all),
#        BENCH_SKIP_CONTEXTFORGE=1 (no ContextForge path),
#        BENCH_CONTEXTFORGE_VENV (default ~/.cache/mcp-platform/contextforge-venv,
#        created with `pip install mcp-contextforge-gateway` when missing).
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
CONTEXTFORGE_VENV=${BENCH_CONTEXTFORGE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-platform/contextforge-venv}

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
  local bin missing=()
  for bin in mcp-echo-server mcp-upstream-proxy; do
    [ -x "$BIN_DIR/$bin" ] || missing+=("$bin")
  done
  HAVE_ECHO=1
  if [ "${#missing[@]}" -gt 0 ]; then
    HAVE_ECHO=0
    NOTES+=("no ${missing[*]} in $BIN_DIR: the echo/* paths did not run")
  fi
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

# spawn NAME READY-URL WAIT-SECONDS COMMAND...: runs COMMAND in the
# background (its pid in SPAWNED) and waits until READY-URL answers at all (any
# HTTP status). Returns 1 with the reason in SPAWN_ERROR when it does not.
# Must run in the main shell, not in $(...), so that cleanup knows the pid.
SPAWNED=""
SPAWN_ERROR=""
spawn() {
  local name=$1 ready=$2 wait=$3
  shift 3
  "$@" >"$WORK/$name.log" 2>&1 &
  SPAWNED=$!
  PIDS+=("$SPAWNED")
  local deadline=$((SECONDS + wait))
  until curl -s -o /dev/null "$ready"; do
    if ! kill -0 "$SPAWNED" 2>/dev/null; then
      SPAWN_ERROR="$name exited: $(tail -n 20 "$WORK/$name.log")"
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      SPAWN_ERROR="$name not answering at $ready after $wait s"
      return 1
    fi
    sleep 0.05
  done
}

# start NAME READY-URL COMMAND...: spawn with 30 s to get ready, or die.
start() {
  local name=$1 ready=$2
  shift 2
  spawn "$name" "$ready" 30 "$@" || die "$SPAWN_ERROR"
}

# stop PID: ends one process this script started.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
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

# call_body TOOL: the tools/call request every path is loaded with.
call_body() {
  printf '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"%s","arguments":{"message":"hello"}}}' "$1"
}

# check_echo URL SESSION AUTH [TOOL]: one call answered with "Echo: hello", or die.
check_echo() {
  local status
  status=$(mcp_post "$1" "$2" "$3" "$(call_body "${4:-echo}")")
  if [ "$status" != 200 ] || ! grep -q 'Echo: hello' "$WORK/last.body"; then
    die "tools/call ${4:-echo} at $1: HTTP $status: $(cat "$WORK/last.body")"
  fi
}

# --- load -----------------------------------------------------------------

ROWS=()
RAW=()
NOTES=()
declare -A P50 RPS

# to_ms 1.66ms|850.00us|1.20s -> milliseconds
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
    else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
    else print v }'
}

# cpu_ticks PID: the user + system CPU time the process has used so far, in
# clock ticks (/proc/PID/stat fields 14 and 15; exited threads included).
cpu_ticks() {
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
CLK_TCK=$(getconf CLK_TCK)

# The process in front of the path being loaded (the platform, the proxy or
# the server itself): its CPU time per call goes in the report. CPU time does
# not depend on how fast the machine wakes a sleeping thread, which moves the
# latencies of a two-core VM by tens of microseconds from run to run.
FRONT_PID=""

# load NAME URL SESSION AUTH [BASELINE-NAME [TOOL [TOLERANT]]]: wrk at each
# concurrency. Non-2xx answers end the run, unless TOLERANT is 1 (a peer we
# only measure): then they are counted in the report like wrk's timeouts.
load() {
  local name=$1 url=$2 session=$3 auth=$4 baseline=${5:-} tool=${6:-echo} tolerant=${7:-0}
  check_echo "$url" "$session" "$auth" "$tool"
  local script="$WORK/call.lua"
  {
    printf 'wrk.method = "POST"\n'
    printf 'wrk.body = [[%s]]\n' "$(call_body "$tool")"
    printf 'wrk.headers["Content-Type"] = "application/json"\n'
    printf 'wrk.headers["Accept"] = "application/json, text/event-stream"\n'
    printf 'wrk.headers["MCP-Protocol-Version"] = "%s"\n' "$PROTOCOL"
    [ -z "$session" ] || printf 'wrk.headers["Mcp-Session-Id"] = "%s"\n' "$session"
    if [ -n "$auth" ]; then
      printf 'wrk.headers["%s"] = "%s"\n' "${auth%%: *}" "${auth#*: }"
    fi
    # A 200 is not enough: an answer that is not the echo (a JSON-RPC error, or
    # another call's answer) is counted and printed by done().
    cat <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
wrong = 0
function response(status, headers, body)
  if not string.find(body, "Echo: hello", 1, true) then wrong = wrong + 1 end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("wrong") end
  io.write(string.format("Wrong answers: %d\n", n))
end
LUA
  } >"$script"
  local c out rps p50 p99 errors wrong timeouts sockets failures delta ticks calls cpu
  for c in $CONCURRENCY; do
    log "wrk: $name, c=$c"
    ticks=$(cpu_ticks "${FRONT_PID:-self}")
    out=$(wrk -t1 -c"$c" -d"$DURATION" --latency -s "$script" "$url")
    ticks=$(($(cpu_ticks "${FRONT_PID:-self}") - ticks))
    calls=$(awk '/requests in/ {print $1}' <<<"$out")
    cpu="–"
    if [ -n "$FRONT_PID" ] && [ "${calls:-0}" -gt 0 ]; then
      cpu=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$calls" 'BEGIN { printf "%.0f µs", t * 1e6 / hz / n }')
    fi
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    errors=${errors:-0}
    [ "$errors" = 0 ] || [ "$tolerant" = 1 ] || die "$name c=$c: $errors non-2xx responses"
    # wrk gives up on a request after 2 s and counts it here, not in the latencies.
    # "Socket errors: connect 0, read 0, write 0, timeout 31"
    timeouts=$(awk '/Socket errors:/ {print $10 + 0}' <<<"$out")
    timeouts=${timeouts:-0}
    sockets=$(awk '/Socket errors:/ {print $4 + $6 + $8}' <<<"$out")
    sockets=${sockets:-0}
    wrong=$(awk '/^Wrong answers:/ {print $3}' <<<"$out")
    wrong=${wrong:-0}
    # Non-2xx answers are counted among the wrong ones too.
    [ "$wrong" -ge "$errors" ] && wrong=$((wrong - errors))
    failures=""
    [ "$errors" = 0 ] || failures="$errors non-2xx"
    [ "$wrong" = 0 ] || failures="${failures:+$failures, }$wrong not the echo"
    [ "$timeouts" = 0 ] || failures="${failures:+$failures, }$timeouts timed out"
    [ "$sockets" = 0 ] || failures="${failures:+$failures, }$sockets socket errors"
    RPS["$name/$c"]=$rps
    P50["$name/$c"]=$(to_ms "${p50:-}")
    delta=""
    if [ -n "$baseline" ] && [ -n "${P50["$baseline/$c"]:-}" ] && [ -n "${P50["$name/$c"]}" ]; then
      delta=$(awk -v a="${P50["$name/$c"]}" -v b="${P50["$baseline/$c"]}" \
        'BEGIN { printf "%+.3f ms", a - b }')
    fi
    ROWS+=("| $name | $c | $rps | ${p50:-–} | ${p99:-–} | $delta | $cpu | $failures |")
    RAW+=("### $name, c=$c"$'\n\n```\n'"$out"$'\n```')
  done
}

# --- the platform with a deployment ----------------------------------------

PLATFORM=""
PLATFORM_PID=""
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
  PLATFORM_PID=$SPAWNED
  curl -sf -o /dev/null -X POST "$PLATFORM/api/v1/auth/register" -H 'Content-Type: application/json' \
    -d '{"username":"bench","email":"bench@example.com","password":"bench-password-long-enough"}' ||
    die "register failed"
  TOKEN=$(curl -sf -X POST "$PLATFORM/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d '{"username":"bench","password":"bench-password-long-enough"}' | json_field access_token)
}

# remote_runtime URL / stdio_runtime COMMAND ARGS...: a tool's config.runtime
# (the shapes tests/mcp_peers.rs and tests/tests/suite/gateway.rs deploy).
remote_runtime() {
  python3 -c 'import json,sys; print(json.dumps({"transport": "streamable-http", "url": sys.argv[1]}))' "$1"
}
stdio_runtime() {
  python3 -c 'import json,sys
print(json.dumps({"transport": "stdio", "command": sys.argv[1], "args": sys.argv[2:], "env": {}}))' "$@"
}

# deploy SLUG RUNTIME-JSON: registers a tool with that runtime, deploys it,
# waits until the deployment is `running` and prints its /mcp/{slug} URL.
# Exits 3 when this build has no deployments API.
deploy() {
  local slug=$1 runtime=$2 tool_id status deployment_id state deadline
  tool_id=$(curl -sf -X POST "$PLATFORM/api/v1/mcps" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d @- <<JSON | json_field id
{"name": "Bench $slug", "slug": "$slug", "description": "bench/gateway.sh upstream",
 "version": "1.0.0", "config": {"runtime": $runtime}}
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

# --- ContextForge ---------------------------------------------------------

# The peer of /work/shared/BENCHMARKS.md: the PyPI gateway in its own venv,
# SQLite, rate limits off, fronting the same server-everything. Every step
# returns 1 with the reason in CF_ERROR, so that the run goes on without it.
CF_ERROR=""
CF_VERSION=""
CF_PID=""
CF_URL=""
CF_AUTH=""
CF_TOOL=""

# contextforge_venv: the venv holding mcp-contextforge-gateway, made when missing.
contextforge_venv() {
  local py="$CONTEXTFORGE_VENV/bin/python"
  if [ ! -x "$CONTEXTFORGE_VENV/bin/mcpgateway" ]; then
    log "installing ContextForge into $CONTEXTFORGE_VENV (pip)"
    if ! { python3 -m venv "$CONTEXTFORGE_VENV" &&
      "$py" -m pip install -q mcp-contextforge-gateway; } >"$WORK/contextforge-pip.log" 2>&1; then
      CF_ERROR="pip install mcp-contextforge-gateway into $CONTEXTFORGE_VENV failed: $(tail -n 5 "$WORK/contextforge-pip.log")"
      return 1
    fi
  fi
  CF_VERSION=$("$py" -c 'import importlib.metadata as m; print(m.version("mcp-contextforge-gateway"))') || {
    CF_ERROR="no mcp-contextforge-gateway in $CONTEXTFORGE_VENV"
    return 1
  }
}

# cf_api METHOD PATH [BODY]: one ContextForge admin API call; the body lands
# in $WORK/cf.body. Fails (with CF_ERROR) unless the status is 200 or 201.
cf_api() {
  local status
  status=$(curl -s -o "$WORK/cf.body" -w '%{http_code}' -X "$1" "$CF_BASE$2" \
    -H "$CF_AUTH" -H 'Content-Type: application/json' ${3:+-d "$3"})
  case $status in
    200 | 201) ;;
    *)
      CF_ERROR="ContextForge $1 $2: HTTP $status: $(head -c 500 "$WORK/cf.body")"
      return 1
      ;;
  esac
}

# start_contextforge UPSTREAM-URL: starts it with fresh secrets and database,
# registers the upstream (POST /gateways), bundles its `echo` in a virtual
# server (POST /servers) and sets CF_URL, CF_AUTH and CF_TOOL (ContextForge
# prefixes tool names with the gateway's).
CF_BASE=""
start_contextforge() {
  local upstream=$1 dir="$WORK/contextforge" py="$CONTEXTFORGE_VENV/bin/python"
  local env_args port token gateway_id tool server_id
  mkdir -p "$dir"
  mapfile -t env_args < <("$py" -m mcpgateway.scripts.init_secrets --stdout 2>/dev/null | grep -E '^[A-Z_]+=')
  if [ "${#env_args[@]}" -lt 2 ]; then
    CF_ERROR="python -m mcpgateway.scripts.init_secrets --stdout printed no secrets"
    return 1
  fi
  env_args+=(SSRF_ALLOW_LOCALHOST=true RATE_LIMITING_ENABLED=false "DATABASE_URL=sqlite:///$dir/mcp.db")
  port=$(free_port)
  CF_BASE="http://127.0.0.1:$port"
  log "starting ContextForge $CF_VERSION (its first start migrates the database: slow)"
  # Its own directory: ContextForge reads a .env from the working directory.
  if ! spawn contextforge "$CF_BASE/health" 180 env -C "$dir" "${env_args[@]}" \
    "$CONTEXTFORGE_VENV/bin/mcpgateway" --host 127.0.0.1 --port "$port"; then
    CF_ERROR=$SPAWN_ERROR
    return 1
  fi
  CF_PID=$SPAWNED
  token=$(env -C "$dir" "${env_args[@]}" "$py" -m mcpgateway.utils.create_jwt_token \
    -u admin@example.com --exp 600 --admin 2>/dev/null | tail -n 1)
  if [ -z "$token" ]; then
    CF_ERROR="mcpgateway.utils.create_jwt_token printed no token"
    return 1
  fi
  CF_AUTH="Authorization: Bearer $token"
  cf_api POST /gateways \
    "$(python3 -c 'import json,sys; print(json.dumps({"name": "bench-everything", "url": sys.argv[1], "transport": "STREAMABLEHTTP"}))' "$upstream")" ||
    return 1
  gateway_id=$(json_field id <"$WORK/cf.body")
  cf_api GET "/tools?limit=0&gateway_id=$gateway_id" || return 1
  tool=$(python3 -c '
import json, sys
tools = json.load(sys.stdin)
tools = tools if isinstance(tools, list) else tools.get("items", tools.get("tools", []))
echo = [t for t in tools if t.get("originalName") == "echo" and t.get("gatewayId") == sys.argv[1]]
if echo:
    print(echo[0]["id"], echo[0]["name"])' "$gateway_id" <"$WORK/cf.body")
  if [ -z "$tool" ]; then
    CF_ERROR="ContextForge lists no echo tool for the registered server-everything"
    return 1
  fi
  CF_TOOL=${tool#* }
  cf_api POST /servers '{"server": {"name": "bench", "associated_tools": ["'"${tool%% *}"'"]}, "visibility": "public"}' ||
    return 1
  server_id=$(json_field id <"$WORK/cf.body")
  CF_URL="$CF_BASE/servers/$server_id/mcp"
}

# --- targets ----------------------------------------------------------------

# verdict FIGURE <=|>= LIMIT: "met" or "not met".
verdict() {
  awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN {
    ok = (op == "<=") ? (a + 0 <= b + 0) : (a + 0 >= b + 0)
    print ok ? "met" : "**not met**" }'
}

# p50_delta NAME BASELINE C: "+0.123" ms, or nothing when one is missing.
p50_delta() {
  local a=${P50["$1/$3"]:-} b=${P50["$2/$3"]:-}
  [ -n "$a" ] && [ -n "$b" ] || return 0
  awk -v a="$a" -v b="$b" 'BEGIN { printf "%+.3f", a - b }'
}

# targets: the three of issue 6, each with its figure from this run.
targets() {
  local d p r
  d=$(p50_delta everything/gateway everything/direct 1)
  if [ -n "$d" ]; then
    echo "- The gateway adds at most 0.100 ms at p50 over direct (c=1): everything/gateway $d ms — $(verdict "$d" '<=' 0.1)."
  else
    echo "- The gateway adds at most 0.100 ms at p50 over direct (c=1): not measured in this run."
  fi
  d=$(p50_delta echo/gateway echo/direct 1)
  [ -z "$d" ] || echo "  With the Rust echo server upstream: echo/gateway $d ms — $(verdict "$d" '<=' 0.1)."
  p=${P50["everything/stdio/1"]:-}
  if [ -n "$p" ]; then
    d=$(p50_delta everything/stdio everything/direct 1)
    echo "- The stdio bridge takes at most 0.8 ms per call (p50 at c=1, the server's own work included): everything/stdio $p ms — $(verdict "$p" '<=' 0.8) (${d:-?} ms vs everything/direct over HTTP)."
  else
    echo "- The stdio bridge takes at most 0.8 ms per call: not measured in this run."
  fi
  local ours=${RPS["everything/gateway/32"]:-} theirs=${RPS["everything/contextforge/32"]:-}
  if [ -n "$ours" ] && [ -n "$theirs" ]; then
    r=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { if (b + 0 > 0) printf "%.1f", a / b; else print "inf" }')
    echo "- At least 10× ContextForge's calls/s at c=32: everything/gateway $ours ÷ everything/contextforge $theirs = ${r}× — $(verdict "${r/inf/1e99}" '>=' 10)."
  else
    echo "- At least 10× ContextForge's calls/s at c=32: not measured in this run."
  fi
}

# --- main -----------------------------------------------------------------

main() {
  ensure_tools
  build
  mkdir -p "$(dirname "$REPORT")"
  local load_before
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)

  local p_everything
  p_everything=$(free_port)
  local everything="http://127.0.0.1:$p_everything/mcp"
  start server-everything "$everything" env PORT="$p_everything" node "$EVERYTHING_JS" streamableHttp
  local everything_pid=$SPAWNED

  local session
  session=$(open_session "$everything" "")
  FRONT_PID=$everything_pid
  load everything/direct "$everything" "$session" ""

  local gateway_everything="" gateway_stdio="" gateway_echo="" rc=0
  if start_platform; then
    gateway_everything=$(deploy bench-everything "$(remote_runtime "$everything")") || rc=$?
    case $rc in
      0) gateway_stdio=$(deploy bench-stdio "$(stdio_runtime node "$EVERYTHING_JS" stdio)") ;;
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
    FRONT_PID=$PLATFORM_PID
    load everything/gateway "$gateway_everything" "$session" "$auth" everything/direct
    session=$(open_session "$gateway_stdio" "$auth")
    load everything/stdio "$gateway_stdio" "$session" "$auth" everything/direct
  fi

  if [ "${BENCH_SKIP_CONTEXTFORGE:-0}" = 1 ]; then
    NOTES+=("BENCH_SKIP_CONTEXTFORGE=1: the everything/contextforge path did not run")
  elif contextforge_venv && start_contextforge "$everything"; then
    session=$(open_session "$CF_URL" "$CF_AUTH")
    FRONT_PID=$CF_PID
    load everything/contextforge "$CF_URL" "$session" "$CF_AUTH" everything/direct "$CF_TOOL" 1
  else
    NOTES+=("ContextForge did not run: ${CF_ERROR//$'\n'/ / }")
  fi
  # Its background work must not share the two cores with the paths below.
  [ -z "$CF_PID" ] || stop "$CF_PID"

  if [ "$HAVE_ECHO" = 1 ]; then
    local p_echo p_proxy
    p_echo=$(free_port)
    p_proxy=$(free_port)
    local echo_url="http://127.0.0.1:$p_echo/mcp"
    local proxy_url="http://127.0.0.1:$p_proxy/mcp"
    start echo-server "$echo_url" "$BIN_DIR/mcp-echo-server" "127.0.0.1:$p_echo"
    local echo_pid=$SPAWNED
    start upstream-proxy "$proxy_url" "$BIN_DIR/mcp-upstream-proxy" "127.0.0.1:$p_proxy" "$echo_url"
    local proxy_pid=$SPAWNED
    [ -z "$gateway_everything" ] || gateway_echo=$(deploy bench-echo "$(remote_runtime "$echo_url")")

    session=$(open_session "$echo_url" "")
    FRONT_PID=$echo_pid
    load echo/direct "$echo_url" "$session" ""
    session=$(open_session "$proxy_url" "")
    FRONT_PID=$proxy_pid
    load echo/upstream-proxy "$proxy_url" "$session" "" echo/direct
    if [ -n "$gateway_echo" ]; then
      session=$(open_session "$gateway_echo" "$auth")
      FRONT_PID=$PLATFORM_PID
      load echo/gateway "$gateway_echo" "$session" "$auth" echo/direct
    fi
  fi

  local load_after
  load_after=$(cut -d' ' -f1-3 /proc/loadavg)
  {
    echo "# MCP tools/call through the gateway: $STAMP UTC"
    echo
    echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), load average before: $load_before," \
      "after: $load_after, $(nproc) cores, wrk -t1 -d$DURATION," \
      "server-everything $(node -p "require('$(dirname "$EVERYTHING_JS")/../package.json').version")${CF_VERSION:+, ContextForge $CF_VERSION}"
    echo
    echo "| path | c | calls/s | p50 | p99 | p50 vs direct | CPU per call (front process) | failed |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "## Targets"
    echo
    targets
    echo
    if [ "${#NOTES[@]}" -gt 0 ]; then
      local note
      for note in "${NOTES[@]}"; do echo "- $note"; done
      echo
    fi
    echo "## wrk output"
    echo
    printf '%s\n\n' "${RAW[@]}"
  } >"$REPORT"
  sed -n '1,/^## wrk output/p' "$REPORT" | head -n -1
  log "report: $REPORT"
}

main "$@"
