"""Label-free drift of one scored batch against the training reference.

Adjudicated labels arrive weeks after scoring, so the change control plan watches what is known at once: the
distribution of the model's raw scores (PSI), the share of word n-grams never seen in training, and the share of
reports sent to human review; and, for a change of writing style in words the model knows, how well a classifier
tells the batch from the reference (``domain_auc``, core.domain_shift). Text length and the source mix are measured
too, for the reader, but not judged.

A batch of a million records arrives in chunks; ``DriftAccumulator`` keeps counts and a bounded sample only, so
memory does not grow with the batch, and ``measure_drift`` is the same accumulator fed one chunk.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from gxp_assets.core.domain_shift import (
    DOMAIN_SAMPLE_ROWS,
    DomainSample,
    DomainSampler,
    DomainShift,
    domain_shift,
    judged_auc,
    reference_sample,
)
from gxp_assets.core.drift_stats import bin_counts, psi, quantile_edges
from gxp_assets.core.features import FeatureSpec, word_features
from gxp_assets.core.hashing import canonical_json, sha256_hex
from gxp_assets.core.output_drift import (
    OutputCounts,
    OutputReference,
    alarms_of,
    finite_scores,
    output_reference,
    strings,
)

#: Below this many reports a batch's drift is measured and shown but not judged (core.fail_safe then withholds
#: auto-close for that batch alone, since nothing watches the guarantee's assumptions there).
MIN_JUDGED_REPORTS = 20
_BINNED = ("score_edges", "score_shares", "length_edges", "length_shares")


def word_block(X: sp.csr_matrix, spec: FeatureSpec) -> sp.csr_matrix:
    """The word n-gram columns of a full feature matrix, one stored entry per present (report, bucket) pair.

    A spec without text has no word block: the result then has no columns.
    """
    if X.shape[1] != spec.n_features:
        raise ValueError(f"the features have {X.shape[1]} columns, the feature spec {spec.n_features}: another spec")
    start = 0
    for name, width in spec.blocks():
        if name == "word":
            block = sp.csr_matrix(X[:, start : start + width], copy=True)
            block.sum_duplicates()
            block.eliminate_zeros()
            return block
        start += width
    return sp.csr_matrix((X.shape[0], 0), dtype=np.float32)


def _texts(texts: Iterable[object]) -> pd.Series:
    """A missing text counts as empty, as ``featurize`` treats it."""
    return pd.Series(list(texts), dtype=object).fillna("").astype(str)


def _text_lengths(texts: Iterable[object]) -> np.ndarray:
    """Characters per text."""
    return _texts(texts).str.len().to_numpy(dtype=np.int64)


def _check_rows(n: int, **others: int) -> None:
    wrong = {name: count for name, count in others.items() if count != n}
    if wrong:
        raise ValueError(f"{n} scores but {wrong}: every input must hold one row per report")


@dataclass(frozen=True)
class DriftLimits:
    """The plan's drift triggers (``DriftThresholds``), filled in by the Dagster layer so core needs no plan."""

    score_psi_max: float
    unseen_ngram_share_max: float | None  # None: a use case without text
    review_share_increase_max: float  # over the reference's REVIEW share
    domain_auc_max: float | None = None  # None: domain_auc is measured and shown, not judged
    # Tabular columns (core.record_drift), per column; None: measured and shown, not judged.
    numeric_psi_max: float | None = None
    categorical_psi_max: float | None = None
    missing_share_max: float | None = None
    out_of_range_share_max: float | None = None
    unseen_level_share_max: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, eq=False)  # eq=False: numpy arrays have no single truth value; compare ``to_dict()``
