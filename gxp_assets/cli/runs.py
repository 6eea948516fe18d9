"""Running a job of the Definitions in the DAGSTER_HOME instance, so its history shows in `dagster dev` afterwards.

The commands that act now instead of waiting for a sensor (`gxp run`, `score`, `promote`, `monitor`, `demo`) start
the same jobs with the same run config the sensors would request, so they are audited the same way: by the run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from gxp_assets.cli.common import CliError, number, table
from gxp_assets.stores.local import default_home


class NoInstance(CliError):
    pass


def scope_of(use_case: str) -> Any:
    """The wired graph of ``use_case``, or a reason naming the use cases that have one."""
    from gxp_assets.definitions import SCOPES

    if use_case not in SCOPES:
        raise CliError(f"use case {use_case!r} has no asset graph yet (wired: {', '.join(sorted(SCOPES))})")
    return SCOPES[use_case]


def run_job(
    use_case: str, job: str, run_config: dict | None = None, partition_key: str | None = None, log_level: str = "INFO"
) -> Any:
    """Execute ``use_case``'s job ``job`` (e.g. ``train_model``) in process, tagged with who launched it; op names
    in ``run_config`` may omit the use-case prefix. Returns Dagster's result (never raises on failure)."""
    from dagster import DagsterInstance, DagsterInvalidConfigError, DagsterInvariantViolationError

    from gxp_assets.definitions import defs
    from gxp_assets.defs.io_manager import LAUNCHED_BY_TAG
    from gxp_assets.defs.provenance import current_user

    if not os.environ.get("DAGSTER_HOME"):
        raise NoInstance("DAGSTER_HOME is not set: run through scripts/demo.sh, or `source scripts/env.sh` first")
    scope = scope_of(use_case)
    name = scope.name(job)
    run_config = scope.run_config(run_config)
    run_config.setdefault("loggers", {"console": {"config": {"log_level": log_level}}})
    try:
        definition = defs.resolve_job_def(name)
    except DagsterInvariantViolationError:
        raise CliError(f"use case {use_case!r} has no {job!r} job yet (its graph is wired stage by stage)") from None
    print(f"running job '{definition.name}'{f' on partition {partition_key}' if partition_key else ''} "
          f"(GXP_HOME={default_home()})", flush=True)  # fmt: skip
    try:
        return definition.execute_in_process(
            instance=DagsterInstance.get(),
            run_config=run_config,
            partition_key=partition_key,
            raise_on_error=False,
            tags={LAUNCHED_BY_TAG: current_user()},
        )
    except DagsterInvalidConfigError as error:  # e.g. a use case declared by records: where are its records?
        problems = "; ".join(str(problem.message) for problem in error.errors) or str(error)
        raise CliError(f"the run config of {definition.name} is incomplete (`--config FILE`): {problems}") from None


def metadata_by_asset(result: Any) -> dict[str, dict]:
    """Metadata of each asset the run materialized, by its name within the run's use case (a run belongs to one use
    case, so the names are unique)."""
    return {event.materialization.asset_key.path[-1]: {key: value.value for key, value in
            event.materialization.metadata.items()} for event in result.get_asset_materialization_events()}  # fmt: skip


def materializations(result: Any) -> dict[str, dict]:
    """:func:`metadata_by_asset`, printing one line per asset."""
    found = metadata_by_asset(result)
    for event in result.get_asset_materialization_events():
        key = event.materialization.asset_key
        metadata = found[key.path[-1]]
        size = metadata.get("records", metadata.get("rows", metadata.get("shape", metadata.get("bytes", ""))))
        print(f"  {key.to_user_string():<32} {size!s:>10}  {metadata.get('artifact', '')}")
    for check in result.get_asset_check_evaluations():
        print(f"  check {check.check_name:<30} {'passed' if check.passed else 'FAILED'}")
    return found


def require_success(result: Any, what: str) -> None:
    print(f"run {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'}")
    if not result.success:
        raise CliError(f"the {what} run {result.run_id} failed; its error is in the log above and in the UI")


def promote(version: str) -> bool:
    """Run the version's use case's `promote_model` for an APPROVED version, as its approved_models sensor would."""
    from gxp_assets.stores import open_governance

    model = open_governance().registry.get(version)
    if model is None:
        raise CliError(f"no model version {version} in the registry")
    run_config = {"ops": {"active_model": {"config": {"version": version}}}}
    return bool(run_job(model.use_case, "promote_model", run_config, None, "WARNING").success)


