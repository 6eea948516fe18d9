"""The gxp command as a person uses it: a real process, real stores, exit codes of DESIGN.md."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gxp_assets.stores.local import LocalArtifactStore
from gxp_assets_tests.conftest import relaxed_plan


def gxp(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gxp_assets.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text((Path(__file__).parents[1] / "dagster.yaml").read_text())
    return {
        **os.environ,
        "GXP_HOME": str(tmp_path / "gxp_home"),
        "DAGSTER_HOME": str(dagster_home),
        "GXP_PLAN": str(relaxed_plan(tmp_path / "plan.yaml")),  # a small demo model, small limits
    }


def test_run_then_verify_then_detect_tampering(tmp_path: Path, env: dict[str, str]) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "ops": {
                    "labelled_reports": {"config": {"demo_documents": 250}},
                    "ae_classifier": {"config": {"max_rounds": 60, "num_threads": 1}},
                }
            }
        )
    )
    run = gxp("run", "--config", str(config), env=env)
    assert run.returncode == 0, run.stderr
    assert "SUCCESS" in run.stdout and "check records_reconciled" in run.stdout and "dagster dev" in run.stdout
    assert "Model on the test split: AUROC" in run.stdout

    verified = gxp("artifacts", "verify", env=env)
    recorded = len(LocalArtifactStore(env["GXP_HOME"]).versions())
    assert recorded >= 9  # eight assets and the evaluation's plots and model card
    assert verified.returncode == 0 and f"{recorded} of {recorded} recorded artifacts verified" in verified.stdout

    ref = LocalArtifactStore(env["GXP_HOME"]).latest("ae_triage/dataset_splits")  # the full key path
    path = Path(ref.uri.removeprefix("file://"))
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b"\x00")
    failed = gxp("artifacts", "verify", env=env)
    assert failed.returncode == 1
    assert "dataset_splits" in failed.stderr and ref.sha256 in failed.stderr

    exported = gxp("artifacts", "export", "ae_triage/labelled_reports", "--out", str(tmp_path / "out.parquet"), env=env)
    assert exported.returncode == 0 and (tmp_path / "out.parquet").stat().st_size > 0


def test_usage_errors_exit_2_and_run_needs_a_dagster_home(env: dict[str, str]) -> None:
    assert gxp("no-such-command", env=env).returncode == 2
    assert gxp("artifacts", env=env).returncode == 2
    assert gxp("--help", env=env).returncode == 0
    without_home = {key: value for key, value in env.items() if key != "DAGSTER_HOME"}
    refused = gxp("run", env=without_home)
    assert refused.returncode == 1 and "DAGSTER_HOME" in refused.stderr
    unknown = gxp("run", "--use-case", "no_such_case", env=env)
    assert unknown.returncode == 1 and "'no_such_case' has no asset graph" in unknown.stderr, unknown.stderr
    no_records = gxp("run", "--use-case", "dissolution_risk", env=env)  # declared records: their path is config
    assert no_records.returncode == 1, no_records.stderr
    assert "the run config of dissolution_risk__train_model is incomplete" in no_records.stderr
    assert "dissolution_risk__labelled_reports" in no_records.stderr and "path" in no_records.stderr


def test_demo_data_command_writes_the_contract(tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "demo.csv"
    assert gxp("demo-data", "--out", str(out), "--documents", "5", env=env).returncode == 0
    assert out.read_text().splitlines()[0] == "report_id,document_id,source,text,received_at,label,product"
