"""Training time against quality: LightGBM settings compared on the same ADE splits, seed by seed.

    python benchmarks/training.py                                   # default vs candidates, 10 split seeds
    python benchmarks/training.py --quick                           # 2 seeds
    python benchmarks/training.py --config min_column_count=30 --config min_column_count=30,feature_fraction=0.3

Every configuration is trained on the same train split of each seed (documents grouped as the pipeline groups them)
and goes through the plan's conformal step and the test evaluation of benchmarks/quality.py, so differences are
paired: the table gives each configuration's mean and the mean paired difference to the default with its standard
error, which is what "within the noise of 10 seeds" means here. Training time is wall time of ``train_classifier``
and the CPU seconds of this process while it ran (on a loaded machine wall time grows, CPU seconds much less).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from quality import conformal_metrics, corpus  # noqa: E402

from gxp_assets.core.features import DEFAULT_FEATURE_SPEC, featurize  # noqa: E402
from gxp_assets.core.model import TrainingParams, load_classifier, predict_scores, train_classifier  # noqa: E402
from gxp_assets.core.splits import SplitPlan, assign_splits  # noqa: E402

CANDIDATES = ("min_column_count=30", "min_column_count=30,feature_fraction=0.3")
METRICS = ("train_seconds", "cpu_seconds", "auroc", "auto_close_share", "ae_recall")


def parse_config(text: str) -> tuple[str, TrainingParams]:
    """``name=value,...`` over TrainingParams' fields, typed as the field's default is; ``default`` alone."""
    defaults = TrainingParams()
    if text == "default":
        return text, defaults
    changes = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        if name not in {field.name for field in dataclasses.fields(TrainingParams)}:
            raise SystemExit(f"unknown training setting {name!r} in {text!r}")
        kind = type(getattr(defaults, name))
        changes[name] = (value.lower() in ("1", "true", "yes")) if kind is bool else kind(value)
    return text, dataclasses.replace(defaults, **changes)


def run(valid, X, seed: int, name: str, params: TrainingParams) -> dict:
    splits = assign_splits(valid, SplitPlan(seed=seed))
    parts = {part: splits[splits["split"] == part] for part in ("train", "calibration", "test")}
    rows = {part: frame["row"].to_numpy() for part, frame in parts.items()}
    cpu, wall = time.process_time(), time.perf_counter()
    trained = train_classifier(
        X[rows["train"]], parts["train"]["label"].astype(int).to_numpy(), parts["train"]["split_group"].to_numpy(),
        params, text_blocks=DEFAULT_FEATURE_SPEC.text_blocks(), sentence_block=DEFAULT_FEATURE_SPEC.sentence_block(),
    )  # fmt: skip
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    classifier = load_classifier(trained.model_text)
    cal, test = (predict_scores(classifier, X[rows[part]]) for part in ("calibration", "test"))
    metrics = conformal_metrics(cal, test, parts, seed)["pac_document"]
    return {"seed": seed, "config": name, "train_seconds": wall, "cpu_seconds": cpu, "rounds": trained.best_iteration,
            **{key: metrics[key] for key in ("auroc", "auto_close_share", "ae_recall")}}  # fmt: skip


def summarize(results: list[dict], names: list[str]) -> dict[str, float]:
    by = {(r["config"], r["seed"]): r for r in results}
    seeds = sorted({r["seed"] for r in results if all((name, r["seed"]) in by for name in names)})
    print(f"\n{len(seeds)} seeds with every configuration; paired difference to default: mean (standard error)")
    print(f"{'config':<46}" + "".join(f"{metric:>30}" for metric in METRICS))
    summary: dict[str, float] = {"seeds": float(len(seeds))}
    for index, name in enumerate(names):
        cells = []
        for metric in METRICS:
            values = np.array([by[(name, seed)][metric] for seed in seeds])
            cell = f"{values.mean():.4f}"
            summary[f"c{index}_{metric}"] = float(values.mean())
            if name != names[0] and len(seeds) > 1:
                delta = values - np.array([by[(names[0], seed)][metric] for seed in seeds])
                se = statistics.stdev(delta) / np.sqrt(len(delta))
                cell += f" ({delta.mean():+.4f}±{se:.4f})"
            cells.append(f"{cell:>30}")
        print(f"{name:<46}" + "".join(cells))
    print("configs: " + "; ".join(f"c{index}={name}" for index, name in enumerate(names)))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds instead of 10")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--config", action="append", default=None, help="name=value,... (repeatable)")
    parser.add_argument("--out", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "gxp_training_runs.jsonl"))
    parser.add_argument("--resume", action="store_true", help="keep the runs already in --out")
    args = parser.parse_args()
    names = ["default", *(args.config or CANDIDATES)]
    configs = dict(parse_config(name) for name in names)
    seeds = list(range(args.seeds or (2 if args.quick else 10)))
    out = Path(args.out)
    results = [json.loads(line) for line in out.read_text().splitlines()] if args.resume and out.exists() else []
    if not args.resume:
        out.write_text("")
    valid, corpus_name = corpus()
    X = featurize(valid, DEFAULT_FEATURE_SPEC)
    print(f"corpus: {corpus_name}, {len(valid):,} unique reports; {len(seeds)} seeds x {len(names)} configurations; "
          f"runs in {out}", flush=True)  # fmt: skip
    total, count = len(seeds) * len(names), 0
    for seed in seeds:
        for name, params in configs.items():
            count += 1
            if any(r["seed"] == seed and r["config"] == name for r in results):
                continue
            result = run(valid, X, seed, name, params)
            results.append(result)
            with out.open("a") as handle:
                handle.write(json.dumps(result) + "\n")
            print(f"[{count}/{total}] seed {seed} {name}: {result['train_seconds']:.1f} s wall, "
                  f"{result['cpu_seconds']:.1f} s CPU, {result['rounds']} rounds, AUROC {result['auroc']:.4f}, "
                  f"auto-close {result['auto_close_share']:.4f}, recall {result['ae_recall']:.4f}",
                  flush=True)  # fmt: skip
    summary = summarize(results, names)
    print("RESULT " + " ".join(f"{key}={value:.4f}" for key, value in summary.items()))


if __name__ == "__main__":
    main()
