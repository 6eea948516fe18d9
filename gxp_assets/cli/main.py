"""The ``gxp`` command for people: the parser, built from the leaf modules' subcommands, and the one error handler.

Exit codes (DESIGN.md): 0 on success, 1 when a verification fails or an action is refused (one line on stderr, never
a traceback), 2 on a usage error. Imports point one way: main -> leaf modules -> common, signing, runs, views.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from gxp_assets.cli import (
    artifacts,
    audit,
    aws,
    demo,
    governance,
    inference,
    records,
    report,
    roles,
    serve,
    suspension,
    trace,
)
from gxp_assets.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError
from gxp_assets.governance.service import ActionRefused
from gxp_assets.governance.signatures import SignatureRefused
from gxp_assets.stores.protocols import ArtifactNotFound, IntegrityError
from gxp_assets.stores.results_integrity import ResultsIntegrityError

LEAVES = (artifacts, governance, roles, audit, records, report, trace, inference, suspension, demo, aws, serve)
#: Set to 1 to see the traceback of an unexpected error (for developers; people get one line).
DEBUG_ENV = "GXP_DEBUG"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gxp", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for leaf in LEAVES:
        leaf.add_commands(commands)
    return parser


def _reason(error: BaseException) -> str:
    """One line a person can act on."""
    if isinstance(error, aws.AWS_ERRORS):  # GXP_ENV=aws: a missing stack, wrong region or missing permission
        message = aws.aws_problem(error)
    elif isinstance(error, SignatureRefused | ActionRefused):
        message = f"refused ({error.code}): {error}"
    elif isinstance(error, FileNotFoundError) and error.filename:
        message = f"no such file or folder: {error.filename}"
    elif isinstance(error, PermissionError) and error.filename:
        message = f"permission denied: {error.filename}"
    elif isinstance(error, CliError | ResultsIntegrityError | IntegrityError | ArtifactNotFound | LookupError
                    | ValueError | OSError):  # fmt: skip
        message = str(error)
    else:
        message = f"unexpected error ({type(error).__name__}): {error} (set {DEBUG_ENV}=1 for the traceback)"
    return " ".join(message.split()) or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) and EXIT_USAGE
    try:
        code = int(args.handler(args))
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # the reader went away (`gxp queue | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("gxp: interrupted", file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:  # the one place errors become exit codes
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        print(f"gxp: {_reason(error)}", file=sys.stderr)
        return EXIT_FAILED


__all__ = ["EXIT_OK", "build_parser", "main"]
