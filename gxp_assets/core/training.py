"""The training step as one function of its inputs, so that it runs the same wherever it runs.

The in-process ``ae_classifier`` asset, ``gxp reproduce`` and the SageMaker training entry point
(``gxp_assets.remote.sagemaker_training``) all build a :class:`TrainingData` and call :func:`train_model`: the same
rows, parameters and code give the same model text, byte for byte, in every place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gxp_assets.core.features import FeatureMatrix
from gxp_assets.core.guarantee import CalibrationTooSmall, Guarantee, calibration_shortfall
from gxp_assets.core.model import TrainedModel, TrainingParams, train_classifier
from gxp_assets.core.splits import split_rows

#: The split rows training reads (``dataset_splits`` columns); the calibration part only for the precondition.
SPLIT_COLUMNS = ("row", "report_id", "split_group", "split", "label", "source")


@dataclass(frozen=True)
class TrainingData:
    """The train split's feature rows with its split rows, and the calibration split's rows."""

    train: FeatureMatrix  # the train split's rows only, in split order
    train_rows: pd.DataFrame
    calibration_rows: pd.DataFrame

    @classmethod
    def from_splits(cls, features: FeatureMatrix, splits: pd.DataFrame) -> TrainingData:
        """Each split takes its share the one way every stage does (``split_rows``)."""
        X, _, part = split_rows(features, splits, "train")
        train = FeatureMatrix(report_ids=features.report_ids[part["row"].to_numpy()], matrix=X, spec=features.spec)
        calibration = splits[splits["split"] == "calibration"]
        return cls(train, _rows(part), _rows(calibration))

    @property
    def labels(self) -> np.ndarray:
        return self.train_rows["label"].astype(int).to_numpy()


def _rows(part: pd.DataFrame) -> pd.DataFrame:
    return part.loc[:, list(SPLIT_COLUMNS)].reset_index(drop=True)


@dataclass(frozen=True)
class CalibrationNeeds:
    """What the calibration split must support (the plan's guarantee and negative-class coverage), checked before
    training; ``positive`` / ``negative`` are the use case's class names, for the message only."""

    guarantee: Guarantee
    no_ae_confidence: float
    positive: str = "positive"
    negative: str = "negative"

    def to_dict(self) -> dict:
        return {"guarantee": self.guarantee.to_dict(), "no_ae_confidence": self.no_ae_confidence,
                "positive": self.positive, "negative": self.negative}  # fmt: skip

    @classmethod
    def from_dict(cls, values: dict) -> CalibrationNeeds:
        names = {key: str(values[key]) for key in ("positive", "negative") if key in values}
        return cls(Guarantee.from_dict(values["guarantee"]), float(values["no_ae_confidence"]), **names)


def check_calibration(data: TrainingData, needs: CalibrationNeeds) -> None:
    """CalibrationTooSmall when the calibration split cannot support what the plan promises, before anything is
    trained: what the plan needs, and what the calibration split holds (positives, in how many of its groups)."""
    rows = data.calibration_rows
    labels, groups = rows["label"].astype(int).to_numpy(), rows["split_group"].to_numpy()
    problems = calibration_shortfall(labels, groups, needs.guarantee, needs.no_ae_confidence,
                                     positive=needs.positive, negative=needs.negative)  # fmt: skip
    if problems:
        held = (
            f"calibration split: {len(labels):,} records, {int(labels.sum()):,} of them {needs.positive}, in "
            f"{len(set(groups[labels == 1].astype(str))):,} of its {len(set(groups.astype(str))):,} groups"
        )
        raise CalibrationTooSmall(f"{'; '.join(problems)} ({held})")


def train_model(
    data: TrainingData,
    params: TrainingParams,
    needs: CalibrationNeeds | None,
    log: Callable[[str], None] = lambda message: None,
) -> TrainedModel:
    """Refuse calibration data that cannot support the guarantee (before hours of training, not after), then fit
    on the train split only."""
    if needs is not None:
        check_calibration(data, needs)
    return train_classifier(
        data.train.matrix,
        data.labels,
        data.train_rows["split_group"].to_numpy(),
        params,
        log=log,
        text_blocks=data.train.spec.text_blocks(), sentence_block=data.train.spec.sentence_block(),
    )
