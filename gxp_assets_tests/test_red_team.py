"""Red team: every attack of issue 10 ("what stops a person with server access?"), performed for real against a
trained, approved, ACTIVE model, and asserted to be refused or detected.

One world is built per module (train, two signed approvals, promotion, one scored batch); each test attacks its own
copy of GXP_HOME, plan and roles file, so the attacks do not meet.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, build_sensor_context

from gxp_assets.cli.demo import DEMO_PASSPHRASE_ENV, ensure_demo_signers, sign_demo_approvals
from gxp_assets.cli.main import main as gxp
from gxp_assets.cli.runs import promote
from gxp_assets.core.demo_data import demo_batch
from gxp_assets.core.hashing import canonical_json, sha256_file, sha256_hex
from gxp_assets.definitions import defs
from gxp_assets.defs.audit_anchor import event_log_anchors
from gxp_assets.defs.deployed import deployed_model
from gxp_assets.defs.io_manager import LAUNCHED_BY_TAG
from gxp_assets.governance.audit import next_entry
from gxp_assets.governance.recorded_assets import recorded_asset
from gxp_assets.governance.registry import record_hash
from gxp_assets.governance.roles import load_roles
from gxp_assets.governance.service import VerificationFailed
from gxp_assets.governance.signatures import (
    Signature,
    SignatureRefused,
    create_key_pair,
    load_private_key,
    roles_for,
    sign,
)
from gxp_assets.stores import artifact_store, audit_trail, codecs, landing_zone, open_governance, results_store
from gxp_assets.stores.checkpoints_local import LocalCheckpoints
from gxp_assets.stores.landing import REPORTS, batch_key
from gxp_assets.stores.notifier import outbox
from gxp_assets_tests.conftest import AE, PROJECT_ROOT, ae_scope, register_recalibrated, relaxed_plan

SCOPE = ae_scope()
batches = SCOPE.batches
landing_files = defs.resolve_sensor_def(SCOPE.name("landing_files"))

TRAINING = {
    "labelled_reports": {"config": {"format": "demo", "demo_documents": 300}},
    "ae_classifier": {"config": {"max_rounds": 60, "early_stopping_rounds": 15, "num_threads": 1}},
}
PASSPHRASE = "mallory's own passphrase"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("red_team")
    (root / "dagster").mkdir()
    (root / "dagster" / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("GXP_HOME", str(root / "gxp"))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster"))
    monkeypatch.setenv("GXP_PLAN", str(relaxed_plan(root / "plan.yaml")))
    monkeypatch.setenv("GXP_LANDING_SETTLE_SECONDS", "0")
    roles = ensure_demo_signers()
    monkeypatch.setenv("GXP_PLAN", os.environ["GXP_PLAN"])  # the copy with the demo role administrator pinned
    monkeypatch.setenv("GXP_ROLES", str(roles))
    with DagsterInstance.get() as instance:
        trained = defs.resolve_job_def(SCOPE.name("train_model")).execute_in_process(
            instance=instance, run_config=SCOPE.run_config({"ops": TRAINING}), tags={LAUNCHED_BY_TAG: "alice"}
        )
        assert trained.success
        version = open_governance().registry.versions()[-1].version
        assert sign_demo_approvals(version) and promote(version)
        path = landing_zone(AE).folder(REPORTS) / "scored-batch.csv"
        demo_batch(80, 5, channels=("literature",), received_until=datetime.now(UTC)).to_csv(path, index=False)
        key = batch_key(path.name, sha256_file(path))
        instance.add_dynamic_partitions(batches.name, [key])
        scoring = defs.resolve_job_def(SCOPE.name("score_batch"))
        assert scoring.execute_in_process(instance=instance, partition_key=key).success
    world = {"root": root, "version": version, "plan": Path(os.environ["GXP_PLAN"]), "roles": roles, "batch": key}
    monkeypatch.undo()
    return world


@pytest.fixture
def world(pristine: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A private copy of the pristine world: GXP_HOME, plan, roles file and the Dagster instance."""
    home = tmp_path / "gxp"
    shutil.copytree(pristine["root"] / "gxp", home, symlinks=True)
    plan, roles = tmp_path / "plan.yaml", tmp_path / "roles.yaml"
    shutil.copy(pristine["plan"], plan)
    shutil.copy(pristine["roles"], roles)
    shutil.copytree(pristine["root"] / "dagster", tmp_path / "dagster")  # its event log holds audit heads
    for name, value in {"GXP_HOME": home, "GXP_PLAN": plan, "GXP_ROLES": roles, "DAGSTER_HOME": tmp_path / "dagster",
                        "GXP_LANDING_SETTLE_SECONDS": "0"}.items():  # fmt: skip
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv(DEMO_PASSPHRASE_ENV, (home / "demo-only" / "PASSPHRASE-DEMO-ONLY.txt").read_text().strip())
    return {**pristine, "home": home, "plan": plan, "roles": roles, "tmp": tmp_path}


