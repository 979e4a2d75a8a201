#!/usr/bin/env bash
# MCP tools/call (`echo`) throughput and latency, in one run, at wrk
# concurrency 1, 8 and 32 (one thread, one prepared session per path):
#   direct   server-everything over Streamable HTTP on loopback;
#   remote   the same server through /mcp/{slug}, remote runner;
#   stdio    server-everything over stdio through /mcp/{slug}, process runner.
# Prints a markdown table (calls/s, p50, p99).
#
# The platform runs `serve` with LOG_LEVEL=warn, rate limits off and
# GATEWAY_ALLOW_LOOPBACK_UPSTREAMS=true (the upstream is on loopback).
#
# Usage: bench/gateway.sh   (from anywhere in the repository)
# Needs: wrk, tests/node_modules (npm install --prefix tests).
# Knobs: BENCH_BIN (a built mcp-platform; default: cargo build --release),
#        BENCH_DURATION (default 10s), BENCH_CONCURRENCY (default "1 8 32").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DURATION=${BENCH_DURATION:-10s}
CONCURRENCY=${BENCH_CONCURRENCY:-1 8 32}
EVERYTHING=$ROOT/tests/node_modules/@modelcontextprotocol/server-everything/dist/index.js

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench/gateway.sh: %s\n' "$*" >&2; exit 1; }

command -v wrk >/dev/null || die "wrk is missing: apt-get install -y wrk"
[ -f "$EVERYTHING" ] || die "server-everything missing: npm install --prefix tests"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PIDS=()
WORK=$(mktemp -d)
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
wait_port() {
  local port=$1 deadline=$((SECONDS + 60))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || die "nothing listens on port $port after 60 s"
    sleep 0.2
  done
}

BIN=${BENCH_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --quiet --release -p mcp-platform --bin mcp-platform
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/mcp-platform
fi

DIRECT_PORT=$(free_port)
PORT=$DIRECT_PORT node "$EVERYTHING" streamableHttp >"$WORK/everything.log" 2>&1 &
PIDS+=("$!")
wait_port "$DIRECT_PORT"
DIRECT=http://127.0.0.1:$DIRECT_PORT/mcp

API_PORT=$(free_port)
env -i PATH="$PATH" HOME="$HOME" LOG_LEVEL=warn RATE_LIMIT_ENABLED=false \
  GATEWAY_ALLOW_LOOPBACK_UPSTREAMS=true ADMIN_USERNAME=bench ADMIN_PASSWORD=bench-password-long \
  "$BIN" serve --bind "127.0.0.1:$API_PORT" --data-dir "$WORK/data" >"$WORK/platform.log" 2>&1 &
PIDS+=("$!")
wait_port "$API_PORT"
BASE=http://127.0.0.1:$API_PORT
TOKEN=$(curl -sf "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"bench","password":"bench-password-long"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# deploy SLUG RUNTIME-JSON
deploy() {
  local tool deployment deadline
  tool=$(curl -sf "$BASE/api/v1/mcps" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d "{\"name\":\"$1\",\"slug\":\"$1\",\"version\":\"1.0.0\",\"config\":{\"runtime\":$2}}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  deployment=$(curl -sf "$BASE/api/v1/deployments" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d "{\"tool_id\":\"$tool\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["deployment_id"])')
  deadline=$((SECONDS + 60))
  until curl -sf "$BASE/api/v1/deployments/$deployment" -H "authorization: Bearer $TOKEN" | grep -q '"status":"running"'; do
    [ "$SECONDS" -lt "$deadline" ] || die "deployment $1 did not start"
    sleep 0.2
  done
}
deploy bench-remote "{\"transport\":\"streamable-http\",\"url\":\"$DIRECT\"}"
deploy bench-stdio "{\"transport\":\"stdio\",\"command\":\"node\",\"args\":[\"$EVERYTHING\",\"stdio\"]}"

# session URL [AUTH-HEADER]: initializes and prints the Mcp-Session-Id.
session() {
  local url=$1 auth=${2:-} sid
  sid=$(curl -s -D - -o /dev/null "$url" ${auth:+-H "$auth"} -H 'content-type: application/json' \
    -H 'accept: application/json, text/event-stream' -H 'mcp-protocol-version: 2025-11-25' \
    -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"wrk","version":"1"}}}' |
    tr -d '\r' | awk -F': ' 'tolower($1)=="mcp-session-id"{print $2}')
  [ -n "$sid" ] || die "no session from $url"
  curl -sf -o /dev/null "$url" ${auth:+-H "$auth"} -H 'content-type: application/json' \
    -H 'accept: application/json, text/event-stream' -H 'mcp-protocol-version: 2025-11-25' \
    -H "mcp-session-id: $sid" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' || true
  printf '%s' "$sid"
}

# measure NAME URL SESSION [AUTH-HEADER]
measure() {
  local name=$1 url=$2 sid=$3 auth=${4:-} c
  cat >"$WORK/$name.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}'
wrk.headers["content-type"] = "application/json"
wrk.headers["accept"] = "application/json, text/event-stream"
wrk.headers["mcp-protocol-version"] = "2025-11-25"
wrk.headers["mcp-session-id"] = "$sid"
LUA
  if [ -n "$auth" ]; then
    printf 'wrk.headers["authorization"] = "%s"\n' "${auth#authorization: }" >>"$WORK/$name.lua"
  fi
  # Warm up (connections, JIT of the node server).
  wrk -t1 -c8 -d2s -s "$WORK/$name.lua" "$url" >/dev/null
  for c in $CONCURRENCY; do
    wrk -t1 -c"$c" -d"$DURATION" --latency -s "$WORK/$name.lua" "$url" >"$WORK/$name-$c.txt"
    python3 - "$name" "$c" "$WORK/$name-$c.txt" <<'PY'
import re, sys
name, c, path = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def pct(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
note = f" ({errors.group(1)} non-2xx)" if errors else ""
print(f"| {name} | {c} | {rps:,.0f} | {pct(50):.2f} ms | {pct(99):.2f} ms |{note}")
PY
  done
}

AUTH="authorization: Bearer $TOKEN"
printf '| path | connections | calls/s | p50 | p99 |\n|---|---|---|---|---|\n'
measure direct "$DIRECT" "$(session "$DIRECT")"
measure gateway-remote "$BASE/mcp/bench-remote" "$(session "$BASE/mcp/bench-remote" "$AUTH")" "$AUTH"
measure gateway-stdio "$BASE/mcp/bench-stdio" "$(session "$BASE/mcp/bench-stdio" "$AUTH")" "$AUTH"
