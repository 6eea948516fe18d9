"""Writers of hostile report files, generated at test time so that nothing big or binary is committed.

Each writer puts one small file in the report contract into ``folder`` (a couple of good rows plus the hostile
part) and returns its path. Report ids start with the case name and texts mention it, so ids and texts are unique
across files and a whole folder can be loaded at once without the cases interfering with each other.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable, Collection
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HEADER: tuple[str, ...] = ("report_id", "document_id", "source", "text", "received_at", "label", "product")
RECEIVED = "2026-03-01T10:00:00Z"
BIG_TEXT_CHARS = 50 * 1024 * 1024
GARBAGE_SEED = 20260000
GARBAGE = "garbage.csv"
BIG_LINE = "big_line.csv"

Row = list[str]


def good_row(case: str, n: int, label: str = "0") -> Row:
    """A record that passes every check; its id and text are unique to ``case``."""
    return [
        f"{case}-ok{n}",
        f"{case}-doc{n}",
        "spontaneous",
        f"{case}: patient {n} tolerated the dose",
        RECEIVED,
        label,
        "aspirin",
    ]


def row(case: str, key: str, text: str, *, label: str = "1", received_at: str = RECEIVED) -> Row:
    """A record of ``case`` with the given text (and label / time), otherwise valid."""
    return [f"{case}-{key}", f"{case}-doc-{key}", "spontaneous", text, received_at, label, "ibuprofen"]


def csv_text(rows: list[Row], header: Collection[str] = HEADER, newline: str = "\n") -> str:
    """RFC 4180 text as a careful writer would produce it (quotes only where needed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(list(header))
    writer.writerows(rows)
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_latin1(folder: Path) -> Path:
    """Latin-1 without a BOM: read as UTF-8 its é/ü/ß are invalid bytes; with the encoding declared they are fine."""
    rows = [
        good_row("latin1", 1),
        row("latin1", "1", "Patientin klagt über Übelkeit, Größe der Dosis unklar"),
        row("latin1", "2", "Le patient a présenté une éruption cutanée", label="0"),
        good_row("latin1", 2),
    ]
    return _write(folder / "latin1.csv", csv_text(rows).encode("latin-1"))


def write_utf16_bom(folder: Path) -> Path:
    """UTF-16-LE with a BOM (as Excel's "Unicode text" saves); one text is only an ideographic space."""
    rows = [
        good_row("utf16_bom", 1),
        row("utf16_bom", "1", "患者は発疹を報告した; Übelkeit, ωμέγα-3"),
        row("utf16_bom", "2", "\u3000"),
        good_row("utf16_bom", 2),
    ]
    return _write(folder / "utf16_bom.csv", ("\ufeff" + csv_text(rows)).encode("utf-16-le"))


def write_invalid_utf8(folder: Path) -> Path:
    """Valid UTF-8 (with non-ASCII text) except one record holding bytes that are never valid UTF-8."""
    head = csv_text([good_row("invalid_utf8", 1), row("invalid_utf8", "naive", "naïve patient, café au lait spots")])
    bad = b"invalid_utf8-1,invalid_utf8-doc-1,spontaneous,Patient reported \xff\xfe\xfa after infusion," + (
        RECEIVED.encode() + b",1,ibuprofen\n"
    )
    tail = csv_text([good_row("invalid_utf8", 2)]).split("\n", 1)[1]  # without a second header
    return _write(folder / "invalid_utf8.csv", head.encode() + bad + tail.encode())


def write_garbage(folder: Path) -> Path:
    """4 KiB of seeded random bytes named .csv, so the loader tries to read it as CSV; holds NUL bytes."""
    data = random.Random(GARBAGE_SEED).randbytes(4096)
    assert b"\x00" in data and not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"))
    return _write(folder / GARBAGE, data)


def write_big_line(folder: Path) -> Path:
    """One record whose text is a single 50 MiB line, between normal rows; streamed to keep memory flat."""
    path = folder / BIG_LINE
    path.parent.mkdir(parents=True, exist_ok=True)
    chunk = ("headache " * 1024)[:8192]
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(csv_text([good_row("big_line", 1)]))
        handle.write("big_line-1,big_line-doc-1,spontaneous,")
        written = 0
        while written < BIG_TEXT_CHARS:
            part = chunk[: BIG_TEXT_CHARS - written]
            handle.write(part)
            written += len(part)
        handle.write(f",{RECEIVED},1,ibuprofen\n")
        handle.write(csv_text([good_row("big_line", 2)]).split("\n", 1)[1])
    return path


def write_missing_columns(folder: Path) -> Path:
    """A header without received_at and label: every record lacks them."""
    header = ("report_id", "document_id", "source", "text", "product")
    rows = [
        ["missing_columns-1", "missing_columns-doc-1", "spontaneous", "missing_columns: rash on day two", "aspirin"],
        ["missing_columns-2", "missing_columns-doc-2", "spontaneous", "missing_columns: no complaints", "aspirin"],
    ]
    return _write(folder / "missing_columns.csv", csv_text(rows, header).encode())


def write_extra_columns(folder: Path) -> Path:
    """Extra columns (tabular features) in the header, then one row with more fields and one with fewer."""
    header = (*HEADER, "age", "weight_kg")
    rows = [
        [*good_row("extra_columns", 1), "54", "81.5"],
        [*row("extra_columns", "more", "extra_columns: one field too many"), "61", "70", "surplus"],
        [*row("extra_columns", "fewer", "extra_columns: one field too few"), "47"],
        [*good_row("extra_columns", 2), "", ""],
    ]
    return _write(folder / "extra_columns.csv", csv_text(rows, header).encode())


def _embedded_rows(case: str, newline: str) -> list[Row]:
    return [
        good_row(case, 1),
        row(case, "1", f'{case}: caller said "I felt dizzy",{newline}then fainted, twice'),
        row(case, "2", f"{case}: line one{newline}line two, with a comma{newline}" + '"quoted" end', label="maybe"),
        good_row(case, 2),
    ]


def write_embedded_newlines(folder: Path) -> Path:
    """Quoted fields with embedded newlines, commas and doubled quotes; record 2 also has an invalid label."""
    return _write(folder / "embedded_newlines.csv", csv_text(_embedded_rows("embedded_newlines", "\n")).encode())


def write_embedded_newlines_crlf(folder: Path) -> Path:
    """The same with CRLF line ends, inside the quoted fields too (as Windows tools write)."""
    rows = _embedded_rows("embedded_newlines_crlf", "\r\n")
    return _write(folder / "embedded_newlines_crlf.csv", csv_text(rows, newline="\r\n").encode())


def write_formula(folder: Path) -> Path:
    """Texts a spreadsheet would execute, and a harmless one that merely starts with a dash."""
    rows = [
        good_row("formula", 1),
        row("formula", "hyperlink", '=HYPERLINK("http://evil.example","click")'),
        row("formula", "sum", "@SUM(A1:A2)"),
        row("formula", "dde", "+cmd|' /C calc'!A0"),
        row("formula", "dash", "- felt dizzy after the second dose"),
    ]
    return _write(folder / "formula.csv", csv_text(rows).encode())


def write_null_ids(folder: Path) -> Path:
    """An empty report_id and an empty document_id."""
    rows = [
        good_row("null_ids", 1),
        ["", "null_ids-doc-noid", "spontaneous", "null_ids: report without an id", RECEIVED, "1", "aspirin"],
        ["null_ids-nodoc", "", "spontaneous", "null_ids: report without a document", RECEIVED, "1", "aspirin"],
    ]
    return _write(folder / "null_ids.csv", csv_text(rows).encode())


def write_null_ids_jsonl(folder: Path) -> Path:
    """JSON Lines: a null report_id and a blank one, next to a good record with a numeric label."""
    base = {"document_id": "", "source": "spontaneous", "received_at": RECEIVED, "label": 1, "product": None}
    records = [
        {**base, "report_id": "null_ids_jsonl-ok1", "document_id": "null_ids_jsonl-doc1", "text": "null_ids_jsonl: ok"},
        {**base, "report_id": None, "document_id": "null_ids_jsonl-doc2", "text": "null_ids_jsonl: null id"},
        {**base, "report_id": "   ", "document_id": "null_ids_jsonl-doc3", "text": "null_ids_jsonl: blank id"},
    ]
    text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    return _write(folder / "null_ids.jsonl", text.encode())


def write_duplicate_ids(folder: Path) -> Path:
    """One report_id twice with different texts, and a row repeated byte for byte."""
    repeated = row("duplicate_ids", "2", "duplicate_ids: vomiting after the first dose")
    rows = [
        good_row("duplicate_ids", 1),
        row("duplicate_ids", "1", "duplicate_ids: first text of report 1"),
        row("duplicate_ids", "1", "duplicate_ids: second, different text of report 1"),
        repeated,
        repeated,
    ]
    return _write(folder / "duplicate_ids.csv", csv_text(rows).encode())


def write_bad_labels(folder: Path) -> Path:
    """Labels that are not 0 or 1 (yes, 2, -1, true), an empty one, and 1.0 which is a valid 1."""
    labels = {"yes": "yes", "2": "2", "minus1": "-1", "empty": "", "float1": "1.0", "true": "true"}
    rows = [good_row("bad_labels", 1)]
    rows += [
        row("bad_labels", key, f"bad_labels: record labelled {value!r}", label=value) for key, value in labels.items()
    ]
    return _write(folder / "bad_labels.csv", csv_text(rows).encode())


def write_bad_timestamps(folder: Path) -> Path:
    """received_at without a zone, in the future, not a date, and a valid one with an offset."""
    stamps = {
        "nozone": "2026-03-01T10:00:00",
        "future": "2099-01-01T00:00:00Z",
        "yesterday": "yesterday",
        "offset": "2026-03-01T10:00:00+02:00",
    }
    rows = [good_row("bad_timestamps", 1)]
    rows += [
        row("bad_timestamps", key, f"bad_timestamps: received {key}", received_at=value)
        for key, value in stamps.items()
    ]
    return _write(folder / "bad_timestamps.csv", csv_text(rows).encode())


def write_duplicate_texts(folder: Path) -> Path:
    """A text twice with the same label (a plain duplicate), another twice with labels 0 and 1 (a conflict)."""
    same, conflicting = "duplicate_texts: swollen ankles", "duplicate_texts: mild headache"
    rows = [
        good_row("duplicate_texts", 1),
        row("duplicate_texts", "1", same, label="1"),
        row("duplicate_texts", "2", same, label="1"),
        row("duplicate_texts", "3", conflicting, label="0"),
        row("duplicate_texts", "4", conflicting, label="1"),
    ]
    return _write(folder / "duplicate_texts.csv", csv_text(rows).encode())


def _typed_record(case: str, key: str, **fields: object) -> dict[str, object]:
    """A JSON Lines record of ``case`` that passes every check unless ``fields`` say otherwise."""
    record: dict[str, object] = {"report_id": f"{case}-{key}", "document_id": f"{case}-doc-{key}",
                                 "source": "spontaneous", "text": f"{case}: report {key} of a rash",
                                 "received_at": RECEIVED, "label": 1, "product": None}  # fmt: skip
    return record | fields


def write_invalid_types_jsonl(folder: Path) -> Path:
    """JSON Lines whose report_id or text is an object, a list, a number or a boolean (a numeric label is fine)."""
    case = "invalid_types_jsonl"
    records = [
        _typed_record(case, "ok1"),
        _typed_record(case, "number", report_id=1234),
        _typed_record(case, "object", report_id={"id": f"{case}-object"}),
        _typed_record(case, "list", text=[f"{case}: a rash", "and a fever"]),
        _typed_record(case, "bool", text=True),
        _typed_record(case, "float-id", report_id=12.5),
    ]
    return _write(folder / "invalid_types.jsonl", "".join(json.dumps(record) + "\n" for record in records).encode())


def write_invalid_types_parquet(folder: Path) -> Path:
    """A Parquet file whose report_id column holds integers: every row is of the wrong type."""
    table = pa.table({"report_id": pa.array([7001, 7002], pa.int64()),
                      "document_id": ["invalid_types_parquet-doc1", "invalid_types_parquet-doc2"],
                      "source": ["spontaneous"] * 2,
                      "text": ["invalid_types_parquet: hives", "invalid_types_parquet: nausea"],
                      "received_at": [RECEIVED] * 2, "label": ["1", "0"]})  # fmt: skip
    path = folder / "invalid_types.parquet"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def write_duplicate_keys_jsonl(folder: Path) -> Path:
    """JSON Lines objects that give a key twice: exactly, in two spellings of one field, and inside a nested object."""
    case = "duplicate_keys"
    good = json.dumps(_typed_record(case, "ok1"))
    first_id = '"report_id": "duplicate_keys-a"'
    exact = json.dumps(_typed_record(case, "a")).replace(first_id, f'{first_id}, "report_id": "duplicate_keys-b"')
    spelled = json.dumps(_typed_record(case, "c")).replace('"text":', '"Text": "duplicate_keys: first", "text":')
    nested = json.dumps(_typed_record(case, "d", meta={"x": 1})).replace('{"x": 1}', '{"x": 1, "x": 2}')
    return _write(folder / "duplicate_keys.jsonl", "\n".join((good, exact, spelled, nested, "")).encode())


def write_duplicate_columns_parquet(folder: Path) -> Path:
    """A Parquet file that names the report_id column twice, with different values in each."""
    case = "duplicate_columns"
    columns = {
        "report_id": [f"{case}-a1", f"{case}-a2"], "document_id": [f"{case}-doc1", f"{case}-doc2"],
        "source": ["spontaneous"] * 2, "text": [f"{case}: itching", f"{case}: dizziness"],
        "received_at": [RECEIVED] * 2, "label": ["1", "0"],
    }  # fmt: skip
    arrays = [pa.array(values) for values in columns.values()] + [pa.array([f"{case}-b1", f"{case}-b2"])]
    table = pa.Table.from_arrays(arrays, names=[*columns, "report_id"])
    path = folder / "duplicate_columns.parquet"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


WRITERS: dict[str, Callable[[Path], Path]] = {
    "latin1.csv": write_latin1,
    "utf16_bom.csv": write_utf16_bom,
    "invalid_utf8.csv": write_invalid_utf8,
    GARBAGE: write_garbage,
    BIG_LINE: write_big_line,
    "missing_columns.csv": write_missing_columns,
    "extra_columns.csv": write_extra_columns,
    "embedded_newlines.csv": write_embedded_newlines,
    "embedded_newlines_crlf.csv": write_embedded_newlines_crlf,
    "formula.csv": write_formula,
    "null_ids.csv": write_null_ids,
    "null_ids.jsonl": write_null_ids_jsonl,
    "duplicate_ids.csv": write_duplicate_ids,
    "bad_labels.csv": write_bad_labels,
    "bad_timestamps.csv": write_bad_timestamps,
    "duplicate_texts.csv": write_duplicate_texts,
    "invalid_types.jsonl": write_invalid_types_jsonl,
    "invalid_types.parquet": write_invalid_types_parquet,
    "duplicate_keys.jsonl": write_duplicate_keys_jsonl,
    "duplicate_columns.parquet": write_duplicate_columns_parquet,
}


def write_all(folder: Path, exclude: Collection[str] = ()) -> dict[str, Path]:
    """Every hostile file (by file name) except those in ``exclude``, e.g. ``{GARBAGE}`` for a loadable folder."""
    folder.mkdir(parents=True, exist_ok=True)
    return {name: writer(folder) for name, writer in WRITERS.items() if name not in exclude}
