"""A declared use case: ``use_cases/<id>/use_case.yaml``, typed, validated and hashed like the change control plan.

The declaration says everything that makes one use case differ from another, so that the pipeline can hold none of
it in code: the intended use, the record contract (id, group, subgroup, time and label columns, and the rule that
makes a record positive), the file format, the features (one ``FeatureSpec``, plus the units, valid ranges and levels
that a record is checked against), the class names and what each triage outcome means for this use, an optional
regulatory clock, the drift measures per feature type, and where its change control plan lies. The SHA-256 of the
file's exact bytes goes into the lineage of every model built for it, as the plan's does. A use case is used only
together with its plan, once the two agree (``load_declared``, ``declared_use_cases``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import field_validator, model_validator

from gxp_assets.core import record_contract as core_contract
from gxp_assets.core.conformal import Triage, Wording
from gxp_assets.core.features import FeatureSpec
from gxp_assets.core.hashing import sha256_hex
from gxp_assets.core.model_card import CardUse
from gxp_assets.core.validation import VALID_LABELS
from gxp_assets.governance.plan import (
    DRIFT_LIMIT_MEASURES,
    ChangeControlPlan,
    IntendedUse,
    LoadedPlan,
    PlanError,
    load_plan,
)
from gxp_assets.governance.use_case_schema import (
    ClassNames,
    DemoData,
    DriftMeasures,
    Features,
    FileFormat,
    Name,
    RecordContract,
    RegulatoryClock,
    StatementWording,
    Strict,
    Text,
    TriageOutcomes,
)
from gxp_assets.governance.yaml_document import read_document, validate_document

#: The label texts the report contract reads as each class (core.validation), which a text use case must declare.
REPORT_LABELS = {label: {text for text, value in VALID_LABELS.items() if value == label} for label in (0, 1)}
USE_CASES_ROOT = Path(__file__).resolve().parents[2] / "use_cases"
DECLARATION_FILE = "use_case.yaml"


class UseCaseError(ValueError):
    """A use-case declaration that is missing, unreadable or invalid; nothing may be built for it."""


class UseCase(Strict):
    id: Name
    intended_use: IntendedUse
    record: RecordContract
    file_format: FileFormat
    features: Features
    classes: ClassNames
    triage: TriageOutcomes
    regulatory_clock: RegulatoryClock | None = None
    drift: DriftMeasures
    plan: Text  # the change control plan, relative to the use-case folder
    demo: DemoData | None = None  # synthetic data for `gxp demo` of a use case declared by records
    words: StatementWording | None = None  # how statements name its records; derived when not declared

    @field_validator("plan")
    @classmethod
    def _relative_yaml(cls, value: str) -> str:
        if os.path.isabs(value) or not value.endswith((".yaml", ".yml")):
            raise ValueError(f"plan must be a relative path to a .yaml file, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> UseCase:
        record = self.record
        roles = {
            "record.id_column": [record.id_column],
            "record.group_column": [record.group_column],
            "record.subgroup_column": [record.subgroup_column] if record.subgroup_column else [],
            "record.time_column": [record.time_column] if record.time_column else [],
            "record.label_column": [record.label_column],
            "record.other_columns": record.other_columns,
            "features": self.features.columns(),
        }
        seen: dict[str, str] = {}
        for role, columns in roles.items():
            for column in columns:
                if column in seen:
                    raise ValueError(f"{role} {column!r} is also {seen[column]}: a column plays one part")
                seen[column] = role
        if self.regulatory_clock is not None and record.time_column is None:
            raise ValueError("regulatory_clock needs record.time_column: the clock runs from it")
        if self.features.text:
            self._reads_as_reports()
        if "subgroup_shift" in self.drift.output and record.subgroup_column is None:
            raise ValueError("drift.output subgroup_shift needs record.subgroup_column")
        for kind in ("text", "numeric", "categorical"):
            if getattr(self.drift, kind) and not getattr(self.features, kind):
                raise ValueError(f"drift.{kind} lists measures but features.{kind} declares no column")
        return self

    def _reads_as_reports(self) -> None:
        """A use case with a text feature is read, validated and scored by the report contract (DESIGN.md,
        "Contracts"), not by its record contract: refuse a declaration whose columns or labels that path would not
        read, rather than build a graph that ignores them."""
        record, text = self.record, self.features.text[0].column
        declared = {"record.id_column": record.id_column, "record.group_column": record.group_column,
                    "record.subgroup_column": record.subgroup_column, "record.time_column": record.time_column,
                    "record.label_column": record.label_column, "features.text column": text}  # fmt: skip
        names = ("report_id", "document_id", "source", "received_at", "label", "text")
        differing = [f"{role} {value!r} (the report contract's is {name!r})"
                     for (role, value), name in zip(declared.items(), names, strict=True) if value != name]  # fmt: skip
        negative = record.negative_when.values if record.negative_when else ()
        if (set(record.positive_when.values), set(negative)) != (REPORT_LABELS[1], REPORT_LABELS[0]):
            differing.append(f"labels other than the report contract's ({sorted(REPORT_LABELS[1])} for the positive "
                             f"class, {sorted(REPORT_LABELS[0])} for the negative)")  # fmt: skip
        if differing:
            raise ValueError(
                "a use case with a text feature is read by the report contract, whose column names and labels are "
                f"fixed today; this declaration has {'; '.join(differing)}. Rename the columns in the files, or "
                "declare the use case without a text feature"
            )

    def feature_spec(self) -> FeatureSpec:
        return self.features.feature_spec()

    def outcome_name(self, triage: str) -> str:
        """The declared name of an internal triage code (AUTO_CLOSE, REVIEW, PRIORITY), which is what people read:
        metadata, notifications, the CLI. Stored results keep the codes, which the fail-safe, reconciliation and
        realized performance read; this is the one place a code becomes a name."""
        outcomes = {Triage.AUTO_CLOSE.value: self.triage.negative, Triage.REVIEW.value: self.triage.uncertain,
                    Triage.PRIORITY.value: self.triage.positive}  # fmt: skip
        if str(triage) not in outcomes:
            raise ValueError(f"{triage!r} is not a triage code ({', '.join(outcomes)})")
        return outcomes[str(triage)].name

    def wording(self) -> Wording:
        """How a guarantee statement names this use case's positive records and negative outcome: as declared, else
        from the class and outcome names."""
        if self.words is not None:
            return Wording(**self.words.model_dump())
        positive = f"'{self.classes.positive}'"
        return Wording(positive=positive, a_positive=positive, positives=f"records with {positive}", records="records",
                       closed=f"routed {self.triage.negative.name}")  # fmt: skip

    def card_use(self) -> CardUse:
        """What the model card says the model is for, in this use case's words."""
        features = self.features
        kinds = (("hashed word and character n-grams", features.text), ("numeric columns", features.numeric),
                 ("categorical levels", features.categorical))  # fmt: skip
        described = [kind for kind, declared in kinds if declared]
        outcomes = (self.triage.negative.name, self.triage.uncertain.name, self.triage.positive.name)
        return CardUse(use_case=self.id, intended_use=self.intended_use.text, wording=self.wording(),
                       outcomes=outcomes, subgroup=self.record.subgroup_column or "subgroup",
                       features=", ".join(described), hashed_ngrams=bool(features.text))  # fmt: skip

    def outcome_counts(self, counts: Mapping[str, int]) -> dict[str, int]:
        """Counts by triage code as counts by declared name, every outcome shown (0 where none), in the order
        negative, uncertain, positive."""
        return {self.outcome_name(code): int(counts.get(code, 0)) for code in Triage}

    def record_contract(self) -> core_contract.RecordContract:
        """The declaration as core's plain record contract (core never imports governance)."""
        record, features, file_format = self.record, self.features, self.file_format
        return core_contract.RecordContract(
            id_column=record.id_column,
            group_column=record.group_column,
            label_column=record.label_column,
            positive_when=record.positive_when.core_rule(),
            negative_when=record.negative_when.core_rule() if record.negative_when is not None else None,
            subgroup_column=record.subgroup_column,
            time_column=record.time_column,
            numeric=tuple(
                core_contract.NumericColumn(
                    feature.column, feature.unit, feature.valid_range.min, feature.valid_range.max, feature.required
                )
                for feature in features.numeric
            ),
            categorical=tuple(
                core_contract.CategoricalColumn(feature.column, tuple(feature.levels), feature.required)
                for feature in features.categorical
            ),
            other_columns=tuple(record.other_columns),
            file_format=core_contract.FileFormat(file_format.delimiter, file_format.encoding, file_format.decimal),
        )

    def label_of(self, raw: str | None) -> int | None:
        """1 (positive), 0 (negative), or None: missing, or a label that meets neither rule."""
        if raw is None or not raw.strip():
            return None
        negative = self.record.negative_when
        return core_contract.label_of(
            raw,
            self.record.positive_when.core_rule(),
            negative.core_rule() if negative is not None else None,
            self.file_format.decimal,
        )


