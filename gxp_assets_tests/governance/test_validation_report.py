"""The validation report is the printed record an inspector reads: complete, escaped, self-contained, fail-closed."""

from __future__ import annotations

import base64
import copy
import io
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from gxp_assets.core.model_card import model_card
from gxp_assets.governance.registry import record_hash
from gxp_assets.governance.use_case import USE_CASES_ROOT, load_use_case
from gxp_assets.governance.validation_report import (
    acceptance_failures,
    ae_confidence,
    render_markdown,
    render_validation_report,
    split_sizes,
)

GENERATED_AT = datetime(2026, 3, 15, 8, 0, 0, tzinfo=UTC)
SCRIPT = "<script>alert('x')</script>"
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "area", "base", "source", "wbr"}


# A strict walker: every tag closed in order, and everything an inspector would check collected. -----------------


@dataclass
class Page:
    tags: list[str] = field(default_factory=list)
    attributes: list[tuple[str, str, str | None]] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    headings: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""


class StrictWalker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._heading: list[str] | None = None
        self._chunks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.tags.append(tag)
        self.page.attributes += [(tag, name, value) for name, value in attrs]
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._heading = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.tags.append(tag)
        self.page.attributes += [(tag, name, value) for name, value in attrs]

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.page.rows.append(self._row)
            self._row = None
        elif tag.startswith("h") and tag[1:].isdigit() and self._heading is not None:
            self.page.headings.append((tag, "".join(self._heading).strip()))
            self._heading = None

    def handle_data(self, data: str) -> None:
        self._chunks.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._heading is not None:
            self._heading.append(data)

    def close(self) -> None:
        super().close()
        if self.stack:
            self.errors.append(f"unclosed: {self.stack}")
        self.page.text = "".join(self._chunks)


def walk(page: str) -> Page:
    walker = StrictWalker()
    walker.feed(page)
    walker.close()
    assert walker.errors == []
    return walker.page


# Realistic inputs ---------------------------------------------------------------------------------------------------


