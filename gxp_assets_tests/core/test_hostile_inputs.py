"""Hostile report files through loading and validation: each bad record must end up somewhere, for a stated reason.

The files are written at test time by :mod:`gxp_assets_tests.hostile_files`. Every test asserts the fate of every
record of its file (valid, or quarantined with the expected reason), that reconciliation finds nothing missing,
and where it matters that a quarantined record keeps exactly the bytes it arrived as.

Run ``python -m gxp_assets_tests.core.test_hostile_inputs`` to print what became of each hostile case.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from gxp_assets.core.contracts import RECORD_CONTRACT_REASONS, Reason, ReportFileError
from gxp_assets.core.loaders import load_contract_files
from gxp_assets.core.validation import ValidationResult, ValidationRules, reconcile, validate_reports
from gxp_assets_tests.hostile_files import BIG_TEXT_CHARS, GARBAGE, write_all, write_garbage

NOW = datetime(2026, 11, 26, tzinfo=UTC)

Outcome = tuple[int, str | None, str]  # (source_line, report_id as received, "valid" or reason code)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """All loadable hostile files in one folder, written once: the 50 MiB line is costly to repeat."""
    return write_all(tmp_path_factory.mktemp("hostile"), exclude={GARBAGE})


def validate(path: Path, encoding: str | None = None, rules: ValidationRules | None = None) -> Loaded:
    intake = load_contract_files(path, encoding)
    return Loaded(intake, validate_reports(intake, rules or ValidationRules(), now=NOW))


class Loaded:
    """An intake table and its validation result, with the lookups the tests need."""

    def __init__(self, intake: pd.DataFrame, result: ValidationResult) -> None:
        self.intake, self.result = intake, result

    def outcomes(self) -> list[Outcome]:
        """The fate of every record in intake order."""
        reasons = dict(zip(self.result.quarantined["intake_seq"], self.result.quarantined["reason"], strict=True))
        valid = set(self.result.valid["intake_seq"])
        fates = []
        for seq, line, report_id in zip(
            self.intake["intake_seq"], self.intake["source_line"], self.intake["report_id"], strict=True
        ):
            fates.append((line, report_id, "valid" if seq in valid else reasons.get(seq, "LOST")))
        return fates

    def problems(self) -> list[str]:
        return reconcile(self.intake, self.result.valid, self.result.quarantined)

    def quarantined(self, line: int) -> dict:
        """The quarantine row of the record that starts at ``line``."""
        rows = self.result.quarantined[self.result.quarantined["source_line"] == line].to_dict("records")
        assert len(rows) == 1, f"expected one quarantined record at line {line}, found {len(rows)}"
        return rows[0]

    def valid(self, report_id: str) -> dict:
        rows = self.result.valid[self.result.valid["report_id"] == report_id].to_dict("records")
        assert len(rows) == 1, f"expected one valid record {report_id!r}, found {len(rows)}"
        return rows[0]


def file_lines(path: Path) -> list[bytes]:
    """The file's bytes split after each LF only (CR stays with its line), as the loader splits them."""
    data = path.read_bytes()
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    return [*lines, parts[-1]] if parts[-1] else lines


def original(path: Path, line: int, count: int = 1) -> bytes:
    """The bytes of ``count`` physical lines starting at 1-based ``line``."""
    return b"".join(file_lines(path)[line - 1 : line - 1 + count])


def test_latin1_without_declared_encoding_quarantines_the_non_ascii_records(files: dict[str, Path]) -> None:
    path = files["latin1.csv"]
    loaded = validate(path)
    assert loaded.outcomes() == [
        (2, "latin1-ok1", "valid"),
        (3, "latin1-1", Reason.INVALID_ENCODING),
        (4, "latin1-2", Reason.INVALID_ENCODING),
        (5, "latin1-ok2", "valid"),
    ]
    assert loaded.problems() == []
    umlauts = loaded.quarantined(3)
    assert umlauts["raw"] == original(path, 3)
    assert b"\xfc" in umlauts["raw"] and b"\xdf" in umlauts["raw"]  # ü and ß as Latin-1 bytes, untouched
    assert "0xFC" in umlauts["detail"] and "declare the file's encoding" in umlauts["detail"]
    assert loaded.quarantined(4)["raw"] == original(path, 4)