def registry_db(world: dict) -> sqlite3.Connection:
    connection = sqlite3.connect(world["home"] / "registry.sqlite", isolation_level=None)
    for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        connection.execute(f"DROP TRIGGER {name}")  # an insider with file access is not stopped by triggers
    return connection


def refused_at_use(version: str | None = None) -> VerificationFailed:
    """Scoring's own call: it must refuse, having audited an alarm and notified people."""
    before = len([m for m in outbox() if m["kind"] == "verification_failed"])
    with pytest.raises(VerificationFailed) as refused:
        deployed_model(open_governance(), artifact_store(), version)
    alarms = [e for e in audit_trail().entries() if e.action == "alarm" and e.details.get("ok") is False]
    assert alarms and alarms[-1].subject == refused.value.verdict.version
    assert len([m for m in outbox() if m["kind"] == "verification_failed"]) == before + 1
    return refused.value


def checks(refusal: VerificationFailed) -> set[str]:
    return {failure.check for failure in refusal.verdict.failures}


def test_the_untouched_world_verifies_and_scores(world: dict, capsys: pytest.CaptureFixture) -> None:
    assert deployed_model(open_governance(), artifact_store()).version == world["version"]
    assert gxp(["registry", "show", world["version"]]) == 0
    assert "verification: every control verified" in capsys.readouterr().out


def test_a_version_inserted_as_active_without_signatures_cannot_score(world: dict, capsys) -> None:
    """Attack: a version inserted straight into the registry database with state ACTIVE and no signatures."""
    record = {**open_governance().registry.get(world["version"]).record, "version": "ae-triage-v1-forged"}
    with registry_db(world) as connection:
        connection.execute("UPDATE versions SET state = 'RETIRED' WHERE state = 'ACTIVE'")
        connection.execute(
            "INSERT INTO versions VALUES (?, ?, ?, ?, 'ACTIVE', ?)",
            ("ae-triage-v1-forged", "ae_triage", canonical_json(record).decode(), record_hash(record),
             datetime.now(UTC).isoformat()),
        )  # fmt: skip
    refusal = refused_at_use()
    assert {"version_id", "approvals", "transitions"} <= checks(refusal)
    # The real scoring run fails too, naming what failed.
    path = landing_zone(AE).folder(REPORTS) / "batch.csv"
    demo_batch(20, 3, received_until=datetime.now(UTC)).to_csv(path, index=False)
    key = batch_key(path.name, sha256_file(path))
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(batches.name, [key])
        run = defs.resolve_job_def(SCOPE.name("score_batch")).execute_in_process(
            instance=instance, partition_key=key, raise_on_error=False
        )
    assert not run.success
    assert "FAILED verification" in str(run.get_step_failure_events()[0].event_specific_data.error)
    capsys.readouterr()
    assert gxp(["registry", "show", "ae-triage-v1-forged"]) == 1
    assert "FAILED approvals" in capsys.readouterr().err


