#!/usr/bin/env bash
# Deployment start-to-running with the process sandbox on and off
# (figures in bench/SANDBOX.md): two release platforms side by side, server-everything
# over stdio and a one-line `sh` MCP server, each started RUNS times per
# platform, alternating (bench/sandbox_start.py). Then the sandbox's own cost
# without an interpreter's noise: sandbox-spawn-bench (tests/bin) builds the
# policy and spawns /bin/true SPAWN_RUNS times per mode (raw, off, on).
#
# Usage: bench/sandbox.sh              (from anywhere in the repository)
# Knobs: BENCH_RUNS (default 30), BENCH_SPAWN_RUNS (default 300),
#        BENCH_BIN_DIR (a directory holding release builds of mcp-platform
#        and sandbox-spawn-bench; otherwise they are built),
#        BENCH_REPORT (default bench/results/sandbox-<UTC time>.md).
# Needs: node and `npm install --prefix tests` (server-everything), curl,
# python3; root, for the sandbox's user change (as another user the sandbox
# runs without it, and the figures say so in /health).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

RUNS=${BENCH_RUNS:-30}
STAMP=$(date -u +%Y%m%d-%H%M%S)
REPORT=${BENCH_REPORT:-$ROOT/bench/results/sandbox-$STAMP.md}
EVERYTHING_JS=${MCP_TEST_SERVER_EVERYTHING:-$ROOT/tests/node_modules/@modelcontextprotocol/server-everything/dist/index.js}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench/sandbox.sh: %s\n' "$*" >&2; exit 1; }

for tool in curl python3 node; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
[ -f "$EVERYTHING_JS" ] ||
  die "server-everything is missing at $EVERYTHING_JS: run \`npm install --prefix tests\`"

if [ -n "${BENCH_BIN_DIR:-}" ]; then
  BIN=$BENCH_BIN_DIR/mcp-platform
else
  log "building release mcp-platform and sandbox-spawn-bench"
  cargo build --release --locked -p mcp-platform --bin mcp-platform \
    -p mcp-platform-tests --bin sandbox-spawn-bench >&2
  BIN=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/mcp-platform
fi
[ -x "$BIN" ] || die "no mcp-platform at $BIN"
SPAWN_BENCH=$(dirname "$BIN")/sandbox-spawn-bench
[ -x "$SPAWN_BENCH" ] || die "no sandbox-spawn-bench at $SPAWN_BENCH"

WORK=$(mktemp -d /tmp/mcp-bench-sandbox.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

ADMIN=bench-admin
PASSWORD=bench-admin-password-long-enough

# start MODE: a platform with PROCESS_SANDBOX=MODE; prints its base URL.
start() {
  local mode=$1 port
  port=$(free_port)
  mkdir -p "$WORK/$mode"
  env -i PATH="$PATH" HOME="$HOME" \
    PROCESS_SANDBOX="$mode" ADMIN_USERNAME=$ADMIN ADMIN_PASSWORD=$PASSWORD \
    RATE_LIMIT_ENABLED=false LOG_LEVEL=warn GATEWAY_HEALTH_INTERVAL_SECONDS=3600 \
    "$BIN" serve --bind "127.0.0.1:$port" --data-dir "$WORK/$mode/data" \
    >"$WORK/$mode.log" 2>&1 &
  PIDS+=($!)
  local deadline=$((SECONDS + 30))
  until curl -sf -o /dev/null "http://127.0.0.1:$port/ready"; do
    [ "$SECONDS" -lt "$deadline" ] || die "the $mode platform did not start: $(tail -n 20 "$WORK/$mode.log")"
    sleep 0.1
  done
  URL[$mode]="http://127.0.0.1:$port"
}

declare -A URL
start on
start off
SANDBOX=$(curl -s "${URL[on]}/health" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["sandbox"]))')
log "sandbox: $SANDBOX"

log "starting each server $RUNS times per platform"
python3 bench/sandbox_start.py "${URL[on]}" "${URL[off]}" $ADMIN $PASSWORD "$EVERYTHING_JS" "$RUNS" \
  >"$WORK/samples.json"

log "spawning /bin/true ${BENCH_SPAWN_RUNS:-300} times per mode"
BENCH_RUNS=${BENCH_SPAWN_RUNS:-300} "$SPAWN_BENCH" >"$WORK/spawn.json"

mkdir -p "$(dirname "$REPORT")"
python3 - "$WORK/samples.json" "$SANDBOX" "$RUNS" "$WORK/spawn.json" >"$REPORT" <<'PY'
import json, statistics, sys, platform, os
samples = json.load(open(sys.argv[1]))
sandbox = json.loads(sys.argv[2])
runs = sys.argv[3]
spawn = json.load(open(sys.argv[4]))
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
print(f"# Deployment start-to-running, sandbox on vs off ({runs} starts each)\n")
print(f"Kernel {platform.release()}, {os.cpu_count()} cores; sandbox: `{json.dumps(sandbox)}`\n")
print("| server | sandbox | p50 | p90 | mean | min |")
print("|---|---|---|---|---|---|")
for kind, modes in samples.items():
    for mode in ("off", "on"):
        xs = modes[mode]
        print(f"| {kind} | {mode} | {statistics.median(xs):.1f} ms | {pct(xs, 90):.1f} ms | "
              f"{statistics.mean(xs):.1f} ms | {min(xs):.1f} ms |")
print()
for kind, modes in samples.items():
    d50 = statistics.median(modes["on"]) - statistics.median(modes["off"])
    dmean = statistics.mean(modes["on"]) - statistics.mean(modes["off"])
    print(f"- {kind}: the sandbox adds {d50:+.1f} ms at p50, {dmean:+.1f} ms on the mean (target < 20 ms).")
print(f"\n## Policy + spawn + exit of /bin/true ({len(spawn['on'])} each)\n")
print("| mode | p50 | p90 | mean |")
print("|---|---|---|---|")
for mode in ("raw", "off", "on"):
    xs = spawn[mode]
    print(f"| {mode} | {statistics.median(xs):.2f} ms | {pct(xs, 90):.2f} ms | {statistics.mean(xs):.2f} ms |")
d = statistics.median(spawn["on"]) - statistics.median(spawn["raw"])
print(f"\n- the whole sandbox (policy, working directory, Landlock, seccomp, namespace, user change, rlimits) adds {d:+.2f} ms at p50 to a bare spawn.")
PY
cat "$REPORT"
log "report: $REPORT"
