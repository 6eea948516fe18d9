"""Use-case declarations: the repository's two load and are pinned, invalid ones are refused naming the field."""

from __future__ import annotations

import copy
import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from gxp_assets.core.conformal import Triage
from gxp_assets.core.features import DEFAULT_FEATURE_SPEC
from gxp_assets.core.validation import VALID_LABELS
from gxp_assets.governance.plan import DEFAULT_PLAN_PATH, load_plan
from gxp_assets.governance.use_case import (
    USE_CASES_ROOT,
    LoadedUseCase,
    UseCaseError,
    discover_use_cases,
    load_use_case,
    plan_mismatches,
)
from gxp_assets.governance.use_case_schema import LabelRule

REPO_USE_CASES = Path(__file__).resolve().parents[2] / "use_cases"


@pytest.fixture(scope="module")
def repository() -> dict[str, LoadedUseCase]:
    return discover_use_cases(REPO_USE_CASES)


def write_use_case(root: Path, folder: str, values: dict) -> Path:
    path = root / folder / "use_case.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(values, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def declared(name: str) -> dict:
    return yaml.safe_load((REPO_USE_CASES / name / "use_case.yaml").read_text(encoding="utf-8"))


# --- the repository's use cases ------------------------------------------------------------------------------------


def test_both_repository_use_cases_load_with_the_hash_of_their_bytes(repository: dict[str, LoadedUseCase]) -> None:
    assert USE_CASES_ROOT == REPO_USE_CASES
    assert sorted(repository) == ["ae_triage", "dissolution_risk"]
    for name, loaded in repository.items():
        assert loaded.use_case.id == name
        assert loaded.sha256 == hashlib.sha256(loaded.path.read_bytes()).hexdigest()


def test_ae_triage_declares_todays_feature_spec_triage_and_plan(repository: dict[str, LoadedUseCase]) -> None:
    loaded = repository["ae_triage"]
    use_case = loaded.use_case
    assert use_case.feature_spec() == DEFAULT_FEATURE_SPEC
    assert use_case.feature_spec().sha256 == DEFAULT_FEATURE_SPEC.sha256
    names = (use_case.triage.negative.name, use_case.triage.uncertain.name, use_case.triage.positive.name)
    assert names == (Triage.AUTO_CLOSE.value, Triage.REVIEW.value, Triage.PRIORITY.value)
    record = use_case.record
    assert (record.id_column, record.group_column, record.subgroup_column, record.time_column) == (
        "report_id", "document_id", "source", "received_at"
    )  # fmt: skip
    assert use_case.regulatory_clock is not None and use_case.regulatory_clock.days == 15
    assert loaded.plan_path.resolve() == DEFAULT_PLAN_PATH
    assert plan_mismatches(loaded, load_plan(loaded.plan_path).plan) == []


def test_the_regulatory_clock_scoring_uses_is_the_declared_one(repository: dict[str, LoadedUseCase]) -> None:
    from datetime import timedelta

    from gxp_assets.defs.batch_reading import regulatory_clock

    assert regulatory_clock(repository["ae_triage"].use_case) == timedelta(days=15)
    assert regulatory_clock(repository["dissolution_risk"].use_case) is None  # declared null: due_at stays empty
    assert regulatory_clock(repository["dissolution_risk"].use_case, 3) == timedelta(days=3)  # run config wins


def test_a_plan_of_another_use_case_is_named_as_such(repository: dict[str, LoadedUseCase]) -> None:
    reasons = plan_mismatches(repository["dissolution_risk"], load_plan(DEFAULT_PLAN_PATH).plan)
    assert len(reasons) == 4
    assert reasons[0] == "the plan governs use case 'ae_triage', not 'dissolution_risk'"
    assert "intended use 'ae-triage-v1'" in reasons[1] and "'dissolution-risk-v1'" in reasons[1]
    assert DEFAULT_FEATURE_SPEC.sha256 in reasons[2]
    assert "unseen_ngram_share_max" in reasons[3] and "drift.text: unseen_ngram_share" in reasons[3]


def test_dissolution_risk_is_tabular_with_a_decimal_comma_and_no_clock(repository: dict[str, LoadedUseCase]) -> None:
    use_case = repository["dissolution_risk"].use_case
    spec = use_case.feature_spec()
    assert spec.text_column is None and spec.sentence_encoder is None
    assert len(spec.numeric_columns) == 8 and spec.categorical_columns == ("excipient_supplier", "line")
    assert (use_case.file_format.delimiter, use_case.file_format.decimal) == (";", ",")
    assert use_case.regulatory_clock is None
    assert use_case.triage.negative.name == "RELEASE_REVIEW_NOT_NEEDED" and use_case.triage.positive.name == "HOLD"


