"""What a remote scoring job receives, as JSON: the model in its stored form, the stamp and the validation rules.

Plain data and core types only (no Spark, no AWS, no Dagster), so the Dagster side that sends a job and the job
that receives it share one definition of each field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from gxp_assets.core.batch_scoring import ScoringStamp
from gxp_assets.core.features import FeatureSpec
from gxp_assets.core.scoring import TriageModel
from gxp_assets.core.validation import ValidationRules


@dataclass(frozen=True)
class ModelBundle:
    """A deployed model as the remote job receives it: the stored classifier text, the stored conformal record and
    the sources the plan's subgroup rule passed (defs.deployed fills it from a verified registry version)."""

    model_text: str
    conformal: dict
    judged_sources: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps(
            {"model_text": self.model_text, "conformal": self.conformal, "judged_sources": list(self.judged_sources)}
        )

    @classmethod
    def from_json(cls, text: str) -> ModelBundle:
        values = json.loads(text)
        return cls(values["model_text"], values["conformal"], tuple(values["judged_sources"]))

    def load(self) -> tuple[TriageModel, FeatureSpec]:
        """The model exactly as defs.deployed builds it (same record, same judged sources), and its spec."""
        model = TriageModel.from_records(self.model_text, self.conformal)
        return replace(model, judged_sources=frozenset(self.judged_sources)), FeatureSpec.from_dict(
            self.conformal["feature_spec"]
        )


def stamp_to_dict(stamp: ScoringStamp) -> dict[str, Any]:
    return {
        "batch": stamp.batch,
        "model_version": stamp.model_version,
        "plan_version": stamp.plan_version,
        "run_id": stamp.run_id,
        "scored_at": stamp.scored_at.isoformat(),
        "regulatory_clock_seconds": None if stamp.regulatory_clock is None else stamp.regulatory_clock.total_seconds(),
    }


def stamp_from_dict(values: dict[str, Any]) -> ScoringStamp:
    return ScoringStamp(
        batch=values["batch"],
        model_version=values["model_version"],
        plan_version=values["plan_version"],
        run_id=values["run_id"],
        scored_at=datetime.fromisoformat(values["scored_at"]),
        regulatory_clock=None if (clock := values["regulatory_clock_seconds"]) is None else timedelta(seconds=clock),
    )


def rules_to_dict(rules: ValidationRules) -> dict[str, Any]:
    return {
        "max_text_chars": rules.max_text_chars,
        "require_label": rules.require_label,
        "require_received_at": rules.require_received_at,
        "future_tolerance_seconds": rules.future_tolerance.total_seconds(),
    }


def rules_from_dict(values: dict[str, Any]) -> ValidationRules:
    return ValidationRules(
        max_text_chars=values["max_text_chars"],
        require_label=values["require_label"],
        require_received_at=values["require_received_at"],
        future_tolerance=timedelta(seconds=values["future_tolerance_seconds"]),
    )
