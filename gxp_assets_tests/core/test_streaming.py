"""Streaming a report file in chunks must give what loading and validating it whole gives, record for record.

Every hostile file of :mod:`gxp_assets_tests.hostile_files` is streamed with several chunk sizes and block sizes
and compared with :func:`load_contract_files` (columns, dtypes, raw bytes, line numbers) and, through one
:class:`BatchValidator`, with :func:`validate_reports`. Files built here put multi-byte characters, CRLF pairs,
byte-order marks and NUL bytes across block edges.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gxp_assets.core import loaders
from gxp_assets.core.contracts import INTAKE_COLUMNS, REPORT_FIELDS, Reason, ReportFileError
from gxp_assets.core.intake_table import IntakeRecord, intake_table
from gxp_assets.core.loaders import BLOCK_BYTES, iter_intake_chunks, load_contract_files
from gxp_assets.core.validation import BatchValidator, ValidationResult, ValidationRules, reconcile, validate_reports
from gxp_assets_tests.hostile_files import BIG_LINE, HEADER, RECEIVED, WRITERS, csv_text, good_row, row, write_all

NOW = datetime(2026, 11, 26, tzinfo=UTC)
CHUNK_SIZES = (1, 3, 7, 50_000)
VALIDATION_CHUNK_SIZES = (1, 3, 7)
TINY_BLOCK = 7
HOSTILE_CASES = [(name, None) for name in WRITERS] + [("latin1.csv", "latin-1")]
CASE_IDS = [name if encoding is None else f"{name}-{encoding}" for name, encoding in HOSTILE_CASES]

Loader = Callable[[str, str | None], pd.DataFrame | ReportFileError]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every hostile file, written once: the 50 MiB line is costly to repeat."""
    return write_all(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def whole(hostile: dict[str, Path]) -> Loader:
    """The whole-file load of a hostile file (or the error it raises), computed once per file and encoding."""
    cache: dict[tuple[str, str | None], pd.DataFrame | ReportFileError] = {}

    def load(name: str, encoding: str | None) -> pd.DataFrame | ReportFileError:
        if (name, encoding) not in cache:
            try:
                cache[name, encoding] = load_contract_files(hostile[name], encoding)
            except ReportFileError as error:
                cache[name, encoding] = error
        return cache[name, encoding]

    return load


def streamed(path: Path, chunk_records: int, encoding: str | None = None, **options: int) -> pd.DataFrame:
    """The chunks concatenated, after checking their size, numbering and columns."""
    chunks = list(iter_intake_chunks(path, encoding, chunk_records, **options))
    assert chunks and all(len(chunk) <= chunk_records for chunk in chunks)
    assert all(len(chunk) for chunk in chunks) or len(chunks) == 1
    together = pd.concat(chunks)
    assert together["intake_seq"].tolist() == list(range(len(together)))
    assert all(list(chunk.columns) == list(chunks[0].columns) for chunk in chunks)
    assert all((chunk.dtypes == chunks[0].dtypes).all() for chunk in chunks)
    return together


def assert_same_failure(
    path: Path,
    expected: ReportFileError,
    encoding: str | None = None,
    chunk_records: int = 3,
    block_bytes: int = TINY_BLOCK,
) -> None:
    """Streaming refuses the file with the whole-file error: same message, same line."""
    with pytest.raises(ReportFileError) as caught:
        list(iter_intake_chunks(path, encoding, chunk_records, block_bytes=block_bytes))
    assert (str(caught.value), caught.value.line) == (str(expected), expected.line)


def block_sizes(path: Path) -> tuple[int, ...]:
    """A tiny block puts every kind of character and line end across a block edge; the 50 MiB line gets 64 KiB."""
    return (TINY_BLOCK if path.name != BIG_LINE else 1 << 16, BLOCK_BYTES)


@pytest.mark.parametrize("chunk_records", CHUNK_SIZES)
@pytest.mark.parametrize(("name", "encoding"), HOSTILE_CASES, ids=CASE_IDS)
def test_hostile_files_stream_to_exactly_the_whole_file_intake(
    hostile: dict[str, Path], whole: Loader, name: str, encoding: str | None, chunk_records: int
) -> None:
    path, expected = hostile[name], whole(name, encoding)
    for block_bytes in block_sizes(path):
        if isinstance(expected, ReportFileError):  # the garbage file: same message, same line
            assert_same_failure(path, expected, encoding, chunk_records, block_bytes)
        else:
            together = streamed(path, chunk_records, encoding, block_bytes=block_bytes)
            pd.testing.assert_frame_equal(together, expected)


BOUNDARY_ROWS = [
    ",".join(HEADER),
    'b1,d1,call_centre,"é: naïve, 患者は発疹, 😀 ok",2026-03-01T10:00:00Z,1,aspirin',
    'b2,d2,call_centre,"two\r\nlines, ü\r\nthree",2026-03-01T10:00:00Z,0,',
    "b3,d3,social,form\x0cfeed and\u2028separator \u0085 kept,2026-03-01T10:00:00Z,1,x",
    "b4,d4,social,stray\rcarriage,2026-03-01T10:00:00Z,0,x",
    "",
    "b5,d5,social,ßß€€😀😀,2026-03-01T10:00:00Z,1,",  # no line end at the end of the file
]
BOUNDARY_TEXT = "\r\n".join(BOUNDARY_ROWS)


def straddled(data: bytes, block_bytes: int) -> tuple[bool, bool]:
    """Whether a multi-byte UTF-8 character, and a CRLF pair, are split by a block edge."""
    position, split_character = 0, False
    for character in data.decode():
        size = len(character.encode())
        split_character |= size > 1 and position // block_bytes != (position + size - 1) // block_bytes
        position += size
    split_crlf = any(data[at : at + 2] == b"\r\n" for at in range(block_bytes - 1, len(data), block_bytes))
    return split_character, split_crlf


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")],
    ids=["utf8", "utf8-bom", "utf16le-bom", "utf16be-bom"],
)
def test_characters_and_crlf_split_across_blocks(tmp_path: Path, encoding: str, prefix: bytes) -> None:
    path = tmp_path / "boundary.csv"
    path.write_bytes(prefix + BOUNDARY_TEXT.encode(encoding))
    if not prefix:
        assert straddled(path.read_bytes(), TINY_BLOCK) == (True, True)
    expected = load_contract_files(path)
    assert len(expected) == 5 and expected["encoding"].eq(encoding).all()
    assert expected.loc[1, "text"] == "two\r\nlines, ü\r\nthree"
    assert "\u2028" in expected.loc[2, "text"] and expected.loc[3, "parse_error"].startswith("not valid CSV")
    for block_bytes in range(1, 17):
        for chunk_records in (1, 3):
            together = streamed(path, chunk_records, block_bytes=block_bytes)
            pd.testing.assert_frame_equal(together, expected, obj=f"block_bytes={block_bytes}")


