"""The recall guarantee under shift: share of true AEs auto-closed per batch, with and without the fail-safe.

    python benchmarks/shift.py            # 3 models; per model 12 in-distribution and 4 batches per shifted case
    python benchmarks/shift.py --quick    # smaller demo corpus and ADE sample; 5 and 2 batches

Setup (core functions, as the `train_model` job runs them): three models, each trained on the train split,
calibrated on the calibration split under the plan's PAC guarantee (documents as the unit, thresholds per source)
and given a drift reference built on the test split as the `drift_reference` asset builds it: (a) demo literature,
(b) demo social media (one synthetic demo corpus), (c) ADE Corpus V2 (skipped, with a message, where absent). Before
splitting, a share of each corpus's documents is held out: the model, its calibration and its reference never see
them. Batches are runs of whole documents (records of a document arrive together) of 100 and 1,000 records:

- in distribution: held-out documents of the model's own corpus and channel;
- shifted: another demo channel or the other corpus. Each arrives twice: with its true source (the guarantee does not
  cover a source the model was not calibrated on, so nothing should be auto-closed), and relabelled with the training
  channel's source name, so that only the drift measures can stop it. ADE's source is `literature`, so ADE batches for
  the literature model and demo literature batches for the ADE model arrive once (true source = training source).

Each batch is written as CSV without its labels (they are kept aside to measure) and scored end to end with
`score_file` twice: bare (`fail_safe=None`, the conformal triage alone) and with the plan's fail-safe (drift measured
while scoring, auto-close suspended for the batch when a limit of `retraining_triggers.drift` is crossed). Each batch
is judged on its own: no suspension stands from one batch to the next, as it would in production until lifted.
The bare triage is the reference measured in the same run. Targets: at most `guarantee.miss_rate` (0.05) of true AEs
auto-closed in every shifted batch with the fail-safe; drift alarms on at most `false_alarm_tolerance` (0.10) of
in-distribution batches, which should keep their auto-close share.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gxp_assets.core.batch_scoring import ScoringStamp, score_file  # noqa: E402
from gxp_assets.core.calibration import choose_calibrator  # noqa: E402
from gxp_assets.core.conformal import Triage, fit_conformal  # noqa: E402
from gxp_assets.core.demo_data import write_demo_reports  # noqa: E402
from gxp_assets.core.drift import DriftReference, build_reference  # noqa: E402
from gxp_assets.core.fail_safe import SUSPENSION_PREFIX, FailSafe  # noqa: E402
from gxp_assets.core.features import DEFAULT_FEATURE_SPEC, featurize  # noqa: E402
from gxp_assets.core.hashing import sha256_hex, unit_interval  # noqa: E402
from gxp_assets.core.loaders import load_ade_corpus, load_contract_files  # noqa: E402
from gxp_assets.core.model import TrainingParams, load_classifier, predict_scores, train_classifier  # noqa: E402
from gxp_assets.core.scoring import TriageModel  # noqa: E402
from gxp_assets.core.splits import SplitPlan, assign_splits, whole_document_batches  # noqa: E402
from gxp_assets.core.validation import ValidationRules, validate_reports  # noqa: E402
from gxp_assets.governance.plan import load_plan  # noqa: E402

ADE_FOLDER = ROOT.parent / "shared" / "data" / "ade_corpus_v2"
PLAN = load_plan().plan
GUARANTEE = PLAN.guarantee.core()
LIMITS = PLAN.retraining_triggers.drift.core()
TOLERANCE = PLAN.retraining_triggers.false_alarm_tolerance
TARGET = GUARANTEE.miss_rate
HELD_OUT = 0.3  # share of each corpus's documents kept for batches, never seen by a model or its reference
SMALL, LARGE = 100, 1000
# Incoming reports carry no label and must carry their receipt time (ScoringConfig.rules() in defs.inference_assets).
INCOMING = ValidationRules(require_label=False, require_received_at=True)
MODELS = {"literature": "demo literature", "social_media": "demo social_media", "ade": "ADE"}


@dataclass
class Corpus:
    name: str  # literature, social_media, call_centre (demo channels) or ade
    modelled: pd.DataFrame  # documents a model may be built on
    pool: pd.DataFrame  # held-out documents, for batches

    @property
    def source(self) -> str:
        return str(self.modelled["source"].iloc[0])


@dataclass
class Built:
    corpus: Corpus
    model: TriageModel
    fail_safe: FailSafe
    note: str


def log(message: str) -> None:
    print(message, flush=True)


def corpora(demo_documents: int, ade_share: float) -> dict[str, Corpus]:
    """Validated (deduplicated) reports per demo channel and ADE, each split into modelled and held-out documents."""
    frames: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory() as folder:
        path = write_demo_reports(Path(folder) / "demo.csv", n_documents=demo_documents, seed=7)
        demo = validate_reports(load_contract_files(path), ValidationRules(), datetime.now(UTC)).valid
    for channel, frame in demo.groupby("source"):
        frames[str(channel)] = frame
    if (ADE_FOLDER / "DRUG-AE.rel").is_file():
        ade = validate_reports(
            load_ade_corpus(ADE_FOLDER), ValidationRules(require_received_at=False), datetime.now(UTC)
        ).valid
        if ade_share < 1:
            ade = ade[ade["document_id"].map(lambda d: unit_interval("shift-benchmark-sample", str(d)) < ade_share)]
        frames["ade"] = ade
    else:
        log(f"ADE Corpus V2 not found at {ADE_FOLDER}: the ADE model and ADE batches are skipped")
    found = {}
    for name, frame in frames.items():
        frame = frame.reset_index(drop=True)
        held = frame["document_id"].map(lambda d: unit_interval("shift-benchmark", str(d)) < HELD_OUT).to_numpy()
        pool = frame[held].sort_values("document_id", kind="stable").reset_index(drop=True)
        found[name] = Corpus(name, frame[~held].reset_index(drop=True), pool)
    return found


def build(corpus: Corpus, params: TrainingParams) -> Built:
    """Train, calibrate (plan's PAC guarantee) and build the drift reference, as the model assets do."""
    start = time.perf_counter()
    reports = corpus.modelled
    X = featurize(reports, DEFAULT_FEATURE_SPEC)
    splits = assign_splits(reports, SplitPlan())
    labels = reports["label"].astype(int).to_numpy()
    rows = {part: np.flatnonzero(splits["split"].to_numpy() == part) for part in ("train", "calibration", "test")}
    groups = splits["split_group"].to_numpy()
    trained = train_classifier(
        X[rows["train"]], labels[rows["train"]], groups[rows["train"]], params,
        text_blocks=DEFAULT_FEATURE_SPEC.text_blocks(), sentence_block=DEFAULT_FEATURE_SPEC.sentence_block(),
    )
    classifier = load_classifier(trained.model_text)
    cal = rows["calibration"]
    scores = predict_scores(classifier, X[cal])
    conformal = fit_conformal(
        scores,
        labels[cal],
        GUARANTEE.confidence,
        PLAN.conformal.negative_confidence,
        guarantee=GUARANTEE,
        units=groups[cal],
        sources=splits["source"].to_numpy()[cal],
        selection_seed=7,
    )
    calibrator = choose_calibrator(scores, labels[cal], seed=7)
    model = TriageModel(classifier, sha256_hex(trained.model_text.encode()), conformal, calibrator, feature_names={})
    test = rows["test"]
    scored = model.score(X[test], reports["source"].to_numpy()[test])
    reference: DriftReference = build_reference(
        X[rows["train"]],
        DEFAULT_FEATURE_SPEC,
        reports["text"].iloc[test].tolist(),
        scored.raw_scores,
        scored.triage,
        reports["source"].iloc[test].tolist(),
    )
    fail_safe = FailSafe(reference=reference, limits=LIMITS, suspend_on_drift=PLAN.fail_safe.suspend_on_drift)
    thresholds = {s: round(t.value, 4) for s, t in conformal.ae_thresholds.items() if t.value is not None}
    note = (
        f"{MODELS[corpus.name]:<18} train {len(rows['train']):>6,}  calibration {len(cal):>5,} "
        f"({len(set(groups[cal][labels[cal] == 1])):,} AE documents)  reference {len(test):>5,}  "
        f"(REVIEW share {reference.review_share:.2f})  pool {len(corpus.pool):>5,}  "
        f"rounds {trained.best_iteration:>4}  AE thresholds {thresholds}  "
        f"calibrator {calibrator.method}  {time.perf_counter() - start:.0f} s"
    )
    return Built(corpus, model, fail_safe, note)


class Collected:
    """A sink: keeps what is needed to measure (ids, triage, reason), as the results store would keep it all."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []
        self.quarantined = 0

    def add(self, predictions: pd.DataFrame, quarantined: pd.DataFrame) -> None:
        self.parts.append(predictions[["report_id", "triage", "triage_reason"]])
        self.quarantined += len(quarantined)

    def frame(self) -> pd.DataFrame:
        return pd.concat(self.parts, ignore_index=True)


def score_batch(built: Built, batch: pd.DataFrame, name: str, folder: Path) -> dict:
    """Write the batch as an incoming file (no label) and score it bare and with the fail-safe; per-batch figures."""
    now = datetime.now(UTC)
    incoming = batch.drop(columns=["label"]).copy()
    incoming["report_id"] = name + "-" + incoming["report_id"].astype(str)
    spread = np.linspace(3600, 60, len(incoming)).round().astype(int)
    incoming["received_at"] = [(now - timedelta(seconds=int(s))).strftime("%Y-%m-%dT%H:%M:%SZ") for s in spread]
    path = folder / f"{name}.csv"
    incoming[["report_id", "document_id", "source", "text", "received_at", "product"]].to_csv(path, index=False)
    labels = pd.Series(batch["label"].astype(int).to_numpy(), index=incoming["report_id"].to_numpy())
    runs = {}
    for mode, fail_safe in (("bare", None), ("fail_safe", built.fail_safe)):
        sink = Collected()
        stamp = ScoringStamp(name, "benchmark", PLAN.version, "shift-benchmark", datetime.now(UTC), timedelta(15))
        outcome = score_file(path, built.model, DEFAULT_FEATURE_SPEC, INCOMING, stamp, sink, fail_safe=fail_safe,
                             explain_top_k=0)  # fmt: skip
        runs[mode] = (sink.frame(), outcome, sink.quarantined)
    bare, _, quarantined = runs["bare"]
    guarded, outcome, _ = runs["fail_safe"]
    merged = bare.merge(guarded, on="report_id", suffixes=("_bare", "_fs"), validate="one_to_one")
    # What the fail-safe changed is exactly its suspension: bare AUTO_CLOSE -> REVIEW with the reason, nothing else.
    changed = merged["triage_bare"] != merged["triage_fs"]
    suspended_rows = merged["triage_reason_fs"].str.startswith(SUSPENSION_PREFIX)
    if not (changed == suspended_rows).all() or (merged.loc[changed, "triage_bare"] != Triage.AUTO_CLOSE).any():
        raise AssertionError(f"{name}: the fail-safe changed more than the suspension of AUTO_CLOSE")
    y = labels.loc[merged["report_id"]].to_numpy()
    closed = {mode: (merged[f"triage_{mode}"] == Triage.AUTO_CLOSE).to_numpy() for mode in ("bare", "fs")}
    drift = outcome.drift
    return {
        "records": len(merged),
        "quarantined": quarantined,
        "aes": int(y.sum()),
        "ae_closed_bare": float(closed["bare"][y == 1].mean()) if y.sum() else np.nan,
        "ae_closed_fs": float(closed["fs"][y == 1].mean()) if y.sum() else np.nan,
        "closed_bare": float(closed["bare"].mean()),
        "closed_fs": float(closed["fs"].mean()),
        "not_covered": sum(outcome.tally.not_covered.values()),
        "alarms": [alarm.split()[0] for alarm in drift.alarms] if drift is not None else [],
        "domain_auc": drift.domain_auc if drift is not None and drift.domain_auc is not None else np.nan,
        "suspended": outcome.suspension is not None,
    }


def cases(built: dict[str, Built], found: dict[str, Corpus]) -> list[tuple[str, str, str, str]]:
    """(model, batch corpus, kind, arrival): arrival 'own source' or 'relabelled' (as the training source)."""
    out = []
    for model, b in built.items():
        out.append((model, model, "in", "own source"))
        for other, corpus in found.items():
            if other == model:
                continue
            out.append((model, other, "shift", "own source"))
            if corpus.source != b.corpus.source:
                out.append((model, other, "shift", "relabelled"))
    return out


def run(quick: bool) -> tuple[list[str], list[dict]]:
    found = corpora(4000 if quick else 5000, 0.35 if quick else 1.0)
    params = TrainingParams(num_threads=1)  # defaults; one thread on a shared machine changes no result
    built = {}
    for name in (name for name in MODELS if name in found):
        log(f"setup: training, calibrating and building the drift reference of the {MODELS[name]} model ...")
        built[name] = build(found[name], params)
        log("  " + built[name].note)
    counts = {"in": (4, 1) if quick else (10, 2), "shift": (1, 1) if quick else (3, 1)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="gxp-shift-") as folder:
        for model, other, kind, arrival in cases(built, found):
            b = built[model]
            for size, count in zip((SMALL, LARGE), counts[kind], strict=True):
                pool = found[other].pool
                runs = whole_document_batches(pool, size, count, seed=size)
                batches = [pool.iloc[rows].reset_index(drop=True) for rows in runs]
                for index, batch in enumerate(batches):
                    if arrival == "relabelled":
                        batch = batch.assign(source=b.corpus.source)
                    name = f"{model}-{other}-{arrival.split()[0]}-{size}-{index}"
                    row = {"model": model, "batch": other, "kind": kind, "arrival": arrival, "size": size}
                    rows.append(row | score_batch(b, batch, name, Path(folder)))
                    log(f"  {render(rows[-1])}")
    return [b.note for b in built.values()], rows


SHORT = {"score_psi": "psi", "unseen_ngram_share": "unseen", "review_share_increase": "review", "domain_auc": "domain"}
HEADER = (f"{'model':<13}{'batch of':<13}{'arrives as':<12}{'records':>8}{'AEs':>5}{'AE closed':>11}{'AE closed':>11}"
          f"{'closed':>8}{'closed':>8}{'not':>8}{'domain':>8}  {'drift alarms':<28}{'suspended':<9}")  # fmt: skip
HEADER2 = (f"{'':<13}{'':<13}{'':<12}{'':>8}{'':>5}{'bare':>11}{'fail-safe':>11}{'bare':>8}{'f-safe':>8}"
           f"{'covered':>8}{'AUC':>8}")  # fmt: skip


def render(row: dict) -> str:
    def share(value: float) -> str:
        return "-" if np.isnan(value) else f"{value:.4f}"

    alarms = ",".join(SHORT.get(alarm, alarm) for alarm in row["alarms"]) or "-"
    return (f"{row['model']:<13}{row['batch']:<13}{row['arrival']:<12}{row['records']:>8}{row['aes']:>5}"
            f"{share(row['ae_closed_bare']):>11}{share(row['ae_closed_fs']):>11}{row['closed_bare']:>8.4f}"
            f"{row['closed_fs']:>8.4f}{row['not_covered']:>8}{share(row['domain_auc']):>8}  "
            f"{alarms:<28}{'yes' if row['suspended'] else 'no'}")  # fmt: skip


def worst(chosen: list[dict], key: str) -> float:
    """The largest value of ``key`` over the batches where it is defined (a batch without AEs has no AE share)."""
    values = [r[key] for r in chosen if not np.isnan(r[key])]
    return float(max(values)) if values else float("nan")


def pooled(chosen: list[dict], key: str, weight: str) -> float:
    """``key`` over all records (or AEs) of the batches together."""
    total = sum(r[weight] for r in chosen)
    return float(sum(r[key] * r[weight] for r in chosen if r[weight]) / total) if total else float("nan")


def summarize(rows: list[dict]) -> dict[str, float]:
    inside = [r for r in rows if r["kind"] == "in"]
    shifted = [r for r in rows if r["kind"] == "shift"]

    def over(chosen: list[dict], key: str) -> float:
        judged = [r for r in chosen if not np.isnan(r[key])]
        return float(np.mean([r[key] > TARGET + 1e-12 for r in judged])) if judged else float("nan")

    relabelled = [r for r in shifted if r["arrival"] == "relabelled"]
    own = [r for r in shifted if r["arrival"] == "own source"]
    closed_bare, closed_fs = pooled(inside, "closed_bare", "records"), pooled(inside, "closed_fs", "records")
    return {
        "shift_batches": len(shifted),
        "shift_ae_closed_max_failsafe": worst(shifted, "ae_closed_fs"),
        "shift_ae_closed_max_bare": worst(shifted, "ae_closed_bare"),
        "shift_over_target_failsafe": over(shifted, "ae_closed_fs"),
        "shift_over_target_bare": over(shifted, "ae_closed_bare"),
        "relabelled_ae_closed_max_failsafe": worst(relabelled, "ae_closed_fs"),
        "relabelled_ae_closed_max_bare": worst(relabelled, "ae_closed_bare"),
        "own_source_ae_closed_max_failsafe": worst(own, "ae_closed_fs"),
        "own_source_ae_closed_max_bare": worst(own, "ae_closed_bare"),
        "shift_suspended_share": float(np.mean([r["suspended"] for r in shifted])) if shifted else float("nan"),
        "in_batches": len(inside),
        "in_false_alarm_rate": float(np.mean([bool(r["alarms"]) for r in inside])) if inside else float("nan"),
        # The same without review_share, whose limit is absolute: a model whose own REVIEW share on its reference
        # lies above it alarms on every batch of its own corpus.
        "in_false_alarm_rate_without_review": (
            float(np.mean([bool(set(r["alarms"]) - {"review_share"}) for r in inside])) if inside else float("nan")
        ),
        "false_alarm_tolerance": TOLERANCE,
        "in_auto_close_share_bare": closed_bare,
        "in_auto_close_share_failsafe": closed_fs,
        "in_auto_close_kept": closed_fs / closed_bare if closed_bare else float("nan"),
        "in_ae_closed_pooled_failsafe": pooled(inside, "ae_closed_fs", "aes"),
        "in_ae_closed_pooled_bare": pooled(inside, "ae_closed_bare", "aes"),
        "models_closing_nothing_in_distribution": sum(
            1
            for model in {r["model"] for r in inside}
            if not any(r["closed_bare"] for r in inside if r["model"] == model)
        ),
        "target": TARGET,
    }


def per_model(rows: list[dict]) -> None:
    """In-distribution and shifted figures per model: a model that closes nothing in distribution tests nothing."""
    print(f"\n{'model':<13}{'in batches':>11}{'false alarms':>13}{'closed bare':>12}{'closed f-safe':>14}"
          f"{'AE closed bare':>15}{'AE closed f-safe':>17}{'shifted':>8}{'max AE closed bare':>19}"
          f"{'max f-safe':>11}")  # fmt: skip
    for model in dict.fromkeys(r["model"] for r in rows):
        inside = [r for r in rows if r["model"] == model and r["kind"] == "in"]
        shifted = [r for r in rows if r["model"] == model and r["kind"] == "shift"]
        alarms = np.mean([bool(r["alarms"]) for r in inside])
        print(f"{model:<13}{len(inside):>11}{alarms:>13.4f}"
              f"{pooled(inside, 'closed_bare', 'records'):>12.4f}{pooled(inside, 'closed_fs', 'records'):>14.4f}"
              f"{pooled(inside, 'ae_closed_bare', 'aes'):>15.4f}{pooled(inside, 'ae_closed_fs', 'aes'):>17.4f}"
              f"{len(shifted):>8}{worst(shifted, 'ae_closed_bare'):>19.4f}"
              f"{worst(shifted, 'ae_closed_fs'):>11.4f}")  # fmt: skip


def plot(rows: list[dict], path: Path) -> None:
    """Share of true AEs auto-closed per batch, bare against with the fail-safe; one panel per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    figure, axes = plt.subplots(len(models), 1, figsize=(12, 3.2 * len(models)), squeeze=False)
    for axis, model in zip(axes[:, 0], models, strict=True):
        chosen = [r for r in rows if r["model"] == model]
        x = np.arange(len(chosen))
        axis.scatter(x, [r["ae_closed_bare"] for r in chosen], marker="x", color="tab:red", label="bare conformal")
        axis.scatter(x, [r["ae_closed_fs"] for r in chosen], marker="o", facecolors="none", color="tab:blue",
                     label="with the fail-safe")  # fmt: skip
        axis.axhline(TARGET, color="black", linestyle="--", linewidth=1, label=f"target {TARGET}")
        starts = [i for i, r in enumerate(chosen) if i == 0 or (r["batch"], r["arrival"]) != (
            chosen[i - 1]["batch"], chosen[i - 1]["arrival"])]  # fmt: skip
        for i in starts:
            axis.axvline(i - 0.5, color="grey", linewidth=0.5)
            label = chosen[i]["batch"] + ("" if chosen[i]["kind"] == "in" else f"\n{chosen[i]['arrival']}")
            axis.text(i - 0.4, 0.98, label, transform=axis.get_xaxis_transform(), fontsize=7, va="top")
        top = np.nanmax([[r["ae_closed_bare"], r["ae_closed_fs"]] for r in chosen] + [[0.25, 0.25]])
        axis.set_ylim(-0.02, min(1.02, top + 0.08))
        axis.set_xticks([])
        axis.set_ylabel("true AEs auto-closed")
        axis.set_title(f"{MODELS[model]} model: share of true AEs auto-closed per batch", fontsize=10)
        axis.legend(loc="center right", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller demo corpus and ADE sample, fewer batches")
    parser.add_argument("--plot", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "gxp_shift_ae_closed.png"))
    args = parser.parse_args()
    start = time.perf_counter()
    notes, rows = run(args.quick)
    print("\nmodels (train / calibration / test splits of the modelled documents; pool = held-out documents)")
    for note in notes:
        print("  " + note)
    print(f"\nshare of true AEs auto-closed per batch (target <= {TARGET} in every shifted batch); 'bare' = "
          "score_file without the fail-safe, the reference measured in the same run")  # fmt: skip
    print(
        "closed = share of all records auto-closed; not covered = records of a source the guarantee does not cover;"
        " drift alarms: psi = score_psi, unseen = unseen_ngram_share, review = review_share, domain = domain_auc"
    )
    for kind, title in (("in", "in distribution (held-out documents)"), ("shift", "shifted")):
        print(f"\n{title}\n{HEADER}\n{HEADER2}")
        for row in (r for r in rows if r["kind"] == kind):
            print(render(row))
    quarantined = sum(r["quarantined"] for r in rows)
    if quarantined:
        print(f"\n{quarantined} records were quarantined by validation and are not counted")
    per_model(rows)
    summary = summarize(rows)
    print()
    for key, value in summary.items():
        print(f"{key:<40} {value:.4f}" if isinstance(value, float) else f"{key:<40} {value}")
    print(f"wall time {time.perf_counter() - start:.0f} s")
    plot(rows, Path(args.plot))
    print(f"plot: {args.plot}")
    print("RESULT " + " ".join(f"{key}={float(value):.4f}" for key, value in summary.items()))


if __name__ == "__main__":
    main()
