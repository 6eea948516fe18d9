"""The training graph through Dagster against the same core functions called in a plain script, on the same inputs.

    python benchmarks/pipeline_overhead.py            # ADE Corpus V2 (GXP_ADE_DIR, else ../shared), default training
    python benchmarks/pipeline_overhead.py --quick    # a small demo corpus and 30 boosting rounds

Each side runs in a fresh process on fresh, temporary GXP_HOME and DAGSTER_HOME, with its imports done before the
clock starts (a demo corpus is written before it too, as the ADE files already exist):

- dagster: the ``train_model`` job in-process: every data and model asset and check, the IO manager storing and
  re-hashing each artifact, the event log, the registry entry of the candidate.
- plain: the core functions those assets call, in order, on the same corpus and configuration: load, validate,
  featurize, split, train, conformal sets and calibration, feature names, test-split scoring with explanations,
  metrics, global importance, model card and plots. No artifact is stored and nothing is registered.

The ratio is dagster / plain wall time; the table also splits the Dagster run into its steps' own time (asset work,
including loading and storing their inputs and outputs) and the rest (Dagster around them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# GXP_ADE_DIR for a checkout that is not beside the shared data (a git worktree, say).
ADE = Path(os.environ.get("GXP_ADE_DIR") or ROOT.parent / "shared" / "data" / "ade_corpus_v2")
QUICK_DOCUMENTS = 1500
QUICK_ROUNDS = 30


def run_config(source: str, quick: bool) -> dict:
    """The train_model job's run config; the plain side reads its settings from the same dictionary."""
    ops: dict = {}
    if source == "ade":
        ops["labelled_reports"] = {"config": {"format": "ade_corpus_v2", "path": str(ADE)}}
        ops["validated_reports"] = {"config": {"require_received_at": False}}
    else:
        ops["labelled_reports"] = {"config": {"format": "demo", "demo_documents": QUICK_DOCUMENTS}}
    if quick:
        ops["ae_classifier"] = {"config": {"max_rounds": QUICK_ROUNDS}}
    return {"ops": ops}


def _fresh_homes(home: str) -> None:
    os.environ["GXP_HOME"] = f"{home}/gxp"
    os.environ["DAGSTER_HOME"] = f"{home}/dagster"
    Path(os.environ["DAGSTER_HOME"]).mkdir()
    (Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())


def _op_config(config: dict, op: str) -> dict:
    return config["ops"].get(op, {}).get("config", {})


def _demo_corpus(config: dict) -> Path:
    """Written before the clock on both sides, where the labelled_reports asset would find it."""
    from gxp_assets.core.demo_data import write_demo_reports
    from gxp_assets.defs.config import ReportSourceConfig
    from gxp_assets.defs.data_assets import demo_corpus_path

    source = ReportSourceConfig(**_op_config(config, "labelled_reports"))
    path = demo_corpus_path(source)
    write_demo_reports(path, n_documents=source.demo_documents, seed=source.demo_seed,
                       label_noise=source.demo_label_noise)  # fmt: skip
    return path


def child_dagster(source: str, quick: bool) -> dict:
    from dagster import DagsterInstance

    from gxp_assets.definitions import SCOPES, defs
    from gxp_assets.defs.io_manager import LAUNCHED_BY_TAG

    scope = SCOPES["ae_triage"]
    with tempfile.TemporaryDirectory() as home:
        _fresh_homes(home)
        config = run_config(source, quick)
        if source == "demo":
            _demo_corpus(config)
        config = scope.run_config(config)
        config["loggers"] = {"console": {"config": {"log_level": "WARNING"}}}
        job = defs.resolve_job_def(scope.name("train_model"))
        with DagsterInstance.get() as instance:
            start = time.perf_counter()
            # A quick model may fail the plan's acceptance checks (a blocking check): the work is done all the same.
            result = job.execute_in_process(instance=instance, run_config=config, tags={LAUNCHED_BY_TAG: "bench"},
                                            raise_on_error=False)  # fmt: skip
            seconds = time.perf_counter() - start
            # Each step's time from its start to its end in the event log, a step that failed (a blocking check of
            # a quick model) included: the asset work, with its inputs loaded and its outputs stored.
            started, steps = {}, {}
            for record in instance.all_logs(result.run_id):
                event = record.dagster_event
                if event is not None and event.event_type_value == "STEP_START":
                    started[event.step_key] = record.timestamp
                elif event is not None and event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
                    step = event.step_key.removeprefix(f"{scope.id}__")  # by asset name, as the plain side names it
                    steps[step] = record.timestamp - started[event.step_key]
        auroc = result.output_for_node(scope.name("model_evaluation"))["metrics"]["auroc"]
    done = "model_candidate" in steps and "model_evaluation" in steps
    return {"seconds": seconds, "success": done, "accepted": result.success, "steps": steps, "auroc": auroc}