def test_invalid_utf8_split_across_blocks_stays_with_its_record(tmp_path: Path) -> None:
    path = tmp_path / "invalid.csv"
    path.write_bytes(BOUNDARY_TEXT.encode().replace("ü".encode(), b"\xfc\xe2\x82") + b"\r\n")
    expected = load_contract_files(path)
    assert "0xFC, 0xE2, 0x82" in expected.loc[1, "encoding_error"]
    for block_bytes in range(1, 10):
        pd.testing.assert_frame_equal(streamed(path, 2, block_bytes=block_bytes), expected)


def test_nul_byte_in_a_later_block_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    rows = [good_row("nul", n) for n in range(30)]
    path.write_bytes(csv_text(rows).encode() + b"nul-x,d,s,te\x00xt,,0,\n")
    with pytest.raises(ReportFileError) as caught:
        load_contract_files(path)
    assert caught.value.line == 32
    for block_bytes in (1, TINY_BLOCK, 100, BLOCK_BYTES):
        assert_same_failure(path, caught.value, chunk_records=5, block_bytes=block_bytes)


@pytest.mark.parametrize(
    ("bom", "encoding", "tail"),
    [
        (b"\xef\xbb\xbf", "utf-8", b"bad \xff byte\n"),
        (b"\xff\xfe", "utf-16-le", b"\x00"),
        (b"\xff\xfe", "utf-16-le", b"\x0a\xdc"),  # a lone surrogate whose first byte is an LF byte, held back alone
    ],
    ids=["utf8-invalid-byte", "utf16-truncated", "utf16-lone-surrogate"],
)
def test_a_file_that_is_not_what_its_bom_says_names_the_line(
    tmp_path: Path, bom: bytes, encoding: str, tail: bytes
) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(bom + "a,b\n1,2\n".encode(encoding) + tail)
    with pytest.raises(ReportFileError, match=f"line 3: starts with a {encoding} byte-order mark") as caught:
        load_contract_files(path)
    for block_bytes in range(1, 12):
        assert_same_failure(path, caught.value, block_bytes=block_bytes)


