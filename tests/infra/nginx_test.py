#!/usr/bin/env python3
"""nginx (the Debian package) in front of two real platform instances, with
infra/nginx/nginx.conf as shipped except for the addresses:

- requests are spread over both instances (each instance's own /metrics
  counts what it served);
- a WebSocket subscription through nginx receives a task's updates up to
  `completed` (the task created through nginx too; the two instances share
  one SQLite database and Redis, so either may run it or hold the socket);
- an SSE stream (/events) through nginx receives the same task's state;
- past 10 r/s with burst 20, nginx answers 429;
- /health is served, and not access-logged;
- the security headers are on proxied answers and on nginx's own 429;
- `nginx -t` accepts nginx.conf and nginx-tls.conf, and the TLS variant,
  started with a throwaway self-signed certificate, answers over HTTP/2 with
  HSTS.

Needs nginx, openssl, curl, Redis (REDIS_URL, default redis://127.0.0.1:6379)
and the Python `websockets` package. Run: python3 tests/infra/nginx_test.py
"""
import asyncio
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import websockets

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from mcp_instance import ROOT, Instance, free_port, http, platform_binary, wait_until  # noqa: E402

CONF_DIR = ROOT / "infra/nginx"
UPSTREAM_LINE = re.compile(r"^(\s*)server api:8000 (.*);$", re.M)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
}


def render(prefix, conf_name, ports, listen, extra=()):
    """A copy of infra/nginx under prefix/conf with the upstream servers and
    listen ports replaced; `extra` are more (old, new) replacements."""
    conf = prefix / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    for f in CONF_DIR.glob("*.conf"):
        text = f.read_text()
        if f.name == "platform-http.conf":
            text, n = UPSTREAM_LINE.subn(
                lambda m: "\n".join(f"{m.group(1)}server 127.0.0.1:{p} {m.group(2)};" for p in ports),
                text)
            assert n == 1, "platform-http.conf: expected one `server api:8000 …;` line"
        for port, local in listen.items():
            text = re.sub(rf"\blisten {port}\b", f"listen 127.0.0.1:{local}", text)
        for old, new in extra:
            text = text.replace(old, new)
        (conf / f.name).write_text(text)
    return conf / conf_name