def test_replacing_classifier_conformal_record_and_registry_record_together_is_detected(world: dict) -> None:
    """Attack: the classifier, conformal record and registry record replaced together (hashes recomputed)."""
    store, version = artifact_store(), world["version"]
    record = json.loads(json.dumps(open_governance().registry.get(version).record))
    ref = store.find(*recorded_asset(record, "conformal_model"))
    conformal = codecs.decode(store.read(ref), ref.suffix)
    conformal["thresholds_tampered"] = True  # any substitute: what matters is that every hash is recomputed
    stored = store.put(ref.asset, None, *codecs.encode(conformal), "attacker")
    record["lineage"]["assets"]["conformal_model"]["data_version"] = stored.sha256
    record["conformal_sha256"] = sha256_hex(canonical_json(conformal))
    with registry_db(world) as connection:
        connection.execute(
            "UPDATE versions SET record = ?, record_hash = ? WHERE version = ?",
            (canonical_json(record).decode(), record_hash(record), version),
        )
    refusal = refused_at_use()
    assert {"approvals", "transitions", "version_id"} <= checks(refusal)
    assert "other record" in refusal.verdict.summary() or "other_record" in refusal.verdict.summary()


def test_replacing_an_artifact_file_alone_is_detected(world: dict) -> None:
    store, record = artifact_store(), open_governance().registry.get(world["version"]).record
    path = store.local_path(store.find(*recorded_asset(record, "ae_classifier")))
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes().replace(b"tree", b"tree ", 1))
    assert "artifact:ae_classifier" in checks(refused_at_use())


def test_a_key_added_to_the_roles_file_gives_nothing(world: dict) -> None:
    """Attack: a second person's key added to the roles file with qa_reviewer and pv_physician, then self-approval
    and promotion."""
    governance = open_governance()
    candidate = register_recalibrated(governance, world["version"], "alice")
    pem, public_line = create_key_pair(PASSPHRASE)
    roles = yaml.safe_load(world["roles"].read_text())
    roles["users"].append({"user_id": "mallory", "printed_name": "Mallory", "roles": ["qa_reviewer", "pv_physician"],
                           "public_key": public_line})  # fmt: skip
    world["roles"].write_text(yaml.safe_dump(roles))
    governance = open_governance()
    mallory = load_roles(world["roles"]).user("mallory")
    signature = sign(candidate.record_hash, "approval", "looks fine", mallory, load_private_key(pem, PASSPHRASE),
                     roles_sha256=governance.roles.digest())  # fmt: skip
    with pytest.raises(SignatureRefused) as refused:
        governance.submit_signature(candidate.version, signature)
    assert refused.value.code.value == "roles_not_approved"
    refusals = [e for e in audit_trail().entries() if e.action == "refusal" and e.subject == candidate.version]
    assert refusals[-1].details["code"] == "roles_not_approved"
    # Behind the system's back: the signatures written into the registry, the state set to APPROVED.
    with registry_db(world) as connection:
        for _ in range(2):
            forged = sign(candidate.record_hash, "approval", "looks fine", mallory, load_private_key(pem, PASSPHRASE),
                          roles_sha256=governance.roles.digest())  # fmt: skip
            connection.execute("INSERT INTO signatures VALUES (?, ?, ?, ?)", (forged.signature_id, candidate.version,
                               canonical_json(forged.to_dict()).decode(), datetime.now(UTC).isoformat()))  # fmt: skip
        connection.execute("UPDATE versions SET state = 'APPROVED' WHERE version = ?", (candidate.version,))
    with pytest.raises(Exception, match="approvals"):
        open_governance().promote(candidate.version, "mallory")
    assert open_governance().registry.get(candidate.version).state == "APPROVED"


def test_a_back_dated_signature_is_refused_and_audited(world: dict, tmp_path: Path, capsys) -> None:
    """Attack: a signature JSON with signed_at in 2020 submitted through `gxp approve --signature`."""
    governance = open_governance()
    candidate = register_recalibrated(governance, world["version"], "alice")
    home = world["home"] / "demo-only"
    quinn = governance.roles.user("quinn")
    key = load_private_key((home / "keys" / "quinn.pem").read_bytes(), os.environ[DEMO_PASSPHRASE_ENV])
    signature = sign(candidate.record_hash, "approval", "back-dated", quinn, key, None,
                     datetime(2020, 1, 1, tzinfo=UTC), roles_sha256=governance.roles.digest())  # fmt: skip
    path = tmp_path / "signature.json"
    path.write_text(json.dumps(signature.to_dict()))
    capsys.readouterr()
    assert gxp(["approve", candidate.version, "--user", "quinn", "--reason", "x", "--signature", str(path)]) == 1
    assert "clock_skew" in capsys.readouterr().err
    refusal = [e for e in audit_trail().entries() if e.action == "refusal"][-1]
    assert refusal.details["code"] == "clock_skew" and refusal.details["signature_id"] == signature.signature_id
    assert governance.registry.signatures(candidate.version) == []


