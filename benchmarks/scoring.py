"""Batch scoring end to end against bare featurize + LightGBM predict, at two batch sizes.

    python benchmarks/scoring.py            # 100,000 and 1,000,000 records
    python benchmarks/scoring.py --quick    # 10,000 and 50,000 records
    python benchmarks/scoring.py --sizes 2000,10000   # any two sizes; GXP_PROFILE_DIR=DIR also profiles each child
    python benchmarks/scoring.py --features hashed    # the n-gram features alone, without the sentence encoder

Setup (not timed): a model is trained on the demo corpus through the real `train_model` job, approved with two
DEMO-ONLY signatures and promoted, in temporary GXP_HOME and DAGSTER_HOME; synthetic batches (fresh report ids,
unique texts) are written as CSV. Each measurement then runs in a fresh process, so its peak memory is its own:

- end to end: `score_file`, what the `scored_reports` asset runs: read the file in chunks, validate (with the
  duplicate checks across chunks), featurize, predict, calibrate, conformal sets, triage, explanations (top 3),
  and write Parquet + SQLite through the results store.
- reference: the same file read with pandas' C parser in the same chunks, featurized, and scored by the classifier;
  nothing validated, explained or written. Both load the same ACTIVE model before the clock starts.

Both encode every report with the sentence encoder, with the embedding cache off (GXP_ENCODER_CACHE=off in the
measured processes): fresh reports are in no cache, and the demo generator's batches share some texts with its
training corpus, which would spare the reference their encoding but not the explanation of them.

The encoder (about 85 reports/s on one core) is most of both sides' time, so that the ratio says little about what
the pipeline itself costs, and 1,000,000 reports take hours per side. ``--features hashed`` declares ae_triage
without the encoder (a copy of use_cases/ in the temporary home, its plan fixing that feature specification and
the family ``lightgbm``): the model is then the n-gram trees alone, thousands of reports per second, and the
validation, hashes, explanations and writes are what the ratio measures.

End to end is also split at the moment its last chunk is scored and staged: the chunks (the same work each, but for
the duplicate checks' lookups in the sorted digests of what the batch has received so far) and the tail that
publishes them to the results store and commits (inserting into its indexes). For the larger batch, the median time
of a chunk in the last quarter of the batch over the first quarter is printed for both sides: the reference's shows
how steady the machine was while it ran (on a shared 2-core machine, featurizing identical chunks took from 2.3 to
3.6 s within one run, measured).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from profiling import profiled  # noqa: E402

CHUNK = 50_000
RECORDS_PER_DOCUMENT = 3.44  # measured on the demo generator


def _peak_mb() -> float:
    """This process's peak resident memory. Not ru_maxrss: Linux carries that over exec from the parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def declare_without_encoder(root: Path) -> None:
    """A copy of use_cases/ at ``root`` whose ae_triage declares no sentence encoder; its plan fixes that spec."""
    import shutil

    from gxp_assets.core.features import DEFAULT_FEATURE_SPEC
    from gxp_assets.stores import USE_CASES_ROOT

    shutil.copytree(USE_CASES_ROOT, root)
    declaration, plan = root / "ae_triage" / "use_case.yaml", root / "ae_triage" / "change_control_plan.yaml"
    lines = declaration.read_text(encoding="utf-8").splitlines(keepends=True)
    declaration.write_text("".join(line for line in lines if "sentence_encoder:" not in line), encoding="utf-8")
    os.environ["GXP_USE_CASES"] = str(root)
    from gxp_assets.defs.use_case_scope import UseCaseScope

    spec = UseCaseScope("ae_triage").declaration().feature_spec()
    if spec.sentence_encoder:
        raise RuntimeError("the copied declaration still names a sentence encoder")
    text = plan.read_text(encoding="utf-8")
    for old, new in ((DEFAULT_FEATURE_SPEC.sha256, spec.sha256), ("lightgbm+sentence_network", "lightgbm")):
        if old not in text:
            raise RuntimeError(f"the plan no longer holds {old!r}: update declare_without_encoder")
        text = text.replace(old, new)
    plan.write_text(text, encoding="utf-8")


def setup() -> None:
    """Train, approve (DEMO-ONLY keys) and promote a model in GXP_HOME; nothing here is timed."""
    from dagster import DagsterInstance

    from gxp_assets.cli.demo import ensure_demo_signers, sign_demo_approvals
    from gxp_assets.cli.runs import promote
    from gxp_assets.definitions import SCOPES, defs
    from gxp_assets.defs.io_manager import LAUNCHED_BY_TAG
    from gxp_assets.stores import open_governance

    os.environ["GXP_ROLES"] = str(ensure_demo_signers())
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    with DagsterInstance.get() as instance:
        trained = defs.resolve_job_def(SCOPES["ae_triage"].name("train_model")).execute_in_process(
            instance=instance, run_config=quiet, tags={LAUNCHED_BY_TAG: "alice"}
        )
    version = open_governance().registry.versions()[-1].version
    if not (trained.success and sign_demo_approvals(version) and promote(version)):
        raise RuntimeError("setup failed: see the log above")


