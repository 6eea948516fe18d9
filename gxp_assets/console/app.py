"""The console's routes: login and logout, the reviewer's queue and reports, the approver's inbox and signing.

Handlers are thin: who may do what is checked in ``web``, the work is done by the functions the CLI and the
Dagster assets use (results store, core.adjudications, governance). Blocking work runs in Starlette's thread pool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from gxp_assets.console import approving, monitoring, reviewing
from gxp_assets.console.auth import Sessions, Throttle
from gxp_assets.console.trust import DEFAULT_MAX_AGE_S, VerifiedResults
from gxp_assets.console.web import (
    Console,
    Denied,
    checked_form,
    console,
    denied_response,
    person,
    render,
    session_of,
    set_session_cookie,
)
from gxp_assets.governance.service import ActionRefused
from gxp_assets.governance.signatures import Meaning, SignatureRefused
from gxp_assets.governance.signing_as import prove_identity
from gxp_assets.stores import open_governance, results_store, verified_results
from gxp_assets.stores.results_integrity import ResultsIntegrityError
from gxp_assets.stores.results_protocol import ResultsStore

Endpoint = Callable[[Request], Awaitable[Response]]
REVIEWER_ROLES = ("pv_physician",)
ANY_ROLE = None
LOGIN_SUBJECT = "console login"
#: The validation report is a self-contained page: its own style sheet and plots as data: images, nothing else.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
#: Failed logins: 5 per user id in 15 minutes, 30 per client address (many people may share one proxy).
USER_THROTTLE, CLIENT_THROTTLE = Throttle(limit=5), Throttle(limit=30)


def _guarded(handler: Endpoint) -> Endpoint:
    """Turn a refusal into its page: a 303 to /login when nobody is in, else 403 with the reason."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except Denied as error:
            return denied_response(request, error)
        except ResultsIntegrityError as error:  # never answer from an index that does not match the audit trail
            return render(request, "error.html", status=503, title="Results cannot be trusted", message=str(error))

    endpoint.__name__ = handler.__name__
    return endpoint


async def login_page(request: Request, message: str = "", status: int = 200) -> Response:
    session = session_of(request)
    cookie = None
    if session is None:
        session, cookie = console(request).sessions.new(None)
    response = render(request, "login.html", status=status, message=message, csrf_token=session.csrf)
    if cookie:
        set_session_cookie(response, request, cookie)
    return response


