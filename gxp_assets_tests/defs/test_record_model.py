"""dissolution_risk's model stage through the factory: too few failing batches in the calibration split stop the
training run before anything is trained, with the numbers; enough of them train a model whose columns carry the
declared names and whose drift reference is the records' one."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance

from gxp_assets.core.domain_shift import DOMAIN_SAMPLE_ROWS
from gxp_assets.core.record_reference import REFERENCE_KIND, RecordReference
from gxp_assets.definitions import SCOPES, defs
from gxp_assets.stores import codecs, open_governance
from gxp_assets.stores.local import LocalArtifactStore
from gxp_assets_tests.conftest import batch_record_file

SCOPE = SCOPES["dissolution_risk"]


def _train(path: Path, instance: DagsterInstance):
    config = {"ops": {"labelled_reports": {"config": {"path": str(path)}},
                      "ae_classifier": {"config": {"num_threads": 1}}}}  # fmt: skip
    job = defs.resolve_job_def(SCOPE.name("train_model"))
    return job.execute_in_process(instance=instance, run_config=SCOPE.run_config(config), raise_on_error=False)


def _stored(home: Path, name: str) -> object:
    store = LocalArtifactStore(home)
    ref = store.latest(SCOPE.key(name).to_user_string())
    return codecs.decode(store.read(ref), ref.suffix)


def test_too_few_failing_batches_for_the_plans_guarantee_stop_training_with_the_numbers(
    tmp_path: Path, gxp_home: Path, dagster_instance: DagsterInstance
) -> None:
    result = _train(batch_record_file(tmp_path / "batches.csv", 400, seed=3), dagster_instance)

    assert not result.success
    [failure] = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == SCOPE.name("ae_classifier")
    error = failure.event_specific_data.error
    message = error.cause.message if error.cause else error.message
    splits = _stored(gxp_home, "dataset_splits")  # the data stage ran: the numbers are the split's
    calibration = splits[splits["split"] == "calibration"]
    failing = calibration[calibration["label"] == 1]
    assert 0 < len(failing) < 22  # the plan's PAC guarantee (miss rate 0.10, delta 0.10) needs 22
    assert f"the calibration split holds {len(failing)} dissolution below specification records" in message, message
    assert "a miss rate of 0.1 at delta 0.1 needs at least 22" in message, message
    assert (
        f"calibration split: {len(calibration):,} records, {len(failing)} of them dissolution below specification, "
        f"in {failing['split_group'].nunique()} of its {calibration['split_group'].nunique()} groups" in message
    ), message
    assert not result.asset_materializations_for_node(SCOPE.name("ae_classifier"))  # nothing was trained
    assert not open_governance(use_case=SCOPE.id).registry.versions(SCOPE.id)  # nor registered


def test_a_tabular_model_names_its_declared_columns_and_keeps_a_records_drift_reference(
    tmp_path: Path, gxp_home: Path, dagster_instance: DagsterInstance
) -> None:
    result = _train(batch_record_file(tmp_path / "batches.csv", 1500, seed=0), dagster_instance)

    assert result.success, [event.message for event in result.all_events if event.is_failure]
    declared = SCOPE.declaration()
    numeric = [feature.column for feature in declared.features.numeric]
    tokens = {f"{feature.column}={level}" for feature in declared.features.categorical for level in feature.levels}
    conformal = _stored(gxp_home, "conformal_model")
    names = set(conformal["feature_names"].values())
    assert {"mgst_pct", "tablet_hardness_n", "api_d50_um"} <= names  # the mechanism's columns, by their names
    assert all(name in numeric or set(name.split(" | ")) <= tokens for name in names), names
    assert conformal["triage_policy"] == {
        "{0}": "RELEASE_REVIEW_NOT_NEEDED",
        "{1}": "HOLD when p(dissolution below specification) >= priority_min_p_ae, else REVIEW",
        "{0,1} or {}": "REVIEW",
        "priority_min_p_ae": 0.5,
    }

    values = _stored(gxp_home, "drift_reference")
    assert values["kind"] == REFERENCE_KIND and values["schema"] == 1
    reference = RecordReference.from_dict(values)
    assert reference.to_dict() == values  # plain JSON, read back exactly
    assert [part.column for part in reference.columns.numeric] == numeric
    assert {part.column: set(part.levels) for part in reference.columns.categorical} == {
        feature.column: set(feature.levels) for feature in declared.features.categorical
    }
    splits = _stored(gxp_home, "dataset_splits")
    test = splits[splits["split"] == "test"]
    assert reference.columns.n_records == int((splits["split"] == "train").sum())
    assert reference.n_records == len(test)
    # The domain classifier's sample: from every split (all products), not the test split's few.
    assert len(reference.sample.rows) == min(len(splits), DOMAIN_SAMPLE_ROWS) > len(test)
    assert set(reference.source_shares) == set(test["source"])  # the declared subgroup (site) mix
    assert abs(sum(reference.score_shares) - 1) < 1e-9 and 0 < reference.review_share < 1
    assert reference.sample.frame().columns.tolist() == [*numeric, *(f.column for f in declared.features.categorical)]