def write_batch(path: Path, records: int, seed: int) -> int:
    from gxp_assets.core.demo_data import demo_batch

    frame = demo_batch(int(records / RECORDS_PER_DOCUMENT * 1.1) + 10, seed, received_until=datetime.now(UTC))
    frame = frame.head(records)
    frame.to_csv(path, index=False, lineterminator="\n")
    return len(frame)


def child_end_to_end(path: Path) -> dict:
    from gxp_assets.core.batch_scoring import ScoringStamp, score_file
    from gxp_assets.defs.deployed import deployed_model
    from gxp_assets.defs.fail_safe import watch
    from gxp_assets.defs.inference_assets import ScoringConfig
    from gxp_assets.stores import artifact_store, open_governance, results_store

    governance = open_governance()
    deployed = deployed_model(governance, artifact_store())
    results = results_store()
    stamp = ScoringStamp(path.stem, deployed.version, deployed.plan_version, "benchmark", datetime.now(UTC),
                         timedelta(days=15))  # fmt: skip
    start = time.perf_counter()
    scored_by: list[float] = []  # seconds from the start when each chunk was scored and staged

    def progress(tally) -> None:
        scored_by.append(time.perf_counter() - start)
        print(f"    end to end: {tally.received:,} records, {scored_by[-1]:.1f} s", file=sys.stderr)

    # As the scored_reports asset runs it: drift measured while scoring (the fail-safe), chunks staged, then published.
    fail_safe = watch(deployed.version, deployed.reference, governance.plan.plan)
    with tempfile.TemporaryDirectory() as staging, results.writer(path.stem, "benchmark") as writer:
        outcome = score_file(path, deployed.model, deployed.spec, ScoringConfig().rules(), stamp, writer,
                             fail_safe=fail_safe, chunk_records=CHUNK, progress=progress,
                             staging_dir=Path(staging))  # fmt: skip
    tally = outcome.tally
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mb": _peak_mb(), "records": tally.received, "scored": tally.scored,
            "quarantined": tally.quarantined, "reasons": dict(tally.reasons), "scored_by": scored_by}  # fmt: skip


def child_reference(path: Path) -> dict:
    import pandas as pd

    from gxp_assets.core.features import featurize
    from gxp_assets.core.model import predict_scores
    from gxp_assets.defs.deployed import deployed_model
    from gxp_assets.stores import artifact_store, open_governance

    deployed = deployed_model(open_governance(), artifact_store())
    start = time.perf_counter()
    records = 0
    scored_by: list[float] = []
    for chunk in pd.read_csv(path, chunksize=CHUNK, dtype=str, keep_default_na=False):
        predict_scores(deployed.model.classifier, featurize(chunk, deployed.spec, store_embeddings=False))
        records += len(chunk)
        scored_by.append(time.perf_counter() - start)
        print(f"    reference: {records:,} records, {scored_by[-1]:.1f} s", file=sys.stderr)
    return {"seconds": time.perf_counter() - start, "peak_mb": _peak_mb(), "records": records,
            "scored_by": scored_by}  # fmt: skip


def chunk_drift(scored_by: list[float]) -> float | None:
    """Median time of the last quarter of chunks over that of the first quarter (None below 8 chunks).

    Both sides' chunks are alike (same size, same kind of records), so on a steady machine this is 1.0 for work that
    keeps no state from chunk to chunk, as the reference's; its figure shows how steady the machine was meanwhile.
    """
    times = [later - earlier for earlier, later in zip([0.0, *scored_by], scored_by, strict=False)]
    quarter = len(times) // 4
    if quarter < 2:
        return None
    return statistics.median(times[-quarter:]) / statistics.median(times[:quarter])


