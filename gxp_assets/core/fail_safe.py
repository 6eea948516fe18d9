"""Fail-safe under shift: when the guarantee's assumptions are not being met, nothing is auto-closed.

The recall guarantee holds for documents like the calibration documents. A batch whose drift measures cross a limit
of the change control plan is evidence that they are not, so its AUTO_CLOSE decisions are turned into REVIEW, with
the reason, before any result is published. A suspension stands for the scoring model until a signed decision lifts
it (governance.suspension) or another model becomes ACTIVE. Reports from a source the guarantee does not cover are
never auto-closed by the conformal step itself (core.conformal), and the batch says how many there were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gxp_assets.core.conformal import Triage
from gxp_assets.core.drift import MIN_JUDGED_REPORTS, DriftLimits, DriftMeasurement, DriftReference
from gxp_assets.core.record_reference import RecordReference

SUSPENSION_PREFIX = "auto_close_suspended"  # a drift alarm: stands for the model until a signed lift
WITHHELD_PREFIX = "auto_close_withheld"  # this batch alone cannot be watched: no auto-close for it


@dataclass(frozen=True)
class FailSafe:
    """What a scoring run watches, filled in by the Dagster layer from the plan and the governance record."""

    # Reports: core.drift's; declared records: core.record_reference's. None: the model has no drift reference, so
    # drift cannot be judged.
    reference: DriftReference | RecordReference | None
    limits: DriftLimits
    suspend_on_drift: bool
    standing_suspension: str | None = None  # the reason of a suspension in force for this model, if any


def suspension_reason(fail_safe: FailSafe, measurement: DriftMeasurement | None) -> str | None:
    """The reason auto-close is suspended for this batch, or None: a standing suspension, else a drift alarm; or
    withheld for this batch alone when nothing can watch it (no reference, or too few reports to judge)."""
    if fail_safe.standing_suspension:
        return fail_safe.standing_suspension
    if fail_safe.suspend_on_drift and measurement is not None and measurement.alarms:
        return f"{SUSPENSION_PREFIX}: drift " + "; ".join(measurement.alarms)
    if fail_safe.suspend_on_drift and fail_safe.reference is None:
        return f"{WITHHELD_PREFIX}: the model has no drift reference, so shift cannot be watched"
    if fail_safe.suspend_on_drift and measurement is not None and 0 < measurement.n_reports < MIN_JUDGED_REPORTS:
        return f"{WITHHELD_PREFIX}: {measurement.n_reports} reports are too few to judge drift"
    return None


def is_standing(reason: str | None) -> bool:
    """Whether a batch's reason starts a suspension that stands for the model (a drift alarm), not one batch's."""
    return reason is not None and reason.startswith(f"{SUSPENSION_PREFIX}:")


def apply_suspension(predictions: pd.DataFrame, reason: str | None) -> tuple[pd.DataFrame, int]:
    """AUTO_CLOSE rows become REVIEW with ``reason``; returns the rows and how many were held back."""
    if reason is None or predictions.empty:
        return predictions, 0
    held = (predictions["triage"] == Triage.AUTO_CLOSE.value).to_numpy()
    if not held.any():
        return predictions, 0
    out = predictions.copy()
    out.loc[held, "triage"] = Triage.REVIEW.value
    out.loc[held, "triage_reason"] = np.asarray([f"{reason} (conformal: {r})" for r in out.loc[held, "triage_reason"]])
    return out, int(held.sum())
