"""The evaluation's plots as PNG bytes: ROC, reliability diagram, coverage per class, triage shares; and drift.

PNG metadata is stripped of the software version so the same numbers give the same bytes.
"""

from __future__ import annotations

import io
from itertools import pairwise

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


def _bin_labels(edges: list[float], fmt: str) -> list[str]:
    """Readable bins for open outer edges: '<e0', 'e0–e1', ..., '≥e_last'."""
    if not edges:
        return ["all"]
    inner = [f"{low:{fmt}}–{high:{fmt}}" for low, high in pairwise(edges)]
    return [f"<{edges[0]:{fmt}}", *inner, f"≥{edges[-1]:{fmt}}"]


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _reference_vs_batch(axis: plt.Axes, labels: list[str], reference: list[float], batch: list[float]) -> None:
    positions = range(len(labels))
    axis.bar([p - 0.2 for p in positions], reference, 0.4, label="reference", color="#8c8c8c")
    axis.bar([p + 0.2 for p in positions], batch, 0.4, label="batch", color="#3b6ea5")
    axis.set_xticks(list(positions), labels, rotation=45, ha="right", fontsize="small")
    axis.legend(loc="upper right", fontsize="small")


def drift_plot(measurement: dict, reference: dict) -> bytes:
    """One batch against the reference (both as ``to_dict()`` gives them): score and text-length distributions per
    reference bin, the monitored metrics against the plan's limits (alarms in red), and the source mix."""
    figure, axes = plt.subplots(2, 2, figsize=(11, 8))
    n = measurement["n_reports"]

    def shares(counts: list[int]) -> list[float]:
        return [count / n if n else 0.0 for count in counts]

    score_axis, length_axis, metric_axis, source_axis = axes.ravel()
    _reference_vs_batch(
        score_axis,
        _bin_labels(reference["score_edges"], ".3g"),
        reference["score_shares"],
        shares(measurement["score_counts"]),
    )
    score_axis.set(xlabel="model score (raw P(AE))", ylabel="share of reports")
    score_axis.set_title(f"Scores (PSI {_shown(measurement['score_psi'])})")
    _reference_vs_batch(
        length_axis,
        _bin_labels(reference["length_edges"], ".0f"),
        reference["length_shares"],
        shares(measurement["length_counts"]),
    )
    length_axis.set(xlabel="text length (characters)", ylabel="share of reports")
    length_axis.set_title(f"Text length (PSI {_shown(measurement['length_psi'])}, not judged)")

    limits = measurement["limits"]
    monitored = [
        ("score_psi", "score PSI", limits["score_psi_max"]),
        ("unseen_ngram_share", "unseen n-gram share", limits["unseen_ngram_share_max"]),
        ("review_share", "REVIEW share", reference["review_share"] + limits["review_share_increase_max"]),
    ]
    if "domain_auc" in measurement:  # measurements made before the domain classifier have none
        monitored.append(("domain_auc", "domain AUROC", limits.get("domain_auc_max")))
    alarmed = {alarm.split()[0].removesuffix("_increase") for alarm in measurement["alarms"]}
    for position, (key, _, limit) in enumerate(monitored):
        value = measurement[key]
        height = 0.0 if value is None else value
        metric_axis.bar(position, height, 0.6, color="#c4473a" if key in alarmed else "#4c9a5b")
        if limit is not None:
            metric_axis.hlines(limit, position - 0.4, position + 0.4, colors="black", linestyles="--")
    labels = [
        f"{label}\n{_shown(measurement[key])}\n" + (f"(limit {limit:g})" if limit is not None else "(not judged)")
        for key, label, limit in monitored
    ]
    metric_axis.set_xticks(range(len(monitored)), labels, fontsize=8)
    top = max([limit or 0.0 for _, _, limit in monitored] + [measurement[key] or 0.0 for key, _, _ in monitored])
    metric_axis.set(ylim=(0, top * 1.2 or 1.0), ylabel="value")
    metric_axis.set_title("Monitored metrics vs limit (dashed; red = alarm)")

    batch_mix = measurement["source_shares"]
    sources = sorted(set(reference["source_shares"]) | set(batch_mix))
    reference_mix = [reference["source_shares"].get(source, 0.0) for source in sources]
    _reference_vs_batch(source_axis, sources, reference_mix, [batch_mix.get(source, 0.0) for source in sources])
    source_axis.set(ylabel="share of reports", ylim=(0, 1))
    source_axis.set_title(f"Source mix (total variation {_shown(measurement['source_shift'])}, not judged)")
    verdict = "DRIFT: " + "; ".join(measurement["alarms"]) if measurement["alarms"] else "no alarm"
    verdict = verdict if n else "empty batch, nothing judged"
    figure.suptitle(f"Drift of a batch of {n:,} reports against the reference: {verdict}")
    return _png(figure)


