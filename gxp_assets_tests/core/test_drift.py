from __future__ import annotations

import json
import math
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gxp_assets.core.conformal import Triage, fit_conformal, triage
from gxp_assets.core.demo_data import generate_demo_reports
from gxp_assets.core.domain_shift import DOMAIN_SAMPLE_ROWS, MIN_DOMAIN_ROWS, DomainSampler, choose
from gxp_assets.core.drift import (
    DriftAccumulator,
    DriftLimits,
    DriftMeasurement,
    DriftReference,
    build_reference,
    measure_drift,
    word_block,
)
from gxp_assets.core.drift_stats import psi, psi_noise
from gxp_assets.core.features import DEFAULT_FEATURE_SPEC, FeatureSpec, featurize
from gxp_assets.core.model import TrainingParams, load_classifier, predict_scores, train_classifier
from gxp_assets.core.plots import drift_plot
from gxp_assets.core.splits import SplitPlan, assign_splits

PLAN_LIMITS = DriftLimits(
    score_psi_max=0.2, unseen_ngram_share_max=0.35, review_share_increase_max=0.2, domain_auc_max=0.8
)
SMALL_SPEC = FeatureSpec(word_buckets=2**12, char_buckets=2**10)
FAST = TrainingParams(
    learning_rate=0.2, max_rounds=30, early_stopping_rounds=30, num_leaves=8, min_data_in_leaf=5, num_threads=1
)
PNG = b"\x89PNG\r\n\x1a\n"


def toy_score(texts: pd.Series) -> np.ndarray:
    """A fixed, monotone stand-in for a model: more AE words, higher score; no training needed."""
    cues = ("after", "since", "developed", "started", "rash", "nausea")
    hits = texts.str.lower().map(lambda text: sum(cue in text for cue in cues)).to_numpy(dtype=float)
    return 1 / (1 + np.exp(-(hits - 1.5)))


def toy_triage(scores: np.ndarray) -> np.ndarray:
    return np.where(scores < 0.3, Triage.AUTO_CLOSE, np.where(scores > 0.7, Triage.PRIORITY, Triage.REVIEW))


def toy_inputs(reports: pd.DataFrame, spec: FeatureSpec = SMALL_SPEC) -> tuple:
    """features, texts, scores, triage, sources of a frame of reports."""
    scores = toy_score(reports["text"])
    return featurize(reports, spec), reports["text"], scores, toy_triage(scores), reports["source"]


@pytest.fixture(scope="module")
def toy_reference() -> DriftReference:
    reports = generate_demo_reports(n_documents=120, seed=1)
    features, texts, scores, triaged, sources = toy_inputs(reports)
    return build_reference(features, SMALL_SPEC, texts, scores, triaged, sources)


def test_psi_is_the_formula_with_a_floor_on_empty_bins() -> None:
    expected = 0.25 * math.log(0.5 / 0.25) + (-0.25) * math.log(0.5 / 0.75)
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected, rel=1e-12)
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.274653, abs=1e-6)
    empty_bin = (1e-4 - 0.5) * math.log(1e-4 / 0.5) + 0.5 * math.log(1 / 0.5)
    assert psi([0.0, 1.0], [0.5, 0.5]) == pytest.approx(empty_bin, rel=1e-12)  # finite, and large
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0
    with pytest.raises(ValueError, match="same bins"):
        psi([0.5, 0.5], [1.0])


