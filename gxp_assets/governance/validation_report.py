"""The validation report: one printable, self-contained HTML page that is the human-readable copy of a model record.

21 CFR Part 11 §11.10(b) asks for accurate and complete copies of records in human-readable form, and §11.50 for the
signature manifestation (printed name, time, meaning) wherever a signed record is displayed or printed. The page has
no scripts and no external resources, so it renders the same on an inspector's machine years later; every stored
text is escaped, and a missing field shows as "n/a" rather than breaking the page.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from html import escape
from typing import Any

from gxp_assets.governance.registry import record_hash as compute_record_hash
from gxp_assets.governance.report_html import (
    NA,
    _dict,
    _facts,
    _list,
    _number,
    _pct,
    _section,
    _table,
    _text,
    _utc,
    _verdict,
    render_markdown,
)

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

_STYLE = """
@page { size: A4; margin: 15mm 12mm; }
body { font-family: system-ui, sans-serif; font-size: 10.5pt; line-height: 1.4; color: #111; margin: 2em; }
@media print { body { margin: 0; } }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; border-bottom: 2px solid #333; padding-bottom: 0.15em; margin-top: 1.2em; }
h3 { font-size: 1.1em; } h4, h5, h6 { font-size: 1em; }
section.major { break-before: page; page-break-before: always; }
section.first { break-before: auto; page-break-before: auto; }
h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 0.5em 0 1em; font-size: 0.92em; }
tr, figure, .signature { break-inside: avoid; page-break-inside: avoid; }
thead { display: table-header-group; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.45em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
table.facts th { width: 28%; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.mono, code { font-family: ui-monospace, monospace; font-size: 0.95em; }
.mono { word-break: break-all; }
.banner { padding: 0.7em 1em; border-radius: 4px; font-weight: 700; font-size: 1.15em; margin: 0.8em 0; }
.banner ul { font-weight: 400; font-size: 0.85em; margin: 0.4em 0 0; }
.pass-banner { background: #e6f4ea; border: 2px solid #1e7e34; }
.fail-banner { background: #fdecea; border: 2px solid #b00020; }
.pass { color: #1e7e34; font-weight: 700; }
.fail { color: #b00020; font-weight: 700; }
.warning { color: #b00020; font-weight: 700; }
figure { margin: 1em 0; text-align: center; }
figure img { max-width: 100%; max-height: 120mm; }
figcaption { font-size: 0.9em; color: #333; margin-top: 0.3em; }
.signature { border: 1px solid #999; padding: 0.5em 0.8em; margin: 0.8em 0; }
.manifestation { font-weight: 600; }
.card { border-left: 3px solid #ccc; padding-left: 1em; }
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


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


# Sections ----------------------------------------------------------------------------------------------------------


def acceptance_failures(record: dict) -> list[str]:
    """Why the record does not meet the plan; empty means PASS. No recorded criteria is a failure (fail closed)."""
    acceptance = record.get("acceptance")
    failures = []
    if not isinstance(acceptance, list) or not acceptance:
        failures.append("no acceptance criteria were recorded")
    for result in _list(acceptance):
        result = _dict(result)
        if result.get("passed") is not True:
            failures.append(f"{result.get('name', NA)}: {result.get('detail', NA)}")
    for name in ("outside_plan", "data_requirements"):
        value = record.get(name)
        if value is not None and not isinstance(value, list):
            failures.append(f"{name} is not a list: {value!r}")
    failures += [f"outside plan: {item}" for item in _list(record.get("outside_plan"))]
    failures += [f"data requirement: {item}" for item in _list(record.get("data_requirements"))]
    return failures


def _hash_check(record: dict, record_hash: str) -> str:
    """Recompute the record's hash, so a page printed from an altered record says so."""
    try:
        recomputed = compute_record_hash(record)
    except (TypeError, ValueError) as error:
        return f'<span class="warning">could not be recomputed ({escape(str(error))})</span>'
    if recomputed == record_hash:
        return '<span class="pass">matches the record shown</span>'
    return (
        '<span class="warning">DOES NOT MATCH the record shown: the record was altered or the hash belongs to '
        f'another record</span> (recomputed <span class="mono">{escape(recomputed)}</span>)'
    )


def _header(record: dict, record_hash: str, state: str, generated_at: datetime) -> str:
    plan = _dict(record.get("plan"))
    failures = acceptance_failures(record)
    if failures:
        items = "".join(f"<li>{escape(failure)}</li>" for failure in failures)
        banner = f'<div class="banner fail-banner">Acceptance: FAIL<ul>{items}</ul></div>\n'
    else:
        count = len(_list(record.get("acceptance")))
        banner = (
            '<div class="banner pass-banner">Acceptance: PASS'
            f"<ul><li>all {count} acceptance criteria met, inside the change control plan, "
            "data requirements met</li></ul></div>\n"
        )
    facts = _facts(
        [
            ("Model version", _text(record.get("version"))),
            ("Use case", _text(record.get("use_case"))),
            ("Registry state", _text(state)),
            ("Record hash (SHA-256)", f'<span class="mono">{_text(record_hash)}</span>'),
            ("Record hash check", _hash_check(record, record_hash)),
            ("Change control plan", f"{_text(plan.get('plan_id'))}, version {_text(plan.get('version'))}"),
            ("Plan SHA-256", f'<span class="mono">{_text(plan.get("sha256"))}</span>'),
            ("Model SHA-256", f'<span class="mono">{_text(record.get("model_sha256"))}</span>'),
            ("Generated at", _text(generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))),
        ]
    )
    title = f"Validation report: model {_text(record.get('version'))}"
    return f"<header>\n<h1>{title}</h1>\n{banner}{facts}</header>\n"


def _intended_use(evaluation: dict) -> str:
    card = evaluation.get("model_card")
    if not isinstance(card, str) or not card.strip():
        return f"<p>Model card: {NA}</p>\n"
    return (
        "<p>The model card as written at evaluation time, reproduced in full.</p>\n"
        f'<div class="card">\n{render_markdown(card, heading_offset=2)}</div>\n'
    )


def _data(record: dict, evaluation: dict) -> str:
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


def _acceptance(record: dict) -> str:
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
    metrics = _dict(record.get("metrics"))
    headline = [
        (label, _number(metrics.get(key)))
        for key, label in (
            ("auroc", "AUROC"),
            ("pr_auc", "PR-AUC"),
            ("best_f1", "best F1"),
            ("ae_recall", "AE recall"),
            ("auto_close_share", "AUTO_CLOSE share"),
            ("review_share", "REVIEW share"),
            ("brier", "Brier score"),
            ("ece", "ECE"),
        )
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
        + "<h3>Headline metrics (test split)</h3>\n"
        + _table(("Metric", "Value"), headline, numeric=(1,))
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


def _conformal(evaluation: dict, plots: dict[str, bytes]) -> str:
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
    triage_rows = [
        ("AE recall (AEs whose set contains AE)", _pct(metrics.get("ae_recall"))),
        ("AUTO_CLOSE share", _pct(metrics.get("auto_close_share"))),
        ("REVIEW share", _pct(metrics.get("review_share"))),
        ("PRIORITY share", _pct(metrics.get("priority_share"))),
        *((f"sets of size {size}", _pct(shares.get(size))) for size in ("0", "1", "2")),
    ]
    subgroup_rows = [
        (
            _text(row.get("source")),
            _number(row.get("n")),
            _number(row.get("ae")),
            _number(row.get("auroc"), 3),
            _pct(row.get("ae_recall")),
            _pct(row.get("auto_close_share")),
        )
        for row in map(_dict, _list(metrics.get("subgroups")))
    ]
    figures = "".join(_image(name, caption, plots) for name, caption in PLOTS)
    return (
        explanation
        + "<h3>Coverage per class (test split)</h3>\n"
        + _table(
            ("Class", "Target", "Realized, class-conditional", "Realized, marginal LAC"),
            coverage_rows,
            numeric=(1, 2, 3),
        )
        + "<h3>Triage and set sizes (test split)</h3>\n"
        + _table(("Quantity", "Value"), triage_rows, numeric=(1,))
        + figures
        + "<h3>Performance by source</h3>\n"
        + _table(
            ("Source", "n", "AE", "AUROC", "AE recall", "AUTO_CLOSE share"), subgroup_rows, numeric=(1, 2, 3, 4, 5)
        )
    )


def _explanations(evaluation: dict) -> str:
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


def signature_manifestation(signature: dict) -> str:
    """The §11.50 line, as escaped HTML; the same words as ``Signature.manifestation`` for a complete signature."""
    return (
        f"Signed by {_text(signature.get('printed_name'))} ({_text(signature.get('user_id'))}) on "
        f"{_utc(signature.get('signed_at'))} — meaning: {_text(signature.get('meaning'))} — "
        f"reason: {_text(signature.get('reason'))}"
    )


def _approvals(signatures: list[dict], record_hash: str) -> str:
    if not signatures:
        return "<p>No signatures.</p>\n"
    blocks = []
    for signature in map(_dict, signatures):
        signed_hash = signature.get("record_hash")
        if signed_hash == record_hash:
            binding = '<span class="pass">yes: signs this record</span>'
        else:
            binding = '<span class="warning">NO: this signature was made for another record</span>'
        head = signature.get("audit_head")
        head_text = (
            f'seq {_text(head.get("seq"))}, hash <span class="mono">{_text(head.get("hash"))}</span>'
            if isinstance(head, dict)
            else NA
        )
        facts = _facts(
            [
                ("Printed name", _text(signature.get("printed_name"))),
                ("User id", _text(signature.get("user_id"))),
                ("Signed at", _utc(signature.get("signed_at"))),
                ("Meaning", _text(signature.get("meaning"))),
                ("Reason", _text(signature.get("reason"))),
                ("Signed record hash", f'<span class="mono">{_text(signed_hash)}</span>'),
                ("Matches this record's hash", binding),
                ("Audit trail head at signing", head_text),
                ("Key fingerprint", f'<span class="mono">{_text(signature.get("key_fingerprint"))}</span>'),
                ("Signature id", f'<span class="mono">{_text(signature.get("signature_id"))}</span>'),
            ]
        )
        blocks.append(
            f'<div class="signature">\n<p class="manifestation">{signature_manifestation(signature)}</p>\n'
            f"{facts}</div>\n"
        )
    return (
        "<p>Each manifestation below is printed from the stored signature. A signature counts for this record only "
        "if it signs this record's hash; the cryptographic check is made by the registry, not by this page.</p>\n"
        + "".join(blocks)
    )


def _lineage(record: dict) -> str:
    lineage = _dict(record.get("lineage"))
    code = _dict(lineage.get("code"))
    head = record.get("audit_head")
    libraries = [(_text(name), _text(version)) for name, version in _dict(lineage.get("libraries")).items()]
    facts = _facts(
        [
            ("Trained by", _text(lineage.get("trained_by"))),
            ("Git commit", f'<span class="mono">{_text(code.get("commit"))}</span>'),
            ("Uncommitted changes (dirty tree)", _text(code.get("dirty"))),
            ("Plan SHA-256", f'<span class="mono">{_text(_dict(record.get("plan")).get("sha256"))}</span>'),
            ("Feature spec SHA-256", f'<span class="mono">{_text(record.get("feature_spec_sha256"))}</span>'),
            ("Conformal record SHA-256", f'<span class="mono">{_text(record.get("conformal_sha256"))}</span>'),
            ("Audit trail head at registration, seq", _text(_dict(head).get("seq") if head else None)),
            ("Audit trail head at registration, hash", f'<span class="mono">{_text(_dict(head).get("hash"))}</span>'),
        ]
    )
    dirty = (
        '<p class="warning">The code had uncommitted changes: this model cannot be rebuilt from the commit.</p>\n'
        if code.get("dirty") is True
        else ""
    )
    return facts + dirty + "<h3>Library versions</h3>\n" + _table(("Library", "Version"), libraries)


def _history(history: list[dict]) -> str:
    rows = [
        (
            _utc(entry.get("at")),
            _text(entry.get("from_state")),
            _text(entry.get("to_state")),
            _text(entry.get("actor")),
            _text(entry.get("reason")),
        )
        for entry in map(_dict, history)
    ]
    return _table(("At (UTC)", "From", "To", "Actor", "Reason"), rows, empty="No transitions recorded.")


def render_validation_report(
    record: dict,
    record_hash: str,
    state: str,
    history: list[dict],
    signatures: list[dict],
    evaluation: dict,
    plots: dict[str, bytes],
    generated_at: datetime,
) -> str:
    """The whole report as one HTML page: inline CSS, plots as data: URIs, no scripts, every stored text escaped.

    ``generated_at`` must be timezone-aware (a naive time's zone would be a guess). Missing keys show as "n/a".
    """
    if generated_at.tzinfo is None or generated_at.utcoffset() is None:
        raise ValueError("generated_at must be timezone-aware; the report states its time in UTC")
    record, evaluation, plots = _dict(record), _dict(evaluation), _dict(plots)
    history, signatures = _list(history), _list(signatures)
    sections = [
        _section("intended-use", "1. Intended use and model card", _intended_use(evaluation), first=True),
        _section("data", "2. Data and splits", _data(record, evaluation)),
        _section("acceptance", "3. Metrics against the acceptance criteria", _acceptance(record)),
        _section("conformal", "4. The conformal guarantee", _conformal(evaluation, plots)),
        _section("explanations", "5. Explanations", _explanations(evaluation)),
        _section("approvals", "6. Approvals (electronic signatures)", _approvals(signatures, record_hash)),
        _section("lineage", "7. Lineage", _lineage(record)),
        _section("history", "8. Registry history", _history(history)),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f"<title>Validation report: model {_text(record.get('version'))}</title>"
        f"<style>{_STYLE}</style></head><body>\n"
        + _header(record, record_hash, state, generated_at)
        + "".join(sections)
        + "</body></html>\n"
    )
