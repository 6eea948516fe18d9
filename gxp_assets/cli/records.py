"""`gxp reproduce`: rebuilding a model version from its record, bit for bit."""

from __future__ import annotations

import argparse

from gxp_assets.cli.common import EXIT_OK, CliError
from gxp_assets.cli.signing import registered
from gxp_assets.core.hashing import sha256_hex
from gxp_assets.stores import open_governance


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Retrain from the recorded data versions and parameters; the model text must hash to the recorded SHA-256."""
    from gxp_assets.core.features import FeatureMatrix
    from gxp_assets.core.model import TrainingParams, load_classifier
    from gxp_assets.core.training import TrainingData, train_model
    from gxp_assets.defs.provenance import library_versions
    from gxp_assets.governance.recorded_assets import recorded_asset
    from gxp_assets.stores import artifact_store, codecs
    from gxp_assets.stores.protocols import ArtifactNotFound, IntegrityError

    governance = open_governance()
    model = registered(governance, args.version)
    lineage, store = model.record["lineage"], artifact_store()

    def recorded(asset: str):
        ref = store.find(*recorded_asset(model.record, asset))
        return codecs.decode(store.read(ref), ref.suffix)  # hash-verified

    try:
        data = TrainingData.from_splits(FeatureMatrix.from_arrays(recorded("report_features")),
                                        recorded("dataset_splits"))  # fmt: skip
        recorded_params = load_classifier(recorded("ae_classifier")).training  # what it was fitted with
    except (IntegrityError, ArtifactNotFound) as error:
        raise CliError(f"cannot reproduce {args.version}: {error}") from error
    if recorded_params is None:  # a model from before the text carried them: its run config over today's defaults
        run = lineage["runs"][lineage["assets"]["ae_classifier"]["run_id"]]
        ops = run["run_config"].get("ops", {})
        op = recorded_asset(model.record, "ae_classifier")[0].replace("/", "__")  # Dagster's op name for the key
        config = (ops.get(op) or ops.get("ae_classifier") or {}).get("config", {})
        recorded_params = {**TrainingParams().to_dict(), **config}
    params = TrainingParams(**recorded_params)
    changed = {name: (old, new) for name, new in library_versions().items()
               if (old := lineage["libraries"].get(name)) != new and name != "gxp-assets"}  # fmt: skip
    for name, (old, new) in changed.items():
        print(f"note: {name} was {old} when the model was built, is {new} now")
    print(f"retraining {args.version} on {len(data.labels):,} train reports with {params.to_dict()}", flush=True)
    rebuilt = train_model(data, params, needs=None, log=print)  # what the asset and the SageMaker job run
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
        raise CliError(
            f"NOT reproduced: rebuilt model {rebuilt_sha} differs from recorded {model.record['model_sha256']}"
        )
    print(f"reproduced: the rebuilt model matches {rebuilt_sha} bit for bit")
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction) -> None:
    reproduce = commands.add_parser(
        "reproduce", help="rebuild a model version from its recorded inputs, compare hashes"
    )
    reproduce.add_argument("version", help="model version, as `gxp registry list` shows it")
    reproduce.add_argument("--user", help="who asks (for the audit trail)")
    reproduce.set_defaults(handler=cmd_reproduce)
