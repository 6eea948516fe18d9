"""Landing zone -> sensor -> scored batch -> drift -> retraining request, against a real ACTIVE model.

The model is trained on literature reports only (synthetic demo data), approved with two signatures and promoted,
so that social-media batches are genuinely out of its distribution and literature batches genuinely inside it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from dagster import DagsterInstance, DagsterRunStatus, build_schedule_context, build_sensor_context
from dagster._core.storage.dagster_run import DagsterRun

from gxp_assets.cli.demo import DEMO_PASSPHRASE_ENV, ensure_demo_signers, sign_demo_approvals
from gxp_assets.cli.main import main as gxp
from gxp_assets.cli.runs import promote
from gxp_assets.core.batch_scoring import ScoringStamp, score_file
from gxp_assets.core.demo_data import demo_batch, generate_demo_reports
from gxp_assets.core.drift import DriftAccumulator
from gxp_assets.core.hashing import sha256_file
from gxp_assets.definitions import defs
from gxp_assets.defs.deployed import deployed_model
from gxp_assets.defs.fail_safe import drift_limits
from gxp_assets.defs.inference_assets import ScoringConfig
from gxp_assets.defs.io_manager import LAUNCHED_BY_TAG
from gxp_assets.defs.retraining import EVIDENCE_TAG, TRIGGER_TAG
from gxp_assets.governance.registry import State
from gxp_assets.governance.suspension import LIFTED, SUSPENDED, standing_suspension
from gxp_assets.stores import artifact_store, audit_trail, current_plan, landing_zone, open_governance, results_store
from gxp_assets.stores.landing import ADJUDICATIONS, REPORTS, batch_key
from gxp_assets.stores.local import default_home
from gxp_assets.stores.notifier import outbox
from gxp_assets_tests.conftest import AE, PAC_FOR_SMALL_MODELS, PROJECT_ROOT, ae_scope, relaxed_plan

SCOPE = ae_scope()
batches = SCOPE.batches
landing_files = defs.resolve_sensor_def(SCOPE.name("landing_files"))
retraining_triggers = defs.resolve_sensor_def(SCOPE.name("retraining_triggers"))
LABELLED_OP = SCOPE.name("labelled_reports")

TRAINING = {"ae_classifier": {"config": {"max_rounds": 80, "early_stopping_rounds": 15, "num_threads": 1}}}
IN_DISTRIBUTION_BATCHES = 20


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("inference")
    (root / "dagster").mkdir()
    (root / "dagster" / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("GXP_HOME", str(root / "gxp"))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster"))
    monkeypatch.setenv("GXP_PLAN", str(relaxed_plan(root / "plan.yaml", PAC_FOR_SMALL_MODELS)))
    monkeypatch.setenv("GXP_LANDING_SETTLE_SECONDS", "45")  # a loaded machine must not settle a fresh file
    corpus = generate_demo_reports(n_documents=1500, seed=7, label_noise=0.0)  # clean labels: 38 AE documents suffice
    corpus[corpus["source"] == "literature"].to_csv(root / "literature.csv", index=False)
    monkeypatch.setenv("GXP_ROLES", str(ensure_demo_signers()))
    source = {"format": "contract", "path": str(root / "literature.csv")}
    run_config = SCOPE.run_config({"ops": {"labelled_reports": {"config": source}, **TRAINING}})
    with DagsterInstance.get() as instance:
        trained = defs.resolve_job_def(SCOPE.name("train_model")).execute_in_process(
            instance=instance, run_config=run_config, tags={LAUNCHED_BY_TAG: "alice"}
        )
        assert trained.success
        version = open_governance().registry.versions()[-1].version
        assert sign_demo_approvals(version)
        assert promote(version)
        yield {"instance": instance, "version": version, "root": root}
    monkeypatch.undo()


def land(frame: pd.DataFrame, name: str, age_seconds: float = 60.0) -> Path:
    """Drop a batch file in the landing zone, written long enough ago to have settled (unless age is 0)."""
    path = landing_zone(AE).folder(REPORTS) / name
    frame.to_csv(path, index=False, lineterminator="\n")
    past = time.time() - age_seconds
    os.utime(path, (past, past))
    return path


def tick(instance: DagsterInstance, cursor: str | None = None):
    """One evaluation of the landing sensor; registers the partitions it asks for, as the daemon does."""
    context = build_sensor_context(instance=instance, cursor=cursor)
    result = landing_files(context)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result, result.cursor


def score(instance: DagsterInstance, key: str):
    return defs.resolve_job_def(SCOPE.name("score_batch")).execute_in_process(instance=instance, partition_key=key)


def is_png(asset: str, sha256: str) -> bool:
    store = artifact_store()
    return store.read(store.find(f"{AE}/{asset}", sha256)).startswith(b"\x89PNG\r\n\x1a\n")


def hostile_rows(received: str, duplicate_id: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "report_id": ["bad-formula", "bad-no-time", duplicate_id],
            "document_id": ["d1", "d2", "d3"],
            "source": ["literature"] * 3,
            "text": ['=HYPERLINK("http://x")', "Patient developed a rash after the first dose.", "duplicate id"],
            "received_at": [received, "", received],
            "product": ["", "", ""],
        }
    )


def test_a_landed_batch_is_scored_once_by_the_active_model(world: dict, capsys: pytest.CaptureFixture) -> None:
    instance, version = world["instance"], world["version"]
    now = datetime.now(UTC)
    good = demo_batch(40, 21, channels=("literature",), received_until=now)
    hostile = hostile_rows(now.strftime("%Y-%m-%dT%H:%M:%SZ"), good["report_id"].iloc[0])
    frame = pd.concat([good, hostile], ignore_index=True)
    path = land(frame, "lit-21.csv")
    land(frame.head(3), "still-being-written.csv", age_seconds=0)

    result, cursor = tick(instance)
    key = batch_key(path.name, sha256_file(path))
    assert [(r.run_key, r.partition_key, r.job_name) for r in result.run_requests] == [
        (sha256_file(path), key, SCOPE.name("score_batch"))
    ]
    assert instance.has_dynamic_partition(batches.name, key)

    run = score(instance, key)
    assert run.success
    checks = {check.check_name: check.passed for check in run.get_asset_check_evaluations()}
    assert checks == {"batch_reconciled": True}
    results = results_store()
    predictions, quarantined = results.predictions(key), results.quarantined(key)
    assert len(predictions) + len(quarantined) == len(frame)
    assert set(predictions["model_version"]) == {version}
    assert set(predictions["plan_version"]) == {f"{current_plan().plan.plan_id} {current_plan().plan.version}"}
    assert set(predictions["triage"]) <= {"AUTO_CLOSE", "REVIEW", "PRIORITY"}
    assert predictions["p_ae"].between(0, 1).all() and predictions["input_sha256"].str.len().eq(64).all()
    assert all(isinstance(json.loads(text), list) for text in predictions["explanation"])
    assert (predictions["due_at"] - predictions["received_at"] == timedelta(days=15)).all()
    assert dict(zip(quarantined["report_id"], quarantined["reason"], strict=True)) == {
        "bad-formula": "formula_text",
        "bad-no-time": "missing_field",
        good["report_id"].iloc[0]: "duplicate_report_id",
    }
    row = predictions.iloc[0]
    raw = quarantined["raw"].iloc[0]
    assert isinstance(raw, bytes) and raw in path.read_bytes()
    assert row["input_sha256"] != ""

    priority = predictions[predictions["triage"] == "PRIORITY"]
    assert len(priority) > 0  # the literature batch holds AE reports the model was trained on
    floor = current_plan().plan.conformal.positive_min_probability
    assert (priority["p_ae"] >= floor).all()  # shown first: likely an AE
    messages = [m for m in outbox() if m["kind"] == "priority_reports" and m["payload"]["batch"] == key]
    assert len(messages) == 1 and messages[0]["payload"]["priority_reports"] == len(priority)
    first_due = min(priority["due_at"]).strftime("%Y-%m-%d %H:%M")
    assert first_due in messages[0]["subject"]

    # The same content again, under another name or touched: nothing new is requested.
    shutil.copy(path, path.with_name("lit-21-again.csv"))
    os.utime(path.with_name("lit-21-again.csv"), (time.time() - 60, time.time() - 60))
    os.utime(path.with_name("still-being-written.csv"))  # still being written: a slow scoring run let it settle
    again, cursor = tick(instance, cursor)
    assert not again.run_requests
    # The file still being written is taken once it has settled.
    settled = path.with_name("still-being-written.csv")
    os.utime(settled, (time.time() - 60, time.time() - 60))
    later, _ = tick(instance, cursor)
    assert [r.partition_key for r in later.run_requests] == [batch_key(settled.name, sha256_file(settled))]

    # Re-running the partition replaces its results, never duplicates them.
    rerun = score(instance, key)
    assert rerun.success
    replaced = results.predictions(key)
    assert len(replaced) == len(predictions) and set(replaced["run_id"]) == {rerun.run_id}
    assert results.batch_summary(key).run_id == rerun.run_id

    # Which model version scored a report, and the queue people work from.
    capsys.readouterr()
    assert gxp(["trace", row["report_id"]]) == 0
    traced = capsys.readouterr().out
    assert f"scored in batch {key}\n  model {version}, plan " in traced
    assert f"  why: {row['triage_reason']}" in traced and "words that moved the score): " in traced
    assert gxp(["queue"]) == 0
    queue = capsys.readouterr().out
    assert f"{len(priority)} PRIORITY report(s) awaiting adjudication" in queue
    assert "RESUBMITTED" not in queue

    # The first records sent again in another batch: kept, scored, and marked where people look.
    resent_key = batch_key(settled.name, sha256_file(settled))
    instance.add_dynamic_partitions(batches.name, [resent_key])
    assert score(instance, resent_key).success
    resent = results.predictions(resent_key)
    assert len(resent) == 3 and resent["resubmitted"].all()
    assert not results.predictions(key)["resubmitted"].any()
    capsys.readouterr()
    assert gxp(["trace", resent["report_id"].iloc[0]]) == 0
    trace = capsys.readouterr().out.splitlines()
    assert [("RESUBMITTED" in line) for line in trace if " scored in batch " in line] == [False, True]
    assert gxp(["queue"]) == 0
    queue_lines = capsys.readouterr().out.splitlines()
    for report_id in resent.loc[resent["triage"] == "PRIORITY", "report_id"]:
        assert any(report_id in line and "RESUBMITTED" in line for line in queue_lines), report_id


def scored_batch(world: dict, frame: pd.DataFrame, name: str) -> tuple[str, pd.DataFrame, dict]:
    """Land, register and score one batch; its key, stored predictions and scored_reports output."""
    path = land(frame, name)
    key = batch_key(path.name, sha256_file(path))
    world["instance"].add_dynamic_partitions(batches.name, [key])
    run = score(world["instance"], key)
    assert run.success
    return key, results_store().predictions(key), run.output_for_node(SCOPE.name("scored_reports"))


def suspension_entries(version: str, action: str) -> list:
    return [entry for entry in audit_trail().entries() if entry.action == action and entry.subject == version]


def test_a_shifted_batch_is_never_auto_closed_until_a_signed_lift(world: dict, tmp_path: Path) -> None:
    version, now = world["version"], datetime.now(UTC)
    assert standing_suspension(audit_trail().entries(), version) is None
    # Forum posts that claim to be literature: only the text tells, and the drift measures must see it.
    shifted = demo_batch(150, 41, channels=("social_media",), received_until=now).assign(source="literature")
    key, predictions, output = scored_batch(world, shifted, "forum-as-literature-41.csv")
    assert output["drift"]["alarms"], output["drift"]
    assert "AUTO_CLOSE" not in set(predictions["triage"])
    held = predictions[predictions["triage_reason"].str.startswith("auto_close_suspended: drift")]
    assert output["tally"]["auto_close_suspended"] == len(held) > 0  # the model would have closed these
    assert (held["triage"] == "REVIEW").all() and held["triage_reason"].str.contains("conformal: AE excluded").all()
    [entry] = suspension_entries(version, SUSPENDED)
    assert entry.details["batch"] == key and entry.details["new"] and entry.details["drift_alarms"]
    notices = [m for m in outbox() if m["kind"] == "auto_close_suspended"]
    assert len(notices) == 1 and notices[0]["payload"]["batch"] == key

    # The suspension stands for the next, in-distribution batch: no auto-close, no second notification.
    _, calm, output = scored_batch(world, demo_batch(300, 42, channels=("literature",), received_until=now), "l42.csv")
    assert not output["drift"]["alarms"] and output["tally"]["auto_close_suspended"] > 0, output["drift"]
    assert "AUTO_CLOSE" not in set(calm["triage"])
    assert len([m for m in outbox() if m["kind"] == "auto_close_suspended"]) == 1
    assert gxp(["suspension", "show", version]) == 0

    # Only a signed decision by the plan's lift role lifts it; refusals are audited.
    key_file = default_home() / "demo-only" / "keys" / "{}.pem"
    lift = ["suspension", "lift", version, "--passphrase-env", DEMO_PASSPHRASE_ENV]
    reason = ["--reason", "forum batch was mislabelled as literature; channel fixed"]
    assert gxp([*lift, "--user", "quinn", *reason, "--key", str(key_file).format("quinn")]) == 1
    assert [r.details["code"] for r in suspension_entries(version, "refusal")][-1] == "missing_role"
    saved = tmp_path / "lift.json"
    petra = ["--user", "petra", *reason, "--key", str(key_file).format("petra")]
    assert gxp([*lift, *petra, "--save-signature", str(saved)]) == 0
    [lifted] = suspension_entries(version, LIFTED)
    assert lifted.details["suspension_entry"] == entry.seq and lifted.details["signature"]["user_id"] == "petra"
    assert standing_suspension(audit_trail().entries(), version) is None
    assert gxp([*lift, "--user", "petra", *reason, "--signature", str(saved)]) == 1  # nothing left to lift

    calm_again = demo_batch(300, 43, channels=("literature",), received_until=now)
    _, resumed, output = scored_batch(world, calm_again, "l43.csv")
    assert output["auto_close_suspension"] is None and output["tally"]["auto_close_suspended"] == 0
    assert (resumed["triage"] == "AUTO_CLOSE").any()
    # What people see agrees with what decides: no PRIORITY report shows a lower p(AE) than an AUTO_CLOSE one.
    shown = resumed.groupby("triage")["p_ae"]
    assert shown.min()["PRIORITY"] > shown.max()["AUTO_CLOSE"]
    assert resumed.loc[resumed["triage"] == "AUTO_CLOSE", "triage_reason"].str.startswith("AE excluded at 90 %").all()


def test_social_media_batches_drift_and_the_sensor_requests_retraining(world: dict) -> None:
    instance = world["instance"]
    cursor = str(max([event.id for event in results_store().monitoring_since(0)], default=0))
    path = land(demo_batch(150, 31, channels=("social_media",), received_until=datetime.now(UTC)), "social-31.csv")
    key = batch_key(path.name, sha256_file(path))
    instance.add_dynamic_partitions(batches.name, [key])
    run = score(instance, key)
    assert run.success
    drift = run.output_for_node(SCOPE.name("drift_report"))
    assert drift["alarms"], drift
    # Social media is a source the literature model was never calibrated on: scored, kept, never auto-closed.
    scored = results_store().predictions(key)
    assert len(scored) > 0 and "AUTO_CLOSE" not in set(scored["triage"])
    assert any(m["kind"] == "auto_close_not_covered" and m["payload"]["batch"] == key for m in outbox())
    unseen_max = drift_limits(current_plan(AE).plan).unseen_ngram_share_max
    assert drift["unseen_ngram_share"] > unseen_max or drift["score_psi"] > 0.2
    assert is_png("drift_report/plot", drift["plot_sha256"])

    audited, notified = len(audit_trail().entries()), len(outbox())
    context = build_sensor_context(instance=instance, cursor=cursor)
    result = retraining_triggers(context)
    [request] = result.run_requests
    assert request.tags[TRIGGER_TAG] == "drift"
    evidence = json.loads(request.tags[EVIDENCE_TAG])
    assert evidence[-1]["batch"] == key and evidence[-1]["alarms"] == drift["alarms"]
    assert request.run_config["ops"][LABELLED_OP]["config"]["include_adjudicated"] is True
    # Evaluating the sensor (a tick, or `dagster sensor preview`) asks only: nothing audited, nothing notified.
    assert len(audit_trail().entries()) == audited and len(outbox()) == notified
    alarms = [entry for entry in audit_trail().entries() if entry.action == "alarm"]
    assert alarms[-1].subject == f"ae_triage/drift_report[{key}]" and alarms[-1].details["alarms"] == drift["alarms"]
    # The run it asked for records the request when it really starts (its first asset), with the evidence.
    started = defs.resolve_job_def(SCOPE.name("train_model")).execute_in_process(
        instance=instance, tags=request.tags, asset_selection=[SCOPE.key("labelled_reports")],
        run_config={"ops": {LABELLED_OP: request.run_config["ops"][LABELLED_OP]}},
    )  # fmt: skip
    assert started.success
    entries = [entry for entry in audit_trail().entries() if entry.action == "retraining_requested"]
    assert len(entries) == 1 and entries[-1].details["evidence"][-1]["batch"] == key
    assert entries[-1].details["run_id"] == started.run_id and entries[-1].actor == "sensor:retraining_triggers"
    assert [m for m in outbox() if m["kind"] == "retraining_requested"][-1]["payload"]["run_id"] == started.run_id
    again = retraining_triggers(build_sensor_context(instance=instance, cursor=result.cursor))
    assert not getattr(again, "run_requests", None)  # the cursor moved past the event: asked once

    # While that retraining runs, a second drifted batch is audited but asks for no second retraining.
    instance.add_run(
        DagsterRun(
            job_name=SCOPE.name("train_model"), run_id="0" * 36, status=DagsterRunStatus.STARTED, tags=request.tags
        )
    )
    second = land(demo_batch(150, 32, channels=("social_media",), received_until=datetime.now(UTC)), "social-32.csv")
    second_key = batch_key(second.name, sha256_file(second))
    instance.add_dynamic_partitions(batches.name, [second_key])
    assert score(instance, second_key).success
    during = retraining_triggers(build_sensor_context(instance=instance, cursor=result.cursor))
    assert not during.run_requests and "still in progress" in during.skip_reason.skip_message


def test_false_alarm_rate_over_in_distribution_batches_is_below_the_plans_tolerance(world: dict, tmp_path) -> None:
    deployed = deployed_model(open_governance(), artifact_store())
    plan = current_plan(AE).plan
    limits, tolerance = drift_limits(plan), plan.retraining_triggers.false_alarm_tolerance
    config = ScoringConfig()
    alarms = []
    for seed in range(100, 100 + IN_DISTRIBUTION_BATCHES):
        path = tmp_path / f"batch-{seed}.csv"
        demo_batch(40, seed, channels=("literature",), received_until=datetime.now(UTC)).to_csv(path, index=False)
        stamp = ScoringStamp(f"b{seed}", deployed.version, deployed.plan_version, "test", datetime.now(UTC),
                             timedelta(days=15))  # fmt: skip
        accumulator = DriftAccumulator(deployed.reference)

        accumulator = DriftAccumulator(deployed.reference)
        sink = SimpleNamespace(
            add=lambda predictions, quarantined, counted=accumulator: counted.add_predictions(predictions)
        )
        score_file(path, deployed.model, deployed.spec, config.rules(), stamp, sink)
        alarms.append(accumulator.result(limits).alarms)
    rate = sum(bool(found) for found in alarms) / len(alarms)
    print(f"false-alarm rate over {len(alarms)} in-distribution batches: {rate:.4f} (tolerance {tolerance}); {alarms}")
    assert rate < tolerance, alarms


def test_adjudications_measure_realized_performance_and_retraining_includes_them(world: dict) -> None:
    instance, version = world["instance"], world["version"]
    now = datetime.now(UTC)
    labelled = demo_batch(40, 21, channels=("literature",), received_until=now, with_labels=True)
    adjudications = pd.DataFrame(
        {
            "report_id": labelled["report_id"],
            "label": labelled["label"],
            "adjudicated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "adjudicator": "petra",
        }
    )
    folder = landing_zone(AE).folder(ADJUDICATIONS)
    adjudications.to_csv(folder / "adjudicated-21.csv", index=False)
    os.utime(folder / "adjudicated-21.csv", (time.time() - 60, time.time() - 60))
    result, _ = tick(instance)
    [request] = [r for r in result.run_requests if r.job_name == SCOPE.name("monitor_performance")]
    monitor = defs.resolve_job_def(SCOPE.name("monitor_performance"))
    run = monitor.execute_in_process(instance=instance, tags=request.tags)
    assert run.success
    performance = run.output_for_node(SCOPE.name("realized_performance"))
    assert performance["adjudicated"] == len(labelled)
    assert performance["adjudicated_ae"] == int((labelled["label"] == "1").sum())
    assert 0 < performance["ae_recall"] <= 1
    assert is_png("realized_performance/plot", performance["plot_sha256"])

    retraining = SCOPE.run_config({
        "ops": {
            "labelled_reports": {"config": {"format": "contract", "path": str(world["root"] / "literature.csv"),
                                            "include_adjudicated": True}},
            **TRAINING,
        }
    })  # fmt: skip
    retrained = defs.resolve_job_def(SCOPE.name("train_model")).execute_in_process(
        instance=instance, run_config=retraining
    )
    assert retrained.success
    received = retrained.output_for_node(LABELLED_OP)
    assert set(labelled["report_id"]) <= set(received["report_id"])
    registry = open_governance().registry
    newest = registry.versions()[-1]
    assert newest.version != version and newest.state in (State.CANDIDATE, State.PENDING_APPROVAL)
    assert registry.get(version).state == State.ACTIVE  # nothing promotes itself


def test_routine_retraining_follows_the_plans_schedule(world: dict) -> None:
    [schedule] = [s for s in defs.schedules if s.name == SCOPE.name("routine_retraining")]
    assert schedule.cron_schedule == current_plan(AE).plan.retraining_triggers.schedule
    assert schedule.execution_timezone == "UTC"
    when = datetime(2026, 11, 30, 3, tzinfo=UTC)
    audited, notified = len(audit_trail().entries()), len(outbox())
    request = schedule.evaluate_tick(
        build_schedule_context(instance=world["instance"], scheduled_execution_time=when)
    ).run_requests[0]
    assert len(audit_trail().entries()) == audited and len(outbox()) == notified  # asking leaves no trace
    assert request.tags[TRIGGER_TAG] == "schedule"
    assert request.run_config["ops"][LABELLED_OP]["config"]["include_adjudicated"] is True
    assert request.run_key == f"routine-{when.isoformat()}"