def child_plain(source: str, quick: bool) -> dict:
    """The core functions the assets call, in the assets' order and with their settings; nothing stored."""
    from gxp_assets.core.calibration import choose_calibrator
    from gxp_assets.core.column_names import feature_names
    from gxp_assets.core.conformal import fit_conformal
    from gxp_assets.core.evaluation import held_out_metrics
    from gxp_assets.core.explain import used_columns
    from gxp_assets.core.features import FeatureMatrix, featurize
    from gxp_assets.core.hashing import sha256_hex
    from gxp_assets.core.loaders import load_ade_corpus, load_contract_files
    from gxp_assets.core.model import load_classifier, predict_scores, train_classifier
    from gxp_assets.core.model_card import model_card
    from gxp_assets.core.plots import coverage_plot, reliability_plot, roc_plot, triage_plot
    from gxp_assets.core.scoring import TriageModel
    from gxp_assets.core.splits import assign_splits, split_rows
    from gxp_assets.core.validation import validate_reports
    from gxp_assets.defs.config import SplitConfig, ValidationConfig
    from gxp_assets.defs.model_assets import ClassifierConfig, plan_guarantee
    from gxp_assets.defs.use_case_scope import UseCaseScope
    from gxp_assets.stores import current_plan

    config = run_config(source, quick)
    with tempfile.TemporaryDirectory() as home:
        _fresh_homes(home)
        corpus = _demo_corpus(config) if source == "demo" else ADE
        plan, declared = current_plan().plan, UseCaseScope("ae_triage").declaration()
        rules = ValidationConfig(**_op_config(config, "validated_reports")).rules()
        params = ClassifierConfig(**_op_config(config, "ae_classifier")).params()
        spec = declared.feature_spec()  # as report_features featurizes: the declared spec
        start = time.perf_counter()
        intake = load_ade_corpus(corpus) if source == "ade" else load_contract_files(corpus)
        valid = validate_reports(intake, rules, now=datetime.now(UTC)).valid
        matrix = featurize(valid, spec)
        splits = assign_splits(valid, SplitConfig().plan())
        features = FeatureMatrix(valid["report_id"].to_numpy(dtype=str), matrix, spec)
        X, labels, part = split_rows(features, splits, "train")
        trained = train_classifier(
            X, labels, part["split_group"].to_numpy(), params,
            text_blocks=spec.text_blocks(), sentence_block=spec.sentence_block(),
        )  # fmt: skip
        classifier = load_classifier(trained.model_text)
        X, labels, part = split_rows(features, splits, "calibration")
        scores = predict_scores(classifier, X)
        guarantee = plan_guarantee(plan)
        conformal = fit_conformal(
            scores, labels, guarantee.confidence, plan.conformal.negative_confidence, guarantee=guarantee,
            units=part["split_group"].to_numpy(), sources=part["source"].to_numpy(), selection_seed=7,
        )  # fmt: skip
        calibrator = choose_calibrator(scores, labels, seed=7)
        used = set(used_columns(classifier).tolist())
        train_rows = splits.loc[splits["split"] == "train", "row"].to_numpy()
        names = {column: name for column, name in feature_names(valid["text"].iloc[train_rows], spec).items()
                 if column in used}  # fmt: skip
        record = {
            "model_sha256": sha256_hex(trained.model_text.encode()),
            "conformal": conformal.to_dict(declared.wording()),
            "calibration": calibrator.to_dict(),
            "feature_names": {str(column): names[column] for column in sorted(names)},
            "triage_policy": {"priority_min_p_ae": plan.conformal.positive_min_probability},
        }
        model = TriageModel.from_records(trained.model_text, record)
        X, labels, part = split_rows(features, splits, "test")
        metrics, _ = held_out_metrics(model, X, labels, part["source"].to_numpy())
        confidence = record["conformal"]["confidence"]
        training = {"model_sha256": model.model_sha256, "feature_spec_sha256": spec.sha256, "data_versions": {},
                    "split_sizes": {str(name): int(count) for name, count in splits["split"].value_counts().items()}}
        model_card(metrics, training, {"confidence": confidence, "calibration_method": calibrator.method,
                                       "statement": record["conformal"]["statement"]}, declared.card_use())  # fmt: skip
        marginal = metrics["marginal_lac_coverage"]
        [roc_plot(metrics), reliability_plot(metrics), coverage_plot(metrics, confidence, marginal),
         triage_plot(metrics)]  # fmt: skip
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "success": True, "auroc": metrics["auroc"]}