def measure(kind: str, path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--path", str(path)], capture_output=False, stdout=subprocess.PIPE,
        text=True, check=True, env={**os.environ, "GXP_ENCODER_CACHE": "off"},
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 and 50,000 records")
    parser.add_argument("--sizes", help="two batch sizes, comma-separated (e.g. 2000,10000)")
    parser.add_argument("--features", choices=["declared", "hashed"], default="declared",
                        help="the declared features (sentence encoder included), or the n-grams alone")  # fmt: skip
    parser.add_argument("--child", choices=["end_to_end", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child = child_end_to_end if args.child == "end_to_end" else child_reference
        name = f"scoring-{args.child}-{Path(args.path).stem}"
        print(json.dumps(profiled(name, lambda: child(Path(args.path)))))
        return
    sizes = (10_000, 50_000) if args.quick else (100_000, 1_000_000)
    if args.sizes:
        sizes = tuple(int(size) for size in args.sizes.split(","))
        if len(sizes) != 2 or sizes[0] >= sizes[1]:
            raise SystemExit(f"--sizes takes two sizes, the smaller first: got {args.sizes!r}")
    with tempfile.TemporaryDirectory() as temporary:
        home = Path(temporary)
        os.environ.update({"GXP_HOME": str(home / "gxp"), "DAGSTER_HOME": str(home / "dagster")})
        (home / "dagster").mkdir()
        (home / "dagster" / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
        if args.features == "hashed":
            declare_without_encoder(home / "use_cases")
        print(f"features: {args.features}", flush=True)
        print("setup: training, two demo-key approvals and promotion (not timed) ...", flush=True)
        setup()
        rows = []
        for size in sizes:
            path = home / f"batch-{size}.csv"
            print(f"setup: writing a {size:,}-record batch (not timed) ...", flush=True)
            records = write_batch(path, size, seed=1000 + size % 997)
            print(f"measuring {records:,} records ({path.stat().st_size / 1e6:.0f} MB) ...", flush=True)
            rows.append((records, measure("end_to_end", path), measure("reference", path)))
    print(f"\n{'records':>10} {'measurement':<12} {'wall s':>9} {'records/s':>11} {'peak MB':>9}")
    for records, ours, reference in rows:
        for name, values in (("end to end", ours), ("reference", reference)):
            rate = values["records"] / values["seconds"]
            print(f"{records:>10,} {name:<12} {values['seconds']:>9.1f} {rate:>11,.0f} {values['peak_mb']:>9.0f}")
        ratio = reference["seconds"] / ours["seconds"]
        print(f"{'':>10} scored {ours['scored']:,}, quarantined {ours['quarantined']:,} {ours['reasons']}; "
              f"ratio (end to end / reference records per second) {ratio:.3f}")  # fmt: skip
    (small, small_ours, small_ref), (large, large_ours, large_ref) = rows
    growth = (large_ours["seconds"] / large) / (small_ours["seconds"] / small)
    print(f"time per record at {large:,} / at {small:,}: {growth:.3f} (1.0 = linear)")
    print("end to end, split at the last chunk: scoring the chunks (read, validate, featurize, predict, explain, "
          "stage) | publishing them to the store and committing")  # fmt: skip
    tails = {}
    for records, ours, _ in rows:
        chunks_done = ours["scored_by"][-1] if ours["scored_by"] else 0.0
        tails[records] = ours["seconds"] - chunks_done
        print(f"{records:>10,} chunks {chunks_done:>8.1f} s ({records / chunks_done:,.0f} records/s) | publish + "
              f"commit {tails[records]:>6.1f} s ({tails[records] / records * 1e6:.0f} us per record, "
              f"{tails[records] / ours['seconds']:.0%} of end to end)")  # fmt: skip
    drift = {side: chunk_drift(values["scored_by"]) for side, values in (("e2e", large_ours), ("reference", large_ref))}
    if drift["e2e"] is not None and drift["reference"] is not None:
        print(f"time of a chunk, last quarter / first quarter of the {large:,} batch (median): end to end "
              f"{drift['e2e']:.3f}, reference {drift['reference']:.3f} (the reference keeps no state between chunks: "
              "its figure is how steady the machine was while it ran)")  # fmt: skip
    result = {
        "features": args.features,
        "records_small": small,
        "records_large": large,
        "e2e_rps_small": small / small_ours["seconds"],
        "e2e_rps_large": large / large_ours["seconds"],
        "reference_rps_small": small / small_ref["seconds"],
        "reference_rps_large": large / large_ref["seconds"],
        "ratio_small": small_ref["seconds"] / small_ours["seconds"],
        "ratio_large": large_ref["seconds"] / large_ours["seconds"],
        "e2e_peak_mb_large": large_ours["peak_mb"],
        "reference_peak_mb_large": large_ref["peak_mb"],
        "per_record_growth": growth,
        "e2e_publish_commit_seconds_large": tails[large],
        "e2e_chunk_drift_large": drift["e2e"] if drift["e2e"] is not None else float("nan"),
        "reference_chunk_drift_large": drift["reference"] if drift["reference"] is not None else float("nan"),
    }
    print("RESULT " + " ".join(f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}"
                               for key, value in result.items()))  # fmt: skip


if __name__ == "__main__":
    main()
