"""`gxp score`, `gxp queue`, `gxp monitor` and `gxp results`: acting on batches now instead of waiting for a sensor.

Each command runs the job its sensor would request (so the run audits it the same way), or reads the results index
only after it has been verified against the audit trail.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gxp_assets.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    add_use_case_option,
    now_utc,
    number,
    write_output,
)
from gxp_assets.cli.runs import materializations, print_batch, require_success, run_job, score_landed_file
from gxp_assets.cli.views import print_queue


def cmd_score(args: argparse.Namespace) -> int:
    from gxp_assets.stores import landing_zone
    from gxp_assets.stores.landing import REPORTS

    path = Path(args.file).resolve()
    folder = landing_zone(args.use_case).folder(REPORTS)
    if path.parent != folder:
        raise CliError(f"{path} is not in the landing zone {folder}: copy it there first, so it is kept as received")
    if not path.is_file():
        raise CliError(f"no file {path.name} in the landing zone {folder}")
    result = score_landed_file(args.use_case, path)
    print_batch(result)
    if not result.success:
        raise CliError("the scoring run failed; its error is in the log above")
    return EXIT_OK


def cmd_queue(args: argparse.Namespace) -> int:
    """The PRIORITY queue: reports awaiting adjudication, the earliest regulatory due date first; only from an index
    that matches the audit trail (exit 1 otherwise)."""
    from gxp_assets.stores import verified_results
    from gxp_assets.stores.results_protocol import QueueFilter

    queue = verified_results().priority_queue(now_utc(), where=QueueFilter(use_case=args.use_case))
    print_queue(queue, None if args.all else args.limit)
    return EXIT_OK


def cmd_monitor(args: argparse.Namespace) -> int:
    """Run `monitor_performance` now (adjudications in the landing zone, realized performance against the plan)."""
    from gxp_assets.stores import landing_zone
    from gxp_assets.stores.landing import ADJUDICATIONS

    for name, why in landing_zone(args.use_case).scan(ADJUDICATIONS)[1].items():
        print(f"not taken yet: {name}: {why}")
    result = run_job(args.use_case, "monitor_performance", log_level="WARNING")
    found = materializations(result)
    require_success(result, "monitoring")
    realized, taken = found.get("realized_performance", {}), found.get("adjudications", {})
    if taken:
        print(f"adjudications: {taken.get('accepted', 0):,} accepted ({taken.get('new', 0):,} new), "
              f"{taken.get('quarantined', 0):,} quarantined")  # fmt: skip
    if realized:
        print(f"realized performance over the plan's window: {realized.get('adjudicated_in_window', 0):,} "
              f"adjudicated, AE recall {number(realized.get('realized_ae_recall'))}, PRIORITY precision "
              f"{number(realized.get('realized_priority_precision'))}; "
              f"alarms: {realized.get('alarms', 'none')}")  # fmt: skip
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


def cmd_results_export(args: argparse.Namespace) -> int:
    """A batch's scored rows and its quarantine, from a verified index, as two files; the export is audited."""
    from gxp_assets.core.hashing import sha256_hex
    from gxp_assets.defs.provenance import current_user
    from gxp_assets.stores import audit_trail, verified_results

    results = verified_results()
    summary = results.batch_summary(args.batch)
    if summary is None:
        raise CliError(f"no scored batch {args.batch} (`gxp results verify` counts them; batch names are in "
                       "`gxp trace` and the UI's batches partitions)")  # fmt: skip
    folder = Path(args.out)
    if not folder.is_dir():
        raise CliError(f"cannot write into {folder}: it is not a folder")
    stem = args.batch.replace("/", "_")
    written = {}
    for part, frame in (("predictions", results.predictions(batch=args.batch)),
                        ("quarantine", results.quarantined(args.batch))):  # fmt: skip
        path = folder / f"{stem}-{part}.{args.format}"
        if args.format == "csv":
            payload = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
        else:
            payload = frame.to_parquet(index=False)
        write_output(path, payload)
        written[part] = {"file": str(path), "rows": len(frame), "sha256": sha256_hex(payload)}
        print(f"wrote {len(frame):,} {part} rows of batch {args.batch} to {path} (SHA-256 {written[part]['sha256']})")
    audit_trail().append(args.user or current_user(), "results_export", f"batch/{args.batch}",
                         {"format": args.format, "files": written, "run_id": summary.run_id})  # fmt: skip
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction) -> None:
    score = commands.add_parser("score", help="score a batch file in the landing zone now (no sensor needed)")
    score.add_argument("file", help="a batch file already in the use case's landing zone reports folder")
    add_use_case_option(score)
    score.set_defaults(handler=cmd_score)
    queue = commands.add_parser("queue", help="PRIORITY reports awaiting adjudication, earliest due first")
    queue.add_argument("--limit", type=int, default=50, help="show at most this many (default %(default)s)")
    queue.add_argument("--all", action="store_true", help="show every report in the queue")
    add_use_case_option(queue)
    queue.set_defaults(handler=cmd_queue)
    monitor = commands.add_parser("monitor", help="measure realized performance now (the monitor_performance job)")
    add_use_case_option(monitor)
    monitor.set_defaults(handler=cmd_monitor)
    results = commands.add_parser("results", help="the results index: verify, rebuild, or export a batch")
    results_actions = results.add_subparsers(dest="action", required=True)
    results_actions.add_parser("verify", help="exit 1 unless every batch's files and rows match the audit trail"
                               ).set_defaults(handler=cmd_results_verify)  # fmt: skip
    rebuild = results_actions.add_parser("rebuild", help="restore the index from the verified Parquet files")
    rebuild.add_argument("--user", help="who rebuilds (for the audit trail)")
    rebuild.set_defaults(handler=cmd_results_rebuild)
    export = results_actions.add_parser("export", help="a batch's scored rows and quarantine, verified, as files")
    export.add_argument("batch", help="the batch (partition key), as `gxp trace` and the UI show it")
    export.add_argument("--format", choices=["csv", "parquet"], default="csv",
                        help="file format: %(choices)s (default %(default)s)")  # fmt: skip
    export.add_argument("--out", default=".", help="folder to write BATCH-predictions and BATCH-quarantine into")
    export.add_argument("--user", help="who exports, for the audit trail (default: GXP_USER or your login)")
    export.set_defaults(handler=cmd_results_export)
