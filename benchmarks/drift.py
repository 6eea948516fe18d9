"""Drift alarms against the change control plan: false alarms on batches that have not drifted, and detection of
batches that have.

    python benchmarks/drift.py            # 100 in-distribution and 20 shifted batches per model
    python benchmarks/drift.py --quick    # 20 and 5

Setup (not timed): two models are trained through the real `train_model` job on the synthetic demo corpus, one on
all channels and one on literature reports only. Each batch (about 60 documents, fresh report ids, another seed) is
scored with `score_file`, as `scored_reports` does, and measured with the `DriftAccumulator` that `drift_report`
uses, against the model's own `drift_reference` and the plan's limits. The in-distribution batches are the reference
measured in the same run: their alarm rate is the false-alarm rate that the plan's `false_alarm_tolerance` bounds.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BATCH_DOCUMENTS = 60
TRAINING = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def train(source: dict) -> str:
    """Train and register a model on ``source`` (labelled_reports config); its version."""
    from dagster import DagsterInstance

    from gxp_assets.definitions import defs
    from gxp_assets.stores import open_governance

    with DagsterInstance.get() as instance:
        run_config = {"ops": {"labelled_reports": {"config": source}}, **TRAINING}
        result = defs.resolve_job_def("train_model").execute_in_process(instance=instance, run_config=run_config)
        if not result.success:
            raise RuntimeError("training failed")
    return open_governance().registry.versions()[-1].version


def batch_drift(version: str, channels: tuple[str, ...], seed: int, folder: Path) -> dict:
    from gxp_assets.core.batch_scoring import ScoringStamp, score_file
    from gxp_assets.core.demo_data import demo_batch
    from gxp_assets.core.drift import DriftAccumulator
    from gxp_assets.defs.deployed import deployed_model
    from gxp_assets.defs.inference_assets import ScoringConfig
    from gxp_assets.defs.monitoring_assets import drift_limits
    from gxp_assets.stores import artifact_store, open_governance

    deployed = deployed_model(open_governance(), artifact_store(), version)
    path = folder / f"batch-{version}-{seed}.csv"
    demo_batch(BATCH_DOCUMENTS, seed, channels=channels, received_until=datetime.now(UTC)).to_csv(path, index=False)
    stamp = ScoringStamp(path.stem, version, deployed.plan_version, "benchmark", datetime.now(UTC), timedelta(15))
    accumulator = DriftAccumulator(deployed.reference)
    sink = SimpleNamespace(add=lambda predictions, quarantined: accumulator.add_predictions(predictions))
    score_file(path, deployed.model, deployed.spec, ScoringConfig().rules(), stamp, sink, explain_top_k=0)
    return accumulator.result(drift_limits()).to_dict()


def summary(name: str, measurements: list[dict]) -> dict:
    def values(key: str) -> np.ndarray:
        return np.array([m[key] for m in measurements], dtype=float)

    return {
        "name": name,
        "batches": len(measurements),
        "reports": float(values("n_reports").mean()),
        "alarm_rate": float(np.mean([bool(m["alarms"]) for m in measurements])),
        **{f"{key}_mean": float(values(key).mean()) for key in ("score_psi", "unseen_ngram_share", "review_share")},
        **{f"{key}_p95": float(np.quantile(values(key), 0.95)) for key in ("score_psi", "unseen_ngram_share")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 in-distribution and 5 shifted batches per model")
    args = parser.parse_args()
    calm, shifted = (20, 5) if args.quick else (100, 20)
    with tempfile.TemporaryDirectory() as temporary:
        home = Path(temporary)
        os.environ.update({"GXP_HOME": str(home / "gxp"), "DAGSTER_HOME": str(home / "dagster")})
        (home / "dagster").mkdir()
        (home / "dagster" / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
        from gxp_assets.core.demo_data import generate_demo_reports
        from gxp_assets.stores import current_plan

        corpus = generate_demo_reports(n_documents=1500, seed=7)
        corpus[corpus["source"] == "literature"].to_csv(home / "literature.csv", index=False)
        print("setup: training an all-channel and a literature-only model (not timed) ...", flush=True)
        models = {
            "all channels": train({"format": "demo"}),
            "literature": train({"format": "contract", "path": str(home / "literature.csv")}),
        }
        cases = [
            ("all channels", "all channels", ("social_media", "call_centre", "literature"), calm),
            ("literature", "literature", ("literature",), calm),
            ("literature", "social_media", ("social_media",), shifted),
            ("literature", "call_centre", ("call_centre",), shifted),
            ("all channels", "social_media only", ("social_media",), shifted),
        ]
        rows = []
        for model, batches, channels, count in cases:
            print(f"measuring {count} batches of {batches} against the {model} model ...", flush=True)
            found = [batch_drift(models[model], channels, 5000 + seed, home) for seed in range(count)]
            rows.append((model, summary(batches, found)))
        tolerance = current_plan().plan.retraining_triggers.false_alarm_tolerance
    print(f"\n{'model':<14} {'batches of':<18} {'n':>4} {'reports':>8} {'alarms':>7} {'PSI mean':>9} {'PSI p95':>8} "
          f"{'unseen mean':>12} {'unseen p95':>11} {'REVIEW':>7}")  # fmt: skip
    for model, row in rows:
        print(f"{model:<14} {row['name']:<18} {row['batches']:>4} {row['reports']:>8.0f} {row['alarm_rate']:>7.2f} "
              f"{row['score_psi_mean']:>9.3f} {row['score_psi_p95']:>8.3f} {row['unseen_ngram_share_mean']:>12.3f} "
              f"{row['unseen_ngram_share_p95']:>11.3f} {row['review_share_mean']:>7.3f}")  # fmt: skip
    print(f"false-alarm tolerance of the plan: {tolerance}")
    keys = ("all_in", "lit_in", "lit_vs_social", "lit_vs_call", "all_vs_social_only")
    result = {f"{key}_alarm_rate": row["alarm_rate"] for key, (_, row) in zip(keys, rows, strict=True)}
    print("RESULT " + " ".join(f"{key}={value:.4f}" for key, value in {**result, "tolerance": tolerance}.items()))


if __name__ == "__main__":
    main()
