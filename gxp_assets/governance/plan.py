"""The predetermined change control plan (FDA PCCP): its schema and loading (the checks it gates a candidate with
are in governance/acceptance.py).

The plan is a reviewed YAML file, one per declared use case (``use_cases/<id>/change_control_plan.yaml``), that
names the use case it governs. Loading it validates every field, so a typo cannot silently loosen a criterion, and
records the SHA-256 of its bytes for the lineage of every model built under it. Its names are neutral (the positive
and negative class, a subgroup, a unit): what they mean for one use case its declaration says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from gxp_assets.core.hashing import sha256_hex
from gxp_assets.governance.roles import KNOWN_ROLES
from gxp_assets.governance.yaml_document import read_document, validate_document

if TYPE_CHECKING:  # imported where used: loading a plan needs neither numpy nor scipy
    from gxp_assets.core.drift import DriftLimits
    from gxp_assets.core.guarantee import Guarantee

#: The plan of the use case the pipeline runs today (ae_triage); GXP_PLAN overrides it (gxp_assets.stores).
DEFAULT_PLAN_PATH = Path(__file__).resolve().parents[2] / "use_cases" / "ae_triage" / "change_control_plan.yaml"

Modification = Literal["retrain_on_new_adjudicated_data", "recalibrate"]
SignatureMeaning = Literal["review", "approval", "responsibility"]
Fraction = Annotated[float, Field(ge=0, le=1)]
Confidence = Annotated[float, Field(gt=0, lt=1)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
UseCaseId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]


def _known_role(value: str) -> str:
    if value not in KNOWN_ROLES:
        raise ValueError(f"unknown role {value!r}; known roles: {', '.join(sorted(KNOWN_ROLES))}")
    return value


#: A role a person can hold (gxp_assets.governance.roles.Role): a plan cannot require a role nobody can have.
RoleName = Annotated[str, AfterValidator(_known_role)]

_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")


class PlanError(ValueError):
    """The plan file is missing, unreadable or invalid; nothing may be trained or promoted against it."""


class _Strict(BaseModel):
    """No unknown keys (a misspelt criterion must not be ignored) and no silent type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class IntendedUse(_Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]*$")]
    text: Text


class FixedElements(_Strict):
    feature_spec_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    model_family: Text


class DataRequirements(_Strict):
    min_records: int = Field(ge=1)
    min_positive: int = Field(ge=1)  # labelled records of the positive class
    max_age_days: int | None = Field(default=None, ge=0, description="age of the newest labelled record")

    @model_validator(mode="after")
    def _positive_within_records(self) -> DataRequirements:
        if self.min_positive > self.min_records:
            raise ValueError(f"min_positive ({self.min_positive}) cannot exceed min_records ({self.min_records})")
        return self


class AcceptanceCriteria(_Strict):
    auroc_min: Fraction
    positive_recall_tolerance: Annotated[float, Field(ge=0, lt=1)]
    auto_close_min: Fraction  # share of test records given the negative outcome
    max_auroc_drop_vs_active: Fraction
    subgroup_positive_recall_min: Fraction
    subgroup_min_positive: int = Field(ge=1)


class ConformalLevels(_Strict):
    negative_confidence: Confidence
    # The positive outcome also needs at least this calibrated probability of the positive class; else uncertain.
    positive_min_probability: Fraction = 0.0


class RecallGuarantee(_Strict):
    """What "at most miss_rate of positives given the negative outcome" means: see core.conformal for the method."""

    type: Literal["pac", "marginal"]
    miss_rate: Annotated[float, Field(gt=0, lt=1)]
    delta: Annotated[float, Field(gt=0, lt=1)]
    unit: Literal["document", "record"]  # document: a split group; record: records taken as independent
    by_subgroup: bool  # a threshold per subgroup (the use case's subgroup_column) with enough positive units
    # pac: the promise is about the positive units of a batch of this many (the share a reviewer can count), which
    # adds the batch's own sampling noise; absent: about the population of units like the calibration ones.
    batch_units: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _batch_for_pac(self) -> RecallGuarantee:
        if self.batch_units is not None and self.type != "pac":
            raise ValueError("batch_units applies to a pac guarantee only")
        return self

    def core(self) -> Guarantee:
        """The same guarantee as core.guarantee states it (its fields keep their older names)."""
        from gxp_assets.core.guarantee import Guarantee

        return Guarantee(
            type=self.type,
            miss_rate=self.miss_rate,
            delta=self.delta,
            unit=self.unit,
            by_source=self.by_subgroup,
            batch_documents=self.batch_units,
        )


