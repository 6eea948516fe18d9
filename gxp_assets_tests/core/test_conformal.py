from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from gxp_assets.core.conformal import (
    ConformalRecord,
    Triage,
    fit_conformal,
    marginal_prediction_sets,
    set_labels,
    triage,
)
from gxp_assets.core.guarantee import CalibrationTooSmall, Guarantee, one_per_unit, pac_rank

PAC = Guarantee(type="pac", miss_rate=0.05, delta=0.10, unit="document", by_source=False)


def draw(rng: np.random.Generator, n: int, rare_share: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """A rare, hard AE class (scores spread widely) and a common, easy no-AE class."""
    labels = (rng.random(n) < rare_share).astype(int)
    p_ae = np.where(labels == 1, rng.beta(2, 2, n), rng.beta(1, 8, n))
    return p_ae, labels


def clustered(rng: np.random.Generator, documents: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Documents of 1-12 records whose AE scores share a strong document effect, as sentences of one paper do."""
    sizes = rng.integers(1, 13, documents)
    units = np.repeat(np.arange(documents), sizes)
    effect = np.repeat(rng.normal(0, 1.2, documents), sizes)
    labels = np.repeat(rng.random(documents) < 0.5, sizes).astype(int)
    logit = np.where(labels == 1, 1.5 + effect + rng.normal(0, 0.4, len(units)), -2.5 + rng.normal(0, 1, len(units)))
    return 1 / (1 + np.exp(-logit)), labels, units.astype(str)


def test_pac_rank_is_the_largest_order_statistic_within_delta() -> None:
    for n, eps, delta in ((100, 0.05, 0.1), (600, 0.05, 0.1), (2000, 0.1, 0.05)):
        k = pac_rank(n, eps, delta)
        assert binom.cdf(k - 1, n, eps) <= delta < binom.cdf(k, n, eps)
    assert pac_rank(44, 0.05, 0.10) == 0  # 0.95**44 > 0.10: no order statistic qualifies
    assert pac_rank(45, 0.05, 0.10) == 1
    assert PAC.units_needed() == 45


def test_the_batch_promise_holds_for_the_share_a_reviewer_counts_where_the_population_rank_does_not() -> None:
    """Over many calibration draws, the AE share auto-closed in a batch of 200 new AE documents exceeds 5 % in at
    most delta of draws with the batch rank; the population rank, valid for all documents like these, fails on a
    finite batch about 16 % of the time (the batch's own sampling noise)."""
    n, m, draws = 331, 200, 6_000
    rng = np.random.default_rng(3)
    calibration = np.sort(rng.random((draws, n)), axis=1)  # exchangeable continuous AE scores, one per document
    batch = rng.random((draws, m))
    batch_rank, population_rank = pac_rank(n, 0.05, 0.10, batch_documents=m), pac_rank(n, 0.05, 0.10)
    assert 0 < batch_rank < population_rank

    def failing_share(rank: int) -> float:
        return float(((batch < calibration[:, rank - 1 : rank]).mean(axis=1) > 0.05).mean())

    assert failing_share(batch_rank) <= 0.10
    assert failing_share(batch_rank + 1) > 0.10  # the largest rank that keeps the promise, not a needlessly low one
    assert failing_share(population_rank) > 0.14
    assert pac_rank(n, 0.05, 0.10, batch_documents=1_000_000) == population_rank  # a huge batch is the population


def test_a_batch_promise_needs_more_calibration_documents_and_says_so_in_its_statement() -> None:
    batch = Guarantee(type="pac", miss_rate=0.05, delta=0.10, unit="document", by_source=False, batch_documents=200)
    needed = batch.units_needed()
    assert needed > PAC.units_needed()
    assert batch.rank(needed) == 1 and batch.rank(needed - 1) == 0
    rng = np.random.default_rng(5)
    labels = np.repeat([1, 0], [needed - 1, 400])
    scores = np.where(labels == 1, rng.beta(4, 2, len(labels)), rng.beta(1, 6, len(labels)))
    units = np.arange(len(labels)).astype(str)
    with pytest.raises(CalibrationTooSmall, match=f"needs at least {needed}"):
        fit_conformal(scores, labels, 0.95, 0.9, guarantee=batch, units=units)
    labels[400] = 1  # one more AE document
    record = fit_conformal(scores, labels, 0.95, 0.9, guarantee=batch, units=units)
    assert "a batch of 200 AE documents like these" in record.statement()
    assert "of that batch's AE documents are auto-closed" in record.statement()
    with pytest.raises(ValueError, match="batch_documents"):
        Guarantee(type="marginal", miss_rate=0.05, delta=0.10, batch_documents=200)


def test_pac_holds_for_the_deployed_threshold_on_clustered_data_where_record_level_calibration_fails() -> None:
    """The share of calibration draws whose threshold misses more than 5 % of AEs stays within delta when documents
    are the unit; treating correlated records as independent units breaks it (and the marginal method fails about
    half the time by construction)."""
    population_scores, population_labels, _ = clustered(np.random.default_rng(99), 40_000)
    ae_population = np.sort(population_scores[population_labels == 1])

    def miss_rate(record: ConformalRecord) -> float:
        cut = record.ae_cut(1, None)[0]
        return float(np.searchsorted(ae_population, cut, side="left") / len(ae_population))

    failures = {"document": 0, "record": 0, "marginal": 0}
    draws = 200
    for seed in range(draws):
        scores, labels, units = clustered(np.random.default_rng(seed), 300)
        for unit in ("document", "record"):
            guarantee = Guarantee("pac", 0.05, 0.10, unit, by_source=False)
            record = fit_conformal(scores, labels, 0.95, 0.9, guarantee=guarantee, units=units, selection_seed=seed)
            failures[unit] += miss_rate(record) > 0.05
        marginal = fit_conformal(scores, labels, 0.95, 0.9)
        covered = marginal.prediction_sets(population_scores[population_labels == 1])[:, 1]
        failures["marginal"] += (1 - covered.mean()) > 0.05
    shares = {name: count / draws for name, count in failures.items()}
    assert shares["document"] <= 0.10 + 0.05  # delta, plus Monte Carlo noise of 200 draws
    assert shares["record"] > 0.15
    assert shares["marginal"] > 0.25


def test_one_record_per_document_is_chosen_by_seed_not_by_score() -> None:
    units = np.array(["a", "a", "b", "c", "c", "c"])
    chosen = one_per_unit(units, seed=1)
    assert sorted(units[chosen]) == ["a", "b", "c"]
    assert np.array_equal(chosen, one_per_unit(units, seed=1))
    picks = {tuple(one_per_unit(units, seed=s)) for s in range(30)}
    assert len(picks) > 1  # every record of a document can be the one


def test_too_few_calibration_documents_is_refused_with_the_numbers() -> None:
    scores = np.linspace(0.01, 0.99, 200)
    labels = np.array([1] * 100 + [0] * 100)
    units = np.array([f"doc{i // 3}" for i in range(100)] + [f"neg{i}" for i in range(100)])  # 34 AE documents
    with pytest.raises(CalibrationTooSmall, match=r"holds 34 AE documents; .* needs at least 45"):
        fit_conformal(scores, labels, 0.95, 0.9, guarantee=PAC, units=units)
    # The same records as independent units would pass: the document count is what is checked.
    fit_conformal(scores, labels, 0.95, 0.9, guarantee=Guarantee("pac", 0.05, 0.1, "record", False), units=units)


def test_per_source_thresholds_and_no_auto_close_for_unknown_or_thin_sources() -> None:
    rng = np.random.default_rng(5)
    scores, labels = draw(rng, 6000, rare_share=0.3)
    sources = np.where(np.arange(6000) < 5900, "literature", "social_media")  # social media: ~30 AE documents
    units = np.arange(6000).astype(str)
    guarantee = Guarantee("pac", 0.05, 0.10, "document", by_source=True)
    record = fit_conformal(scores, labels, 0.95, 0.9, guarantee=guarantee, units=units, sources=sources)
    assert record.auto_close_sources() == ["literature"]
    assert record.ae_thresholds["social_media"].value is None
    low = np.full(3, 0.001)  # a score no AE reaches
    sets = record.prediction_sets(low, ["literature", "social_media", "forum"])
    assert list(triage(sets)) == [Triage.AUTO_CLOSE, Triage.REVIEW, Triage.REVIEW]
    reasons = record.reasons(low, sets, ["literature", "social_media", "forum"])
    assert reasons[0].startswith("AE excluded at 95 %")
    assert "not covered" in reasons[1] and "not covered" in reasons[2]
    with pytest.raises(ValueError, match="per source"):
        record.prediction_sets(low)
    statement = record.statement()
    assert "literature reports: with probability >= 90%" in statement and "social_media reports: never" in statement


def test_ties_at_the_threshold_keep_ae_in_the_set() -> None:
    """LightGBM gives many reports the same score; AE is excluded only strictly below the threshold."""
    scores = np.repeat([0.2, 0.4, 0.6, 0.8], 100)
    labels = np.tile([1, 0], 200)
    record = fit_conformal(scores, labels, 0.95, 0.9, guarantee=Guarantee("pac", 0.05, 0.1, "record", False))
    cut = record.ae_cut(1, None)[0]
    assert cut == 0.2
    assert record.prediction_sets(np.array([0.2]))[0, 1]  # a tied score is not auto-closed
    assert not record.prediction_sets(np.array([0.19]))[0, 1]


def test_record_survives_json_with_its_thresholds() -> None:
    scores, labels, units = clustered(np.random.default_rng(2), 400)
    sources = np.where(np.arange(len(scores)) % 2 == 0, "a", "b")
    guarantee = Guarantee("pac", 0.05, 0.10, "document", by_source=True)
    record = fit_conformal(scores, labels, 0.95, 0.9, guarantee=guarantee, units=units, sources=sources)
    again = ConformalRecord.from_dict(record.to_dict())
    test = np.linspace(0, 1, 101)
    test_sources = np.where(np.arange(101) % 3 == 0, "a", "b")
    np.testing.assert_array_equal(again.prediction_sets(test, test_sources), record.prediction_sets(test, test_sources))
    assert again.to_dict() == record.to_dict()


def test_marginal_class_conditional_coverage_holds_on_average_where_marginal_lac_fails() -> None:
    ours, marginal = [], []
    for seed in range(100):
        rng = np.random.default_rng(seed)
        cal_p, cal_y = draw(rng, 1000)
        test_p, test_y = draw(rng, 4000)
        record = fit_conformal(cal_p, cal_y, ae_confidence=0.95, no_ae_confidence=0.95)
        ours.append(record.prediction_sets(test_p)[test_y == 1, 1].mean())
        marginal.append(marginal_prediction_sets(cal_p, cal_y, test_p, 0.95)[test_y == 1, 1].mean())
    assert np.mean(ours) >= 0.95 - 0.005
    assert np.mean(ours) <= 0.99  # and not trivially, by putting AE in every set
    assert np.mean(marginal) < 0.90  # the plain marginal threshold misses many more rare-class records


def test_no_ae_class_is_covered_too() -> None:
    coverage = []
    for seed in range(30):
        rng = np.random.default_rng(1000 + seed)
        cal_p, cal_y = draw(rng, 1000, rare_share=0.3)
        test_p, test_y = draw(rng, 3000, rare_share=0.3)
        sets = fit_conformal(cal_p, cal_y, 0.95, 0.9).prediction_sets(test_p)
        coverage.append(sets[test_y == 0, 0].mean())
    assert np.mean(coverage) == pytest.approx(0.90, abs=0.02)


def test_marginal_sets_follow_the_recorded_quantiles() -> None:
    rng = np.random.default_rng(3)
    cal_p, cal_y = draw(rng, 500, rare_share=0.2)
    record = fit_conformal(cal_p, cal_y, 0.95, 0.95)
    test_p = np.linspace(0, 1, 101)
    sets = record.prediction_sets(test_p)
    thresholds = record.thresholds()
    np.testing.assert_array_equal(sets[:, 1], 1 - test_p <= thresholds["ae_lac_quantile"] + 1e-12)
    np.testing.assert_array_equal(sets[:, 0], test_p <= thresholds["no_ae_lac_quantile"] + 1e-12)


def test_triage_policy() -> None:
    sets = np.array([[True, False], [False, True], [True, True], [False, False]])
    assert list(triage(sets)) == [Triage.AUTO_CLOSE, Triage.PRIORITY, Triage.REVIEW, Triage.REVIEW]
    assert set_labels(sets) == ["{0}", "{1}", "{0,1}", "{}"]


def test_invalid_levels_and_missing_classes_are_refused() -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        fit_conformal(np.array([0.1]), np.array([0]), 1.0, 0.9)
    with pytest.raises(CalibrationTooSmall, match=r"holds 3 AE records; a miss rate of 0\.05 needs at least 20"):
        fit_conformal(np.full(103, 0.5), np.array([0] * 100 + [1] * 3), 0.95, 0.95)
    with pytest.raises(ValueError, match="needs each calibration record's document"):
        fit_conformal(np.full(103, 0.5), np.array([0] * 50 + [1] * 53), 0.95, 0.9, guarantee=PAC)


def test_only_sources_the_subgroup_rule_vouched_for_are_auto_closed() -> None:
    rng = np.random.default_rng(8)
    scores, labels = draw(rng, 4000, rare_share=0.3)
    sources = np.where(np.arange(4000) % 2 == 0, "literature", "call_centre")
    record = fit_conformal(
        scores, labels, 0.95, 0.9, guarantee=Guarantee("pac", 0.05, 0.1, "document", True),
        units=np.arange(4000).astype(str), sources=sources,
    )  # fmt: skip
    assert record.auto_close_sources() == ["call_centre", "literature"]
    low, where = np.full(2, 0.001), ["literature", "call_centre"]
    sets = record.prediction_sets(low, where, closable={"literature"})
    assert list(triage(sets)) == [Triage.AUTO_CLOSE, Triage.REVIEW]
    assert "not covered" in record.reasons(low, sets, where, closable={"literature"})[1]
    marginal = fit_conformal(scores, labels, 0.95, 0.9)
    assert list(triage(marginal.prediction_sets(low, where, closable=set()))) == [Triage.REVIEW, Triage.REVIEW]