def test_unseen_ngram_share_counts_present_word_pairs_exactly() -> None:
    spec = FeatureSpec(word_buckets=8, char_buckets=4)  # columns 0-7 word, 8-11 char
    train = sp.csr_matrix(
        (np.ones(5), ([0, 0, 1, 1, 1], [0, 1, 1, 2, 8])), shape=(2, spec.n_features)
    )  # word buckets 0, 1, 2 seen; char column 8 must not count as a word
    reference = build_reference(train, spec, ["a", "bb"], [0.1, 0.9], ["REVIEW", "AUTO_CLOSE"], ["x", "y"])
    assert reference.seen_word_buckets.tolist() == [True, True, True, False, False, False, False, False]
    # Row 0: word buckets 0 (seen) and 3 (unseen, stored twice: one pair), char 9 and 11 (ignored).
    # Row 1: word 2 (seen), 5 and 6 (unseen), an explicit zero at 7 (absent). Row 2: no word at all.
    batch = sp.csr_matrix(
        (
            np.array([1, 1, 1, 1, 1, 1, 1, 1, 0], dtype=np.float32),
            np.array([0, 3, 3, 9, 11, 2, 5, 6, 7]),
            np.array([0, 5, 9, 9]),
        ),
        shape=(3, spec.n_features),
    )
    assert word_block(batch, spec).nnz == 5
    measured = measure_drift(reference, batch, ["", "", ""], [0.5] * 3, ["REVIEW"] * 3, ["x"] * 3, PLAN_LIMITS)
    assert (measured.word_pairs, measured.unseen_word_pairs) == (5, 3)
    assert measured.unseen_ngram_share == pytest.approx(3 / 5)
    assert measured.alarms == [] and any("too few to judge" in note for note in measured.notes)  # 3 reports
    many = sp.vstack([batch] * 7, format="csr")  # 21 reports, the same shares: now judged
    judged = measure_drift(reference, many, [""] * 21, [0.5] * 21, ["REVIEW"] * 21, ["x"] * 21, PLAN_LIMITS)
    assert judged.unseen_ngram_share == pytest.approx(3 / 5)
    assert "unseen_ngram_share 0.6 > 0.35" in judged.alarms
    with pytest.raises(ValueError, match="another spec"):
        word_block(sp.csr_matrix((1, 5)), spec)


def test_identical_distributions_give_zero_psi_and_no_alarm(toy_reference: DriftReference) -> None:
    reports = generate_demo_reports(n_documents=120, seed=1)
    measured = measure_drift(toy_reference, *toy_inputs(reports), PLAN_LIMITS)
    assert measured.score_psi == pytest.approx(0.0, abs=1e-12)
    assert measured.length_psi == pytest.approx(0.0, abs=1e-12)
    assert measured.source_shift == pytest.approx(0.0, abs=1e-12)
    assert measured.review_share == pytest.approx(toy_reference.review_share)
    assert measured.unseen_ngram_share == 0.0  # the same texts filled the reference's buckets
    assert measured.alarms == [] and not measured.drifted
    assert sum(measured.score_counts) == measured.n_reports == toy_reference.n_reports


def test_quantile_bins_survive_ties_and_values_outside_the_reference() -> None:
    spec = FeatureSpec(word_buckets=8, char_buckets=4)
    scores = np.array([0.0] * 60 + [0.2] * 20 + list(np.linspace(0.3, 0.9, 20)))  # 60 % tied at the minimum
    n = len(scores)
    reference = build_reference(
        sp.csr_matrix((1, spec.n_features)), spec, ["text"] * n, scores, ["AUTO_CLOSE"] * n, ["x"] * n, bins=10
    )
    assert list(reference.score_edges) == sorted(set(reference.score_edges))  # no repeated edge
    assert all(share > 0 for share in reference.score_shares)  # no bin empty on the reference side
    assert sum(reference.score_shares) == pytest.approx(1.0)
    assert len(reference.length_shares) == 1  # every text has the same length: one bin
    outside = measure_drift(
        reference, sp.csr_matrix((2, spec.n_features)), ["", "t"], [-5.0, 7.0], ["REVIEW"] * 2, ["x", "x"], PLAN_LIMITS
    )
    assert outside.score_counts[0] == 1 and outside.score_counts[-1] == 1
    with pytest.raises(ValueError, match="finite"):
        measure_drift(reference, sp.csr_matrix((1, spec.n_features)), ["t"], [np.nan], ["REVIEW"], ["x"], PLAN_LIMITS)
    with pytest.raises(ValueError, match="one row per report"):
        measure_drift(reference, sp.csr_matrix((2, spec.n_features)), ["t"], [0.1], ["REVIEW"], ["x"], PLAN_LIMITS)


@pytest.mark.parametrize("cuts", [[1], [7, 8, 50], [0, 0, 100], list(range(0, 400, 37)), [13, 13, 200, 201]])
def test_chunked_accumulation_equals_one_shot(toy_reference: DriftReference, cuts: list[int]) -> None:
    reports = generate_demo_reports(n_documents=70, seed=2)
    features, texts, scores, triaged, sources = toy_inputs(reports)
    whole = measure_drift(toy_reference, features, texts, scores, triaged, sources, PLAN_LIMITS)
    accumulator = DriftAccumulator(toy_reference)
    bounds = [0, *[min(cut, len(reports)) for cut in cuts], len(reports)]
    for start, stop in pairwise(bounds):  # includes empty chunks
        accumulator.add(
            features[start:stop], texts[start:stop], scores[start:stop], triaged[start:stop], sources[start:stop]
        )
    assert accumulator.result(PLAN_LIMITS).to_dict() == whole.to_dict()


