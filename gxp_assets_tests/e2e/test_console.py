"""The review console end to end: `gxp serve` in a real process on a real demo world, driven by headless Chromium.

A reviewer logs in, opens a report and adjudicates it; approvers sign a version until it is APPROVED; and the console
refuses what it must: a wrong passphrase, a missing role, the trainer signing, a forged form, hostile report text.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gxp_assets_tests.conftest import register_recalibrated, run_gxp
from gxp_assets_tests.e2e.conftest import (
    CHROMIUM_ARGS,
    SERVER_START_TIMEOUT_S,
    _answers_200,
    _free_loopback_port,
    _stop,  # fmt: skip
    _tail,
)

HOSTILE_ID = "hostile-1"
HOSTILE_TEXT = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> severe rash after the drug'


@pytest.fixture(scope="module")
def console_url(world: dict, chromium_path_module: Path) -> Iterator[str]:
    """A hostile report scored into the world, then `gxp serve` on a free loopback port with the demo keys."""
    from gxp_assets.core.demo_data import demo_batch

    batch = demo_batch(3, 5, received_until=datetime.now(UTC))
    batch.loc[0, ["report_id", "text"]] = [HOSTILE_ID, HOSTILE_TEXT]
    path = world["home"] / "landing" / "ae_triage" / "reports" / "hostile.csv"
    batch.to_csv(path, index=False)
    scored = run_gxp("score", str(path), env=world["env"])
    assert scored.returncode == 0, scored.stderr[-2000:]
    port = _free_loopback_port()
    log = world["root"] / "console.log"
    keys = world["home"] / "demo-only" / "keys"
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "gxp_assets.cli", "serve", "--port", str(port), "--keys",
                                   str(keys)], env=world["env"], stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not _answers_200(f"{url}/login"):
            assert server.poll() is None and time.monotonic() < deadline, _tail(log)
            time.sleep(0.3)
        yield url
    finally:
        _stop(server)


@pytest.fixture(scope="module")
def chromium_path_module() -> Path:
    from gxp_assets_tests.e2e.conftest import CHROMIUM

    if not CHROMIUM.exists() and os.environ.get("CI") != "true":
        pytest.skip(f"the console e2e test needs chromium at {CHROMIUM}")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium_path_module: Path) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium_path_module), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A fresh browser context per test: nobody is logged in."""
    context = browser.new_context()  # type: ignore[attr-defined]
    try:
        yield context.new_page()
    finally:
        context.close()


def secret(world: dict) -> str:
    return (world["home"] / "demo-only" / "PASSPHRASE-DEMO-ONLY.txt").read_text().strip()


def log_in(page: object, url: str, user: str, passphrase: str) -> None:
    page.goto(f"{url}/login")  # type: ignore[attr-defined]
    page.fill("input[name=user_id]", user)  # type: ignore[attr-defined]
    page.fill("input[name=passphrase]", passphrase)  # type: ignore[attr-defined]
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.click("button[type=submit]")  # type: ignore[attr-defined]


def audit_actions(subject: str | None = None) -> list[tuple[str, str, str, dict]]:
    from gxp_assets.stores import audit_trail

    return [(e.actor, e.action, e.subject, e.details) for e in audit_trail().entries()
            if subject is None or e.subject == subject]  # fmt: skip


def test_a_reviewer_logs_in_opens_a_report_and_adjudicates(world: dict, console_url: str, page: object) -> None:
    from gxp_assets.stores import results_store

    log_in(page, console_url, "petra", secret(world))
    assert page.url.endswith("/queue"), page.content()
    assert "Petra Physician (DEMO ONLY)" in page.inner_text("#who")
    table = page.inner_text("#queue")
    assert "OVERDUE" in table and "PRIORITY" in table  # the old batch is past due
    first = page.locator("#queue a").first
    report_id = first.inner_text()
    first.click()
    assert page.inner_text("h1") == f"Report {report_id}"
    assert page.inner_text("#triage") in ("PRIORITY", "REVIEW")
    page.check("input[value=ae]")
    page.fill("input[name=reason]", "rash after dosing, confirmed by the source")
    page.click("form[action$='/adjudicate'] button")
    assert "recorded by Petra Physician (DEMO ONLY)" in page.inner_text("#message")
    labels = results_store().adjudicated()
    mine = labels[labels["report_id"] == report_id]
    assert list(mine["label"]) == [1] and list(mine["adjudicator"]) == ["petra"]
    entry = [details for actor, action, _, details in audit_actions(report_id) if action == "adjudication"]
    assert entry and entry[-1]["reason"] == "rash after dosing, confirmed by the source"
    page.goto(f"{console_url}/queue")
    assert report_id not in [link.inner_text() for link in page.locator("#queue a").all()]


