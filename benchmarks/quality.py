"""Quality of the default model against a TF-IDF + logistic regression reference, on honest grouped splits, under
the plan's training-conditional (PAC) recall guarantee.

    python benchmarks/quality.py            # ADE Corpus V2, 50 split seeds
    python benchmarks/quality.py --quick    # ADE (or demo data where ADE is absent), 2 seeds

Both models see the same deduplicated, document-grouped splits of each seed and go through the same conformal step
on the calibration split and the same evaluation on the test split. Three AE-side methods are compared on the same
scores: the plan's PAC guarantee with documents (split groups) as the unit, PAC with records taken as independent
(wrong on clustered data), and the marginal class-conditional split conformal threshold. What counts for a regulator
is the share of seeds whose realized AE recall ends below the target: it must stay within delta. One split per seed
also carries the luck of which documents that seed's hash puts in calibration and which in test, so each seed's
calibration and test documents are also dealt again at random (REDEALS times, same number of calibration documents)
and the threshold refitted: the share of those draws below target estimates the same failure probability with far
less noise (the guarantee is a statement over calibration draws). The reference is fitted in the same run, never
taken from a constant. Per-seed results go to a JSON Lines file as they finish, so a
long run can be resumed (--resume) and inspected while it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gxp_assets.core.conformal import fit_conformal, triage  # noqa: E402
from gxp_assets.core.demo_data import write_demo_reports  # noqa: E402
from gxp_assets.core.evaluation import evaluate  # noqa: E402
from gxp_assets.core.features import DEFAULT_FEATURE_SPEC, featurize  # noqa: E402
from gxp_assets.core.loaders import load_ade_corpus, load_contract_files  # noqa: E402
from gxp_assets.core.model import TrainingParams, load_classifier, predict_scores, train_classifier  # noqa: E402
from gxp_assets.core.splits import SplitPlan, assign_splits  # noqa: E402
from gxp_assets.core.validation import ValidationRules, validate_reports  # noqa: E402
from gxp_assets.governance.plan import load_plan  # noqa: E402

ADE = ROOT.parent / "shared" / "data" / "ade_corpus_v2"
PLAN = load_plan().plan
TARGET = PLAN.positive_confidence
NO_AE = PLAN.conformal.negative_confidence
METHODS = {
    "pac_document": PLAN.guarantee.core(),
    "pac_record": replace(PLAN.guarantee.core(), unit="record"),
    "marginal": None,
}
COLUMNS = ("ae_recall", "sd", "below_target", "auto_close_share", "auroc", "ties_at_threshold")
REDEALS = 20


def corpus():
    if (ADE / "DRUG-AE.rel").is_file():
        intake, name = load_ade_corpus(ADE), "ADE Corpus V2"
        rules = ValidationRules(require_received_at=False)
    else:
        path = write_demo_reports(Path(os.environ.get("TMPDIR", "/tmp")) / "gxp_quality_demo.csv", n_documents=2500)
        intake, name, rules = load_contract_files(path), "synthetic demo (ADE absent)", ValidationRules()
    valid = validate_reports(intake, rules, datetime.now(UTC)).valid  # deduplicated: one record per text
    return valid, name


def calibrated(cal: np.ndarray, calibration: pd.DataFrame, test: np.ndarray, tested: pd.DataFrame, guarantee,
               seed: int):  # fmt: skip
    """The conformal step on the calibration rows and the evaluation on the test rows (frames with label,
    split_group and source): what every measurement of this benchmark does, the same way."""
    record = fit_conformal(
        cal,
        calibration["label"].astype(int).to_numpy(),
        TARGET,
        NO_AE,
        guarantee=guarantee,
        units=calibration["split_group"].to_numpy(),
        sources=calibration["source"].to_numpy(),
        selection_seed=seed,
    )
    test_sources = tested["source"].to_numpy()
    sets = record.prediction_sets(test, test_sources)
    labels = tested["label"].astype(int).to_numpy()
    return record, evaluate(labels, test, test, sets, triage(sets), test_sources)


def conformal_metrics(cal: np.ndarray, test: np.ndarray, parts: dict, seed: int) -> dict[str, dict]:
    """The same conformal step and evaluation for every model, once per AE-side method."""
    found = {}
    for method, guarantee in METHODS.items():
        record, metrics = calibrated(cal, parts["calibration"], test, parts["test"], guarantee, seed)
        # Ties: calibration AE records whose score equals the score that decides the AE threshold.
        ae_cal = cal[parts["calibration"]["label"].astype(int).to_numpy() == 1]
        cut = _ae_cut(record, parts["test"]["source"].to_numpy()[:1])
        found[method] = {
            "ae_recall": metrics["ae_recall"],
            "auto_close_share": metrics["auto_close_share"],
            "auroc": metrics["auroc"],
            "ties_at_threshold": float(np.mean(ae_cal == cut)) if np.isfinite(cut) else 0.0,
        }
    return found


def redealt_recalls(cal: np.ndarray, test: np.ndarray, parts: dict, seed: int, draws: int = REDEALS) -> list[float]:
    """Test AE recall under the plan's method after dealing this seed's calibration and test documents again at random,
    ``draws`` times: exchangeable by construction, so the share below target estimates the method's failure
    probability for this seed's model without the luck of one split."""
    both = pd.concat([parts["calibration"], parts["test"]], ignore_index=True)
    scores, units = np.r_[cal, test], both["split_group"].to_numpy()
    documents, n_calibration = np.unique(units), parts["calibration"]["split_group"].nunique()
    rng = np.random.default_rng(seed)
    recalls = []
    for _ in range(draws):
        chosen = np.isin(units, rng.permutation(documents)[:n_calibration])
        _, metrics = calibrated(scores[chosen], both[chosen], scores[~chosen], both[~chosen], METHODS["pac_document"],
                                seed)  # fmt: skip
        recalls.append(metrics["ae_recall"])
    return recalls