@dataclass(frozen=True)
class LoadedUseCase:
    """A validated declaration and the hash of the exact bytes it came from, for every model's lineage."""

    use_case: UseCase
    sha256: str
    path: Path

    @property
    def plan_path(self) -> Path:
        """The declared change control plan, resolved against the use-case folder."""
        return Path(os.path.normpath(self.path.parent / self.use_case.plan))


def load_use_case(path: Path | str) -> LoadedUseCase:
    """Read and validate a declaration (the file, or its folder); raise UseCaseError naming every invalid field."""
    path = Path(path)
    if path.is_dir():
        path = path / DECLARATION_FILE
    data = read_document(path, "use case declaration", UseCaseError)
    use_case = validate_document(
        data, UseCase, path, "use case declaration", "use case", UseCaseError, echo_mappings=False
    )
    return LoadedUseCase(use_case=use_case, sha256=sha256_hex(data), path=path)


def discover_use_cases(root: Path | str = USE_CASES_ROOT) -> dict[str, LoadedUseCase]:
    """Every folder under ``root`` (except hidden and ``_`` ones) as its declared use case, by id.

    A folder without a declaration, a declared id other than the folder's name, and two use cases with one
    intended use (whose plans could then judge each other's models) are refused.
    """
    root = Path(root)
    if not root.is_dir():
        raise UseCaseError(f"{root}: no use-case folder")
    found: dict[str, LoadedUseCase] = {}
    intended: dict[str, str] = {}
    for folder in sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith((".", "_"))):
        if not (folder / DECLARATION_FILE).is_file():
            raise UseCaseError(f"{folder}: holds no {DECLARATION_FILE}")
        loaded = load_use_case(folder / DECLARATION_FILE)
        declared = loaded.use_case.id
        if declared != folder.name:
            raise UseCaseError(f"{loaded.path}: id {declared!r} differs from its folder name {folder.name!r}")
        other = intended.setdefault(loaded.use_case.intended_use.id, declared)
        if other != declared:
            raise UseCaseError(
                f"{loaded.path}: intended_use.id {loaded.use_case.intended_use.id!r} is already declared by "
                f"use case {other!r}"
            )
        found[declared] = loaded
    return found


