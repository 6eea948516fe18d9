"""Blocking checks of the data assets: nothing lost in validation, nothing shared across splits."""

import pandas as pd
from dagster import AssetCheckResult, AssetChecksDefinition, AssetIn, asset_check

from gxp_assets.core.splits import folded_text, leaks
from gxp_assets.core.validation import reconcile
from gxp_assets.defs.use_case_scope import UseCaseScope


def _leak_result(leaked: pd.DataFrame, what: str) -> AssetCheckResult:
    return AssetCheckResult(
        passed=leaked.empty,
        metadata={f"{what}s_on_several_sides": len(leaked), "examples": str(leaked.head(5).to_dict("records"))},
    )


def data_checks(scope: UseCaseScope) -> list[AssetChecksDefinition]:
    """The blocking checks of ``scope``'s data stage, on its own keys; the text check where the use case declares a
    text feature."""

    @asset_check(
        asset=scope.key("validated_reports"),
        blocking=True,
        additional_ins={
            "labelled_reports": AssetIn(key=scope.key("labelled_reports")),
            "quarantined_reports": AssetIn(key=scope.key("quarantined_reports")),
        },
        description="Every record received is either valid or quarantined, exactly once (by record, not by count).",
    )
    def records_reconciled(
        validated_reports: pd.DataFrame, labelled_reports: pd.DataFrame, quarantined_reports: pd.DataFrame
    ) -> AssetCheckResult:
        problems = reconcile(labelled_reports, validated_reports, quarantined_reports)
        return AssetCheckResult(
            passed=not problems,
            metadata={
                "received": len(labelled_reports),
                "valid": len(validated_reports),
                "quarantined": len(quarantined_reports),
                "problems": "; ".join(problems) or "none",
            },
        )

    @asset_check(
        asset=scope.key("dataset_splits"), blocking=True, description="No document id has records on two sides."
    )
    def no_document_on_two_sides(dataset_splits: pd.DataFrame) -> AssetCheckResult:
        return _leak_result(leaks(dataset_splits, dataset_splits["document_id"]), "document")

    texts = [_text_check(scope, feature.column) for feature in scope.declaration().features.text]
    return [records_reconciled, no_document_on_two_sides, *texts]


def _text_check(scope: UseCaseScope, column: str) -> AssetChecksDefinition:
    """No text of the declared text ``column`` on two sides of ``scope``'s split."""

    @asset_check(
        asset=scope.key("dataset_splits"),
        blocking=True,
        additional_ins={"validated_reports": AssetIn(key=scope.key("validated_reports"))},
        description=f"No {column} (compared case- and space-folded) is on two sides.",
    )
    def no_text_on_two_sides(dataset_splits: pd.DataFrame, validated_reports: pd.DataFrame) -> AssetCheckResult:
        texts = validated_reports[column].iloc[dataset_splits["row"].to_numpy()].map(folded_text)
        return _leak_result(leaks(dataset_splits, texts.reset_index(drop=True)), "text")

    return no_text_on_two_sides
