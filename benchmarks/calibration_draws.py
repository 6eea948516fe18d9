"""Where does under-coverage come from? One trained model, many re-drawn calibration/test partitions.

    python benchmarks/quality.py --seeds 1 --first-seed 1 --scores-dir /tmp/q   # keeps seed 1's held-out scores
    python benchmarks/calibration_draws.py /tmp/q/seed1.npz                     # 200 re-drawn partitions
    python benchmarks/calibration_draws.py /tmp/q/seed1.npz --quick             # 30

The model is fixed; only the calibration draw varies: the held-out documents (calibration + test split of one seed)
are split in half again and again, by document group (as in reality) and by sentence (as if sentences were
independent), and each method's threshold is fitted on one half and its realized AE recall measured on the other.
The spread and the share of draws below the target show what each guarantee promises: the marginal threshold is
right on average, so about half of the draws end below it; the PAC threshold keeps that share near delta (plus the
noise of measuring recall on a finite test half). Ties at the threshold are counted too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gxp_assets.core.conformal import fit_conformal  # noqa: E402
from gxp_assets.governance.plan import load_plan  # noqa: E402

PLAN = load_plan().plan
TARGET = PLAN.positive_confidence


def draws(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, sources: np.ndarray, n: int) -> dict:
    """Realized AE recall per method over ``n`` re-drawn halves."""
    unique, group_of = np.unique(groups, return_inverse=True)
    rng = np.random.default_rng(0)
    found: dict[str, list[float]] = {"marginal by document": [], "marginal by sentence": [], "pac by document": []}
    guarantee = PLAN.guarantee.core()
    for draw in range(n):
        by_document = (rng.random(len(unique)) < 0.5)[group_of]
        by_sentence = rng.random(len(scores)) < 0.5
        for name, calibration in (("marginal by document", by_document), ("marginal by sentence", by_sentence)):
            record = fit_conformal(scores[calibration], labels[calibration], TARGET, PLAN.conformal.negative_confidence)
            test = ~calibration & (labels == 1)
            found[name].append(float(record.prediction_sets(scores[test])[:, 1].mean()))
        record = fit_conformal(
            scores[by_document], labels[by_document], TARGET, PLAN.conformal.negative_confidence, guarantee=guarantee,
            units=groups[by_document], sources=sources[by_document], selection_seed=draw,
        )  # fmt: skip
        test = ~by_document & (labels == 1)
        found["pac by document"].append(float(record.prediction_sets(scores[test], sources[test])[:, 1].mean()))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scores", help="a seedN.npz written by benchmarks/quality.py --scores-dir")
    parser.add_argument("--quick", action="store_true", help="30 draws instead of 200")
    parser.add_argument("--draws", type=int, default=None)
    args = parser.parse_args()
    n = args.draws or (30 if args.quick else 200)
    saved = np.load(args.scores, allow_pickle=False)
    labels = np.concatenate([saved["calibration_label"], saved["test_label"]]).astype(int)
    groups = np.concatenate([saved["calibration_split_group"], saved["test_split_group"]])
    sources = np.concatenate([saved["calibration_source"], saved["test_source"]])
    print(f"{args.scores}: {len(labels):,} held-out reports, {int(labels.sum()):,} AE in "
          f"{len(np.unique(groups[labels == 1])):,} document groups; {n} draws; target {TARGET}")  # fmt: skip
    print(f"{'model':<10}{'method':<22}{'mean recall':>12}{'sd':>8}{'below target':>14}{'distinct AE scores':>20}")
    summary = {}
    for model in ("ours", "tfidf_lr"):
        scores = np.concatenate([saved[f"{model}_calibration"], saved[f"{model}_test"]])
        ae = scores[labels == 1]
        distinct = f"{len(np.unique(ae))} of {len(ae)}"
        for method, recall in draws(scores, labels, groups, sources, n).items():
            values = np.asarray(recall)
            below = float(np.mean(values < TARGET - 1e-12))
            print(
                f"{model:<10}{method:<22}{values.mean():>12.4f}{values.std(ddof=1):>8.4f}{below:>14.4f}{distinct:>20}"
            )
            key = f"{model}_{method.replace(' ', '_')}"
            summary |= {f"{key}_mean": values.mean(), f"{key}_sd": values.std(ddof=1), f"{key}_below": below}
    print("RESULT draws=" + str(n) + " " + " ".join(f"{key}={value:.4f}" for key, value in summary.items()))


if __name__ == "__main__":
    main()
