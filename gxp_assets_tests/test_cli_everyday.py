"""The gxp command in everyday use, through a real process on a real demo world: reasons instead of tracebacks,
tables that say what they leave out, and commands that act now instead of waiting for a sensor (issue 15)."""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from gxp_assets.cli.main import build_parser
from gxp_assets_tests.conftest import AE, register_recalibrated, run_gxp

TRACEBACK = "Traceback (most recent call last)"


gxp = run_gxp


def one_line_error(done: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 1, a single line on stderr that names the problem, never a traceback."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert TRACEBACK not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("gxp: ") and all(word in done.stderr for word in words), done.stderr


def test_every_argument_has_help_and_meaning_lists_its_choices() -> None:
    def walk(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {choice.dest for choice in action._choices_actions if choice.help}
                for name, sub in action.choices.items():
                    assert name in helped, f"`{path} {name}` has no help"
                    yield from walk(sub, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction):
                yield path, action

    missing = [f"{path} {action.dest}" for path, action in walk(build_parser(), "gxp") if not action.help]
    assert not missing, missing
    shown = gxp("approve", "--help", env=dict(os.environ))
    assert shown.returncode == 0 and "approval, review, responsibility (default approval)" in " ".join(
        shown.stdout.split())  # fmt: skip


def test_the_console_script_runs_the_same_command() -> None:
    script = Path(sys.executable).parent / "gxp"
    done = subprocess.run([str(script), "queue", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--all" in done.stdout, done.stderr


def test_usage_errors_exit_2_without_a_traceback() -> None:
    done = gxp("queue", "--limit", "many", env=dict(os.environ))
    assert done.returncode == 2 and TRACEBACK not in done.stderr and "invalid int value" in done.stderr


def test_a_missing_file_in_the_landing_zone_is_a_reason(world: dict) -> None:
    missing = world["home"] / "landing" / AE / "reports" / "no-such-batch.csv"
    one_line_error(gxp("score", str(missing), env=world["env"]), "no file no-such-batch.csv", "landing zone")


def test_out_into_a_missing_folder_is_a_reason(world: dict) -> None:
    nowhere = world["root"] / "no-such-folder"
    env = world["env"]
    one_line_error(gxp("audit", "export", "--out", str(nowhere / "audit.html"), env=env), "does not exist")
    one_line_error(gxp("report", world["version"], "--out", str(nowhere / "r.html"), env=env), "does not exist")
    one_line_error(gxp("artifacts", "export", f"{AE}/labelled_reports", "--out", str(nowhere / "x"), env=env),
                   "does not exist")  # fmt: skip
    one_line_error(gxp("results", "export", "nosuch-batch", env=env), "no scored batch nosuch-batch")


def test_an_unknown_asset_or_version_is_a_reason(world: dict) -> None:
    one_line_error(gxp("artifacts", "list", "nosuch", env=world["env"]), "no stored version of asset 'nosuch'")
    one_line_error(gxp("registry", "show", "nosuch-version", env=world["env"]), "no model version nosuch-version")


@pytest.mark.parametrize("command", [["queue", "--all"], ["registry", "show"], ["artifacts", "list"]])
def test_a_reader_that_goes_away_is_not_an_error_message(world: dict, command: list[str]) -> None:
    """`gxp queue | head`: the pipe is closed before gxp writes; gxp stops quietly."""
    args = [*command, world["version"]] if command == ["registry", "show"] else command
    process = subprocess.Popen([sys.executable, "-m", "gxp_assets.cli", *args], env=world["env"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    process.stdout.close()  # the reader is gone before the first line is written
    _, stderr = process.communicate(timeout=300)
    assert stderr == "" and process.returncode == 1


@pytest.mark.parametrize("rows", ["header_only", "all_quarantined"])
def test_a_batch_with_nothing_to_score_reports_instead_of_crashing(world: dict, rows: str) -> None:
    header = "report_id,document_id,source,text,received_at,product\n"
    body = "" if rows == "header_only" else "r1,d1,literature,,2026-11-01T00:00:00Z,\nr2,d2,literature,,,\n"
    path = world["home"] / "landing" / AE / "reports" / f"{rows}.csv"
    path.write_text(header + body)
    done = gxp("score", str(path), env=world["env"])
    assert done.returncode == 0 and TRACEBACK not in done.stderr, done.stdout[-2000:] + done.stderr[-2000:]
    received = 0 if rows == "header_only" else 2
    assert f"{received} received = 0 scored + {received} quarantined" in done.stdout
    assert "score PSI n/a" in done.stdout


def test_queue_is_a_table_that_says_what_it_leaves_out_and_labels_overdue(world: dict) -> None:
    done = gxp("queue", "--limit", "3", env=world["env"])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    total = int(lines[0].split()[0].replace(",", ""))
    assert total > 3 and "OVERDUE)" in lines[0]
    assert lines[1].split()[:3] == ["status", "due", "(UTC)"] and set(lines[2]) <= {"-", " "}
    assert len(lines[3:6]) == 3 and all(line.startswith("OVERDUE") and " ago " in line for line in lines[3:6])
    assert "(-" not in done.stdout  # no bare negative hours
    assert lines[6] == f"showing 3 of {total} (use --all)"
    # Columns are aligned: the p(AE) column ends at the same place on every row.
    header_end = lines[1].index("p(AE)") + len("p(AE)")
    assert all(line[header_end - 5 : header_end].strip().replace(".", "").isdigit() for line in lines[3:6])
    everything = gxp("queue", "--all", env=world["env"])
    assert f"showing all {total}" in everything.stdout and len(everything.stdout.splitlines()) == total + 4


def test_trace_shows_the_explanation_the_approvals_and_the_plan(world: dict) -> None:
    from gxp_assets.stores import verified_results

    priority = verified_results().priority_queue(datetime.now(UTC))
    report_id = priority["report_id"].iloc[0]
    done = gxp("trace", report_id, env=world["env"])
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "why: " in out and "explanation (words that moved the score): " in out
    assert "plan in force: " in out and "guarantee: " in out
    # The model's approvals: printed name, time recorded by the system (one UTC format), meaning.
    assert "Quinn Quality (DEMO ONLY)" in out and "Petra Physician (DEMO ONLY)" in out
    assert "time (recorded by the system)" in out and len(re.findall(r"\d\d:\d\d:\d\d UTC +approval +Demo", out)) == 2
    one_line_error(gxp("trace", "no-such-report", env=world["env"]), "no-such-report")


def test_results_export_writes_verified_rows_and_is_audited(world: dict, tmp_path: Path) -> None:
    from gxp_assets.stores import audit_trail, verified_results

    batch = next(summary for summary in verified_results().batches() if summary.batch.startswith("old-batch"))
    for fmt in ("csv", "parquet"):
        done = gxp("results", "export", batch.batch, "--format", fmt, "--out", str(tmp_path), env=world["env"])
        assert done.returncode == 0, done.stderr
        predictions = tmp_path / f"{batch.batch}-predictions.{fmt}"
        read = pd.read_csv if fmt == "csv" else pd.read_parquet
        frame = read(predictions)
        assert len(frame) == batch.scored and set(frame["report_id"]) == set(
            verified_results().predictions(batch=batch.batch)["report_id"])  # fmt: skip
        assert (tmp_path / f"{batch.batch}-quarantine.{fmt}").is_file()
    exports = [entry for entry in audit_trail().entries() if entry.action == "results_export"]
    assert [entry.details["format"] for entry in exports[-2:]] == ["csv", "parquet"]
    assert exports[-1].actor == "olivia" and exports[-1].subject == f"batch/{batch.batch}"


def test_monitor_runs_monitor_performance_now(world: dict) -> None:
    from gxp_assets.stores import audit_trail, verified_results

    scored = verified_results().predictions().head(12)
    adjudicated = pd.DataFrame({"report_id": scored["report_id"], "label": 1, "adjudicator": "petra",
                                "adjudicated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})  # fmt: skip
    path = world["home"] / "landing" / AE / "adjudications" / "today.csv"
    adjudicated.to_csv(path, index=False)
    patient = {**world["env"], "GXP_LANDING_SETTLE_SECONDS": "3600"}  # no race with a loaded machine's clock
    waiting = gxp("monitor", env=patient)  # a file just written may still be growing: left alone, said so
    assert waiting.returncode == 0 and "not taken yet: today.csv" in waiting.stdout, waiting.stdout
    os.utime(path, (time.time() - 7200, time.time() - 7200))
    before = len(audit_trail().entries())
    done = gxp("monitor", env=patient)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "adjudications: 12 accepted" in done.stdout and "realized performance" in done.stdout, done.stdout
    made = [e for e in audit_trail().entries()[before:] if e.action == "materialization"]
    assert {e.subject for e in made} >= {f"{AE}/adjudications", f"{AE}/realized_performance"}  # by full key
    assert {e.actor for e in made} == {"olivia"}  # who ran it, as the sensor's runs carry theirs
    # The monitoring summary in the UI: every batch's drift in the order measured, with the plan's limits.
    summary = latest_metadata("monitoring_summary")
    drift = [record.data for record in summary["drift_over_time"].records]
    assert [row["at"] for row in drift] == sorted(row["at"] for row in drift) and len(drift) >= 2
    assert any(row["measured"].startswith("old-batch") for row in drift)
    assert all(row["score_psi_max"] is not None for row in drift)
    assert summary["performance_measurements"].value >= 1 and "data:image/png;base64," in summary["plot_trends"].value


def test_report_and_audit_export_are_inspection_ready_and_audited(world: dict, tmp_path: Path) -> None:
    env, version = world["env"], world["version"]
    for number in (1, 2):
        done = gxp("report", version, "--out", str(tmp_path / f"r{number}.html"), env=env)
        assert done.returncode == 0 and f"version {number} of {version}" in done.stdout, done.stderr
    page = (tmp_path / "r2.html").read_text()
    assert "DEMO: signed with DEMO-ONLY keys" in page and "Verified at generation: every control verified" in page
    assert "<th>Generated by</th><td>olivia</td>" in page and "<th>Document version</th><td>2</td>" in page
    assert "Confidence intervals (document bootstrap, test split)" in page and "<td>AE recall (AEs not" in page
    exported = gxp("audit", "export", "--format", "csv", "--version", version, "--out", str(tmp_path / "a.csv"),
                   env=env)  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    rows = pd.read_csv(tmp_path / "a.csv")
    assert (rows["action"] == "report_generated").sum() == 2
    assert "Quinn Quality (DEMO ONLY)" in set(rows["printed_name"])
    everything = pd.read_csv(io.StringIO(gxp("audit", "export", "--format", "csv", "--out", str(tmp_path / "b.csv"),
                                             env=env).stdout and (tmp_path / "b.csv").read_text()))  # fmt: skip
    assert {"notification", "audit_export", "results"} <= set(everything["action"])


def latest_metadata(asset: str) -> dict:
    from dagster import AssetKey, DagsterInstance

    with DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(AssetKey([AE, asset]))
        return dict(event.asset_materialization.metadata)


def most_priority_batch() -> dict:
    """The metadata of the scored batch with the most PRIORITY reports, as its asset page shows it."""
    from dagster import AssetKey, DagsterInstance

    with DagsterInstance.get() as instance:
        records = instance.fetch_materializations(AssetKey([AE, "scored_reports"]), limit=50).records
        shown = [dict(record.asset_materialization.metadata) for record in records]
    return max(shown, key=lambda metadata: metadata["priority_reports"].value)


def observed_state(asset: str) -> str:
    """The state the UI shows from the newest observation of ``asset`` in the DAGSTER_HOME instance."""
    from dagster import AssetKey, DagsterInstance

    with DagsterInstance.get() as instance:
        [record] = instance.fetch_observations(AssetKey([AE, asset]), limit=1).records
        metadata = record.asset_observation.metadata
        return f"{metadata['version'].value} {metadata['state'].value}"


def test_the_ui_metadata_is_rounded_tabled_and_links_the_full_priority_table(world: dict) -> None:
    from dagster import TableMetadataValue

    from gxp_assets.stores import artifact_store, codecs

    evaluation = latest_metadata("model_evaluation")
    store = artifact_store()
    ref = store.latest(f"{AE}/model_evaluation")
    exact = codecs.decode(store.read(ref), ref.suffix)["metrics"]
    for name in ("auroc", "brier", "ae_recall", "review_share"):
        shown = evaluation[name].value
        assert shown == round(exact[name], 4) and len(repr(shown).split(".")[-1]) <= 4  # exact value in the record
    subgroups = evaluation["subgroups"]
    assert isinstance(subgroups, TableMetadataValue)
    assert {record.data["source"] for record in subgroups.records} == {row["source"] for row in exact["subgroups"]}
    criteria = latest_metadata("model_candidate")["acceptance_criteria"]
    assert isinstance(criteria, TableMetadataValue) and all(record.data["passed"] for record in criteria.records)
    assert {"auroc_min", "positive_recall_min"} <= {record.data["name"] for record in criteria.records}

    scored = most_priority_batch()
    full = pd.read_csv(scored["priority_queue_file"].value)
    assert len(full) == scored["priority_reports"].value > 0
    shown = min(20, len(full))
    assert f"showing {shown} of {len(full)}" in scored["priority_queue"].value


def test_promote_makes_an_approved_version_active_and_refuses_otherwise(world: dict) -> None:
    from gxp_assets.governance.registry import State
    from gxp_assets.stores import audit_trail, open_governance

    env, first = world["env"], world["version"]
    one_line_error(gxp("promote", first, env=env), "ACTIVE", "only an APPROVED version")
    second = register_recalibrated(open_governance(), first, trainer="alice").version
    one_line_error(gxp("promote", second, env=env), "PENDING_APPROVAL", "still needed")
    keys = world["home"] / "demo-only" / "keys"
    secret = (world["home"] / "demo-only" / "PASSPHRASE-DEMO-ONLY.txt").read_text().strip()
    signer_env = {**env, "DEMO_SECRET": secret}
    for user in ("quinn", "petra"):
        signed = gxp("approve", second, "--user", user, "--reason", "recalibration reviewed", "--key",
                     str(keys / f"{user}.pem"), "--passphrase-env", "DEMO_SECRET", env=signer_env)  # fmt: skip
        assert signed.returncode == 0, signed.stderr
    assert observed_state("model_candidate") == f"{second} APPROVED"  # the UI says what the registry says
    done = gxp("promote", second, "--user", "quinn", env=env)
    assert done.returncode == 0 and f"model {second} is now ACTIVE" in done.stdout, done.stdout + done.stderr
    registry = open_governance().registry
    assert registry.get(second).state == State.ACTIVE and registry.get(first).state == State.RETIRED
    assert observed_state("model_candidate") == f"{second} ACTIVE"
    assert latest_metadata("active_model")["version"].value == second
    [entry] = [e for e in audit_trail().entries() if e.action == "transition" and e.subject == second
               and e.details["to"] == "ACTIVE"]  # fmt: skip
    assert entry.actor == "quinn"