def test_scored_predictions_count_as_their_full_features_do(toy_reference: DriftReference) -> None:
    """add_predictions hashes the word n-grams only; the measurement is that of the whole feature matrix."""
    reports = generate_demo_reports(n_documents=70, seed=2)
    features, texts, scores, triaged, sources = toy_inputs(reports)
    whole = measure_drift(
        toy_reference, features, texts, scores, triaged, sources, PLAN_LIMITS, reports["document_id"]
    )
    accumulator = DriftAccumulator(toy_reference)
    accumulator.add_predictions(reports.assign(raw_score=scores, triage=[str(value) for value in triaged]))
    assert accumulator.result(PLAN_LIMITS).to_dict() == whole.to_dict()
    assert whole.word_pairs > 0


def test_reference_round_trips_through_json(toy_reference: DriftReference) -> None:
    stored = json.loads(json.dumps(toy_reference.to_dict(), allow_nan=False))
    again = DriftReference.from_dict(stored)
    assert again.to_dict() == toy_reference.to_dict() and again.sha256 == toy_reference.sha256
    assert again.seen_word_buckets.dtype == bool
    np.testing.assert_array_equal(again.seen_word_buckets, toy_reference.seen_word_buckets)
    assert again.score_edges == toy_reference.score_edges and again.feature_spec == SMALL_SPEC
    batch = toy_inputs(generate_demo_reports(n_documents=30, seed=5))
    original, restored = measure_drift(toy_reference, *batch, PLAN_LIMITS), measure_drift(again, *batch, PLAN_LIMITS)
    assert original.to_dict() == restored.to_dict()
    tampered = json.loads(json.dumps(stored))
    tampered["seen_word_buckets"]["count"] += 1
    with pytest.raises(ValueError, match="do not match"):
        DriftReference.from_dict(tampered)
    tampered = {**stored, "feature_spec": {**stored["feature_spec"], "word_buckets": 2**11}}
    with pytest.raises(ValueError, match="feature spec hashes"):
        DriftReference.from_dict(tampered)


def test_an_empty_batch_gives_a_note_not_an_alarm(toy_reference: DriftReference) -> None:
    empty = sp.csr_matrix((0, SMALL_SPEC.n_features), dtype=np.float32)
    measured = measure_drift(toy_reference, empty, [], np.array([]), [], [], PLAN_LIMITS)
    assert measured.n_reports == 0 and measured.alarms == [] and not measured.drifted
    assert measured.score_psi is None and measured.unseen_ngram_share is None and measured.review_share is None
    assert any("empty batch" in note for note in measured.notes)
    record = json.loads(json.dumps(measured.to_dict(), allow_nan=False))
    assert record["drifted"] is False and record["limits"] == PLAN_LIMITS.to_dict()
    assert drift_plot(record, toy_reference.to_dict()).startswith(PNG)


def test_each_crossed_limit_is_named_and_a_value_at_its_limit_is_not(toy_reference: DriftReference) -> None:
    reports = generate_demo_reports(n_documents=40, seed=3)
    features, texts, scores, _, sources = toy_inputs(reports)
    all_review = np.array([Triage.REVIEW] * len(reports))
    measured = measure_drift(toy_reference, features, texts, scores, all_review, sources, PLAN_LIMITS)
    increase = 1.0 - toy_reference.review_share  # judged against the model's own REVIEW share, not a fixed level
    assert measured.review_share == 1.0 and f"review_share_increase {increase:.4g} > 0.2" in measured.alarms
    assert measured.drifted
    at_limit = DriftLimits(score_psi_max=1e6, unseen_ngram_share_max=1.0, review_share_increase_max=1.0)
    assert measure_drift(toy_reference, features, texts, scores, all_review, sources, at_limit).alarms == []


