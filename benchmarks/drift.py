"""Drift alarms against the change control plan: false alarms on batches that have not drifted, and detection of
batches that have.

    python benchmarks/drift.py            # 100 in-distribution and 20 shifted batches per model
    python benchmarks/drift.py --quick    # 20 and 5
    python benchmarks/drift.py --quick --measures-only   # the second part only (no Dagster training)

Setup (not timed): two models are trained through the real `train_model` job on the synthetic demo corpus, one on
all channels and one on literature reports only. Each batch (about 60 documents, fresh report ids, another seed) is
scored with `score_file`, as `scored_reports` does, and measured with the `DriftAccumulator` that `drift_report`
uses, against the model's own `drift_reference` and the plan's limits. The in-distribution batches are the reference
measured in the same run: their alarm rate is the false-alarm rate that the plan's `false_alarm_tolerance` bounds.

Second part, per measure (`domain_auc` is the domain classifier of core.domain_shift): a model (core functions,
lighter boosting) and its drift reference are built per corpus, on 40 % of the documents of one demo channel or of
ADE Corpus V2; batches are runs of whole documents from the other 60 %: in-distribution from the same corpus and
channel, shifted from another channel or corpus with `source` set to the reference's, so that only the text can
tell. Small batches of 60 reports and large ones of 1,000. ADE is skipped, with a message, where it is absent.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BATCH_DOCUMENTS = 60
TRAINING = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def train(source: dict) -> str | None:
    """Train and register a model on ``source`` (labelled_reports config); its version, or None where the run
    failed (a candidate the plan rejects, for example), which is printed."""
    from dagster import DagsterInstance

    from gxp_assets.definitions import SCOPES, defs
    from gxp_assets.stores import open_governance

    scope = SCOPES["ae_triage"]
    with DagsterInstance.get() as instance:
        run_config = scope.run_config({"ops": {"labelled_reports": {"config": source}}, **TRAINING})
        job = defs.resolve_job_def(scope.name("train_model"))
        result = job.execute_in_process(instance=instance, run_config=run_config, raise_on_error=False)
        if not result.success:
            failures = [event.message for event in result.all_events if event.is_failure]
            print(f"training on {source} failed: {failures[-1] if failures else 'no reason given'}", flush=True)
            return None
    return open_governance().registry.versions()[-1].version


def batch_drift(version: str, channels: tuple[str, ...], seed: int, folder: Path) -> dict:
    from gxp_assets.core.batch_scoring import ScoringStamp, score_file
    from gxp_assets.core.demo_data import demo_batch
    from gxp_assets.core.drift import DriftAccumulator
    from gxp_assets.defs.deployed import deployed_model
    from gxp_assets.defs.fail_safe import drift_limits
    from gxp_assets.defs.inference_assets import ScoringConfig
    from gxp_assets.stores import artifact_store, open_governance

    governance = open_governance()
    deployed = deployed_model(governance, artifact_store(), version)
    path = folder / f"batch-{version}-{seed}.csv"
    demo_batch(BATCH_DOCUMENTS, seed, channels=channels, received_until=datetime.now(UTC)).to_csv(path, index=False)
    stamp = ScoringStamp(path.stem, version, deployed.plan_version, "benchmark", datetime.now(UTC), timedelta(15))
    accumulator = DriftAccumulator(deployed.reference)
    sink = SimpleNamespace(add=lambda predictions, quarantined: accumulator.add_predictions(predictions))
    score_file(path, deployed.model, deployed.spec, ScoringConfig().rules(), stamp, sink, explain_top_k=0)
    return accumulator.result(drift_limits(governance.plan.plan)).to_dict()


def summary(name: str, measurements: list[dict]) -> dict:
    def values(key: str) -> np.ndarray:
        return np.array([np.nan if m[key] is None else m[key] for m in measurements], dtype=float)

    return {
        "name": name,
        "batches": len(measurements),
        "reports": float(values("n_reports").mean()),
        "alarm_rate": float(np.mean([bool(m["alarms"]) for m in measurements])),
        **{f"{key}_mean": float(values(key).mean()) for key in ("score_psi", "unseen_ngram_share", "review_share")},
        **{f"{key}_p95": float(np.quantile(values(key), 0.95)) for key in ("score_psi", "unseen_ngram_share")},
        "domain_auc_max": float(np.nanmax(values("domain_auc"))),
    }


ADE_FOLDER = ROOT.parent / "shared" / "data" / "ade_corpus_v2"
MEASURES = ("score_psi", "unseen_ngram_share", "review_share", "domain_auc")
SMALL, LARGE = 60, 1000
BOOSTING = {"learning_rate": 0.1, "max_rounds": 300, "early_stopping_rounds": 30, "num_threads": 2}


@dataclass
class Corpus:
    """One reference: its model and drift reference, and the held-out pool batches are drawn from."""

    name: str
    source: str  # the source label its reports carry
    model: object
    conformal: object
    reference: object
    pool: pd.DataFrame  # reports of documents the model never saw, grouped by document
    features: object  # featurized pool, rows as in ``pool``


def corpora(quick: bool) -> dict[str, pd.DataFrame]:
    """Reports per corpus: the three demo channels (one generated corpus) and ADE where present."""
    from gxp_assets.core.demo_data import DEMO_CHANNELS, generate_demo_reports
    from gxp_assets.core.loaders import load_ade_corpus

    demo = generate_demo_reports(n_documents=6000 if quick else 16000, seed=7)
    found = {channel: demo[demo["source"] == channel] for channel in DEMO_CHANNELS}
    found["all channels"] = demo
    if (ADE_FOLDER / "DRUG-AE.rel").is_file():
        ade = load_ade_corpus(ADE_FOLDER)
        found["ade"] = ade[["report_id", "document_id", "source", "text", "label"]].dropna(subset=["text"])
    else:
        print(f"ADE Corpus V2 not found at {ADE_FOLDER}: the ADE cases are skipped", flush=True)
    return found


def build_corpus(name: str, reports: pd.DataFrame) -> Corpus:
    """Model and reference on 40 % of the documents (train/calibration/test by the usual grouped split)."""
    from gxp_assets.core.conformal import fit_conformal, triage
    from gxp_assets.core.drift import build_reference
    from gxp_assets.core.features import DEFAULT_FEATURE_SPEC, featurize
    from gxp_assets.core.hashing import unit_interval
    from gxp_assets.core.model import TrainingParams, load_classifier, predict_scores, train_classifier
    from gxp_assets.core.splits import SplitPlan, assign_splits

    held = reports["document_id"].map(lambda document: unit_interval("drift-benchmark", str(document)) >= 0.4)
    modelled = reports[~held].reset_index(drop=True)
    pool = reports[held].sort_values("document_id", kind="stable").reset_index(drop=True)
    X = featurize(modelled, DEFAULT_FEATURE_SPEC)
    split = assign_splits(modelled, SplitPlan())["split"].to_numpy()
    labels = modelled["label"].astype(int).to_numpy()
    train, calibration, test = (np.flatnonzero(split == part) for part in ("train", "calibration", "test"))
    params = TrainingParams(**BOOSTING)
    trained = train_classifier(
        X[train], labels[train], modelled["document_id"].to_numpy()[train], params,
        text_blocks=DEFAULT_FEATURE_SPEC.text_blocks(), sentence_block=DEFAULT_FEATURE_SPEC.sentence_block(),
    )
    classifier = load_classifier(trained.model_text)
    conformal = fit_conformal(predict_scores(classifier, X[calibration]), labels[calibration], 0.95, 0.95)
    scores = predict_scores(classifier, X[test])
    sets = conformal.prediction_sets(scores)
    texts, sources = modelled["text"].iloc[test], modelled["source"].iloc[test]
    reference = build_reference(X[train], DEFAULT_FEATURE_SPEC, texts, scores, triage(sets), sources)
    source = str(modelled["source"].iloc[0])
    return Corpus(name, source, classifier, conformal, reference, pool, featurize(pool, DEFAULT_FEATURE_SPEC))


def measure(reference: Corpus, batch: Corpus, rows: np.ndarray, label: str | None) -> dict:
    """Score the rows with the reference's model and measure them against its reference, with the plan's limits;
    the rows' source is ``label`` where given (so that only the text can tell), else their own."""
    from gxp_assets.core.conformal import triage
    from gxp_assets.core.drift import DriftAccumulator
    from gxp_assets.core.model import predict_scores
    from gxp_assets.defs.fail_safe import drift_limits
    from gxp_assets.stores import current_plan

    X = batch.features[rows]
    scores = predict_scores(reference.model, X)
    labels = triage(reference.conformal.prediction_sets(scores))
    accumulator = DriftAccumulator(reference.reference)
    for start in range(0, len(rows), 500):  # in chunks, as batch scoring feeds it
        part = slice(start, start + 500)
        texts = batch.pool["text"].iloc[rows[part]].tolist()
        sources = [label] * len(texts) if label else batch.pool["source"].iloc[rows[part]].tolist()
        accumulator.add(X[part], texts, scores[part], labels[part], sources)
    return accumulator.result(drift_limits(current_plan("ae_triage").plan)).to_dict()