def png(title: str) -> bytes:
    figure, axis = plt.subplots(figsize=(2, 1.5), dpi=40)
    axis.plot([0, 1], [0, 1])
    axis.set_title(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def plots() -> dict[str, bytes]:
    return {name: png(name) for name in ("coverage", "roc", "reliability", "triage")}


def metrics() -> dict:
    return {
        "n": 1200,
        "ae": 180,
        "auroc": 0.9412,
        "pr_auc": 0.8123,
        "best_f1": 0.77,
        "f1_at_operating_point": 0.61,
        "brier": 0.071,
        "ece": 0.018,
        "coverage": {"0": 0.903, "1": 0.951},
        "ae_recall": 0.951,
        "auto_close_share": 0.612,
        "review_share": 0.251,
        "priority_share": 0.137,
        "priority_precision": 0.81,
        "marginal_lac_coverage": {"0": 0.962, "1": 0.874},
        "set_size_shares": {"0": 0.0, "1": 0.749, "2": 0.251},
        "subgroups": [
            {"source": "social_media", "n": 700, "ae": 90, "auroc": 0.93, "ae_recall": 0.944, "auto_close_share": 0.6},
            {"source": "literature", "n": 500, "ae": 90, "auroc": 0.95, "ae_recall": 0.958, "auto_close_share": 0.62},
        ],
        "global_importance": [{"feature": f"w:feature{i}", "mean_abs_log_odds": 1.0 - i / 100} for i in range(20)],
        "example_explanations": [
            {
                "report_id": "R-000123",
                "p_ae": 0.97,
                "top_features": [
                    {"feature": "w:rash", "present": True, "contribution": 1.234},
                    {"feature": "c:<b>", "present": False, "contribution": -0.2},
                ],
            }
        ],
    }


def evaluation() -> dict:
    values = metrics()
    training = {
        "model_sha256": "ab" * 32,
        "feature_spec_sha256": "cd" * 32,
        "data_versions": {"validated_reports": "dv-validated-1", "dataset_splits": "dv-splits-1"},
        "split_sizes": {"train": 4200, "calibration": 1100, "test": 1200},
    }
    use = load_use_case(USE_CASES_ROOT / "ae_triage").use_case.card_use()
    card = model_card(values, training, {"confidence": {"0": 0.9, "1": 0.95}, "calibration_method": "isotonic"}, use)
    return {"metrics": values, "model_card": card, "plots": {}}


def record() -> dict:
    return {
        "version": "ae-triage-0123456789ab",
        "use_case": "ae-triage",
        "model_family": "lightgbm",
        "model_sha256": "ab" * 32,
        "conformal_sha256": "ef" * 32,
        "feature_spec_sha256": "cd" * 32,
        "metrics": {"auroc": 0.9412, "ae_recall": 0.951, "auto_close_share": 0.612},
        "plan": {"plan_id": "PCCP-AE-TRIAGE", "version": "1.2.0", "sha256": "9f" * 32},
        "acceptance": [
            {"name": "auroc_min", "measured": 0.9412, "limit": 0.85, "passed": True, "detail": "AUROC 0.9412 >= 0.85"},
            {"name": "positive_recall_min", "measured": 0.951, "limit": 0.93, "passed": True, "detail": "AE recall ok"},
            {
                "name": "subgroup_positive_recall_min[social_media]",
                "measured": 0.944,
                "limit": 0.9,
                "passed": True,
                "detail": "ok",
            },
        ],
        "outside_plan": [],
        "data_requirements": [],
        "lineage": {
            "assets": {
                "validated_reports": {"data_version": "dv-validated-1", "code_version": "1", "run_id": "run-aaa"},
                "dataset_splits": {"data_version": "dv-splits-1", "code_version": "1", "run_id": "run-bbb"},
            },
            "runs": {},
            "trained_by": "trainer1",
            "code": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
            "libraries": {"lightgbm": "4.5.0", "mapie": "1.0.1"},
        },
        "audit_head": {"seq": 41, "hash": "77" * 32},
    }


def signature(digest: str, name: str, user: str, at: str, reason: str = "meets the plan") -> dict:
    return {
        "signature_id": f"sig-{user}",
        "user_id": user,
        "printed_name": name,
        "meaning": "approval",
        "reason": reason,
        "signed_at": at,
        "record_hash": digest,
        "audit_head": {"seq": 42, "hash": "88" * 32},
        "key_fingerprint": "SHA256:abc",
        "signature": "c2lnbmF0dXJl",
    }


HISTORY = [
    {"from_state": None, "to_state": "CANDIDATE", "actor": "trainer1", "reason": "", "at": "2026-03-14T09:00:00+00:00"},
    {
        "from_state": "CANDIDATE",
        "to_state": "PENDING_APPROVAL",
        "actor": "trainer1",
        "reason": "all acceptance criteria met, inside the plan",
        "at": "2026-03-14T09:00:01+00:00",
    },
]


def render(rec: dict | None = None, sigs: list[dict] | None = None, **changes: object) -> tuple[str, str]:
    rec = record() if rec is None else rec
    digest = record_hash(rec)
    arguments: dict = {
        "record": rec,
        "record_hash": digest,
        "state": "PENDING_APPROVAL",
        "history": HISTORY,
        "signatures": [] if sigs is None else sigs,
        "evaluation": evaluation(),
        "plots": {name: png(name) for name in ("coverage", "roc", "reliability", "triage")},
        "generated_at": GENERATED_AT,
    }
    arguments.update(changes)
    return render_validation_report(**arguments), digest


# The page -----------------------------------------------------------------------------------------------------------


def test_the_page_is_well_formed_and_states_version_hash_plan_and_time(plots: dict[str, bytes]) -> None:
    html, digest = render(plots=plots)
    page = walk(html)
    assert html.startswith("<!DOCTYPE html>")
    assert "ae-triage-0123456789ab" in page.text
    assert digest in page.text  # the full hash, not an abbreviation
    assert ["Record hash check", "matches the record shown"] in page.rows
    assert ["Change control plan", "PCCP-AE-TRIAGE, version 1.2.0"] in page.rows
    assert "9f" * 32 in page.text
    assert ["Generated at", "2026-03-15 08:00:00 UTC"] in page.rows
    assert "Acceptance: PASS" in page.text


def test_every_criterion_is_a_row_with_its_verdict() -> None:
    rec = record()
    rec["acceptance"].append(
        {"name": "max_auroc_drop_vs_active", "measured": 0.05, "limit": 0.02, "passed": False, "detail": "drop 0.05"}
    )
    page = walk(render(rec)[0])
    verdicts = {row[0]: row[3] for row in page.rows if len(row) == 5 and row[3] in ("PASS", "FAIL")}
    assert verdicts == {
        "auroc_min": "PASS",
        "positive_recall_min": "PASS",
        "subgroup_positive_recall_min[social_media]": "PASS",
        "max_auroc_drop_vs_active": "FAIL",
    }
    assert "Acceptance: FAIL" in page.text
    assert "max_auroc_drop_vs_active: drop 0.05" in page.text


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"outside_plan": ["model family changed to xgboost"]}, "outside plan: model family changed to xgboost"),
        ({"data_requirements": ["only 12 AE records"]}, "data requirement: only 12 AE records"),
        ({"acceptance": []}, "no acceptance criteria were recorded"),
        ({"outside_plan": "not a list"}, "outside_plan is not a list"),
    ],
)
def test_acceptance_fails_closed(change: dict, reason: str) -> None:
    rec = record() | change
    assert any(reason in failure for failure in acceptance_failures(rec))
    text = walk(render(rec)[0]).text
    assert "Acceptance: FAIL" in text and "Acceptance: PASS" not in text
    assert reason in text


