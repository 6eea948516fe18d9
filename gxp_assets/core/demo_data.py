"""Synthetic adverse-event (AE) reports: the bundled demo data, so that the pipeline runs without a real corpus.

Everything here is made up: document ids such as ``SM-000042``, ``CC-2026-000042`` or ``PMID-99000042`` are
synthetic, and no text was taken from a real person, case or publication. Drug and symptom names are real so that
the texts read like pharmacovigilance intake.

The labels depend on meaning rather than on one keyword, so that a model has something to learn and something hard:
a positive record attributes a symptom to the drug with some timing; the negatives are negations ("denies rash"),
hedged or non-causal co-occurrence ("probably from the heat, not the pill"), the disease being treated, product
questions and complaints, efficacy statements and literature background. A few records carry typos, so that
character n-grams matter, and a ``label_noise`` share of labels is flipped, as in real adjudication.

Randomness comes only from ``random.Random(...).random()``, whose sequence Python guarantees across versions; the
other helpers of ``random`` and numpy's streams may change between releases, which would change the demo data.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pandas as pd

from gxp_assets.core.demo_vocabulary import (
    _CC_ACTIONS,
    _CC_AE_ACTIONS,
    _CC_PREFIXES,
    _CC_TIMING_OF,
    _DRUGS,
    _FILLERS,
    _RELATIVES,
    _SEXES,
    _SM_PREFIXES,
    _SM_SEPARATORS,
    _SM_SUFFIXES,
    _SM_TAGS,
    _SYMPTOMS,
    _TEMPLATES,
    _TIMINGS,
)

DEMO_CHANNELS: tuple[str, ...] = ("social_media", "call_centre", "literature")

_T = TypeVar("_T")
_COLUMNS: tuple[str, ...] = ("report_id", "document_id", "source", "text", "received_at", "label", "product")
_WINDOW_START = datetime(2026, 1, 1, tzinfo=UTC)
_WINDOW_MINUTES = 181 * 24 * 60 - 1  # up to 2026-06-30T23:59Z
_CHANNEL_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("social_media", 0.4),
    ("call_centre", 0.3),
    ("literature", 0.3),
)
# records per document (inclusive) and minutes between consecutive records of one document
_RECORDS = {"social_media": (1, 4), "call_centre": (1, 5), "literature": (2, 8)}
_GAP_MINUTES = {"social_media": (3, 18 * 60), "call_centre": (20, 30 * 60), "literature": (1, 1)}
_AE_DOCUMENT_SHARE = 0.4  # documents that describe an AE at all
_AE_RECORD_SHARE = 0.45  # records of such a document that state it (at least one does)
_TYPO_SHARE = 0.05
_NEGATIVE_KINDS = {
    "social_media": (("negation", 0.2), ("hedge", 0.15), ("indication", 0.15), ("product", 0.2),
                     ("efficacy", 0.1), ("chatter", 0.2)),
    "call_centre": (("negation", 0.25), ("hedge", 0.15), ("indication", 0.1), ("product", 0.3),
                    ("efficacy", 0.05), ("chatter", 0.15)),
    "literature": (("negation", 0.15), ("hedge", 0.15), ("indication", 0.15), ("efficacy", 0.1),
                   ("background", 0.45)),
}  # fmt: skip


class _Random:
    """Draws built only on ``random.Random.random()``, the one part of ``random`` stable across Python versions."""

    def __init__(self, seed: int | str) -> None:
        self._random = random.Random(seed)

    def uniform(self) -> float:
        return self._random.random()

    def below(self, n: int) -> int:
        return min(int(self._random.random() * n), n - 1)

    def between(self, low: int, high: int) -> int:
        return low + self.below(high - low + 1)

    def chance(self, p: float) -> bool:
        return self._random.random() < p

    def pick(self, items: Sequence[_T]) -> _T:
        return items[self.below(len(items))]

    def weighted(self, items: Sequence[tuple[_T, float]]) -> _T:
        point = self._random.random() * sum(weight for _, weight in items)
        for item, weight in items:
            point -= weight
            if point < 0:
                return item
        return items[-1][0]


def generate_demo_reports(n_documents: int = 1000, seed: int = 7, label_noise: float = 0.01) -> pd.DataFrame:
    """Synthetic labelled reports, one row per record; the same arguments always give the same frame."""
    for argument, value in (("n_documents", n_documents), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{argument} must be an integer, got {value!r}")
    if n_documents < 0:
        raise ValueError(f"n_documents must not be negative, got {n_documents}")
    if not 0.0 <= label_noise <= 1.0:
        raise ValueError(f"label_noise must lie in [0, 1], got {label_noise!r}")
    rng = _Random(seed)
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    for number in range(1, n_documents + 1):
        rows.extend(_document(rng, number, seen))
    # A separate stream, so that the noise level changes which labels flip and nothing else.
    noise = _Random(f"gxp-demo-label-noise:{seed}")
    keys = [noise.uniform() for _ in rows]
    for index in sorted(range(len(rows)), key=keys.__getitem__)[: round(label_noise * len(rows))]:
        rows[index]["label"] = "0" if rows[index]["label"] == "1" else "1"
    return pd.DataFrame(rows, columns=list(_COLUMNS)).astype(object)


def write_demo_reports(path: Path, n_documents: int = 1000, seed: int = 7, label_noise: float = 0.01) -> Path:
    """Write the demo reports as CSV atomically, so that a reader never sees half a file."""
    path = Path(path)
    frame = generate_demo_reports(n_documents=n_documents, seed=seed, label_noise=label_noise)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            frame.to_csv(stream, index=False, lineterminator="\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def demo_batch(
    n_documents: int,
    seed: int,
    *,
    channels: tuple[str, ...] = DEMO_CHANNELS,
    received_until: datetime | None = None,
    received_over: timedelta = timedelta(days=1),
    with_labels: bool = False,
) -> pd.DataFrame:
    """An incoming batch as a channel would deliver it: fresh report ids, reception times spread over
    ``received_over`` up to ``received_until`` (UTC), and no label unless asked (labels then serve as adjudications)."""
    frame = generate_demo_reports(n_documents=n_documents, seed=seed)
    frame = frame[frame["source"].isin(channels)].reset_index(drop=True)
    prefix = f"batch{seed}"
    frame["report_id"] = prefix + "-" + frame["report_id"].astype(str)
    frame["document_id"] = prefix + "-" + frame["document_id"].astype(str)
    if received_until is not None:
        position = (pd.to_datetime(frame["received_at"], utc=True) - _WINDOW_START) / timedelta(minutes=_WINDOW_MINUTES)
        received = received_until.astimezone(UTC) - (1 - position) * received_over
        frame["received_at"] = received.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return frame if with_labels else frame.drop(columns=["label"])


def _document(rng: _Random, number: int, seen: set[str]) -> list[dict[str, str]]:
    """The records of one document: a thread, a case or an abstract about one main drug."""
    channel = rng.weighted(_CHANNEL_WEIGHTS)
    count = rng.between(*_RECORDS[channel])
    drug = rng.pick(_DRUGS)
    symptom = rng.pick(_SYMPTOMS)
    positives = [False] * count
    if rng.chance(_AE_DOCUMENT_SHARE):
        positives = [rng.chance(_AE_RECORD_SHARE) for _ in range(count)]
        positives[rng.below(count)] = True
    document_id = {
        "social_media": f"SM-{number:06d}",
        "call_centre": f"CC-2026-{number:06d}",
        "literature": f"PMID-{99_000_000 + number}",
    }[channel]
    gaps = [rng.between(*_GAP_MINUTES[channel]) for _ in range(count - 1)]
    minute = rng.between(0, _WINDOW_MINUTES - sum(gaps))
    records = []
    for index, positive in enumerate(positives):
        if index:
            minute += gaps[index - 1]
        record_drug = drug if channel != "social_media" or rng.chance(0.8) else rng.pick(_DRUGS)
        record_symptom = symptom if positive and rng.chance(0.8) else rng.pick(_SYMPTOMS)
        text, product = _unique_text(rng, channel, positive, record_drug, record_symptom, seen)
        records.append(
            {
                "report_id": f"demo-{number:06d}-{index + 1}",
                "document_id": document_id,
                "source": channel,
                "text": text,
                "received_at": (_WINDOW_START + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "label": "1" if positive else "0",
                "product": product,
            }
        )
    return records


def _unique_text(
    rng: _Random,
    channel: str,
    positive: bool,
    drug: tuple[str, ...],
    symptom: tuple[str, ...],
    seen: set[str],
) -> tuple[str, str]:
    """Draw until the text is new: the pipeline quarantines exact duplicates, which would thin out the demo."""
    for _ in range(50):
        kind = "positive" if positive else rng.weighted(_NEGATIVE_KINDS[channel])
        template = rng.pick(_TEMPLATES[channel][kind])
        text, product = _render(rng, channel, kind, template, drug, symptom)
        if text not in seen:
            break
    seen.add(text)
    return text, product


def _render(
    rng: _Random, channel: str, kind: str, template: str, drug: tuple[str, ...], symptom: tuple[str, ...]
) -> tuple[str, str]:
    """Fill a template and dress it in its channel's voice; the product is the drug if the text names it."""
    name, indication, lay_indication, strengths = drug
    other = rng.pick([candidate for candidate in _DRUGS if candidate[0] != name])
    second = rng.pick([candidate for candidate in _SYMPTOMS if candidate != symptom])
    lay = channel == "social_media" or (channel == "call_centre" and rng.chance(0.7))
    relative, pronoun = rng.pick(_RELATIVES)
    sex, subject = rng.pick(_SEXES)
    age = rng.between(18, 89)
    fields = {
        "drug": name,
        "drug2": other[0],
        "dose": rng.pick([strength.strip() for strength in strengths.split(",")]),
        "ind": indication,
        "ind_lay": lay_indication,
        "sym": symptom[0] if lay else symptom[1],
        "sym2": second[0] if lay else second[1],
        "sym_c": symptom[1],
        "relative": relative,
        "pron": subject if channel == "literature" else pronoun,
        "sex": sex,
        "a_age": f"{'an' if age == 18 or 80 <= age <= 89 else 'a'} {age}-year-old",
        "n": str(rng.between(2, 9)),
        "k": str(rng.between(2, 14)),
        "pct": str(rng.between(3, 78)),
        "naranjo": str(rng.between(5, 8)),
        "year": f"{rng.between(2008, 2019)} to {rng.between(2020, 2025)}",
        "batch": f"B{rng.between(10000, 99999)}",
        "ref": f"{rng.between(100000, 999999)}",
    }
    fields.update({key: rng.pick(options) for key, options in _FILLERS.items()})
    fields["timing"] = rng.pick(_TIMINGS[channel])
    fields["timing_of"] = rng.pick(_CC_TIMING_OF)
    text = _fill(template, fields)
    product = name if name in text else ""
    if channel == "social_media":
        text = _social(rng, text)
    elif channel == "call_centre":
        if rng.chance(0.3):
            text = f"{_fill(rng.pick(_CC_PREFIXES), fields)} {text}"
        if " Advised" not in text and rng.chance(0.5):
            actions = _CC_ACTIONS + _CC_AE_ACTIONS if kind == "positive" else _CC_ACTIONS
            text = f"{text} {rng.pick(actions)}"
    text = text[0].upper() + text[1:] if channel != "social_media" else text
    if rng.chance(_TYPO_SHARE):
        text = _typo(rng, text)
    return text, product