def test_a_wrong_passphrase_is_refused_audited_and_throttled(world: dict, console_url: str, page: object) -> None:
    log_in(page, console_url, "quinn", "not the passphrase")
    assert "wrong passphrase" in page.inner_text("#message") and page.url.endswith("/login")
    refusals = [d for actor, action, subject, d in audit_actions("console login") if actor == "quinn"]
    assert refusals and refusals[-1]["code"] == "wrong_passphrase"
    assert "not the passphrase" not in str(audit_actions())  # a passphrase is never written down
    for _ in range(5):
        log_in(page, console_url, "nosuch", "guess")
    assert "wrong passphrase" in page.inner_text("#message")
    log_in(page, console_url, "nosuch", "guess")  # the sixth within 15 minutes
    assert "too many failed logins" in page.inner_text("#message")
    assert any(actor == "nosuch" and d["code"] == "throttled" for actor, _, _, d in audit_actions("console login"))


def test_a_person_without_the_role_is_refused(world: dict, console_url: str, page: object) -> None:
    log_in(page, console_url, "alice", secret(world))  # data_scientist: neither reviewer nor approver
    response = page.goto(f"{console_url}/queue")
    assert response.status == 403 and "needs one of pv_physician" in page.inner_text("#message")
    response = page.goto(f"{console_url}/approvals")
    assert response.status == 403
    anonymous = page.context.browser.new_context()
    try:
        other = anonymous.new_page()
        other.goto(f"{console_url}/queue")
        assert other.url.endswith("/login")  # nobody logged in: to the login page
    finally:
        anonymous.close()


def test_a_forged_form_without_csrf_token_is_refused(world: dict, console_url: str, page: object) -> None:
    from gxp_assets.stores import results_store

    log_in(page, console_url, "petra", secret(world))
    report_id = page.locator("#queue a").first.inner_text()
    forged = page.request.post(f"{console_url}/reports/{report_id}/adjudicate",
                               form={"verdict": "not_ae", "reason": "forged"})  # fmt: skip
    assert forged.status == 403 and "CSRF" in forged.text()
    assert report_id not in set(results_store().adjudicated()["report_id"])


def test_script_in_a_report_is_shown_as_text(world: dict, console_url: str, page: object) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, console_url, "petra", secret(world))
    page.goto(f"{console_url}/reports/{HOSTILE_ID}")
    assert page.inner_text("#report-text").startswith("<script>window.__pwned = 1</script><img src=x")
    assert page.evaluate("window.__pwned === undefined") and not dialogs
    assert page.locator("#report-text script, #report-text img").count() == 0


def test_approvers_sign_until_approved_and_the_trainer_is_refused(world: dict, console_url: str, page: object) -> None:
    from gxp_assets.stores import open_governance

    version = register_recalibrated(open_governance(), world["version"], trainer="alice").version
    log_in(page, console_url, "quinn", secret(world))
    page.goto(f"{console_url}/approvals")
    assert version in page.inner_text("#inbox")
    page.click(f"a[href='/approvals/{version}']")

    def sign(passphrase: str, reason: str) -> None:
        page.select_option("select[name=meaning]", "approval")
        page.fill("input[name=reason]", reason)
        page.fill("input[name=passphrase]", passphrase)
        page.click("form[action$='/sign'] button")

    sign("wrong", "criteria reviewed")  # the passphrase is asked again, and checked again
    assert "wrong_passphrase" in page.inner_text("#message")
    sign(secret(world), "criteria reviewed")
    assert page.inner_text("#manifestation").startswith("Signed by Quinn Quality (DEMO ONLY) (quinn) on ")
    assert "meaning: approval" in page.inner_text("#manifestation") and " UTC" in page.inner_text("#manifestation")
    assert page.inner_text("#state") == "PENDING_APPROVAL"
    page.click("form[action='/logout'] button")
    log_in(page, console_url, "petra", secret(world))
    page.goto(f"{console_url}/approvals/{version}")
    sign(secret(world), "recall by source acceptable")
    assert page.inner_text("#state") == "APPROVED"
    assert open_governance().registry.get(version).state == "APPROVED"
    signed = [d for actor, action, _, d in audit_actions(version) if action == "signature"]
    names = {d["manifestation"].split(" (")[0] for d in signed}
    assert names == {"Signed by Quinn Quality", "Signed by Petra Physician"}

    trained_by_quinn = register_recalibrated(open_governance(), world["version"], trainer="quinn").version
    page.click("form[action='/logout'] button")
    log_in(page, console_url, "quinn", secret(world))
    page.goto(f"{console_url}/approvals/{trained_by_quinn}")
    sign(secret(world), "my own model")
    assert "separation_of_duties" in page.inner_text("#message")
    assert page.inner_text("#state") == "PENDING_APPROVAL"


