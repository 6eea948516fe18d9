"""Monitoring: the reference a model is watched against, drift per scored batch, and realized performance.

Each check of a batch or of the adjudications is also recorded in the results store as a monitoring event; the
``retraining_triggers`` sensor reads those events with a cursor and asks for retraining within the plan.
"""

from datetime import UTC, datetime

import pandas as pd
from dagster import AssetExecutionContext, AssetsDefinition, MetadataValue, Output, asset

from gxp_assets.core.adjudications import validate_adjudications
from gxp_assets.core.drift import DriftReference, build_reference
from gxp_assets.core.features import FeatureMatrix
from gxp_assets.core.loaders import load_contract_files
from gxp_assets.core.plots import realized_plot
from gxp_assets.core.realized import RealizedLimits
from gxp_assets.core.realized import realized_performance as measure_realized
from gxp_assets.core.record_reference import RecordReference, build_record_reference
from gxp_assets.core.scoring import TriageModel
from gxp_assets.core.splits import split_rows
from gxp_assets.defs.deployed import deployed_model
from gxp_assets.defs.drift_views import drift_view
from gxp_assets.defs.evidence import attach
from gxp_assets.defs.metadata import embedded_png, rounded
from gxp_assets.defs.use_case_scope import MODEL, MONITORING, UseCaseScope
from gxp_assets.stores import artifact_store, audit_trail, results_store
from gxp_assets.stores.landing import ADJUDICATIONS


def record_alarm(
    asset: str, batch: str | None, version: str | None, alarms: list[str], event: int, run_id: str
) -> None:
    """Every crossed trigger is an audit entry of its own, whether or not retraining follows."""
    details = {"batch": batch, "model_version": version, "alarms": alarms, "monitoring_event": event, "run_id": run_id}
    audit_trail().append("system", "alarm", f"{asset}[{batch}]" if batch else asset, details)


def drift_reference_assets(scope: UseCaseScope) -> list[AssetsDefinition]:
    """``scope``'s drift reference, built with the model (model stage) and registered with it."""
    declared = scope.declaration()  # the declaration this graph is built from, read once
    text = bool(declared.features.text)
    kept = (
        "score and text-length distributions, REVIEW share and source mix on the test split, and the word n-grams "
        "seen in training"
        if text
        else "per declared column the training records' bins, missing and range; score distribution, REVIEW share "
        "and subgroup mix on the test split; a sample of the records of every split (core.record_reference)"
    )

    @asset(
        **scope.asset_args(MODEL),
        description=f"What the model was validated on, kept with it: {kept}. Drift is measured against it.",
    )
    def drift_reference(
        context: AssetExecutionContext,
        ae_classifier: str,
        conformal_model: dict,
        report_features: dict,
        dataset_splits: pd.DataFrame,
        validated_reports: pd.DataFrame,
    ) -> Output[dict]:
        """A use case with a text feature gets ``core.drift.DriftReference.to_dict()`` (no ``kind``); one without
        gets ``core.record_reference.RecordReference.to_dict()``: ``{"kind": "records", "schema": 1,
        "feature_spec", "feature_spec_sha256", "columns": TabularReference.to_dict() (per declared numeric column:
        edges, counts, low, high, missing, n; per categorical: levels, counts, missing, n), "n_records",
        "score_edges", "score_shares", "review_share", "source_shares" (the subgroup mix), "sample": {"columns",
        "rows"} (up to 2,000 records' declared columns from every split, numbers parsed)}``; read it with
        ``RecordReference.from_dict``."""
        features = FeatureMatrix.from_arrays(report_features)
        X_train, _, train = split_rows(features, dataset_splits, "train")
        X_test, _, test = split_rows(features, dataset_splits, "test")
        scored = TriageModel.from_records(ae_classifier, conformal_model).score(X_test, test["source"].to_numpy())
        reports = validated_reports.iloc[test["row"].to_numpy()]
        text_column = features.spec.text_column
        if text_column:
            reference: DriftReference | RecordReference = build_reference(
                X_train,
                features.spec,
                reports[text_column].tolist(),
                scored.raw_scores,
                scored.triage,
                reports["source"].tolist(),
            )
        else:
            reference = build_record_reference(
                validated_reports.iloc[train["row"].to_numpy()], reports, features.spec, scored.raw_scores,
                scored.triage, test["source"].tolist(),
                sample_records=validated_reports.iloc[dataset_splits["row"].to_numpy()],
                sample_ids=dataset_splits["report_id"].tolist(), decimal=declared.file_format.decimal,
            )  # fmt: skip
        context.log.info(f"drift reference from {len(test):,} test records and {X_train.shape[0]:,} training records")
        values = reference.to_dict()
        return Output(
            values,
            metadata={
                "reference_reports": len(test),
                "kind": str(values.get("kind", "text")),
                "review_share": rounded(reference.review_share),
                "source_mix": MetadataValue.json(reference.source_shares),
            },
        )

    return [drift_reference]