def test_latin1_with_declared_encoding_is_all_valid_and_decoded(files: dict[str, Path]) -> None:
    loaded = validate(files["latin1.csv"], encoding="latin-1")
    assert [fate for _, _, fate in loaded.outcomes()] == ["valid"] * 4
    assert loaded.problems() == []
    assert loaded.valid("latin1-1")["text"] == "Patientin klagt über Übelkeit, Größe der Dosis unklar"
    assert loaded.valid("latin1-2")["text"] == "Le patient a présenté une éruption cutanée"
    assert set(loaded.intake["encoding"]) == {"latin-1"}


def test_utf16_with_bom_is_decoded_and_keeps_its_bytes(files: dict[str, Path]) -> None:
    path = files["utf16_bom.csv"]
    loaded = validate(path)
    assert loaded.outcomes() == [
        (2, "utf16_bom-ok1", "valid"),
        (3, "utf16_bom-1", "valid"),
        (4, "utf16_bom-2", Reason.EMPTY_TEXT),  # an ideographic space only
        (5, "utf16_bom-ok2", "valid"),
    ]
    assert loaded.problems() == []
    assert loaded.valid("utf16_bom-1")["text"] == "患者は発疹を報告した; Übelkeit, ωμέγα-3"
    assert set(loaded.intake["encoding"]) == {"utf-16-le"}
    data = path.read_bytes()
    assert data.startswith(b"\xff\xfe")
    text_lines = data[2:].decode("utf-16-le").split("\n")
    raw = loaded.quarantined(4)["raw"]
    assert raw == (text_lines[3] + "\n").encode("utf-16-le")
    assert data.find(raw) % 2 == 0  # the very bytes of the file, at a code-unit boundary


def test_invalid_utf8_bytes_quarantine_only_their_record(files: dict[str, Path]) -> None:
    path = files["invalid_utf8.csv"]
    loaded = validate(path)
    assert loaded.outcomes() == [
        (2, "invalid_utf8-ok1", "valid"),
        (3, "invalid_utf8-naive", "valid"),
        (4, "invalid_utf8-1", Reason.INVALID_ENCODING),
        (5, "invalid_utf8-ok2", "valid"),
    ]
    assert loaded.problems() == []
    assert loaded.valid("invalid_utf8-naive")["text"] == "naïve patient, café au lait spots"
    bad = loaded.quarantined(4)
    assert bad["raw"] == original(path, 4)
    assert b"\xff\xfe\xfa" in bad["raw"]
    assert "0xFF, 0xFE, 0xFA" in bad["detail"]


def test_garbage_file_is_rejected_naming_the_file_and_line(tmp_path: Path) -> None:
    path = write_garbage(tmp_path)
    with pytest.raises(ReportFileError) as caught:
        load_contract_files(path)
    message = str(caught.value)
    assert GARBAGE in message and "line" in message
    assert caught.value.line == path.read_bytes().split(b"\x00", 1)[0].count(b"\n") + 1  # the line of the first NUL


def test_a_50_mib_line_is_quarantined_whole_and_nothing_else_is_lost(files: dict[str, Path]) -> None:
    path = files["big_line.csv"]
    loaded = validate(path)
    assert loaded.outcomes() == [
        (2, "big_line-ok1", "valid"),
        (3, "big_line-1", Reason.TEXT_TOO_LONG),
        (4, "big_line-ok2", "valid"),
    ]
    assert loaded.problems() == []
    big = loaded.quarantined(3)
    assert len(big["raw"]) > 50_000_000
    assert big["raw"] == original(path, 3)
    assert big["detail"] == f"text has {BIG_TEXT_CHARS:,} characters, the limit is 20,000"


def test_missing_label_and_received_at_columns(files: dict[str, Path]) -> None:
    """A header without the columns is a per-record matter: each record lacks its label (checked first)."""
    path = files["missing_columns.csv"]
    loaded = validate(path)
    assert loaded.outcomes() == [
        (2, "missing_columns-1", Reason.MISSING_LABEL),
        (3, "missing_columns-2", Reason.MISSING_LABEL),
    ]
    assert loaded.problems() == []
    without_label = validate(path, rules=ValidationRules(require_label=False))
    assert [fate for _, _, fate in without_label.outcomes()] == [Reason.MISSING_FIELD] * 2
    assert set(without_label.result.quarantined["detail"]) == {"received_at is missing or empty"}
    lenient = validate(path, rules=ValidationRules(require_label=False, require_received_at=False))
    assert [fate for _, _, fate in lenient.outcomes()] == ["valid"] * 2