def test_the_monitoring_page_shows_drift_against_the_plan_limits(world: dict, console_url: str, page: object) -> None:
    log_in(page, console_url, "alice", secret(world))  # any role may look
    response = page.goto(f"{console_url}/monitoring")
    assert response.status == 200
    drift = page.inner_text("#drift")
    assert "score_psi" in drift and "plan limit" in drift and world["version"] in drift
    assert page.locator("#suspensions").count() == 1


def test_the_queue_is_filtered_and_paged_by_the_store(world: dict, console_url: str, page: object) -> None:
    log_in(page, console_url, "petra", secret(world))
    assert "page 1 of" in page.inner_text("#count")
    hostile = next(b for b in page.locator("select[name=batch] option").all_inner_texts() if b.startswith("hostile"))
    page.select_option("select[name=batch]", label=hostile)
    with page.expect_navigation():
        page.click("form[action='/queue'] button")
    batches = page.locator("#queue tr td:nth-child(7)").all_inner_texts()
    assert batches and set(batches) == {hostile} and f"batch={hostile}" in page.url
    page.fill("input[name=due_before]", "2000-01-01")
    with page.expect_navigation():
        page.click("form[action='/queue'] button")
    assert page.inner_text("#count").startswith("0 report(s)") and page.locator("#queue a").count() == 0
    response = page.goto(f"{console_url}/queue?page=0")
    assert response.status == 400 and "page must be a number" in page.inner_text("#message")


def test_the_version_page_compares_with_active_and_opens_the_validation_report(
    world: dict, console_url: str, page: object
) -> None:
    from gxp_assets.stores import open_governance

    version = register_recalibrated(open_governance(), world["version"], trainer="carol").version
    log_in(page, console_url, "quinn", secret(world))
    page.goto(f"{console_url}/approvals/{version}")
    assert world["version"] in page.inner_text("#active")
    sources = page.inner_text("#sources")
    assert "this version" in sources and "ACTIVE" in sources and "ae_recall" in sources
    rows = page.locator("#sources tr").count()
    assert rows >= 3 and "not in" not in sources  # same sources on both sides: every cell filled
    assert page.locator("#metrics tr").count() > 3 and "n/a" not in page.inner_text("#metrics")
    page.goto(f"{console_url}/approvals/{world['version']}")
    assert "This is the ACTIVE version" in page.inner_text("#active")
    response = page.goto(f"{console_url}/approvals/{version}/report")
    assert response.status == 200 and f"VR-{version}-" in page.content()
    generated = [d for actor, action, subject, d in audit_actions(version) if action == "report_generated"]
    assert generated[-1]["file"] == "review console" and generated[-1]["printed_name"] == "Quinn Quality (DEMO ONLY)"


def test_a_suspension_is_lifted_in_the_browser_and_refused_without_the_lift_role(
    world: dict, console_url: str, page: object
) -> None:
    from gxp_assets.governance.suspension import LIFTED, SUSPENDED, standing_suspension
    from gxp_assets.stores import audit_trail

    version = world["version"]
    if standing_suspension(audit_trail().entries(), version) is None:  # the demo's drifted batch may have left one
        audit_trail().append("system", SUSPENDED, version, {"reason": "auto_close_suspended: score_psi 0.4 > 0.2",
                                                            "batch": "drifted-batch"})  # fmt: skip
    standing = standing_suspension(audit_trail().entries(), version)
    assert standing is not None
    log_in(page, console_url, "alice", secret(world))  # data_scientist: may look, may not lift
    page.goto(f"{console_url}/monitoring")
    assert standing.reason in page.inner_text(".standing") and page.locator(".standing form").count() == 0
    token = page.locator("form[action='/logout'] input[name=csrf]").get_attribute("value")
    form = {"csrf": token, "reason": "looks fine to me", "passphrase": secret(world)}
    forged = page.request.post(f"{console_url}/monitoring/suspensions/{version}/lift", form=form)
    assert forged.status == 403 and "missing_role" in forged.text()
    assert standing_suspension(audit_trail().entries(), version) is not None
    refusals = [d for actor, action, _, d in audit_actions(version) if action == "refusal" and actor == "alice"]
    assert refusals[-1]["code"] == "missing_role"
    page.click("form[action='/logout'] button")
    log_in(page, console_url, "petra", secret(world))
    page.goto(f"{console_url}/monitoring")

    def lift(passphrase: str) -> None:
        page.fill(".standing input[name=reason]", "batch was mislabelled; channel fixed")
        page.fill(".standing input[name=passphrase]", passphrase)
        page.click(".standing form button")

    lift("not my passphrase")
    assert "wrong_passphrase" in page.inner_text("#message")
    assert standing_suspension(audit_trail().entries(), version) is not None
    lift(secret(world))
    assert page.inner_text("#manifestation").startswith("Signed by Petra Physician (DEMO ONLY) (petra) on ")
    assert standing_suspension(audit_trail().entries(), version) is None
    assert "no suspension stands" in page.inner_text("#standing")
    lifted = page.locator("#suspensions tr").nth(1).inner_text()
    assert "lifted" in lifted and "Petra Physician (DEMO ONLY) (petra)" in lifted
    assert [a for _, a, _, _ in audit_actions(version)][-1] == LIFTED