def realized_plot(performance: dict, limits: dict[str, float]) -> bytes:
    """Realized AE recall and PRIORITY precision against the plan's limits, each with the count it rests on."""
    measures = (
        ("AE recall\n(not auto-closed)", performance["ae_recall"], limits["ae_recall_min"],
         f"{performance['ae_not_auto_closed']}/{performance['adjudicated_ae']}"),
        ("PRIORITY precision", performance["priority_precision"], limits["priority_precision_min"],
         f"{performance['priority_ae']}/{performance['priority_adjudicated']}"),
    )  # fmt: skip
    figure, axis = plt.subplots(figsize=(5.5, 4))
    for position, (_, value, limit, counts) in enumerate(measures):
        shown = value if value is not None else 0.0
        colour = "grey" if value is None else ("tab:red" if value < limit else "tab:green")
        axis.bar(position, shown, color=colour, width=0.6)
        axis.hlines(limit, position - 0.4, position + 0.4, colors="black", linestyles="--")
        axis.text(position, shown + 0.02, f"{_shown(value)}\n({counts})", ha="center", va="bottom", fontsize=9)
    axis.set_xticks(range(len(measures)), [label for label, *_ in measures])
    axis.set(ylim=(0, 1.2), ylabel="share", title=f"Realized performance, {performance['adjudicated']} adjudicated")
    return _png(figure)


def record_drift_plot(measurement: dict, reference: dict) -> bytes:
    """A batch of records against its reference (both as ``to_dict()`` gives them, core.record_drift and
    core.record_reference): per-feature PSI and per-feature shares against the plan's limits (alarms in red), the
    score distribution per reference bin, and the subgroup mix."""
    figure, axes = plt.subplots(2, 2, figsize=(12, 9))
    psi_axis, share_axis, score_axis, source_axis = axes.ravel()
    n, limits, columns = measurement["n_reports"], measurement["limits"], measurement["columns"]
    alarmed = {" ".join(alarm.split()[:2]) for alarm in measurement["alarms"]}
    names = [column["column"] for column in columns]
    for position, column in enumerate(columns):
        limit = limits[f"{column['kind']}_psi_max"]
        red = f"{column['column']} psi" in alarmed
        psi_axis.barh(position, column["psi"] or 0.0, 0.6, color="#c4473a" if red else "#4c9a5b")
        if limit is not None:
            psi_axis.vlines(limit, position - 0.4, position + 0.4, colors="black", linestyles="--")
        if column["psi_noise"] is not None:
            psi_axis.plot(column["psi_noise"], position, marker="|", color="grey", markersize=12)
    psi_axis.set_yticks(range(len(names)), names, fontsize="small")
    psi_axis.invert_yaxis()
    psi_axis.set(xlabel="PSI against the training records (dashed: limit; grey tick: sampling noise)")
    psi_axis.set_title("Per-feature PSI (red = alarm)")
    kinds = (("missing_share", "missing"), ("out_of_range_share", "outside training range"),
             ("unseen_level_share", "unseen level"))  # fmt: skip
    for offset, (key, label) in enumerate(kinds):
        values = [column.get(key) or 0.0 for column in columns]
        share_axis.barh([p + 0.25 * (offset - 1) for p in range(len(names))], values, 0.25, label=label)
        if limits.get(f"{key}_max") is not None:
            share_axis.axvline(limits[f"{key}_max"], linestyle="--", linewidth=0.8, color=f"C{offset}")
    share_axis.set_yticks(range(len(names)), names, fontsize="small")
    share_axis.invert_yaxis()
    share_axis.set(xlabel="share of the batch's records (dashed: limits)")
    share_axis.legend(loc="lower right", fontsize="small")
    share_axis.set_title("Per-feature shares")
    _reference_vs_batch(score_axis, _bin_labels(reference["score_edges"], ".3g"), reference["score_shares"],
                        [count / n if n else 0.0 for count in measurement["score_counts"]])  # fmt: skip
    score_axis.set(xlabel="model score", ylabel="share of records")
    score_axis.set_title(f"Scores (PSI {_shown(measurement['score_psi'])}, limit {limits['score_psi_max']:g})")
    batch_mix = measurement["source_shares"]
    groups = sorted(set(reference["source_shares"]) | set(batch_mix))
    _reference_vs_batch(source_axis, groups, [reference["source_shares"].get(g, 0.0) for g in groups],
                        [batch_mix.get(g, 0.0) for g in groups])  # fmt: skip
    source_axis.set(ylabel="share of records", ylim=(0, 1))
    source_axis.set_title(f"Subgroup mix (total variation {_shown(measurement['source_shift'])}, not judged)")
    verdict = "DRIFT: " + "; ".join(measurement["alarms"]) if measurement["alarms"] else "no alarm"
    figure.suptitle(f"Drift of a batch of {n:,} records against the reference: {verdict if n else 'empty batch'}",
                    fontsize="medium", wrap=True)  # fmt: skip
    return _png(figure)
