from __future__ import annotations

import numpy as np

from gxp_assets.core.calibration import Calibrator, choose_calibrator, expected_calibration_error


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
