#!/usr/bin/env bash
# Enqueue -> completed -> WebSocket-delivered latency at a steady job rate
# (tests/bin/realtime_bench.rs explains the method). Prints p50/p90/p99/max.
#
# Usage: bench/realtime.sh [--release]
# Knobs: BENCH_RATE (jobs/s, default 500), BENCH_JOBS (5000),
#        BENCH_CONCURRENCY (worker slots, 16), BENCH_POLL_MS (1).
# With MCP_TEST_BACKENDS=services and MCP_TEST_REDIS_URL / MCP_TEST_MYSQL_URL
# set, the same run goes over Redis pub/sub and MySQL.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=()
if [ "${1:-}" = "--release" ]; then profile=(--release); fi
cargo run "${profile[@]}" --quiet -p mcp-platform-tests --bin realtime-bench