def test_extra_columns_are_carried_and_ragged_rows_are_malformed(files: dict[str, Path]) -> None:
    path = files["extra_columns.csv"]
    loaded = validate(path)
    assert loaded.outcomes() == [
        (2, "extra_columns-ok1", "valid"),
        (3, None, Reason.MALFORMED_RECORD),
        (4, None, Reason.MALFORMED_RECORD),
        (5, "extra_columns-ok2", "valid"),
    ]
    assert loaded.problems() == []
    first = loaded.valid("extra_columns-ok1")
    assert (first["age"], first["weight_kg"]) == ("54", "81.5")
    more, fewer = loaded.quarantined(3), loaded.quarantined(4)
    assert more["detail"] == "row has 10 fields where the header has 9"
    assert fewer["detail"] == "row has 8 fields where the header has 9"
    assert (more["raw"], fewer["raw"]) == (original(path, 3), original(path, 4))


@pytest.mark.parametrize(
    ("name", "newline"), [("embedded_newlines.csv", "\n"), ("embedded_newlines_crlf.csv", "\r\n")], ids=["lf", "crlf"]
)
def test_embedded_newlines_commas_and_quotes(files: dict[str, Path], name: str, newline: str) -> None:
    path, case = files[name], name.removesuffix(".csv")
    loaded = validate(path)
    assert loaded.outcomes() == [
        (2, f"{case}-ok1", "valid"),
        (3, f"{case}-1", "valid"),
        (5, f"{case}-2", Reason.INVALID_LABEL),  # starts at line 5, spans lines 5-7
        (8, f"{case}-ok2", "valid"),
    ]
    assert loaded.problems() == []
    assert loaded.valid(f"{case}-1")["text"] == f'{case}: caller said "I felt dizzy",\nthen fainted, twice'
    raw = loaded.quarantined(5)["raw"]
    assert raw == original(path, 5, count=3)
    assert raw.count(newline.encode()) == 3 and b'""quoted""' in raw


def test_formula_texts_are_quarantined_but_a_leading_dash_is_not(files: dict[str, Path]) -> None:
    loaded = validate(files["formula.csv"])
    fates = {report_id: fate for _, report_id, fate in loaded.outcomes()}
    assert {key: fate for key, fate in fates.items() if key != "formula-dde"} == {
        "formula-ok1": "valid",
        "formula-hyperlink": Reason.FORMULA_TEXT,
        "formula-sum": Reason.FORMULA_TEXT,
        "formula-dash": "valid",
    }
    assert loaded.problems() == []
    assert loaded.valid("formula-dash")["text"] == "- felt dizzy after the second dose"


def test_dde_payload_is_a_formula(files: dict[str, Path]) -> None:
    fates = {report_id: fate for _, report_id, fate in validate(files["formula.csv"]).outcomes()}
    assert fates["formula-dde"] == Reason.FORMULA_TEXT


def test_empty_and_null_ids(files: dict[str, Path]) -> None:
    loaded = validate(files["null_ids.csv"])
    assert loaded.outcomes() == [
        (2, "null_ids-ok1", "valid"),
        (3, "", Reason.MISSING_FIELD),
        (4, "null_ids-nodoc", Reason.MISSING_FIELD),
    ]
    assert loaded.problems() == []
    assert loaded.quarantined(3)["detail"] == "report_id is missing or empty"
    assert loaded.quarantined(4)["detail"] == "document_id is missing or empty"


def test_null_ids_in_json_lines(files: dict[str, Path]) -> None:
    path = files["null_ids.jsonl"]
    loaded = validate(path)
    assert loaded.outcomes() == [
        (1, "null_ids_jsonl-ok1", "valid"),
        (2, None, Reason.MISSING_FIELD),
        (3, "   ", Reason.MISSING_FIELD),
    ]
    assert loaded.problems() == []
    assert loaded.valid("null_ids_jsonl-ok1")["label"] == 1
    null = loaded.quarantined(2)
    assert null["raw"] == original(path, 2) and b'"report_id": null' in null["raw"]


def test_duplicate_report_ids_keep_the_first(files: dict[str, Path]) -> None:
    path = files["duplicate_ids.csv"]
    loaded = validate(path)
    assert loaded.outcomes() == [
        (2, "duplicate_ids-ok1", "valid"),
        (3, "duplicate_ids-1", "valid"),
        (4, "duplicate_ids-1", Reason.DUPLICATE_REPORT_ID),
        (5, "duplicate_ids-2", "valid"),
        (6, "duplicate_ids-2", Reason.DUPLICATE_REPORT_ID),  # the exact repeat
    ]
    assert loaded.problems() == []
    assert loaded.valid("duplicate_ids-1")["text"] == "duplicate_ids: first text of report 1"
    assert loaded.quarantined(4)["detail"].endswith(f"already received at {path}:3")
    assert loaded.quarantined(6)["raw"] == original(path, 5)  # byte for byte the same as the kept one


