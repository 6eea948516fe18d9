"""The evaluation's plots as PNG bytes: ROC, reliability diagram, coverage per class, triage shares.

PNG metadata is stripped of the software version so the same numbers give the same bytes.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no screen; must precede pyplot
import matplotlib.pyplot as plt

_PNG_METADATA = {"Software": None}


def _png(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100, metadata=_PNG_METADATA)
    plt.close(figure)
    return buffer.getvalue()


def roc_plot(metrics: dict) -> bytes:
    figure, axis = plt.subplots(figsize=(5, 4.5))
    axis.plot(metrics["roc"]["fpr"], metrics["roc"]["tpr"], label=f"model (AUROC {metrics['auroc']:.3f})")
    axis.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    axis.set(xlabel="false positive rate", ylabel="true positive rate (AE recall)", title="ROC on the test split")
    axis.legend(loc="lower right")
    return _png(figure)


def reliability_plot(metrics: dict) -> bytes:
    figure, axis = plt.subplots(figsize=(5, 4.5))
    axis.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect calibration")
    for key, label in (("reliability_uncalibrated", "model score"), ("reliability", "calibrated p_ae")):
        points = metrics[key]
        ece = metrics["ece_uncalibrated" if key.endswith("uncalibrated") else "ece"]
        axis.plot(
            [p["predicted"] for p in points],
            [p["observed"] for p in points],
            marker="o",
            label=f"{label} (ECE {ece:.3f})",
        )
    axis.set(xlabel="predicted probability of AE", ylabel="observed AE rate", title="Reliability on the test split")
    axis.legend(loc="upper left")
    return _png(figure)


def coverage_plot(metrics: dict, targets: dict[str, float], marginal: dict[str, float] | None = None) -> bytes:
    figure, axis = plt.subplots(figsize=(5.5, 4.5))
    classes = ["0", "1"]
    names = ["no AE", "AE"]
    positions = range(len(classes))
    width = 0.35 if marginal else 0.6
    axis.bar(
        [p - (width / 2 if marginal else 0) for p in positions],
        [metrics["coverage"][c] for c in classes],
        width,
        label="class-conditional (ours)",
    )
    if marginal:
        axis.bar([p + width / 2 for p in positions], [marginal[c] for c in classes], width, label="marginal LAC")
    for position, c in zip(positions, classes, strict=True):
        axis.hlines(targets[c], position - 0.45, position + 0.45, colors="black", linestyles="--")
    axis.set_xticks(list(positions), names)
    axis.set(ylim=(min(0.8, *[metrics["coverage"][c] for c in classes]) - 0.02, 1.0), ylabel="realized coverage")
    axis.set_title("Coverage per class vs target (dashed)")
    axis.legend(loc="lower right")
    return _png(figure)


def triage_plot(metrics: dict) -> bytes:
    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    rows = [("all", metrics), *((row["source"], row) for row in metrics["subgroups"])]
    labels = [name for name, _ in rows]
    auto = [row["auto_close_share"] for _, row in rows]
    review = [row["review_share"] for _, row in rows]
    priority = [1 - a - r for a, r in zip(auto, review, strict=True)]
    axis.barh(labels, auto, label="AUTO_CLOSE", color="#4c9a5b")
    axis.barh(labels, review, left=auto, label="REVIEW", color="#e3b23c")
    axis.barh(
        labels, priority, left=[a + r for a, r in zip(auto, review, strict=True)], label="PRIORITY", color="#c4473a"
    )
    axis.set(xlim=(0, 1), xlabel="share of reports", title="Triage shares on the test split")
    axis.invert_yaxis()
    axis.legend(loc="lower right", fontsize="small")
    return _png(figure)