def test_a_reviewers_and_an_approvers_day_are_in_the_audit_trail_with_printed_names(
    world: dict, console_url: str, page: object
) -> None:
    from gxp_assets.stores import audit_trail, open_governance

    start = len(audit_trail().entries())
    version = register_recalibrated(open_governance(), world["version"], trainer="dave").version
    log_in(page, console_url, "petra", secret(world))
    report_id = page.locator("#queue a").first.inner_text()
    page.locator("#queue a").first.click()
    page.check("input[value=not_ae]")
    page.fill("input[name=reason]", "no adverse event in the text")
    page.click("form[action$='/adjudicate'] button")
    page.click("form[action='/logout'] button")
    log_in(page, console_url, "quinn", secret(world))
    page.goto(f"{console_url}/approvals")
    page.click(f"a[href='/approvals/{version}']")
    page.goto(f"{console_url}/approvals/{version}/report")
    page.goto(f"{console_url}/approvals/{version}")
    page.select_option("select[name=meaning]", "review")
    page.fill("input[name=reason]", "validation report reviewed")
    page.fill("input[name=passphrase]", secret(world))
    page.click("form[action$='/sign'] button")
    page.click("form[action='/logout'] button")

    names = {"petra": "Petra Physician (DEMO ONLY)", "quinn": "Quinn Quality (DEMO ONLY)"}
    day = [e for e in audit_trail().entries()[start:] if e.actor in names]
    expected = [("petra", "console_login", "console"), ("petra", "adjudication", report_id),
                ("petra", "console_logout", "console"), ("quinn", "console_login", "console"),
                ("quinn", "report_generated", version), ("quinn", "signature", version),
                ("quinn", "console_logout", "console")]  # fmt: skip
    assert [(e.actor, e.action, e.subject) for e in day] == expected
    for entry in day:
        shown = entry.details.get("printed_name") or entry.details.get("manifestation", "")
        assert names[entry.actor] in shown, entry
        at = datetime.fromisoformat(entry.recorded_at)
        assert at.utcoffset() is not None and at.utcoffset().total_seconds() == 0, entry.recorded_at


def test_a_rollback_is_signed_in_the_browser_and_refused_without_an_approver_role(
    world: dict, console_url: str, page: object
) -> None:
    """Last in the module: it changes which version is ACTIVE."""
    from gxp_assets.stores import open_governance

    approved = next(m.version for m in open_governance().registry.versions() if m.state == "APPROVED")
    promoted = run_gxp("promote", approved, env=world["env"])  # the version the approvers test signed
    assert promoted.returncode == 0, promoted.stderr[-2000:]
    old = world["version"]
    assert open_governance().registry.get(old).state == "RETIRED"
    log_in(page, console_url, "alice", secret(world))
    assert page.url.endswith("/monitoring")  # neither reviewer nor approver: what any role may open
    token = page.locator("form[action='/logout'] input[name=csrf]").get_attribute("value")
    form = {"csrf": token, "reason": "I prefer the old one", "passphrase": secret(world)}
    refused = page.request.post(f"{console_url}/approvals/{old}/rollback", form=form)
    assert refused.status == 403 and "needs one of" in refused.text()  # not an approver: refused before signing
    page.click("form[action='/logout'] button")
    log_in(page, console_url, "quinn", secret(world))
    page.goto(f"{console_url}/approvals/{old}")
    page.fill("#rollback input[name=reason]", "new version misbehaves on call-centre notes")
    page.fill("#rollback input[name=passphrase]", "wrong passphrase")
    page.click("#rollback button")
    assert "wrong_passphrase" in page.inner_text("#message") and page.inner_text("#state") == "RETIRED"
    page.fill("#rollback input[name=reason]", "new version misbehaves on call-centre notes")
    page.fill("#rollback input[name=passphrase]", secret(world))
    page.click("#rollback button")
    assert page.inner_text("#state") == "ACTIVE"
    assert page.inner_text("#manifestation").startswith("Signed by Quinn Quality (DEMO ONLY) (quinn) on ")
    registry = open_governance().registry
    assert registry.get(old).state == "ACTIVE" and registry.get(approved).state == "RETIRED"
    assert any(t.reason.startswith("rollback: new version misbehaves") for t in registry.history(old))
