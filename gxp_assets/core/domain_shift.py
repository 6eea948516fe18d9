"""Domain-classifier two-sample test: can a classifier tell a batch's reports from the reference's?

Score PSI and the unseen n-gram share miss a change of writing style made of words the model already knows (the
call centre's "pt c/o rash after starting X" reads nothing like a case report, with the same vocabulary). A linear
classifier on word n-gram presence, fitted reference-vs-batch, sees it: its out-of-fold AUROC is 0.5 when the two
are alike and near 1 when a reader could tell them apart. Only bounded samples are kept: the reference keeps up to
``DOMAIN_SAMPLE_ROWS`` reports as word-bucket indices, the batch a bottom-k sample by a hash of each text, so the
same reports are chosen however the batch is chunked and memory does not grow with the batch.

Records of one document (sentences of an abstract, posts of a thread) share words that no other document has, and
a classifier learns them from one record and recognises the next: batch folds are therefore contiguous runs of the
batch (a document's records arrive together), and AUROC is computed within each source, so that a batch from one
channel is compared with that channel of the reference, not with the reference's channel mix (reported apart).

The test itself (:func:`separability`) takes any feature rows: declared records without text use it too
(core.record_domain), with their own features and sampler (:class:`BottomK` keyed by record id).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression

from gxp_assets.core.features import FeatureSpec, word_features
from gxp_assets.core.hashing import canonical_json, sha256_hex
from gxp_assets.core.output_drift import SLACK

DOMAIN_SAMPLE_ROWS = 2000  # reports kept per side; the AUROC's null sd at 2000 vs 2000 is about 0.009
MIN_DOMAIN_ROWS = 20  # fewer reports on a side (or of a source in the reference): no verdict
DOMAIN_FOLDS = 5
# Strong L2 penalty: a word that only a few documents share (a drug, an author's habit) must not carry the fit; on
# ADE batches of 60 sentences C = 1 let in-distribution AUROCs reach 0.83, C = 0.1 kept them below 0.75, while
# cross-channel and cross-corpus batches stayed above 0.9 (benchmarks/drift.py).
DOMAIN_C = 0.1
DOMAIN_MIN_Z = 3.0  # an AUROC must also stand this many null sds above 0.5 to alarm (one-sided p ~ 0.001)


def priority_keys(texts: Sequence[str]) -> np.ndarray:
    """A fixed 64-bit hash per text (pandas' keyed SipHash, the same on every platform and run): the sample key."""
    return pd.util.hash_array(np.asarray(texts, dtype=object))


def bottom_k(keys: np.ndarray, positions: np.ndarray, size: int) -> np.ndarray:
    """Indices of the ``size`` smallest (key, position) pairs: ties between equal texts go to the earlier row."""
    return np.lexsort((positions, keys))[:size]


def choose(texts: Sequence[str], size: int) -> np.ndarray:
    """Positions of the reports a ``DomainSampler`` of ``size`` keeps from ``texts``, without featurizing any."""
    return bottom_k(priority_keys(texts), np.arange(len(texts), dtype=np.int64), size)


def _b64(values: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


def _unb64(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text, validate=True), dtype=dtype).astype(np.int64)


@dataclass(frozen=True, eq=False)  # eq=False: arrays; compare ``to_dict()``
class DomainSample:
    """Word-bucket presence of sampled reports (CSR ``indptr``/``indices`` in a block ``buckets`` wide) and the
    source of each; rows in the order the test uses them."""

    buckets: int
    indptr: np.ndarray
    indices: np.ndarray
    sources: tuple[str, ...]

    @property
    def rows(self) -> int:
        return len(self.sources)

    def matrix(self) -> sp.csr_matrix:
        data = np.ones(len(self.indices), dtype=np.float64)
        return sp.csr_matrix((data, self.indices, self.indptr), shape=(self.rows, self.buckets))

    def _arrays(self) -> dict:
        names = sorted(set(self.sources))
        code = {name: index for index, name in enumerate(names)}
        return {
            "rows": self.rows,
            "buckets": self.buckets,
            "row_lengths_uint32_base64": _b64(np.diff(self.indptr), "<u4"),
            "indices_uint32_base64": _b64(self.indices, "<u4"),
            "source_names": names,
            "source_codes": [code[source] for source in self.sources],
        }

    def to_dict(self) -> dict:
        arrays = self._arrays()
        return {**arrays, "sha256": sha256_hex(canonical_json(arrays))}

    @classmethod
    def from_dict(cls, values: dict) -> DomainSample:
        """Refuses a record whose arrays were edited: their hash, lengths and bucket range must all agree."""
        arrays = {key: value for key, value in values.items() if key != "sha256"}
        if sha256_hex(canonical_json(arrays)) != values["sha256"]:
            raise ValueError("the domain sample does not match its recorded sha256: the record was altered")
        lengths = _unb64(arrays["row_lengths_uint32_base64"], "<u4")
        indices = _unb64(arrays["indices_uint32_base64"], "<u4")
        names, codes, buckets = arrays["source_names"], arrays["source_codes"], int(arrays["buckets"])
        if len(lengths) != int(arrays["rows"]) or len(codes) != len(lengths) or int(lengths.sum()) != len(indices):
            raise ValueError("the domain sample's rows, lengths and indices do not agree")
        if len(indices) and int(indices.max()) >= buckets:
            raise ValueError(f"a domain sample index lies outside the {buckets} word buckets")
        return cls(buckets, np.concatenate([[0], np.cumsum(lengths)]), indices, tuple(names[c] for c in codes))


def reference_sample(texts: list[str], sources: list[str], spec: FeatureSpec, rows: int) -> DomainSample | None:
    """The held-out reports batches are compared with, in key order (its folds are then random); only the reports
    kept are hashed. A spec without text has none."""
    if not spec.text_column:
        return None
    chosen = np.sort(choose(texts, rows))
    frame = pd.DataFrame({spec.text_column: [texts[i] for i in chosen]})
    sampler = DomainSampler(rows)
    sampler.add(word_features(frame, spec), frame[spec.text_column].tolist(), [sources[i] for i in chosen])
    return sampler.sample(by="key")


class BottomK:
    """Bottom-k sample of a stream of rows by a fixed key per row: the same rows however the stream is chunked, and
    memory bounded by ``size`` kept rows (whatever each keeps: a report's word buckets, a record's values)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._keys = np.empty(0, dtype=np.uint64)
        self._positions = np.empty(0, dtype=np.int64)
        self._rows: list[Any] = []
        self._seen = 0

    def offer(self, keys: np.ndarray, rows: Callable[[np.ndarray], list[Any]]) -> None:
        """Offer one chunk's keys; ``rows(indices)`` makes the kept form of those rows of the chunk, and is asked only
        for rows that can enter."""
        positions = self._seen + np.arange(len(keys), dtype=np.int64)
        self._seen += len(keys)
        if len(self._keys) >= self.size:  # full: a row enters only with a key no larger than the largest kept
            offered = np.flatnonzero(keys <= self._keys.max())
        else:
            offered = np.arange(len(keys))
        if not len(offered):
            return
        merged_keys = np.concatenate([self._keys, keys[offered]])
        merged_positions = np.concatenate([self._positions, positions[offered]])
        merged_rows = self._rows + rows(offered)
        keep = bottom_k(merged_keys, merged_positions, self.size)
        self._keys, self._positions = merged_keys[keep], merged_positions[keep]
        self._rows = [merged_rows[i] for i in keep]

    def kept(self, by: str = "position") -> list[Any]:
        """The kept rows in stream order (a batch: its folds are contiguous runs) or in key order (a reference)."""
        order = np.argsort(self._positions if by == "position" else self._keys, kind="stable")
        return [self._rows[i] for i in order]


class DomainSampler(BottomK):
    """Bottom-k sample of a stream of reports by ``priority_keys`` of their texts."""

    def __init__(self, size: int = DOMAIN_SAMPLE_ROWS) -> None:
        super().__init__(size)
        self._buckets: int | None = None

    def add(self, words: sp.csr_matrix, texts: Sequence[str], sources: Sequence[str]) -> None:
        """Offer one chunk (word block, texts, sources of the same rows); only rows that can enter are copied."""
        self._buckets = words.shape[1]

        def rows(offered: np.ndarray) -> list[Any]:
            return [(words.indices[words.indptr[i] : words.indptr[i + 1]].astype(np.int64), sources[i])
                    for i in offered]  # fmt: skip

        self.offer(priority_keys(texts), rows)

    def sample(self, by: str = "position") -> DomainSample | None:
        """The sample in stream order (a batch) or in key order (a reference)."""
        if self._buckets is None:
            return None
        kept = self.kept(by)
        rows = [np.unique(words) for words, _ in kept]
        indptr = np.concatenate([[0], np.cumsum([len(row) for row in rows])]).astype(np.int64)
        indices = np.concatenate(rows).astype(np.int64) if rows else np.empty(0, dtype=np.int64)
        return DomainSample(self._buckets, indptr, indices, tuple(source for _, source in kept))


@dataclass(frozen=True)
class DomainShift:
    """Out-of-fold AUROC of reference-vs-batch, within sources; ``z`` = (auc - 0.5) / its null sd."""

    auc: float | None
    z: float | None
    reference_rows: int
    batch_rows: int
    note: str | None


def _mann_whitney(reference: np.ndarray, batch: np.ndarray) -> tuple[float, float]:
    """AUROC of batch-vs-reference scores (ties count half) and its sd under "no difference"."""
    ranks = rankdata(np.concatenate([reference, batch]))
    n0, n1 = len(reference), len(batch)
    auc = (ranks[n0:].sum() - n1 * (n1 + 1) / 2) / (n0 * n1)
    return float(auc), float(np.sqrt((n0 + n1 + 1) / (12 * n0 * n1)))


def domain_shift(reference: DomainSample, batch: DomainSample | None) -> DomainShift:
    """Reports: :func:`separability` of the batch's sampled word n-grams from the reference's."""
    if batch is not None and batch.buckets != reference.buckets:
        raise ValueError(f"the batch has {batch.buckets} word buckets, the reference sample {reference.buckets}")
    if batch is None:
        return separability(reference.matrix(), reference.sources, None, (), "reports")
    return separability(reference.matrix(), reference.sources, batch.matrix(), batch.sources, "reports")


def separability(
    reference: sp.csr_matrix,
    reference_sources: Sequence[str],
    batch: sp.csr_matrix | None,
    batch_sources: Sequence[str],
    noun: str,
) -> DomainShift:
    """Fit reference-vs-batch on ``DOMAIN_FOLDS`` folds (reference rows dealt in turn, batch rows in contiguous runs)
    and score each fold out of sample; AUROC within each batch source (see the module docstring). ``noun`` names
    the rows in notes."""
    n_ref, n_batch = reference.shape[0], batch.shape[0] if batch is not None else 0
    if batch is None or n_batch < MIN_DOMAIN_ROWS or n_ref < MIN_DOMAIN_ROWS:
        note = f"domain_auc not judged: {n_ref} reference and {n_batch} batch {noun} sampled, "
        return DomainShift(None, None, n_ref, n_batch, note + f"at least {MIN_DOMAIN_ROWS} needed on each")
    ref_sources, batch_kinds = np.asarray(reference_sources, dtype=object), np.asarray(batch_sources, dtype=object)
    known = {s for s in set(batch_sources) if np.count_nonzero(ref_sources == s) >= MIN_DOMAIN_ROWS}
    # Compare with the reference's rows of the batch's sources; a source the reference barely has: with all of it.
    pooled = not set(batch_sources) <= known
    use = np.ones(n_ref, dtype=bool) if pooled else np.isin(ref_sources, sorted(known))
    stacked = sp.vstack([sp.csr_matrix(reference)[use], sp.csr_matrix(batch)], format="csr")
    columns, inverse = np.unique(stacked.indices, return_inverse=True)  # only the columns either side filled
    X = sp.csr_matrix((stacked.data, inverse, stacked.indptr), shape=(stacked.shape[0], len(columns)))
    n_ref = int(use.sum())
    if not len(columns):
        return DomainShift(None, None, n_ref, n_batch, "domain_auc not judged: no feature on either side")
    y = np.r_[np.zeros(n_ref), np.ones(n_batch)]
    folds = np.r_[np.arange(n_ref) % DOMAIN_FOLDS, np.arange(n_batch) * DOMAIN_FOLDS // n_batch]
    scores = np.zeros(len(y))
    for fold in range(DOMAIN_FOLDS):
        train, test = folds != fold, folds == fold
        model = LogisticRegression(C=DOMAIN_C, solver="liblinear", random_state=0).fit(X[train], y[train])
        scores[test] = model.decision_function(X[test])
    ref_scores, ref_kept, batch_scores = scores[:n_ref], ref_sources[use], scores[n_ref:]
    auc = variance = 0.0
    for source in sorted(set(batch_sources)):
        in_batch = batch_kinds == source
        against = ref_scores[ref_kept == source] if source in known else ref_scores
        stratum_auc, sd = _mann_whitney(against, batch_scores[in_batch])
        weight = in_batch.mean()
        auc, variance = auc + weight * stratum_auc, variance + (weight * sd) ** 2
    return DomainShift(float(auc), float((auc - 0.5) / np.sqrt(variance)), n_ref, n_batch, None)


def judged_auc(shift: DomainShift, limit: float | None, notes: list[str], noun: str) -> float | None:
    """The AUROC ``limit`` judges: a measured one only when it also stands ``DOMAIN_MIN_Z`` null sds above 0.5 (a
    small batch's AUROC wanders far from 0.5 by chance); why there is no verdict goes to ``notes``."""
    if shift.note or shift.auc is None or shift.z is None:  # not measured: the note says why
        notes.extend([shift.note] if shift.note else [])
        return None
    if shift.z >= DOMAIN_MIN_Z:
        return shift.auc
    if limit is not None and shift.auc > limit + SLACK:
        notes.append(f"domain_auc {shift.auc:.4g} is above its limit but only {shift.z:.2f} null sds above 0.5 "
                     f"at {shift.batch_rows} {noun}: not significant, no alarm")  # fmt: skip
    return None
