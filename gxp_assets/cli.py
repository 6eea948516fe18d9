"""The ``gxp`` command for people: run the pipeline, make demo data, inspect and verify stored artifacts.

Exit codes (DESIGN.md): 0 on success, 1 when a verification fails or a run fails (reason on stderr), 2 on a
usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from gxp_assets.cli_aws import AWS_ERRORS, aws_problem
from gxp_assets.cli_aws import add_commands as add_aws_commands
from gxp_assets.cli_governance import add_commands as add_governance_commands
from gxp_assets.cli_inference import add_commands as add_inference_commands
from gxp_assets.cli_suspension import add_commands as add_suspension_commands
from gxp_assets.stores import artifact_store
from gxp_assets.stores.local import default_home
from gxp_assets.stores.protocols import ArtifactNotFound, IntegrityError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _fail(message: str) -> int:
    print(f"gxp: {message}", file=sys.stderr)
    return EXIT_FAILED


def cmd_run(args: argparse.Namespace) -> int:
    """Run the main job in the instance at DAGSTER_HOME, so its history shows in `dagster dev` afterwards."""
    from gxp_assets.cli_runs import NoInstance, materializations, run_job
    from gxp_assets.defs.jobs import MAIN_JOB

    run_config = yaml.safe_load(Path(args.config).read_text()) if args.config else {}
    try:
        result = run_job(MAIN_JOB.name, run_config, log_level=args.log_level)
    except NoInstance as error:
        return _fail(str(error))
    print(f"\nrun {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'}")
    found = materializations(result)
    evaluation, candidate = found.get("model_evaluation", {}), found.get("model_candidate", {})
    if evaluation:
        print(
            f"\nModel on the test split: AUROC {evaluation['auroc']:.3f}, best F1 {evaluation['best_f1']:.3f}, "
            f"realized AE recall {evaluation['ae_recall']:.3f} (target {evaluation['ae_target']:.2f}), "
            f"auto-closed {evaluation['auto_close_share']:.1%}, review {evaluation['review_share']:.1%}. "
            f"Model card: {evaluation['model_card_file']}"
        )
    if candidate:
        print(
            f"Registered as model {candidate['version']}: {candidate['state']} under the change control plan "
            f"(`gxp registry show {candidate['version']}`; approvals: `gxp approve {candidate['version']} ...`)."
        )
    print(
        f"\nResults: artifacts under {default_home() / 'artifacts'} (`gxp artifacts list`), run history in "
        f"{os.environ['DAGSTER_HOME']}.\nOpen the UI: `source scripts/env.sh && dagster dev`, then "
        "http://127.0.0.1:3000 (Assets > View lineage)."
    )
    if not result.success:
        return _fail("the run failed; its error is in the log above and in the UI")
    return EXIT_OK


def cmd_demo_data(args: argparse.Namespace) -> int:
    from gxp_assets.core.demo_data import write_demo_reports

    path = write_demo_reports(Path(args.out), n_documents=args.documents, seed=args.seed)
    print(f"wrote synthetic demo reports to {path}")
    return EXIT_OK


def cmd_artifacts_list(args: argparse.Namespace) -> int:
    store = artifact_store(args.home)
    for ref in store.versions(args.asset):
        partition = f"[{ref.partition}]" if ref.partition else ""
        print(f"{ref.created_at}  {ref.asset}{partition:<10} {ref.sha256}  {ref.size:>12,}  run {ref.run_id[:8]}")
    return EXIT_OK


def cmd_artifacts_verify(args: argparse.Namespace) -> int:
    """Re-hash every recorded artifact; any altered or missing file fails the verification."""
    store = artifact_store(args.home)
    refs = store.versions(args.asset)
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
    store = artifact_store(args.home)
    try:
        ref = store.find(args.asset, args.version) if args.version else store.latest(args.asset)
        if ref is None:
            raise ArtifactNotFound(f"asset '{args.asset}' has no stored version")
        payload = store.read(ref)
    except (IntegrityError, ArtifactNotFound, ValueError) as error:
        return _fail(str(error))
    out = Path(args.out or f"{args.asset.replace('/', '_')}-{ref.sha256[:12]}{ref.suffix}")
    out.write_bytes(payload)
    print(f"wrote {ref.asset} version {ref.sha256} to {out}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gxp", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the main job (the whole asset graph) in the DAGSTER_HOME instance")
    run.add_argument("--config", help="YAML run config, e.g. to read your own data (see README)")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.set_defaults(handler=cmd_run)

    demo = commands.add_parser("demo-data", help="write the synthetic demo corpus as CSV in the report contract")
    demo.add_argument("--out", required=True, help="CSV file to write")
    demo.add_argument("--documents", type=int, default=6000)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(handler=cmd_demo_data)

    artifacts = commands.add_parser("artifacts", help="list, verify or export stored artifacts")
    artifacts.add_argument("--home", default=None, help="GXP_HOME to use (default: the environment's)")
    actions = artifacts.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every stored version, oldest first")
    listing.add_argument("asset", nargs="?", default=None)
    listing.set_defaults(handler=cmd_artifacts_list)
    verify = actions.add_parser("verify", help="re-hash every stored version; exit 1 on any mismatch")
    verify.add_argument("asset", nargs="?", default=None)
    verify.set_defaults(handler=cmd_artifacts_verify)
    export = actions.add_parser("export", help="copy one version (latest by default) out, verified")
    export.add_argument("asset")
    export.add_argument("--version", help="data version (SHA-256, at least 8 leading hex digits)")
    export.add_argument("--out", help="file to write")
    export.set_defaults(handler=cmd_artifacts_export)
    add_governance_commands(commands)
    add_inference_commands(commands)
    add_suspension_commands(commands)
    add_aws_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) and EXIT_USAGE
    try:
        return int(args.handler(args))
    except AWS_ERRORS as error:  # GXP_ENV=aws: a missing stack, wrong region or missing permission
        return _fail(aws_problem(error))


if __name__ == "__main__":
    sys.exit(main())
