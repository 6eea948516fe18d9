"""What every console page shares: the templates (autoescaped), the session of a request, role checks, forms.

Every page and action goes through ``person`` (logged in, still in the roles file, holding one of the roles the page
needs) and every form through ``checked_form`` (the session's CSRF token), so no handler can forget either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gxp_assets.cli.common import TIME_FORMAT, number, utc_time
from gxp_assets.console.auth import CSRF_FIELD, SESSION_COOKIE, Session, Sessions
from gxp_assets.governance.roles import RoleEntry
from gxp_assets.governance.service import Governance
from gxp_assets.stores import open_governance

#: No inline script can run, even if escaping were ever missed; the one inline style sheet is allowed.
CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),  # report text is untrusted input
)
TEMPLATES.filters.update(utc=utc_time, number=number)
TEMPLATES.globals.update(csrf_field=CSRF_FIELD, time_format=TIME_FORMAT)


@dataclass(frozen=True)
class Console:
    """The server's settings: how sessions are signed and where private keys are kept."""

    sessions: Sessions
    key_folder: Path
    secure_cookie: bool = False


class Denied(Exception):
    """A page or action the person may not use; becomes a 403 page (or a redirect to login when nobody is in)."""

    def __init__(self, message: str, login: bool = False) -> None:
        super().__init__(message)
        self.login = login


@dataclass(frozen=True)
class Person:
    entry: RoleEntry
    session: Session
    governance: Governance

    @property
    def user_id(self) -> str:
        return self.entry.user_id


def console(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


def session_of(request: Request) -> Session | None:
    return console(request).sessions.read(request.cookies.get(SESSION_COOKIE))


def person(request: Request, roles: Iterable[str] | None) -> Person:
    """The logged-in person, checked against the roles file in force now (a removed person loses access at once);
    ``roles``: one of them is needed (None: any role)."""
    session = session_of(request)
    if session is None or session.user_id is None:
        raise Denied("please log in", login=True)
    governance = open_governance()
    entry = governance.roles.user(session.user_id)
    if entry is None:
        raise Denied(f"{session.user_id} is no longer in the roles file", login=True)
    needed = set(roles) if roles is not None else None
    if needed is not None and not needed & set(entry.roles):
        message = f"{entry.user_id} holds {', '.join(entry.roles)}; this needs one of {', '.join(sorted(needed))}"
        governance.audit.append(entry.user_id, "refusal", "console", {"code": "missing_role", "message": message,
                                                                      "path": request.url.path})  # fmt: skip
        raise Denied(message)
    return Person(entry, session, governance)


async def checked_form(request: Request, session: Session) -> dict[str, str]:
    """The form's fields, once its CSRF token matches the session's; a forged form is refused."""
    # The console's forms are urlencoded; parsed here so that no multipart parser is needed.
    fields = parse_qs((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True)
    form = {key: values[0] for key, values in fields.items()}
    if not session.csrf_ok(form.get(CSRF_FIELD)):
        raise Denied("the form's CSRF token is missing or wrong: reload the page and try again")
    return form


def render(request: Request, template: str, status: int = 200, who: Person | None = None, **context: Any) -> Response:
    session = who.session if who is not None else session_of(request)
    page = TEMPLATES.get_template(template).render(request=request, person=who, csrf=session.csrf if session else "",
                                                   **context)  # fmt: skip
    response = HTMLResponse(page, status_code=status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def denied_response(request: Request, error: Denied) -> Response:
    if error.login:
        return RedirectResponse("/login", status_code=303)
    return render(request, "error.html", status=403, title="Refused", message=str(error))


def set_session_cookie(response: Response, request: Request, cookie: str) -> None:
    settings = console(request)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=settings.sessions.max_age_s, httponly=True,
                        samesite="strict", secure=settings.secure_cookie)  # fmt: skip