@pytest.fixture(scope="module")
def literature_model() -> tuple:
    """A small LightGBM with conformal sets, trained on literature only, and its drift reference from the test split."""
    reports = generate_demo_reports(n_documents=1200, seed=7)
    reports = reports[reports["source"] == "literature"].reset_index(drop=True)
    X = featurize(reports, DEFAULT_FEATURE_SPEC)
    split = assign_splits(reports, SplitPlan())["split"].to_numpy()
    labels = reports["label"].astype(int).to_numpy()
    train, calibration, test = (np.flatnonzero(split == name) for name in ("train", "calibration", "test"))
    booster = load_classifier(
        train_classifier(
            X[train], labels[train], reports["document_id"].to_numpy()[train], FAST,
            text_blocks=DEFAULT_FEATURE_SPEC.text_blocks(), sentence_block=DEFAULT_FEATURE_SPEC.sentence_block(),
        ).model_text
    )
    conformal = fit_conformal(predict_scores(booster, X[calibration]), labels[calibration], 0.9, 0.9)
    scores = predict_scores(booster, X[test])
    reference = build_reference(
        X[train],
        DEFAULT_FEATURE_SPEC,
        reports["text"].iloc[test],
        scores,
        triage(conformal.prediction_sets(scores)),
        reports["source"].iloc[test],
    )
    return booster, conformal, reference


def measure_batch(model: tuple, batch: pd.DataFrame) -> DriftMeasurement:
    booster, conformal, reference = model
    X = featurize(batch, DEFAULT_FEATURE_SPEC)
    scores = predict_scores(booster, X)
    return measure_drift(
        reference, X, batch["text"], scores, triage(conformal.prediction_sets(scores)), batch["source"], PLAN_LIMITS
    )


def test_demo_literature_against_a_literature_reference_raises_no_alarm(literature_model: tuple) -> None:
    reference = literature_model[2]
    assert len(reference.score_shares) == 10 and reference.source_shares == {"literature": 1.0}
    pool = generate_demo_reports(n_documents=600, seed=11)
    literature = pool[pool["source"] == "literature"].reset_index(drop=True)
    for start in (0, 300):
        measured = measure_batch(literature_model, literature.iloc[start : start + 300])
        assert measured.alarms == [], measured.to_dict()
        assert measured.unseen_ngram_share < PLAN_LIMITS.unseen_ngram_share_max / 2
        assert measured.source_shift == 0.0


def test_demo_social_media_against_a_literature_reference_drifts(literature_model: tuple) -> None:
    pool = generate_demo_reports(n_documents=600, seed=11)
    social = pool[pool["source"] == "social_media"].reset_index(drop=True)
    literature = pool[pool["source"] == "literature"].reset_index(drop=True).iloc[:300]
    in_distribution = measure_batch(literature_model, literature)
    for start in (0, 300):
        measured = measure_batch(literature_model, social.iloc[start : start + 300])
        assert measured.drifted
        assert any(alarm.startswith("unseen_ngram_share") for alarm in measured.alarms)
        assert measured.unseen_ngram_share > 3 * in_distribution.unseen_ngram_share
        assert measured.score_psi > in_distribution.score_psi
        assert measured.source_shift == 1.0 and measured.source_shares == {"social_media": 1.0}
    png = drift_plot(measured.to_dict(), literature_model[2].to_dict())
    assert png.startswith(PNG) and png == drift_plot(measured.to_dict(), literature_model[2].to_dict())


# --- domain classifier: a change of writing style in words the model knows ----------------------------------------


