#!/usr/bin/env bash
# No-op job throughput per queue (issue 4): the `no_op_job_throughput`
# measurement of tests/tests/suite/queue.rs in a release build. For each queue it
# enqueues MCP_BENCH_JOBS no-op jobs from 16 tasks, then times one worker
# (WORKER_CONCURRENCY=16) claiming, running and acking all of them:
#   sql       the embedded SQLite table queue
#   rabbitmq  RabbitMQ at MCP_TEST_RABBITMQ_URL (default the local guest user)
#   sqs       SQS on moto (a Python server: its figure measures moto, not AWS)
#
# Needs RabbitMQ running (RUNNING-SERVICES.md) and moto_server on PATH
# (pip install "moto[server]"). Knobs: MCP_BENCH_QUEUES (default
# sql,rabbitmq,sqs), MCP_BENCH_JOBS (default 5000).
# Targets (BENCHMARKS.md / issue 4): RabbitMQ >= 3,000 jobs/s, SQLite >= 1,000 jobs/s.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STAMP=$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$ROOT/bench/results"
OUT=$ROOT/bench/results/jobs-$STAMP.txt

{
  printf 'jobs benchmark %s, commit %s\n' "$STAMP" "$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  printf 'load before: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT"
cargo test --release -p mcp-platform-tests --test suite -- \
  --ignored --nocapture --exact queue::no_op_job_throughput 2>&1 |
  grep -E 'no-op jobs|test result' | tee -a "$OUT"
printf 'report: %s\n' "$OUT"