def test_a_verdict_that_is_not_true_is_a_fail() -> None:
    rec = record()
    rec["acceptance"][0]["passed"] = "yes"
    assert acceptance_failures(rec) == ["auroc_min: AUROC 0.9412 >= 0.85"]
    page = walk(render(rec)[0])
    assert "Acceptance: FAIL" in page.text
    assert ["auroc_min", "0.9412", "0.8500", "FAIL", "AUROC 0.9412 >= 0.85"] in page.rows


def test_signatures_show_their_manifestation_in_utc() -> None:
    rec = record()
    digest = record_hash(rec)
    sigs = [
        signature(digest, "Dr. Ada Lovelace", "qa1", "2026-03-14T10:15:30.123456+00:00"),
        signature(digest, "Grace Hopper", "ra1", "2026-03-14T12:00:05+01:00"),  # shown converted to UTC
    ]
    page = walk(render(rec, sigs)[0])
    assert (
        "Signed by Dr. Ada Lovelace (qa1) on 2026-03-14 10:15:30 UTC — meaning: approval — reason: meets the plan"
        in page.text
    )
    assert "Signed by Grace Hopper (ra1) on 2026-03-14 11:00:05 UTC — meaning: approval" in page.text
    assert page.text.count("yes: signs this record") == 2
    assert "No signatures" not in page.text


def test_a_signature_of_another_record_is_flagged() -> None:
    sigs = [signature("00" * 32, "Mallory", "m1", "2026-03-14T10:00:00+00:00")]
    page = walk(render(sigs=sigs)[0])
    assert ["Matches this record's hash", "NO: this signature was made for another record"] in page.rows


def test_no_signatures_says_so() -> None:
    page = walk(render(sigs=[])[0])
    assert "No signatures" in page.text
    assert "Signed by" not in page.text