def test_jsonl_streams_to_the_whole_file_intake(tmp_path: Path) -> None:
    path = tmp_path / "reports.jsonl"
    base = {"document_id": "d", "source": "s", "received_at": RECEIVED, "product": None, "age": 40}
    lines = [
        json.dumps({**base, "report_id": "j1", "text": "患者 😀 dizzy", "label": 1}, ensure_ascii=False),
        "",
        "{not json",
        json.dumps({**base, "report_id": "j2", "text": "line\u2028separator", "label": 0.0}, ensure_ascii=False),
        "[1, 2]",
        json.dumps({**base, "report_id": "j3", "text": "nested", "label": {"x": [1]}}),
    ]
    path.write_bytes("\r\n".join(lines).encode())
    expected = load_contract_files(path)
    assert expected["source_line"].tolist() == [1, 3, 4, 5, 6]
    for block_bytes in (1, TINY_BLOCK, BLOCK_BYTES):
        for chunk_records in CHUNK_SIZES:
            pd.testing.assert_frame_equal(streamed(path, chunk_records, block_bytes=block_bytes), expected)


def test_jsonl_chunks_keep_the_extra_keys_seen_so_far(tmp_path: Path) -> None:
    """A file's JSON keys are only known at its end: a chunk has those of earlier chunks and of its own records."""
    path = tmp_path / "reports.jsonl"
    lines = [{"report_id": "a"}, {"report_id": "b", "age": 1}, {"report_id": "c"}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + "{broken\n")
    first, *later = iter_intake_chunks(path, chunk_records=1)
    assert list(first.columns) == [*REPORT_FIELDS, *INTAKE_COLUMNS]
    assert all(list(chunk.columns) == [*REPORT_FIELDS, "age", *INTAKE_COLUMNS] for chunk in later)
    assert [chunk["age"].tolist() for chunk in later] == [["1"], [None], [None]]


def test_parquet_streams_across_row_groups_and_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "reports.parquet"
    table = pa.table(
        {
            "report_id": [f"p{n}" for n in range(10)],
            "text": [f"text {n} é😀" for n in range(10)],
            "label": [n % 2 for n in range(10)],
            "received_at": pd.date_range("2026-01-01", periods=10, freq="h", tz="UTC"),
            "product": [None if n % 3 else "drug" for n in range(10)],
            "Weight_KG": [60.5 + n for n in range(10)],
        }
    )
    pq.write_table(table, path, row_group_size=4)
    monkeypatch.setattr(loaders, "PARQUET_BATCH_ROWS", 3)  # batches that do not line up with row groups
    expected = load_contract_files(path)
    assert expected["source_line"].tolist() == list(range(1, 11)) and expected.loc[9, "weight_kg"] == "69.5"
    for chunk_records in CHUNK_SIZES:
        pd.testing.assert_frame_equal(streamed(path, chunk_records), expected)


def test_a_corrupt_parquet_file_fails_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(ReportFileError, match="is not a readable Parquet file") as caught:
        load_contract_files(path)
    assert_same_failure(path, caught.value)


