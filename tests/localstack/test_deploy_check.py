"""local/deploy_check.py: CloudFormation's quotas and the permissions report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local import deploy_check

DIGEST = "a" * 64


def recorded(folder: Path, name: str, *rows: dict[str, Any]) -> None:
    folder.mkdir(exist_ok=True)
    lines = [
        json.dumps({"template": DIGEST, "statement": "ListJobsFunctionRolePolicy0 #1", "calls": 1, **row})
        for row in rows
    ]
    (folder / name).write_text("\n".join(lines) + "\n")


def call(**more: Any) -> dict[str, Any]:
    return {"function": "ListJobsFunction", "action": "s3:GetObject", "allowed": True, **more}


def test_the_report_groups_calls_by_function_and_passes_when_every_one_was_allowed(tmp_path: Path) -> None:
    recorded(tmp_path, "pytest-gw0.jsonl", call(resource="arn:aws:s3:::emailops-bodiesbucket/acme.com/01A", calls=3))
    recorded(
        tmp_path,
        "stack-1.jsonl",
        call(resource="arn:aws:s3:::emailops-bodiesbucket/beta.io/01B"),
        call(
            action="secretsmanager:GetSecretValue",
            resource="arn:aws:secretsmanager:us-east-1:123456789012:secret:emailops-CursorSecret-AbCdEf",
        ),
    )
    report = deploy_check.permissions_report(tmp_path, DIGEST)
    assert report.ok and report.calls == 5
    text = "\n".join(report.lines)
    assert "by 2 processes" in text and "ListJobsFunction (5 calls)" in text
    # One line for the bucket's objects, and the secret without its random suffix
    assert "      4  s3:GetObject" in text and "emailops-bodiesbucket/<key>" in text
    assert "secret:emailops-CursorSecret-??????" in text


def test_a_denied_call_fails_the_report_even_one_a_test_let_pass(tmp_path: Path) -> None:
    recorded(
        tmp_path,
        "stack-1.jsonl",
        call(resource="arn:aws:s3:::b/k"),
        call(action="dynamodb:Query", resource="arn:aws:dynamodb:::table/t/index/ByRecipientStatus", allowed=False),
    )
    report = deploy_check.permissions_report(tmp_path, DIGEST)
    assert not report.ok and report.denied == 1
    assert "DENIED" in "\n".join(report.lines)


def test_calls_checked_against_another_template_or_none_at_all_fail_the_report(tmp_path: Path) -> None:
    assert not deploy_check.permissions_report(tmp_path / "missing", DIGEST).ok
    recorded(tmp_path, "pytest-main.jsonl", call(resource="arn:aws:s3:::b/k"))
    report = deploy_check.permissions_report(tmp_path, "b" * 64)
    assert not report.ok and report.stale == 1
    assert "another version of template.yaml" in "\n".join(report.lines)


def test_the_quotas_are_checked_on_the_template_and_its_transform() -> None:
    small: dict[str, Any] = {"Resources": {"A": {}}, "Parameters": {}, "Description": "x"}
    assert all(f.ok for f in deploy_check.template_limits(b"x" * 60_000, small, small))
    too_many = {**small, "Resources": {f"R{i}": {} for i in range(501)}}
    over = [f.text for f in deploy_check.template_limits(b"x", small, too_many) if not f.ok]
    assert over == ["transformed: 501 resources of at most 500"]
    too_big = [f.text for f in deploy_check.template_limits(b"x" * 1_000_001, small, small) if not f.ok]
    assert len(too_big) == 1 and too_big[0].startswith("template.yaml: 1,000,001 bytes")
