"""The governance commands of ``gxp``: keys, signed approvals and rejections, rollback, registry, audit trail.

Passphrases are asked for at the terminal; scripts may name an environment variable that holds one
(``--passphrase-env``), never pass it on the command line where it would land in shell history.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from gxp_assets.cli_records import add_report_command, add_reproduce_command
from gxp_assets.cli_roles import add_commands as add_roles_commands
from gxp_assets.governance.audit_export import export_csv, export_html
from gxp_assets.governance.registry import State
from gxp_assets.governance.service import ActionRefused, Governance
from gxp_assets.governance.signatures import (
    Meaning,
    Signature,
    SignatureRefused,
    create_key_pair,
    load_private_key,
    sign,
)
from gxp_assets.stores import audit_trail, open_governance
from gxp_assets.stores.local import default_home
from gxp_assets.stores.results_integrity import ResultsIntegrityError
from gxp_assets.stores.results_protocol import resubmission_note

EXIT_OK, EXIT_FAILED = 0, 1


def _fail(message: str) -> int:
    print(f"gxp: {message}", file=sys.stderr)
    return EXIT_FAILED


def _passphrase(args: argparse.Namespace, confirm: bool = False) -> str:
    if args.passphrase_env:
        value = os.environ.get(args.passphrase_env)
        if value is None:
            raise SystemExit(_fail(f"environment variable {args.passphrase_env} is not set"))
        return value
    first = getpass.getpass("passphrase: ")
    if confirm and getpass.getpass("passphrase again: ") != first:
        raise SystemExit(_fail("the two passphrases differ"))
    return first


def default_key_path(user_id: str) -> Path:
    return default_home() / "keys" / f"{user_id}.pem"


def cmd_keys_create(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else default_key_path(args.user)
    if out.exists():
        return _fail(f"{out} exists; a key is never overwritten (move it away first)")
    try:
        private_pem, public_line = create_key_pair(_passphrase(args, confirm=True))
    except SignatureRefused as refusal:
        return _fail(str(refusal))
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private_pem)
    print(f"private key (encrypted with your passphrase) written to {out}; keep it to yourself.")
    print("Add this entry to roles.yaml and have the change reviewed:")
    print(
        f'  - user_id: {args.user}\n    printed_name: "<Your Name>"\n    roles: [<role>]\n    public_key: {public_line}'
    )
    return EXIT_OK


def _signature_for(args: argparse.Namespace, governance: Governance, meaning: Meaning) -> Signature:
    """A new signature by ``args.user`` over the version's record, or one read from ``--signature``."""
    if getattr(args, "signature", None):
        return Signature.from_dict(json.loads(Path(args.signature).read_text()))
    model = governance.registry.get(args.version)
    if model is None:
        raise LookupError(f"no model version {args.version} in the registry")
    return sign_as_user(args, governance, args.version, model.record_hash, meaning)


def sign_as_user(
    args: argparse.Namespace, governance: Governance, subject: str, record_hash: str, meaning: Meaning
) -> Signature:
    """``args.user`` signs ``record_hash`` with their key and passphrase (refusals audited against ``subject``);
    ``--save-signature`` keeps a copy."""
    user = governance.roles.user(args.user)
    if user is None:
        message = f"{args.user} is not in the roles file, so cannot sign"
        governance.refuse(args.user, subject, "unknown_user", message)
        raise SignatureRefused("unknown_user", message)
    key_path = Path(args.key) if args.key else default_key_path(args.user)
    try:
        private_key = load_private_key(key_path.read_bytes(), _passphrase(args))
        signature = sign(record_hash, meaning, args.reason, user, private_key, governance.audit_head(),
                         roles_sha256=governance.roles.digest())  # fmt: skip
    except SignatureRefused as refusal:
        governance.refuse(args.user, subject, str(refusal.code), str(refusal))
        raise
    if getattr(args, "save_signature", None):
        Path(args.save_signature).write_text(json.dumps(signature.to_dict(), indent=2))
    return signature


def _signed_action(args: argparse.Namespace, meaning: Meaning, rollback: bool = False) -> int:
    governance = open_governance()
    try:
        signature = _signature_for(args, governance, meaning)
        model = governance.rollback(args.version, signature) if rollback else governance.submit_signature(
            args.version, signature)  # fmt: skip
    except (SignatureRefused, ActionRefused) as refusal:
        return _fail(f"refused ({refusal.code}): {refusal}")
    except (LookupError, OSError, ValueError) as error:
        return _fail(str(error))
    print(signature.manifestation())
    print(f"model {args.version} is now {model.state}")
    if model.state == State.PENDING_APPROVAL:
        print("still needed: " + ", ".join(governance.approval_status(args.version).missing))
    return EXIT_OK


def cmd_approve(args: argparse.Namespace) -> int:
    return _signed_action(args, Meaning(args.meaning))


def cmd_reject(args: argparse.Namespace) -> int:
    return _signed_action(args, Meaning.REJECTION)


def cmd_rollback(args: argparse.Namespace) -> int:
    return _signed_action(args, Meaning.APPROVAL, rollback=True)


