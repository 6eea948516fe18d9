"""A model card in Markdown: intended use, data, metrics, limits; written from the evaluation's numbers, in the words
its use case declares."""

from __future__ import annotations

from dataclasses import dataclass

from gxp_assets.core.conformal import Wording


@dataclass(frozen=True)
class CardUse:
    """What the card says the model is for and how it names things (built from the use case's declaration)."""

    use_case: str
    intended_use: str
    wording: Wording
    outcomes: tuple[str, str, str]  # the declared names of AUTO_CLOSE, REVIEW and PRIORITY
    subgroup: str  # what the subgroup column is ("source", "site")
    features: str  # what the features are, in a few words
    hashed_ngrams: bool  # text n-grams are hashed (their explanations can collide)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def model_card(evaluation: dict, training: dict, conformal: dict, use: CardUse) -> str:
    """``training``: params, data versions and split sizes; ``conformal``: levels, method and guarantee statement."""
    ae_target = conformal["confidence"]["1"]
    w, (negative, uncertain, positive) = use.wording, use.outcomes
    lines = [
        f"# Model card: {use.use_case} model {training['model_sha256'][:12]}",
        "",
        "## Intended use",
        use.intended_use,
        "",
        f"Each of the {w.records} gets a prediction set and a triage: `{negative}` (the set holds the negative class "
        f"only), `{positive}` (the positive class only) or `{uncertain}` (both or neither). Not for use without human "
        f"review of `{uncertain}` and `{positive}` {w.records}, nor on populations unlike the training data.",
        "",
        "## Guarantee",
        conformal.get("statement")
        or f"The {w.positive} class is covered at a {_pct(ae_target)} confidence level, on average over calibration "
        "sets.",
        "",
        f"`{negative}` is suspended ({w.records} go to `{uncertain}` with the reason) for a batch whose drift report "
        f"crosses a limit of the change control plan, and for {w.records} from a {use.subgroup} the guarantee does "
        "not cover, until a signed decision lifts the suspension or another model is `ACTIVE`.",
        "",
        "## Data",
        f"- Training corpus data version: `{training['data_versions'].get('validated_reports', 'n/a')}`",
        f"- Features: `{training['feature_spec_sha256'][:12]}` ({use.features}"
        + (f"; sentence encoder `{training['sentence_encoder']}`)" if training.get("sentence_encoder") else ")"),
        f"- Splits by whole groups (data version `{training['data_versions'].get('dataset_splits', 'n/a')}`): "
        + ", ".join(f"{name} {count:,}" for name, count in training["split_sizes"].items()),
        f"- Evaluation on the test split only: {evaluation['n']:,} {w.records}, {evaluation['ae']:,} {w.positive}",
        "",
        "## Metrics (test split)",
        "| metric | value |",
        "|---|---|",
        f"| AUROC | {_num(evaluation['auroc'])} |",
        f"| PR-AUC | {_num(evaluation['pr_auc'])} |",
        f"| best F1 | {_num(evaluation['best_f1'])} |",
        f"| F1 at the operating point (positive class in set) | {_num(evaluation['f1_at_operating_point'])} |",
        f"| Brier score | {_num(evaluation['brier'])} |",
        f"| ECE, calibrated probability ({conformal['calibration_method']}) | {_num(evaluation['ece'])} |",
        f"| realized {w.positive} recall (target {_pct(ae_target)}) | {_pct(evaluation['ae_recall'])} |",
        f"| realized negative-class coverage (target {_pct(conformal['confidence']['0'])}) | "
        f"{_pct(evaluation['coverage']['0'])} |",
        f"| {negative} / {uncertain} / {positive} | {_pct(evaluation['auto_close_share'])} / "
        f"{_pct(evaluation['review_share'])} / {_pct(evaluation['priority_share'])} |",
        f"| precision of {positive} | {_pct(evaluation['priority_precision'])} |",
        "",
        f"## Performance by {use.subgroup}",
        f"| {use.subgroup} | n | {w.positive} | AUROC | {w.positive} recall | {negative} |",
        "|---|---|---|---|---|---|",
        *(
            f"| {row['source']} | {row['n']:,} | {row['ae']:,} | {_num(row['auroc'])} | {_pct(row['ae_recall'])} | "
            f"{_pct(row['auto_close_share'])} |"
            for row in evaluation["subgroups"]
        ),
        "",
        "## Limits",
        f"- The guarantee assumes new {w.records} are exchangeable with the calibration {w.records}; the fail-safe "
        "above watches that assumption through the drift measures, which can miss a shift they do not measure.",
        f"- Subgroups with few {w.positives} have wide uncertainty around their realized recall.",
        *(
            ["- Hashed n-grams can collide: explanations name the most frequent training n-gram of a hash bucket."]
            if use.hashed_ngrams
            else []
        ),
        "- Labels come from adjudication and may hold noise; metrics inherit it.",
    ]
    return "\n".join(lines) + "\n"