def measure_rates(name: str, kind: str, size: int, found: list[dict]) -> dict:
    alarmed = [{alarm.split()[0] for alarm in m["alarms"]} for m in found]
    aucs = np.array([m["domain_auc"] if m["domain_auc"] is not None else np.nan for m in found])
    return {
        "case": name,
        "kind": kind,
        "size": size,
        "batches": len(found),
        **{measure: float(np.mean([measure in a for a in alarmed])) for measure in MEASURES},
        "without_domain": float(np.mean([bool(a - {"domain_auc"}) for a in alarmed])),
        "any": float(np.mean([bool(a) for a in alarmed])),
        "auc_mean": float(np.nanmean(aucs)),
        "auc_extreme": float(np.nanmax(aucs) if kind == "in" else np.nanmin(aucs)),
    }


def domain_cases(quick: bool) -> tuple[list[dict], list[dict]]:
    """Every (reference, batch corpus) pair worth asking: same corpus (false alarms), other channel or corpus."""
    from gxp_assets.core.splits import whole_document_batches

    reports = corpora(quick)
    print(f"setup: a model and reference per corpus ({', '.join(reports)}) ...", flush=True)
    built = {name: build_corpus(name, frame) for name, frame in reports.items()}
    references = [
        {
            "corpus": name,
            "test_reports": corpus.reference.n_reports,
            "review_share": corpus.reference.review_share,
            "sample": corpus.reference.domain_sample.rows,
            "pool_reports": len(corpus.pool),
        }
        for name, corpus in built.items()
        if corpus.reference is not None
    ]
    channels = [name for name in built if name not in ("ade", "all channels")]
    mixed = built["all channels"]
    for channel in channels:  # one channel of the all-channel model's held-out documents
        keep = np.flatnonzero(mixed.pool["source"].to_numpy() == channel)
        pool = mixed.pool.iloc[keep].reset_index(drop=True)
        built[f"all:{channel}"] = Corpus(f"all:{channel}", channel, None, None, None, pool, mixed.features[keep])
    pairs = [(name, name, "in", None) for name in (*channels, "ade", "all channels") if name in built]
    pairs.append(("all channels", "all:literature", "in", None))  # one channel of the mix, not judged as drift
    pairs += [(a, b, "channel", built[a].source) for a in channels for b in channels if a != b]
    if "ade" in built:
        pairs += [("ade", "literature", "corpus", built["ade"].source), ("literature", "ade", "corpus", "literature")]
    # Every word was seen in training (the model read all channels); only the writing style tells.
    pairs += [
        ("all channels", "all:call_centre", "style", "literature"),
        ("all channels", "all:social_media", "style", "literature"),
        ("all channels", "all:literature", "style", "call_centre"),
    ]
    counts = {"in": (10, 3) if quick else (40, 8), "channel": (4, 2) if quick else (15, 4)}
    counts["corpus"] = counts["style"] = counts["channel"]
    rows = []
    for reference, batch, kind, label in pairs:
        for size, count in zip((SMALL, LARGE), counts[kind], strict=True):
            chosen = whole_document_batches(built[batch].pool, size, count, seed=size)
            found = [measure(built[reference], built[batch], rows_, label) for rows_ in chosen]
            rows.append(measure_rates(f"{reference} <- {batch}", kind, size, found))
            print(
                f"  {rows[-1]['case']:<32} {size:>5} x {len(found):>3}: domain {rows[-1]['domain_auc']:.2f}", flush=True
            )
    return references, rows


