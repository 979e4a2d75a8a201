"""Real `mcp-platform serve` instances for the infrastructure tests
(nginx_test.py, readme_walkthrough.py): the debug binary, free ports, temp
data directories, started and stopped by the test itself.

The binary is MCP_PLATFORM_BIN when set, else what `cargo build -p
mcp-platform --bin mcp-platform` reports (a no-op after CI's `cargo test`,
and right for any CARGO_TARGET_DIR), as tests/lib.rs does.
"""
import json
import os
import pathlib
import socket
import subprocess
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


def platform_binary():
    if os.environ.get("MCP_PLATFORM_BIN"):
        return os.environ["MCP_PLATFORM_BIN"]
    out = subprocess.run(
        ["cargo", "build", "--quiet", "-p", "mcp-platform", "--bin", "mcp-platform",
         "--message-format=json"],
        cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True,
    ).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "mcp-platform" \
                and msg.get("executable"):
            return msg["executable"]
    raise RuntimeError("cargo reported no mcp-platform executable")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=10):
    """(status, headers, parsed JSON or text); HTTP errors are answers too."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    text = raw.decode(errors="replace")
    try:
        return status, hdrs, json.loads(text)
    except ValueError:
        return status, hdrs, text


def wait_until(what, check, deadline=60.0, interval=0.1):
    end = time.monotonic() + deadline
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {deadline}s waiting until {what}")
        time.sleep(interval)


class Instance:
    """One `mcp-platform serve` on 127.0.0.1:PORT with DATA_DIR."""

    def __init__(self, binary, data_dir, env=None, log=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {
            k: v for k, v in os.environ.items()
            if k in ("PATH", "HOME", "TMPDIR", "LANG", "RUST_BACKTRACE")
        }
        full_env.update({"LOG_FORMAT": "json", "LOG_LEVEL": "warn"})
        full_env.update(env or {})
        self.log = open(log or os.devnull, "ab")
        # cwd: the data dir, so no stray .env of the caller is read.
        self.proc = subprocess.Popen(
            [binary, "serve", "--bind", f"127.0.0.1:{self.port}", "--data-dir", str(data_dir)],
            env=full_env, cwd=data_dir, stdout=self.log, stderr=self.log,
        )
        wait_until(f"{self.url}/ready answers", self._ready)

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"mcp-platform serve exited with {self.proc.returncode}")
        return http("GET", f"{self.url}/ready", timeout=2)[0] == 200

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
