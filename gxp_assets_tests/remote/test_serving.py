"""The serving container entry point over real HTTP on loopback: /ping, /invocations with batch scoring's answer
for the same report, and refusal of a model that fails the use-time verification."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gxp_assets.core.batch_scoring import ScoringStamp, score_file
from gxp_assets.core.demo_data import demo_batch
from gxp_assets.defs.deployed import deployed_model
from gxp_assets.defs.fail_safe import watch
from gxp_assets.defs.inference_assets import ScoringConfig
from gxp_assets.remote.model_bundle import bundle_files
from gxp_assets.remote.serving import MAX_BODY_BYTES, Collected
from gxp_assets.stores import artifact_store, open_governance
from gxp_assets_tests.conftest import register_recalibrated


def model_folder(root: Path, version: str) -> Path:
    """``/opt/ml/model`` as SageMaker unpacks the bundle the deployer made for ``version``."""
    governance = open_governance()
    model = governance.registry.get(version)
    folder = root / "model"
    folder.mkdir(parents=True)
    for name, payload in bundle_files(version, model.record_hash, governance.load_model_artifacts(model)).items():
        (folder / name).write_bytes(payload)
    return root


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(root: Path, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gxp_assets.remote", "serve"],  # as SageMaker starts the image
        env={**os.environ, **env, "GXP_SAGEMAKER_ROOT": str(root), "GXP_SERVING_HOST": "127.0.0.1",
             "GXP_SERVING_PORT": str(port)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()  # as SageMaker stops a container: SIGTERM, then SIGKILL when it does not end
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def call(url: str, body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def a_report() -> dict[str, Any]:
    row = demo_batch(20, 31, received_until=datetime.now(UTC) - timedelta(hours=1)).iloc[0]
    return {name: (None if isinstance(value, float) else str(value)) for name, value in row.items()}


def in_process(report_line: bytes, tmp_path: Path) -> dict[str, Any]:
    """Batch scoring of a file holding only this report, in this process."""
    governance = open_governance()
    deployed = deployed_model(governance, artifact_store())
    path = tmp_path / "one.jsonl"
    path.write_bytes(report_line + b"\n")
    config, sink = ScoringConfig(), Collected()
    stamp = ScoringStamp("one", deployed.version, deployed.plan_version, "test", datetime.now(UTC), timedelta(days=15))
    fail_safe = watch(deployed.version, deployed.reference, governance.plan.plan)
    score_file(path, deployed.model, deployed.spec, config.rules(), stamp, sink,
               fail_safe=fail_safe, explain_top_k=config.explain_top_k)  # fmt: skip
    return dict(sink.predictions[0].iloc[0])


def test_the_endpoint_answers_as_batch_scoring_does(world: dict, tmp_path: Path) -> None:
    root = model_folder(tmp_path / "opt_ml", world["version"])
    report = a_report()
    line = json.dumps(report).encode()
    with serving(root, world["env"]) as url:
        status, ping = call(f"{url}/ping")
        assert (status, ping) == (200, {"status": "ok", "model_version": world["version"]})
        status, answer = call(f"{url}/invocations", line)

        assert status == 200, answer
        expected = in_process(line, tmp_path)
        assert answer["p_ae"] == expected["p_ae"]  # exactly: JSON keeps a float's every bit
        for name in ("report_id", "input_sha256", "prediction_set", "triage", "triage_reason", "model_version",
                     "plan_version"):  # fmt: skip
            assert answer[name] == expected[name], name
        assert answer["explanation"] == json.loads(expected["explanation"]) and answer["explanation"]
        assert answer["model_version"] == world["version"]
        status, pretty = call(f"{url}/invocations", json.dumps(report, indent=2).encode())  # newlines inside
        assert status == 200 and (pretty["p_ae"], pretty["triage"]) == (answer["p_ae"], answer["triage"])

        assert call(f"{url}/invocations", b'{"report_id": "r1", "text": ')[0] == 400
        status, refused = call(f"{url}/invocations", b"[1, 2]")
        assert (status, refused["error"]) == (400, "not_a_report")
        status, refused = call(f"{url}/invocations", json.dumps({**report, "received_at": "yesterday"}).encode())
        assert (status, refused["error"]) == (422, "invalid_timestamp")
        assert "received_at" in refused["detail"]
        connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=30)
        connection.putrequest("POST", "/invocations")
        connection.putheader("Content-Length", str(MAX_BODY_BYTES + 1))  # refused before a byte is read
        connection.endheaders()
        assert connection.getresponse().status == 413
        connection.close()


def test_a_tampered_model_is_refused(world: dict, tmp_path: Path) -> None:
    root = model_folder(tmp_path / "opt_ml", world["version"])
    conformal = root / "model" / "conformal_model.json"
    record = json.loads(conformal.read_text())
    record["triage_policy"]["priority_min_p_ae"] = 0.01  # more PRIORITY: a small edit with large effects
    conformal.write_text(json.dumps(record))
    with serving(root, world["env"]) as url:
        status, ping = call(f"{url}/ping")
        assert status == 503 and ping["status"] == "refused"
        assert "artifact:conformal_model" in ping["reason"] and "it was replaced" in ping["reason"]
        status, answer = call(f"{url}/invocations", json.dumps(a_report()).encode())
        assert (status, answer["error"]) == (503, "model_refused")


def test_a_version_that_is_not_active_is_refused(world: dict, tmp_path: Path) -> None:
    pending = register_recalibrated(open_governance(), world["version"], "tess")  # verified, not approved
    root = model_folder(tmp_path / "opt_ml", pending.version)
    with serving(root, world["env"]) as url:
        status, ping = call(f"{url}/ping")
    assert status == 503
    assert f"model {pending.version} is PENDING_APPROVAL, not ACTIVE" in ping["reason"]


@pytest.fixture(autouse=True)
def _world_env(world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GXP_HOME", "DAGSTER_HOME", "GXP_PLAN", "GXP_ROLES"):
        monkeypatch.setenv(name, world["env"][name])
