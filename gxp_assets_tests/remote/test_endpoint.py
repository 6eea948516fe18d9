"""Promotion and rollback reach the SageMaker endpoint, through the commands people run (`gxp demo`, `gxp approve`,
`gxp promote`, `gxp rollback` as real processes) against moto on loopback: a new endpoint config per version, the
endpoint switched to it, switched back on rollback, and SES telling people each time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto.core.responses import ActionResult
from moto.sagemaker.responses import SageMakerResponse

from gxp_assets.stores.aws_endpoint import sagemaker_name
from gxp_assets.stores.aws_session import reset_contexts
from gxp_assets_tests.aws_server import sent_mail
from gxp_assets_tests.conftest import PROJECT_ROOT, register_recalibrated, relaxed_plan
from gxp_assets_tests.remote.conftest import FAST_MODEL

ENDPOINT = "gxp-ae-triage"
SAGEMAKER = {"GXP_ENDPOINT_NAME": ENDPOINT, "GXP_SAGEMAKER_IMAGE": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/gxp:1",
             "GXP_SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/gxp-sagemaker"}  # fmt: skip


def _update_endpoint(self: SageMakerResponse) -> ActionResult:
    """UpdateEndpoint, which moto lacks: the endpoint now serves another existing config (moto's own errors if
    either is unknown)."""
    backend = self.sagemaker_backend
    name, config = self._get_param("EndpointName"), self._get_param("EndpointConfigName")
    backend.describe_endpoint(name)
    backend.describe_endpoint_config(config)
    endpoint = backend.endpoints[name]
    endpoint.endpoint_config_name = config
    return ActionResult({"EndpointArn": endpoint.arn})


def gxp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "gxp_assets.cli", *args], capture_output=True, text=True, env=env,
                          cwd=PROJECT_ROOT, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def serving(sagemaker: Any) -> tuple[str, dict[str, Any]]:
    """The endpoint's config now, and the model container behind it."""
    config = sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    variant = sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]
    return config, sagemaker.describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]


def test_promotion_switches_the_endpoint_and_rollback_switches_it_back(
    aws_env: dict[str, str], moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SageMakerResponse, "update_endpoint", _update_endpoint, raising=False)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    config = tmp_path / "small.yaml"
    config.write_text(yaml.safe_dump({"ops": {"labelled_reports": {"config": {"format": "demo", "demo_documents": 300}},
                                              "ae_classifier": {"config": FAST_MODEL}}}))  # fmt: skip
    stack = f"ep{os.getpid()}"
    env = {**os.environ, **aws_env, "GXP_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(dagster_home),
           "GXP_PLAN": str(relaxed_plan(tmp_path / "plan.yaml"))}  # fmt: skip
    gxp(env, "aws", "provision", "--stack", stack)
    env |= {"GXP_ENV": "aws", "GXP_AWS_STACK": stack, **SAGEMAKER}
    gxp(env, "demo", "--config", str(config))  # trains, approves and promotes: the first deployment
    demo_only = tmp_path / "home" / "demo-only"
    env |= {"GXP_PLAN": str(demo_only / "plan-DEMO-ONLY.yaml"), "GXP_ROLES": str(demo_only / "roles-DEMO-ONLY.yaml"),
            "GXP_DEMO_PASSPHRASE": (demo_only / "PASSPHRASE-DEMO-ONLY.txt").read_text().strip()}  # fmt: skip
    for name in ("GXP_HOME", "GXP_ENV", "GXP_AWS_STACK", "GXP_PLAN", "GXP_ROLES"):
        monkeypatch.setenv(name, env[name])
    reset_contexts()
    from gxp_assets.stores import open_governance

    governance = open_governance()
    first = governance.registry.active("ae_triage").version
    sagemaker = boto3.client("sagemaker")
    first_config, container = serving(sagemaker)
    assert first_config == sagemaker_name(ENDPOINT, first, first_config.rsplit("-", 1)[1])
    assert container["Image"] == SAGEMAKER["GXP_SAGEMAKER_IMAGE"] and container["ModelDataUrl"].startswith("s3://")
    assert container["Environment"]["GXP_AWS_STACK"] == stack

    second = register_recalibrated(governance, first, "alice").version
    for user in ("quinn", "petra"):
        gxp(env, "approve", second, "--user", user, "--reason", "recalibration reviewed", "--key",
            str(demo_only / "keys" / f"{user}.pem"), "--passphrase-env", "GXP_DEMO_PASSPHRASE")  # fmt: skip
    gxp(env, "promote", second)
    second_config, _ = serving(sagemaker)
    assert second_config != first_config  # a new config, and the endpoint on it
    assert second_config == sagemaker_name(ENDPOINT, second, second_config.rsplit("-", 1)[1])

    rolled = gxp(env, "rollback", first, "--user", "quinn", "--reason", "second version misbehaves", "--key",
                 str(demo_only / "keys" / "quinn.pem"), "--passphrase-env", "GXP_DEMO_PASSPHRASE")  # fmt: skip
    assert f"switched back to {first_config}" in rolled.stdout
    assert serving(sagemaker)[0] == first_config  # the earlier config again, not a third one
    configs = sagemaker.list_endpoint_configs()["EndpointConfigs"]
    assert sorted(c["EndpointConfigName"] for c in configs if c["EndpointConfigName"].startswith(ENDPOINT)) == sorted(
        [first_config, second_config]
    )

    subjects = [mail["subject"] for mail in sent_mail(moto_endpoint)]
    told = [s for s in subjects if s.startswith("[gxp model_endpoint_switched]")]
    assert f"[gxp model_endpoint_switched] endpoint {ENDPOINT} now serves model {first}" in told
    assert f"[gxp model_endpoint_switched] endpoint {ENDPOINT} now serves model {second}" in told
    assert told.count(f"[gxp model_endpoint_switched] endpoint {ENDPOINT} now serves model {first}") == 2
    deployments = [(e.subject, e.details["why"]) for e in governance.audit.entries() if e.action == "deployment"]
    assert deployments == [(first, "promotion"), (second, "promotion"), (first, "rollback: second version misbehaves")]
