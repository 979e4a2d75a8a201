"""Offline checks of terraform/ (no terraform binary installs here).

Every .tf file must parse as HCL2 (python-hcl2), and the pieces the
platform's behaviour relies on must be there: each Lambda binary under
functions/ is deployed, the job worker reports partial batch failures, the
job queue dead-letters through a redrive policy, and the scheduler runs on
an EventBridge schedule. Exits non-zero naming what is wrong.
"""

import pathlib
import sys

import hcl2

root = pathlib.Path(__file__).resolve().parent.parent
tf_dir = root / "terraform"
problems = []
blocks = {"resource": {}, "locals": [], "variable": {}, "output": {}}


def bare(name):
    """Block labels come quoted from some python-hcl2 versions."""
    return name.strip('"')


for path in sorted(tf_dir.glob("*.tf")):
    try:
        with path.open() as fh:
            doc = hcl2.load(fh)
    except Exception as e:  # lark raises several error types
        problems.append(f"{path.relative_to(root)}: not valid HCL2: {str(e).splitlines()[0]}")
        continue
    for resource in doc.get("resource", []):
        for rtype, named in resource.items():
            for name, body in named.items():
                blocks["resource"][(bare(rtype), bare(name))] = body
    blocks["locals"].extend(doc.get("locals", []))
    for kind in ("variable", "output"):
        for item in doc.get(kind, []):
            blocks[kind].update({bare(k): v for k, v in item.items()})

if not problems:
    text = "\n".join(p.read_text() for p in tf_dir.glob("*.tf"))
    for crate in sorted((root / "functions").iterdir()):
        if (crate / "Cargo.toml").is_file() and f'"{crate.name}"' not in text:
            problems.append(
                f"functions/{crate.name} is not deployed: add it to local.http_functions "
                "or local.functions in terraform/functions.tf"
            )
    mapping = blocks["resource"].get(("aws_lambda_event_source_mapping", "jobs"))
    if not mapping or "ReportBatchItemFailures" not in str(mapping.get("function_response_types")):
        problems.append("the job worker's SQS event source mapping must set "
                        'function_response_types = ["ReportBatchItemFailures"]')
    queue = blocks["resource"].get(("aws_sqs_queue", "jobs"))
    if not queue or "deadLetterTargetArn" not in str(queue.get("redrive_policy")):
        problems.append("the job queue needs a redrive_policy to the dead-letter queue")
    rule = blocks["resource"].get(("aws_cloudwatch_event_rule", "cron"))
    if not rule or "schedule_expression" not in rule:
        problems.append("cron-scheduler needs an EventBridge schedule rule")
    for name, body in blocks["variable"].items():
        if "description" not in body:
            problems.append(f"variable {name} has no description")

for problem in problems:
    print(f"terraform: {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"terraform: {len(list(tf_dir.glob('*.tf')))} files parse; "
      f"{len(blocks['resource'])} resources, {len(blocks['variable'])} variables checked")
