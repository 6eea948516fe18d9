"""The ADE Corpus V2 as distributed, against the counts in its PROVENANCE.md (skipped where it is absent)."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance

from gxp_assets.core.loaders import load_ade_corpus
from gxp_assets.definitions import defs
from gxp_assets.defs.io_manager import ArtifactIOManager
from gxp_assets.stores import codecs
from gxp_assets.stores.local import LocalArtifactStore
from gxp_assets_tests.conftest import ae_scope


def test_loader_collapses_relations_and_keeps_every_negative_line(ade_corpus: Path) -> None:
    intake = load_ade_corpus(ade_corpus)
    positives, negatives = intake[intake["label"] == "1"], intake[intake["label"] == "0"]
    relation_lines = sum(record.count(b"\n") for record in positives["raw"])
    assert relation_lines == 6_821
    assert positives["text"].nunique() == 4_271
    assert positives["document_id"].nunique() == 1_644
    assert len(negatives) == 16_695 and negatives["text"].nunique() == 16_625
    assert not set(positives["text"]) & set(negatives["text"])
    assert intake["parse_error"].isna().all() and intake["report_id"].is_unique


def test_data_assets_on_the_ade_corpus(ade_corpus: Path, gxp_home: Path, dagster_instance: DagsterInstance) -> None:
    run_config = {
        "ops": {
            "labelled_reports": {"config": {"format": "ade_corpus_v2", "path": str(ade_corpus)}},
            "validated_reports": {"config": {"require_received_at": False}},
        }
    }
    scope = ae_scope()
    result = defs.resolve_job_def(scope.name("prepare_training_data")).execute_in_process(
        instance=dagster_instance, run_config=scope.run_config(run_config)
    )
    assert result.success
    assert all(evaluation.passed for evaluation in result.get_asset_check_evaluations())
    store = LocalArtifactStore(gxp_home)

    def load(name: str):
        ref = store.latest(scope.key(name).to_user_string())
        return codecs.decode(store.read(ref), ref.suffix)

    valid, quarantined, splits = load("validated_reports"), load("quarantined_reports"), load("dataset_splits")
    assert len(valid) == 20_896 and valid["text"].is_unique
    assert int((valid["label"] == 1).sum()) == 4_271
    assert set(quarantined["reason"]) == {"duplicate_text"} and len(quarantined) == 20_967 - 20_896
    sides_per_pmid = splits.groupby("document_id")["split"].nunique()
    assert sides_per_pmid.max() == 1 and len(sides_per_pmid) == valid["document_id"].nunique()
    assert set(splits["split"]) == {"train", "calibration", "test"}
    features = ArtifactIOManager(home=str(gxp_home)).store().latest(scope.key("report_features").to_user_string())
    assert features.suffix == ".npz"
