"""Train -> candidate -> signed approvals -> ACTIVE, and every refusal on the way, as people do it: real `gxp`
processes, real keys, the real registry and audit trail, Dagster runs and the promotion sensor."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, build_sensor_context

from gxp_assets.definitions import defs
from gxp_assets.defs.io_manager import LAUNCHED_BY_TAG
from gxp_assets.stores import audit_trail, codecs, open_governance
from gxp_assets.stores.local import LocalArtifactStore
from gxp_assets_tests.conftest import PROJECT_ROOT, ae_scope, control_roles, register_recalibrated, relaxed_plan

SCOPE = ae_scope()
approved_models = defs.resolve_sensor_def(SCOPE.name("approved_models"))

PASSPHRASE = "correct horse battery staple"
USERS = {
    "alice": ("Alice Trainer", ["data_scientist", "qa_reviewer"]),  # trains, so may not approve
    "quinn": ("Quinn Quality", ["qa_reviewer"]),
    "petra": ("Petra Physician", ["pv_physician"]),
    "dana": ("Dana Data", ["data_scientist"]),
}
RUN_CONFIG = SCOPE.run_config({
    "ops": {
        "labelled_reports": {"config": {"format": "demo", "demo_documents": 250}},
        "ae_classifier": {"config": {"max_rounds": 80, "early_stopping_rounds": 15, "num_threads": 1}},
    }
})  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("governance")
    (root / "dagster").mkdir()
    (root / "dagster" / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    env = {
        **os.environ,
        "GXP_HOME": str(root / "gxp"),
        "DAGSTER_HOME": str(root / "dagster"),
        "GXP_PLAN": str(relaxed_plan(root / "plan.yaml")),
        "GXP_ROLES": str(root / "roles.yaml"),
        "GXP_TEST_PASSPHRASE": PASSPHRASE,
    }
    public_keys = {}
    for user in USERS:
        done = gxp(env, "keys", "create", "--user", user, "--passphrase-env", "GXP_TEST_PASSPHRASE")
        assert done.returncode == 0, done.stderr
        public_keys[user] = next(
            line.split("public_key: ")[1] for line in done.stdout.splitlines() if "public_key" in line
        )
    roles = {
        "users": [
            {"user_id": user, "printed_name": name, "roles": roles, "public_key": public_keys[user]}
            for user, (name, roles) in USERS.items()
        ]
    }
    (root / "roles.yaml").write_text(yaml.safe_dump(roles))
    control_roles(env, root)
    monkeypatch = pytest.MonkeyPatch()
    for key in ("GXP_HOME", "DAGSTER_HOME", "GXP_PLAN", "GXP_ROLES"):
        monkeypatch.setenv(key, env[key])
    with DagsterInstance.get() as instance:
        result = defs.resolve_job_def(SCOPE.name("train_model")).execute_in_process(
            instance=instance, run_config=RUN_CONFIG, tags={LAUNCHED_BY_TAG: "alice"}
        )
        assert result.success
        version = open_governance().registry.versions()[-1].version
        yield {"env": env, "instance": instance, "version": version, "root": root, "result": result}
    monkeypatch.undo()


def gxp(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gxp_assets.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def approve(world: dict, user: str, *extra: str) -> subprocess.CompletedProcess:
    return gxp(
        world["env"], "approve", world["version"], "--user", user, "--reason", "metrics meet the plan",
        "--passphrase-env", "GXP_TEST_PASSPHRASE", *extra,
    )  # fmt: skip


def test_candidate_is_registered_with_lineage_and_checks(world: dict) -> None:
    evaluations = {e.check_name: e for e in world["result"].get_asset_check_evaluations()}
    for name in (
        "auroc_min",
        "positive_recall_min",
        "auto_close_min",
        "max_auroc_drop_vs_active",
        "inside_change_control_plan",
    ):
        assert evaluations[name].passed, name
    assert evaluations["auroc_min"].metadata["limit"].value == 0.6
    model = open_governance().registry.get(world["version"])
    assert model.state == "PENDING_APPROVAL"
    lineage = model.record["lineage"]
    assert lineage["trained_by"] == "alice"
    assert lineage["assets"]["validated_reports"]["data_version"]
    assert model.record["plan"]["sha256"] and model.record["audit_head"]["seq"] > 0


def test_refusals_are_refused_and_audited(world: dict) -> None:
    version, env = world["version"], world["env"]
    root = world["root"]
    cases = {
        "unknown_user": approve(world, "mallory"),
        "wrong_key": approve(world, "quinn", "--key", str(root / "gxp" / "keys" / "petra.pem")),
        "missing_role": approve(world, "dana"),
        "separation_of_duties": approve(world, "alice"),
    }
    for code, done in cases.items():
        assert done.returncode == 1, (code, done.stdout, done.stderr)
        assert f"refused ({code})" in done.stderr, (code, done.stderr)
    wrong_passphrase = gxp({**env, "GXP_TEST_PASSPHRASE": "not the passphrase!"}, "approve", version, "--user",
                           "quinn", "--reason", "x", "--passphrase-env", "GXP_TEST_PASSPHRASE")  # fmt: skip
    assert wrong_passphrase.returncode == 1 and "wrong_passphrase" in wrong_passphrase.stderr
    refusals = [e for e in audit_trail().entries() if e.action == "refusal" and e.subject == version]
    assert {e.details["code"] for e in refusals} >= {*cases, "wrong_passphrase"}
    assert open_governance().registry.get(version).state == "PENDING_APPROVAL"


def test_signature_over_another_record_and_replay_are_refused(world: dict, tmp_path: Path) -> None:
    governance = open_governance()
    plan = governance.registry.get(world["version"]).record["plan"]  # the plan in force: judged under it
    other = governance.registry.register("ae_triage-other", "ae_triage", {"use_case": "ae_triage", "plan": plan,
                                         "lineage": {"trained_by": "dana"}}, "dana")  # fmt: skip
    governance.registry.transition(other.version, "PENDING_APPROVAL", "dana", "test record")
    saved = tmp_path / "quinn.json"
    first = gxp(world["env"], "approve", other.version, "--user", "quinn", "--reason", "ok",
                "--passphrase-env", "GXP_TEST_PASSPHRASE", "--save-signature", str(saved))  # fmt: skip
    assert first.returncode == 0, first.stderr
    moved = approve(world, "quinn", "--signature", str(saved))
    assert moved.returncode == 1 and "refused (other_record)" in moved.stderr
    replayed = gxp(world["env"], "approve", other.version, "--user", "quinn", "--reason", "ok",
                   "--passphrase-env", "GXP_TEST_PASSPHRASE", "--signature", str(saved))  # fmt: skip
    assert replayed.returncode == 1 and "refused (replayed)" in replayed.stderr


def test_two_approvals_then_the_sensor_promotes_to_active(world: dict) -> None:
    version, instance = world["version"], world["instance"]
    assert approve(world, "quinn").returncode == 0
    sensor_result = approved_models(build_sensor_context(instance=instance))
    assert not isinstance(sensor_result, list)  # one approval is not enough: nothing to promote
    second = approve(world, "petra")
    assert second.returncode == 0, second.stderr
    assert "Signed by Petra Physician (petra) on" in second.stdout and "meaning: approval" in second.stdout
    assert "is now APPROVED" in second.stdout

    context = build_sensor_context(instance=instance)
    requests = approved_models(context)
    assert [request.run_key for request in requests] == [f"promote-{version}"]
    again = approved_models(build_sensor_context(instance=instance, cursor=context.cursor))
    assert not isinstance(again, list)  # the cursor remembers: no second request
    promote = defs.resolve_job_def(SCOPE.name("promote_model"))
    run = promote.execute_in_process(instance=instance, run_config=requests[0].run_config)
    assert run.success
    assert open_governance().registry.get(version).state == "ACTIVE"
    shown = gxp(world["env"], "registry", "show", version)
    assert "ACTIVE" in shown.stdout and re.search(r"Quinn Quality +quinn +[\d-]+ [\d:]+ UTC +approval ", shown.stdout)


def test_reproduce_rebuilds_the_model_bit_for_bit(world: dict) -> None:
    done = gxp(world["env"], "reproduce", world["version"], "--user", "quinn")
    assert done.returncode == 0, done.stderr
    assert "matches" in done.stdout and "bit for bit" in done.stdout
    recorded = open_governance().registry.get(world["version"]).record["model_sha256"]
    assert recorded in done.stdout
    entry = [e for e in audit_trail().entries() if e.action == "reproduction"][-1]
    assert entry.details["match"] is True and entry.details["rebuilt"] == recorded


def test_a_newer_version_retires_the_active_one_and_a_signed_rollback_restores_it(world: dict) -> None:
    governance = open_governance()
    first = world["version"]
    newer = register_recalibrated(governance, first, "dana")
    for user in ("quinn", "petra"):
        done = gxp(world["env"], "approve", newer.version, "--user", user, "--reason", "ok",
                   "--passphrase-env", "GXP_TEST_PASSPHRASE")  # fmt: skip
        assert done.returncode == 0, done.stderr
    governance.promote(newer.version, "system")
    assert governance.registry.get(first).state == "RETIRED"
    assert governance.registry.get(newer.version).state == "ACTIVE"

    refused = gxp(world["env"], "rollback", first, "--user", "dana", "--reason", "newer one misbehaves",
                  "--passphrase-env", "GXP_TEST_PASSPHRASE")  # fmt: skip
    assert refused.returncode == 1 and "refused (missing_role)" in refused.stderr
    done = gxp(world["env"], "rollback", first, "--user", "quinn", "--reason", "newer one misbehaves",
               "--passphrase-env", "GXP_TEST_PASSPHRASE")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Signed by Quinn Quality (quinn)" in done.stdout and f"model {first} is now ACTIVE" in done.stdout
    assert governance.registry.get(newer.version).state == "RETIRED"


def test_validation_report_shows_criteria_plots_and_signatures(world: dict) -> None:
    out = world["root"] / "report.html"
    done = gxp(world["env"], "report", world["version"], "--out", str(out))
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert world["version"] in page and page.count("data:image/png;base64,") == 4
    assert "auroc_min" in page and "Petra Physician" in page and "Quinn Quality" in page


def test_trace_names_the_split_version_and_approvals(world: dict) -> None:
    store = LocalArtifactStore(world["env"]["GXP_HOME"])
    ref = store.latest(SCOPE.key("dataset_splits").to_user_string())
    splits = codecs.decode(store.read(ref), ref.suffix)
    report_id = splits.loc[splits["split"] == "test", "report_id"].iloc[0]
    done = gxp(world["env"], "trace", report_id)
    assert done.returncode == 0, done.stderr
    assert f"{report_id}: test split of model {world['version']}" in done.stdout
    assert re.search(r"Petra Physician +petra +[\d-]+ [\d:]+ UTC +approval ", done.stdout), done.stdout
    assert gxp(world["env"], "trace", "no-such-report").returncode == 1


def test_audit_trail_verifies_and_detects_tampering(world: dict) -> None:
    env = world["env"]
    verified = gxp(env, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    html = world["root"] / "audit.html"
    assert gxp(env, "audit", "export", "--format", "html", "--out", str(html)).returncode == 0
    assert "Chain verified" in html.read_text()
    entries = audit_trail().entries()
    actions = {entry.action for entry in entries}
    assert {"materialization", "transition", "signature", "refusal"} <= actions
    database = Path(env["GXP_HOME"]) / "audit.sqlite"
    with sqlite3.connect(database) as connection:  # an insider edits one field behind the triggers' back
        for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            connection.execute(f"DROP TRIGGER {name}")
        connection.execute("UPDATE audit_entries SET actor = 'someone_else' WHERE seq = 3")
    tampered = gxp(env, "audit", "verify")
    assert tampered.returncode == 1 and "seq 3" in tampered.stderr
    assert json.loads(json.dumps([e.seq for e in entries]))  # the trail was not empty
