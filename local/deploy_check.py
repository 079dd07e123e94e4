"""``make deploy-check``: what a deploy would refuse, found before it.

The Makefile target runs ``sam validate --lint`` and ``cfn-lint`` (with its
informational rules); this module then checks

1. **CloudFormation's quotas** on template.yaml as written and as SAM
   transforms it (AWS CloudFormation User Guide, "AWS CloudFormation
   quotas"), and IAM's on each function's role (IAM User Guide, "IAM and AWS
   STS quotas");
2. **the permissions report**: every AWS call the functions made in the last
   test run (``make test``), as each process recorded it (local/iam.py), by
   function, with the statement of its role in template.yaml that allowed it.
   It fails on a call the role did not allow (also one a test let pass as a
   500), on calls checked against another version of template.yaml, and when
   nothing was recorded.

    python -m local deploy-check [--permissions test-output/permissions]
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local import roles
from local.template import ROOT, TEMPLATE, Stack, default_parameters, load_template

PERMISSIONS_LOG = ROOT / "test-output" / "permissions"

# AWS CloudFormation User Guide, "AWS CloudFormation quotas".
TEMPLATE_BODY_IN_REQUEST = 51_200  # bytes; sam deploy uploads larger templates to S3 first
TEMPLATE_BODY_IN_S3 = 1_000_000  # "1 MB"
RESOURCES = 500
PARAMETERS = 200
OUTPUTS = 200
MAPPINGS = 200
MAPPING_ATTRIBUTES = 200
NAME_CHARACTERS = 255  # a resource, parameter, output or mapping name
DESCRIPTION_BYTES = 1_024
PARAMETER_VALUE_BYTES = 4_096
# IAM User Guide, "IAM and AWS STS quotas".
ROLE_INLINE_POLICY_CHARACTERS = 10_240  # all of a role's inline policies, white space not counted
ROLE_MANAGED_POLICIES = 10


@dataclass(frozen=True)
class Finding:
    ok: bool
    text: str


def _size(document: Any) -> int:
    return len(json.dumps(document, separators=(",", ":"), default=str).encode())


def template_limits(text: bytes, template: Mapping[str, Any], translated: Mapping[str, Any]) -> list[Finding]:
    """CloudFormation's quotas on the template as written and as transformed."""
    out = [
        Finding(
            len(text) <= TEMPLATE_BODY_IN_S3,
            f"template.yaml: {len(text):,} bytes of at most {TEMPLATE_BODY_IN_S3:,} (a template in S3, as sam deploy"
            f" uploads it; {'within' if len(text) <= TEMPLATE_BODY_IN_REQUEST else 'over'} the"
            f" {TEMPLATE_BODY_IN_REQUEST:,} of a template sent in the request)",
        ),
        Finding(
            _size(translated) <= TEMPLATE_BODY_IN_S3,
            f"transformed: {_size(translated):,} bytes of at most {TEMPLATE_BODY_IN_S3:,}",
        ),
    ]
    for label, document in (("template.yaml", template), ("transformed", translated)):
        for section, most in (
            ("Resources", RESOURCES),
            ("Parameters", PARAMETERS),
            ("Outputs", OUTPUTS),
            ("Mappings", MAPPINGS),
        ):
            count = len(document.get(section) or {})
            out.append(Finding(count <= most, f"{label}: {count} {section.lower()} of at most {most}"))
        for section in ("Resources", "Parameters", "Outputs", "Mappings"):
            long = [name for name in document.get(section) or {} if len(name) > NAME_CHARACTERS]
            if long:
                out.append(Finding(False, f"{label}: {section} names over {NAME_CHARACTERS} characters: {long}"))
        for name, mapping in (document.get("Mappings") or {}).items():
            if len(mapping) > MAPPING_ATTRIBUTES:
                out.append(
                    Finding(False, f"{label}: mapping {name} has {len(mapping)} attributes of {MAPPING_ATTRIBUTES}")
                )
    description = str(template.get("Description", "")).encode()
    out.append(
        Finding(
            len(description) <= DESCRIPTION_BYTES, f"description: {len(description)} bytes of {DESCRIPTION_BYTES:,}"
        )
    )
    for name, spec in (template.get("Parameters") or {}).items():
        default = str(spec.get("Default", "")).encode()
        if len(default) > PARAMETER_VALUE_BYTES:
            out.append(
                Finding(False, f"parameter {name}: default of {len(default)} bytes over {PARAMETER_VALUE_BYTES}")
            )
    return out