@pytest.mark.parametrize(
    ("name", "raw", "label"),
    [
        ("ae_triage", "1", 1), ("ae_triage", "0.0", 0), ("ae_triage", "2", None), ("ae_triage", "", None),
        ("dissolution_risk", "79,9", 1), ("dissolution_risk", "80,0", 0), ("dissolution_risk", "101", 0),
        ("dissolution_risk", "79.9", None),  # a decimal point in a decimal-comma file is not guessed
        ("dissolution_risk", "n/a", None), ("dissolution_risk", None, None),
    ],
)  # fmt: skip
def test_the_label_rule_makes_positives(
    repository: dict[str, LoadedUseCase], name: str, raw: str | None, label: int | None
) -> None:
    assert repository[name].use_case.label_of(raw) == label


def test_ae_triage_labels_are_the_ones_validation_accepts_today(repository: dict[str, LoadedUseCase]) -> None:
    use_case = repository["ae_triage"].use_case
    assert {raw: use_case.label_of(f" {raw} ") for raw in VALID_LABELS} == VALID_LABELS
    assert [use_case.label_of(raw) for raw in ("yes", "01", "1,0", "-1")] == [None] * 4


def test_an_above_rule_is_strict_and_reads_the_declared_decimal_mark() -> None:
    rule = LabelRule(above=5.0)
    assert [rule.matches(raw, ",") for raw in ("5,1", "5,0", "5.1", "x")] == [True, False, None, None]
    assert rule.matches("5.1", ".") is True


def test_the_hash_changes_with_any_byte(tmp_path: Path) -> None:
    folder = tmp_path / "dissolution_risk"
    shutil.copytree(REPO_USE_CASES / "dissolution_risk", folder)
    path = folder / "use_case.yaml"
    original = load_use_case(folder)
    data = path.read_bytes()
    path.write_bytes(data.replace(b"# Batch-record exports", b"# Batch-record export "))  # a comment, same length
    edited = load_use_case(path)
    assert edited.use_case == original.use_case
    assert edited.sha256 != original.sha256 == hashlib.sha256(data).hexdigest()


# --- invalid declarations --------------------------------------------------------------------------------------------


def _set(values: dict, dotted: str, value: object) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        values = values[int(part)] if isinstance(values, list) else values[part]
    if value is _DELETE:
        del values[last]
    else:
        values[last] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("change", "value", "message"),
    [
        ("file_format.quote", '"', r"file_format\.quote: unknown field"),
        ("file_format.delimiter", ";;", r"file_format\.delimiter: .*one character"),
        ("file_format.delimiter", ",", r"file_format\.delimiter and file_format\.decimal are both ','"),
        ("file_format.encoding", "utf-9", r"file_format\.encoding: .*unknown text encoding 'utf-9'"),
        ("file_format.decimal", "·", r"file_format\.decimal"),
        ("features.numeric.3.valid_range", {"min": 3.0, "max": 0.1},
         r"features\.numeric\.3\.valid_range: .*valid_range\.min \(3\.0\) must not exceed valid_range\.max \(0\.1\)"),
        ("record.label_column", _DELETE, r"record\.label_column: required field is missing"),
        ("record.label_column", "mgst_pct",
         r"features 'mgst_pct' is also record\.label_column: a column plays one part"),  # the outcome as a feature
        ("record.positive_when", {"below": 80.0, "above": 105.0}, r"record\.positive_when: .*exactly one of"),
        ("record.time_column", _DELETE, r"regulatory_clock needs record\.time_column"),  # with a clock below
        ("drift.text", ["unseen_ngram_share"], r"drift\.text lists measures but features\.text declares no column"),
        ("drift.numeric", ["psi", "kl"], r"drift\.numeric\.1"),
        ("features.categorical.0.levels", ["SUP-A", "SUP-A"], r"features\.categorical\.0\.levels: .*'SUP-A'"),
        ("triage.positive.name", "REVIEW", r"triage: .*triage outcome names lists \['REVIEW'\]"),
        ("plan", "/etc/plan.yaml", r"plan: .*relative path"),
        ("features.numeric.0.valid_range.min", "1,0", r"features\.numeric\.0\.valid_range\.min"),  # no coercion
    ],
)  # fmt: skip
def test_an_invalid_declaration_is_refused_naming_the_field(
    tmp_path: Path, change: str, value: object, message: str
) -> None:
    values = declared("dissolution_risk")
    if change == "record.time_column":
        values["regulatory_clock"] = {"days": 15, "basis": "a clock without a time to run from"}
    _set(values, change, value)
    path = write_use_case(tmp_path, "dissolution_risk", values)
    with pytest.raises(UseCaseError, match=message) as caught:
        load_use_case(path)
    assert str(path) in str(caught.value)


