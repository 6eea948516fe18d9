"""What every `gxp` command shares: exit codes, the one error type, output files, and how tables and times print.

Leaf modules import this one; it imports none of them. Errors travel as exceptions to the one handler in
``cli/main.py``, which prints one line on stderr and exits 1 (2 for usage errors), never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import math
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: The one way the CLI prints a time (the signature manifestation's format, 21 CFR 11.50).
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"


#: The use case `gxp run`, `score`, `monitor` and `demo` act on unless --use-case names another.
DEFAULT_USE_CASE = "ae_triage"


def add_use_case_option(parser: argparse.ArgumentParser, default: str | None = DEFAULT_USE_CASE) -> None:
    """``--use-case ID``; ``default`` None: every use case unless one is named."""
    parser.add_argument("--use-case", default=default, metavar="ID",
                        help="the declared use case (a folder under use_cases/; default "
                        + ("%(default)s)" if default else "every use case)"))  # fmt: skip


def asset_key_path(asset: str | None, use_case: str | None) -> str | None:
    """The stored key path of ``asset``: a bare name (``labelled_reports``) is taken under ``use_case``
    (``ae_triage/labelled_reports``); a full key path is kept, and refused when it names another use case."""
    if asset is None or use_case is None:
        return asset
    if "/" not in asset:
        return f"{use_case}/{asset}"
    if asset.split("/", 1)[0] != use_case:
        raise CliError(f"asset {asset!r} is not of use case {use_case!r}: give its bare name, or leave --use-case out")
    return asset


class CliError(Exception):
    """A reason a person can act on; the top-level handler prints it as one line and exits 1."""


def utc_time(value: object) -> str:
    """Any timestamp (datetime, pandas Timestamp, ISO 8601 text) in the CLI's one UTC format; '-' when absent."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in ("", "NaT", "None"):
        return "-"
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def number(value: object, spec: str = ".3f") -> str:
    """A figure for people; 'n/a' when it was not measured (None or NaN), instead of a TypeError."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format(value, spec)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()) -> str:
    """Rows under a header line, columns aligned to their widest cell (the columns in ``right`` flush right)."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        padded = (v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True)))
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), line(["-" * width for width in widths]), *(line(row) for row in cells)])


def showing(shown: int, total: int) -> str:
    """The line under a truncated table, so that nothing is cut silently."""
    return f"showing {shown} of {total} (use --all)" if shown < total else f"showing all {total}"


def write_output(path: str | Path, payload: str | bytes) -> Path:
    """Write a file a person asked for with --out; a missing folder is a reason, not a traceback."""
    out = Path(path)
    if not out.parent.is_dir():
        raise CliError(f"cannot write {out}: folder {out.parent} does not exist")
    if isinstance(payload, bytes):
        out.write_bytes(payload)
    else:
        out.write_text(payload, encoding="utf-8")
    return out


def passphrase(args: argparse.Namespace, confirm: bool = False) -> str:
    """From the environment variable named by --passphrase-env (scripts), else asked at the terminal."""
    if getattr(args, "passphrase_env", None):
        value = os.environ.get(args.passphrase_env)
        if value is None:
            raise CliError(f"environment variable {args.passphrase_env} is not set")
        return value
    first = getpass.getpass("passphrase: ")
    if confirm and getpass.getpass("passphrase again: ") != first:
        raise CliError("the two passphrases differ")
    return first


def now_utc() -> datetime:
    return datetime.now(UTC)
