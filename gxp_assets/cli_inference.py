"""`gxp score`, `gxp queue` and `gxp demo`: scoring a landed batch now, the PRIORITY queue, and the whole story.

`gxp demo` signs with DEMO-ONLY keys it generates under GXP_HOME/demo-only/ (never in the repository) and a roles
file that lists only demo people. Real approvals use each person's own key and the reviewed roles.yaml.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml

from gxp_assets.stores.local import default_home
from gxp_assets.stores.results_protocol import resubmission_note

EXIT_OK, EXIT_FAILED = 0, 1
DEMO_PASSPHRASE_ENV = "GXP_DEMO_PASSPHRASE"
DEMO_TRAINER = "alice"
DEMO_ROLE_ADMIN = "role-admin-DEMO-ONLY"
DEMO_PEOPLE = (
    ("alice", "Alice Analyst (DEMO ONLY)", "data_scientist"),
    ("quinn", "Quinn Quality (DEMO ONLY)", "qa_reviewer"),
    ("petra", "Petra Physician (DEMO ONLY)", "pv_physician"),
)
DEMO_APPROVALS = (
    ("quinn", "Demo: acceptance criteria met; validation report reviewed"),
    ("petra", "Demo: AE recall by source clinically acceptable"),
)
DEMO_BATCH_SEED, DEMO_BATCH_DOCUMENTS = 11, 150


def _fail(message: str) -> int:
    print(f"gxp: {message}", file=sys.stderr)
    return EXIT_FAILED


def score_landed_file(path: Path) -> object:
    """Register a landed batch file as a partition and score it now, as the landing sensor would."""
    from dagster import DagsterInstance

    from gxp_assets.cli_runs import run_job
    from gxp_assets.core.hashing import sha256_file
    from gxp_assets.defs.inference_assets import batches
    from gxp_assets.defs.jobs import score_batch
    from gxp_assets.stores.landing import batch_key

    key = batch_key(path.name, sha256_file(path))
    DagsterInstance.get().add_dynamic_partitions(batches.name, [key])
    return run_job(score_batch.name, partition_key=key, log_level="WARNING")


def cmd_score(args: argparse.Namespace) -> int:
    from gxp_assets.stores import landing_zone
    from gxp_assets.stores.landing import REPORTS

    path = Path(args.file).resolve()
    folder = landing_zone().folder(REPORTS)
    if path.parent != folder:
        return _fail(f"{path} is not in the landing zone {folder}: copy it there first, so it is kept as received")
    result = score_landed_file(path)
    _print_batch(result)
    return EXIT_OK if result.success else _fail("the scoring run failed; its error is in the log above")


def _print_batch(result: object) -> None:
    from gxp_assets.cli_runs import materializations

    print(f"run {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'}")
    found = materializations(result)
    scored, drift = found.get("scored_reports"), found.get("drift_report")
    if scored:
        print(f"\nBatch scored by ACTIVE model {scored['model_version']} ({scored['plan_version']}): "
              f"{scored['received']:,} received = {scored['scored']:,} scored + {scored['quarantined']:,} "
              f"quarantined; triage {scored['triage']}")  # fmt: skip
    if drift:
        print(f"Drift report: {'DRIFT: ' + drift['alarms'] if drift['drifted'] else 'no drift'} (score PSI "
              f"{drift['score_psi']:.3f}, unseen n-grams {drift['unseen_ngram_share']:.1%}, REVIEW share "
              f"{drift['review_share']:.1%}, source shift {drift['source_shift']:.3f})\n"
              f"Drift plot: {drift['plot_file']}")  # fmt: skip


def cmd_queue(args: argparse.Namespace) -> int:
    """The PRIORITY queue: reports awaiting adjudication, the earliest regulatory due date first; only from an index
    that matches the audit trail (exit 1 otherwise)."""
    from gxp_assets.stores import verified_results
    from gxp_assets.stores.results_integrity import ResultsIntegrityError

    try:
        queue = verified_results().priority_queue(datetime.now(UTC))
    except ResultsIntegrityError as error:
        return _fail(str(error))
    if queue.empty:
        print("the PRIORITY queue is empty")
        return EXIT_OK
    print(f"{len(queue):,} PRIORITY report(s) awaiting adjudication, earliest due first:")
    for row in queue.head(args.limit).itertuples():
        due = "no receipt time" if row.due_at is None or str(row.due_at) == "NaT" else f"{row.due_at:%Y-%m-%d %H:%M}"
        left = f"{row.hours_left:+.0f} h" if row.hours_left == row.hours_left else ""
        print(f"  due {due} UTC ({left})  p(AE) {row.p_ae:.3f}  {row.report_id:<28} {row.source:<13} "
              f"{str(row.text)[:70]}{resubmission_note(row.resubmitted)}")  # fmt: skip
    return EXIT_OK


def ensure_demo_signers() -> Path:
    """DEMO-ONLY key pairs and roles file under GXP_HOME/demo-only, created once; returns the roles file.

    Also a DEMO-ONLY role administrator: the plan in force is copied with its key's fingerprint pinned (GXP_PLAN is
    set to the copy in this process's environment) and the demo roles file is approved with it, since a roles file
    counts only once approved.
    """
    from gxp_assets.governance.signatures import create_key_pair

    folder = default_home() / "demo-only"
    roles_path, passphrase_path = folder / "roles-DEMO-ONLY.yaml", folder / "PASSPHRASE-DEMO-ONLY.txt"
    if not (roles_path.exists() and passphrase_path.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        passphrase = secrets.token_urlsafe(24)
        _write_private(passphrase_path, passphrase.encode())
        users = []
        for user_id, name, role in DEMO_PEOPLE:
            private_pem, public_line = create_key_pair(passphrase)
            _write_private(folder / "keys" / f"{user_id}.pem", private_pem)
            users.append({"user_id": user_id, "printed_name": name, "roles": [role], "public_key": public_line})
        _write_private(folder / "keys" / f"{DEMO_ROLE_ADMIN}.pem", create_key_pair(passphrase)[0])
        header = "# DEMO ONLY: generated by `gxp demo` for synthetic data. Never use these people or keys for real.\n"
        roles_path.write_text(header + yaml.safe_dump({"users": users}, sort_keys=False))
    os.environ[DEMO_PASSPHRASE_ENV] = passphrase_path.read_text().strip()
    _control_demo_roles(folder, roles_path)
    return roles_path


def _control_demo_roles(folder: Path, roles_path: Path) -> None:
    """Pin the DEMO-ONLY role administrator in a copy of the plan in force and approve the demo roles file."""
    from gxp_assets.cli_roles import approve_roles_in_force, pin_role_administrator, public_fingerprint
    from gxp_assets.governance.roles import load_roles
    from gxp_assets.stores import current_plan, open_governance

    passphrase = os.environ[DEMO_PASSPHRASE_ENV]
    admin_pem = (folder / "keys" / f"{DEMO_ROLE_ADMIN}.pem").read_bytes()
    fingerprint = public_fingerprint(admin_pem, passphrase)
    plan = current_plan()
    if plan.plan.signatures.role_administrator_fingerprint != fingerprint:
        os.environ["GXP_PLAN"] = str(pin_role_administrator(plan.path, fingerprint, folder / "plan-DEMO-ONLY.yaml"))
    if load_roles(roles_path).digest() not in open_governance().approved_roles():
        approve_roles_in_force(admin_pem, passphrase, DEMO_ROLE_ADMIN, "Demo: demo people and keys only", roles_path)


def _write_private(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(payload)


def sign_demo_approvals(version: str) -> bool:
    """The plan's two approvals, signed with the DEMO-ONLY keys through `gxp approve`, as people sign."""
    from gxp_assets.cli import main as gxp

    for user, reason in DEMO_APPROVALS:
        key = default_home() / "demo-only" / "keys" / f"{user}.pem"
        command = ["approve", version, "--user", user, "--meaning", "approval", "--reason", reason]
        if gxp([*command, "--key", str(key), "--passphrase-env", DEMO_PASSPHRASE_ENV]) != EXIT_OK:
            return False
    return True


