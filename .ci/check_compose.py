#!/usr/bin/env python3
"""Checks docker-compose.yml and the .env.* templates against what the
platform and the deployment guide need, offline (no Docker engine here).

- api, worker and scheduler wait for the one-shot `migrate` service
  (service_completed_successfully); migrate runs `migrate up`.
- Only nginx binds a host port among the platform's services, and no
  container_name: `--scale api=N` and `--scale worker=N` work.
- Every long-running service has a healthcheck; every service has
  deploy.resources.limits (cpus and memory).
- VECTOR_INDEX=qdrant is built with the `qdrant` feature, a real feature of
  shared/Cargo.toml, passed to the Dockerfile's FEATURES argument.
- Every variable the compose file gives the platform is one the platform
  reads (shared/src/config, shared/src/main.rs); every name in
  .env.docker/.env.staging/.env.production is one docker-compose.yml reads,
  and every name in .env.development one the platform reads.

Takes the resolved compose model from `docker-compose config` (stdin) so
anchors and merges are expanded the way Compose expands them.
"""
import pathlib
import re
import sys
import tomllib

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
PLATFORM = ("migrate", "api", "worker", "scheduler")
ONE_SHOT = {"migrate"}

errors = []


def fail(msg):
    errors.append(msg)


def platform_names():
    """Variable names the platform reads: string literals in its config code."""
    names = set()
    sources = list((ROOT / "shared/src/config").glob("*.rs")) + [ROOT / "shared/src/main.rs"]
    for path in sources:
        names.update(re.findall(r'"([A-Z][A-Z0-9_]{2,})"', path.read_text()))
    return names


def env_file_names(path):
    """KEY of every `KEY=value` or commented `# KEY=value` line."""
    return {
        m.group(1)
        for line in path.read_text().splitlines()
        if (m := re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=", line))
    }


def main():
    model = yaml.safe_load(sys.stdin)
    services = model["services"]
    raw = (ROOT / "docker-compose.yml").read_text()
    compose_vars = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", raw))
    known = platform_names()

    for name in PLATFORM:
        if name not in services:
            fail(f"service {name} missing")
    if services.get("migrate", {}).get("command") != ["migrate", "up"]:
        fail("migrate: command must be [migrate, up]")
    for name in ("api", "worker", "scheduler"):
        dep = services.get(name, {}).get("depends_on", {}).get("migrate", {})
        if dep.get("condition") != "service_completed_successfully":
            fail(f"{name}: must depend on migrate with condition service_completed_successfully")

    for name, svc in services.items():
        if "container_name" in svc:
            fail(f"{name}: container_name prevents --scale")
        if name in PLATFORM and svc.get("ports"):
            fail(f"{name}: binds a host port; only nginx may (so api/worker scale)")
        if name not in ONE_SHOT and "healthcheck" not in svc:
            fail(f"{name}: no healthcheck")
        limits = svc.get("deploy", {}).get("resources", {}).get("limits", {})
        if not ("cpus" in limits and "memory" in limits):
            fail(f"{name}: deploy.resources.limits needs cpus and memory")
        if name in PLATFORM:
            for var in svc.get("environment", {}):
                if var not in known:
                    fail(f"{name}: environment {var} is not a variable the platform reads")

    nginx = services.get("nginx", {})
    if not nginx.get("ports"):
        fail("nginx: must publish the host port")
    if nginx.get("depends_on", {}).get("api", {}).get("condition") != "service_healthy":
        fail("nginx: must wait for a healthy api")

    features = tomllib.loads((ROOT / "shared/Cargo.toml").read_text())["features"]
    for name in PLATFORM:
        svc = services[name]
        wanted = set(str(svc.get("build", {}).get("args", {}).get("FEATURES", "")).split(","))
        wanted.discard("")
        for f in wanted - set(features):
            fail(f"{name}: build feature {f} is not in shared/Cargo.toml")
        if svc.get("environment", {}).get("VECTOR_INDEX") == "qdrant" and "qdrant" not in wanted:
            fail(f"{name}: VECTOR_INDEX=qdrant needs build arg FEATURES with qdrant")
    dockerfile = (ROOT / "infra/Dockerfile").read_text()
    if not re.search(r'^ARG FEATURES', dockerfile, re.M) or '--features "$FEATURES"' not in dockerfile:
        fail("infra/Dockerfile: must build with ARG FEATURES (--features \"$FEATURES\")")

    for env in (".env.docker", ".env.staging", ".env.production"):
        for var in sorted(env_file_names(ROOT / env) - compose_vars):
            fail(f"{env}: {var} is not read by docker-compose.yml")
    for var in sorted(env_file_names(ROOT / ".env.development") - known):
        fail(f".env.development: {var} is not a variable the platform reads")

    for e in errors:
        print(f"check_compose: {e}", file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"check_compose: {len(services)} services and 4 env templates ok")


main()