def _undeclared_limits(use_case: UseCase, plan: ChangeControlPlan) -> list[str]:
    """Drift limits of the plan for measures the use case does not take, and a text limit a text use case lacks."""
    drift, reasons = use_case.drift, []
    for name in plan.retraining_triggers.drift.limits():
        measures = DRIFT_LIMIT_MEASURES[name]
        declared = [
            (section, measure)
            for section, measure in measures
            if (drift.domain_classifier if section == "domain_classifier" else measure in getattr(drift, section))
        ]
        if not declared:
            wanted = " or ".join(f"drift.{section}: {measure}" for section, measure in measures)
            reasons.append(f"the plan limits {name}, but the use case does not declare {wanted}")
    if use_case.features.text and plan.retraining_triggers.drift.unseen_ngram_share_max is None:
        reasons.append("the use case has text features, so the plan must set drift.unseen_ngram_share_max")
    return reasons


def plan_mismatches(loaded: LoadedUseCase, plan: ChangeControlPlan) -> list[str]:
    """Why ``plan`` is not this use case's plan (empty = it is): it names this use case, states the same intended
    use, fixes the use case's feature spec, and sets drift limits only for measures the use case declares."""
    use_case, reasons = loaded.use_case, []
    if plan.use_case != use_case.id:
        reasons.append(f"the plan governs use case {plan.use_case!r}, not {use_case.id!r}")
    if plan.intended_use != use_case.intended_use:
        same_id = plan.intended_use.id == use_case.intended_use.id
        reasons.append(
            f"the plan's intended use {plan.intended_use.id!r} differs from the use case's {use_case.intended_use.id!r}"
            + (" (in its text)" if same_id else "")
        )
    if plan.fixed_elements.feature_spec_sha256 != (spec := use_case.feature_spec().sha256):
        reasons.append(
            f"the plan fixes feature spec {plan.fixed_elements.feature_spec_sha256}, the use case declares {spec}"
        )
    return reasons + _undeclared_limits(use_case, plan)


