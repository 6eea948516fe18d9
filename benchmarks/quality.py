"""Quality of the default model against a TF-IDF + logistic regression reference, on honest grouped splits.

    python benchmarks/quality.py            # ADE Corpus V2, 10 split seeds
    python benchmarks/quality.py --quick    # ADE (or demo data where ADE is absent), 2 seeds

Both models see the same deduplicated, document-grouped splits of each seed and go through the same conformal
step (class-conditional split conformal at the 95 % AE level on the calibration split) and the same evaluation on
the test split. The reference is fitted in the same run, never taken from a constant.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gxp_assets.core.calibration import choose_calibrator  # noqa: E402
from gxp_assets.core.conformal import fit_conformal, triage  # noqa: E402
from gxp_assets.core.demo_data import write_demo_reports  # noqa: E402
from gxp_assets.core.evaluation import evaluate  # noqa: E402
from gxp_assets.core.features import DEFAULT_FEATURE_SPEC, featurize  # noqa: E402
from gxp_assets.core.loaders import load_ade_corpus, load_contract_files  # noqa: E402
from gxp_assets.core.model import TrainingParams, load_booster, predict_scores, train_classifier  # noqa: E402
from gxp_assets.core.splits import SplitPlan, assign_splits  # noqa: E402
from gxp_assets.core.validation import ValidationRules, validate_reports  # noqa: E402

ADE = ROOT.parent / "shared" / "data" / "ade_corpus_v2"
AE_LEVEL = 0.95
METRICS = ("auroc", "best_f1", "ae_recall", "auto_close_share")


def corpus():
    if (ADE / "DRUG-AE.rel").is_file():
        intake, name = load_ade_corpus(ADE), "ADE Corpus V2"
        rules = ValidationRules(require_received_at=False)
    else:
        path = write_demo_reports(Path(os.environ.get("TMPDIR", "/tmp")) / "gxp_quality_demo.csv", n_documents=1500)
        intake, name, rules = load_contract_files(path), "synthetic demo (ADE absent)", ValidationRules()
    valid = validate_reports(intake, rules, datetime.now(UTC)).valid  # deduplicated: one record per text
    return valid, name


def conformal_metrics(cal_scores, cal_labels, test_scores, test_labels, test_sources, seed: int) -> dict:
    """The same conformal step and evaluation for every model."""
    record = fit_conformal(cal_scores, cal_labels, AE_LEVEL, AE_LEVEL)
    calibrator = choose_calibrator(cal_scores, cal_labels, seed=seed)
    sets = record.prediction_sets(test_scores)
    return evaluate(test_labels, test_scores, calibrator(test_scores), sets, triage(sets), test_sources)


def reference_scores(texts_train, y_train, texts_other: list) -> list[np.ndarray]:
    """TF-IDF word 1-2 grams fitted on the train split only, then logistic regression."""
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    model = LogisticRegression(C=4.0, max_iter=2000).fit(vectorizer.fit_transform(texts_train), y_train)
    return [model.predict_proba(vectorizer.transform(texts))[:, 1] for texts in texts_other]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds instead of 10")
    parser.add_argument("--seeds", type=int, default=None)
    args = parser.parse_args()
    seeds = list(range(args.seeds or (2 if args.quick else 10)))
    valid, name = corpus()
    print(f"corpus: {name}, {len(valid):,} unique reports, {int(valid['label'].sum()):,} AE; seeds {seeds}", flush=True)
    start = time.perf_counter()
    X = featurize(valid, DEFAULT_FEATURE_SPEC)
    print(f"featurized in {time.perf_counter() - start:.1f} s: {X.shape[1]:,} hashed columns", flush=True)
    params = TrainingParams()
    results: dict[str, list[dict]] = {"ours": [], "tfidf_lr": []}
    train_seconds = []
    for seed in seeds:
        splits = assign_splits(valid, SplitPlan(seed=seed))
        parts = {part: splits[splits["split"] == part] for part in ("train", "calibration", "test")}
        rows = {part: frame["row"].to_numpy() for part, frame in parts.items()}
        labels = {part: frame["label"].astype(int).to_numpy() for part, frame in parts.items()}
        sources = parts["test"]["source"].to_numpy()

        trained = train_classifier(X[rows["train"]], labels["train"], parts["train"]["split_group"].to_numpy(), params)
        train_seconds.append(trained.seconds)
        booster = load_booster(trained.model_text)
        cal, test = (predict_scores(booster, X[rows[part]]) for part in ("calibration", "test"))
        results["ours"].append(conformal_metrics(cal, labels["calibration"], test, labels["test"], sources, seed))

        texts = {part: valid["text"].iloc[rows[part]].tolist() for part in rows}
        cal, test = reference_scores(texts["train"], labels["train"], [texts["calibration"], texts["test"]])
        results["tfidf_lr"].append(conformal_metrics(cal, labels["calibration"], test, labels["test"], sources, seed))
        ours, ref = results["ours"][-1], results["tfidf_lr"][-1]
        print(
            f"seed {seed}: ours AUROC {ours['auroc']:.4f} F1 {ours['best_f1']:.4f} recall {ours['ae_recall']:.4f} "
            f"auto-close {ours['auto_close_share']:.4f} ({trained.seconds:.0f} s, {trained.best_iteration} rounds) | "
            f"reference AUROC {ref['auroc']:.4f} F1 {ref['best_f1']:.4f} recall {ref['ae_recall']:.4f} "
            f"auto-close {ref['auto_close_share']:.4f}",
            flush=True,
        )

    print()
    print(f"{'model':<12}" + "".join(f"{metric:>22}" for metric in METRICS))
    summary = {}
    for model, runs in results.items():
        cells = []
        for metric in METRICS:
            values = [run[metric] for run in runs]
            mean, sd = statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0
            summary[f"{model}_{metric}_mean"], summary[f"{model}_{metric}_sd"] = mean, sd
            cells.append(f"{mean:.4f} +/- {sd:.4f}")
        print(f"{model:<12}" + "".join(f"{cell:>22}" for cell in cells))
    mean_seconds, max_seconds = statistics.fmean(train_seconds), max(train_seconds)
    print(f"training time of the default config: mean {mean_seconds:.1f} s, max {max_seconds:.1f} s")
    summary["ours_train_seconds_mean"] = statistics.fmean(train_seconds)
    summary["ours_train_seconds_max"] = max(train_seconds)
    print("RESULT seeds=" + str(len(seeds)) + " " + " ".join(f"{key}={value:.4f}" for key, value in summary.items()))


if __name__ == "__main__":
    main()
