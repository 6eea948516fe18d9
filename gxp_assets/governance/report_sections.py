"""The evidence sections of the validation report: data and splits, acceptance, the conformal guarantee, explanations.

Split from ``validation_report.py`` (which keeps the page, its header and the signed-record sections) so that each
module stays one idea; both render with the same escaped helpers of ``report_html.py``.
"""

from __future__ import annotations

import base64
import re
from html import escape
from typing import Any

from gxp_assets.governance.report_html import NA, _dict, _list, _number, _pct, _table, _text, _verdict

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TOP_FEATURES = 15

PLOTS: tuple[tuple[str, str], ...] = (
    (
        "coverage",
        "Realized coverage per class on the test split against the confidence level, for the class-conditional "
        "conformal sets used for triage and for marginal (LAC) sets at the same level.",
    ),
    ("roc", "ROC curve of the AE score on the test split."),
    ("reliability", "Reliability diagram: calibrated p_ae against the observed AE frequency."),
    ("triage", "Share of test reports per triage outcome (AUTO_CLOSE, REVIEW, PRIORITY)."),
)

# What the model card says that the record does not: the split sizes and the confidence level. ---------------------

_SPLITS_LINE = re.compile(r"^\s*-\s*Splits\b[^:]*?\):\s*(.+)$", re.MULTILINE)
_SPLIT_ENTRY = re.compile(r"^(.+?)\s+([\d,]+)$")
_CONFIDENCE = re.compile(r"covered at an? ([\d.]+) ?% confidence level")


def split_sizes(evaluation: dict) -> dict[str, int]:
    """Split name to size, from ``evaluation["split_sizes"]`` when given, else from the model card's data section."""
    given = evaluation.get("split_sizes")
    if isinstance(given, dict) and given:
        return {str(name): count for name, count in given.items()}
    card = evaluation.get("model_card")
    found = _SPLITS_LINE.search(card) if isinstance(card, str) else None
    if found is None:
        return {}
    sizes = {}
    for part in found.group(1).split(", "):
        entry = _SPLIT_ENTRY.match(part.strip())
        if entry:
            sizes[entry.group(1)] = int(entry.group(2).replace(",", ""))
    return sizes


def ae_confidence(evaluation: dict) -> float | None:
    """The AE class's confidence level, from ``evaluation["confidence"]["1"]`` or else the model card's text."""
    given = _dict(evaluation.get("confidence")).get("1")
    if isinstance(given, int | float) and not isinstance(given, bool):
        return float(given)
    card = evaluation.get("model_card")
    found = _CONFIDENCE.search(card) if isinstance(card, str) else None
    return float(found.group(1)) / 100 if found else None


def data_section(record: dict, evaluation: dict) -> str:
    assets = _dict(_dict(record.get("lineage")).get("assets"))
    asset_rows = [
        (
            _text(name),
            f'<span class="mono">{_text(_dict(info).get("data_version"))}</span>',
            f'<span class="mono">{_text(_dict(info).get("run_id"))}</span>',
        )
        for name, info in assets.items()
    ]
    sizes = split_sizes(evaluation)
    total = sum(count for count in sizes.values() if isinstance(count, int))
    size_rows = [(_text(name), _number(count)) for name, count in sizes.items()]
    return (
        "<h3>Input assets</h3>\n"
        + _table(("Asset", "Data version", "Run id"), asset_rows)
        + "<h3>Splits (by document group)</h3>\n"
        + _table(("Split", "Reports"), [*size_rows, ("total", _number(total))] if size_rows else [], numeric=(1,))
    )


def _string_list(value: Any, none_text: str) -> str:
    """A recorded list of problems; an empty list is the good case and says so."""
    if value is None:
        return f"<p>{NA}</p>\n"
    if not isinstance(value, list):
        return f'<p class="warning">Not a list, so not checked (fails acceptance): {_text(value)}</p>\n'
    items = value
    if not items:
        return f'<p><span class="pass">{escape(none_text)}</span></p>\n'
    return '<ul class="fail">\n' + "".join(f"<li>{_text(item)}</li>\n" for item in items) + "</ul>\n"


def acceptance_section(record: dict) -> str:
    rows = [
        (
            _text(result.get("name")),
            _number(result.get("measured")),
            _number(result.get("limit")),
            _verdict(result.get("passed")),
            _text(result.get("detail")),
        )
        for result in map(_dict, _list(record.get("acceptance")))
    ]
    return (
        "<h3>Acceptance criteria of the change control plan</h3>\n"
        + _table(
            ("Criterion", "Measured", "Limit", "Result", "Detail"),
            rows,
            empty="No acceptance results were recorded (this fails acceptance).",
            numeric=(1, 2),
        )
        + "<h3>Inside the change control plan</h3>\n"
        + _string_list(record.get("outside_plan"), "Yes: the modification is one the plan allows.")
        + "<h3>Data requirements</h3>\n"
        + _string_list(record.get("data_requirements"), "Met: no data requirement failed.")
        + "<p>Each test metric is printed once: in the model card (section 1) or, for the conformal quantities, in "
        "section 4.</p>\n"
    )


