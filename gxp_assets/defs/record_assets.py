"""The data stage of a use case declared by a record contract (a tabular one), behind the same asset names as the
report path: the declared file read with the declared delimiter and encoding, validated against the contract,
featurized by the declared FeatureSpec with its decimal mark, and split by whole groups with the positives dealt out.

Every column, unit, level and format comes from the use case's declaration (``scope.declaration()``); nothing here
names one.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)
from pydantic import Field

from gxp_assets.core.features import FeatureMatrix, featurize
from gxp_assets.core.quarantine_tally import require_valid_records
from gxp_assets.core.record_contract import LABEL
from gxp_assets.core.record_files import read_records
from gxp_assets.core.record_validation import validate_records
from gxp_assets.core.splits import assign_record_splits
from gxp_assets.defs.config import SplitConfig
from gxp_assets.defs.metadata import count_table, label_balance, split_metadata
from gxp_assets.defs.retraining_request import record_retraining_request
from gxp_assets.defs.use_case_scope import DATA, UseCaseScope


class RecordSourceConfig(Config):
    """Where the labelled records come from, in the use case's declared file format."""

    path: str = Field(description="a file or a folder of record files (read in name order)")


def record_data_assets(scope: UseCaseScope) -> list[AssetsDefinition]:
    """``scope``'s data stage from its declared record contract: records -> validated + quarantined -> features ->
    splits (the same four assets, and checks, as the report path)."""
    declared = scope.declaration()
    contract, spec = declared.record_contract(), declared.feature_spec()

    @asset(**scope.asset_args(DATA), description="The labelled records as received: every cell as written, its file "
           "and line, read with the use case's declared delimiter and encoding.")  # fmt: skip
    def labelled_reports(context: AssetExecutionContext, config: RecordSourceConfig) -> Output[pd.DataFrame]:
        record_retraining_request(context, scope.governance)
        path = Path(config.path).expanduser().resolve()
        intake = read_records(path, contract.file_format)
        context.log.info(f"read {len(intake):,} records from {path}")
        return Output(intake, metadata={"source": MetadataValue.path(str(path)), "records": len(intake),
                                        "records_per_file": count_table(intake["source_file"], "file")})  # fmt: skip

    @multi_asset(**scope.validation_args("Records that met the declared contract, typed by it."))
    def validated_reports(
        context: AssetExecutionContext, labelled_reports: pd.DataFrame
    ) -> Iterator[Output[pd.DataFrame]]:
        """Both outputs are stored before a run with no valid record stops, naming the quarantine reasons."""
        now = datetime.now(UTC)
        result = validate_records(labelled_reports, contract, "training", now)
        valid, quarantined = result.valid, result.quarantined
        context.log.info(f"{len(valid):,} valid, {len(quarantined):,} quarantined of {len(labelled_reports):,}")
        subgroup = contract.subgroup_column  # optional in a declaration
        subgroups = {"records_per_subgroup": count_table(valid[subgroup], subgroup)} if subgroup else {}
        yield Output(valid, output_name="validated_reports", metadata={
            "records": len(valid), **subgroups,
            "label_balance": label_balance(valid[LABEL], declared.classes), "validated_at": now.isoformat(),
        })  # fmt: skip
        yield Output(quarantined, output_name="quarantined_reports", metadata={
            "records": len(quarantined), "records_per_reason": count_table(quarantined["reason"], "reason"),
        })  # fmt: skip
        require_valid_records(len(labelled_reports), valid, quarantined)

    @asset(**scope.asset_args(DATA), code_version=spec.sha256,
           description="The declared FeatureSpec's columns (numeric, categorical, any text), as .npz.")  # fmt: skip
    def report_features(context: AssetExecutionContext, validated_reports: pd.DataFrame) -> Output[dict]:
        matrix = featurize(validated_reports, spec, log=context.log.info, decimal=contract.file_format.decimal)
        ids = validated_reports[contract.id_column].astype(str).to_numpy(dtype=str)
        features = FeatureMatrix(report_ids=ids, matrix=matrix, spec=spec)
        return Output(features.to_arrays(), metadata={
            "feature_spec": MetadataValue.json(spec.to_dict()), "feature_spec_sha256": spec.sha256,
            "rows": matrix.shape[0], "n_features": matrix.shape[1], "non_zeros": int(matrix.nnz),
        })  # fmt: skip

    @asset(**scope.asset_args(DATA), description="Train / calibration / test by whole groups of the declared group "
           "column, positives dealt out to each part; rows index features.")  # fmt: skip
    def dataset_splits(
        config: SplitConfig, validated_reports: pd.DataFrame, report_features: dict
    ) -> Output[pd.DataFrame]:
        ids = validated_reports[contract.id_column].astype(str).tolist()
        if list(FeatureMatrix.from_arrays(report_features).report_ids) != ids:
            raise ValueError("report_features rows are not the validated records in order: rematerialize them")
        plan = config.plan()
        splits = assign_record_splits(validated_reports, contract.id_column, contract.group_column, plan,
                                      label_column=LABEL, subgroup_column=contract.subgroup_column)  # fmt: skip
        return Output(splits, metadata=split_metadata(splits, plan))

    return [labelled_reports, validated_reports, report_features, dataset_splits]