class DriftReference:
    """What a batch is compared with: the held-out split's score, length, triage and source distributions, and
    the word n-gram buckets the training split filled, for the feature spec the model was trained on; and a sample of
    the held-out reports' word n-grams for the domain classifier (None in references made before it existed)."""

    feature_spec: FeatureSpec
    n_reports: int
    score_edges: tuple[float, ...]  # inner edges; bins (-inf, e0), [e0, e1), ..., [e_last, inf)
    score_shares: tuple[float, ...]
    length_edges: tuple[float, ...]  # text length in characters, binned the same way
    length_shares: tuple[float, ...]
    seen_word_buckets: np.ndarray  # bool per word-block column: present in at least one training report
    review_share: float
    source_shares: dict[str, float]
    domain_sample: DomainSample | None = None

    @property
    def feature_spec_sha256(self) -> str:
        return self.feature_spec.sha256

    @property
    def output(self) -> OutputReference:
        return OutputReference(self.n_reports, self.score_edges, self.score_shares, self.review_share,
                               self.source_shares)  # fmt: skip

    def accumulator(self) -> DriftAccumulator:
        """What counts a batch against this reference while it is scored (core.batch_scoring)."""
        return DriftAccumulator(self)

    @property
    def sha256(self) -> str:
        return sha256_hex(canonical_json(self.to_dict()))

    def to_dict(self) -> dict:
        seen = np.asarray(self.seen_word_buckets, dtype=bool)
        return {
            "feature_spec": self.feature_spec.to_dict(),
            "feature_spec_sha256": self.feature_spec_sha256,
            "n_reports": self.n_reports,
            **{name: list(getattr(self, name)) for name in _BINNED},
            "seen_word_buckets": {
                "length": len(seen),
                "count": int(seen.sum()),
                "packbits_base64": base64.b64encode(np.packbits(seen)).decode("ascii"),
            },
            "review_share": self.review_share,
            "source_shares": dict(self.source_shares),
            # Left out when absent, so that a reference made before the sample existed keeps its hash.
            **({"domain_sample": self.domain_sample.to_dict()} if self.domain_sample is not None else {}),
        }

    @classmethod
    def from_dict(cls, values: dict) -> DriftReference:
        spec = FeatureSpec.from_dict(values["feature_spec"])
        if spec.sha256 != values["feature_spec_sha256"]:
            raise ValueError(f"feature spec hashes to {spec.sha256}, the record says {values['feature_spec_sha256']}")
        packed = values["seen_word_buckets"]
        bits = np.frombuffer(base64.b64decode(packed["packbits_base64"], validate=True), dtype=np.uint8)
        seen = np.unpackbits(bits, count=int(packed["length"])).astype(bool)
        if len(seen) != int(packed["length"]) or int(seen.sum()) != int(packed["count"]):
            raise ValueError("the seen word buckets do not match their recorded length and count")
        return cls(
            feature_spec=spec,
            n_reports=int(values["n_reports"]),
            **{name: tuple(float(value) for value in values[name]) for name in _BINNED},
            seen_word_buckets=seen,
            review_share=float(values["review_share"]),
            source_shares={str(key): float(share) for key, share in values["source_shares"].items()},
            domain_sample=DomainSample.from_dict(values["domain_sample"]) if "domain_sample" in values else None,
        )