def test_editing_the_plan_after_approval_stops_promotion_and_scoring(world: dict) -> None:
    """Attack: the plan's acceptance criteria edited after approval, then promotion."""
    governance = open_governance()
    candidate = register_recalibrated(governance, world["version"], "alice")
    assert sign_demo_approvals(candidate.version)
    assert open_governance().registry.get(candidate.version).state == "APPROVED"
    plan = yaml.safe_load(world["plan"].read_text())
    plan["acceptance_criteria"]["auroc_min"] = 0.1
    world["plan"].write_text(yaml.safe_dump(plan, sort_keys=False))
    with pytest.raises(VerificationFailed) as refused:
        open_governance().promote(candidate.version, "system")
    assert "plan" in checks(refused.value)
    assert open_governance().registry.get(candidate.version).state == "APPROVED"
    assert "plan" in checks(refused_at_use())


def test_old_style_signatures_without_a_roles_hash_do_not_count(world: dict) -> None:
    governance = open_governance()
    stored = governance.registry.signatures(world["version"])[0]
    del stored["roles_sha256"]
    old = Signature.from_dict(stored)
    assert old.roles_sha256 is None and "Signed by" in old.manifestation()
    with pytest.raises(SignatureRefused, match="roles_not_recorded"):
        roles_for(old, governance.approved_roles())


def audit_db(world: dict) -> sqlite3.Connection:
    connection = sqlite3.connect(world["home"] / "audit.sqlite", isolation_level=None)
    for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        connection.execute(f"DROP TRIGGER {name}")
    return connection


def test_deleting_the_audit_tail_is_detected_and_stops_scoring(world: dict, capsys) -> None:
    """Attack: the audit entries after the last anchor in a record or signature (the promotion, every scoring)
    deleted."""
    assert gxp(["audit", "verify"]) == 0
    anchors = open_governance().audit_anchors()
    last_anchor = max(seq for seq, _ in anchors)
    with closing(audit_db(world)) as connection:
        connection.execute("DELETE FROM audit_entries WHERE seq > ?", (last_anchor,))
    capsys.readouterr()
    assert gxp(["audit", "verify"]) == 1
    assert "truncated" in capsys.readouterr().err
    assert "audit_trail" in checks(refused_at_use())