def nginx(prefix, conf, *args):
    return subprocess.run(
        ["nginx", "-p", str(prefix), "-e", "stderr", "-c", str(conf),
         "-g", f"pid {prefix}/nginx.pid;", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def start_nginx(prefix, conf, log):
    proc = subprocess.Popen(
        ["nginx", "-p", str(prefix), "-e", "stderr", "-c", str(conf),
         "-g", f"pid {prefix}/nginx.pid; daemon off;"],
        stdout=log, stderr=subprocess.STDOUT)
    return proc


def served_health(instance):
    """How many GET /health this instance answered, from its own /metrics."""
    _, _, text = http("GET", f"{instance.url}/metrics")
    m = re.search(r'^http_requests_total\{method="GET",route="/health",status="200"\} (\d+)$',
                  text, re.M)
    return int(m.group(1)) if m else 0


async def websocket_sees_completion(base_ws, base_http, token):
    async with websockets.connect(f"{base_ws}/ws?token={token}", open_timeout=10) as ws:
        status, _, body = http("POST", f"{base_http}/api/v1/analyze/generate-config",
                               {"requirements": "read the weather for a city"},
                               {"Authorization": f"Bearer {token}"})
        assert status == 202, (status, body)
        task = body["task_id"]
        await ws.send(json.dumps({"type": "subscribe", "task_id": task}))
        seen = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
            if msg.get("type") == "task_update" and msg.get("task_id") == task:
                seen.append(msg["status"])
                if msg["status"] in ("completed", "failed", "cancelled"):
                    break
        assert seen and seen[-1] == "completed", f"task updates over /ws: {seen}"
        return task, seen


def sse_first_event(base_http, token, task):
    """The first `task_update` of /events?task_id=… through nginx (curl -N)."""
    out = subprocess.run(
        ["curl", "-sN", "--max-time", "3", f"{base_http}/events?task_id={task}&token={token}"],
        stdout=subprocess.PIPE, text=True).stdout
    assert "event: task_update" in out and '"completed"' in out, f"/events through nginx: {out!r}"


def main():
    for tool in ("nginx", "openssl", "curl"):
        assert shutil.which(tool), f"{tool} is not installed"
    started = time.monotonic()
    binary = platform_binary()
    work = pathlib.Path(tempfile.mkdtemp(prefix="nginx-test-"))
    data = work / "data"
    data.mkdir()
    env = {
        "SECRET_KEY": uuid.uuid4().hex + uuid.uuid4().hex,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"),
        "REDIS_KEY_PREFIX": f"nginx-test-{uuid.uuid4().hex[:8]}:",
        "TRUST_PROXY_HEADERS": "true",
    }
    instances, procs = [], []
    log = open(work / "nginx.log", "wb")
    try:
        # One after the other: the second finds the migrations applied.
        for i in range(2):
            instances.append(Instance(binary, data, env, log=work / f"instance{i}.log"))
        ports = [i.port for i in instances]
        print(f"instances on {ports}, up in {time.monotonic() - started:.1f}s")

        # nginx -t on both confs (the TLS one with a throwaway certificate).
        tls = work / "tls"
        tls.mkdir()
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-keyout", tls / "privkey.pem",
                        "-out", tls / "fullchain.pem"], check=True, capture_output=True)
        http_port, tls_port, redirect_port = free_port(), free_port(), free_port()
        plain = render(work / "plain", "nginx.conf", ports, {80: http_port})
        tls_conf = render(work / "tls-prefix", "nginx-tls.conf", ports,
                          {80: redirect_port, 443: tls_port},
                          [("/etc/nginx/tls/", f"{tls}/")])
        for conf in (plain, tls_conf):
            t = nginx(conf.parent.parent, conf, "-t")
            assert t.returncode == 0, t.stdout
            print(f"nginx -t {conf.name}: ok")

        procs.append(start_nginx(plain.parent.parent, plain, log))
        procs.append(start_nginx(tls_conf.parent.parent, tls_conf, log))
        base = f"http://127.0.0.1:{http_port}"
        wait_until("nginx answers", lambda: http("GET", f"{base}/nginx-health")[0] == 200)
        wait_until("nginx-tls answers", lambda: subprocess.run(
            ["curl", "-skf", "-o", "/dev/null", f"https://127.0.0.1:{tls_port}/nginx-health"]
        ).returncode == 0)

        # /health through nginx, spread over both instances.
        before = [served_health(i) for i in instances]
        for _ in range(20):
            status, headers, body = http("GET", f"{base}/health")
            assert status == 200 and body["status"] == "healthy", (status, body)
        spread = [served_health(i) - b for i, b in zip(instances, before)]
        assert sum(spread) == 20 and min(spread) > 0, f"/health per instance: {spread}"
        print(f"20 x /health through nginx, per instance: {spread}")

        # Security headers, once each, on a proxied answer.
        status, headers, _ = http("GET", f"{base}/api/v1/mcps")
        for name, value in SECURITY_HEADERS.items():
            assert headers.get_all(name) == [value], (name, headers.get_all(name))
        assert headers.get("X-Request-Id"), "the platform's request id passes through"

        # client_max_body_size is the platform's MAX_BODY_BYTES (1048576 by
        # default): a body of that size reaches the platform (its answer is
        # about the content), one byte more is nginx's 413.
        limit = 1_048_576
        for size, refused in ((limit, False), (limit + 1, True)):
            body = b"{}" + b" " * (size - 2)
            status = subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                 "Content-Type: application/json", "--data-binary", "@-",
                 f"{base}/api/v1/auth/login"],
                input=body, stdout=subprocess.PIPE, check=True).stdout.decode()
            assert (status == "413") == refused, f"a {size}-byte body: {status}"
        print(f"a {limit}-byte body reaches the platform, {limit + 1} bytes is 413")

        # Register and log in through nginx; WebSocket and SSE through nginx.
        user = {"username": "ngx", "email": "ngx@example.com", "password": "correct-horse-battery"}
        status, _, body = http("POST", f"{base}/api/v1/auth/register", user)
        assert status == 201, (status, body)
        status, _, body = http("POST", f"{base}/api/v1/auth/login",
                               {"username": "ngx", "password": user["password"]})
        assert status == 200, (status, body)
        token = body["access_token"]
        task, seen = asyncio.run(
            websocket_sees_completion(f"ws://127.0.0.1:{http_port}", base, token))
        print(f"task {task} over /ws through nginx: {seen}")
        sse_first_event(base, token, task)
        print("/events through nginx: task_update completed")

        # The TLS variant: HTTP/2, HSTS, the same headers; port 80 redirects.
        out = subprocess.run(["curl", "-sk", "--http2", "-D", "-", "-o", "/dev/null",
                              f"https://127.0.0.1:{tls_port}/health"],
                             stdout=subprocess.PIPE, text=True, check=True).stdout
        assert out.startswith("HTTP/2 200"), out
        assert re.search(r"(?im)^strict-transport-security: max-age=63072000; includeSubDomains", out), out
        assert re.search(r"(?im)^x-frame-options: DENY", out), out
        out = subprocess.run(["curl", "-s", "-D", "-", "-o", "/dev/null",
                              f"http://127.0.0.1:{redirect_port}/api/v1/mcps"],
                             stdout=subprocess.PIPE, text=True, check=True).stdout
        assert out.startswith("HTTP/1.1 301") and "Location: https://" in out, out
        print("TLS: HTTP/2 200 with HSTS; the plain port redirects to https")

        # Past 10 r/s with burst 20: 429 from nginx, still with the headers.
        time.sleep(2.5)  # the bucket refills from the requests above
        codes, last_429 = [], None
        for _ in range(40):
            status, headers, _ = http("GET", f"{base}/ready")
            codes.append(status)
            if status == 429:
                last_429 = headers
        ok, limited = codes.count(200), codes.count(429)
        assert limited > 0 and 20 <= ok < 40, f"40 quick /ready: {ok} x 200, {limited} x 429"
        for name, value in SECURITY_HEADERS.items():
            assert last_429.get(name) == value, (name, dict(last_429))
        print(f"40 quick requests: {ok} x 200, {limited} x 429")
        # /health is not rate limited.
        assert all(http("GET", f"{base}/health")[0] == 200 for _ in range(30))

        # /health is not access-logged; other requests are.
        log.flush()
        logged = (work / "nginx.log").read_text()
        assert '"GET /ready' in logged and '"GET /health' not in logged, "access log"
        print(f"nginx test passed in {time.monotonic() - started:.1f}s")
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
        for i in instances:
            i.stop()
        log.close()
        if os.environ.get("KEEP_TEST_DIR"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