def _ae_cut(record, sources: np.ndarray) -> float:
    if record.guarantee.type == "pac":
        return float(record.ae_cut(1, sources)[0])
    return float(1 - record.thresholds()["ae_lac_quantile"])


def reference_scores(texts_train, y_train, texts_other: list) -> list[np.ndarray]:
    """TF-IDF word 1-2 grams fitted on the train split only, then logistic regression."""
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    model = LogisticRegression(C=4.0, max_iter=2000).fit(vectorizer.fit_transform(texts_train), y_train)
    return [model.predict_proba(vectorizer.transform(texts))[:, 1] for texts in texts_other]


def run_seed(valid, X, seed: int, params: TrainingParams, scores_dir: Path | None = None) -> dict:
    splits = assign_splits(valid, SplitPlan(seed=seed))
    parts = {part: splits[splits["split"] == part] for part in ("train", "calibration", "test")}
    rows = {part: frame["row"].to_numpy() for part, frame in parts.items()}
    train_labels = parts["train"]["label"].astype(int).to_numpy()
    trained = train_classifier(
        X[rows["train"]], train_labels, parts["train"]["split_group"].to_numpy(), params,
        text_blocks=DEFAULT_FEATURE_SPEC.text_blocks(), sentence_block=DEFAULT_FEATURE_SPEC.sentence_block(),
    )
    classifier = load_classifier(trained.model_text)
    cal, test = (predict_scores(classifier, X[rows[part]]) for part in ("calibration", "test"))
    texts = {part: valid["text"].iloc[rows[part]].tolist() for part in rows}
    ref_cal, ref_test = reference_scores(texts["train"], train_labels, [texts["calibration"], texts["test"]])
    calibration = parts["calibration"]
    if scores_dir is not None:  # for analyses of the calibration step without retraining
        np.savez(
            scores_dir / f"seed{seed}.npz",
            **{f"{part}_{key}": parts[part][key].astype(str).to_numpy(dtype=str) for part in ("calibration", "test")
               for key in ("label", "split_group", "source")},
            ours_calibration=cal, ours_test=test, tfidf_lr_calibration=ref_cal, tfidf_lr_test=ref_test,
        )  # fmt: skip
    return {
        "seed": seed,
        "train_seconds": trained.seconds,
        "rounds": trained.best_iteration,
        "calibration_ae_records": int((calibration["label"].astype(int) == 1).sum()),
        "calibration_ae_documents": int(calibration.loc[calibration["label"].astype(int) == 1, "split_group"].nunique()),  # noqa: E501
        "test_ae_records": int((parts["test"]["label"].astype(int) == 1).sum()),
        "ours": conformal_metrics(cal, test, parts, seed),
        "tfidf_lr": conformal_metrics(ref_cal, ref_test, parts, seed),
        "redealt": {
            "ours": redealt_recalls(cal, test, parts, seed),
            "tfidf_lr": redealt_recalls(ref_cal, ref_test, parts, seed),
        },
    }


def summarize(runs: list[dict]) -> dict[str, float]:
    print()
    print(f"target AE recall {TARGET}, delta {PLAN.guarantee.delta}; {len(runs)} seeds; "
          f"calibration AE documents {statistics.fmean(r['calibration_ae_documents'] for r in runs):.0f} "
          f"(records {statistics.fmean(r['calibration_ae_records'] for r in runs):.0f}) on average")  # fmt: skip
    print(f"{'model':<10}{'method':<14}" + "".join(f"{column:>19}" for column in COLUMNS))
    summary: dict[str, float] = {}
    for model in ("ours", "tfidf_lr"):
        for method in METHODS:
            recall = [run[model][method]["ae_recall"] for run in runs]
            values = {
                "ae_recall": statistics.fmean(recall),
                "sd": statistics.stdev(recall) if len(recall) > 1 else 0.0,
                "below_target": float(np.mean(np.asarray(recall) < TARGET - 1e-12)),
                "auto_close_share": statistics.fmean(run[model][method]["auto_close_share"] for run in runs),
                "auroc": statistics.fmean(run[model][method]["auroc"] for run in runs),
                "ties_at_threshold": statistics.fmean(run[model][method]["ties_at_threshold"] for run in runs),
            }
            print(f"{model:<10}{method:<14}" + "".join(f"{values[column]:>19.4f}" for column in COLUMNS))
            summary |= {f"{model}_{method}_{column}": value for column, value in values.items()}
    redealt = [run for run in runs if "redealt" in run]  # absent from runs recorded before it was measured
    if redealt:
        print(f"pac_document with each seed's calibration and test documents dealt again {REDEALS} times "
              f"({len(redealt)} seeds):")  # fmt: skip
        for model in ("ours", "tfidf_lr"):
            recalls = np.asarray([run["redealt"][model] for run in redealt])
            failure = float(np.mean(recalls < TARGET - 1e-12))
            print(f"{model:<10}ae_recall {recalls.mean():.4f}  below_target {failure:.4f}")
            summary[f"{model}_pac_document_ae_recall_redealt"] = float(recalls.mean())
            summary[f"{model}_pac_document_below_target_redealt"] = failure
    seconds = [run["train_seconds"] for run in runs]
    print(f"training time of the default config: mean {statistics.fmean(seconds):.1f} s, max {max(seconds):.1f} s")
    summary["ours_train_seconds_mean"] = statistics.fmean(seconds)
    return summary


