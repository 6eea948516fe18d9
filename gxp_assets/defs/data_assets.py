"""The data half of the asset graph: corpus -> validated reports + quarantine -> features -> splits."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)

from gxp_assets.core.demo_data import write_demo_reports
from gxp_assets.core.features import FeatureMatrix, featurize
from gxp_assets.core.loaders import load_ade_corpus, load_contract_files
from gxp_assets.core.quarantine_tally import require_valid_records
from gxp_assets.core.splits import assign_splits
from gxp_assets.core.validation import validate_reports
from gxp_assets.defs.config import ReportSourceConfig, SplitConfig, ValidationConfig
from gxp_assets.defs.io_manager import MEMBERS
from gxp_assets.defs.metadata import count_table, label_balance, split_metadata
from gxp_assets.defs.retraining_request import record_retraining_request
from gxp_assets.defs.use_case_scope import DATA, UseCaseScope
from gxp_assets.stores import results_store
from gxp_assets.stores.local import default_home
from gxp_assets.stores.results_protocol import ResultsStore


def demo_corpus_path(config: ReportSourceConfig) -> Path:
    name = f"demo_reports_seed{config.demo_seed}_n{config.demo_documents}_noise{config.demo_label_noise:g}.csv"
    return default_home() / "demo" / name


def read_source(config: ReportSourceConfig, use_case: str) -> tuple[pd.DataFrame, str]:
    """The intake table of the configured source (plus ``use_case``'s adjudicated scored reports when asked), and its
    origin."""
    intake, location = _read_corpus(config)
    if not config.include_adjudicated:
        return intake, location
    path = export_adjudicated_reports(
        results_store(), default_home() / "adjudicated" / use_case / "adjudicated_reports.jsonl", use_case
    )
    if path is None:
        return intake, location
    extra = load_contract_files(path)
    extra["intake_seq"] += len(intake)
    return pd.concat([intake, extra], ignore_index=True), f"{location} + {path}"


def _read_corpus(config: ReportSourceConfig) -> tuple[pd.DataFrame, str]:
    if config.format == "demo":
        path = demo_corpus_path(config)
        if not path.exists():  # deterministic by seed: regenerating gives the same bytes
            write_demo_reports(
                path, n_documents=config.demo_documents, seed=config.demo_seed, label_noise=config.demo_label_noise
            )
        return load_contract_files(path), str(path)
    if not config.path:
        raise ValueError(f"source format {config.format!r} needs a path")
    path = Path(config.path).expanduser().resolve()
    if config.format == "ade_corpus_v2":
        return load_ade_corpus(path), str(path)
    return load_contract_files(path, config.encoding), str(path)


def export_adjudicated_reports(results: ResultsStore, path: Path, use_case: str) -> Path | None:
    """``use_case``'s adjudicated scored reports in the report contract (JSON Lines, sorted by id), so a retraining
    reads them like any corpus file and keeps their bytes; None when nobody has adjudicated anything yet."""
    adjudicated = results.adjudicated(use_case=use_case)
    if adjudicated.empty:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for row in adjudicated.sort_values("report_id").itertuples():
        received = None if pd.isna(row.received_at) else row.received_at.isoformat()
        record = {
            "report_id": row.report_id,
            "document_id": row.document_id,
            "source": row.source,
            "text": row.text,
            "received_at": received,
            "label": int(row.label),
            "product": row.product,
        }
        lines.append(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def data_assets(scope: UseCaseScope) -> list[AssetsDefinition]:
    """The data stage of ``scope``'s graph: corpus -> validated + quarantined -> features -> splits."""
    declared = scope.declaration()
    classes, spec = declared.classes, declared.feature_spec()  # the declared FeatureSpec, never a default in code

    @asset(
        **scope.asset_args(DATA), description="The adjudicated corpus as received: every record, its bytes and origin."
    )
    def labelled_reports(context: AssetExecutionContext, config: ReportSourceConfig) -> Output[pd.DataFrame]:
        record_retraining_request(context, scope.governance)  # a retraining run records why, once it really runs
        intake, location = read_source(config, scope.id)
        context.log.info(f"read {len(intake):,} records from {location}")
        return Output(
            intake,
            metadata={
                "source_format": config.format,
                "source": MetadataValue.path(location),
                "records": len(intake),
                "records_per_file": count_table(intake["source_file"], "file"),
            },
        )

    @multi_asset(**scope.validation_args("Reports that passed validation, typed per the contract."))
    def validated_reports(
        context: AssetExecutionContext, config: ValidationConfig, labelled_reports: pd.DataFrame
    ) -> Iterator[Output[pd.DataFrame]]:
        """Both outputs are stored before a run with no valid record stops here, naming the quarantine reasons:
        the quarantine is the evidence of what went wrong (a wrong delimiter, say), and nothing downstream can use
        no rows."""
        now = datetime.now(UTC)
        result = validate_reports(labelled_reports, config.rules(), now=now)
        valid, quarantined = result.valid, result.quarantined
        context.log.info(f"{len(valid):,} valid, {len(quarantined):,} quarantined of {len(labelled_reports):,}")
        yield Output(
            valid,
            output_name="validated_reports",
            metadata={
                "records": len(valid),
                "records_per_source": count_table(valid["source"], "source"),
                "label_balance": label_balance(valid["label"], classes),
                "validated_at": now.isoformat(),
            },
        )
        yield Output(
            quarantined,
            output_name="quarantined_reports",
            metadata={
                "records": len(quarantined),
                "records_per_reason": count_table(quarantined["reason"], "reason"),
            },
        )
        require_valid_records(len(labelled_reports), valid, quarantined)

    @asset(
        **scope.asset_args(DATA),
        code_version=spec.sha256,
        description="Hashed word and character n-grams, the sentence encoder's embedding (and tabular columns) per the "
        "declared FeatureSpec, as .npz.",
    )
    def report_features(context: AssetExecutionContext, validated_reports: pd.DataFrame) -> Output[dict]:
        matrix = featurize(validated_reports, spec, log=context.log.info)
        features = FeatureMatrix(
            report_ids=validated_reports["report_id"].to_numpy(dtype=str), matrix=matrix, spec=spec
        )
        context.log.info(f"featurized {matrix.shape[0]:,} reports into {matrix.shape[1]:,} columns")
        return Output(
            features.to_arrays(),
            metadata={
                "feature_spec": MetadataValue.json(spec.to_dict()),
                "feature_spec_sha256": spec.sha256,
                "rows": matrix.shape[0],
                "n_features": matrix.shape[1],
                "non_zeros": int(matrix.nnz),
            },
        )

    @asset(
        **scope.asset_args(DATA),
        # The rows' report ids are all a split needs of the features: the matrix is not copied out (on ADE, 129 MB).
        ins={"report_features": AssetIn(key=scope.key("report_features"), metadata={MEMBERS: ["report_ids"]})},
        description="Train / calibration / test by hashing document groups with a recorded seed; rows index features.",
    )
    def dataset_splits(
        context: AssetExecutionContext, config: SplitConfig, validated_reports: pd.DataFrame, report_features: dict
    ) -> Output[pd.DataFrame]:
        if report_features["report_ids"].tolist() != validated_reports["report_id"].astype(str).tolist():
            raise ValueError(
                "report_features rows are not the validated reports in order: rematerialize report_features"
            )
        plan = config.plan()
        splits = assign_splits(validated_reports, plan)
        return Output(splits, metadata=split_metadata(splits, plan))

    return [labelled_reports, validated_reports, report_features, dataset_splits]
