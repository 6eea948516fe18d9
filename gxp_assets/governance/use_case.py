"""A declared use case: ``use_cases/<id>/use_case.yaml``, typed, validated and hashed like the change control plan.

The declaration says everything that makes one use case differ from another, so that the pipeline can hold none of
it in code: the intended use, the record contract (id, group, subgroup, time and label columns, and the rule that
makes a record positive), the file format, the features (one ``FeatureSpec``, plus the units, valid ranges and levels
that a record is checked against), the class names and what each triage outcome means for this use, an optional
regulatory clock, the drift measures per feature type, and where its change control plan lies. The SHA-256 of the
file's exact bytes goes into the lineage of every model built for it, as the plan's does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import field_validator, model_validator

from gxp_assets.core import record_contract as core_contract
from gxp_assets.core.features import FeatureSpec
from gxp_assets.core.hashing import sha256_hex
from gxp_assets.governance.plan import ChangeControlPlan, IntendedUse
from gxp_assets.governance.use_case_schema import (
    ClassNames,
    DriftMeasures,
    Features,
    FileFormat,
    Name,
    RecordContract,
    RegulatoryClock,
    Strict,
    Text,
    TriageOutcomes,
)
from gxp_assets.governance.yaml_document import read_document, validate_document

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
        if "subgroup_shift" in self.drift.output and record.subgroup_column is None:
            raise ValueError("drift.output subgroup_shift needs record.subgroup_column")
        for kind in ("text", "numeric", "categorical"):
            if getattr(self.drift, kind) and not getattr(self.features, kind):
                raise ValueError(f"drift.{kind} lists measures but features.{kind} declares no column")
        return self

    def feature_spec(self) -> FeatureSpec:
        return self.features.feature_spec()

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


def plan_mismatches(loaded: LoadedUseCase, plan: ChangeControlPlan) -> list[str]:
    """Why ``plan`` is not this use case's plan (empty = it is): the same intended use, the same feature spec."""
    use_case, reasons = loaded.use_case, []
    if plan.intended_use != use_case.intended_use:
        reasons.append(
            f"the plan's intended use {plan.intended_use.id!r} differs from the use case's {use_case.intended_use.id!r}"
        )
    if plan.fixed_elements.feature_spec_sha256 != (spec := use_case.feature_spec().sha256):
        reasons.append(
            f"the plan fixes feature spec {plan.fixed_elements.feature_spec_sha256}, the use case declares {spec}"
        )
    return reasons
