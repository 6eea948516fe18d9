"""One batch scored in-process and in Spark local[1] and local[2]: records per second, speed-up, same predictions?

    python benchmarks/distributed_scoring.py            # 100,000 and 1,000,000 records
    python benchmarks/distributed_scoring.py --quick    # 5,000 and 20,000 records

Setup (not timed): a model is trained on the demo corpus by the real `train_model` job (data and model groups) in a
temporary GXP_HOME, and a synthetic batch is written as CSV. Each measurement runs in a fresh process (a fresh JVM
for Spark) and takes the file to the published chunks, as `scored_reports` does without the fail-safe:

- in-process: `score_file` (read in chunks, validate, featurize, score, explain, stage, publish to the sink);
- Spark local[N]: `score_on_spark` (the driver cuts the CSV file into pieces of whole records and decides duplicates
  across records; one `mapInPandas` task per intake chunk parses its piece and runs its record checks, then one per
  chunk validates, calls `score_chunk` and stages its files itself) then `publish_staged` to the same sink.
  SparkSession start-up is timed apart and not counted in records per second; the child freezes what is loaded out
  of the garbage collector's reach first, as the Glue job does.

Threads: LightGBM predicts with every core in-process; Spark gives each Python worker OMP_NUM_THREADS =
spark.task.cpus (1), so local[1] is one core for the whole scoring and local[2] two.

The sink writes every chunk as Parquet; `identical=1` only when every chunk of every run equals the in-process one,
column by column and value by value (p_ae, prediction set, triage, reason, explanation, hashes, times).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 50_000
RECORDS_PER_DOCUMENT = 3.44  # measured on the demo generator
MODES = ("in-process", "local[1]", "local[2]")
STAMP = {"batch": "bench", "model_version": "v-bench", "plan_version": "plan bench", "run_id": "bench",
         "scored_at": "2026-12-04T12:00:00+00:00", "regulatory_clock_seconds": 15 * 86400}  # fmt: skip


class ParquetSink:
    """Writes each published chunk as Parquet, numbered, so runs can be compared chunk by chunk."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.count = folder, 0
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, predictions, quarantined) -> None:
        predictions.to_parquet(self.folder / f"{self.count:06d}.predictions.parquet", index=False)
        quarantined.to_parquet(self.folder / f"{self.count:06d}.quarantine.parquet", index=False)
        self.count += 1


def setup(home: Path, documents: int) -> Path:
    """Train a model by the real job; its stored classifier and conformal record as the remote jobs' bundle."""
    from dagster import AssetSelection, DagsterInstance

    from gxp_assets.core.demo_data import DEMO_CHANNELS
    from gxp_assets.definitions import SCOPES, defs
    from gxp_assets.defs.use_case_scope import DATA, MODEL, STAGE
    from gxp_assets.remote.job_inputs import ModelBundle
    from gxp_assets.stores import codecs
    from gxp_assets.stores.local import LocalArtifactStore

    scope = SCOPES["ae_triage"]
    config = scope.run_config({"ops": {"labelled_reports": {"config": {"format": "demo", "demo_documents": documents}}},
                               "loggers": {"console": {"config": {"log_level": "WARNING"}}}})  # fmt: skip
    stages = AssetSelection.tag(STAGE, DATA) | AssetSelection.tag(STAGE, MODEL)
    with DagsterInstance.get() as instance:
        selection = (AssetSelection.groups(scope.id) & stages).resolve(defs.resolve_asset_graph())
        result = defs.resolve_job_def(scope.name("train_model")).execute_in_process(
            instance=instance, run_config=config, asset_selection=list(selection)
        )
    if not result.success:
        raise RuntimeError("training failed: see the log above")
    store = LocalArtifactStore(home / "gxp")

    def latest(name: str):
        ref = store.latest(scope.key(name).to_user_string())
        return codecs.decode(store.read(ref), ref.suffix)

    path = home / "bundle.json"
    path.write_text(ModelBundle(latest("ae_classifier"), latest("conformal_model"), DEMO_CHANNELS).to_json())
    return path


def write_batch(path: Path, records: int, seed: int) -> int:
    from gxp_assets.core.demo_data import demo_batch

    received_until = datetime.fromisoformat(STAMP["scored_at"]) - timedelta(hours=1)  # all received before scoring
    frame = demo_batch(int(records / RECORDS_PER_DOCUMENT * 1.1) + 10, seed, received_until=received_until)
    frame = frame.head(records)
    frame.to_csv(path, index=False, lineterminator="\n")
    return len(frame)