def test_files_that_cannot_be_streamed(tmp_path: Path) -> None:
    (tmp_path / "reports.xlsx").write_bytes(b"PK")
    with pytest.raises(ReportFileError) as caught:
        load_contract_files(tmp_path / "reports.xlsx")
    with pytest.raises(ReportFileError) as streaming:
        iter_intake_chunks(tmp_path / "reports.xlsx")  # refused on the call, before any reading
    assert str(streaming.value) == str(caught.value)
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(ReportFileError) as caught:
        load_contract_files(tmp_path / "empty.csv")
    assert_same_failure(tmp_path / "empty.csv", caught.value)
    with pytest.raises(ReportFileError, match="is a folder"):
        iter_intake_chunks(tmp_path)
    with pytest.raises(ReportFileError, match="does not exist"):
        iter_intake_chunks(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="must be positive"):
        iter_intake_chunks(tmp_path / "empty.csv", chunk_records=0)


def test_a_file_without_records_gives_one_empty_table(tmp_path: Path) -> None:
    path = tmp_path / "header_only.csv"
    path.write_text(",".join(HEADER) + "\n\n")
    (chunk,) = iter_intake_chunks(path)
    pd.testing.assert_frame_equal(chunk, load_contract_files(path))
    assert chunk.empty and list(chunk.columns) == [*REPORT_FIELDS, *INTAKE_COLUMNS]


def test_malformed_csv_rows_keep_the_header_columns(tmp_path: Path) -> None:
    """So that a chunk holding only malformed rows has the same columns as the others."""
    path = tmp_path / "ragged.csv"
    path.write_text(csv_text([["r1", "d1"]], header=(*HEADER, "age")))
    intake = load_contract_files(path)
    assert "age" in intake.columns and intake.loc[0, "parse_error"] == "row has 2 fields where the header has 8"
    assert intake[[*REPORT_FIELDS, "age"]].isna().all(axis=None)


# Validation, chunk by chunk


def validate_in_chunks(chunks: list[pd.DataFrame], rules: ValidationRules | None = None) -> ValidationResult:
    """One validator over the chunks, the results concatenated; reconciliation must hold over the whole."""
    validator = BatchValidator(rules or ValidationRules(), NOW)
    results = [validator.validate(chunk) for chunk in chunks]
    valid = pd.concat([result.valid for result in results], ignore_index=True)
    quarantined = pd.concat([result.quarantined for result in results], ignore_index=True)
    assert reconcile(pd.concat(chunks), valid, quarantined) == []
    return ValidationResult(valid, quarantined)


def outcomes(result: ValidationResult) -> dict[int, tuple[str, str]]:
    """(reason, detail) per intake_seq, ("valid", "") for a valid record."""
    fates = {seq: ("valid", "") for seq in result.valid["intake_seq"]}
    columns = (result.quarantined[name] for name in ("intake_seq", "reason", "detail"))
    fates.update({seq: (reason, detail) for seq, reason, detail in zip(*columns, strict=True)})
    return fates


@pytest.mark.parametrize("chunk_records", VALIDATION_CHUNK_SIZES)
@pytest.mark.parametrize(("name", "encoding"), HOSTILE_CASES, ids=CASE_IDS)
def test_hostile_files_validate_in_chunks_as_whole(
    hostile: dict[str, Path], whole: Loader, name: str, encoding: str | None, chunk_records: int
) -> None:
    intake = whole(name, encoding)
    if isinstance(intake, ReportFileError):
        pytest.skip("the file is rejected before validation")
    if (name, chunk_records) == ("duplicate_texts.csv", 1):
        pytest.skip("conflicting labels across chunks: test_conflicting_labels_across_chunks")
    expected = validate_reports(intake, ValidationRules(), NOW)
    result = validate_in_chunks(list(iter_intake_chunks(hostile[name], encoding, chunk_records)))
    pd.testing.assert_frame_equal(result.valid, expected.valid)
    pd.testing.assert_frame_equal(result.quarantined, expected.quarantined)


def test_conflicting_labels_across_chunks(hostile: dict[str, Path], whole: Loader) -> None:
    """The one outcome that depends on chunking: a record already passed as valid cannot be recalled."""
    path = hostile["duplicate_texts.csv"]
    expected = outcomes(validate_reports(whole("duplicate_texts.csv", None), ValidationRules(), NOW))
    assert [reason for reason, _ in expected.values()][3:] == [Reason.CONFLICTING_LABELS] * 2
    by_chunk = outcomes(validate_in_chunks(list(iter_intake_chunks(path, chunk_records=1))))
    assert {seq: fate for seq, fate in by_chunk.items() if seq < 3} == {seq: expected[seq] for seq in range(3)}
    assert by_chunk[3] == ("valid", "")
    assert by_chunk[4] == (
        Reason.CONFLICTING_LABELS,
        "the same text was received with labels 0 and 1; "
        f"report 'duplicate_texts-3' ({path}:5) with it was passed as valid in an earlier chunk",
    )