class FailSafe(_Strict):
    """When auto-closing stops on its own, before results are published, until a signed decision lifts it."""

    suspend_on_drift: bool
    lift_role: RoleName


#: Each drift limit -> the measures of the use case's ``drift`` section it judges (section, measure); a limit is
#: valid only where at least one of them is declared (gxp_assets.governance.use_case checks it on loading).
DRIFT_LIMIT_MEASURES: dict[str, tuple[tuple[str, str], ...]] = {
    "score_psi_max": (("output", "score_psi"),),
    "review_share_increase_max": (("output", "review_share"),),
    "domain_auc_max": (("domain_classifier", "domain_classifier"),),
    "unseen_ngram_share_max": (("text", "unseen_ngram_share"),),
    "numeric_psi_max": (("numeric", "psi"),),
    "categorical_psi_max": (("categorical", "psi"),),
    "missing_share_max": (("numeric", "missing_share"), ("categorical", "missing_share")),
    "out_of_range_share_max": (("numeric", "out_of_range_share"),),
    "unseen_level_share_max": (("categorical", "unseen_level_share"),),
}


class DriftThresholds(_Strict):
    """Limits per measure; an absent optional limit leaves its measure measured and shown, not judged."""

    score_psi_max: float = Field(ge=0)
    review_share_increase_max: Fraction  # over the model's own REVIEW share on its test split
    # Out-of-fold AUROC of a classifier telling batch from reference; None: measured, not judged.
    domain_auc_max: Annotated[float, Field(ge=0.5, le=1)] | None = None
    # Text features: share of word n-grams never seen in training; required when the use case has text features.
    unseen_ngram_share_max: Fraction | None = None
    # Tabular features, judged per column: PSI of a numeric column's binned values or a categorical column's levels
    # against the reference, share of missing values, of numeric values outside the training range, and of levels
    # never seen in training.
    numeric_psi_max: float | None = Field(default=None, ge=0)
    categorical_psi_max: float | None = Field(default=None, ge=0)
    missing_share_max: Fraction | None = None
    out_of_range_share_max: Fraction | None = None
    unseen_level_share_max: Fraction | None = None

    def limits(self) -> dict[str, float]:
        """The limits this plan sets, by name (absent optional ones left out)."""
        return {name: value for name, value in self.model_dump().items() if value is not None}

    def core(self) -> DriftLimits:
        """The limits core.drift judges, field for field (the tabular ones once core.drift takes them)."""
        from gxp_assets.core.drift import DriftLimits

        known = DriftLimits.__dataclass_fields__
        return DriftLimits(**{name: value for name, value in self.model_dump().items() if name in known})


class RetrainingTriggers(_Strict):
    drift: DriftThresholds
    realized_positive_recall_min: Fraction  # share of labelled positives NOT given the negative outcome
    realized_positive_precision_min: Fraction = 0.0  # share of records given the positive outcome that were positive
    realized_window_days: int = Field(default=30, ge=1)
    realized_min_count: int = Field(default=20, ge=1)
    schedule: str | None = Field(default=None, description="cron expression in UTC; None = no routine retraining")
    false_alarm_tolerance: Annotated[float, Field(ge=0, lt=1)]

    @field_validator("schedule")
    @classmethod
    def _five_field_cron(cls, value: str | None) -> str | None:
        if value is not None:
            fields = value.split()
            if len(fields) != 5 or not all(_CRON_FIELD.match(field) for field in fields):
                raise ValueError(f"schedule must be a five-field cron expression or null, got {value!r}")
        return value


