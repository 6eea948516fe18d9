from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gxp_assets.core.contracts import INTAKE_COLUMNS, REPORT_FIELDS, ReportFileError
from gxp_assets.core.loaders import load_ade_corpus, load_contract_files

HEADER = "report_id,document_id,source,text,received_at,label,product\n"


def test_csv_records_keep_their_bytes_and_first_line(tmp_path: Path) -> None:
    body = (
        HEADER
        + 'r1,d1,call_centre,"Caller says: ""dizzy"",\nthen fainted",2026-01-02T10:00:00Z,1,warfarin\n'
        + "\n"
        + "r2,d1,call_centre,no issues,2026-01-02T11:00:00Z,0,\n"
    )
    path = tmp_path / "reports.csv"
    path.write_bytes(body.encode())
    intake = load_contract_files(path)
    assert list(intake.columns[: len(REPORT_FIELDS)]) == list(REPORT_FIELDS)
    assert set(INTAKE_COLUMNS) <= set(intake.columns)
    first, second = intake.to_dict("records")
    assert first["text"] == 'Caller says: "dizzy",\nthen fainted'
    assert (
        first["raw"] == b'r1,d1,call_centre,"Caller says: ""dizzy"",\nthen fainted",2026-01-02T10:00:00Z,1,warfarin\n'
    )
    assert (first["source_line"], second["source_line"]) == (2, 5)
    assert second["product"] == ""
    assert list(intake["intake_seq"]) == [0, 1]


def test_rows_with_the_wrong_number_of_fields_are_kept_as_malformed(tmp_path: Path) -> None:
    path = tmp_path / "reports.csv"
    path.write_text(HEADER + "r1,d1,x,text,2026-01-01T00:00:00Z,0,,surplus\nr2,d2\n")
    intake = load_contract_files(path)
    assert intake["parse_error"].tolist() == [
        "row has 8 fields where the header has 7",
        "row has 2 fields where the header has 7",
    ]
    assert intake["report_id"].isna().all()


def test_jsonl_bad_lines_do_not_stop_the_file(tmp_path: Path) -> None:
    path = tmp_path / "reports.jsonl"
    good = {"report_id": "r1", "document_id": "d1", "source": "x", "text": "t", "label": 1, "received_at": None}
    path.write_text(json.dumps(good) + "\n{not json\n[1, 2]\n")
    intake = load_contract_files(path)
    assert intake.loc[0, "label"] == "1" and intake.loc[0, "received_at"] is None
    assert intake.loc[1, "parse_error"].startswith("not valid JSON")
    assert intake.loc[2, "parse_error"] == "a JSON list, not an object"
    assert intake["source_line"].tolist() == [1, 2, 3]


def test_parquet_rows_and_extra_columns(tmp_path: Path) -> None:
    frame = pd.DataFrame({"report_id": ["r1"], "document_id": ["d1"], "text": ["t"], "label": [1], "age": [54]})
    frame.to_parquet(tmp_path / "a.parquet")
    intake = load_contract_files(tmp_path)
    assert intake.loc[0, "label"] == "1" and intake.loc[0, "age"] == "54"
    assert json.loads(intake.loc[0, "raw"])["age"] == "54"


def test_a_folder_is_read_in_name_order_and_unknown_types_are_refused(tmp_path: Path) -> None:
    (tmp_path / "b.csv").write_text(HEADER + "r2,d,s,t,,0,\n")
    (tmp_path / "a.csv").write_text(HEADER + "r1,d,s,t,,0,\n")
    assert load_contract_files(tmp_path)["report_id"].tolist() == ["r1", "r2"]
    (tmp_path / "c.xlsx").write_bytes(b"PK")
    with pytest.raises(ReportFileError, match=r"c\.xlsx: has an unsupported type"):
        load_contract_files(tmp_path)


def test_empty_csv_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(ReportFileError, match=r"empty\.csv, line 1"):
        load_contract_files(path)


def _write_mini_ade(folder: Path) -> None:
    folder.mkdir()
    (folder / "DRUG-AE.rel").write_text(
        "11|Drug X caused rash.|rash|12|16|Drug X|0|6\n"
        "11|Drug X caused rash.|rash|12|16|Drug Y|0|6\n"
        "12|Fever | after drug Z.|Fever|0|5|drug Z|18|24\n"
        "broken line\n"
    )
    (folder / "ADE-NEG.txt").write_text("13 NEG Nothing happened.\n13 NEG Nothing happened.\n14 POS odd\n")


def test_ade_relations_collapse_to_one_record_per_sentence(tmp_path: Path) -> None:
    _write_mini_ade(tmp_path / "ade")
    intake = load_ade_corpus(tmp_path / "ade")
    positives = intake[intake["label"] == "1"]
    assert positives["text"].tolist() == ["Drug X caused rash.", "Fever | after drug Z."]
    assert positives.iloc[0]["product"] == "Drug X; Drug Y"
    assert positives.iloc[0]["raw"].count(b"\n") == 2  # both relation lines are kept as received
    assert positives["document_id"].tolist() == ["PMID:11", "PMID:12"]
    negatives = intake[intake["label"] == "0"]
    assert len(negatives) == 2 and negatives["report_id"].is_unique  # repeated lines reach validation
    assert intake["parse_error"].notna().sum() == 2  # the broken relation and the non-NEG line


def test_ade_folder_without_its_files_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ReportFileError, match=r"DRUG-AE\.rel: is missing"):
        load_ade_corpus(tmp_path)


def test_a_broken_csv_record_is_kept_and_the_file_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "reports.csv"
    path.write_bytes(
        (HEADER + 'r1,d,s,te\rxt,,0,\nr2,d,s,fine,,0,\nr3,d,s,"unterminated,,0,\nr4,d,s,ok,,0,\n').encode()
    )
    intake = load_contract_files(path)
    assert intake.loc[0, "parse_error"].startswith("not valid CSV")
    assert intake.loc[0, "raw"] == b"r1,d,s,te\rxt,,0,\n"
    assert intake.loc[1, "report_id"] == "r2"
    assert intake.loc[2, "parse_error"].endswith("(spans lines 4-5)")  # the quote swallowed r4; its bytes stay
    assert intake.loc[2, "raw"].endswith(b"r4,d,s,ok,,0,\n")


def test_an_unknown_declared_encoding_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "reports.csv"
    path.write_text(HEADER)
    with pytest.raises(ReportFileError, match=r"reports\.csv: declared encoding 'latin-9x' is unknown"):
        load_contract_files(path, encoding="latin-9x")


def test_typed_values_are_described_not_coerced_and_other_columns_stay_text(tmp_path: Path) -> None:
    table = pa.table({"report_id": pa.array([b"r1"], pa.binary()), "document_id": [12345],
                      "text": pa.array([{"body": "rash"}], pa.struct([("body", pa.string())]))})  # fmt: skip
    pq.write_table(table, tmp_path / "typed.parquet")
    intake = load_contract_files(tmp_path)
    assert intake.loc[0, "type_error"] == "report_id is a binary value (b'r1'), not a string"
    assert intake.loc[0, "document_id"] == "12345"  # only STRING_FIELDS must be strings: a numeric PMID is text
    (tmp_path / "typed.parquet").unlink()
    lines = ['{"report_id": "r1", "text": {"body": "rash"}}', '{"report_id": "r2", "text": "t"}']
    (tmp_path / "ok.jsonl").write_text("\n".join(lines) + "\n")
    intake = load_contract_files(tmp_path)
    assert intake["type_error"].tolist() == ['text is an object ({"body": "rash"}), not a string', None]
