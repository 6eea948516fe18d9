"""Fixtures shared by the suite: isolated stores and instances, and the real corpus where it exists."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from dagster import DagsterInstance

if TYPE_CHECKING:
    from gxp_assets.defs.use_case_scope import UseCaseScope

PROJECT_ROOT = Path(__file__).resolve().parent.parent
AE = "ae_triage"  # the use case these tests drive through the asset-graph factory


def ae_scope() -> UseCaseScope:
    """ae_triage's graph as definitions.py wires it (keys, job and op names, partitions)."""
    from gxp_assets.definitions import SCOPES

    return SCOPES[AE]


ADE_CORPUS = PROJECT_ROOT.parent / "shared" / "data" / "ade_corpus_v2"

# One sentence-embedding cache for the whole suite and the processes it starts: tests featurize the same demo texts
# many times, each in its own GXP_HOME. A test of the cache itself sets its own.
os.environ.setdefault("GXP_ENCODER_CACHE", str(PROJECT_ROOT / ".cache" / "sentence_encoder"))
os.environ.setdefault("GXP_ENCODER_CACHE_SCORING", "store")  # the suite scores the same demo texts many times


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
    plan = yaml.safe_load((PROJECT_ROOT / "use_cases" / "ae_triage" / "change_control_plan.yaml").read_text())
    plan["data_requirements"].update({"min_records": 100, "min_positive": 20})
    plan["acceptance_criteria"].update({"auroc_min": 0.6, "auto_close_min": 0.0, "subgroup_positive_recall_min": 0.5})
    plan["acceptance_criteria"]["positive_recall_tolerance"] = 0.2
    plan["guarantee"].pop("batch_units", None)  # about the population of documents unless a test asks
    plan["guarantee"].update(guarantee or {"type": "marginal", "by_subgroup": False})
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


