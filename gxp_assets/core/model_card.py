"""A model card in Markdown: intended use, data, metrics, limits; written from the evaluation's numbers."""

from __future__ import annotations


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def model_card(evaluation: dict, training: dict, conformal: dict) -> str:
    """``training``: params, data versions and split sizes; ``conformal``: levels, method and guarantee statement."""
    ae_target = conformal["confidence"]["1"]
    lines = [
        f"# Model card: adverse-event triage model {training['model_sha256'][:12]}",
        "",
        "## Intended use",
        "Sort incoming reports (social media posts, call-centre notes, literature sentences) by whether they describe "
        "an adverse event (AE) of a drug, so that pharmacovigilance reviewers see the risky ones first. Each report "
        "gets a prediction set and a triage: `AUTO_CLOSE` (set {no AE}), `PRIORITY` (set {AE}) or `REVIEW` "
        "(anything else). Not for use without human review of `REVIEW` and `PRIORITY` reports, "
        "nor on populations unlike the training data.",
        "",
        "## Guarantee",
        conformal.get("statement")
        or f"The AE class is covered at a {_pct(ae_target)} confidence level, on average over calibration sets.",
        "",
        "Auto-closing is suspended (reports go to `REVIEW` with the reason) for a batch whose drift report crosses "
        "a limit of the change control plan, and for reports from a source the guarantee does not cover, until a "
        "signed decision lifts the suspension or another model is `ACTIVE`.",
        "",
        "## Data",
        f"- Training corpus data version: `{training['data_versions'].get('validated_reports', 'n/a')}`",
        f"- Features: `{training['feature_spec_sha256'][:12]}` (hashed word and character n-grams"
        + (f"; sentence encoder `{training['sentence_encoder']}`)" if training.get("sentence_encoder") else ")"),
        f"- Splits by document group (data version `{training['data_versions'].get('dataset_splits', 'n/a')}`): "
        + ", ".join(f"{name} {count:,}" for name, count in training["split_sizes"].items()),
        f"- Evaluation on the test split only: {evaluation['n']:,} reports, {evaluation['ae']:,} AE",
        "",
        "## Metrics (test split)",
        "| metric | value |",
        "|---|---|",
        f"| AUROC | {_num(evaluation['auroc'])} |",
        f"| PR-AUC | {_num(evaluation['pr_auc'])} |",
        f"| best F1 | {_num(evaluation['best_f1'])} |",
        f"| F1 at the operating point (AE in set) | {_num(evaluation['f1_at_operating_point'])} |",
        f"| Brier score | {_num(evaluation['brier'])} |",
        f"| ECE, calibrated p_ae ({conformal['calibration_method']}) | {_num(evaluation['ece'])} |",
        f"| realized AE recall (target {_pct(ae_target)}) | {_pct(evaluation['ae_recall'])} |",
        f"| realized no-AE coverage (target {_pct(conformal['confidence']['0'])}) | "
        f"{_pct(evaluation['coverage']['0'])} |",
        f"| AUTO_CLOSE / REVIEW / PRIORITY | {_pct(evaluation['auto_close_share'])} / "
        f"{_pct(evaluation['review_share'])} / {_pct(evaluation['priority_share'])} |",
        f"| precision of PRIORITY | {_pct(evaluation['priority_precision'])} |",
        "",
        "## Performance by source",
        "| source | n | AE | AUROC | AE recall | auto-close |",
        "|---|---|---|---|---|---|",
        *(
            f"| {row['source']} | {row['n']:,} | {row['ae']:,} | {_num(row['auroc'])} | {_pct(row['ae_recall'])} | "
            f"{_pct(row['auto_close_share'])} |"
            for row in evaluation["subgroups"]
        ),
        "",
        "## Limits",
        "- The guarantee assumes new documents are exchangeable with the calibration documents; the fail-safe "
        "above watches that assumption through the drift measures, which can miss a shift they do not measure.",
        "- Subgroups with few AEs have wide uncertainty around their realized recall.",
        "- Hashed n-grams can collide: explanations name the most frequent training n-gram of a hash bucket.",
        "- Labels come from adjudication and may hold noise; metrics inherit it.",
    ]
    return "\n".join(lines) + "\n"
