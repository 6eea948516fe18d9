"""SageMaker training entry point: the training step in SageMaker's container contract, through Dagster Pipes.

SageMaker lays out ``/opt/ml`` (``GXP_SAGEMAKER_ROOT`` moves it, for tests):

- ``input/config/hyperparameters.json``: the training parameters, every value a string (SageMaker's rule), plus
  ``calibration_needs`` (JSON) when the plan's guarantee is to be checked before training;
- ``input/data/train/``: ``features.npz`` (the train split's feature rows, spec included) and ``rows.parquet``;
  ``input/data/calibration/rows.parquet``: the calibration split's rows (the precondition reads labels and groups);
- ``model/``: what this writes: ``model.json`` (the classifier text exactly as the in-process asset stores it) and
  ``training.json`` (its hash and training facts). No pickle.
- ``output/failure``: the reason, when training fails (then the process exits 1).

It calls :func:`gxp_assets.core.training.train_model`, the function the in-process asset calls, so the model hash
is the same for the same inputs (``gxp reproduce`` holds). Launched by Dagster (``PipesSageMakerTrainingClient``),
its log lines and the materialization it reports go back to the run through S3; run by hand, it only prints.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from gxp_assets.core.features import FeatureMatrix
from gxp_assets.core.hashing import sha256_hex
from gxp_assets.core.model import TrainingParams
from gxp_assets.core.training import CalibrationNeeds, TrainingData, train_model
from gxp_assets.stores import codecs

ROOT_ENV = "GXP_SAGEMAKER_ROOT"
INTERVAL_ENV = "GXP_PIPES_MESSAGE_INTERVAL"  # seconds between message uploads to S3 (default 10)
MODEL_FILE, FACTS_FILE = "model.json", "training.json"
NEEDS_KEY = "calibration_needs"


class TrainingInputError(ValueError):
    """The job's hyperparameters or channels are not what the contract says; the message names what is wrong."""


@dataclasses.dataclass(frozen=True)
class Layout:
    """The container's folders under one root (``/opt/ml`` in SageMaker)."""

    root: Path

    @classmethod
    def from_env(cls) -> Layout:
        return cls(Path(os.environ.get(ROOT_ENV) or "/opt/ml"))

    @property
    def hyperparameters(self) -> Path:
        return self.root / "input" / "config" / "hyperparameters.json"

    def channel(self, name: str) -> Path:
        return self.root / "input" / "data" / name

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"


def hyperparameters_of(params: TrainingParams, needs: CalibrationNeeds | None) -> dict[str, str]:
    """What the launcher puts in ``HyperParameters``: every value a string, as SageMaker requires."""
    values = {name: json.dumps(value) for name, value in params.to_dict().items()}
    return values | ({NEEDS_KEY: json.dumps(needs.to_dict(), sort_keys=True)} if needs else {})


