"""`gxp roles`: the role administrator approves the roles file in force; `gxp roles status` says whether it is.

A roles file counts only once the key whose fingerprint the change control plan pins has signed it
(governance/roles_control.py); editing ``roles.yaml`` alone changes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from gxp_assets.governance.roles import load_roles
from gxp_assets.governance.roles_control import approve_roles
from gxp_assets.governance.service import ActionRefused
from gxp_assets.governance.signatures import SignatureRefused, key_fingerprint, load_private_key
from gxp_assets.stores import open_governance

EXIT_OK, EXIT_FAILED = 0, 1


def _fail(message: str) -> int:
    print(f"gxp: {message}", file=sys.stderr)
    return EXIT_FAILED


def approve_roles_in_force(
    key_pem: bytes, passphrase: str, administrator: str, reason: str, roles_path: Path | None = None
) -> str:
    """Sign the roles file in force (or ``roles_path``) with the role administrator's key and record it; returns
    its hash."""
    governance = open_governance()
    roles = load_roles(roles_path) if roles_path else governance.roles
    key = load_private_key(key_pem, passphrase)
    approval = approve_roles(roles, key, administrator, reason)
    governance.approve_roles(approval)
    return approval.roles_sha256


def cmd_roles_approve(args: argparse.Namespace) -> int:
    passphrase = os.environ.get(args.passphrase_env) if args.passphrase_env else None
    if args.passphrase_env and passphrase is None:
        return _fail(f"environment variable {args.passphrase_env} is not set")
    if passphrase is None:
        import getpass

        passphrase = getpass.getpass("passphrase: ")
    try:
        digest = approve_roles_in_force(Path(args.key).read_bytes(), passphrase, args.user, args.reason)
    except (SignatureRefused, ActionRefused) as refusal:
        return _fail(f"refused: {refusal}")
    except OSError as error:
        return _fail(str(error))
    print(f"roles file {digest} approved by {args.user}: it is in force")
    return EXIT_OK


def cmd_roles_status(args: argparse.Namespace) -> int:
    governance = open_governance()
    digest, pinned = governance.roles.digest(), governance.plan.plan.signatures.role_administrator_fingerprint
    print(f"roles file in force: {digest}; role administrator pinned by the plan: {pinned or 'none'}")
    if digest not in governance.approved_roles():
        return _fail("the roles file in force is NOT approved: no new signature counts until the role administrator "
                     "approves it (`gxp roles approve`)")  # fmt: skip
    print("approved: signatures made under it count")
    return EXIT_OK


def pin_role_administrator(plan_path: Path, fingerprint: str, out: Path) -> Path:
    """A copy of a plan with the role administrator's fingerprint pinned (for demo and test plans)."""
    plan = yaml.safe_load(Path(plan_path).read_text())
    plan.setdefault("signatures", {})["role_administrator_fingerprint"] = fingerprint
    out.write_text(yaml.safe_dump(plan, sort_keys=False))
    return out


def public_fingerprint(key_pem: bytes, passphrase: str) -> str:
    return key_fingerprint(load_private_key(key_pem, passphrase).public_key())


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