def cmd_registry_list(args: argparse.Namespace) -> int:
    governance = open_governance()
    for model in governance.registry.versions():
        metrics = model.record.get("metrics", {})
        print(
            f"{model.version:<28} {model.state:<17} registered {model.registered_at}  "
            f"AUROC {metrics.get('auroc', float('nan')):.3f}  AE recall {metrics.get('ae_recall', float('nan')):.3f}"
        )
    return EXIT_OK


def cmd_registry_show(args: argparse.Namespace) -> int:
    """A version's record, history and signatures, then the verdict of the point-of-use verification (exit 1 if any
    control fails)."""
    governance = open_governance()
    model = governance.registry.get(args.version)
    if model is None:
        return _fail(f"no model version {args.version} in the registry")
    record = model.record
    print(f"model {model.version}: {model.state} (record hash {model.record_hash})")
    plan, lineage = record.get("plan", {}), record.get("lineage", {})
    print(f"plan {plan.get('plan_id')} {plan.get('version')} sha256 {plan.get('sha256')}")
    print(f"trained by {lineage.get('trained_by')} at commit {(lineage.get('code') or {}).get('commit')}")
    if "guarantee" in record:
        print(f"guarantee: {record['guarantee']['statement']}")
    for result in record.get("acceptance", []):
        verdict = "pass" if result["passed"] else "FAIL"
        print(f"  {verdict} {result['name']}: measured {result['measured']}, limit {result['limit']}")
    print("history:")
    for transition in governance.registry.history(model.version):
        print(f"  {transition.at}  {transition.from_state or '-'} -> {transition.to_state}  by {transition.actor}: "
              f"{transition.reason}")  # fmt: skip
    print("signatures (time recorded by the system):")
    times = {str(e.details.get("signature_id")): e.recorded_at for e in governance.audit.entries()
             if e.action == "signature" and e.subject == model.version}  # fmt: skip
    for stored in governance.registry.signatures(model.version):
        signature = Signature.from_dict(stored)
        print(f"  {signature.manifestation(times.get(signature.signature_id))}")
    verdict = governance.verify(model.version)
    print("verification: " + ("every control verified" if verdict.ok else "FAILED"))
    for failure in verdict.failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return EXIT_OK if verdict.ok else EXIT_FAILED


