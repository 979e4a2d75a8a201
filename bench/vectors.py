#!/usr/bin/env python3
"""Knowledge-base benchmark through the HTTP API (issue 5).

Starts `mcp-platform serve` (release build, embedded shape: SQLite, offline
embedder, embedded flat index) on a new data directory, registers a user,
then grows the knowledge base to 1k, 10k and 100k one-chunk documents
(384-dimension vectors) and at each size sends sequential searches from one
client, like the Qdrant figures in BENCHMARKS.md. Reports, per size:

- indexing throughput: documents (= chunks) per second through
  POST /api/v1/knowledge/documents, 4 concurrent clients;
- search latency p50/p95 as the client sees it (POST /api/v1/knowledge/search,
  limit 10, hybrid: embedding the query + BM25 + exact vector scan + fusion)
  and the server's own `query_time_ms`;
- server RSS (VmRSS), hence memory per 100k chunks.

Usage: bench/vectors.py BIN [sizes...]   (default sizes 1000 10000 100000)
Only the standard library; texts are generated from a fixed seed.
"""

import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SEARCHES = 300
WORKERS = 4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Client:
    def __init__(self, port, token=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.token = token

    def call(self, method, path, body=None, expect=(200,)):
        headers = {"content-type": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status not in expect:
            raise RuntimeError(f"{method} {path}: {resp.status} {data[:300]!r}")
        return json.loads(data) if data else None


def vocabulary(rng, n=6000):
    syll = ["ka", "lo", "mi", "ra", "te", "su", "no", "vi", "de", "po", "an", "el", "or", "us", "ix", "qu", "zo", "be", "fa", "gi"]
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(syll) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    sizes = [int(s) for s in sys.argv[2:]] or [1000, 10000, 100000]
    rng = random.Random(42)
    words = vocabulary(rng)
    # Zipf-like word frequencies, as in real text.
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(words))]

    def text(n):
        return " ".join(rng.choices(words, weights, k=n))

    data = tempfile.mkdtemp(prefix="mcp-bench-vectors-")
    port = free_port()
    env = dict(os.environ, LOG_LEVEL="warn", RATE_LIMIT_REQUESTS="1000000000")
    server = subprocess.Popen([binary, "serve", "--bind", f"127.0.0.1:{port}", "--data-dir", data],
                              env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "..", os.path.basename(data) + ".log"), "w"))
    try:
        deadline = time.time() + 30
        while True:
            try:
                Client(port).call("GET", "/ready")
                break
            except Exception:
                if time.time() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        anon = Client(port)
        anon.call("POST", "/api/v1/auth/register", {"username": "bench", "email": "bench@example.com",
                                                   "password": "bench-password-long-enough", "role": "developer"}, expect=(201,))
        token = anon.call("POST", "/api/v1/auth/login", {"username": "bench", "password": "bench-password-long-enough"})["access_token"]
        rss_empty = rss_kib(server.pid)
        print(f"server ready, RSS {rss_empty / 1024:.1f} MiB (empty knowledge base)")
        stored = 0
        rows = []
        for size in sizes:
            todo = [(f"Doc {i} {text(3)}", text(rng.randint(15, 40))) for i in range(stored, size)]
            lock = threading.Lock()
            errors = []

            def worker():
                c = Client(port, token)
                while True:
                    with lock:
                        if not todo:
                            return
                        title, content = todo.pop()
                    try:
                        c.call("POST", "/api/v1/knowledge/documents",
                               {"title": title, "content": content, "metadata": {"public": True}}, expect=(201,))
                    except Exception as e:  # noqa: BLE001
                        errors.append(e)
                        return

            n = size - stored
            started = time.time()
            threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise errors[0]
            elapsed = time.time() - started
            stored = size
            rss = rss_kib(server.pid)
            c = Client(port, token)
            client_ms, server_ms = [], []
            for _ in range(10):  # warm-up
                c.call("POST", "/api/v1/knowledge/search", {"query": text(4), "limit": 10})
            for _ in range(SEARCHES):
                q = text(rng.randint(2, 6))
                t0 = time.perf_counter()
                r = c.call("POST", "/api/v1/knowledge/search", {"query": q, "limit": 10})
                client_ms.append((time.perf_counter() - t0) * 1000)
                server_ms.append(r["query_time_ms"])
            q = statistics.quantiles
            row = {
                "chunks": size,
                "index_chunks_per_s": n / elapsed,
                "client_p50": statistics.median(client_ms),
                "client_p95": q(client_ms, n=20)[18],
                "server_p50": statistics.median(server_ms),
                "server_p95": q(server_ms, n=20)[18],
                "rss_mib": rss / 1024,
            }
            rows.append(row)
            print(f"{size:>7} chunks: indexed {row['index_chunks_per_s']:.0f} chunks/s | search client p50 {row['client_p50']:.2f} ms "
                  f"p95 {row['client_p95']:.2f} ms | server p50 {row['server_p50']:.2f} ms p95 {row['server_p95']:.2f} ms | "
                  f"RSS {row['rss_mib']:.1f} MiB", flush=True)
        if len(rows) >= 1:
            last = rows[-1]
            per_100k = (last["rss_mib"] - rss_empty / 1024) * 100000 / last["chunks"]
            print(f"memory: {per_100k:.0f} MiB RSS per 100k chunks (server RSS growth over the empty start)")
        print(json.dumps({"loadavg": os.getloadavg(), "rows": rows}))
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