def test_bad_labels(files: dict[str, Path]) -> None:
    loaded = validate(files["bad_labels.csv"])
    assert loaded.outcomes() == [
        (2, "bad_labels-ok1", "valid"),
        (3, "bad_labels-yes", Reason.INVALID_LABEL),
        (4, "bad_labels-2", Reason.INVALID_LABEL),
        (5, "bad_labels-minus1", Reason.INVALID_LABEL),
        (6, "bad_labels-empty", Reason.MISSING_LABEL),
        (7, "bad_labels-float1", "valid"),
        (8, "bad_labels-true", Reason.INVALID_LABEL),
    ]
    assert loaded.problems() == []
    assert loaded.valid("bad_labels-float1")["label"] == 1


def test_bad_timestamps(files: dict[str, Path]) -> None:
    loaded = validate(files["bad_timestamps.csv"])
    assert loaded.outcomes() == [
        (2, "bad_timestamps-ok1", "valid"),
        (3, "bad_timestamps-nozone", Reason.TIMESTAMP_WITHOUT_ZONE),
        (4, "bad_timestamps-future", Reason.TIMESTAMP_IN_FUTURE),
        (5, "bad_timestamps-yesterday", Reason.INVALID_TIMESTAMP),
        (6, "bad_timestamps-offset", "valid"),
    ]
    assert loaded.problems() == []
    assert loaded.valid("bad_timestamps-offset")["received_at"] == pd.Timestamp("2026-03-01T08:00:00Z")


def test_duplicate_and_conflicting_texts(files: dict[str, Path]) -> None:
    loaded = validate(files["duplicate_texts.csv"])
    assert loaded.outcomes() == [
        (2, "duplicate_texts-ok1", "valid"),
        (3, "duplicate_texts-1", "valid"),
        (4, "duplicate_texts-2", Reason.DUPLICATE_TEXT),
        (5, "duplicate_texts-3", Reason.CONFLICTING_LABELS),  # neither label can be trusted, so neither is kept
        (6, "duplicate_texts-4", Reason.CONFLICTING_LABELS),
    ]
    assert loaded.problems() == []
    assert "'duplicate_texts-1'" in loaded.quarantined(4)["detail"]


def test_non_string_ids_and_texts_in_json_lines_are_invalid_type_not_coerced(files: dict[str, Path]) -> None:
    path = files["invalid_types.jsonl"]
    loaded = validate(path)
    assert [(line, fate) for line, _, fate in loaded.outcomes()] == [
        (1, "valid"),
        (2, Reason.INVALID_TYPE),
        (3, Reason.INVALID_TYPE),
        (4, Reason.INVALID_TYPE),
        (5, Reason.INVALID_TYPE),
        (6, Reason.INVALID_TYPE),
    ]
    assert loaded.problems() == []
    assert loaded.result.valid["report_id"].tolist() == ["invalid_types_jsonl-ok1"]  # "1234" was not taken as an id
    assert loaded.quarantined(2)["detail"] == "report_id is a number (1234), not a string"
    assert loaded.quarantined(3)["detail"].startswith("report_id is an object ({")
    assert loaded.quarantined(4)["detail"].startswith("text is a list ([")
    assert loaded.quarantined(5)["detail"] == "text is a boolean (true), not a string"
    for line in range(2, 7):  # each record keeps the bytes it came as, its types included
        assert loaded.quarantined(line)["raw"] == original(path, line)


def test_non_string_report_ids_in_parquet_are_invalid_type(files: dict[str, Path]) -> None:
    loaded = validate(files["invalid_types.parquet"])
    assert [(line, fate) for line, _, fate in loaded.outcomes()] == [(1, Reason.INVALID_TYPE), (2, Reason.INVALID_TYPE)]
    assert loaded.problems() == [] and loaded.result.valid.empty
    assert loaded.quarantined(1)["detail"] == "report_id is a number (7001), not a string"