def monitoring_assets(scope: UseCaseScope) -> list[AssetsDefinition]:
    """``scope``'s drift per scored batch, adjudications and realized performance (monitoring stage)."""

    @asset(
        **scope.asset_args(MONITORING),
        partitions_def=scope.batches,
        description="Label-free drift of the batch against the scoring model's reference: score PSI, REVIEW share, "
        "subgroup mix, and per declared feature type (text: length, unseen n-grams; numeric: PSI, missing, outside "
        "the training range; categorical: PSI, missing, unseen levels); thresholds from the change control plan.",
    )
    def drift_report(context: AssetExecutionContext, scored_reports: dict) -> Output[dict]:
        batch, version = scored_reports["batch"], scored_reports["model_version"]
        if scored_reports.get("drift") is None:
            raise ValueError(f"batch {batch} was scored without a drift measurement: its model has no drift reference")
        deployed = deployed_model(scope.governance(), artifact_store(), version)
        measured = scored_reports["drift"]  # measured while scoring, before anything was published
        report = measured | {"batch": batch, "model_version": version}
        png, shown = drift_view(measured, deployed.reference.to_dict())
        plot = attach(context, "plot", png, ".png")
        evidence = report | {"plot_sha256": plot.sha256, "run_id": context.run_id}
        event = results_store().record_monitoring(  # about the scoring model's registered use case
            "drift", batch, version, measured["alarms"], evidence, use_case=deployed.record["use_case"]
        )
        if measured["alarms"]:
            context.log.warning(f"drift in batch {batch}: {'; '.join(measured['alarms'])}")
            record_alarm(
                scope.key("drift_report").to_user_string(), batch, version, measured["alarms"], event, context.run_id
            )
        return Output(
            report | {"monitoring_event": event, "plot_sha256": plot.sha256},
            metadata={
                "drifted": bool(measured["alarms"]),
                "alarms": "; ".join(measured["alarms"]) or "none",
                "auto_close_suspension": scored_reports.get("auto_close_suspension") or "none",
                **{
                    name: rounded(value) for name, value in measured.items() if isinstance(value, float)
                },  # every measure
                "reports": measured["n_reports"],
                **shown,  # per feature, for records
                "plot_drift": embedded_png("drift", png),
                "plot_file": MetadataValue.path(plot.uri.removeprefix("file://")),
            },
        )

    @asset(
        **scope.asset_args(MONITORING),
        description="Adjudicated labels from this use case's landing folder for its scored reports, checked; bad rows "
        "(a report this use case never scored among them) quarantined.",
    )
    def adjudications(context: AssetExecutionContext) -> Output[pd.DataFrame]:
        files, waiting = scope.landing().scan(ADJUDICATIONS)
        for name, why in waiting.items():
            context.log.info(f"not taken yet: {name}: {why}")
        intake = pd.concat([load_contract_files(file.path) for file in files], ignore_index=True) if files else None
        results = results_store()
        now = datetime.now(UTC)
        valid, quarantined = validate_adjudications(  # a label names a report of this use case, or is quarantined
            intake, lambda ids: set(results.predictions(report_ids=ids, use_case=scope.id)["report_id"]), now
        )
        added = results.record_adjudications(valid, scope.id) if len(valid) else 0
        context.log.info(f"{len(valid):,} adjudications ({added:,} new), {len(quarantined):,} quarantined")
        held = quarantined.reindex(columns=["report_id", "source_file", "source_line", "reason", "detail"])
        table = pd.concat(
            [valid.assign(status="accepted").astype({"label": "Int8"}), held.assign(status="quarantined")],
            ignore_index=True,
        )
        return Output(
            table,
            metadata={
                "files": len(files),
                "accepted": len(valid),
                "new": added,
                "quarantined": len(quarantined),
                "quarantine_reasons": MetadataValue.json(quarantined["reason"].value_counts().to_dict()),
            },
        )

    @asset(
        **scope.asset_args(MONITORING),
        description="Realized AE recall of AUTO_CLOSE and precision of PRIORITY on adjudicated reports over the plan's "
        "rolling window, against the plan's limits.",
    )
    def realized_performance(context: AssetExecutionContext, adjudications: pd.DataFrame) -> Output[dict]:
        triggers = scope.plan().plan.retraining_triggers
        limits = RealizedLimits(
            ae_recall_min=triggers.realized_positive_recall_min,
            priority_precision_min=triggers.realized_positive_precision_min,
            window_days=triggers.realized_window_days,
            min_count=triggers.realized_min_count,
        )
        performance = measure_realized(results_store().adjudicated(use_case=scope.id), datetime.now(UTC), limits)
        png = realized_plot(performance.to_dict(), limits.__dict__)
        plot = attach(context, "plot", png, ".png")
        event = results_store().record_monitoring(
            "performance", None, None, performance.alarms, performance.to_dict(), use_case=scope.id
        )
        for alarm in performance.alarms:
            context.log.warning(f"realized performance below the plan: {alarm}")
        if performance.alarms:
            record_alarm(
                scope.key("realized_performance").to_user_string(),
                None,
                None,
                performance.alarms,
                event,
                context.run_id,
            )
        return Output(
            performance.to_dict()
            | {"monitoring_event": event, "adjudication_rows": len(adjudications), "plot_sha256": plot.sha256},
            metadata={
                "adjudicated_in_window": performance.adjudicated,
                "realized_ae_recall": rounded(performance.ae_recall),
                "realized_priority_precision": rounded(performance.priority_precision),
                "alarms": "; ".join(performance.alarms) or "none",
                "notes": "; ".join(performance.notes) or "none",
                "model_versions": MetadataValue.json(performance.model_versions),
                "plot_realized": embedded_png("realized performance", png),
                "plot_file": MetadataValue.path(plot.uri.removeprefix("file://")),
            },
        )

    return [drift_report, adjudications, realized_performance]