def test_the_four_plots_are_embedded_as_png_data(plots: dict[str, bytes]) -> None:
    page = walk(render(plots=plots)[0])
    sources = [value or "" for tag, name, value in page.attributes if tag == "img" and name == "src"]
    assert len(sources) == 4
    assert all(source.startswith("data:image/png;base64,") for source in sources)
    embedded = [base64.b64decode(source.removeprefix("data:image/png;base64,")) for source in sources]
    assert embedded == [plots["coverage"], plots["roc"], plots["reliability"], plots["triage"]]
    assert "at least 95.0 %" in page.text and "exchangeable" in page.text and "on average" in page.text


def test_a_plot_that_is_not_a_png_is_not_embedded(plots: dict[str, bytes]) -> None:
    html, _ = render(plots=plots | {"roc": b"<svg onload=alert(1)>"})
    page = walk(html)
    assert sum(1 for tag, name, _ in page.attributes if tag == "img" and name == "src") == 3
    assert "Plot roc: n/a" in page.text


def test_stored_text_is_escaped_everywhere() -> None:
    rec = record()
    rec["acceptance"][0]["detail"] = SCRIPT
    rec["version"] = "v1<img src=x onerror=alert(1)>"
    digest = record_hash(rec)
    history = [{**HISTORY[0], "reason": SCRIPT}]
    html, _ = render(
        rec, [signature(digest, "Eve <b>", "e1", "2026-03-14T10:00:00+00:00", reason=SCRIPT)], history=history
    )
    page = walk(html)
    assert "script" not in page.tags and "b" not in page.tags
    assert [tag for tag, name, _ in page.attributes if name.startswith("on")] == []
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert page.text.count(SCRIPT) >= 3  # detail, signature reason (twice), history reason, all as text
    assert "Eve <b>" in page.text


def test_no_external_resources() -> None:
    html, _ = render(sigs=[signature(record_hash(record()), "A", "a", "2026-03-14T10:00:00+00:00")])
    page = walk(html)
    for tag, name, value in page.attributes:
        if name in ("src", "href", "action", "data", "poster"):
            assert not (value or "").startswith(("http://", "https://", "//")), (tag, name, value)
    assert "http://" not in html and "https://" not in html and "url(" not in html
    assert not {"script", "link", "iframe", "object", "embed"} & set(page.tags)
    csp = [value for tag, name, value in page.attributes if tag == "meta" and name == "content"]
    assert csp == ["default-src 'none'; style-src 'unsafe-inline'; img-src data:"]


def test_printable_with_page_breaks_before_sections() -> None:
    html, _ = render()
    page = walk(html)
    assert "@page { size: A4" in html and "break-before: page" in html
    sections = [value for tag, name, value in page.attributes if tag == "section" and name == "class"]
    assert sections[0] == "major first" and set(sections[1:]) == {"major"} and len(sections) == 8
    assert [text for tag, text in page.headings if tag == "h2"] == [
        "1. Intended use and model card",
        "2. Data and splits",
        "3. Metrics against the acceptance criteria",
        "4. The conformal guarantee",
        "5. Explanations",
        "6. Approvals (electronic signatures)",
        "7. Lineage",
        "8. Registry history",
    ]