def test_repeated_json_keys_are_malformed_whatever_their_spelling_or_depth(files: dict[str, Path]) -> None:
    path = files["duplicate_keys.jsonl"]
    loaded = validate(path)
    assert [(line, fate) for line, _, fate in loaded.outcomes()] == [
        (1, "valid"),
        (2, Reason.MALFORMED_RECORD),
        (3, Reason.MALFORMED_RECORD),
        (4, Reason.MALFORMED_RECORD),
    ]
    assert loaded.problems() == []
    assert loaded.quarantined(2)["detail"] == "a JSON object gives key 'report_id' more than once"
    assert loaded.quarantined(3)["detail"] == "a JSON object gives field 'text' (2 times, as 'Text', 'text')"
    assert loaded.quarantined(4)["detail"] == "a JSON object gives key 'x' more than once"
    assert loaded.quarantined(2)["raw"] == original(path, 2)
    assert b'"report_id": "duplicate_keys-b"' in loaded.quarantined(2)["raw"]  # neither value was dropped


def test_a_parquet_file_naming_a_column_twice_quarantines_every_row_with_both_values(files: dict[str, Path]) -> None:
    loaded = validate(files["duplicate_columns.parquet"])
    assert [(line, fate) for line, _, fate in loaded.outcomes()] == [(1, Reason.MALFORMED_RECORD),
                                                                     (2, Reason.MALFORMED_RECORD)]  # fmt: skip
    assert loaded.problems() == []
    first = loaded.quarantined(1)
    assert first["detail"] == "the Parquet file names column 'report_id' (2 times)"
    pairs = json.loads(first["raw"])
    assert pairs[0] == ["report_id", "duplicate_columns-a1"] and pairs[-1] == ["report_id", "duplicate_columns-b1"]


def test_whole_folder_at_once(files: dict[str, Path]) -> None:
    """Loaded together the cases do not interfere, every record is accounted for, and every reason occurs."""
    folder = next(iter(files.values())).parent
    together = validate(folder)
    assert together.problems() == []
    assert set(together.intake["source_file"]) == {str(path) for path in files.values()}
    reasons = set(together.result.quarantined["reason"])
    # unknown_report is a reason of adjudication rows only (a verdict on a report that was never scored), and a
    # declared record contract's reasons are not the report contract's
    assert reasons == {str(reason) for reason in Reason} - {Reason.UNKNOWN_REPORT} - RECORD_CONTRACT_REASONS
    by_record = dict(
        zip(
            zip(together.intake["source_file"], together.intake["source_line"], strict=True),
            [fate for _, _, fate in together.outcomes()],
            strict=True,
        )
    )
    for path in files.values():
        alone = validate(path)
        assert [(line, by_record[(str(path), line)]) for line, _, _ in alone.outcomes()] == [
            (line, fate) for line, _, fate in alone.outcomes()
        ], path.name


def outcome_table(folder: Path) -> list[tuple[str, str, str]]:
    """(file, record, outcome) for every record of every file in ``folder``, each file loaded on its own.

    The outcome is "valid", "<reason>: <detail>", or "file rejected: ..." for a file that cannot be read at all.
    Latin-1 files are listed a second time with their encoding declared.
    """
    table: list[tuple[str, str, str]] = []
    prefix = f"{folder}/"
    for path in sorted(item for item in folder.iterdir() if item.is_file()):
        for encoding in (None, "latin-1") if path.name.startswith("latin1") else (None,):
            name = path.name if encoding is None else f"{path.name} (encoding={encoding})"
            try:
                loaded = validate(path, encoding)
            except ReportFileError as error:
                table.append((name, "-", f"file rejected: {error}".replace(prefix, "")))
                continue
            details = dict(
                zip(loaded.result.quarantined["intake_seq"], loaded.result.quarantined["detail"], strict=True)
            )
            for (line, report_id, fate), seq in zip(loaded.outcomes(), loaded.intake["intake_seq"], strict=True):
                record = f"line {line} {report_id!r}"
                table.append(
                    (name, record, "valid" if fate == "valid" else f"{fate}: {details[seq]}".replace(prefix, ""))
                )
            if problems := loaded.problems():
                table.append((name, "-", f"NOT RECONCILED: {'; '.join(problems)}"))
    return table


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as temporary:
        hostile = Path(temporary)
        write_all(hostile)
        rows = outcome_table(hostile)
        widths = [max(len(row[column]) for row in rows) for column in (0, 1)]
        for file, record, outcome in rows:
            print(f"{file:<{widths[0]}}  {record:<{widths[1]}}  {outcome}")