def role_limits(translated: Mapping[str, Any], stack: Stack) -> list[Finding]:
    """IAM's quotas on each role SAM makes, its inline policies resolved for ``stack``."""
    resolve = roles.resolver(stack)
    out = []
    for logical, resource in translated["Resources"].items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        properties = resource.get("Properties") or {}
        inline = [resolve(p["PolicyDocument"]) for p in properties.get("Policies") or []]
        # An AWS::IAM::Policy is an inline policy of each role it names
        inline += [
            resolve(other["Properties"]["PolicyDocument"])
            for other in translated["Resources"].values()
            if other.get("Type") == "AWS::IAM::Policy"
            and {"Ref": logical} in ((other.get("Properties") or {}).get("Roles") or [])
        ]
        characters = sum(len(re.sub(r"\s", "", json.dumps(doc))) for doc in inline)
        managed = len(properties.get("ManagedPolicyArns") or [])
        out.append(
            Finding(
                characters <= ROLE_INLINE_POLICY_CHARACTERS and managed <= ROLE_MANAGED_POLICIES,
                f"{logical}: inline policies {characters:,} characters of {ROLE_INLINE_POLICY_CHARACTERS:,},"
                f" {managed} managed policies of {ROLE_MANAGED_POLICIES}",
            )
        )
    return out


# ---------------------------------------------------------- permissions report
_OBJECT = re.compile(r"^(arn:[^:]+:s3:::[^/]+)/.+$")
_SECRET_SUFFIX = re.compile(r"(:secret:.+)-[A-Za-z0-9]{6}$")


def _shown(resource: str) -> str:
    """A resource as the report groups it: one line per bucket's objects, and a
    secret without the random suffix its ARN has in each stack."""
    resource = _OBJECT.sub(r"\1/<key>", resource)
    return _SECRET_SUFFIX.sub(r"\1-??????", resource)


@dataclass
class Report:
    lines: list[str]
    denied: int
    stale: int
    calls: int

    @property
    def ok(self) -> bool:
        return self.calls > 0 and self.denied == 0 and self.stale == 0


def permissions_report(folder: Path, digest: str) -> Report:
    """Every call recorded under ``folder``, by function, action and resource."""
    grouped: dict[str, dict[tuple[str, str, bool, str], int]] = defaultdict(lambda: defaultdict(int))
    stale = calls = denied = 0
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    for file in files:
        for line in file.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["template"] != digest:
                stale += row["calls"]
                continue
            calls += row["calls"]
            denied += 0 if row["allowed"] else row["calls"]
            key = (row["action"], _shown(row["resource"]), row["allowed"], row["statement"])
            grouped[row["function"]][key] += row["calls"]
    lines = [f"Permissions report: {calls:,} AWS calls recorded by {len(files)} processes of the last test run"]
    for function in sorted(grouped):
        rows = grouped[function]
        lines.append(f"\n{function} ({sum(rows.values()):,} calls)")
        for (action, resource, allowed, statement), n in sorted(rows.items()):
            verdict = f"allowed by {statement}" if allowed else "DENIED: no statement of its role allows it"
            lines.append(f"  {n:>7,}  {action:<34} {resource}\n{'':11}{verdict}")
    if stale:
        lines.append(f"\n{stale:,} calls were checked against another version of template.yaml: run make test again")
    if not calls:
        lines.append(f"\nno calls recorded in {folder}: run the tests first (make test does)")
    return Report(lines=lines, denied=denied, stale=stale, calls=calls)


def main(permissions: Path | None = None) -> int:
    permissions = permissions or PERMISSIONS_LOG
    text = TEMPLATE.read_bytes()
    template = load_template()
    stack = roles.placeholder_stack(template, default_parameters(template))
    translated = roles.translate(template, stack.parameters, roles.pseudo_parameters(stack))
    findings = template_limits(text, template, translated) + role_limits(translated, stack)
    print("CloudFormation and IAM quotas (template.yaml with its default parameters):")
    for finding in findings:
        print(f"  {'ok  ' if finding.ok else 'OVER'} {finding.text}")
    report = permissions_report(permissions, roles.template_digest(text))
    print()
    print("\n".join(report.lines))
    failed = [f for f in findings if not f.ok]
    if report.denied:
        print(
            f"\n{report.denied:,} calls were denied: add the permission to the role in template.yaml, or fix the call"
        )
    if failed or not report.ok:
        print("\ndeploy-check: FAILED")
        return 1
    print("\ndeploy-check: every quota kept, every recorded call allowed by its function's role")
    return 0