def child(mode: str, path: Path, bundle_path: Path, out: Path) -> dict:
    from gxp_assets.core.batch_scoring import score_file
    from gxp_assets.core.staged_scoring import StagedChunk, publish_staged
    from gxp_assets.defs.inference_assets import ScoringConfig
    from gxp_assets.remote.job_inputs import ModelBundle, stamp_from_dict

    bundle = ModelBundle.from_json(bundle_path.read_text())
    model, spec = bundle.load()
    stamp, rules = stamp_from_dict(STAMP), ScoringConfig().rules()
    sink = ParquetSink(out / "published")
    started = time.perf_counter()

    def say(line: str) -> None:
        print(f"    {mode}: {line} ({time.perf_counter() - started:.1f} s)", file=sys.stderr, flush=True)

    phases: dict[str, float] = {}
    if mode == "in-process":
        start_up = 0.0
        started = time.perf_counter()
        outcome = score_file(path, model, spec, rules, stamp, sink, chunk_records=CHUNK, staging_dir=out,
                             progress=lambda tally: say(f"{tally.received:,} records"))  # fmt: skip
    else:
        from gxp_assets.remote.glue_scoring import settle_job_process
        from gxp_assets.remote.spark_scoring import score_on_spark, scoring_session

        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        spark = scoring_session(mode, "gxp-benchmark", **{"spark.driver.memory": "6g"})
        spark.range(1).count()  # the JVM and its first job are start-up, not scoring
        start_up = time.perf_counter() - started
        settle_job_process()  # as the Glue job's process does
        started = time.perf_counter()
        staged_dir = out / "staged"
        scoring = score_on_spark(spark, path, bundle, rules, stamp, staged_dir, chunk_records=CHUNK, log=say)
        staged = [StagedChunk(staged_dir / chunk["predictions"], staged_dir / chunk["quarantine"], chunk["received"])
                  for chunk in scoring.chunks]  # fmt: skip
        publishing = time.perf_counter()
        outcome = publish_staged(staged, model, sink)
        phases = {**scoring.seconds, "publishing": time.perf_counter() - publishing}
    seconds = time.perf_counter() - started
    tally = outcome.tally
    return {"seconds": seconds, "start_up": start_up, "records": tally.received, "scored": tally.scored,
            "quarantined": tally.quarantined, "chunks": sink.count, "phases": phases}  # fmt: skip


def measure(mode: str, path: Path, bundle: Path, out: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--path", str(path), "--bundle", str(bundle), "--out", str(out)],
        stdout=subprocess.PIPE, text=True, check=True, env=os.environ,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def same_chunks(folder: Path, reference: Path) -> bool:
    """Every published chunk equal to the reference's, value for value and type for type."""
    import pandas as pd

    ours, theirs = sorted(folder.glob("*.parquet")), sorted(reference.glob("*.parquet"))
    if [file.name for file in ours] != [file.name for file in theirs]:
        return False
    return all(pd.read_parquet(a).equals(pd.read_parquet(b)) for a, b in zip(ours, theirs, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 and 20,000 records")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    for name in ("--path", "--bundle", "--out"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.path), Path(args.bundle), Path(args.out))))
        return
    sizes = (5_000, 20_000) if args.quick else (100_000, 1_000_000)
    with tempfile.TemporaryDirectory() as temporary:
        home = Path(temporary)
        os.environ.update({"GXP_HOME": str(home / "gxp"), "DAGSTER_HOME": str(home / "dagster")})
        (home / "dagster").mkdir()
        (home / "dagster" / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
        print("setup: training a model on the demo corpus (not timed) ...", flush=True)
        bundle = setup(home, 1500 if args.quick else 6000)
        rows, identical = [], True
        for size in sizes:
            path = home / f"batch-{size}.csv"
            print(f"setup: writing a {size:,}-record batch (not timed) ...", flush=True)
            records = write_batch(path, size, seed=2000 + size % 997)
            results = {}
            for mode in MODES:
                print(f"measuring {records:,} records {mode} ...", flush=True)
                results[mode] = measure(mode, path, bundle, home / f"{size}-{mode}")
            for mode in MODES[1:]:
                same = same_chunks(home / f"{size}-{mode}" / "published", home / f"{size}-in-process" / "published")
                print(f"  {mode} published the same chunks as in-process: {same}", flush=True)
                identical &= same
            rows.append((records, results))
    print(f"\n{'records':>10} {'where':<11} {'start-up s':>10} {'scoring s':>10} {'records/s':>10} {'us/record':>10}")
    for records, results in rows:
        for mode, values in results.items():
            print(f"{records:>10,} {mode:<11} {values['start_up']:>10.1f} {values['seconds']:>10.1f} "
                  f"{records / values['seconds']:>10,.0f} {values['seconds'] / records * 1e6:>10.1f}")  # fmt: skip
        for mode in MODES[1:]:
            print(f"{'':>10} {mode} phases (s): "
                  + ", ".join(f"{name} {value:.1f}" for name, value in results[mode]["phases"].items()))  # fmt: skip
        first = results["in-process"]
        print(f"{'':>10} scored {first['scored']:,}, quarantined {first['quarantined']:,}, {first['chunks']} chunks; "
              f"speed-up local[1] -> local[2]: {results['local[1]']['seconds'] / results['local[2]']['seconds']:.2f}x")
    (small, small_results), (large, large_results) = rows

    def growth(mode: str) -> float:
        return (large_results[mode]["seconds"] / large) / (small_results[mode]["seconds"] / small)

    print(f"time per record at {large:,} / at {small:,} (1.0 = flat): "
          + ", ".join(f"{mode} {growth(mode):.3f}" for mode in MODES))  # fmt: skip
    result = {
        "records_small": small,
        "records_large": large,
        "inprocess_rps": large / large_results["in-process"]["seconds"],
        "spark1_rps": large / large_results["local[1]"]["seconds"],
        "spark2_rps": large / large_results["local[2]"]["seconds"],
        "speedup_1_to_2": large_results["local[1]"]["seconds"] / large_results["local[2]"]["seconds"],
        "speedup_1_to_2_small": small_results["local[1]"]["seconds"] / small_results["local[2]"]["seconds"],
        "spark_startup_s": large_results["local[2]"]["start_up"],
        "per_record_growth_inprocess": growth("in-process"),
        "per_record_growth_spark2": growth("local[2]"),
        "identical": int(identical),
    }
    print("RESULT " + " ".join(f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}"
                               for key, value in result.items()))  # fmt: skip


if __name__ == "__main__":
    main()