def read_hyperparameters(path: Path) -> tuple[TrainingParams, CalibrationNeeds | None]:
    """The strings back to typed parameters; an unknown or unparsable name is refused, never ignored."""
    if not path.is_file():
        raise TrainingInputError(f"no hyperparameters at {path}")
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    needs_text = raw.pop(NEEDS_KEY, None)
    known = {field.name: field.type for field in dataclasses.fields(TrainingParams)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise TrainingInputError(f"unknown hyperparameters {unknown}; known: {sorted(known)}")
    values = {}
    for name, text in raw.items():
        try:
            values[name] = json.loads(text) if isinstance(text, str) else text
        except json.JSONDecodeError:
            raise TrainingInputError(f"hyperparameter {name}={text!r} is not a JSON value") from None
    needs = CalibrationNeeds.from_dict(json.loads(needs_text)) if needs_text else None
    return TrainingParams(**values), needs


def channel_files(data: TrainingData) -> dict[str, dict[str, bytes]]:
    """The channels' files for ``data``, in the project's stored forms (``.npz`` and Parquet)."""
    features, _ = codecs.encode(data.train.to_arrays())
    train_rows, _ = codecs.encode(data.train_rows)
    calibration_rows, _ = codecs.encode(data.calibration_rows)
    return {
        "train": {"features.npz": features, "rows.parquet": train_rows},
        "calibration": {"rows.parquet": calibration_rows},
    }


def read_channels(layout: Layout) -> TrainingData:
    def read(channel: str, name: str) -> Any:
        path = layout.channel(channel) / name
        if not path.is_file():
            raise TrainingInputError(f"channel {channel!r} has no {name} (looked at {path})")
        return codecs.decode(path.read_bytes(), path.suffix)

    train = FeatureMatrix.from_arrays(read("train", "features.npz"))
    rows: pd.DataFrame = read("train", "rows.parquet")
    if len(rows) != train.matrix.shape[0] or list(rows["report_id"]) != [str(i) for i in train.report_ids]:
        raise TrainingInputError("the train channel's rows.parquet does not list the rows of its features.npz")
    return TrainingData(train, rows, read("calibration", "rows.parquet"))


@contextmanager
def pipes_session() -> Iterator[Any]:
    """Dagster Pipes when launched by Dagster (bootstrap in the environment; context and messages in S3), else a
    stand-in that ignores what it is told."""
    from dagster_pipes import (
        PipesEnvVarParamsLoader,
        PipesS3ContextLoader,
        PipesS3MessageWriter,
        open_dagster_pipes,
    )

    loader = PipesEnvVarParamsLoader()
    if not loader.is_dagster_pipes_process():
        yield None
        return
    import boto3

    s3 = boto3.client("s3")
    interval = float(os.environ.get(INTERVAL_ENV) or 10)
    with open_dagster_pipes(
        params_loader=loader,
        context_loader=PipesS3ContextLoader(client=s3),
        message_writer=PipesS3MessageWriter(client=s3, interval=interval),
    ) as pipes:
        yield pipes


def run(layout: Layout) -> dict[str, Any]:
    """Train from the layout's inputs and write the model folder; returns the training facts."""
    with pipes_session() as pipes:

        def log(message: str) -> None:
            print(message, flush=True)  # SageMaker sends stdout to CloudWatch
            if pipes is not None:
                pipes.log.info(message)

        params, needs = read_hyperparameters(layout.hyperparameters)
        data = read_channels(layout)
        log(f"training on {len(data.train_rows):,} train reports ({int(data.labels.sum()):,} AE), "
            f"{params.num_threads} threads")  # fmt: skip
        trained = train_model(data, params, needs, log=log)
        model_sha256 = sha256_hex(trained.model_text.encode())
        facts = {
            "model_sha256": model_sha256,
            "best_iteration": trained.best_iteration,
            "inner_fold_auroc_trees": trained.inner_validation_auc,
            "training_seconds": round(trained.seconds, 2),
            "train_records": len(data.train_rows),
            "train_ae": int(data.labels.sum()),
            "feature_spec_sha256": data.train.spec.sha256,
        }
        layout.model.mkdir(parents=True, exist_ok=True)
        (layout.model / MODEL_FILE).write_text(trained.model_text, encoding="utf-8")
        (layout.model / FACTS_FILE).write_text(json.dumps(facts, sort_keys=True, indent=2) + "\n", encoding="utf-8")
        log(f"model {model_sha256[:12]} written to {layout.model}")
        if pipes is not None:
            pipes.report_asset_materialization(metadata=facts, data_version=model_sha256)
    return facts


def main() -> int:
    """SageMaker's contract: exit 0 with the model written, or the reason in ``output/failure`` and exit 1."""
    layout = Layout.from_env()
    try:
        run(layout)
    except Exception as error:  # every failure, with its reason where SageMaker reads it (FailureReason)
        traceback.print_exc()
        layout.failure.parent.mkdir(parents=True, exist_ok=True)
        layout.failure.write_text(f"{type(error).__name__}: {error}"[:1000], encoding="utf-8")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