def pooled(
    rows: list[dict], kinds: tuple[str, ...], key: str, size: int | None = None, among: set[str] | None = None
) -> float:
    """Share over all batches of the rows of these kinds (weighted by batches), of references ``among`` if given."""
    chosen = [
        r
        for r in rows
        if r["kind"] in kinds
        and (size is None or r["size"] == size)
        and (among is None or r["case"].split(" <- ")[0] in among)
    ]
    return float(sum(r[key] * r["batches"] for r in chosen) / max(sum(r["batches"] for r in chosen), 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 in-distribution and 5 shifted batches per model")
    parser.add_argument("--measures-only", action="store_true", help="only the second part (no Dagster training)")
    args = parser.parse_args()
    calm, shifted = (20, 5) if args.quick else (100, 20)
    with tempfile.TemporaryDirectory() as temporary:
        home = Path(temporary)
        os.environ.update({"GXP_HOME": str(home / "gxp"), "DAGSTER_HOME": str(home / "dagster")})
        (home / "dagster").mkdir()
        (home / "dagster" / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
        from gxp_assets.core.demo_data import generate_demo_reports
        from gxp_assets.stores import current_plan

        corpus = generate_demo_reports(n_documents=3000, seed=7)  # the literature split needs 45+ AE documents
        corpus[corpus["source"] == "literature"].to_csv(home / "literature.csv", index=False)
        print("setup: training an all-channel and a literature-only model (not timed) ...", flush=True)
        models = (
            {}
            if args.measures_only
            else {
                "all channels": train({"format": "demo"}),
                "literature": train({"format": "contract", "path": str(home / "literature.csv")}),
            }
        )
        if not all(models.values()):
            print("the pipeline models are missing: the first part is skipped", flush=True)
            models = {}
        cases = [
            ("all channels", "all channels", ("social_media", "call_centre", "literature"), calm),
            ("literature", "literature", ("literature",), calm),
            ("literature", "social_media", ("social_media",), shifted),
            ("literature", "call_centre", ("call_centre",), shifted),
            ("all channels", "social_media only", ("social_media",), shifted),
        ]
        rows = []
        for model, batches, channels, count in cases if models else []:
            print(f"measuring {count} batches of {batches} against the {model} model ...", flush=True)
            found = [batch_drift(models[model], channels, 5000 + seed, home) for seed in range(count)]
            rows.append((model, summary(batches, found)))
        tolerance = current_plan().plan.retraining_triggers.false_alarm_tolerance
        references, measured = domain_cases(args.quick)
        review_max = 0.5  # the plan's former absolute REVIEW-share limit, for comparison
    if rows:
        print(f"\n{'model':<14} {'batches of':<18} {'n':>4} {'reports':>8} {'alarms':>7} {'PSI mean':>9} "
              f"{'PSI p95':>8} {'unseen mean':>12} {'unseen p95':>11} {'REVIEW':>7} {'AUC max':>8}")  # fmt: skip
    for model, row in rows:
        print(f"{model:<14} {row['name']:<18} {row['batches']:>4} {row['reports']:>8.0f} {row['alarm_rate']:>7.2f} "
              f"{row['score_psi_mean']:>9.3f} {row['score_psi_p95']:>8.3f} {row['unseen_ngram_share_mean']:>12.3f} "
              f"{row['unseen_ngram_share_p95']:>11.3f} {row['review_share_mean']:>7.3f} "
              f"{row['domain_auc_max']:>8.3f}")  # fmt: skip
    print(f"false-alarm tolerance of the plan: {tolerance}")
    keys = ("all_in", "lit_in", "lit_vs_social", "lit_vs_call", "all_vs_social_only")
    result = {f"{key}_alarm_rate": row["alarm_rate"] for key, (_, row) in zip(keys, rows, strict=False)}

    print(f"\n{'reference':<14} {'test reports':>12} {'REVIEW share':>12} {'domain sample':>13} {'pool reports':>12}")
    for ref in references:
        print(f"{ref['corpus']:<14} {ref['test_reports']:>12} {ref['review_share']:>12.3f} {ref['sample']:>13} "
              f"{ref['pool_reports']:>12}")  # fmt: skip
    inside = {ref["corpus"] for ref in references if ref["review_share"] <= review_max}
    print(f"a model whose own test split sends more than the plan's {review_max} to REVIEW fails the plan (it alarms "
          f"on every batch): in_any_* count the models inside it ({', '.join(sorted(inside))})")  # fmt: skip
    print("\nper measure: alarm rate over batches (in = false alarms; channel, corpus = detection), domain AUROC")
    print(f"{'reference <- batches':<32} {'kind':<8} {'size':>5} {'n':>3} {'PSI':>5} {'unseen':>6} {'REVIEW':>6} "
          f"{'domain':>6} {'others':>6} {'any':>5} {'AUC mean':>8} {'AUC max/min':>11}")  # fmt: skip
    for row in measured:
        print(f"{row['case']:<32} {row['kind']:<8} {row['size']:>5} {row['batches']:>3} {row['score_psi']:>5.2f} "
              f"{row['unseen_ngram_share']:>6.2f} {row['review_share']:>6.2f} {row['domain_auc']:>6.2f} "
              f"{row['without_domain']:>6.2f} {row['any']:>5.2f} {row['auc_mean']:>8.3f} "
              f"{row['auc_extreme']:>11.3f}")  # fmt: skip
    print("others = any alarm but domain_auc's (the measures before it): the reference for the detection gained")
    shifted = ("channel", "corpus", "style")
    result |= {
        "in_any_small": pooled(measured, ("in",), "any", SMALL, inside),
        "in_any_large": pooled(measured, ("in",), "any", LARGE, inside),
        "in_any_all_models": pooled(measured, ("in",), "any"),
        "in_domain": pooled(measured, ("in",), "domain_auc"),
        "in_psi_small": pooled(measured, ("in",), "score_psi", SMALL),
        "shift_any": pooled(measured, shifted, "any"),
        "shift_domain": pooled(measured, shifted, "domain_auc"),
        "shift_others": pooled(measured, shifted, "without_domain"),
        "shift_domain_worst_case": min(r["domain_auc"] for r in measured if r["kind"] in shifted),
        "corpus_domain": pooled(measured, ("corpus",), "domain_auc"),
        "style_domain": pooled(measured, ("style",), "domain_auc"),
        "style_others": pooled(measured, ("style",), "without_domain"),
    }
    print("RESULT " + " ".join(f"{key}={value:.4f}" for key, value in {**result, "tolerance": tolerance}.items()))


if __name__ == "__main__":
    main()
