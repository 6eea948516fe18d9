"""`gxp suspension`: see whether auto-close is suspended for a model, and lift a suspension with a signature.

A lift is a signed decision by a person with the plan's ``fail_safe.lift_role``: the signature covers the model, the
suspension entry of the audit trail and its reason, so it cannot be reused for another suspension.
"""

from __future__ import annotations

import argparse

from gxp_assets.cli.common import EXIT_OK, CliError, utc_time
from gxp_assets.cli.signing import add_signer_arguments, read_signature, sign_as_user
from gxp_assets.governance.signatures import Meaning
from gxp_assets.governance.suspension import lift_decision_hash, lift_suspension, standing_suspension
from gxp_assets.stores import audit_trail, open_governance


def _version(args: argparse.Namespace) -> str:
    if args.version:
        return args.version
    governance = open_governance()
    active = governance.registry.active(governance.plan.plan.use_case)
    if active is None:
        raise CliError("no ACTIVE model: name a version")
    return active.version


def cmd_show(args: argparse.Namespace) -> int:
    version = _version(args)
    suspension = standing_suspension(audit_trail().entries(), version)
    if suspension is None:
        print(f"auto-close is in force for model {version}: no suspension stands")
        return EXIT_OK
    print(f"auto-close is SUSPENDED for model {version} since {utc_time(suspension.at)} (audit entry "
          f"{suspension.seq}, batch {suspension.batch}): {suspension.reason}")  # fmt: skip
    role = open_governance().plan.plan.fail_safe.lift_role
    print(f"a {role} lifts it with: gxp suspension lift {version} --user ID --reason TEXT")
    return EXIT_OK


def cmd_lift(args: argparse.Namespace) -> int:
    governance = open_governance()
    entries = audit_trail().entries()
    version = _version(args)
    if args.signature:
        signature = read_signature(args.signature)
    else:
        suspension = standing_suspension(entries, version)
        if suspension is None:
            raise CliError(f"auto-close is not suspended for model {version}: there is nothing to lift")
        signature = sign_as_user(args, governance, version, lift_decision_hash(suspension), Meaning.APPROVAL)
    entry = lift_suspension(governance, entries, version, signature)
    print(signature.manifestation())
    print(f"the suspension of auto-close for model {version} is lifted (audit entry {entry.seq})")
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction) -> None:
    suspension = commands.add_parser("suspension", help="the fail-safe's suspension of auto-close, per model")
    actions = suspension.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="whether auto-close is suspended for a model (default: the ACTIVE one)")
    show.add_argument("version", nargs="?", default=None, help="model version (default: the ACTIVE one)")
    show.set_defaults(handler=cmd_show)
    lift = actions.add_parser("lift", help="lift a suspension with your electronic signature (the plan's lift role)")
    lift.add_argument("version", nargs="?", default=None, help="model version (default: the ACTIVE one)")
    add_signer_arguments(lift, "lift (why auto-closing may resume)")
    lift.add_argument("--signature", help="submit a signature JSON made earlier instead of signing now")
    lift.set_defaults(handler=cmd_lift)
