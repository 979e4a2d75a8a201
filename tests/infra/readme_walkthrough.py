#!/usr/bin/env python3
"""Runs README.md's walk-through as pasted, against a fresh `serve` (the
debug binary, a temp data dir, a free port), and fails on any error.

The ```sh blocks of the sections in SECTIONS run in order in one bash
(`set -euo pipefail`, so state such as $TOKEN carries over), with
http://127.0.0.1:8000 rewritten to the server's address and
`cargo run --release --` to the binary. `curl` fails on HTTP errors
(--fail-with-body), so a 4xx/5xx answer stops the run. Each `# {…}`,
`# […]` or `# http…` comment after a command is the output the README
promises: unless it elides something with `…`, it must be a line of that
block's output.

Needs bash, curl, jq, and Node.js (npx) for the gateway section.
Run: python3 tests/infra/readme_walkthrough.py [README.md]
"""
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from mcp_instance import ROOT, Instance, platform_binary  # noqa: E402

SECTIONS = ["A first session with curl", "Deploying a tool behind the gateway", "Command line"]
README_URL = "http://127.0.0.1:8000"
MARK = "@@walkthrough block {}@@"


def blocks(readme_text, sections):
    """(section, code) of every ```sh block under the named headings."""
    out, current = [], None
    for part in re.split(r"^(#{2,3} .*)$", readme_text, flags=re.M):
        heading = re.match(r"#{2,3} (.*)", part)
        if heading:
            current = heading.group(1).strip()
            continue
        if current in sections:
            out += [(current, code) for code in re.findall(r"^```sh\n(.*?)^```$", part, re.M | re.S)]
    return out


def expected_lines(code):
    return [line[2:] for line in code.splitlines()
            if re.match(r"# (\{|\[|http)", line) and "…" not in line]


def main():
    readme = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "README.md"
    found = blocks(readme.read_text(), SECTIONS)
    missing = set(SECTIONS) - {s for s, _ in found}
    assert not missing, f"{readme}: no ```sh blocks under {sorted(missing)}"
    binary = platform_binary()
    work = pathlib.Path(tempfile.mkdtemp(prefix="readme-walkthrough-"))
    started = time.monotonic()
    server = Instance(binary, work, log=work / "server.log")
    try:
        script = ["set -euo pipefail",
                  'curl() { command curl --fail-with-body "$@"; }']
        for i, (_, code) in enumerate(found):
            code = code.replace(README_URL, server.url).replace("cargo run --release --", f'"{binary}"')
            # On its own line even after output without a final newline.
            script += [f"printf '\\n%s\\n' '{MARK.format(i)}'", code]
        env = dict(os.environ, MCP_DATA_DIR=str(work), NO_COLOR="1")
        run = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=300)
        outputs = re.split(r"^@@walkthrough block \d+@@$\n?", run.stdout, flags=re.M)[1:]
        if run.returncode != 0:
            last = len(outputs) - 1
            sys.exit(f"{readme}: block {last + 1} of {len(found)} ({found[last][0]}) failed "
                     f"with exit code {run.returncode}:\n{found[last][1]}\n--- its output:\n"
                     f"{outputs[-1] if outputs else run.stdout}")
        checked = 0
        for (section, code), output in zip(found, outputs):
            lines = output.splitlines()
            for want in expected_lines(code):
                want = want.replace(README_URL, server.url)
                assert want in lines, (f"{readme} ({section}): promised output\n  {want}\n"
                                       f"not in the block's output:\n{output}")
                checked += 1
        print(f"{readme.name}: {len(found)} blocks ran, {checked} promised outputs matched, "
              f"in {time.monotonic() - started:.1f}s")
    finally:
        server.stop()
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()
