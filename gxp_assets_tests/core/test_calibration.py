from __future__ import annotations

import json

import numpy as np
import pytest

from gxp_assets.core.calibration import (
    METHODS,
    Calibrator,
    choose_calibrator,
    cross_fitted_ece,
    expected_calibration_error,
)


def test_ece_is_small_for_calibrated_scores_and_large_for_distorted_ones() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(20_000)
    labels = (rng.random(20_000) < p).astype(int)
    assert expected_calibration_error(labels, p) < 0.02
    assert expected_calibration_error(labels, p**3) > 0.1


def test_a_distorted_score_gets_a_real_calibrator_that_fixes_it() -> None:
    rng = np.random.default_rng(1)
    true_p = rng.random(4000)
    labels = (rng.random(4000) < true_p).astype(int)
    distorted = true_p**3  # over-confident that there is no AE
    calibrator = choose_calibrator(distorted, labels, seed=7)
    assert calibrator.method != "none"
    assert calibrator.cross_fitted_ece["none"] > 3 * calibrator.cross_fitted_ece[calibrator.method]
    fresh_p = rng.random(4000)
    fresh_labels = (rng.random(4000) < fresh_p).astype(int)
    assert expected_calibration_error(fresh_labels, calibrator(fresh_p**3)) < 0.05
    again = Calibrator.from_dict(calibrator.to_dict(), distorted, labels)
    np.testing.assert_array_equal(again(fresh_p), calibrator(fresh_p))
    assert choose_calibrator(distorted, labels, seed=7).cross_fitted_ece == calibrator.cross_fitted_ece


def _scores_and_labels(seed: int, n: int = 3000, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.beta(0.6, 2.0, n) * 0.8 + 0.1  # inside [0.1, 0.9]: new scores can fall outside the range
    if ties:
        scores = np.round(scores, 2)  # LightGBM gives many reports the same score
    labels = (rng.random(n) < scores**1.5).astype(int)
    return scores, labels


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_is_strictly_increasing_everywhere(method: str, ties: bool) -> None:
    scores, labels = _scores_and_labels(3, ties=ties)
    calibrator = Calibrator(method, scores, labels, {})
    fresh = np.unique(np.r_[np.random.default_rng(4).random(5000), scores, 0.0, 1e-9, 1 - 1e-9, 1.0])
    p = calibrator(fresh)
    assert (np.diff(p) > 0).all()  # also below and above the calibration scores
    np.testing.assert_array_equal(calibrator(scores), calibrator(scores.copy()))  # equal scores, equal p
    if method in ("isotonic", "venn_abers"):  # the plateau map it replaces does not keep the order
        plateau = Calibrator.from_dict({"method": method, "cross_fitted_ece": {}}, scores, labels)
        assert not (np.diff(plateau(fresh)) > 0).all()


def test_no_priority_report_shows_a_lower_p_ae_than_an_auto_closed_one() -> None:
    scores, labels = _scores_and_labels(5, ties=True)
    calibrator = choose_calibrator(scores, labels, seed=7, methods=("isotonic",))
    fresh = np.round(np.random.default_rng(6).random(4000), 3)
    # Triage monotone in the raw score, with both thresholds inside one plateau of the old isotonic map.
    plateau = Calibrator.from_dict({"method": "isotonic", "cross_fitted_ece": {}}, scores, labels)
    grid = np.unique(fresh)
    levels = plateau(grid)
    flat = np.flatnonzero(np.diff(levels) == 0)
    low, high = grid[flat[len(flat) // 2]], grid[flat[len(flat) // 2] + 1]
    auto_close, priority = fresh <= low, fresh >= high
    assert plateau(fresh)[priority].min() <= plateau(fresh)[auto_close].max()  # the contradiction in issue 9
    p = calibrator(fresh)
    assert p[priority].min() > p[auto_close].max()


def test_strict_maps_keep_the_calibration_quality_and_a_plain_json_record() -> None:
    scores, labels = _scores_and_labels(8, ties=True)
    strict = cross_fitted_ece(scores, labels, seed=7)
    plateaus = cross_fitted_ece(scores, labels, seed=7, strictly_increasing=False)
    for method in METHODS:
        assert strict[method] <= plateaus[method] + 0.01
    calibrator = choose_calibrator(scores, labels, seed=7)
    record = json.loads(json.dumps(calibrator.to_dict()))
    assert record["strictly_increasing"] is True
    again = Calibrator.from_dict(record, scores, labels)
    np.testing.assert_array_equal(again(scores), calibrator(scores))