def score_landed_file(use_case: str, path: Path) -> Any:
    """Register a file in ``use_case``'s landing folder as a partition and score it now, as its sensor would."""
    from dagster import DagsterInstance

    from gxp_assets.core.hashing import sha256_file
    from gxp_assets.stores.landing import batch_key

    if not path.is_file():
        raise CliError(f"no batch file {path}")
    if not os.environ.get("DAGSTER_HOME"):
        raise NoInstance("DAGSTER_HOME is not set: run through scripts/demo.sh, or `source scripts/env.sh` first")
    key = batch_key(path.name, sha256_file(path))
    DagsterInstance.get().add_dynamic_partitions(scope_of(use_case).batches.name, [key])
    return run_job(use_case, "score_batch", partition_key=key, log_level="WARNING")


def print_batch(result: Any) -> None:
    """What a scoring run did: counts, triage (as the use case names its outcomes) and drift; a batch with nothing
    scored prints 'n/a' for figures."""
    print(f"run {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'}")
    found = materializations(result)
    scored, drift = found.get("scored_reports"), found.get("drift_report")
    if scored:
        print(f"\nBatch scored by ACTIVE model {scored['model_version']} ({scored['plan_version']}): "
              f"{scored['received']:,} received = {scored['scored']:,} scored + {scored['quarantined']:,} "
              f"quarantined; triage {scored['triage']}")  # fmt: skip
    if drift and "per_feature" in drift:  # records: the output measures and every declared feature
        print(f"Drift report: {'DRIFT: ' + drift['alarms'] if drift['drifted'] else 'no drift'} (score PSI "
              f"{number(drift.get('score_psi'))}, REVIEW share {number(drift.get('review_share'), '.1%')}, subgroup "
              f"shift {number(drift.get('source_shift'))})")  # fmt: skip
        print_features(drift["per_feature"], drift.get("limits", {}))
        print(drift.get("domain_classifier", "Domain classifier: not shown"))
        print(f"Drift plot: {drift['plot_file']}")
    elif drift:
        print(f"Drift report: {'DRIFT: ' + drift['alarms'] if drift['drifted'] else 'no drift'} (score PSI "
              f"{number(drift.get('score_psi'))}, unseen n-grams {number(drift.get('unseen_ngram_share'), '.1%')}, "
              f"REVIEW share {number(drift.get('review_share'), '.1%')}, source shift "
              f"{number(drift.get('source_shift'))})\nDrift plot: {drift['plot_file']}")  # fmt: skip


def print_features(per_feature: dict[str, dict], limits: dict[str, float | None]) -> None:
    """Per declared feature: PSI (and its sampling noise), missing share, and the share outside the training range
    (numeric) or of unseen levels (categorical), each against the plan's limit for its type."""
    rows = []
    for column, measures in per_feature.items():
        kind = measures["kind"]
        other = "out_of_range_share" if kind == "numeric" else "unseen_level_share"
        rows.append((column, kind, number(measures["psi"]), number(measures["psi_noise"]),
                     number(limits.get(f"{kind}_psi_max"), "g"), number(measures["missing_share"], ".1%"),
                     f"{number(measures[other], '.1%')} {'outside range' if kind == 'numeric' else 'unseen'}",
                     measures.get("alarm") or ""))  # fmt: skip
    print(table(["feature", "type", "PSI", "noise", "PSI limit", "missing", "range / levels", "alarm"], rows,
                right=[2, 3, 4, 5]))  # fmt: skip


