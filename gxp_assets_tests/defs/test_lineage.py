"""A candidate's lineage names what it was built from, even when another run materializes its upstream assets
between training and registration: real runs in a persistent instance, the real artifact store and registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dagster import AssetSelection, DagsterInstance, ExecuteInProcessResult

from gxp_assets.definitions import defs
from gxp_assets.defs import loaded_inputs
from gxp_assets.defs.loaded_inputs import LOADED_INPUTS
from gxp_assets.defs.use_case_scope import DATA, MODEL, STAGE
from gxp_assets.stores import audit_trail, open_governance
from gxp_assets_tests.conftest import ae_scope, fresh_home

SCOPE = ae_scope()
FAST_MODEL = {"max_rounds": 60, "early_stopping_rounds": 15, "num_threads": 1}


def run(instance: DagsterInstance, job: str, seed: int, selection: AssetSelection) -> ExecuteInProcessResult:
    config = {"ops": {"labelled_reports": {"config": {"format": "demo", "demo_documents": 250, "demo_seed": seed}},
                      "ae_classifier": {"config": FAST_MODEL}}}  # fmt: skip
    if job == "prepare_training_data":
        config["ops"].pop("ae_classifier")
    result = defs.resolve_job_def(SCOPE.name(job)).execute_in_process(
        instance=instance,
        run_config=SCOPE.run_config(config),
        asset_selection=list(selection.resolve(defs.resolve_asset_graph())),
    )
    assert result.success
    return result


def versions(result: ExecuteInProcessResult) -> dict[str, str]:
    """The data version of each asset the run materialized, by name within the use case."""
    return {
        event.materialization.asset_key.path[-1]: event.materialization.tags["dagster/data_version"]
        for event in result.get_asset_materialization_events()
    }


def candidate(instance: DagsterInstance) -> ExecuteInProcessResult:
    """Registration alone, in a run of its own: every input is loaded from the store."""
    job = defs.resolve_job_def(SCOPE.name("train_model"))
    return job.execute_in_process(
        instance=instance, asset_selection=[SCOPE.key("model_candidate")], raise_on_error=False
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Run A trains (data and model stages, no registration); run B then materializes the corpus and its
    validation again from another seed, so the latest materialization of those keys is no longer A's."""
    monkeypatch = fresh_home(tmp_path_factory.mktemp("lineage"))
    stages = AssetSelection.groups(SCOPE.id) & (AssetSelection.tag(STAGE, DATA) | AssetSelection.tag(STAGE, MODEL))
    with DagsterInstance.get() as instance:
        built = run(instance, "train_model", 7, stages)
        corpus = AssetSelection.assets(*(SCOPE.key(name) for name in
                                         ("labelled_reports", "validated_reports", "quarantined_reports")))  # fmt: skip
        replaced = run(instance, "prepare_training_data", 8, corpus)
        yield {"instance": instance, "built": versions(built), "built_run": built.run_id,
               "replaced": versions(replaced)}  # fmt: skip
    monkeypatch.undo()


def test_no_step_leaves_its_notes_of_loaded_inputs_behind(trained: dict) -> None:
    """Two runs of every data and model step (and their checks) have run in this process: each step's notes were
    dropped with its last output, or never made (checks store no output)."""
    assert loaded_inputs._LOADED == {}
    registered = candidate(trained["instance"])
    assert registered.get_asset_materialization_events() or not registered.success  # it ran, whatever it decided
    assert loaded_inputs._LOADED == {}


def test_each_materialization_names_the_versions_its_step_loaded(trained: dict) -> None:
    built = trained["built"]
    classifier = trained["instance"].get_latest_materialization_event(SCOPE.key("ae_classifier"))
    loaded = classifier.asset_materialization.metadata[LOADED_INPUTS].value
    assert loaded == {
        SCOPE.key("report_features").to_user_string(): {"data_version": built["report_features"],
                                                         "run_id": trained["built_run"]},
        SCOPE.key("dataset_splits").to_user_string(): {"data_version": built["dataset_splits"],
                                                       "run_id": trained["built_run"]},
    }  # fmt: skip
    [entry] = [e for e in audit_trail().entries() if e.action == "materialization"
               and e.subject == "ae_triage/ae_classifier"]  # fmt: skip
    assert entry.details["inputs"] == loaded  # the same facts, in the hash-chained trail


def test_registration_after_another_run_names_what_the_model_was_built_from(trained: dict) -> None:
    built, replaced, instance = trained["built"], trained["replaced"], trained["instance"]
    assert replaced["validated_reports"] != built["validated_reports"]  # the latest materialization is B's now
    latest = instance.get_latest_materialization_event(SCOPE.key("validated_reports"))
    assert latest.asset_materialization.tags["dagster/data_version"] == replaced["validated_reports"]

    registered = candidate(instance)
    assert registered.success
    checks = {check.check_name: check.passed for check in registered.get_asset_check_evaluations()}
    assert checks["inputs_of_one_training"] is True
    version = registered.output_for_node(SCOPE.name("model_candidate"))["version"]
    lineage = open_governance().registry.get(version).record["lineage"]
    names = ("labelled_reports", "validated_reports", "quarantined_reports", "report_features", "dataset_splits",
             "ae_classifier", "conformal_model", "model_evaluation", "drift_reference")  # fmt: skip
    assert {name: lineage["assets"][name]["data_version"] for name in names} == {name: built[name] for name in names}
    assert {facts["run_id"] for facts in lineage["assets"].values()} == {trained["built_run"]}
    assert lineage["assets"]["ae_classifier"]["asset_key"] == "ae_triage/ae_classifier"  # where the store keeps it
    assert list(lineage["runs"]) == [trained["built_run"]]


def test_a_registration_that_loads_inputs_of_two_trainings_is_refused_naming_them(trained: dict) -> None:
    """Run B' now makes new splits too: registration would load B's splits beside the model trained on A's."""
    instance, built = trained["instance"], trained["built"]
    again = run(instance, "prepare_training_data", 9, AssetSelection.groups(SCOPE.id) & AssetSelection.tag(STAGE, DATA))
    assert versions(again)["dataset_splits"] != built["dataset_splits"]
    registered = candidate(instance)
    assert not registered.success  # the blocking check stops it
    [check] = [c for c in registered.get_asset_check_evaluations() if c.check_name == "inputs_of_one_training"]
    assert not check.passed and "dataset_splits" in check.metadata["conflicts"].value
    metadata = registered.asset_materializations_for_node(SCOPE.name("model_candidate"))[0].metadata
    failures = metadata["failures"].value
    assert f"lineage: dataset_splits: version {versions(again)['dataset_splits'][:12]}" in failures, failures
    assert built["dataset_splits"][:12] in failures  # the version the model was trained on, which the lineage keeps
