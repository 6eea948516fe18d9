"""A CSV file cut into pieces must parse, piece by piece and anywhere, into exactly the chunks of a sequential read.

Spark scoring cuts the file on the driver (:func:`iter_csv_pieces`) and parses each piece on an executor
(:meth:`CsvPiece.intake`), so every hostile CSV file is cut with several chunk and block sizes, each piece is sent
through its byte form, and its intake table is compared with the chunk :func:`iter_intake_chunks` gives: columns,
dtypes, raw bytes, line numbers, intake_seq. Files the loader refuses are refused with the same error.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gxp_assets.core.contracts import ReportFileError
from gxp_assets.core.csv_records import CsvPiece
from gxp_assets.core.loaders import BLOCK_BYTES, iter_csv_pieces, iter_intake_chunks
from gxp_assets_tests.hostile_files import BIG_LINE, HEADER, WRITERS, csv_text, write_all

CSV_CASES = [(name, None) for name in WRITERS if name.endswith(".csv")] + [("latin1.csv", "latin-1")]
CASE_IDS = [name if encoding is None else f"{name}-{encoding}" for name, encoding in CSV_CASES]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_all(tmp_path_factory.mktemp("hostile"))


def pieces_and_chunks(path: Path, encoding: str | None, chunk_records: int, block_bytes: int) -> None:
    """Piece k, carried as bytes and parsed alone, is chunk k; or both reads fail alike."""
    try:
        chunks = list(iter_intake_chunks(path, encoding, chunk_records, block_bytes=block_bytes))
    except ReportFileError as error:
        with pytest.raises(ReportFileError) as caught:
            list(iter_csv_pieces(path, encoding, chunk_records, block_bytes=block_bytes))
        assert (str(caught.value), caught.value.line) == (str(error), error.line)
        return
    pieces = list(iter_csv_pieces(path, encoding, chunk_records, block_bytes=block_bytes))
    assert [piece.records for piece in pieces] == [len(chunk) for chunk in chunks]
    for piece, chunk in zip(pieces, chunks, strict=True):
        pd.testing.assert_frame_equal(CsvPiece.from_bytes(piece.to_bytes()).intake(), chunk)


@pytest.mark.parametrize("chunk_records", (1, 3, 7, 50_000))
@pytest.mark.parametrize(("name", "encoding"), CSV_CASES, ids=CASE_IDS)
def test_hostile_csv_pieces_parse_into_the_streamed_chunks(
    hostile: dict[str, Path], name: str, encoding: str | None, chunk_records: int
) -> None:
    path = hostile[name]
    for block_bytes in (7 if name != BIG_LINE else 1 << 16, BLOCK_BYTES):
        pieces_and_chunks(path, encoding, chunk_records, block_bytes)


@pytest.mark.parametrize(
    "text",
    [
        ",".join(HEADER) + "\n\n\n",  # no records: one empty piece, one empty chunk
        ",".join(HEADER) + "\n",
        csv_text([["r1", "d1", "social", "a\nb\n\nc", "2026-03-01T10:00:00Z", "1", ""]] * 4) + "\n\n",
        '"report_id\n",document_id,source,text,received_at,label,product\nr1,d1,social,"x""y",,0,\nr2,d2,social,"z',
        "\ufeff" + csv_text([["r1", "d1", "social", "caf\udcc3 bad byte", "", "0", ""]]),
    ],
    ids=["blank-lines-only", "header-only", "quoted-blank-lines", "header-over-two-lines", "bom"],
)
def test_edge_files_cut_where_the_reader_ends_a_record(tmp_path: Path, text: str) -> None:
    path = tmp_path / "edge.csv"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    for chunk_records in (1, 2, 3):
        pieces_and_chunks(path, None, chunk_records, 5)


def test_only_csv_files_are_cut(tmp_path: Path) -> None:
    path = tmp_path / "reports.jsonl"
    path.write_text('{"report_id": "r1"}\n')
    with pytest.raises(ValueError, match="not CSV"):
        iter_csv_pieces(path)
    with pytest.raises(ReportFileError, match="does not exist"):
        iter_csv_pieces(tmp_path / "missing.csv")