def chunked(*fields: dict[str, str | None], sizes: tuple[int, ...]) -> list[pd.DataFrame]:
    """Records of in.csv (lines 2, 3, ...) as intake chunks of the given sizes."""
    records = [
        IntakeRecord("in.csv", line, repr(item).encode(), "utf-8", dict(item)) for line, item in enumerate(fields, 2)
    ]
    chunks, start = [], 0
    for size in sizes:
        chunks.append(intake_table(records[start : start + size], first_seq=start))
        start += size
    assert start == len(records)
    return chunks


def report(key: str, text: str, label: str | None = "1", report_id: str | None = None) -> dict[str, str | None]:
    fields = dict(zip(HEADER, row("chunks", key, text, label=label or ""), strict=True))
    return {**fields, "report_id": report_id or fields["report_id"], "label": label}


def test_a_duplicate_report_id_in_a_later_chunk_names_the_first() -> None:
    chunks = chunked(report("a", "first text"), report("b", "other"), report("c", "third", report_id="chunks-a"),
                     sizes=(1, 1, 1))  # fmt: skip
    fates = outcomes(validate_in_chunks(chunks))
    assert fates[2] == (Reason.DUPLICATE_REPORT_ID, "report_id 'chunks-a' was already received at in.csv:2")
    assert outcomes(validate_reports(pd.concat(chunks), ValidationRules(), NOW)) == fates


def test_a_duplicate_text_in_a_later_chunk_names_the_kept_record() -> None:
    chunks = chunked(report("a", "same"), report("b", "other"), report("c", "  same\r\n"), sizes=(2, 1))
    fates = outcomes(validate_in_chunks(chunks))
    assert fates[2] == (Reason.DUPLICATE_TEXT, "same text as report 'chunks-a' (in.csv:2), which is kept")
    assert outcomes(validate_reports(pd.concat(chunks), ValidationRules(), NOW)) == fates


def test_conflicting_labels_by_chunk() -> None:
    """Within a chunk all are quarantined; in later chunks, copies of a record passed as valid are judged against it."""
    records = (
        report("a", "mixed", "0"),
        report("b", "mixed", "0"),  # a duplicate of a
        report("c", "mixed", "1"),  # now the labels conflict
        report("d", "mixed", None),  # unlabelled, but its text is in doubt too
    )
    rules, conflict = ValidationRules(require_label=False), "the same text was received with labels 0 and 1"
    at_once = outcomes(validate_in_chunks(chunked(*records, sizes=(4,)), rules))
    assert set(at_once.values()) == {(Reason.CONFLICTING_LABELS, conflict)}
    split = outcomes(validate_in_chunks(chunked(*records, sizes=(1, 1, 2)), rules))
    assert split[0] == ("valid", "") and split[1][0] == Reason.DUPLICATE_TEXT
    earlier = f"{conflict}; report 'chunks-a' (in.csv:2) with it was passed as valid in an earlier chunk"
    assert split[2] == split[3] == (Reason.CONFLICTING_LABELS, earlier)
    conflicted_first = outcomes(validate_in_chunks(chunked(*records[1:], sizes=(2, 1)), rules))
    assert set(conflicted_first.values()) == {(Reason.CONFLICTING_LABELS, conflict)}  # nothing was passed as valid


def test_a_duplicate_id_does_not_count_towards_conflicting_labels() -> None:
    records = (report("a", "text", "0"), report("b", "other", "1", report_id="chunks-a"), report("c", "other", "0"))
    for sizes in ((3,), (1, 1, 1), (2, 1)):
        fates = outcomes(validate_in_chunks(chunked(*records, sizes=sizes)))
        assert [fates[seq][0] for seq in range(3)] == ["valid", Reason.DUPLICATE_REPORT_ID, "valid"], sizes
