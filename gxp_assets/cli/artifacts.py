"""`gxp run`, `gxp demo-data` and `gxp artifacts`: run the pipeline, make demo data, inspect and verify artifacts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gxp_assets.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    add_use_case_option,
    asset_key_path,
    table,
    utc_time,
    write_output,
)
from gxp_assets.cli.runs import train
from gxp_assets.stores import artifact_store
from gxp_assets.stores.protocols import ArtifactNotFound, IntegrityError


def cmd_run(args: argparse.Namespace) -> int:
    """Run the main job in the instance at DAGSTER_HOME, so its history shows in `dagster dev` afterwards."""
    train(args.use_case, args.config, args.log_level)
    return EXIT_OK


def cmd_demo_data(args: argparse.Namespace) -> int:
    from gxp_assets.core.demo_data import write_demo_reports

    if not Path(args.out).parent.is_dir():
        raise CliError(f"cannot write {args.out}: folder {Path(args.out).parent} does not exist")
    path = write_demo_reports(Path(args.out), n_documents=args.documents, seed=args.seed)
    print(f"wrote synthetic demo reports to {path}")
    return EXIT_OK


def _versions(args: argparse.Namespace) -> list:
    """Stored versions of the asset asked for (a bare name under --use-case), else of every asset (of the use case
    when one is named)."""
    asset = asset_key_path(args.asset, args.use_case)
    refs = artifact_store(args.home).versions(asset)
    if asset and not refs:
        raise CliError(f"no stored version of asset '{asset}' (`gxp artifacts list` shows every asset)")
    if asset is None and args.use_case:
        refs = [ref for ref in refs if ref.asset.startswith(f"{args.use_case}/")]
    return refs


def cmd_artifacts_list(args: argparse.Namespace) -> int:
    refs = _versions(args)
    if not refs:
        print("no artifacts are stored yet")
        return EXIT_OK
    rows = [(utc_time(ref.created_at), ref.asset, ref.partition or "-", ref.sha256, f"{ref.size:,}", ref.run_id[:8])
            for ref in refs]  # fmt: skip
    print(table(["created (UTC)", "asset", "partition", "SHA-256", "bytes", "run"], rows, right=[4]))
    return EXIT_OK


def cmd_artifacts_verify(args: argparse.Namespace) -> int:
    """Re-hash every recorded artifact; any altered or missing file fails the verification."""
    store = artifact_store(args.home)
    refs = _versions(args)
    problems = []
    for ref in refs:
        try:
            store.read(ref)
        except (IntegrityError, ArtifactNotFound) as error:
            problems.append(str(error))
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    print(f"{len(refs) - len(problems)} of {len(refs)} recorded artifacts verified")
    return EXIT_FAILED if problems else EXIT_OK


def cmd_artifacts_export(args: argparse.Namespace) -> int:
    """Write one stored version, verified, to a file a person can open (Parquet, .npz or JSON)."""
    store, asset = artifact_store(args.home), asset_key_path(args.asset, args.use_case)
    assert asset is not None  # a required argument
    ref = store.find(asset, args.version) if args.version else store.latest(asset)
    if ref is None:
        raise CliError(f"asset '{asset}' has no stored version{f' {args.version}' if args.version else ''}")
    payload = store.read(ref)
    out = write_output(args.out or f"{asset.replace('/', '_')}-{ref.sha256[:12]}{ref.suffix}", payload)
    print(f"wrote {ref.asset} version {ref.sha256} to {out}")
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="run the main job (the whole asset graph) in the DAGSTER_HOME instance")
    run.add_argument("--config", help="YAML run config, e.g. to read your own data (see README)")
    add_use_case_option(run)
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                     help="how much of the run's log to print: %(choices)s (default %(default)s)")  # fmt: skip
    run.set_defaults(handler=cmd_run)

    demo = commands.add_parser("demo-data", help="write the synthetic demo corpus as CSV in the report contract")
    demo.add_argument("--out", required=True, help="CSV file to write")
    demo.add_argument("--documents", type=int, default=6000, help="how many documents (default %(default)s)")
    demo.add_argument("--seed", type=int, default=7, help="random seed; the same seed gives the same corpus")
    demo.set_defaults(handler=cmd_demo_data)

    artifacts = commands.add_parser("artifacts", help="list, verify or export stored artifacts")
    artifacts.add_argument("--home", default=None, help="GXP_HOME to use (default: the environment's)")
    actions = artifacts.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every stored version, oldest first")
    listing.add_argument("asset", nargs="?", default=None, help="only this asset (default: every asset)")
    add_use_case_option(listing, default=None)
    listing.set_defaults(handler=cmd_artifacts_list)
    verify = actions.add_parser("verify", help="re-hash every stored version; exit 1 on any mismatch")
    verify.add_argument("asset", nargs="?", default=None, help="only this asset (default: every asset)")
    add_use_case_option(verify, default=None)
    verify.set_defaults(handler=cmd_artifacts_verify)
    export = actions.add_parser("export", help="copy one version (latest by default) out, verified")
    export.add_argument("asset", help="asset key path as `gxp artifacts list` shows it (ae_triage/ae_classifier), "
                        "or its bare name with --use-case")  # fmt: skip
    add_use_case_option(export, default=None)
    export.add_argument("--version", help="data version (SHA-256, at least 8 leading hex digits)")
    export.add_argument("--out", help="file to write (default: ASSET-SHA.suffix here)")
    export.set_defaults(handler=cmd_artifacts_export)
