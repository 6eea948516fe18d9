"""`gxp reproduce` and `gxp report`: rebuilding a model version from its record, and its validation report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gxp_assets.core.hashing import sha256_hex
from gxp_assets.stores import open_governance

EXIT_OK, EXIT_FAILED = 0, 1


def _fail(message: str) -> int:
    print(f"gxp: {message}", file=sys.stderr)
    return EXIT_FAILED


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Retrain from the recorded data versions and parameters; the model text must hash to the recorded SHA-256."""
    from gxp_assets.core.features import FeatureMatrix
    from gxp_assets.core.model import TrainingParams, load_classifier, train_classifier
    from gxp_assets.core.splits import split_rows
    from gxp_assets.defs.provenance import library_versions
    from gxp_assets.stores import artifact_store, codecs
    from gxp_assets.stores.protocols import ArtifactNotFound, IntegrityError

    governance = open_governance()
    model = governance.registry.get(args.version)
    if model is None:
        return _fail(f"no model version {args.version} in the registry")
    lineage, store = model.record["lineage"], artifact_store()

    def recorded(asset: str):
        ref = store.find(asset, lineage["assets"][asset]["data_version"])
        return codecs.decode(store.read(ref), ref.suffix)  # hash-verified

    try:
        features = FeatureMatrix.from_arrays(recorded("report_features"))
        X, labels, part = split_rows(features, recorded("dataset_splits"), "train")
        recorded_params = load_classifier(recorded("ae_classifier")).training  # what it was fitted with
    except (IntegrityError, ArtifactNotFound) as error:
        return _fail(f"cannot reproduce {args.version}: {error}")
    if recorded_params is None:  # a model from before the text carried them: its run config over today's defaults
        run = lineage["runs"][lineage["assets"]["ae_classifier"]["run_id"]]
        config = (run["run_config"].get("ops", {}).get("ae_classifier") or {}).get("config", {})
        recorded_params = {**TrainingParams().to_dict(), **config}
    params = TrainingParams(**recorded_params)
    changed = {name: (old, new) for name, new in library_versions().items()
               if (old := lineage["libraries"].get(name)) != new and name != "gxp-assets"}  # fmt: skip
    for name, (old, new) in changed.items():
        print(f"note: {name} was {old} when the model was built, is {new} now")
    print(f"retraining {args.version} on {len(labels):,} train reports with {params.to_dict()}", flush=True)
    rebuilt = train_classifier(
        X, labels, part["split_group"].to_numpy(), params, log=print, text_blocks=features.spec.text_blocks()
    )
    rebuilt_sha = sha256_hex(rebuilt.model_text.encode())
    governance.audit.append(
        args.user or "system",
        "reproduction",
        args.version,
        {
            "recorded": model.record["model_sha256"],
            "rebuilt": rebuilt_sha,
            "match": rebuilt_sha == model.record["model_sha256"],
        },
    )
    if rebuilt_sha != model.record["model_sha256"]:
        return _fail(
            f"NOT reproduced: rebuilt model {rebuilt_sha} differs from recorded {model.record['model_sha256']}"
        )
    print(f"reproduced: the rebuilt model matches {rebuilt_sha} bit for bit")
    return EXIT_OK


def add_reproduce_command(commands: argparse._SubParsersAction) -> None:
    reproduce = commands.add_parser(
        "reproduce", help="rebuild a model version from its recorded inputs, compare hashes"
    )
    reproduce.add_argument("version")
    reproduce.add_argument("--user", help="who asks (for the audit trail)")
    reproduce.set_defaults(handler=cmd_reproduce)


def cmd_report(args: argparse.Namespace) -> int:
    """The validation report of a model version: one self-contained HTML page, for reviewers and inspectors."""
    from datetime import UTC, datetime

    from gxp_assets.governance.validation_report import render_validation_report
    from gxp_assets.stores import artifact_store, codecs

    governance, store = open_governance(), artifact_store()
    model = governance.registry.get(args.version)
    if model is None:
        return _fail(f"no model version {args.version} in the registry")
    evaluation_ref = store.find(
        "model_evaluation", model.record["lineage"]["assets"]["model_evaluation"]["data_version"]
    )
    evaluation = codecs.decode(store.read(evaluation_ref), evaluation_ref.suffix)
    plots = {
        name: store.read(store.find(f"model_evaluation/plots/{name}", sha256))
        for name, sha256 in evaluation.get("plots", {}).items()
    }
    history = [
        {"from_state": t.from_state, "to_state": t.to_state, "actor": t.actor, "reason": t.reason, "at": t.at}
        for t in governance.registry.history(args.version)
    ]
    page = render_validation_report(
        model.record,
        model.record_hash,
        str(model.state),
        history,
        governance.registry.signatures(args.version),
        evaluation,
        plots,
        datetime.now(UTC),
    )
    Path(args.out).write_text(page, encoding="utf-8")
    print(f"validation report of {args.version} ({model.state}) written to {args.out}")
    return EXIT_OK


def add_report_command(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="write a model version's validation report (self-contained HTML)")
    report.add_argument("version")
    report.add_argument("--out", required=True)
    report.set_defaults(handler=cmd_report)