def measure(kind: str, source: str, quick: bool) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--source", source] + (["--quick"] if quick else [])
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small demo corpus and few boosting rounds")
    parser.add_argument("--source", choices=["ade", "demo"], default=None)
    parser.add_argument("--child", choices=["dagster", "plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    source = args.source or ("demo" if args.quick or not (ADE / "DRUG-AE.rel").is_file() else "ade")
    if args.child:
        print(json.dumps((child_dagster if args.child == "dagster" else child_plain)(source, args.quick)))
        return
    corpus = f"ADE Corpus V2 ({ADE})" if source == "ade" else f"synthetic demo, {QUICK_DOCUMENTS} documents"
    print(f"corpus: {corpus}; training: {'quick' if args.quick else 'default'}", flush=True)
    print("measuring the plain script (core functions) ...", flush=True)
    plain = measure("plain", source, args.quick)
    print("measuring the train_model job through Dagster ...", flush=True)
    dagster = measure("dagster", source, args.quick)
    if not dagster["success"]:
        raise SystemExit("the Dagster run failed before its model candidate")
    steps = sum(dagster["steps"].values())
    print(f"\n{'measurement':<44}{'wall s':>10}")
    print(f"{'plain: core functions':<44}{plain['seconds']:>10.2f}")
    print(f"{'dagster: train_model job':<44}{dagster['seconds']:>10.2f}")
    print(f"{'  of which steps (asset work + IO)':<44}{steps:>10.2f}")
    print(f"{'  of which Dagster around them':<44}{dagster['seconds'] - steps:>10.2f}")
    for step, seconds in sorted(dagster["steps"].items(), key=lambda item: -item[1]):
        print(f"    {step:<40}{seconds:>10.2f}")
    ratio = dagster["seconds"] / plain["seconds"]
    print(f"candidate passed the plan's acceptance checks: {'yes' if dagster['accepted'] else 'no'}")
    print(f"test AUROC: plain {plain['auroc']:.4f}, dagster {dagster['auroc']:.4f}; ratio dagster / plain {ratio:.3f}")
    print(
        f"RESULT source={source} quick={int(args.quick)} dagster_seconds={dagster['seconds']:.4f} "
        f"plain_seconds={plain['seconds']:.4f} ratio={ratio:.4f} step_seconds={steps:.4f} "
        f"dagster_around_seconds={dagster['seconds'] - steps:.4f} auroc_dagster={dagster['auroc']:.4f} "
        f"auroc_plain={plain['auroc']:.4f}"
    )


if __name__ == "__main__":
    main()
