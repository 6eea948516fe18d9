"""deploy/dagster.yaml, the production instance, through Dagster's own validation: the instance schema (storage,
including dagster core's schema of the postgres section), then each configurable class's own config type with the
environment the compute stack sets. dagster-postgres is not installed in the test environment (the image installs
it through the `deploy` extra); the schema of its section lives in dagster core, so nothing is skipped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from dagster._config import process_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import class_from_code_pointer

from gxp_assets_tests.conftest import PROJECT_ROOT

PRODUCTION = PROJECT_ROOT / "deploy" / "dagster.yaml"
#: What deploy/compute.yaml puts in every Dagster container's environment (the secrets through Secrets Manager).
ENVIRONMENT = {
    "DAGSTER_PG_HOST": "dagster.cluster.eu-west-1.rds.amazonaws.com",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "not-a-secret",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_RUN_TASK_DEFINITION": "gxp-prod-dagster-run",
    "DAGSTER_COMPUTE_LOG_BUCKET": "gxp-prod-artifactbucket-1",
}


@pytest.fixture
def instance_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    shutil.copy(PRODUCTION, tmp_path / "dagster.yaml")
    return tmp_path


def test_the_production_instance_passes_dagsters_instance_schema(instance_dir: Path) -> None:
    config, custom_class = dagster_instance_config(str(instance_dir))
    assert custom_class is None
    postgres = config["storage"]["postgres"]["postgres_db"]
    assert postgres["hostname"] == {"env": "DAGSTER_PG_HOST"} and postgres["params"] == {"sslmode": "require"}
    assert config["run_launcher"]["class"] == "EcsRunLauncher"
    assert config["compute_logs"]["class"] == "S3ComputeLogManager"


def test_each_configured_class_accepts_its_section(instance_dir: Path) -> None:
    raw = yaml.safe_load(PRODUCTION.read_text(encoding="utf-8"))
    checked = []
    for section in ("run_coordinator", "run_launcher", "compute_logs", "local_artifact_storage"):
        klass = class_from_code_pointer(raw[section]["module"], raw[section]["class"])
        result = process_config(klass.config_type(), raw[section]["config"])
        assert result.success, (section, [error.message for error in result.errors or []])
        checked.append((section, result.value))
    launcher = dict(checked)["run_launcher"]
    # EcsRunLauncher reads the task definition's variable itself when it starts (dagster_aws.ecs.launcher)
    assert launcher["task_definition"] == {"env": "DAGSTER_RUN_TASK_DEFINITION"} and launcher["secrets_tag"] is None
    logs = dict(checked)["compute_logs"]
    assert logs["bucket"] == "gxp-prod-artifactbucket-1"
    assert logs["upload_extra_args"] == {"ServerSideEncryption": "aws:kms"}


def test_a_broken_section_is_refused_by_the_same_validation(instance_dir: Path) -> None:
    """The validation above is not vacuous: a misspelt postgres key fails it."""
    broken = PRODUCTION.read_text(encoding="utf-8").replace("db_name:", "database:")
    (instance_dir / "dagster.yaml").write_text(broken, encoding="utf-8")
    with pytest.raises(DagsterInvalidConfigError):
        dagster_instance_config(str(instance_dir))
