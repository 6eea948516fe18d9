"""`gxp audit`: verify the hash-chained audit trail against its anchors, and export a human-readable copy."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gxp_assets.cli.common import EXIT_FAILED, EXIT_OK, write_output
from gxp_assets.cli.signing import registered
from gxp_assets.governance.audit_export import entries_for_version, export_csv, export_html
from gxp_assets.stores import audit_trail, open_governance


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
    """A copy for people: printed names, readable details, optionally one model version's entries; audited."""
    from gxp_assets.core.hashing import sha256_hex
    from gxp_assets.defs.provenance import current_user

    trail, governance = audit_trail(), open_governance()
    entries = trail.entries()
    if args.version:
        registered(governance, args.version)
        entries = entries_for_version(entries, args.version)
    names = {user.user_id: user.printed_name for user in governance.roles.users}
    scope = f"entries about model version {args.version}" if args.version else "every entry"
    if args.format == "csv":
        text = export_csv(entries, names)
    else:
        text = export_html(entries, trail.verify(governance.audit_anchors()), names=names, scope=scope)
    out = write_output(args.out, text)
    trail.append(args.user or current_user(), "audit_export", args.version or "audit",
                 {"format": args.format, "file": str(out), "entries": len(entries), "scope": scope,
                  "sha256": sha256_hex(text.encode("utf-8"))})  # fmt: skip
    print(f"wrote {len(entries)} audit entries ({scope}) to {out}")
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction) -> None:
    audit = commands.add_parser("audit", help="the hash-chained audit trail")
    audit_actions = audit.add_subparsers(dest="action", required=True)
    audit_actions.add_parser(
        "verify", help="find any edit, deletion, insertion, reordering or truncation"
    ).set_defaults(handler=cmd_audit_verify)
    export = audit_actions.add_parser("export", help="a human-readable copy")
    export.add_argument("--format", choices=["csv", "html"], default="html",
                        help="%(choices)s (default %(default)s)")  # fmt: skip
    export.add_argument("--out", required=True, help="file to write")
    export.add_argument("--version", help="only the entries about this model version (its own and those naming it)")
    export.add_argument("--user", help="who exports, for the audit trail (default: GXP_USER or your login)")
    export.set_defaults(handler=cmd_audit_export)
