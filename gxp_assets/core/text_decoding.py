"""Bytes to text for report files, one set of rules for whole files and for streams read block by block.

No guessing: a byte-order mark or the declared encoding wins, else UTF-8. Bytes that are not valid in a file's
encoding travel as surrogate escapes, so each record can be re-encoded to exactly its original bytes and only the
records that hold them are quarantined, not the whole file.
"""

from __future__ import annotations

import codecs
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gxp_assets.core.contracts import ReportFileError

SURROGATE = re.compile("[\udc80-\udcff]")
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_BOM_PREFIX_BYTES = 4  # enough of a file's start to tell its byte-order marks apart


def undecodable(fields: dict[str, str | None]) -> str | None:
    """Describe bytes that were not valid in the file's encoding; they travel as surrogate escapes."""
    for name, value in fields.items():
        if value and SURROGATE.search(value):
            found = [f"0x{ord(char) - 0xDC00:02X}" for char in dict.fromkeys(SURROGATE.findall(value))][:3]
            return f"{name} holds bytes {', '.join(found)} that are not valid in the file's encoding"
    return None


def storable(value: str | None) -> str | None:
    """Parquet needs valid UTF-8; the original bytes stay in the record's raw column."""
    return SURROGATE.sub("\ufffd", value) if value else value


@dataclass(frozen=True)
class Decoding:
    """How a text file's bytes become text, decided from its first bytes."""

    encoding: str
    bom_bytes: int = 0  # a byte-order mark to skip
    strict: bool = False  # a file with a BOM must be what it claims, so bytes invalid in it reject the file
    nul_is_error: bool = False  # an undeclared file is taken as UTF-8 text, so a NUL byte means it is not text

    @property
    def can_reject(self) -> bool:
        """Whether a problem found anywhere in the file refuses the file as a whole."""
        return self.strict or self.nul_is_error


def decoding_of(head: bytes, path: str, declared_encoding: str | None) -> Decoding:
    """No guessing: a BOM or the declared encoding wins, else UTF-8."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return Decoding(encoding, len(bom), strict=True)
    if declared_encoding:
        try:
            codecs.lookup(declared_encoding)
        except LookupError as error:
            raise ReportFileError(path, None, f"declared encoding {declared_encoding!r} is unknown") from error
        return Decoding(declared_encoding)
    return Decoding("utf-8", nul_is_error=True)


def decode_blocks(blocks: Iterable[bytes], path: str, declared_encoding: str | None) -> tuple[Decoding, Iterator[str]]:
    """The decoding, and the text block by block: one implementation of the rules for whole files and streams.

    Bytes that are not valid in a file's encoding are kept as surrogate escapes, so each record can be re-encoded to
    exactly its original bytes and the records that hold them are quarantined, not the whole file. The incremental
    decoder carries a character split between blocks over to the next one.
    """
    blocks = iter(blocks)
    head = b""
    while len(head) < _BOM_PREFIX_BYTES and (block := next(blocks, None)) is not None:
        head = head + block if head else block
    decoding = decoding_of(head, path, declared_encoding)
    return decoding, decoded(itertools.chain((head[decoding.bom_bytes :],), blocks), path, decoding)


def decoded(blocks: Iterable[bytes], path: str, decoding: Decoding) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(decoding.encoding)("strict" if decoding.strict else "surrogateescape")
    newlines = 0  # LF bytes before the current block, for the line number of a problem
    for block, final in itertools.chain(((block, False) for block in blocks), ((b"", True),)):
        if decoding.nul_is_error and (nul := block.find(b"\x00")) >= 0:
            raise ReportFileError(
                path,
                newlines + block.count(b"\n", 0, nul) + 1,
                "contains NUL bytes: not a text file (declare its encoding if it is UTF-16 without a BOM)",
            )
        pending = decoder.getstate()[0] if decoding.strict else b""  # bytes of a character begun in the last block
        try:
            text = decoder.decode(block, final)
        except UnicodeDecodeError as error:
            if not decoding.strict:
                raise
            line = newlines - pending.count(b"\n") + (pending + block).count(b"\n", 0, error.start) + 1
            problem = f"starts with a {decoding.encoding} byte-order mark but is not {decoding.encoding}"
            raise ReportFileError(path, line, problem) from error
        newlines += block.count(b"\n")
        if text:
            yield text


def decode_file(data: bytes, path: str, declared_encoding: str | None = None) -> tuple[str, str]:
    """A whole file's text and encoding, by the rules of :func:`decode_blocks` with the file as one block."""
    decoding, texts = decode_blocks((data,), path, declared_encoding)
    return "".join(texts), decoding.encoding


def file_blocks(path: Path, block_bytes: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(block_bytes):
            yield block


def split_lines(blocks: Iterable[str]) -> Iterator[str]:
    """Lines of text arriving in blocks; a line may span blocks, so a CRLF split between two stays one line end.

    Split on newline only: ``str.splitlines`` would also split on carriage returns, form feeds and Unicode separators.
    """
    partial: list[str] = []  # the start of a line whose end is in a later block
    for block in blocks:
        start = 0
        while (end := block.find("\n", start)) >= 0:
            if partial:
                partial.append(block[start : end + 1])
                yield "".join(partial)
                partial = []
            else:
                yield block[start : end + 1]
            start = end + 1
        if start < len(block):
            partial.append(block[start:])
    if partial:
        yield "".join(partial)


def text_lines(text: str) -> Iterator[str]:
    return split_lines((text,))