def fresh_home(root: Path, guarantee: dict | None = None) -> pytest.MonkeyPatch:
    """GXP_HOME, DAGSTER_HOME and a relaxed plan under ``root``; the caller undoes the returned patch."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("GXP_HOME", str(root / "gxp"))
    monkeypatch.setenv("GXP_ENV", "local")
    (root / "dagster").mkdir()
    (root / "dagster" / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster"))
    monkeypatch.setenv("GXP_PLAN", str(relaxed_plan(root / "plan.yaml", guarantee)))
    return monkeypatch


#: Training-conditional and per source, at a level a few hundred calibration documents support (16 AE documents).
PAC_FOR_SMALL_MODELS = {"type": "pac", "miss_rate": 0.1, "delta": 0.2, "unit": "document", "by_subgroup": True}


ROLE_ADMIN_PASSPHRASE = "role administrator passphrase"


def control_roles(env: dict[str, str], key_folder: Path) -> None:
    """Pin a new role administrator key in env's GXP_PLAN (rewritten in place) and approve env's GXP_ROLES with it,
    through `gxp roles approve` as an administrator does it."""
    import subprocess
    import sys

    from gxp_assets.cli.signing import pin_role_administrator, public_fingerprint
    from gxp_assets.governance.signatures import create_key_pair

    pem, _ = create_key_pair(ROLE_ADMIN_PASSPHRASE)
    key = key_folder / "role-admin.pem"
    key.write_bytes(pem)
    plan = Path(env["GXP_PLAN"])
    pin_role_administrator(plan, public_fingerprint(pem, ROLE_ADMIN_PASSPHRASE), plan)
    done = subprocess.run(
        [sys.executable, "-m", "gxp_assets.cli", "roles", "approve", "--user", "role-admin", "--key", str(key),
         "--reason", "test people", "--passphrase-env", "GXP_ROLE_ADMIN_PASSPHRASE"],
        env={**env, "GXP_ROLE_ADMIN_PASSPHRASE": ROLE_ADMIN_PASSPHRASE}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def register_recalibrated(governance, version: str, trainer: str):
    """A genuine second version: the same classifier with a stored, changed conformal record, registered through
    the service as training registers one (verification at promotion checks all of it)."""
    import copy

    from gxp_assets.core.hashing import canonical_json, sha256_hex
    from gxp_assets.governance.recorded_assets import recorded_asset
    from gxp_assets.governance.registry import version_id
    from gxp_assets.stores import artifact_store, codecs

    store = artifact_store()
    record = copy.deepcopy(governance.registry.get(version).record)
    name, data_version = recorded_asset(record, "conformal_model")
    ref = store.find(name, data_version)
    conformal = {**codecs.decode(store.read(ref), ref.suffix), "note": f"recalibrated by {trainer}"}
    payload, suffix = codecs.encode(conformal)
    stored = store.put(name, None, payload, suffix, "test-run")
    record["lineage"]["assets"]["conformal_model"]["data_version"] = stored.sha256
    record["conformal_sha256"] = sha256_hex(canonical_json(conformal))
    record["version"] = version_id(record["use_case"], record["model_sha256"], record["conformal_sha256"])
    record["lineage"]["trained_by"] = trainer
    return governance.register_candidate(record["version"], record, trainer, failures=[])


def run_gxp(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`gxp ARGS` in a real process, as a person runs it."""
    return subprocess.run(
        [sys.executable, "-m", "gxp_assets.cli", *args], capture_output=True, text=True, env=env, timeout=600
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`gxp demo` on a small corpus under a relaxed plan, then an old batch whose due dates have passed (shared by
    the CLI and console tests)."""
    root = tmp_path_factory.mktemp("everyday")
    home, dagster_home = root / "gxp_home", root / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    config = root / "small.yaml"
    training = {"labelled_reports": {"config": {"demo_documents": 300}},
                "ae_classifier": {"config": {"max_rounds": 60, "num_threads": 1}}}  # fmt: skip
    config.write_text(yaml.safe_dump({"ops": training}))
    env = {**os.environ, "GXP_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
           "GXP_PLAN": str(relaxed_plan(root / "plan.yaml"))}  # fmt: skip
    demo = run_gxp("demo", "--config", str(config), env=env)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    # After the demo, people work under the plan and roles file it put in force (DEMO-ONLY copies).
    env |= {"GXP_PLAN": str(home / "demo-only" / "plan-DEMO-ONLY.yaml"),
            "GXP_ROLES": str(home / "demo-only" / "roles-DEMO-ONLY.yaml"), "GXP_USER": "olivia"}  # fmt: skip
    monkeypatch = pytest.MonkeyPatch()
    for name in ("GXP_HOME", "DAGSTER_HOME", "GXP_PLAN", "GXP_ROLES"):
        monkeypatch.setenv(name, env[name])
    from gxp_assets.core.demo_data import demo_batch

    landing = home / "landing" / AE / "reports"
    old = landing / "old-batch.csv"
    demo_batch(40, 23, received_until=datetime.now(UTC) - timedelta(days=300)).to_csv(old, index=False)
    scored = run_gxp("score", str(old), env=env)
    assert scored.returncode == 0, scored.stdout[-2000:] + scored.stderr[-2000:]
    from gxp_assets.stores import open_governance

    governance = open_governance()
    version = governance.registry.active(governance.plan.plan.use_case).version
    yield {"env": env, "home": home, "root": root, "version": version, "demo": demo.stdout}
    monkeypatch.undo()


def batch_record_file(path: Path, batches: int, seed: int, bad_rows: int = 0) -> Path:
    """Synthetic batch records of dissolution_risk (core.batch_records) in its declared file format, the newest
    made yesterday."""
    from gxp_assets.core.batch_records import generate_batch_records, write_batch_records

    frame = generate_batch_records(batches, seed=seed, manufactured_until=datetime.now(UTC))
    write_batch_records(path, frame, bad_rows=bad_rows, seed=seed)
    return path
