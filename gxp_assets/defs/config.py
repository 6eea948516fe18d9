"""Typed run configuration of the data assets; each maps onto a plain core object."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from dagster import Config
from pydantic import Field

from gxp_assets.core.splits import SplitPlan
from gxp_assets.core.validation import ValidationRules


class ReportSourceConfig(Config):
    """Where the adjudicated corpus comes from. The default is the bundled synthetic demo data."""

    format: Literal["demo", "contract", "ade_corpus_v2"] = Field(
        default="demo",
        description="demo: generated synthetic reports; contract: CSV / JSON Lines / Parquet in the report "
        "contract (a file or a folder); ade_corpus_v2: the ADE Corpus V2 distribution folder",
    )
    path: str = Field(default="", description="file or folder to read; unused for demo")
    encoding: str | None = Field(default=None, description="the files' encoding when not UTF-8 and without a BOM")
    # Enough documents that each channel's calibration split supports the plan's per-source PAC guarantee.
    demo_documents: int = Field(default=6000, gt=0)
    demo_seed: int = 7
    demo_label_noise: float = Field(default=0.005, ge=0, le=1, description="share of demo labels flipped")
    include_adjudicated: bool = Field(
        default=False,
        description="add the scored reports that people have adjudicated since (retraining runs set this)",
    )


class ValidationConfig(Config):
    max_text_chars: int = Field(default=20_000, gt=0)
    require_label: bool = True
    require_received_at: bool = Field(
        default=True, description="false for corpora that carry no reception time, such as ADE Corpus V2"
    )
    future_tolerance_seconds: int = Field(default=300, ge=0)

    def rules(self) -> ValidationRules:
        return ValidationRules(
            max_text_chars=self.max_text_chars,
            require_label=self.require_label,
            require_received_at=self.require_received_at,
            future_tolerance=timedelta(seconds=self.future_tolerance_seconds),
        )


class SplitConfig(Config):
    seed: int = 20261126
    train: float = Field(default=0.6, gt=0, lt=1)
    calibration: float = Field(default=0.2, gt=0, lt=1)
    test: float = Field(default=0.2, gt=0, lt=1)

    def plan(self) -> SplitPlan:
        return SplitPlan(seed=self.seed, train=self.train, calibration=self.calibration, test=self.test)
