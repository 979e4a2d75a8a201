#!/usr/bin/env python3
"""Checks that infra/prometheus/alerts.yml and the Grafana dashboard only use
metrics the platform exports, and that every dashboard query is valid PromQL
(promtool checks them as recording rules).

Exported names are read from the code that renders /metrics
(shared/src/metrics.rs, api/ops.rs, gateway/usage.rs): `# TYPE` lines and
the gauge/counter tuples, with _bucket/_sum/_count for histograms. PENDING lists names
the alerts use ahead of the code: the queue depth and dead-letter gauges.
"""
import json
import pathlib
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCES = ["shared/src/metrics.rs", "shared/src/api/ops.rs", "shared/src/gateway/usage.rs"]
PENDING: set[str] = set()
PROMETHEUS_OWN = {"up"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan"}


def exported():
    """`# TYPE name …` lines, and the `("name", "help", value)` tuples
    rendered as `# TYPE {name}`."""
    names = set()
    for src in SOURCES:
        text = (ROOT / src).read_text()
        names.update(re.findall(r"# TYPE ([a-z_][a-z0-9_]*) ", text))
        names.update(re.findall(r'\(\s*"([a-z_][a-z0-9_]*)",\s*"[A-Z]', text))
        for hist in re.findall(r"# TYPE (\w+) histogram", text):
            names.update(f"{hist}_{s}" for s in ("bucket", "sum", "count"))
    return names


def metric_names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    return {t for t in re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", e)
            if t not in KEYWORDS and not re.fullmatch(r"\d.*", t)}


def main():
    known = exported() | PENDING | PROMETHEUS_OWN
    errors = []
    alerts = yaml.safe_load((ROOT / "infra/prometheus/alerts.yml").read_text())
    exprs = [(f"alert {r['alert']}", r["expr"]) for g in alerts["groups"] for r in g["rules"]]
    dash = json.loads((ROOT / "infra/grafana/dashboards/platform.json").read_text())
    panel_exprs = [(f"panel {p['title']!r}", t["expr"]) for p in dash["panels"] for t in p["targets"]]
    for where, expr in exprs + panel_exprs:
        for name in sorted(metric_names(expr) - known):
            errors.append(f"{where}: {name} is not a metric the platform exports")
    used = set().union(*(metric_names(e) for _, e in exprs + panel_exprs))
    for name in sorted(PENDING - used):
        errors.append(f"PENDING lists {name}, which nothing uses")

    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel_{i}", "expr": e} for i, (_, e) in enumerate(panel_exprs)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        yaml.safe_dump(rules, f)
        f.flush()
        check = subprocess.run(["promtool", "check", "rules", f.name],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if check.returncode != 0:
            errors.append(f"dashboard queries: promtool check rules failed:\n{check.stdout}")

    for e in errors:
        print(f"check_monitoring: {e}", file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"check_monitoring: exported: {', '.join(sorted(exported()))}")
    print(f"check_monitoring: {len(exprs)} alerts and {len(panel_exprs)} dashboard queries use "
          f"exported metrics")


main()