async def login(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return await login_page(request, "your session expired: please try again", 403)
    form = await checked_form(request, session)
    user_id, secret = form.get("user_id", "").strip(), form.get("passphrase", "")
    client = request.client.host if request.client else "?"
    governance = open_governance()
    if USER_THROTTLE.blocked(user_id) or CLIENT_THROTTLE.blocked(client):
        governance.refuse(user_id or "-", LOGIN_SUBJECT, "throttled", "too many failed logins; wait and try again")
        return await login_page(request, "too many failed logins: wait 15 minutes and try again", 429)
    key_path = console(request).key_folder / f"{user_id}.pem"
    try:
        if not user_id or "/" in user_id or not key_path.is_file():
            governance.refuse(user_id or "-", LOGIN_SUBJECT, "unknown_user", "no key for this user id on the server")
            raise SignatureRefused("unknown_user", "unknown user id or wrong passphrase")
        entry = await run_in_threadpool(prove_identity, governance, user_id, key_path.read_bytes(), secret,
                                        LOGIN_SUBJECT)  # fmt: skip
    except SignatureRefused:
        USER_THROTTLE.failed(user_id)
        CLIENT_THROTTLE.failed(client)
        return await login_page(request, "unknown user id or wrong passphrase", 401)
    governance.audit.append(entry.user_id, "console_login", "console", {"printed_name": entry.printed_name})
    _, cookie = console(request).sessions.new(entry.user_id)  # a fresh session and CSRF token after login
    roles = set(entry.roles)
    home = ("/queue" if set(REVIEWER_ROLES) & roles else "/approvals" if approving.approver_roles(governance) & roles
            else "/monitoring")  # fmt: skip
    response = RedirectResponse(home, status_code=303)
    set_session_cookie(response, request, cookie)
    return response


async def logout(request: Request) -> Response:
    who = person(request, ANY_ROLE)
    await checked_form(request, who.session)
    who.governance.audit.append(who.user_id, "console_logout", "console", {"printed_name": who.entry.printed_name})
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie("gxp_session")
    return response


async def home(request: Request) -> Response:
    person(request, ANY_ROLE)
    return RedirectResponse("/queue", status_code=303)


async def queue(request: Request) -> Response:
    who = person(request, REVIEWER_ROLES)
    try:
        chosen = reviewing.QueueChoice.from_query(request.query_params)
    except ValueError as error:
        return render(request, "error.html", status=400, who=who, title="Bad filter", message=str(error))
    now = datetime.now(UTC)
    results = trusted_results(request)
    page = await run_in_threadpool(reviewing.queue_page, results, chosen, now)
    batches = [summary.batch for summary in await run_in_threadpool(results.batches, chosen.use_case or None)]
    return render(request, "queue.html", who=who, rows=page.rows.to_dict("records"), page=page, chosen=chosen,
                  batches=batches, now=now)  # fmt: skip


async def report(request: Request, message: str = "", status: int = 200, use_case: str | None = None) -> Response:
    """A report's latest scoring, in the use case asked for (``?use_case=``, or the adjudication form's)."""
    who = person(request, REVIEWER_ROLES)
    report_id = request.path_params["report_id"]
    results = trusted_results(request)
    scoring = await run_in_threadpool(reviewing.latest_scoring, results, report_id, use_case or _use_case(request))
    if scoring is None:
        return render(request, "error.html", status=404, who=who, title="Not found", message=f"no report {report_id}")
    model = who.governance.registry.get(str(scoring["model_version"]))
    words = reviewing.explanation(scoring)
    return render(request, "report.html", status=status, who=who, s=scoring, words=words, model=model,
                  pieces=reviewing.highlighted(str(scoring["text"]), words), message=message)  # fmt: skip


async def adjudicate(request: Request) -> Response:
    who = person(request, REVIEWER_ROLES)
    form = await checked_form(request, who.session)
    report_id = request.path_params["report_id"]
    label = {"ae": 1, "not_ae": 0}.get(form.get("verdict", ""), -1)
    use_case = form.get("use_case", "").strip() or None  # the use case of the scoring the form was shown with
    why = await run_in_threadpool(reviewing.adjudicate, trusted_results(request), who.governance, report_id, label,
                                  form.get("reason", ""), who.user_id, datetime.now(UTC), use_case)  # fmt: skip
    if why is not None:
        return await report(request, f"not recorded: {why}", 400, use_case)
    return render(request, "done.html", who=who, title="Adjudication recorded",
                  message=f"{report_id}: {'AE' if label else 'not AE'}, recorded by {who.entry.printed_name} "
                          f"at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC", back="/queue")  # fmt: skip


async def inbox(request: Request) -> Response:
    governance = open_governance()
    who = person(request, approving.approver_roles(governance))
    return render(request, "inbox.html", who=who, versions=approving.awaiting(governance),
                  others=governance.registry.versions())  # fmt: skip


async def version_page(request: Request, message: str = "", status: int = 200, manifestation: str = "") -> Response:
    governance = open_governance()
    who = person(request, approving.approver_roles(governance))
    model = governance.registry.get(request.path_params["version"])
    if model is None:
        return render(request, "error.html", status=404, who=who, title="Not found", message="no such model version")
    active = governance.registry.active(model.record["use_case"])
    status_now = governance.approval_status(model.version) if model.state == "PENDING_APPROVAL" else None
    from gxp_assets.cli.views import approval_rows

    return render(request, "version.html", status=status, who=who, model=model, active=active,
                  comparison=approving.compare(model, active), approval=status_now, message=message,
                  manifestation=manifestation, signatures=approval_rows(governance, model.version),
                  meanings=[m.value for m in approving.SIGN_MEANINGS], figures=approving.SOURCE_FIGURES)  # fmt: skip


async def validation_report(request: Request) -> Response:
    """The validation report, generated now by the person looking (the same document as `gxp report`), audited."""
    governance = open_governance()
    who = person(request, approving.approver_roles(governance))
    version = request.path_params["version"]
    if governance.registry.get(version) is None:
        return render(request, "error.html", status=404, who=who, title="Not found", message="no such model version")
    document = await run_in_threadpool(approving.validation_report, governance, version, who.user_id)
    response = HTMLResponse(document.page)
    response.headers["Content-Security-Policy"] = REPORT_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


async def sign(request: Request) -> Response:
    governance = open_governance()
    who = person(request, approving.approver_roles(governance))
    form = await checked_form(request, who.session)
    version = request.path_params["version"]
    rollback = request.url.path.endswith("/rollback")  # a rollback signs an approval, as `gxp rollback`
    try:
        meaning = Meaning.APPROVAL if rollback else Meaning(form.get("meaning", ""))
        if meaning not in approving.SIGN_MEANINGS:
            raise ValueError(meaning)
    except ValueError:
        return await version_page(request, "refused: choose approval, review or rejection", 400)
    try:
        model, signature = await run_in_threadpool(
            approving.sign_version, governance, version, who.user_id, console(request).key_folder,
            form.get("passphrase", ""), meaning, form.get("reason", "").strip(), rollback)  # fmt: skip
    except (SignatureRefused, ActionRefused) as refusal:
        return await version_page(request, f"refused ({refusal.code}): {refusal}", 403)
    except (LookupError, ValueError) as error:
        return await version_page(request, f"refused: {error}", 400)
    return await version_page(request, f"signed; model {version} is now {model.state}",
                              manifestation=signature.manifestation())  # fmt: skip


async def monitoring_page(request: Request, message: str = "", status: int = 200, manifestation: str = "") -> Response:
    who = person(request, ANY_ROLE)
    chosen = _use_case(request)  # one use case's events, against its plan's limits (default: the default plan's)
    governance = open_governance(use_case=chosen) if chosen else who.governance
    view = await run_in_threadpool(monitoring.monitoring_view, trusted_results(request), governance, who.user_id)
    return render(request, "monitoring.html", status=status, who=who, title="Monitoring", message=message,
                  manifestation=manifestation, **view)  # fmt: skip


async def lift_suspension(request: Request) -> Response:
    """Lift a suspension of auto-close: the passphrase is asked again and the lift signed and checked as by
    `gxp suspension lift`; anyone logged in may try, and governance refuses (audited) who lacks the lift role."""
    who = person(request, ANY_ROLE)
    form = await checked_form(request, who.session)
    version, reason = request.path_params["version"], form.get("reason", "").strip()
    if not reason:
        return await monitoring_page(request, "refused: a lift needs a reason", 400)
    try:
        secret, keys = form.get("passphrase", ""), console(request).key_folder
        _, signature = await run_in_threadpool(monitoring.lift, who.governance, version, who.user_id, keys, secret,
                                               reason)  # fmt: skip
    except (SignatureRefused, ActionRefused) as refusal:
        return await monitoring_page(request, f"refused ({refusal.code}): {refusal}", 403)
    except LookupError as error:
        return await monitoring_page(request, f"refused: {error}", 400)
    return await monitoring_page(request, f"the suspension of auto-close for model {version} is lifted",
                                 manifestation=signature.manifestation())  # fmt: skip


def _use_case(request: Request) -> str | None:
    """The use case a page was asked for (``?use_case=``), or None."""
    return request.query_params.get("use_case", "").strip() or None


def trusted_results(request: Request) -> ResultsStore:
    gate: VerifiedResults = request.app.state.results
    return gate()


def create_app(
    key_folder: Path, secret: str, session_minutes: int = 30, secure_cookie: bool = False,
    verify_seconds: float = DEFAULT_MAX_AGE_S,
) -> Starlette:  # fmt: skip
    routes = [
        Route("/", _guarded(home)),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", _guarded(login), methods=["POST"]),
        Route("/logout", _guarded(logout), methods=["POST"]),
        Route("/queue", _guarded(queue)),
        Route("/reports/{report_id:path}/adjudicate", _guarded(adjudicate), methods=["POST"]),
        Route("/reports/{report_id:path}", _guarded(report)),
        Route("/approvals", _guarded(inbox)),
        Route("/approvals/{version}/sign", _guarded(sign), methods=["POST"]),
        Route("/approvals/{version}/report", _guarded(validation_report)),
        Route("/approvals/{version}/rollback", _guarded(sign), methods=["POST"]),
        Route("/approvals/{version}", _guarded(version_page)),
        Route("/monitoring", _guarded(monitoring_page)),
        Route("/monitoring/suspensions/{version}/lift", _guarded(lift_suspension), methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.results = VerifiedResults(results_store, verified_results, verify_seconds)
    app.state.console = Console(Sessions(secret, session_minutes * 60), key_folder, secure_cookie)
    return app
