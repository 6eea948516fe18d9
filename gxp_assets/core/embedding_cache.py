"""Sentence embeddings kept by text, so that a report is encoded once, not at every re-featurization.

The encoder costs about 10 ms per report on a laptop core where the rest of featurizing costs microseconds, and the
corpus is featurized again at every retraining. An embedding is a pure function of the encoder's files (pinned by
their SHA-256) and the text, so a store keyed by both gives the same bytes as encoding again: one SQLite file per
encoder under GXP_HOME/cache (or GXP_ENCODER_CACHE), safe for several processes at once (WAL, inserts that ignore a
key already there). GXP_ENCODER_CACHE=off encodes every time. Scoring only reads it, unless
GXP_ENCODER_CACHE_SCORING=store (the test suite, which scores the same demo texts many times).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

#: Texts looked up or stored per SQL statement (SQLite's bound-parameter limit is 32,766).
_CHUNK = 500


def gxp_home() -> Path:
    """GXP_HOME, or ``.gxp`` in the working directory (DESIGN.md conventions)."""
    return Path(os.environ.get("GXP_HOME") or Path.cwd() / ".gxp").resolve()


def cache_file(encoder_sha256: str) -> Path | None:
    """Where one encoder's embeddings are kept; None when caching is off."""
    setting = os.environ.get("GXP_ENCODER_CACHE", "")
    if setting.lower() == "off":
        return None
    folder = Path(setting) if setting else gxp_home() / "cache" / "sentence_encoder"
    return folder / f"{encoder_sha256}.sqlite"


def scoring_stores_embeddings() -> bool:
    """Whether scoring adds its reports' embeddings to the cache (see encode_cached for why not by default)."""
    return os.environ.get("GXP_ENCODER_CACHE_SCORING", "").lower() == "store"


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    """Embeddings of one encoder by SHA-256 of their text, as float32 bytes."""

    def __init__(self, path: Path, dimension: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.dimension = dimension
        self._connection = sqlite3.connect(path, timeout=60, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS embedding (text_sha256 BLOB PRIMARY KEY, vector BLOB NOT NULL) WITHOUT ROWID"
        )

    def get(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The stored embeddings of ``keys``, looked up in key order: each statement then reads neighbouring pages
        of the table (on ADE's 21k texts, 0.14 s against 0.33 s in the texts' order)."""
        found: dict[bytes, np.ndarray] = {}
        keys = sorted(keys)
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._connection.execute(
                f"SELECT text_sha256, vector FROM embedding WHERE text_sha256 IN ({marks})", chunk
            )
            for key, vector in rows:
                values = np.frombuffer(vector, dtype="<f4")
                if len(values) == self.dimension:  # anything else is not ours: encoded again, never trusted
                    found[key] = values
        return found

    def put(self, entries: dict[bytes, np.ndarray]) -> None:
        items = [(key, np.asarray(vector, dtype="<f4").tobytes()) for key, vector in entries.items()]
        with self._connection:
            self._connection.execute("BEGIN IMMEDIATE")
            self._connection.executemany("INSERT OR IGNORE INTO embedding VALUES (?, ?)", items)

    def close(self) -> None:
        self._connection.close()


def encode_cached(
    texts: Sequence[str],
    encode: Callable[[Sequence[str]], np.ndarray],
    path: Path | None,
    dimension: int,
    store: bool = True,
) -> np.ndarray:
    """``encode(texts)``, taking what the cache at ``path`` holds and, with ``store``, adding what it lacks; same bytes
    either way. Scoring does not store: a scored report is rarely featurized again, and a cache of every report ever
    scored would grow without bound."""
    if path is None or not len(texts):
        return encode(texts)
    cache = EmbeddingCache(path, dimension)
    try:
        keys = [text_key(text) for text in texts]
        found = cache.get(list(dict.fromkeys(keys)))
        missing = list(dict.fromkeys(key for key in keys if key not in found))
        if missing:
            first_text = dict(zip(keys, texts, strict=True))
            fresh = encode([first_text[key] for key in missing])
            new = dict(zip(missing, fresh, strict=True))
            if store:
                cache.put(new)
            found.update(new)
        return np.stack([found[key] for key in keys]).astype(np.float32, copy=False)
    finally:
        cache.close()