def test_data_metrics_explanations_lineage_and_history_are_shown() -> None:
    page = walk(render()[0])
    assert ["validated_reports", "dv-validated-1", "run-aaa"] in page.rows
    assert ["train", "4,200"] in page.rows and ["total", "6,500"] in page.rows
    assert ["AE (1)", "95.0 %", "95.1 %", "87.4 %"] in page.rows
    assert any(row[0] == "sets of size 2" for row in page.rows)
    # Each metric once: the model card's table holds them; no second headline or by-source table repeats them.
    assert [row[0] for row in page.rows].count("AUROC") == 1
    assert sum(row[:1] == ["social_media"] for row in page.rows) == 1
    ranked = [row for row in page.rows if len(row) == 3 and row[1].startswith("w:feature")]
    assert len(ranked) == 15 and ranked[0] == ["1", "w:feature0", "1.0000"]
    assert ["w:rash", "yes", "1.2340"] in page.rows and ["c:<b>", "no", "-0.2000"] in page.rows
    assert "Report R-000123: p_ae 0.970" in page.text
    assert ["Trained by", "trainer1"] in page.rows
    assert ["Git commit", "0123456789abcdef0123456789abcdef01234567"] in page.rows
    assert ["Uncommitted changes (dirty tree)", "no"] in page.rows
    assert ["lightgbm", "4.5.0"] in page.rows
    assert ["Audit trail head at registration, seq", "41"] in page.rows
    assert ["2026-03-14 09:00:01 UTC", "CANDIDATE", "PENDING_APPROVAL", "trainer1"] == next(
        row[:4] for row in page.rows if len(row) == 5 and row[2] == "PENDING_APPROVAL"
    )


def test_the_model_card_is_rendered_as_markdown() -> None:
    page = walk(render()[0])
    headings = [text for _, text in page.headings]
    assert "Intended use" in headings and "Limits" in headings
    assert ["AUROC", "0.941"] in page.rows  # the card's pipe table
    assert "code" in page.tags and "ul" in page.tags and "|---|" not in page.text


def test_markdown_renderer() -> None:
    text = (
        "# Title\n\nOne `a<b>` line\nsame paragraph.\n\n- first\n- second `x`\n\n| h1 | h2 |\n|---|---|\n| 1 | <i> |\n"
    )
    assert render_markdown(text, heading_offset=2) == (
        "<h3>Title</h3>\n"
        "<p>One <code>a&lt;b&gt;</code> line same paragraph.</p>\n"
        "<ul>\n<li>first</li>\n<li>second <code>x</code></li>\n</ul>\n"
        "<table><thead><tr><th>h1</th><th>h2</th></tr></thead>\n<tbody>\n<tr><td>1</td><td>&lt;i&gt;</td></tr>\n"
        "</tbody></table>\n"
    )


def test_split_sizes_and_confidence_come_from_the_card() -> None:
    assert split_sizes(evaluation()) == {"train": 4200, "calibration": 1100, "test": 1200}
    assert ae_confidence(evaluation()) == pytest.approx(0.95)
    assert split_sizes({}) == {} and ae_confidence({}) is None


def test_a_tampered_record_is_flagged() -> None:
    rec = record()
    digest = record_hash(rec)
    tampered = copy.deepcopy(rec)
    tampered["acceptance"][0]["measured"] = 0.99
    page = walk(render(tampered, record_hash=digest)[0])
    check = next(row[1] for row in page.rows if row[0] == "Record hash check")
    assert check.startswith("DOES NOT MATCH")


def test_missing_keys_show_n_a() -> None:
    html = render_validation_report({}, "", "", [], [], {}, {}, GENERATED_AT)
    page = walk(html)
    assert "n/a" in page.text and "Acceptance: FAIL" in page.text and "No signatures" in page.text
    broken = render_validation_report(
        {"lineage": None, "acceptance": [None, {"name": "x"}], "plan": "?", "audit_head": 3},
        "00",
        "CANDIDATE",
        [{"at": "yesterday"}, None],
        [{"signed_at": "2026-03-14T10:00:00"}],
        {"metrics": {"coverage": None, "subgroups": [{}], "example_explanations": [{"top_features": [None]}]}},
        {"roc": None},
        GENERATED_AT,
    )
    text = walk(broken).text
    assert "yesterday (not an ISO 8601 time)" in text
    assert "2026-03-14T10:00:00 (no time zone recorded)" in text


def test_a_naive_generation_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        render_validation_report(record(), "", "", [], [], {}, {}, datetime(2026, 3, 15, 8, 0))


