"""What a drift report shows, for the kind of drift its batch was measured with: reports (core.drift) get the score,
text-length, unseen n-gram and source views; declared records (core.record_drift) get per-feature PSI and shares
against the plan's per-type limits. The kind comes from the measurement, which comes from the model's reference, which
its use case's declaration chose; nothing here names a use case."""

from __future__ import annotations

from typing import Any

from dagster import MetadataValue

from gxp_assets.core.drift import DriftLimits
from gxp_assets.core.plots import drift_plot, record_drift_plot
from gxp_assets.core.record_drift import MEASUREMENT_KIND, column_alarms
from gxp_assets.core.tabular_drift import ColumnDrift


def per_feature(measured: dict) -> dict[str, dict]:
    """Each declared feature's measures and its alarms, by column."""
    limits = DriftLimits(**measured["limits"])
    found = {}
    for values in measured["columns"]:
        column = ColumnDrift(**{**values, "counts": tuple(values["counts"])})
        measures = {name: values[name] for name in ("kind", "psi", "psi_noise", "missing_share")}
        other = "out_of_range_share" if column.kind == "numeric" else "unseen_level_share"
        found[column.column] = measures | {other: values[other], "alarm": "; ".join(column_alarms(column, limits))}
    return found


def _table(features: dict[str, dict]) -> str:
    def shown(value: float | None, spec: str = ".4f") -> str:
        return "n/a" if value is None else format(value, spec)

    rows = [
        f"| {column} | {values['kind']} | {shown(values['psi'])} | {shown(values['psi_noise'])} | "
        f"{shown(values['missing_share'], '.1%')} | "
        f"{shown(values.get('out_of_range_share', values.get('unseen_level_share')), '.1%')} | "
        f"{values['alarm'] or '-'} |"
        for column, values in features.items()
    ]
    return ("| feature | type | PSI | PSI noise | missing | outside range / unseen level | alarm |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(rows))  # fmt: skip


def domain_line(measured: dict) -> str:
    """The domain classifier's verdict on all declared features jointly, as one line."""
    auc, z, limit = measured.get("domain_auc"), measured.get("domain_auc_z"), measured["limits"].get("domain_auc_max")
    if auc is None:
        return "Domain classifier (all features jointly): not measured"
    alarmed = any(alarm.startswith("domain_auc") for alarm in measured["alarms"])
    return (f"Domain classifier (all features jointly): AUROC {auc:.4f} (z {z:.2f}, {measured['domain_rows']} "
            f"records sampled; limit {'none' if limit is None else format(limit, 'g')}): "
            f"{'ALARM' if alarmed else 'no alarm'}")  # fmt: skip


def drift_view(measured: dict, reference: dict) -> tuple[bytes, dict[str, Any]]:
    """The drift report's plot and the metadata beyond the scalar measures, for ``measured``'s kind."""
    if measured.get("kind") != MEASUREMENT_KIND:
        return drift_plot(measured, reference), {}
    features = per_feature(measured)
    return record_drift_plot(measured, reference), {
        "per_feature": MetadataValue.json(features),
        "per_feature_table": MetadataValue.md(_table(features) + "\n\n" + domain_line(measured)),
        "domain_classifier": domain_line(measured),
        "limits": MetadataValue.json(measured["limits"]),
    }