@dataclass(frozen=True)
class DeclaredUseCase:
    """A use case together with the plan in force for it, the two checked to agree."""

    declaration: LoadedUseCase
    plan: LoadedPlan

    @property
    def id(self) -> str:
        return self.declaration.use_case.id


def with_plan(loaded: LoadedUseCase, plan: LoadedPlan) -> DeclaredUseCase:
    """``loaded`` with ``plan``, or PlanError naming both files and every disagreement."""
    reasons = plan_mismatches(loaded, plan.plan)
    if reasons:
        raise PlanError(
            f"{plan.path} is not the plan of use case {loaded.use_case.id!r} ({loaded.path}): " + "; ".join(reasons)
        )
    return DeclaredUseCase(declaration=loaded, plan=plan)


def load_declared(path: Path | str, plan_path: Path | str | None = None) -> DeclaredUseCase:
    """A declaration (file or folder) with its declared plan, or with ``plan_path`` instead (a copy in force)."""
    loaded = load_use_case(path)
    return with_plan(loaded, load_plan(plan_path if plan_path is not None else loaded.plan_path))


def declared_use_cases(
    root: Path | str = USE_CASES_ROOT, override: Path | str | None = None
) -> dict[str, DeclaredUseCase]:
    """Every declared use case under ``root`` with its plan in force, by id.

    ``override`` (GXP_PLAN) is a plan file that replaces the declared plan of the use case it names in its
    ``use_case`` field, for example a copy with a role administrator pinned; it must agree with that declaration like
    the declared plan does, and a plan naming no declared use case is refused.
    """
    declared = discover_use_cases(root)
    replacement = load_plan(override) if override is not None else None
    if replacement is not None and replacement.plan.use_case not in declared:
        raise PlanError(
            f"{replacement.path}: governs use case {replacement.plan.use_case!r}, which is not declared under {root} "
            f"(declared: {', '.join(sorted(declared))})"
        )
    found = {}
    for use_case_id, loaded in declared.items():
        if replacement is not None and replacement.plan.use_case == use_case_id:
            found[use_case_id] = with_plan(loaded, replacement)
        else:
            found[use_case_id] = with_plan(loaded, load_plan(loaded.plan_path))
    return found
