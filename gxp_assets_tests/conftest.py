"""Fixtures shared by the suite: isolated stores and instances, and the real corpus where it exists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ADE_CORPUS = PROJECT_ROOT.parent / "shared" / "data" / "ade_corpus_v2"


@pytest.fixture
def gxp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh GXP_HOME for one test, so no test sees another's artifacts."""
    home = tmp_path / "gxp_home"
    home.mkdir()
    monkeypatch.setenv("GXP_HOME", str(home))
    return home


@pytest.fixture
def dagster_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DagsterInstance]:
    """A persistent SQLite instance in a temporary DAGSTER_HOME configured by the project's dagster.yaml."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:
        yield instance


@pytest.fixture(scope="session")
def ade_corpus() -> Path:
    if not (ADE_CORPUS / "DRUG-AE.rel").is_file():
        pytest.skip(f"ADE Corpus V2 not found at {ADE_CORPUS} (it lives in ../shared/data beside the project)")
    return ADE_CORPUS


def relaxed_plan(path: Path, guarantee: dict | None = None) -> Path:
    """The repository's plan with limits a small demo model can meet; everything else as in the real plan.

    The guarantee defaults to the marginal one, which tens of calibration records support; pass a PAC guarantee
    (``PAC_FOR_SMALL_MODELS``) where a test exercises it on a few hundred documents."""
    plan = yaml.safe_load((PROJECT_ROOT / "change_control_plan.yaml").read_text())
    plan["data_requirements"].update({"min_records": 100, "min_ae": 20})
    plan["acceptance_criteria"].update({"auroc_min": 0.6, "auto_close_min": 0.0, "subgroup_ae_recall_min": 0.5})
    plan["acceptance_criteria"]["ae_recall_tolerance"] = 0.2
    plan["guarantee"].update(guarantee or {"type": "marginal", "by_source": False})
    plan["retraining_triggers"]["drift"]["review_share_max"] = 0.8  # a small model reviews more
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


#: Training-conditional and per source, at a level a few hundred calibration documents support (16 AE documents).
PAC_FOR_SMALL_MODELS = {"type": "pac", "miss_rate": 0.1, "delta": 0.2, "unit": "document", "by_source": True}
