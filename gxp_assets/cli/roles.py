"""`gxp roles`: the role administrator approves the roles file in force; `gxp roles status` says whether it is.

A roles file counts only once the key whose fingerprint the change control plan pins has signed it
(governance/roles_control.py); editing ``roles.yaml`` alone changes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gxp_assets.cli.common import EXIT_OK, CliError, passphrase
from gxp_assets.cli.signing import approve_roles_in_force
from gxp_assets.stores import open_governance


def cmd_roles_approve(args: argparse.Namespace) -> int:
    key = Path(args.key)
    if not key.is_file():
        raise CliError(f"no private key at {key}")
    digest = approve_roles_in_force(key.read_bytes(), passphrase(args), args.user, args.reason)
    print(f"roles file {digest} approved by {args.user}: it is in force")
    return EXIT_OK


def cmd_roles_status(args: argparse.Namespace) -> int:
    governance = open_governance()
    digest, pinned = governance.roles.digest(), governance.plan.plan.signatures.role_administrator_fingerprint
    print(f"roles file in force: {digest}; role administrator pinned by the plan: {pinned or 'none'}")
    if digest not in governance.approved_roles():
        raise CliError("the roles file in force is NOT approved: no new signature counts until the role "
                       "administrator approves it (`gxp roles approve`)")  # fmt: skip
    print("approved: signatures made under it count")
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction) -> None:
    roles = commands.add_parser("roles", help="the controlled roles file: approve it, or see whether it is approved")
    actions = roles.add_subparsers(dest="action", required=True)
    approve = actions.add_parser("approve", help="sign the roles file in force with the role administrator's key")
    approve.add_argument("--user", required=True, help="the role administrator's user id (for the audit trail)")
    approve.add_argument("--key", required=True, help="the role administrator's private key (PEM, encrypted)")
    approve.add_argument("--reason", required=True, help="why this roles file is approved")
    approve.add_argument("--passphrase-env", help="read the passphrase from this environment variable")
    approve.set_defaults(handler=cmd_roles_approve)
    actions.add_parser("status", help="is the roles file in force approved? (exit 1 if not)").set_defaults(
        handler=cmd_roles_status
    )
