"""Deployment start-to-running with and without the process sandbox.

Talks to two running platforms (one with PROCESS_SANDBOX=on, one =off) over
their HTTP API: for each server kind, creates one tool per platform, then
N times, alternating the platforms so that drift hits both alike, POSTs
/api/v1/deployments and polls GET /api/v1/deployments/{id} every 2 ms until
`running`, then DELETEs it. Prints one JSON object with every sample (ms).

usage: sandbox_start.py ON_URL OFF_URL ADMIN_USER ADMIN_PASSWORD EVERYTHING_JS RUNS
"""

import json
import sys
import time
import urllib.request

POLL = 0.002


def call(base, method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def login(base, user, password):
    return call(base, "POST", "/api/v1/auth/login", body={"username": user, "password": password})[
        "access_token"]


# A one-line stdio MCP server: the smallest process the runner can start, so
# the sandbox's own cost is not lost in an interpreter's start-up.
SH_SERVER = (
    "while read -r line; do id=$(printf '%s' \"$line\" | sed -n 's/.*\"id\":\\([0-9][0-9]*\\).*/\\1/p'); "
    "[ -n \"$id\" ] && printf '{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"protocolVersion\":\"2025-11-25\","
    "\"capabilities\":{},\"serverInfo\":{\"name\":\"sh\",\"version\":\"1\"}}}\\n' \"$id\"; done"
)


def runtimes(everything_js):
    return {
        "server-everything": {"transport": "stdio", "command": "node",
                              "args": [everything_js, "stdio"], "env": {}},
        "sh": {"transport": "stdio", "command": "sh", "args": ["-c", SH_SERVER], "env": {}},
    }


def start_once(base, token, tool_id):
    started = time.perf_counter()
    d = call(base, "POST", "/api/v1/deployments", token, {"tool_id": tool_id})
    path = f"/api/v1/deployments/{d['deployment_id']}"
    while True:
        status = call(base, "GET", path, token)["status"]
        if status == "running":
            elapsed = (time.perf_counter() - started) * 1000
            break
        if status == "failed":
            raise SystemExit(f"deployment failed at {base}: {call(base, 'GET', path, token)}")
        time.sleep(POLL)
    call(base, "DELETE", path, token)
    return elapsed


def main():
    on, off, user, password, everything_js, runs = sys.argv[1:7]
    runs = int(runs)
    bases = {"on": on, "off": off}
    tokens = {mode: login(base, user, password) for mode, base in bases.items()}
    out = {}
    for kind, runtime in runtimes(everything_js).items():
        tools = {}
        for mode, base in bases.items():
            tool = call(base, "POST", "/api/v1/mcps", tokens[mode], {
                "name": f"bench {kind}", "slug": f"bench-{kind}", "description": "sandbox bench",
                "version": "1.0.0", "config": {"runtime": runtime}})
            tools[mode] = tool["id"]
        samples = {"on": [], "off": []}
        # One warm-up each (page cache, first-launch work), not counted.
        for mode in bases:
            start_once(bases[mode], tokens[mode], tools[mode])
        for i in range(runs):
            order = ["on", "off"] if i % 2 == 0 else ["off", "on"]
            for mode in order:
                samples[mode].append(start_once(bases[mode], tokens[mode], tools[mode]))
        out[kind] = samples
    print(json.dumps(out))


if __name__ == "__main__":
    main()