def build_reference(
    train_features: sp.csr_matrix,
    spec: FeatureSpec,
    reference_texts: Iterable[object],
    reference_scores: Iterable[float],
    reference_triage: Iterable[object],
    reference_sources: Iterable[object],
    bins: int = 10,
    domain_rows: int = DOMAIN_SAMPLE_ROWS,
) -> DriftReference:
    """Seen buckets from the train split's features; everything else from a held-out split (pass the test split:
    its scores are out of sample, as a new batch's are). The domain sample hashes only the ``domain_rows`` reports
    it keeps, chosen by a hash of their text; a spec without text has none."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    scores, texts = finite_scores(reference_scores), _texts(reference_texts)
    triage, sources, lengths = strings(reference_triage), strings(reference_sources), _text_lengths(texts)
    _check_rows(len(scores), texts=len(lengths), triage=len(triage), sources=len(sources))
    if len(scores) == 0:
        raise ValueError("the reference split holds no report: there is nothing to compare a batch with")
    output = output_reference(scores, triage, sources, quantile_edges(scores, bins))
    words = word_block(train_features, spec)
    length_edges = quantile_edges(lengths, bins)
    return DriftReference(
        feature_spec=spec,
        n_reports=output.n,
        score_edges=output.score_edges,
        score_shares=output.score_shares,
        length_edges=length_edges,
        length_shares=tuple(float(c) / len(scores) for c in bin_counts(lengths, length_edges)),
        seen_word_buckets=np.bincount(words.indices, minlength=words.shape[1]) > 0,
        review_share=output.review_share,
        source_shares=output.source_shares,
        domain_sample=reference_sample(texts.tolist(), sources.tolist(), spec, domain_rows),
    )


@dataclass(frozen=True)
class DriftMeasurement:
    """One batch against the reference. A metric is None where the batch gives it no meaning (no reports, no words).

    ``unseen_ngram_share`` = present (report, word n-gram bucket) pairs whose bucket no training report filled,
    divided by all present word pairs. Hashing puts different n-grams into one bucket, so a new n-gram can land in
    a seen bucket and go uncounted: the share is a lower bound of the true unseen n-gram share.
    """

    n_reports: int
    score_psi: float | None
    length_psi: float | None
    unseen_ngram_share: float | None
    review_share: float | None
    source_shares: dict[str, float]
    source_shift: float | None  # total variation distance to the reference source mix, in [0, 1]
    score_counts: tuple[int, ...]  # per reference score bin, for the plot
    length_counts: tuple[int, ...]
    word_pairs: int
    unseen_word_pairs: int
    limits: DriftLimits
    alarms: list[str]
    notes: list[str]
    reference_sha256: str
    # Out-of-fold AUROC of a classifier telling batch from reference (0.5: alike), its z against 0.5 under "no
    # difference", and the batch reports it was fitted on (a bounded sample); None where not measured.
    domain_auc: float | None = None
    domain_auc_z: float | None = None
    domain_rows: int = 0
    score_psi_noise: float | None = None  # score_psi alarms only above this too (``psi_noise``)

    @property
    def drifted(self) -> bool:
        return bool(self.alarms)

    def to_dict(self) -> dict:
        values = asdict(self)
        values["drifted"] = self.drifted
        return values


def judged(alarms: list[str], n: int, notes: list[str], noun: str) -> list[str]:
    """``alarms``, or none when ``n`` (> 0) is below MIN_JUDGED_REPORTS: shares of a handful of records say nothing,
    and the fail-safe withholds the fast route for that batch instead (said in ``notes``)."""
    if 0 < n < MIN_JUDGED_REPORTS:
        notes.append(f"{n} {noun} are too few to judge drift (at least {MIN_JUDGED_REPORTS}): no alarm")
        return []
    return alarms


class DriftAccumulator:
    """Counts of one batch, fed chunk by chunk: memory is the reference, a few counters, 8 bytes per document and a
    sample of at most ``DOMAIN_SAMPLE_ROWS`` reports' word n-grams."""

    def __init__(self, reference: DriftReference) -> None:
        self.reference = reference
        self._output = OutputCounts(reference.output)
        self._length_counts = np.zeros(len(reference.length_shares), dtype=np.int64)
        self._word_pairs = 0
        self._unseen_word_pairs = 0
        self._sampler = DomainSampler() if reference.domain_sample is not None else None

    def add(
        self,
        features: sp.csr_matrix,
        texts: Iterable[object],
        scores: Iterable[float],
        triage: Iterable[object],
        sources: Iterable[object],
        documents: Iterable[object] | None = None,
    ) -> None:
        """Count one chunk; the rows of every argument are the same reports in the same order."""
        words = word_block(features, self.reference.feature_spec)
        self._count(words, texts, scores, triage, sources, documents)

    def add_scored(self, valid: pd.DataFrame, features: sp.csr_matrix, predictions: pd.DataFrame) -> None:
        """Count a block as core.batch_scoring scores it: its features and its predictions (SCORED_COLUMNS)."""
        self.add(features, predictions["text"].tolist(), predictions["raw_score"].to_numpy(),
                 predictions["triage"].to_numpy(), predictions["source"].tolist(),
                 predictions["document_id"].tolist())  # fmt: skip

    def add_predictions(self, predictions: pd.DataFrame) -> None:
        """Count scored reports as the results store keeps them (text, source, raw_score, triage columns).

        Only the word n-grams are hashed again, not the whole feature matrix: the character n-grams that dominate
        featurizing are not needed to measure drift.
        """
        if predictions.empty:
            return  # featurizing no rows is undefined, and there is nothing to count
        self._count(
            word_features(predictions, self.reference.feature_spec),
            predictions["text"].tolist(),
            predictions["raw_score"].to_numpy(),
            predictions["triage"].to_numpy(),
            predictions["source"].tolist(),
            predictions["document_id"].tolist() if "document_id" in predictions else None,
        )

    def _count(
        self,
        words: sp.csr_matrix,
        texts: Iterable[object],
        scores: Iterable[float],
        triage: Iterable[object],
        sources: Iterable[object],
        documents: Iterable[object] | None,
    ) -> None:
        values, text_values, source_values = finite_scores(scores), _texts(texts), strings(sources)
        lengths = text_values.str.len().to_numpy(dtype=np.int64)
        _check_rows(len(values), features=words.shape[0], texts=len(lengths), sources=len(source_values))
        self._output.add(values, triage, source_values, documents)
        buckets = words.indices
        self._length_counts += bin_counts(lengths, self.reference.length_edges)
        self._word_pairs += len(buckets)
        self._unseen_word_pairs += int(np.count_nonzero(~self.reference.seen_word_buckets[buckets]))
        if self._sampler is not None:
            self._sampler.add(words, text_values.tolist(), source_values.tolist())

    def result(self, limits: DriftLimits) -> DriftMeasurement:
        """The measurement so far, judged against ``limits``; each crossed limit is one alarm."""
        reference, n = self.reference, self._output.n
        notes: list[str] = []
        if n == 0:
            notes.append("empty batch: no report to measure, so no drift is judged")
        output = self._output.measure(limits.score_psi_max, limits.review_share_increase_max, notes)
        length_psi = unseen_share = None
        if n:
            length_psi = psi(self._length_counts / n, reference.length_shares)
            if self._word_pairs:
                unseen_share = self._unseen_word_pairs / self._word_pairs
            else:
                notes.append("no word n-gram in the batch: the unseen n-gram share is undefined")
        shift = self._domain_shift(notes) if n else None
        domain_auc = shift.auc if shift is not None else None
        monitored = [
            *output.monitored(limits.score_psi_max, limits.review_share_increase_max),
            ("unseen_ngram_share", unseen_share, limits.unseen_ngram_share_max),
            ("domain_auc", judged_auc(shift, limits.domain_auc_max, notes, "reports") if shift is not None else None,
             limits.domain_auc_max),
        ]  # fmt: skip
        alarms = judged(alarms_of(monitored), n, notes, "reports")
        return DriftMeasurement(
            n_reports=n,
            score_psi=output.score_psi,
            length_psi=length_psi,
            unseen_ngram_share=unseen_share,
            review_share=output.review_share,
            source_shares=output.source_shares,
            source_shift=output.source_shift,
            score_counts=output.score_counts,
            length_counts=tuple(int(c) for c in self._length_counts),
            word_pairs=self._word_pairs,
            unseen_word_pairs=self._unseen_word_pairs,
            limits=limits,
            alarms=alarms,
            notes=notes,
            reference_sha256=reference.sha256,
            domain_auc=domain_auc,
            domain_auc_z=shift.z if shift is not None else None,
            domain_rows=shift.batch_rows if shift is not None else 0,
            score_psi_noise=output.score_psi_noise,
        )

    def _domain_shift(self, notes: list[str]) -> DomainShift | None:
        """The classifier is fitted here, once per batch, never per chunk."""
        sample = self.reference.domain_sample
        if sample is None or self._sampler is None:
            notes.append("the drift reference holds no report sample (made before domain_auc): domain_auc not measured")
            return None
        return domain_shift(sample, self._sampler.sample(by="position"))


def measure_drift(
    reference: DriftReference,
    features: sp.csr_matrix,
    texts: Iterable[object],
    scores: Iterable[float],
    triage: Iterable[object],
    sources: Iterable[object],
    limits: DriftLimits,
    documents: Iterable[object] | None = None,
) -> DriftMeasurement:
    """One batch in one piece: the accumulator fed a single chunk, so both paths are one implementation."""
    accumulator = DriftAccumulator(reference)
    accumulator.add(features, texts, scores, triage, sources, documents)
    return accumulator.result(limits)