def _image(name: str, caption: str, plots: dict[str, bytes]) -> str:
    """A plot embedded as a data: URI; anything that is not a PNG is not embedded under a PNG's name."""
    png = plots.get(name)
    if not isinstance(png, bytes | bytearray) or not bytes(png).startswith(PNG_SIGNATURE):
        return f"<figure><p>Plot {escape(name)}: {NA}</p><figcaption>{escape(caption)}</figcaption></figure>\n"
    data = base64.b64encode(bytes(png)).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(name)} plot">'
        f"<figcaption>{escape(caption)}</figcaption></figure>\n"
    )


def conformal_section(evaluation: dict, plots: dict[str, bytes]) -> str:
    metrics = _dict(evaluation.get("metrics"))
    level = ae_confidence(evaluation)
    level_text = _pct(level)
    miss_text = _pct(1 - level) if level is not None else NA
    statement = evaluation.get("guarantee_statement")
    explanation = (
        f"<p><strong>What is guaranteed.</strong> {escape(str(statement))} The no-AE side keeps class-conditional "
        "split-conformal coverage. It holds when new documents are exchangeable with the calibration documents; "
        "auto-closing is suspended for a batch whose drift report crosses a limit of the change control plan and "
        "for a source the guarantee does not cover. The realized coverage below is a sample estimate with its own "
        "noise. A marginal (LAC) set at the same level is shown for comparison: it covers all reports on average "
        "and can let the rare AE class fall below its target.</p>\n"
        if statement
        else "<p><strong>What is guaranteed.</strong> Each report gets a class-conditional (Mondrian) split-conformal "
        "prediction set. For the adverse-event class the guarantee is: a new report that describes an AE has a set "
        f"containing AE with probability at least {level_text}, so at most {miss_text} of AEs are auto-closed. "
        "It holds when new reports are exchangeable with the calibration split (drawn the same way, no drift in "
        "sources or language), and it holds on average over the draw of the calibration set: one calibration set "
        "can fall somewhat short, and the realized coverage below is a sample estimate with its own noise. It is "
        "not a guarantee per source or subgroup, nor for a single report, nor about the precision of PRIORITY. "
        "A marginal (LAC) set at the same level is shown for comparison: it covers all reports on average and can "
        "let the rare AE class fall below its target.</p>\n"
    )
    coverage = _dict(metrics.get("coverage"))
    marginal = _dict(metrics.get("marginal_lac_coverage"))
    confidence = _dict(evaluation.get("confidence"))
    targets = {"0": confidence.get("0"), "1": level}
    coverage_rows = [
        (label, _pct(targets[key]), _pct(coverage.get(key)), _pct(marginal.get(key)))
        for key, label in (("1", "AE (1)"), ("0", "no AE (0)"))
    ]
    shares = _dict(metrics.get("set_size_shares"))
    size_rows = [(f"sets of size {size}", _pct(shares.get(size))) for size in ("0", "1", "2")]
    figures = "".join(_image(name, caption, plots) for name, caption in PLOTS)
    return (
        explanation
        + "<h3>Coverage per class (test split)</h3>\n"
        + _table(
            ("Class", "Target", "Realized, class-conditional", "Realized, marginal LAC"),
            coverage_rows,
            numeric=(1, 2, 3),
        )
        + "<h3>Prediction set sizes (test split)</h3>\n"
        + _table(("Set size", "Share of reports"), size_rows, numeric=(1,))
        + "<p>Triage shares, AE recall and performance by source are in the model card (section 1).</p>\n"
        + figures
    )


def explanations_section(evaluation: dict) -> str:
    metrics = _dict(evaluation.get("metrics"))
    importance = [
        (str(rank), f"<code>{_text(row.get('feature'))}</code>", _number(row.get("mean_abs_log_odds"), 4))
        for rank, row in enumerate(map(_dict, _list(metrics.get("global_importance"))[:TOP_FEATURES]), start=1)
    ]
    examples = []
    for example in map(_dict, _list(metrics.get("example_explanations"))):
        rows = [
            (
                f"<code>{_text(feature.get('feature'))}</code>",
                _text(feature.get("present")),
                _number(feature.get("contribution")),
            )
            for feature in map(_dict, _list(example.get("top_features")))
        ]
        examples.append(
            f"<h4>Report {_text(example.get('report_id'))}: p_ae {_number(example.get('p_ae'), 3)}</h4>\n"
            + _table(("Feature", "Present in the report", "Contribution (log-odds)"), rows, numeric=(2,))
        )
    return (
        f"<h3>Global importance (top {TOP_FEATURES} by mean |log-odds move| on the test split)</h3>\n"
        + _table(("Rank", "Feature", "Mean |log-odds move|"), importance, numeric=(0, 2))
        + "<h3>Example explanations</h3>\n"
        + "<p>The reports with the highest and the lowest p_ae on the test split, with the features that moved "
        "their score most.</p>\n" + ("".join(examples) or f"<p>{NA}</p>\n")
    )