def test_a_fully_rechained_trail_with_a_new_checkpoint_chain_is_detected_by_the_event_log(world: dict, capsys) -> None:
    """Attack: the whole trail rewritten with recomputed hashes, and the checkpoints (key included) made anew."""
    entries = audit_trail().entries()
    with closing(audit_db(world)) as connection:
        connection.execute("DELETE FROM audit_entries")
        head = None
        for entry in entries:
            details = {**entry.details, "reason": "nothing to see"} if entry.action == "transition" else entry.details
            head = next_entry(head, entry.actor, entry.action, entry.subject, details,
                              datetime.fromisoformat(entry.recorded_at))  # fmt: skip
            connection.execute("INSERT INTO audit_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               (head.seq, head.recorded_at, head.actor, head.action, head.subject,
                                canonical_json(head.details).decode(), head.prev_hash, head.entry_hash))  # fmt: skip
    (world["home"] / "checkpoints.sqlite").unlink()
    (world["home"] / "system" / "checkpoint_key.pem").unlink()
    LocalCheckpoints(world["home"]).record(head.anchor)  # a fresh, self-consistent checkpoint chain
    capsys.readouterr()
    assert gxp(["audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert "rewritten" in err
    with DagsterInstance.get() as instance:  # the heads the event log keeps are what catches it
        logged = event_log_anchors(instance)
    assert logged and audit_trail().verify(logged)


def test_a_symlink_in_the_landing_zone_is_refused_audited_and_never_copied(world: dict) -> None:
    """Attack: a symlink in the landing zone pointing to /etc/passwd."""
    link = landing_zone(AE).folder(REPORTS) / "passwd.csv"
    link.symlink_to("/etc/passwd")
    with DagsterInstance.get() as instance:
        audited = len(audit_trail().entries())
        result = landing_files(build_sensor_context(instance=instance))
        [request] = result.run_requests  # only the audit of the refusal is asked for: nothing is scored
        assert request.job_name == SCOPE.name("landing_refusals")
        assert len(audit_trail().entries()) == audited  # the tick itself wrote nothing
        run = defs.resolve_job_def(SCOPE.name("landing_refusals")).execute_in_process(instance=instance,
                                                                         run_config=request.run_config)  # fmt: skip
        assert run.success
        refusals = [e for e in audit_trail().entries() if e.action == "landing_refused"]
        assert refusals and refusals[-1].subject == f"landing/{AE}/reports/passwd.csv"  # names the use case
        assert "symbolic link" in refusals[-1].details["reason"] and refusals[-1].details["run_id"] == run.run_id
        again = landing_files(build_sensor_context(instance=instance, cursor=result.cursor))
        assert len([e for e in audit_trail().entries() if e.action == "landing_refused"]) == len(refusals)
        assert not again.run_requests
        # Even a partition forced by hand for the link's content is not taken: nothing is followed or copied.
        key = batch_key(link.name, sha256_file(Path("/etc/passwd")))
        instance.add_dynamic_partitions(batches.name, [key])
        run = defs.resolve_job_def(SCOPE.name("score_batch")).execute_in_process(
            instance=instance, partition_key=key, raise_on_error=False
        )
    assert not run.success
    assert sha256_file(Path("/etc/passwd")) not in {ref.sha256 for ref in artifact_store().versions()}


def queue_size(capsys: pytest.CaptureFixture) -> int:
    capsys.readouterr()
    assert gxp(["queue"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    return int(first.split()[0].replace(",", ""))


def test_an_edited_results_index_is_refused_and_rebuilt(world: dict, capsys) -> None:
    """Attack: a PRIORITY row set to AUTO_CLOSE in results.sqlite, so it leaves the queue."""
    before = queue_size(capsys)
    assert before > 0
    database = world["home"] / "results" / "results.sqlite"
    with closing(sqlite3.connect(database, isolation_level=None)) as connection:
        report_id = connection.execute("SELECT report_id FROM predictions WHERE triage = 'PRIORITY'").fetchone()[0]
        connection.execute("UPDATE predictions SET triage = 'AUTO_CLOSE' WHERE report_id = ?", (report_id,))
    capsys.readouterr()
    assert gxp(["queue"]) == 1
    assert "rows_sha256" in capsys.readouterr().err
    assert gxp(["trace", report_id]) == 1
    assert gxp(["results", "verify"]) == 1
    alarms = [e for e in audit_trail().entries() if e.action == "alarm" and e.subject == "results"]
    assert alarms and alarms[-1].details["kind"] == "results_index_untrusted"
    assert gxp(["results", "rebuild"]) == 0
    assert queue_size(capsys) == before
    assert gxp(["trace", report_id]) == 0 and "PRIORITY" in capsys.readouterr().out


def test_an_emptied_results_index_is_an_error_not_an_empty_queue(world: dict, capsys) -> None:
    """Attack: a zero-byte results.sqlite, which answered "the PRIORITY queue is empty" with exit 0."""
    before = queue_size(capsys)
    database = world["home"] / "results" / "results.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    database.write_bytes(b"")
    capsys.readouterr()
    assert gxp(["queue"]) == 1
    err = capsys.readouterr().err
    assert "missing from the results index" in err and "gxp results rebuild" in err
    assert gxp(["results", "rebuild"]) == 0
    assert queue_size(capsys) == before


def test_an_altered_batch_file_is_refused_and_not_restored(world: dict, capsys) -> None:
    summary = results_store().batch_summary(world["batch"])
    summary.predictions_path.write_bytes(summary.predictions_path.read_bytes() + b"\0")
    capsys.readouterr()
    assert gxp(["queue"]) == 1
    assert gxp(["results", "rebuild"]) == 1
    assert "hashes to" in capsys.readouterr().err
