"""The one signing path of the CLI: approvals, rejections, rollbacks, suspension lifts and the demo all sign here.

Passphrases are asked for at the terminal; scripts may name an environment variable that holds one
(``--passphrase-env``), never pass it on the command line where it would land in shell history.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from gxp_assets.cli.common import CliError, passphrase
from gxp_assets.governance.registry import ModelVersion, State
from gxp_assets.governance.roles import load_roles
from gxp_assets.governance.roles_control import approve_roles
from gxp_assets.governance.service import Governance
from gxp_assets.governance.signatures import Meaning, Signature, key_fingerprint, load_private_key
from gxp_assets.governance.signing_as import known_signer, sign_as
from gxp_assets.stores import open_governance
from gxp_assets.stores.local import key_folder


def default_key_path(user_id: str) -> Path:
    return key_folder() / f"{user_id}.pem"


def add_signer_arguments(parser: argparse.ArgumentParser, subject: str = "model version") -> None:
    """The arguments of everyone who signs (user, reason, key, passphrase, a copy of the signature)."""
    parser.add_argument("--user", required=True, help="your user id in the roles file")
    parser.add_argument("--reason", required=True, help=f"why you sign this {subject}; part of what you attest")
    parser.add_argument("--key", help="your private key (default: GXP_HOME/keys/USER.pem)")
    parser.add_argument("--passphrase-env", help="read the passphrase from this environment variable (for scripts)")
    parser.add_argument("--save-signature", help="also write the signature as JSON to this file")


def sign_as_user(
    args: argparse.Namespace, governance: Governance, subject: str, record_hash: str, meaning: Meaning
) -> Signature:
    """``args.user`` signs ``record_hash`` with their key and passphrase (refusals audited against ``subject``);
    ``--save-signature`` keeps a copy."""
    known_signer(governance, args.user, subject)
    key_path = Path(args.key) if args.key else default_key_path(args.user)
    if not key_path.is_file():
        raise CliError(f"no private key at {key_path} (create one with `gxp keys create --user {args.user}`)")
    signature = sign_as(governance, args.user, key_path.read_bytes(), passphrase(args), subject, record_hash, meaning,
                        args.reason)  # fmt: skip
    if getattr(args, "save_signature", None):
        Path(args.save_signature).write_text(json.dumps(signature.to_dict(), indent=2))
    return signature


def read_signature(path: str) -> Signature:
    """A signature JSON made earlier (``--signature``)."""
    file = Path(path)
    if not file.is_file():
        raise CliError(f"no signature file {file}")
    return Signature.from_dict(json.loads(file.read_text()))


def registered(governance: Governance, version: str) -> ModelVersion:
    model = governance.registry.get(version)
    if model is None:
        raise CliError(f"no model version {version} in the registry (`gxp registry list` shows them)")
    return model


def signed_action(args: argparse.Namespace, meaning: Meaning, rollback: bool = False) -> ModelVersion:
    """Sign (or submit ``--signature``) over a version's record, then approve/reject it or roll back to it."""
    governance = open_governance()
    if getattr(args, "signature", None):
        signature = read_signature(args.signature)
    else:
        model = registered(governance, args.version)
        signature = sign_as_user(args, governance, args.version, model.record_hash, meaning)
    if rollback:
        model = governance.rollback(args.version, signature)
        from gxp_assets.stores.endpoint_switch import switch_endpoint

        deployment = switch_endpoint(governance, args.version, signature.user_id, f"rollback: {signature.reason}")
        if deployment is not None:
            print(f"endpoint {deployment.endpoint} switched back to {deployment.endpoint_config}")
    else:
        model = governance.submit_signature(args.version, signature)
    from gxp_assets.defs.registry_observation import report_registry_state

    report_registry_state(governance, args.version)  # the UI shows the new state, not the one at registration
    print(signature.manifestation())
    print(f"model {args.version} is now {model.state}")
    if model.state == State.PENDING_APPROVAL:
        print("still needed: " + ", ".join(governance.approval_status(args.version).missing))
    return model


def approve_roles_in_force(
    key_pem: bytes, secret: str, administrator: str, reason: str, roles_path: Path | None = None
) -> str:
    """Sign the roles file in force (or ``roles_path``) with the role administrator's key and record it; returns
    its hash."""
    governance = open_governance()
    roles = load_roles(roles_path) if roles_path else governance.roles
    key = load_private_key(key_pem, secret)
    approval = approve_roles(roles, key, administrator, reason)
    governance.approve_roles(approval)
    return approval.roles_sha256


def pin_role_administrator(plan_path: Path, fingerprint: str, out: Path) -> Path:
    """A copy of a plan with the role administrator's fingerprint pinned (for demo and test plans)."""
    plan = yaml.safe_load(Path(plan_path).read_text())
    plan.setdefault("signatures", {})["role_administrator_fingerprint"] = fingerprint
    out.write_text(yaml.safe_dump(plan, sort_keys=False))
    return out


def public_fingerprint(key_pem: bytes, secret: str) -> str:
    return key_fingerprint(load_private_key(key_pem, secret).public_key())
