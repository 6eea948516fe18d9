"""The validation report: one printable, self-contained HTML page that is the human-readable copy of a model record.

21 CFR Part 11 §11.10(b) asks for accurate and complete copies of records in human-readable form, and §11.50 for the
signature manifestation (printed name, time, meaning) wherever a signed record is displayed or printed. The page has
no scripts and no external resources, so it renders the same on an inspector's machine years later; every stored
text is escaped, and a missing field shows as "n/a" rather than breaking the page.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import escape

from gxp_assets.governance.registry import record_hash as compute_record_hash
from gxp_assets.governance.report_context import (
    GenerationContext,
    banners,
    document_facts,
    document_id,
    inputs_section,
    intervals_section,
    is_demo_signature,
)
from gxp_assets.governance.report_html import (
    NA,
    _dict,
    _facts,
    _list,
    _section,
    _table,
    _text,
    _utc,
    render_markdown,
)
from gxp_assets.governance.report_sections import (
    acceptance_section,
    ae_confidence,
    conformal_section,
    data_section,
    explanations_section,
    split_sizes,
)

__all__ = [
    "GenerationContext",
    "acceptance_failures",
    "ae_confidence",
    "document_id",
    "is_demo_signature",
    "render_markdown",
    "render_validation_report",
    "split_sizes",
]

_STYLE = """
@page { size: A4; margin: 18mm 12mm 16mm;
  @top-left { content: "DOCUMENT_LABEL"; font-size: 8pt; color: #444; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 8pt; color: #444; }
  @bottom-left { content: "Printed copy of an electronic record: the controlled copy is the stored record.";
                 font-size: 8pt; color: #444; } }
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
.demo-banner { background: #fff3cd; border: 3px solid #b00020; color: #b00020; }
"""


def _style(record: dict, context: GenerationContext | None) -> str:
    """The stylesheet with the document's label in every printed page's header (CSS string: safe characters only)."""
    label = context.document_id + f" v{context.document_version}" if context else f"model {record.get('version')}"
    return _STYLE.replace("DOCUMENT_LABEL", re.sub(r"[^A-Za-z0-9 ._:-]", "", f"Validation report {label}"))


_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


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


def _header(
    record: dict,
    record_hash: str,
    state: str,
    generated_at: datetime,
    signatures: list[dict],
    context: GenerationContext | None,
) -> str:
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
            *document_facts(context),
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
    return f"<header>\n<h1>{title}</h1>\n{banners(signatures, context)}{banner}{facts}</header>\n"


def _intended_use(evaluation: dict) -> str:
    card = evaluation.get("model_card")
    if not isinstance(card, str) or not card.strip():
        return f"<p>Model card: {NA}</p>\n"
    return (
        "<p>The model card as written at evaluation time, reproduced in full.</p>\n"
        f'<div class="card">\n{render_markdown(card, heading_offset=2)}</div>\n'
    )


def signature_manifestation(signature: dict) -> str:
    """The §11.50 line, as escaped HTML; the same words as ``Signature.manifestation`` for a complete signature."""
    return (
        f"Signed by {_text(signature.get('printed_name'))} ({_text(signature.get('user_id'))}) on "
        f"{_utc(signature.get('signed_at'))} — meaning: {_text(signature.get('meaning'))} — "
        f"reason: {_text(signature.get('reason'))}"
    )


def _verified(signature: dict, context: GenerationContext | None) -> str:
    if context is None:
        return NA
    if signature.get("signature_id") in context.valid_signature_ids:
        return '<span class="pass">valid: verified against this record and the approved roles file</span>'
    return '<span class="warning">NOT valid for this record (see the verification verdict)</span>'


def _approvals(signatures: list[dict], record_hash: str, context: GenerationContext | None) -> str:
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
                ("Verified at generation", _verified(signature, context)),
            ]
        )
        blocks.append(
            f'<div class="signature">\n<p class="manifestation">{signature_manifestation(signature)}</p>\n'
            f"{facts}</div>\n"
        )
    if context is None:
        note = "This page was generated without the verification: treat every signature as unverified."
    else:
        verdict = "every control verified" if context.verified else "FAILED: " + "; ".join(context.failures)
        note = (
            "Each signature was verified (Ed25519 over this record's hash, signer and role in the approved roles "
            f"file) when this page was generated; verdict of the point-of-use verification: {verdict}."
        )
    return (
        "<p>Each manifestation below is printed from the stored signature. A signature counts for this record only "
        f"if it signs this record's hash. {escape(note)}</p>\n" + "".join(blocks)
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
    context: GenerationContext | None = None,
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
        _section("data", "2. Data and splits", inputs_section(context) + data_section(record, evaluation)),
        _section(
            "acceptance",
            "3. Metrics against the acceptance criteria",
            acceptance_section(record) + intervals_section(context),
        ),
        _section("conformal", "4. The conformal guarantee", conformal_section(evaluation, plots)),
        _section("explanations", "5. Explanations", explanations_section(evaluation)),
        _section("approvals", "6. Approvals (electronic signatures)", _approvals(signatures, record_hash, context)),
        _section("lineage", "7. Lineage", _lineage(record)),
        _section("history", "8. Registry history", _history(history)),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f"<title>Validation report: model {_text(record.get('version'))}</title>"
        f"<style>{_style(record, context)}</style></head><body>\n"
        + _header(record, record_hash, state, generated_at, signatures, context)
        + "".join(sections)
        + "</body></html>\n"
    )