def test_the_module_stays_plain_python() -> None:
    """Governance code must run where Dagster and cloud clients are not installed."""
    probe = (
        "import sys, gxp_assets.governance.validation_report; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'boto3', 'botocore')))"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=root)
    assert done.stdout.strip() == "[]"


def generation(digest: str, verified: bool = True, **changes: object):
    from gxp_assets.governance.validation_report import GenerationContext, document_id

    values: dict = {
        "document_id": document_id("ae-triage-0123456789ab", digest),
        "document_version": 2,
        "generated_by": "olivia",
        "verified": verified,
        "failures": () if verified else ("signature sig-quinn: <b>key</b> not in the approved roles file",),
        "valid_signature_ids": frozenset({"sig-quinn"}) if verified else frozenset(),
        "input_files": (("corpus-a.csv", 4000), ("corpus-b.csv", 2500)),
        "input_sha256": "aa" * 32,
        "quarantine_reasons": (("empty_text", 7), ("duplicate_text", 3)),
    }
    values.update(changes)
    return GenerationContext(**values)


def test_the_page_says_which_document_who_generated_it_and_the_verdict_at_generation() -> None:
    digest = record_hash(record())
    sigs = [signature(digest, "Quinn Quality", "quinn", "2026-03-14T10:00:00+00:00")]
    page = walk(render(sigs=sigs, context=generation(digest))[0])
    assert ["Document id", f"VR-ae-triage-0123456789ab-{digest[:8]}"] in page.rows
    assert ["Document version", "2"] in page.rows and ["Generated by", "olivia"] in page.rows
    assert "Verified at generation: every control verified" in page.text
    assert ["Verified at generation", "valid: verified against this record and the approved roles file"] in page.rows
    assert "not by this page" not in page.text and "DEMO" not in page.text
    assert ["corpus-b.csv", "2,500"] in page.rows and ["empty_text", "7"] in page.rows and "aa" * 32 in page.text
    failed_html = render(sigs=sigs, context=generation(digest, verified=False))[0]
    failed = walk(failed_html)
    assert "Verification at generation: FAILED" in failed.text and "<b>key</b>" not in failed_html
    assert ["Verified at generation", "NOT valid for this record (see the verification verdict)"] in failed.rows


def test_a_demo_key_puts_a_demo_banner_on_the_page() -> None:
    digest = record_hash(record())
    demo = [signature(digest, "Quinn Quality (DEMO ONLY)", "quinn", "2026-03-14T10:00:00+00:00")]
    assert "DEMO: signed with DEMO-ONLY keys" in walk(render(sigs=demo)[0]).text
    by_key = [{**signature(digest, "Real Name", "real", "2026-03-14T10:00:00+00:00"), "key_fingerprint": "SHA256:d"}]
    context = generation(digest, demo_fingerprints=frozenset({"SHA256:d"}))
    assert "DEMO: signed with DEMO-ONLY keys" in walk(render(sigs=by_key, context=context)[0]).text
    assert "DEMO" not in walk(render(sigs=by_key, context=generation(digest))[0]).text


def test_the_print_layout_numbers_pages_and_names_the_document() -> None:
    digest = record_hash(record())
    html = render(context=generation(digest))[0]
    assert 'counter(page) " of " counter(pages)' in html and f"VR-ae-triage-0123456789ab-{digest[:8]} v2" in html


def test_metrics_carry_document_bootstrap_intervals() -> None:
    digest = record_hash(record())
    rows = ({"metric": "AUROC", "estimate": 0.9412, "low": 0.92, "high": 0.96, "documents": 800, "draws": 1000,
             "level": 0.95, "seed": 7},)  # fmt: skip
    page = walk(render(context=generation(digest, intervals=rows))[0])
    assert ["AUROC", "0.9412", "0.9200", "0.9600"] in page.rows
    assert "over 1,000 resamples of the 800 test documents (seed 7)" in page.text
    assert "Not available" in walk(render(context=generation(digest))[0]).text