def print_for_qa(declaration: Any, result: Any, governance: Any, version: str) -> None:
    """What a QA person reads about a scored batch: every outcome by its declared name, with its meaning and count;
    that every record was scored or quarantined (the blocking reconciliation check), and why records were held;
    the model's guarantee in the use case's words; the positive-outcome records; where the drift report is."""
    import pandas as pd

    from gxp_assets.core.conformal import ConformalRecord, Triage
    from gxp_assets.core.record_scoring import UNKNOWN_LEVEL_REASON

    found = metadata_by_asset(result)
    scored, drift = found["scored_reports"], found.get("drift_report", {})
    checks = {check.check_name: check.passed for check in result.get_asset_check_evaluations()}
    triage = declaration.triage
    print("\n== 5. What QA reads ==")
    print(f"{scored['received']:,} records received = {scored['scored']:,} scored + {scored['quarantined']:,} "
          f"quarantined; reconciliation check batch_reconciled: "
          f"{'passed' if checks.get('batch_reconciled') else 'FAILED'}")  # fmt: skip
    for reason, count in scored.get("quarantine_reason_counts", {}).items():
        print(f"  quarantined, {reason}: {count}")
    print("Outcomes:")
    for outcome in (triage.negative, triage.uncertain, triage.positive):
        print(f"  {outcome.name:<27} {scored['triage'].get(outcome.name, 0):>5}  {' '.join(outcome.meaning.split())}")
    if scored.get("auto_close_suspension", "none") != "none":
        print(f"  {triage.negative.name} SUSPENDED for this batch: {scored['auto_close_suspension']}")
    if uncovered := scored.get("sources_not_covered"):
        shown = ", ".join(f"{name} ({count})" for name, count in uncovered.items())
        print(f"  never {triage.negative.name} (subgroup not judged by the plan's subgroup rule): {shown}")
    predictions = pd.read_parquet(scored["predictions_file"])
    unknown = predictions[predictions["triage_reason"].str.startswith(UNKNOWN_LEVEL_REASON)]
    for row in unknown.itertuples():
        print(f"  {row.report_id} ({row.source}) is {triage.uncertain.name}: {row.triage_reason.split(' (not')[0]}")
    registered = governance.registry.get(version)
    conformal = governance.load_model_artifacts(registered)["conformal_model"]["conformal"]
    print(f"Guarantee: {ConformalRecord.from_dict(conformal).statement(declaration.wording())}")
    held = predictions[predictions["triage"] == Triage.PRIORITY.value].sort_values("p_ae", ascending=False)
    print(f"{triage.positive.name} ({len(held)}; full list {scored.get('priority_queue_file', 'none')}):")
    for row in held.head(5).itertuples():
        print(f"  {row.report_id}  {row.document_id}  {row.source}  p={row.p_ae:.3f}  {row.text[:90]}")
    if drift:
        verdict = "DRIFT: " + drift["alarms"] if drift["drifted"] else "no drift"
        print(f"Drift report: {verdict}; per-feature measures in the asset {declaration.id}/drift_report (UI: Assets), "
              f"plot {drift['plot_file']}")  # fmt: skip


def train(use_case: str, config: str | None, log_level: str = "INFO") -> dict[str, dict]:
    """Run ``use_case``'s training job; prints the model's test metrics and how it was registered; returns the
    metadata found."""
    if config and not Path(config).is_file():
        raise CliError(f"no run config file {config}")
    run_config = yaml.safe_load(Path(config).read_text()) if config else {}
    result = run_job(use_case, "train_model", run_config, log_level=log_level)
    print(f"\nrun {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'}")
    found = materializations(result)
    evaluation, candidate = found.get("model_evaluation", {}), found.get("model_candidate", {})
    if evaluation:
        declared = scope_of(use_case).declaration()
        print(
            f"\nModel on the test split: AUROC {evaluation['auroc']:.3f}, best F1 {evaluation['best_f1']:.3f}, "
            f"realized recall of '{declared.classes.positive}' {evaluation['ae_recall']:.3f} (target "
            f"{evaluation['ae_target']:.2f}), {declared.triage.negative.name} {evaluation['auto_close_share']:.1%}, "
            f"{declared.triage.uncertain.name} {evaluation['review_share']:.1%}. Model card: "
            f"{evaluation['model_card_file']}"
        )
    if candidate:
        print(
            f"Registered as model {candidate['version']}: {candidate['state']} under the change control plan "
            f"(`gxp registry show {candidate['version']}`; approvals: `gxp approve {candidate['version']} ...`)."
        )
    print(
        f"\nResults: artifacts under {default_home() / 'artifacts'} (`gxp artifacts list`), run history in "
        f"{os.environ['DAGSTER_HOME']}.\nOpen the UI: `source scripts/env.sh && dagster dev`, then "
        "http://127.0.0.1:3000 (Assets > View lineage)."
    )
    if not result.success:
        raise CliError("the run failed; its error is in the log above and in the UI")
    return found
