"""The README's main job on aws: `gxp aws provision --stack S`, then `GXP_ENV=aws GXP_AWS_STACK=S gxp demo` as a real
process against the moto server on loopback; its artifacts are in S3, registry, audit trail and results in DynamoDB,
its e-mail in SES, and `gxp audit verify`, `gxp registry show`, `gxp queue` and `gxp trace` answer from there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from gxp_assets_tests.aws_server import aws_env, moto_endpoint, reset_contexts, sent_mail
from gxp_assets_tests.conftest import PROJECT_ROOT, relaxed_plan

__all__ = ["aws_env", "moto_endpoint"]


def _gxp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gxp_assets.cli", *args], capture_output=True, text=True, env=env,
                          cwd=PROJECT_ROOT, timeout=900)  # fmt: skip


def test_gxp_demo_runs_on_aws_and_every_record_is_in_the_stack(
    aws_env: dict[str, str], moto_endpoint: str, tmp_path: Path
) -> None:
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    config = tmp_path / "small.yaml"
    config.write_text(yaml.safe_dump({"ops": {"labelled_reports": {"config": {"format": "demo",
                                                                               "demo_documents": 400}}}}))  # fmt: skip
    env = {**os.environ, **aws_env, "GXP_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(dagster_home),
           "GXP_PLAN": str(relaxed_plan(tmp_path / "plan.yaml"))}  # fmt: skip
    assert _gxp(env, "aws", "provision", "--stack", "demo").returncode == 0
    aws = {**env, "GXP_ENV": "aws", "GXP_AWS_STACK": "demo", "GXP_AWS_CALLS": "1"}
    demo = _gxp(aws, "demo", "--config", str(config))
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "is ACTIVE" in demo.stdout and "s3://" in demo.stdout
    assert "AWS calls to stack demo" in demo.stderr

    demo_only = tmp_path / "home" / "demo-only"
    signed = {**aws, "GXP_PLAN": str(demo_only / "plan-DEMO-ONLY.yaml"),
              "GXP_ROLES": str(demo_only / "roles-DEMO-ONLY.yaml")}  # fmt: skip
    verified = _gxp(signed, "audit", "verify")
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stderr
    listed = _gxp(signed, "registry", "list").stdout.split()
    version = next(token for token in listed if token.startswith("ae_triage-"))  # ids start with the use case id
    assert "ACTIVE" in listed
    shown = _gxp(signed, "registry", "show", version)
    assert shown.returncode == 0 and "every control verified" in shown.stdout
    queue = _gxp(signed, "queue", "--limit", "1")
    assert queue.returncode == 0 and "PRIORITY report(s) awaiting adjudication" in queue.stdout
    report_id = re.search(r"\s(\S+-demo-\d+-\d+)\s", queue.stdout).group(1)  # type: ignore[union-attr]
    traced = _gxp(signed, "trace", report_id)
    assert traced.returncode == 0 and f"model {version}," in traced.stdout

    os.environ.update({"GXP_ENV": "aws", "GXP_AWS_STACK": "demo", "GXP_HOME": str(tmp_path / "home")})
    try:
        reset_contexts()
        from gxp_assets import stores

        assert all(ref.uri.startswith("s3://") for ref in stores.artifact_store().versions())
        assert stores.registry().active("ae_triage").version == version
        assert stores.audit_trail().verify() == [] and len(stores.results_store().batches()) == 1
    finally:
        for name in ("GXP_ENV", "GXP_AWS_STACK", "GXP_HOME"):
            os.environ.pop(name, None)
        reset_contexts()
    subjects = [mail["subject"] for mail in sent_mail(moto_endpoint)]
    assert f"[gxp model_activated] model {version} is ACTIVE" in subjects
    assert any(subject.startswith("[gxp priority_reports]") for subject in subjects)
