#!/usr/bin/env python3
"""What infra/k8s must hold beyond schema validity (kubernetes-validate
--strict checks that): every manifest listed in kustomization.yaml; every
pod non-root with a seccomp profile, no privilege escalation and all
capabilities dropped, and a read-only root filesystem (rabbitmq excepted:
its entrypoint writes its config); the api probed on /ready and /health;
one scheduler; an HPA for api and worker; a default-deny NetworkPolicy; the
image's user (infra/Dockerfile) the one the platform pods run as."""
import pathlib
import re
import sys

import yaml

K8S = pathlib.Path(__file__).resolve().parent.parent / "infra/k8s"
WRITABLE_ROOT = {"rabbitmq"}
errors = []


def pod_spec(doc):
    spec = doc.get("spec", {})
    return spec.get("template", {}).get("spec") if doc["kind"] in (
        "Deployment", "StatefulSet", "Job") else None


def main():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    for missing in sorted(present - listed):
        errors.append(f"kustomization.yaml does not list {missing}")
    for gone in sorted(listed - present):
        errors.append(f"kustomization.yaml lists missing {gone}")

    uid = int(re.search(r"--uid (\d+)", (K8S.parent / "Dockerfile").read_text()).group(1))
    docs = [d for p in sorted(present) for d in yaml.safe_load_all((K8S / p).read_text()) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
        spec = pod_spec(d)
        if spec is None:
            continue
        name = d["metadata"]["name"]
        psc = spec.get("securityContext", {})
        if not psc.get("runAsNonRoot") or "seccompProfile" not in psc:
            errors.append(f"{name}: pod needs runAsNonRoot and a seccompProfile")
        if spec["containers"][0]["image"].startswith("mcp-platform") and psc.get("runAsUser") != uid:
            errors.append(f"{name}: runs as {psc.get('runAsUser')}, the image's user is {uid}")
        for c in spec["containers"]:
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False or sc.get("capabilities", {}).get("drop") != ["ALL"]:
                errors.append(f"{name}/{c['name']}: allowPrivilegeEscalation false, drop ALL")
            if name not in WRITABLE_ROOT and not sc.get("readOnlyRootFilesystem"):
                errors.append(f"{name}/{c['name']}: readOnlyRootFilesystem")
            if "limits" not in c.get("resources", {}):
                errors.append(f"{name}/{c['name']}: resource limits")

    api = by_kind.get("Deployment", {}).get("mcp-api")
    c = api and api["spec"]["template"]["spec"]["containers"][0]
    if not c or c["readinessProbe"]["httpGet"]["path"] != "/ready" \
            or c["livenessProbe"]["httpGet"]["path"] != "/health":
        errors.append("mcp-api: readiness /ready and liveness /health")
    if by_kind.get("Deployment", {}).get("mcp-scheduler", {}).get("spec", {}).get("replicas") != 1:
        errors.append("mcp-scheduler: exactly one replica")
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind.get("HorizontalPodAutoscaler", {}).values()}
    if not {"mcp-api", "mcp-worker"} <= targets:
        errors.append(f"HPAs for mcp-api and mcp-worker (have {sorted(targets)})")
    for kind in ("StatefulSet",):
        for store in ("mysql", "mongodb", "redis", "qdrant", "rabbitmq"):
            s = by_kind.get(kind, {}).get(store)
            if not s or not s["spec"].get("volumeClaimTemplates"):
                errors.append(f"{store}: a StatefulSet with a PVC template")
    deny = by_kind.get("NetworkPolicy", {}).get("default-deny")
    if not deny or deny["spec"]["podSelector"] != {} or set(deny["spec"]["policyTypes"]) != {"Ingress", "Egress"}:
        errors.append("NetworkPolicy default-deny (all pods, Ingress and Egress)")
    if "Job" not in by_kind:
        errors.append("the migrate Job")

    for e in errors:
        print(f"check_k8s: {e}", file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"check_k8s: {len(docs)} resources in {len(present)} manifests ok")


main()