def halves(n_documents: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reports of even and of odd documents of one corpus: the same distribution, never the same document."""
    reports = generate_demo_reports(n_documents=n_documents, seed=seed)
    even = reports["document_id"].str[-1].astype(int) % 2 == 0
    return reports[even].reset_index(drop=True), reports[~even].reset_index(drop=True)


def reference_of(reports: pd.DataFrame) -> DriftReference:
    features, texts, scores, triaged, sources = toy_inputs(reports)
    return build_reference(features, SMALL_SPEC, texts, scores, triaged, sources)


def test_a_style_shift_in_known_words_alarms_on_domain_auc_alone(toy_reference: DriftReference) -> None:
    """Call-centre notes that trained the reference itself, delivered as "literature": every word n-gram was seen
    in training, so only the writing style tells; they are compared with the reference's literature reports."""
    reports = generate_demo_reports(n_documents=120, seed=1)
    notes = reports[reports["source"] == "call_centre"].assign(source="literature")
    features, texts, scores, triaged, sources = toy_inputs(notes)
    measured = measure_drift(toy_reference, features, texts, scores, triaged, sources, PLAN_LIMITS)
    assert measured.unseen_ngram_share == 0.0  # the vocabulary measure cannot see it
    assert measured.domain_auc > 0.95 and measured.domain_auc_z > 10
    assert f"domain_auc {measured.domain_auc:.4g} > 0.8" in measured.alarms
    assert drift_plot(measured.to_dict(), toy_reference.to_dict()).startswith(PNG)
    unjudged = DriftLimits(score_psi_max=1e6, unseen_ngram_share_max=1.0, review_share_increase_max=1.0)
    quiet = measure_drift(toy_reference, features, texts, scores, triaged, sources, unjudged)
    assert quiet.alarms == [] and quiet.domain_auc == measured.domain_auc  # measured, judged only with a limit


@pytest.mark.parametrize("size", [60, 400])
def test_fresh_documents_of_the_same_corpus_raise_no_domain_alarm(size: int) -> None:
    reference_reports, fresh = halves(600, seed=4)
    measured = measure_drift(reference_of(reference_reports), *toy_inputs(fresh.iloc[:size]), PLAN_LIMITS)
    assert measured.domain_rows == size and measured.domain_auc is not None
    assert measured.domain_auc < 0.7, measured.domain_auc
    assert not any(alarm.startswith("domain_auc") for alarm in measured.alarms)


def test_a_single_channel_batch_is_compared_with_that_channel_not_with_the_mix() -> None:
    reference_reports, fresh = halves(600, seed=4)
    literature = fresh[fresh["source"] == "literature"].iloc[:300]
    measured = measure_drift(reference_of(reference_reports), *toy_inputs(literature), PLAN_LIMITS)
    assert measured.source_shift > 0.5  # the mix changed a lot; it is reported, not judged
    assert measured.domain_auc < 0.7 and measured.alarms == [], measured.to_dict()


def test_domain_measure_is_deterministic_and_chunking_does_not_change_it(toy_reference: DriftReference) -> None:
    reports = generate_demo_reports(n_documents=70, seed=2)
    features, texts, scores, triaged, sources = toy_inputs(reports)
    whole = measure_drift(toy_reference, features, texts, scores, triaged, sources, PLAN_LIMITS)
    assert whole.domain_auc is not None and whole.domain_rows == len(reports)
    accumulator = DriftAccumulator(toy_reference)
    for start in range(0, len(reports), 9):
        stop = start + 9
        accumulator.add(
            features[start:stop], texts[start:stop], scores[start:stop], triaged[start:stop], sources[start:stop]
        )
    assert accumulator.result(PLAN_LIMITS).to_dict() == whole.to_dict()
    again = measure_drift(
        reference_of(generate_demo_reports(n_documents=120, seed=1)), *toy_inputs(reports), PLAN_LIMITS
    )
    assert again.to_dict() == whole.to_dict()


def test_the_batch_sample_is_bounded_and_is_the_bottom_k_of_the_whole_batch() -> None:
    reports = generate_demo_reports(n_documents=700, seed=9)
    assert len(reports) > DOMAIN_SAMPLE_ROWS
    features, texts, scores, triaged, sources = toy_inputs(reports)
    words = word_block(features, SMALL_SPEC)
    sampler = DomainSampler(size=50)
    for start in range(0, len(reports), 500):
        sampler.add(
            words[start : start + 500],
            texts.iloc[start : start + 500].tolist(),
            ["x"] * len(texts[start : start + 500]),
        )
        assert len(sampler._keys) <= 50  # memory: never more than the sample size, whatever was offered
    sample = sampler.sample(by="position")
    chosen = np.sort(choose(texts.tolist(), 50))
    assert sample.rows == 50
    assert sp.csr_matrix(sample.matrix() != (words[chosen] > 0)).nnz == 0
    reference = reference_of(generate_demo_reports(n_documents=120, seed=1))
    accumulator = DriftAccumulator(reference)
    accumulator.add(features, texts, scores, triaged, sources)
    assert accumulator.result(PLAN_LIMITS).domain_rows == DOMAIN_SAMPLE_ROWS


def test_a_batch_too_small_to_judge_gets_a_note_and_no_alarm(toy_reference: DriftReference) -> None:
    reports = generate_demo_reports(n_documents=120, seed=1)
    notes = reports[reports["source"] == "call_centre"].assign(source="literature").iloc[: MIN_DOMAIN_ROWS - 1]
    measured = measure_drift(toy_reference, *toy_inputs(notes), PLAN_LIMITS)
    assert measured.domain_auc is None and not any(alarm.startswith("domain_auc") for alarm in measured.alarms)
    assert any("domain_auc not judged" in note for note in measured.notes)


def test_the_domain_sample_round_trips_and_a_tampered_or_missing_one_is_handled(
    toy_reference: DriftReference,
) -> None:
    stored = json.loads(json.dumps(toy_reference.to_dict(), allow_nan=False))
    sample = stored["domain_sample"]
    assert 0 < sample["rows"] <= DOMAIN_SAMPLE_ROWS and sample["buckets"] == SMALL_SPEC.word_buckets
    again = DriftReference.from_dict(stored)
    assert again.domain_sample.to_dict() == toy_reference.domain_sample.to_dict()
    tampered = json.loads(json.dumps(stored))
    tampered["domain_sample"]["source_codes"][0] = (tampered["domain_sample"]["source_codes"][0] + 1) % 3
    with pytest.raises(ValueError, match="altered"):
        DriftReference.from_dict(tampered)
    older = {key: value for key, value in stored.items() if key != "domain_sample"}  # made before the sample
    old_reference = DriftReference.from_dict(older)
    assert old_reference.domain_sample is None
    assert json.loads(json.dumps(old_reference.to_dict())) == older  # the same record, so the same hash
    reports = generate_demo_reports(n_documents=120, seed=1)
    notes = reports[reports["source"] == "call_centre"].assign(source="literature")
    measured = measure_drift(old_reference, *toy_inputs(notes), PLAN_LIMITS)
    assert measured.domain_auc is None and measured.domain_rows == 0
    assert any("no report sample" in note for note in measured.notes)
    record = json.loads(json.dumps(measured.to_dict(), allow_nan=False))
    assert drift_plot(record, older).startswith(PNG)


def test_score_psi_alarms_only_beyond_the_sampling_noise_of_the_batch_size() -> None:
    """The same PSI is noise in 30 reports and a shift in 3,000 (chi-square with bins - 1 degrees of freedom)."""
    spec = FeatureSpec(word_buckets=8, char_buckets=4)
    n = 1000
    reference = build_reference(
        sp.csr_matrix((1, spec.n_features)), spec, ["t"] * n, np.linspace(0, 1, n), ["AUTO_CLOSE"] * n, ["x"] * n
    )
    assert psi_noise(60, 10**12, 10) == pytest.approx(27.877 / 60, rel=1e-4)  # chi2.ppf(0.999, 9) / 60
    counts = [6, 0, 3, 3, 3, 3, 3, 3, 3, 3]  # one bin emptied, its share moved to the first
    for scale, alarmed in ((1, False), (100, True)):
        scores = np.concatenate([np.full(count * scale, (b + 0.5) / 10) for b, count in enumerate(counts)])
        m = len(scores)
        measured = measure_drift(
            reference,
            sp.csr_matrix((m, spec.n_features)),
            ["t"] * m,
            scores,
            ["AUTO_CLOSE"] * m,
            ["x"] * m,
            PLAN_LIMITS,
        )
        assert measured.score_psi == pytest.approx(0.761, abs=1e-3)  # far above the limit, at both sizes
        assert measured.score_psi_noise == pytest.approx(psi_noise(m, n, 10))
        assert any(alarm.startswith("score_psi") for alarm in measured.alarms) is alarmed
        assert any("within the sampling noise" in note for note in measured.notes) is not alarmed


def test_score_psi_noise_counts_documents_not_reports_where_they_are_known() -> None:
    """Reports of one document score alike: 300 reports from 30 documents carry the noise of 30 samples, so the same
    PSI that alarms as 300 independent reports is within the noise of their 30 documents."""
    spec = FeatureSpec(word_buckets=8, char_buckets=4)
    n = 1000
    reference = build_reference(
        sp.csr_matrix((1, spec.n_features)), spec, ["t"] * n, np.linspace(0, 1, n), ["AUTO_CLOSE"] * n, ["x"] * n
    )
    counts = [60, 0, 30, 30, 30, 30, 30, 30, 30, 30]
    scores = np.concatenate([np.full(count, (b + 0.5) / 10) for b, count in enumerate(counts)])
    m = len(scores)
    documents = [f"doc-{row // 10}" for row in range(m)]  # ten reports per document
    for known, alarmed in ((None, True), (documents, False)):
        accumulator = DriftAccumulator(reference)
        accumulator.add(sp.csr_matrix((m, spec.n_features)), ["t"] * m, scores, ["AUTO_CLOSE"] * m, ["x"] * m, known)
        measured = accumulator.result(PLAN_LIMITS)
        assert measured.score_psi == pytest.approx(0.761, abs=1e-3)
        units = m if known is None else 30
        assert measured.score_psi_noise == pytest.approx(psi_noise(units, n, 10))
        assert any(alarm.startswith("score_psi") for alarm in measured.alarms) is alarmed
    assert any("from 30 documents" in note for note in measured.notes)