def plot(runs: list[dict], path: Path) -> None:
    """Realized AE recall per seed and method: the share of points below the line is what the guarantee bounds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for axis, model in zip(axes, ("ours", "tfidf_lr"), strict=True):
        for offset, method in enumerate(METHODS):
            recall = [run[model][method]["ae_recall"] for run in runs]
            axis.scatter(np.full(len(recall), offset) + np.linspace(-0.2, 0.2, len(recall)), recall, s=10)
        axis.axhline(TARGET, color="black", linestyle="--", linewidth=1, label=f"target {TARGET}")
        axis.set_xticks(range(len(METHODS)), list(METHODS))
        axis.set_title(f"{model}: realized AE recall on the test split, per seed")
        axis.legend(loc="lower right")
    axes[0].set_ylabel("AE recall")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds instead of 50")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--first-seed", type=int, default=0, help="run seeds first-seed ... first-seed + seeds - 1")
    parser.add_argument("--merge", nargs="+", default=None, help="only summarize these per-seed files (from runs split "
                        "across processes with --first-seed)")  # fmt: skip
    parser.add_argument("--out", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "gxp_quality_seeds.jsonl"))
    parser.add_argument("--resume", action="store_true", help="keep the seeds already in --out")
    parser.add_argument("--scores-dir", default=None, help="also keep each seed's calibration and test scores here")
    parser.add_argument("--plot", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "gxp_quality_recall.png"))
    args = parser.parse_args()
    if args.merge:
        runs = [json.loads(line) for name in args.merge for line in Path(name).read_text().splitlines()]
        runs = sorted({run["seed"]: run for run in runs}.values(), key=lambda run: run["seed"])
        summary = summarize(runs)
        plot(runs, Path(args.plot))
        print("RESULT seeds=" + str(len(runs)) + " " + " ".join(f"{k}={v:.4f}" for k, v in summary.items()))
        return
    seeds = list(range(args.first_seed, args.first_seed + (args.seeds or (2 if args.quick else 50))))
    out = Path(args.out)
    done = [json.loads(line) for line in out.read_text().splitlines()] if args.resume and out.exists() else []
    done = [run for run in done if run["seed"] in seeds]
    if not args.resume:
        out.write_text("")
    valid, name = corpus()
    print(f"corpus: {name}, {len(valid):,} unique reports, {int(valid['label'].sum()):,} AE; {len(seeds)} seeds; "
          f"per-seed results in {out}", flush=True)  # fmt: skip
    start = time.perf_counter()
    X = featurize(valid, DEFAULT_FEATURE_SPEC, log=lambda message: print(message, flush=True))
    print(f"featurized in {time.perf_counter() - start:.1f} s: {X.shape[1]:,} hashed columns", flush=True)
    params = TrainingParams()
    runs = sorted(done, key=lambda run: run["seed"])
    for seed in seeds:
        if any(run["seed"] == seed for run in runs):
            continue
        run = run_seed(valid, X, seed, params, Path(args.scores_dir) if args.scores_dir else None)
        runs.append(run)
        with out.open("a") as handle:
            handle.write(json.dumps(run) + "\n")
        ours, ref = run["ours"]["pac_document"], run["tfidf_lr"]["pac_document"]
        print(f"seed {seed} ({len(runs)}/{len(seeds)}): ours recall {ours['ae_recall']:.4f} auto-close "
              f"{ours['auto_close_share']:.4f} AUROC {ours['auroc']:.4f} ({run['train_seconds']:.0f} s) | reference "
              f"recall {ref['ae_recall']:.4f} auto-close {ref['auto_close_share']:.4f} AUROC {ref['auroc']:.4f}",
              flush=True)  # fmt: skip
    summary = summarize(sorted(runs, key=lambda run: run["seed"]))
    plot(runs, Path(args.plot))
    print("RESULT seeds=" + str(len(runs)) + " " + " ".join(f"{key}={value:.4f}" for key, value in summary.items()))


if __name__ == "__main__":
    main()
