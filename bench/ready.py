#!/usr/bin/env python3
"""Start-to-ready time of `mcp-platform serve`.

For each run: exec the binary, poll GET /ready every 0.5 ms, and stop the
clock at the first 200. Then stop the server with SIGTERM and wait for it.

  ready.py BINARY RUNS [--reuse-data-dir]

Without --reuse-data-dir every run gets a new, empty data directory (the
first start of a new install: migrations run, a JWT secret is generated).
With it, every run after a first untimed one starts on that same directory
(a restart). Prints one line per run, then `median_ms=…`.
"""

import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", "/ready")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def one_run(binary: str, data_dir: str) -> float:
    port = free_port()
    env = dict(os.environ, LOG_LEVEL="warn")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [binary, "serve", "--bind", f"127.0.0.1:{port}", "--data-dir", data_dir],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        while not ready(port):
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                sys.exit(f"serve exited with {proc.returncode} before /ready: {err}")
            if time.perf_counter() - started > TIMEOUT_S:
                sys.exit(f"serve not ready after {TIMEOUT_S} s")
            time.sleep(0.0005)
        return (time.perf_counter() - started) * 1000.0
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    binary, runs = sys.argv[1], int(sys.argv[2])
    reuse = "--reuse-data-dir" in sys.argv[3:]
    root = tempfile.mkdtemp(prefix="mcp-bench-ready-")
    try:
        shared = os.path.join(root, "shared")
        if reuse:
            one_run(binary, shared)  # untimed: creates the database and secret
        times = []
        for i in range(runs):
            data_dir = shared if reuse else os.path.join(root, f"run{i}")
            ms = one_run(binary, data_dir)
            times.append(ms)
            print(f"run {i + 1}: {ms:.1f} ms")
        print(f"min_ms={min(times):.1f} median_ms={statistics.median(times):.1f} max_ms={max(times):.1f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