def promote(version: str) -> bool:
    """Run `promote_model` for an APPROVED version, as the approved_models sensor requests it."""
    from gxp_assets.cli_runs import run_job
    from gxp_assets.defs.jobs import promote_model

    run_config = {"ops": {"active_model": {"config": {"version": version}}}}
    return bool(run_job(promote_model.name, run_config, None, "WARNING").success)


def _latest_candidate() -> str:
    from gxp_assets.stores import artifact_store, codecs

    store = artifact_store()
    ref = store.latest("model_candidate")
    if ref is None:
        raise LookupError("the training run registered no candidate")
    return codecs.decode(store.read(ref), ref.suffix)["version"]


def cmd_demo(args: argparse.Namespace) -> int:
    """Train, sign two approvals with demo keys, promote, score a landed batch, and show its drift report."""
    from gxp_assets.cli import main as gxp
    from gxp_assets.cli_runs import NoInstance
    from gxp_assets.core.demo_data import demo_batch
    from gxp_assets.governance.registry import State
    from gxp_assets.stores import landing_zone, open_governance
    from gxp_assets.stores.landing import REPORTS

    if not os.environ.get("DAGSTER_HOME"):
        return _fail(str(NoInstance("DAGSTER_HOME is not set: run through scripts/demo.sh")))
    os.environ["GXP_ROLES"] = str(ensure_demo_signers())
    os.environ["GXP_USER"] = DEMO_TRAINER
    print(f"== DEMO: people and keys are DEMO-ONLY ({os.environ['GXP_ROLES']}) ==\n")
    print("== 1. Train and register a candidate under the change control plan ==")
    if gxp(["run", "--log-level", "WARNING", *(["--config", args.config] if args.config else [])]) != EXIT_OK:
        return EXIT_FAILED
    version = _latest_candidate()
    governance = open_governance()
    if governance.registry.get(version).state in (State.CANDIDATE, State.PENDING_APPROVAL):
        print(f"\n== 2. Two signed approvals with DEMO-ONLY keys for {version} ==")
        if not sign_demo_approvals(version):
            return EXIT_FAILED
    print("\n== 3. Promotion (what the approved_models sensor requests) ==")
    if governance.registry.get(version).state == State.APPROVED and not promote(version):
        return _fail("the promotion run failed; see the log above")
    print(f"model {version} is {open_governance().registry.get(version).state}")
    print("\n== 4. A batch lands and is scored by the ACTIVE model ==")
    frame = demo_batch(DEMO_BATCH_DOCUMENTS, DEMO_BATCH_SEED, received_until=datetime.now(UTC))
    path = landing_zone().folder(REPORTS) / f"demo-batch-{datetime.now(UTC):%Y%m%dT%H%M%S}.csv"
    frame.to_csv(path, index=False, lineterminator="\n")
    print(f"landed {len(frame):,} reports in {path}")
    result = score_landed_file(path)
    _print_batch(result)
    if not result.success:
        return _fail("the scoring run failed; see the log above")
    print("\n== 5. For people: the PRIORITY queue (`gxp queue`) and the outbox ==")
    cmd_queue(argparse.Namespace(limit=5))
    print(f"notifications: {default_home() / 'outbox'}")
    print("\nNext: `source scripts/env.sh && dagster dev`, open http://127.0.0.1:3000, turn on the sensors "
          "landing_files, approved_models and retraining_triggers (Automation), and drop batch files into "
          f"{landing_zone().folder(REPORTS)}.")  # fmt: skip
    return EXIT_OK