class RequiredSignature(_Strict):
    role: RoleName
    meaning: SignatureMeaning


class Approvals(_Strict):
    required: list[RequiredSignature] = Field(min_length=1)
    min_signatures: int = Field(ge=1)
    separation_of_duties: bool

    @model_validator(mode="after")
    def _enough_signatures(self) -> Approvals:
        roles = [signature.role for signature in self.required]
        if len(set(roles)) != len(roles):
            raise ValueError(f"required roles must be distinct, got {roles}")
        if self.min_signatures < len(roles):
            raise ValueError(f"min_signatures ({self.min_signatures}) is below the {len(roles)} required roles")
        return self


class SignaturePolicy(_Strict):
    """How signatures are controlled: the clock tolerance, and who approves a changed roles file."""

    time_tolerance_minutes: int = Field(default=10, ge=0, le=24 * 60)
    role_administrator_fingerprint: Annotated[str, StringConstraints(pattern=r"^SHA256:[A-Za-z0-9+/]{43}$")] | None = (
        None
    )


class ChangeControlPlan(_Strict):
    """What may change without a new plan, on what data, judged by which criteria, and approved by whom."""

    plan_id: Text
    version: Text
    use_case: UseCaseId  # the use case this plan governs: use_cases/<use_case>/use_case.yaml
    intended_use: IntendedUse
    allowed_modifications: list[Modification] = Field(min_length=1)
    fixed_elements: FixedElements
    data_requirements: DataRequirements
    acceptance_criteria: AcceptanceCriteria
    guarantee: RecallGuarantee
    conformal: ConformalLevels
    fail_safe: FailSafe
    retraining_triggers: RetrainingTriggers
    approvals: Approvals
    signatures: SignaturePolicy = SignaturePolicy()

    @field_validator("allowed_modifications")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"allowed_modifications lists a modification twice: {value}")
        return value

    @model_validator(mode="after")
    def _recall_floor_positive(self) -> ChangeControlPlan:
        if self.acceptance_criteria.positive_recall_tolerance >= self.positive_confidence:
            raise ValueError("acceptance_criteria.positive_recall_tolerance must be below 1 - guarantee.miss_rate")
        return self

    @property
    def positive_confidence(self) -> float:
        """The guaranteed recall of the positive class: 1 - the guarantee's miss rate."""
        return round(1 - self.guarantee.miss_rate, 12)

    @property
    def positive_recall_min(self) -> float:
        """The measured positive recall a candidate must reach: the guaranteed level less the sampling tolerance."""
        return round(self.positive_confidence - self.acceptance_criteria.positive_recall_tolerance, 12)


@dataclass(frozen=True)
class LoadedPlan:
    """A validated plan and the hash of the exact bytes it came from, which goes into every model's lineage."""

    plan: ChangeControlPlan
    sha256: str
    path: Path


#: Plans validated in this process by the SHA-256 of their bytes: a server reads the plan in force on every request
#: (a changed file takes effect at once) but parses and validates each distinct content once. Plans are frozen.
_VALIDATED: dict[str, ChangeControlPlan] = {}


def load_plan(path: Path | str = DEFAULT_PLAN_PATH) -> LoadedPlan:
    """Read and validate a plan file; raise PlanError naming the file and every invalid field."""
    path = Path(path)
    data = read_document(path, "change control plan", PlanError)
    digest = sha256_hex(data)
    if (known := _VALIDATED.get(digest)) is not None:  # the same bytes were validated before: same plan
        return LoadedPlan(plan=known, sha256=digest, path=path)
    plan = validate_document(data, ChangeControlPlan, path, "change control plan", "plan", PlanError)
    if len(_VALIDATED) >= 16:
        _VALIDATED.clear()
    _VALIDATED[digest] = plan
    return LoadedPlan(plan=plan, sha256=digest, path=path)