def _fill(template: str, fields: dict[str, str]) -> str:
    """Format twice, because fillers such as the timing phrases hold placeholders of their own."""
    return template.format(**fields).format(**fields)


def _social(rng: _Random, text: str) -> str:
    if rng.chance(0.3):
        text = f"{rng.pick(_SM_PREFIXES)} {text}"
    if rng.chance(0.6):
        text = f"{text}{rng.pick(_SM_SEPARATORS)}{rng.pick(_SM_SUFFIXES)}"
    tags = rng.between(0, 2)
    first = rng.below(len(_SM_TAGS))
    for offset in range(tags):
        text = f"{text} {_SM_TAGS[(first + offset * 3) % len(_SM_TAGS)]}"
    text = text.lower()
    return text[0].upper() + text[1:] if rng.chance(0.15) else text


def _typo(rng: _Random, text: str) -> str:
    """One or two slips of the keyboard inside words: a swap, a dropped or a doubled letter."""
    for _ in range(1 if rng.chance(0.7) else 2):
        letters = [i for i in range(1, len(text) - 1) if text[i].isalpha() and text[i + 1].isalpha()]
        if not letters:
            break
        i = rng.pick(letters)
        operation = rng.below(3)
        if operation == 0:
            text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        elif operation == 1:
            text = text[:i] + text[i + 1 :]
        else:
            text = text[:i] + text[i] + text[i:]
    return text