def cmd_results_verify(args: argparse.Namespace) -> int:
    from gxp_assets.stores import verified_results
    from gxp_assets.stores.results_integrity import ResultsIntegrityError

    try:
        batches = verified_results().batches()
    except ResultsIntegrityError as error:
        for problem in error.problems:
            print(f"FAILED: {problem}", file=sys.stderr)
        return EXIT_FAILED
    print(f"results index: {len(batches)} batches match the audit trail (files and rows)")
    return EXIT_OK


def cmd_results_rebuild(args: argparse.Namespace) -> int:
    """Restore the results index from the batch files that still hash to what the audit trail recorded."""
    from gxp_assets.stores import audit_trail, results_store
    from gxp_assets.stores.results_integrity import recorded_results

    trail = audit_trail()
    recorded = recorded_results(trail.entries())
    store = results_store()
    restored = store.rebuild(recorded)
    problems = store.verify(recorded)
    trail.append(args.user or "system", "results_rebuild", "results",
                 {"restored": restored, "problems": problems[:50]})  # fmt: skip
    print(f"results index rebuilt: {len(restored)} of {len(recorded)} recorded batches restored")
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return EXIT_FAILED if problems else EXIT_OK


def add_commands(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="the whole story on demo data: train, approve (demo keys), promote, score")
    demo.add_argument("--config", help="YAML run config for training, as for `gxp run`")
    demo.set_defaults(handler=cmd_demo)
    score = commands.add_parser("score", help="score a batch file in the landing zone now (no sensor needed)")
    score.add_argument("file")
    score.set_defaults(handler=cmd_score)
    queue = commands.add_parser("queue", help="PRIORITY reports awaiting adjudication, earliest due first")
    queue.add_argument("--limit", type=int, default=50)
    queue.set_defaults(handler=cmd_queue)
    results = commands.add_parser("results", help="the results index: verify it against the audit trail, rebuild it")
    results_actions = results.add_subparsers(dest="action", required=True)
    results_actions.add_parser("verify", help="exit 1 unless every batch's files and rows match the audit trail"
                               ).set_defaults(handler=cmd_results_verify)  # fmt: skip
    rebuild = results_actions.add_parser("rebuild", help="restore the index from the verified Parquet files")
    rebuild.add_argument("--user", help="who rebuilds (for the audit trail)")
    rebuild.set_defaults(handler=cmd_results_rebuild)
