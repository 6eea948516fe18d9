"""The sections of a use-case declaration (gxp_assets.governance.use_case), each a strict pydantic model.

Record contract, file format, features, classes and triage meaning, regulatory clock and drift measures: every
field is typed and checked on loading, so that a typo or an impossible value stops the declaration, not a run.
"""

from __future__ import annotations

import codecs
import math
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from gxp_assets.core import record_contract as core_contract
from gxp_assets.core.features import FeatureSpec

# Lower-case snake case: a use-case id becomes a Dagster key prefix, and the loaders lower-case column names.
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
OutcomeName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# What core.drift measures today on the model's output and on text (``subgroup_shift`` is what it reports as
# ``source_shift``), and the per-column measures a tabular use case adds.
OutputMeasure = Literal["score_psi", "review_share", "subgroup_shift"]
TextMeasure = Literal["unseen_ngram_share", "length_psi"]
NumericMeasure = Literal["psi", "missing_share", "out_of_range_share"]
CategoricalMeasure = Literal["psi", "missing_share", "unseen_level_share"]


class Strict(BaseModel):
    """No unknown keys (a misspelt field must not be ignored) and no silent type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def distinct(values: list[str], what: str) -> list[str]:
    repeated = sorted({value for value in values if values.count(value) > 1})
    if repeated:
        raise ValueError(f"{what} lists {repeated} more than once")
    return values


class LabelRule(Strict):
    """Exactly one of: the label text is one of ``equals``; the label number is ``below`` or ``above`` a limit."""

    equals: Text | list[Text] | None = None
    below: float | None = None
    above: float | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> LabelRule:
        given = [name for name in ("equals", "below", "above") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of equals, below, above; got {given or 'none'}")
        if isinstance(self.equals, list):
            if not self.equals:
                raise ValueError("equals lists no value")
            distinct(self.equals, "equals")
        for limit in (self.below, self.above):
            if limit is not None and not math.isfinite(limit):
                raise ValueError(f"a limit must be a finite number, got {limit}")
        return self

    @property
    def values(self) -> tuple[str, ...]:
        """The label texts an ``equals`` rule accepts (none for a numeric rule)."""
        if self.equals is None:
            return ()
        return (self.equals,) if isinstance(self.equals, str) else tuple(self.equals)

    def core_rule(self) -> core_contract.LabelRule:
        """The rule as core applies it (core.record_contract: one reading of numbers for labels and features)."""
        return core_contract.LabelRule(equals=self.values, below=self.below, above=self.above)

    def matches(self, raw: str, decimal: str) -> bool | None:
        """Whether the label text ``raw`` meets the rule; None when a numeric rule meets no number."""
        return self.core_rule().matches(raw, decimal)


class RecordContract(Strict):
    """Which column plays which part in a record; other columns of the file are kept but not used."""

    id_column: Name
    group_column: Name  # records of one group stay on one side of a split (document, case, product code)
    subgroup_column: Name | None = None  # judged separately (report source, manufacturing site)
    time_column: Name | None = None  # UTC; when the record was received or made; a regulatory clock runs from it
    label_column: Name
    positive_when: LabelRule
    # Only with an ``equals`` rule: then a label matching neither rule is invalid; without it, anything not
    # positive is negative.
    negative_when: LabelRule | None = None
    other_columns: list[Name] = []  # kept with the record, never features (e.g. a product name)

    @model_validator(mode="after")
    def _negative_rule(self) -> RecordContract:
        if self.negative_when is not None:
            if not (self.positive_when.values and self.negative_when.values):
                raise ValueError("negative_when applies to equals rules only (positive_when and negative_when)")
            if overlap := sorted(set(self.positive_when.values) & set(self.negative_when.values)):
                raise ValueError(f"the labels {overlap} are both positive_when and negative_when")
        return self


class FileFormat(Strict):
    """How a delimited text file of records is written (JSON Lines and Parquet carry their own types)."""

    delimiter: str
    encoding: str  # used unless the file starts with a byte-order mark
    decimal: Literal[".", ","]

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1 or value in "\"'\r\n" or value.isalnum():
            raise ValueError(f"the delimiter must be one character, not a quote, newline, letter or digit: {value!r}")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError as error:
            raise ValueError(f"unknown text encoding {value!r}") from error
        return value

    @model_validator(mode="after")
    def _delimiter_is_not_the_decimal_mark(self) -> FileFormat:
        if self.delimiter == self.decimal:
            raise ValueError(f"file_format.delimiter and file_format.decimal are both {self.decimal!r}")
        return self


def _ngram_range(value: list[int]) -> list[int]:
    if len(value) != 2 or not 1 <= value[0] <= value[1]:
        raise ValueError(f"an n-gram range is [shortest, longest] with 1 <= shortest <= longest, got {value}")
    return value


NgramRange = Annotated[list[int], AfterValidator(_ngram_range)]
Levels = Annotated[list[Text], Field(min_length=1), AfterValidator(lambda value: distinct(value, "levels"))]


class TextFeature(Strict):
    """A text column as hashed word and character n-grams, optionally with a pinned sentence encoder."""

    column: Name
    weighting: Literal["presence", "log_count_l2"]
    word_ngrams: NgramRange
    char_ngrams: NgramRange
    word_buckets: int = Field(ge=1)
    char_buckets: int = Field(ge=1)
    sentence_encoder: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[0-9a-f]{64}$")] | None = None


class ValidRange(Strict):
    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> ValidRange:
        if not (math.isfinite(self.min) and math.isfinite(self.max)) or self.min > self.max:
            raise ValueError(f"valid_range.min ({self.min}) must not exceed valid_range.max ({self.max})")
        return self


class NumericFeature(Strict):
    column: Name
    unit: Text
    valid_range: ValidRange  # a value outside it is quarantined, not clipped
    required: bool = True  # False: a missing value is a feature (NaN), not a reason to quarantine


class CategoricalFeature(Strict):
    column: Name
    levels: Levels  # a value outside them is quarantined
    required: bool = True


class Features(Strict):
    """The declared features; ``feature_spec()`` is the one ``FeatureSpec`` they make."""

    name: Text
    version: Text
    dtype: Literal["float32", "float64"] = "float32"
    categorical_buckets: int = Field(default=2**10, ge=1)
    # FeatureSpec featurizes one text column.
    text: list[TextFeature] = Field(default=[], max_length=1)
    numeric: list[NumericFeature] = []
    categorical: list[CategoricalFeature] = []

    @model_validator(mode="after")
    def _some_feature(self) -> Features:
        if not (self.text or self.numeric or self.categorical):
            raise ValueError("declare at least one text, numeric or categorical feature")
        return self

    def columns(self) -> list[str]:
        return [feature.column for part in (self.text, self.numeric, self.categorical) for feature in part]

    def feature_spec(self) -> FeatureSpec:
        text: dict = {}
        if self.text:
            (feature,) = self.text
            text = {
                "text_column": feature.column,
                "text_weighting": feature.weighting,
                "word_ngrams": tuple(feature.word_ngrams),
                "char_ngrams": tuple(feature.char_ngrams),
                "word_buckets": feature.word_buckets,
                "char_buckets": feature.char_buckets,
                "sentence_encoder": feature.sentence_encoder,
            }
        return FeatureSpec(
            name=self.name,
            version=self.version,
            **({"text_column": None} | text),
            numeric_columns=tuple(feature.column for feature in self.numeric),
            categorical_columns=tuple(feature.column for feature in self.categorical),
            categorical_buckets=self.categorical_buckets,
            dtype=self.dtype,
        )


class ClassNames(Strict):
    negative: Text
    positive: Text


class StatementWording(Strict):
    """How the guarantee statement and the model card name this use case's records (optional: by default they are
    derived from ``classes`` and ``triage``, e.g. "records with 'dissolution below specification'")."""

    positive: Text  # the positive class as an adjective ("AE documents")
    a_positive: Text  # one record of the positive class ("units with an AE")
    positives: Text  # records of the positive class ("AE reports")
    records: Text  # records in general ("reports")
    closed: Text  # what the negative outcome does to a record ("auto-closed")


class Outcome(Strict):
    name: OutcomeName
    meaning: Text


class TriageOutcomes(Strict):
    """What each conformal outcome is called and means for this use."""

    negative: Outcome  # the prediction set holds the negative class only
    uncertain: Outcome  # both classes, or neither
    positive: Outcome  # the positive class only

    @model_validator(mode="after")
    def _distinct_names(self) -> TriageOutcomes:
        distinct([self.negative.name, self.uncertain.name, self.positive.name], "triage outcome names")
        return self


class RegulatoryClock(Strict):
    days: int = Field(ge=1)
    basis: Text  # the regulation or procedure that sets it


class DemoData(Strict):
    """Synthetic data for `gxp demo --use-case ID`: a generator registered in core (core.record_demo), how many
    labelled records to train on, and how many records the scored batch holds."""

    generator: Name
    records: int = Field(ge=1)
    batch_records: int = Field(ge=1)
    seed: int = Field(default=0, ge=0)

    @field_validator("generator")
    @classmethod
    def _registered(cls, value: str) -> str:
        from gxp_assets.core.record_demo import DEMO_GENERATORS

        if value not in DEMO_GENERATORS:
            raise ValueError(f"no demo generator {value!r} in core.record_demo (registered: {sorted(DEMO_GENERATORS)})")
        return value


class DriftMeasures(Strict):
    """What a scored batch is compared with its reference on; the plan's limits decide which are judged."""

    output: list[OutputMeasure]
    text: list[TextMeasure] = []
    numeric: list[NumericMeasure] = []
    categorical: list[CategoricalMeasure] = []
    domain_classifier: bool  # out-of-fold AUROC of a classifier telling batch from reference, on all features

    @field_validator("output", "text", "numeric", "categorical")
    @classmethod
    def _once(cls, value: list[str]) -> list[str]:
        return distinct(value, "a drift measure list")