def _event_log_anchors() -> list[tuple[int, str]]:
    """Audit heads kept in the Dagster event log of DAGSTER_HOME's instance, when there is one."""
    if not os.environ.get("DAGSTER_HOME") or not (Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml").exists():
        return []
    from dagster import DagsterInstance

    from gxp_assets.defs.audit_anchor import event_log_anchors

    with DagsterInstance.get() as instance:
        return event_log_anchors(instance)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """The chain, against the anchors in model records and signatures, the signed checkpoints and the Dagster event
    log."""
    trail = audit_trail()
    known, logged = open_governance().audit_anchors(), _event_log_anchors()
    problems = trail.verify([*known, *logged])
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    count = len(trail.entries()) if not problems else "?"
    checkpoints = trail.checkpoints.all() if getattr(trail, "checkpoints", None) else []
    key = trail.checkpoints.fingerprint() if checkpoints else "none"
    print(f"audit trail: {count} entries, {len(known)} record/signature anchors, {len(checkpoints)} signed checkpoints "
          f"(system key {key}), {len(logged)} Dagster event log heads checked: "
          f"{'intact' if not problems else 'NOT intact'}")  # fmt: skip
    return EXIT_FAILED if problems else EXIT_OK


def cmd_audit_export(args: argparse.Namespace) -> int:
    trail = audit_trail()
    entries = trail.entries()
    text = (
        export_csv(entries)
        if args.format == "csv"
        else export_html(entries, trail.verify(open_governance().audit_anchors()))
    )
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {len(entries)} audit entries to {args.out}")
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction) -> None:
    keys = commands.add_parser("keys", help="electronic-signature keys")
    key_actions = keys.add_subparsers(dest="action", required=True)
    create = key_actions.add_parser("create", help="create your Ed25519 key pair, encrypted by a passphrase")
    create.add_argument("--user", required=True, help="your user id in roles.yaml")
    create.add_argument("--out", help="where to write the private key (default GXP_HOME/keys/USER.pem)")
    create.add_argument("--passphrase-env", help="read the passphrase from this environment variable")
    create.set_defaults(handler=cmd_keys_create)

    def signer(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("version", help="model version, as `gxp registry list` shows it")
        parser.add_argument("--user", required=True, help="your user id in roles.yaml")
        parser.add_argument("--reason", required=True, help="why you sign; part of what you attest")
        parser.add_argument("--key", help="your private key (default GXP_HOME/keys/USER.pem)")
        parser.add_argument("--passphrase-env", help="read the passphrase from this environment variable")
        parser.add_argument("--save-signature", help="also write the signature as JSON to this file")

    approve = commands.add_parser("approve", help="sign a model version (approval, review or responsibility)")
    signer(approve)
    approve.add_argument("--meaning", default="approval", choices=["approval", "review", "responsibility"])
    approve.add_argument("--signature", help="submit this signature JSON instead of signing anew")
    approve.set_defaults(handler=cmd_approve)
    reject = commands.add_parser("reject", help="sign the rejection of a model version")
    signer(reject)
    reject.set_defaults(handler=cmd_reject)
    rollback = commands.add_parser("rollback", help="signed return to an earlier, RETIRED model version")
    signer(rollback)
    rollback.set_defaults(handler=cmd_rollback)

    registry = commands.add_parser("registry", help="model versions and their history")
    registry_actions = registry.add_subparsers(dest="action", required=True)
    registry_actions.add_parser("list", help="every version with its state").set_defaults(handler=cmd_registry_list)
    show = registry_actions.add_parser("show", help="a version's record, history and signatures")
    show.add_argument("version")
    show.set_defaults(handler=cmd_registry_show)

    audit = commands.add_parser("audit", help="the hash-chained audit trail")
    audit_actions = audit.add_subparsers(dest="action", required=True)
    audit_actions.add_parser(
        "verify", help="find any edit, deletion, insertion, reordering or truncation"
    ).set_defaults(handler=cmd_audit_verify)
    export = audit_actions.add_parser("export", help="a human-readable copy")
    export.add_argument("--format", choices=["csv", "html"], default="html")
    export.add_argument("--out", required=True)
    export.set_defaults(handler=cmd_audit_export)
    add_roles_commands(commands)
    add_reproduce_command(commands)
    add_trace_command(commands)
    add_report_command(commands)


def cmd_trace(args: argparse.Namespace) -> int:
    """Where a report went: quarantine, the split it served in for each model version, and who scored it."""
    from gxp_assets.stores import artifact_store, codecs

    governance, store = open_governance(), artifact_store()
    found = False
    quarantine = store.latest("quarantined_reports")
    if quarantine is not None:
        held = codecs.decode(store.read(quarantine), quarantine.suffix)
        for row in held[held["report_id"] == args.report_id].to_dict("records"):
            found = True
            print(f"{args.report_id}: quarantined ({row['reason']}: {row['detail']}) from {row['source_file']}:"
                  f"{row['source_line']}, quarantine version {quarantine.sha256[:12]}")  # fmt: skip
    for model in governance.registry.versions():
        lineage = model.record.get("lineage", {})
        splits_version = lineage.get("assets", {}).get("dataset_splits", {}).get("data_version")
        if splits_version is None:  # a record without data lineage cannot have served any report
            continue
        ref = store.find("dataset_splits", splits_version)
        splits = codecs.decode(store.read(ref), ref.suffix)
        rows = splits[splits["report_id"] == args.report_id]
        if rows.empty:
            continue
        found = True
        print(f"{args.report_id}: {rows['split'].iloc[0]} split of model {model.version} ({model.state})")
        print(f"  data versions: validated_reports {lineage['assets']['validated_reports']['data_version'][:12]}, "
              f"dataset_splits {splits_version[:12]}; code commit {lineage['code']['commit']}; "
              f"plan {model.record['plan']['version']} ({model.record['plan']['sha256'][:12]}); "
              f"trained by {lineage['trained_by']}")  # fmt: skip
        for stored in governance.registry.signatures(model.version):
            print(f"  {Signature.from_dict(stored).manifestation()}")
    try:
        found = print_scorings(args.report_id) or found
    except ResultsIntegrityError as error:
        return _fail(str(error))
    if not found:
        return _fail(f"report {args.report_id} is in no quarantine, no registered model's data and no scored batch")
    return EXIT_OK


def print_scorings(report_id: str) -> bool:
    """Each time the report was scored: batch, model and plan version, run, triage, and its adjudication; only from
    a results index that matches the audit trail (ResultsIntegrityError otherwise)."""
    from gxp_assets.stores import verified_results

    scorings = verified_results().find_report(report_id)
    for row in scorings.itertuples():
        print(f"{report_id}: scored in batch {row.batch} by model {row.model_version} (plan {row.plan_version}) "
              f"in run {row.run_id[:8]} at {row.scored_at:%Y-%m-%d %H:%M:%S} UTC: {row.triage}, set "
              f"{row.prediction_set}, p(AE) {row.p_ae:.3f}; input SHA-256 {row.input_sha256[:12]} "
              f"({row.source_file}:{row.source_line}){resubmission_note(row.resubmitted)}")  # fmt: skip
        if isinstance(row.triage_reason, str) and row.triage_reason:
            print(f"  why: {row.triage_reason}")
        words = json.loads(row.explanation) if isinstance(row.explanation, str) and row.explanation else []
        if words:
            print("  words that moved the score: " + ", ".join(
                f"{entry['feature']} ({entry['contribution']:+.3f})" for entry in words))  # fmt: skip
    return not scorings.empty


def add_trace_command(commands: argparse._SubParsersAction) -> None:
    trace = commands.add_parser("trace", help="which model versions a report served, with approvals and lineage")
    trace.add_argument("report_id")
    trace.set_defaults(handler=cmd_trace)
