"""The model-lifecycle commands of ``gxp``: keys, signed approvals and rejections, promotion, rollback, registry."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gxp_assets.cli.common import EXIT_FAILED, EXIT_OK, CliError, number, passphrase, table, utc_time
from gxp_assets.cli.runs import promote
from gxp_assets.cli.signing import add_signer_arguments, default_key_path, registered, signed_action
from gxp_assets.cli.views import print_approvals
from gxp_assets.governance.registry import State
from gxp_assets.governance.signatures import Meaning, create_key_pair
from gxp_assets.stores import open_governance

SIGNING_MEANINGS = [Meaning.APPROVAL.value, Meaning.REVIEW.value, Meaning.RESPONSIBILITY.value]


def cmd_keys_create(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else default_key_path(args.user)
    if out.exists():
        raise CliError(f"{out} exists; a key is never overwritten (move it away first)")
    private_pem, public_line = create_key_pair(passphrase(args, confirm=True))
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


def cmd_approve(args: argparse.Namespace) -> int:
    signed_action(args, Meaning(args.meaning))
    return EXIT_OK


def cmd_reject(args: argparse.Namespace) -> int:
    signed_action(args, Meaning.REJECTION)
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    signed_action(args, Meaning.APPROVAL, rollback=True)
    return EXIT_OK


def cmd_promote(args: argparse.Namespace) -> int:
    """Make an APPROVED version ACTIVE now, through the `promote_model` job the approved_models sensor requests."""
    if args.user:
        os.environ["GXP_USER"] = args.user
    governance = open_governance()
    model = registered(governance, args.version)
    if model.state != State.APPROVED:
        missing = governance.approval_status(args.version).missing
        raise CliError(f"model {args.version} is {model.state}; only an APPROVED version can be promoted"
                       + (f" (still needed: {', '.join(missing)})" if missing else ""))  # fmt: skip
    if not promote(args.version):
        raise CliError("the promotion run failed; its error is in the log above and in the UI")
    print(f"model {args.version} is now {open_governance().registry.get(args.version).state}")
    return EXIT_OK


def cmd_registry_list(args: argparse.Namespace) -> int:
    versions = open_governance().registry.versions()
    if not versions:
        print("no model version is registered yet (`gxp run` trains and registers one)")
        return EXIT_OK
    rows = [(model.version, str(model.state), utc_time(model.registered_at),
             number(model.record.get("metrics", {}).get("auroc")),
             number(model.record.get("metrics", {}).get("ae_recall"))) for model in versions]  # fmt: skip
    print(table(["version", "state", "registered (UTC)", "AUROC", "AE recall"], rows, right=[3, 4]))
    return EXIT_OK


def cmd_registry_show(args: argparse.Namespace) -> int:
    """A version's record, history and signatures, then the verdict of the point-of-use verification (exit 1 if any
    control fails)."""
    governance = open_governance()
    model = registered(governance, args.version)
    record = model.record
    print(f"model {model.version}: {model.state} (record hash {model.record_hash})")
    plan, lineage = record.get("plan", {}), record.get("lineage", {})
    print(f"plan {plan.get('plan_id')} {plan.get('version')} sha256 {plan.get('sha256')}")
    print(f"trained by {lineage.get('trained_by')} at commit {(lineage.get('code') or {}).get('commit')}")
    if "guarantee" in record:
        print(f"guarantee: {record['guarantee']['statement']}")
    criteria = [("pass" if r["passed"] else "FAIL", r["name"], number(r["measured"], ".4g"), number(r["limit"], ".4g"))
                for r in record.get("acceptance", [])]  # fmt: skip
    if criteria:
        print("acceptance criteria:")
        print("\n".join("  " + line for line in table(["verdict", "criterion", "measured", "limit"], criteria,
                                                      right=[2, 3]).splitlines()))  # fmt: skip
    print("history:")
    rows = [(utc_time(t.at), t.from_state or "-", t.to_state, t.actor, t.reason)
            for t in governance.registry.history(model.version)]  # fmt: skip
    print("\n".join("  " + line for line in table(["time (UTC)", "from", "to", "by", "reason"], rows).splitlines()))
    print("signatures (time recorded by the system):")
    print_approvals(governance, model.version)
    verdict = governance.verify(model.version)
    print("verification: " + ("every control verified" if verdict.ok else "FAILED"))
    for failure in verdict.failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return EXIT_OK if verdict.ok else EXIT_FAILED


def add_commands(commands: argparse._SubParsersAction) -> None:
    keys = commands.add_parser("keys", help="electronic-signature keys")
    key_actions = keys.add_subparsers(dest="action", required=True)
    create = key_actions.add_parser("create", help="create your Ed25519 key pair, encrypted by a passphrase")
    create.add_argument("--user", required=True, help="your user id in roles.yaml")
    create.add_argument("--out", help="where to write the private key (default GXP_HOME/keys/USER.pem)")
    create.add_argument("--passphrase-env", help="read the passphrase from this environment variable")
    create.set_defaults(handler=cmd_keys_create)

    def version_argument(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("version", help="model version, as `gxp registry list` shows it")

    approve = commands.add_parser("approve", help="sign a model version (approval, review or responsibility)")
    version_argument(approve)
    add_signer_arguments(approve)
    approve.add_argument("--meaning", default="approval", choices=SIGNING_MEANINGS,
                         help="what your signature means: %(choices)s (default %(default)s)")  # fmt: skip
    approve.add_argument("--signature", help="submit this signature JSON instead of signing anew")
    approve.set_defaults(handler=cmd_approve)
    reject = commands.add_parser("reject", help="sign the rejection of a model version")
    version_argument(reject)
    add_signer_arguments(reject)
    reject.set_defaults(handler=cmd_reject)
    rollback = commands.add_parser("rollback", help="signed return to an earlier, RETIRED model version")
    version_argument(rollback)
    add_signer_arguments(rollback)
    rollback.set_defaults(handler=cmd_rollback)
    promote_ = commands.add_parser("promote", help="make an APPROVED model version ACTIVE now (the promote_model "
                                   "job, as the approved_models sensor runs it)")  # fmt: skip
    version_argument(promote_)
    promote_.add_argument("--user", help="who promotes, for the audit trail (default: GXP_USER or your login)")
    promote_.set_defaults(handler=cmd_promote)

    registry = commands.add_parser("registry", help="model versions and their history")
    registry_actions = registry.add_subparsers(dest="action", required=True)
    registry_actions.add_parser("list", help="every version with its state").set_defaults(handler=cmd_registry_list)
    show = registry_actions.add_parser("show", help="a version's record, history and signatures")
    version_argument(show)
    show.set_defaults(handler=cmd_registry_show)
