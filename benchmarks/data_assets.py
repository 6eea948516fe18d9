"""Wall time and peak memory of materializing the data assets, against a bare read of the same corpus.

    python benchmarks/data_assets.py            # the ADE corpus from ../shared when present, else demo data
    python benchmarks/data_assets.py --quick    # small demo corpus; GXP_PROFILE_DIR=DIR also profiles the pipeline

Each measurement runs in a fresh process (so peak memory is its own) on fresh, temporary GXP_HOME and DAGSTER_HOME.
The reference is the least any pipeline must do: read the files with pandas and drop duplicate sentences.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from profiling import profiled  # noqa: E402

if TYPE_CHECKING:
    from dagster import DagsterInstance, EventLogEntry

# GXP_ADE_DIR for a checkout that is not beside the shared data (a git worktree, say).
ADE = Path(os.environ.get("GXP_ADE_DIR") or ROOT.parent / "shared" / "data" / "ade_corpus_v2")
USE_CASE = "ae_triage"  # the use case whose graph is measured


def run_config(source: str, documents: int) -> dict:
    if source == "ade":
        return {
            "ops": {
                "labelled_reports": {"config": {"format": "ade_corpus_v2", "path": str(ADE)}},
                "validated_reports": {"config": {"require_received_at": False}},
            }
        }
    return {"ops": {"labelled_reports": {"config": {"format": "demo", "demo_documents": documents}}}}


def child_pipeline(source: str, documents: int) -> dict:
    from dagster import DagsterInstance

    from gxp_assets.definitions import SCOPES, defs

    with tempfile.TemporaryDirectory() as home:
        os.environ["GXP_HOME"] = f"{home}/gxp"
        os.environ["DAGSTER_HOME"] = f"{home}/dagster"
        Path(os.environ["DAGSTER_HOME"]).mkdir()
        (Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
        scope = SCOPES[USE_CASE]
        config = scope.run_config(run_config(source, documents))
        config["loggers"] = {"console": {"config": {"log_level": "WARNING"}}}
        if source == "demo":  # generate the corpus outside the timed part, as the ADE files already exist
            from gxp_assets.core.demo_data import write_demo_reports
            from gxp_assets.defs.config import ReportSourceConfig
            from gxp_assets.defs.data_assets import demo_corpus_path

            source_config = ReportSourceConfig(demo_documents=documents)
            write_demo_reports(
                demo_corpus_path(source_config), n_documents=documents, label_noise=source_config.demo_label_noise
            )
        with DagsterInstance.get() as instance:
            writes = time_event_writes_in_steps(instance)
            start = time.perf_counter()
            job = defs.resolve_job_def(scope.name("prepare_training_data"))
            result = profiled(
                "data_assets_pipeline", lambda: job.execute_in_process(instance=instance, run_config=config)
            )
            seconds = time.perf_counter() - start
        records = {
            event.materialization.asset_key.to_user_string(): event.materialization.metadata["rows"].value
            for event in result.get_asset_materialization_events()
            if "rows" in event.materialization.metadata
        }
        # Each step's own time (inputs loaded, asset computed, output stored), as Dagster records it: the asset work.
        steps = {
            event.step_key: event.event_specific_data.duration_ms / 1000
            for event in result.all_events
            if event.event_type_value == "STEP_SUCCESS"
        }
    return {"seconds": seconds, "records": records, "success": result.success, "steps": steps,
            "event_writes_in_steps": writes["seconds"], "events_in_steps": writes["events"]}  # fmt: skip


def time_event_writes_in_steps(instance: DagsterInstance) -> dict:
    """Time Dagster spends writing the events and log lines of a step while the step's clock runs (everything but its
    STEP_START and STEP_SUCCESS): Dagster's bookkeeping, inside what its step durations count as the asset's work."""
    from dagster import DagsterEventType

    outside = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}
    writes = {"seconds": 0.0, "events": 0}
    handle = instance.handle_new_event

    def timed(event: EventLogEntry, **kwargs: Any) -> None:
        begin = time.perf_counter()
        try:
            handle(event, **kwargs)
        finally:
            if event.step_key and event.dagster_event_type not in outside:
                writes["seconds"] += time.perf_counter() - begin
                writes["events"] += 1

    instance.handle_new_event = timed
    return writes


def child_reference(source: str, documents: int) -> dict:
    import pandas as pd

    with tempfile.TemporaryDirectory() as home:
        if source == "demo":
            from gxp_assets.core.demo_data import write_demo_reports

            path = write_demo_reports(Path(home) / "demo.csv", n_documents=documents)
        start = time.perf_counter()
        if source == "ade":
            positives = pd.read_csv(ADE / "DRUG-AE.rel", sep="|", header=None, quoting=3, usecols=[0, 1])
            negatives = pd.read_csv(ADE / "ADE-NEG.txt", sep="\t", header=None, quoting=3)[0].str.split(" ", n=2)
            texts = pd.concat([positives[1], negatives.str[2]])
        else:
            texts = pd.read_csv(path)["text"]
        unique = texts.drop_duplicates()
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "records": {"unique texts": len(unique)}, "success": True}


def measure(kind: str, source: str, documents: int) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--source", source, "--documents", str(documents)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small demo corpus")
    parser.add_argument("--source", choices=["ade", "demo"], default=None)
    parser.add_argument("--documents", type=int, default=None)
    parser.add_argument("--child", choices=["pipeline", "reference"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    source = args.source or ("demo" if args.quick or not (ADE / "DRUG-AE.rel").is_file() else "ade")
    documents = args.documents or (200 if args.quick else 2000)

    if args.child:
        outcome = (child_pipeline if args.child == "pipeline" else child_reference)(source, documents)
        outcome["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(outcome))
        return

    corpus = f"ADE Corpus V2 ({ADE})" if source == "ade" else f"synthetic demo, {documents} documents"
    print(f"corpus: {corpus}", flush=True)
    print("measuring the reference (pandas read + drop duplicate texts) ...", flush=True)
    reference = measure("reference", source, documents)
    print("measuring the pipeline (all data assets and their checks) ...", flush=True)
    pipeline = measure("pipeline", source, documents)
    if not pipeline["success"]:
        raise SystemExit("the pipeline run failed")

    print()
    print(f"{'measurement':<34}{'wall s':>10}{'peak MB':>10}")
    print(f"{'reference: read + dedupe':<34}{reference['seconds']:>10.2f}{reference['peak_mb']:>10.0f}")
    print(f"{'pipeline: data assets + checks':<34}{pipeline['seconds']:>10.2f}{pipeline['peak_mb']:>10.0f}")
    asset_seconds = sum(pipeline["steps"].values())
    print(f"{'  of which asset work (steps)':<34}{asset_seconds:>10.2f}")
    print(f"{'  of which Dagster around them':<34}{pipeline['seconds'] - asset_seconds:>10.2f}")
    writes = pipeline["event_writes_in_steps"]
    print(f"{'  asset work: Dagster event writes':<34}{writes:>10.2f}   ({pipeline['events_in_steps']} events and log "
          "lines written while the steps' clocks ran)")  # fmt: skip
    print(f"{'  asset work without them':<34}{asset_seconds - writes:>10.2f}")
    for step, step_seconds in sorted(pipeline["steps"].items(), key=lambda item: -item[1]):
        print(f"    {step:<30}{step_seconds:>10.2f}")
    print()
    for name, rows in sorted(pipeline["records"].items()):
        print(f"  {name:<24}{rows:>10,} rows")
    print(f"  {'reference unique texts':<24}{reference['records']['unique texts']:>10,}")
    ratio = pipeline["seconds"] / reference["seconds"]
    # Keys are the use case's (ae_triage/validated_reports): the asset's own name is the key's last part.
    validated = next((rows for key, rows in pipeline["records"].items() if key.endswith("/validated_reports")), 0)
    print(
        f"RESULT source={source} pipeline_seconds={pipeline['seconds']:.4f} pipeline_peak_mb={pipeline['peak_mb']:.4f} "
        f"reference_seconds={reference['seconds']:.4f} reference_peak_mb={reference['peak_mb']:.4f} "
        f"time_ratio={ratio:.4f} asset_work_seconds={asset_seconds:.4f} "
        f"dagster_seconds={pipeline['seconds'] - asset_seconds:.4f} "
        f"event_writes_in_steps_seconds={writes:.4f} "
        f"asset_work_without_event_writes_seconds={asset_seconds - writes:.4f} "
        f"validated={validated}"
    )


if __name__ == "__main__":
    main()