def test_a_label_given_as_a_number_is_not_coerced_and_a_second_text_column_is_refused(tmp_path: Path) -> None:
    values = declared("ae_triage")
    values["record"]["positive_when"] = {"equals": 1}
    with pytest.raises(UseCaseError, match=r"record\.positive_when\.equals"):
        load_use_case(write_use_case(tmp_path, "ae_triage", values))
    values = declared("ae_triage")
    values["features"]["text"].append({**values["features"]["text"][0], "column": "title"})
    with pytest.raises(UseCaseError, match=r"features\.text: .*at most 1 item"):
        load_use_case(write_use_case(tmp_path, "ae_triage", values))


@pytest.mark.parametrize(
    ("change", "value", "named"),
    [
        ("features.text.0.column", "narrative", "features.text column 'narrative' (the report contract's is 'text')"),
        ("record.subgroup_column", "channel", "record.subgroup_column 'channel' (the report contract's is 'source')"),
        ("record.positive_when", {"equals": ["yes"]}, "labels other than the report contract's"),
    ],
)
def test_a_text_use_case_the_report_path_would_not_read_is_refused_naming_what_differs(
    tmp_path: Path, change: str, value: object, named: str
) -> None:
    """A text use case is read by the report contract: columns or labels it would ignore are refused at load, not
    built into a graph that reads other columns than the declared ones."""
    values = declared("ae_triage")
    _set(values, change, value)
    if change == "record.positive_when":
        values["record"]["negative_when"] = {"equals": ["no"]}
    with pytest.raises(UseCaseError, match="a use case with a text feature is read by the report contract") as caught:
        load_use_case(write_use_case(tmp_path, "ae_triage", values))
    assert named in str(caught.value)


def test_a_folder_whose_declared_id_differs_from_its_name_is_refused(tmp_path: Path) -> None:
    write_use_case(tmp_path, "ae_triage", declared("ae_triage"))
    write_use_case(tmp_path, "tablets", declared("dissolution_risk"))
    with pytest.raises(UseCaseError, match=r"tablets.*id 'dissolution_risk' differs from its folder name 'tablets'"):
        discover_use_cases(tmp_path)


def test_two_use_cases_with_one_intended_use_are_refused(tmp_path: Path) -> None:
    copy_of_ae = copy.deepcopy(declared("ae_triage"))
    copy_of_ae["id"] = "ae_triage_copy"
    write_use_case(tmp_path, "ae_triage", declared("ae_triage"))
    write_use_case(tmp_path, "ae_triage_copy", copy_of_ae)
    with pytest.raises(UseCaseError, match=r"intended_use\.id 'ae-triage-v1' is already declared by use case"):
        discover_use_cases(tmp_path)


def test_a_folder_without_a_declaration_is_refused_and_hidden_folders_are_passed_over(tmp_path: Path) -> None:
    write_use_case(tmp_path, "ae_triage", declared("ae_triage"))
    (tmp_path / ".cache").mkdir()
    (tmp_path / "README.md").write_text("use cases\n")
    assert list(discover_use_cases(tmp_path)) == ["ae_triage"]
    (tmp_path / "tablets").mkdir()
    (tmp_path / "tablets" / "use-case.yaml").write_text("id: tablets\n")  # misnamed: refused, not skipped
    with pytest.raises(UseCaseError, match=r"tablets: holds no use_case\.yaml"):
        discover_use_cases(tmp_path)


def test_unreadable_and_non_mapping_declarations_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UseCaseError, match="cannot read use case declaration"):
        load_use_case(tmp_path / "absent" / "use_case.yaml")
    listing = tmp_path / "use_case.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(UseCaseError, match="use case declaration must be a mapping"):
        load_use_case(tmp_path)
