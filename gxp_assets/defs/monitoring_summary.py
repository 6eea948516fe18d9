"""``monitoring_summary``: every drift report and realized-performance measurement so far, in the order they were
made, against the plan's limits, so the UI shows the trend (batch partitions alone sort by name, not by time)."""

from dagster import AssetExecutionContext, AssetsDefinition, MetadataValue, Output, asset

from gxp_assets.core.trends import DRIFT_PANELS, PERFORMANCE_PANELS, TrendPoint, trend_plot, trend_rows
from gxp_assets.defs.evidence import attach
from gxp_assets.defs.fail_safe import drift_limits
from gxp_assets.defs.metadata import embedded_png, records_table
from gxp_assets.defs.use_case_scope import MONITORING, UseCaseScope
from gxp_assets.governance.recorded_assets import recorded_asset
from gxp_assets.governance.service import Governance
from gxp_assets.stores import artifact_store, codecs, verified_results


def _reference_review_share(
    governance: Governance, version: str | None, known: dict[str | None, float | None]
) -> float | None:
    """The REVIEW share of the model's drift reference (the REVIEW limit is relative to it), from its record."""
    if version not in known:
        model = governance.registry.get(version) if version else None
        ref = None
        if model is not None:
            stored, data_version = recorded_asset(model.record, "drift_reference")
            ref = artifact_store().find(stored, data_version) if data_version else None
        known[version] = codecs.decode(artifact_store().read(ref), ref.suffix).get("review_share") if ref else None
    return known[version]


def _points(governance: Governance, use_case: str) -> tuple[list[TrendPoint], list[TrendPoint]]:
    """``use_case``'s monitoring events of the verified results index as trend points, each with the limit in force
    for it."""
    triggers = governance.plan.plan.retraining_triggers
    limits = drift_limits(governance.plan.plan)
    drift, performance, references = [], [], {}
    for event in verified_results().monitoring_since(0, use_case=use_case):
        evidence = event.evidence
        if event.kind == "drift":
            recorded = evidence.get("limits") or limits.to_dict()
            reference_review = _reference_review_share(governance, event.model_version, references)
            values = {key: evidence.get(key) for key, _, _ in DRIFT_PANELS} | {
                "score_psi_max": recorded.get("score_psi_max"),
                "unseen_ngram_share_max": recorded.get("unseen_ngram_share_max"),
                "review_share_limit": None if reference_review is None
                else reference_review + recorded.get("review_share_increase_max", 0.0),
            }  # fmt: skip
            drift.append(TrendPoint(event.created_at, event.batch or "-", values, tuple(event.alarms)))
        elif event.kind == "performance":
            values = {"ae_recall": evidence.get("ae_recall"), "priority_precision": evidence.get("priority_precision"),
                      "ae_recall_min": triggers.realized_positive_recall_min,
                      "priority_precision_min": triggers.realized_positive_precision_min}  # fmt: skip
            performance.append(TrendPoint(event.created_at, "adjudications", values, tuple(event.alarms)))
    return drift, performance


def monitoring_summary(scope: UseCaseScope) -> list[AssetsDefinition]:
    """``scope``'s monitoring trend: every drift report and realized-performance measurement so far."""

    @asset(
        **scope.asset_args(MONITORING),
        deps=[scope.key("drift_report"), scope.key("realized_performance")],
        description="Drift of every scored batch and realized performance over time, in the order measured, with the "
        "change control plan's limits drawn; the trend the fail-safe and the retraining triggers act on.",
    )
    def monitoring_summary(context: AssetExecutionContext) -> Output[dict]:
        drift, performance = _points(scope.governance(), scope.id)
        png = trend_plot(drift, performance)
        plot = attach(context, "plot", png, ".png")
        drift_rows, performance_rows = trend_rows(drift, DRIFT_PANELS), trend_rows(performance, PERFORMANCE_PANELS)
        return Output(
            {"drift": drift_rows, "performance": performance_rows, "plot_sha256": plot.sha256},
            metadata={
                "drift_measurements": len(drift_rows),
                "performance_measurements": len(performance_rows),
                "drift_alarms": sum(row["alarms"] != "none" for row in drift_rows),
                "drift_over_time": records_table(drift_rows) if drift_rows else "no drift report yet",
                "performance_over_time": records_table(performance_rows) if performance_rows else "no measurement yet",
                "plot_trends": embedded_png("monitoring trends", png),
                "plot_file": MetadataValue.path(plot.uri.removeprefix("file://")),
            },
        )

    return [monitoring_summary]
