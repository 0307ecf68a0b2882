"""The case API: read cases, and let people act on them.

Bearer tokens carry one of two roles: an ``operator`` may read and act, an ``auditor`` may
only read. No or unknown token → 401; an auditor acting → 403; an action the case cannot
take now → 409 with the reason. Who acted is the token's principal, never a field of the
request, so the log's record of who did what cannot be claimed by the caller.

    GET  /cases[?status=open|awaiting_signoff|monitoring|closed|active&entity_id=…]
    GET  /cases/{id}                      the case and its log history
    POST /cases/{id}/ack|respond|confirm|withdraw|signoff|note   {"note": "...", "details": {…}}
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from notifiers.case_decisions import CaseActionError
from notifiers.engine import EscalationEngine, UnknownCase
from notifiers.log.chain import rfc3339

ROLES = ("operator", "auditor")
ROUTE_ACTIONS = {"ack": "acknowledge", "respond": "respond", "confirm": "confirm",
                 "withdraw": "withdraw", "signoff": "signoff", "note": "note",
                 "screen-out": "screen_out"}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who holds a token: a name for the log and a role."""

    name: str
    role: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {self.role!r}")


ENGINE = web.AppKey("engine", EscalationEngine)
TOKENS = web.AppKey("tokens", dict)
ON_CHANGE = web.AppKey("on_change", object)


def principal_for(tokens: Mapping[str, Principal], token: str) -> Principal | None:
    """Who holds ``token`` in ``tokens``, or None: the one lookup behind the API and the
    ``vigil case`` command line.

    >>> principal_for({"t-1": Principal("Dr A", "operator")}, "t-1")
    Principal(name='Dr A', role='operator')
    >>> principal_for({"t-1": Principal("Dr A", "operator")}, "t-2") is None
    True
    """
    found = None
    for known, principal in tokens.items():
        # Compare every token in constant time so timing does not reveal a prefix.
        if hmac.compare_digest(known.encode(), token.encode()):
            found = principal
    return found


def principals_from(table: Mapping[str, tuple[str, str]]) -> dict[str, Principal]:
    """Token → :class:`Principal` from ``VigilSettings.api_principals()`` (role, name).

    >>> principals_from({"t-1": ("auditor", "CQC")})
    {'t-1': Principal(name='CQC', role='auditor')}
    """
    return {token: Principal(name, role) for token, (role, name) in table.items()}


def _principal(request: web.Request) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise web.HTTPUnauthorized(text='{"error": "bearer token required"}',
                                   content_type="application/json",
                                   headers={"WWW-Authenticate": "Bearer"})
    tokens: dict[str, Principal] = request.app[TOKENS]
    found = principal_for(tokens, token)
    if found is None:
        raise web.HTTPUnauthorized(text='{"error": "unknown token"}',
                                   content_type="application/json",
                                   headers={"WWW-Authenticate": "Bearer"})
    return found


def _error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=web.json_response({"error": message}).text,
                  content_type="application/json")


def _entry(entry: Any) -> dict[str, Any]:
    return {"seq": entry.seq, "at": rfc3339(entry.at), "kind": entry.kind,
            "payload": entry.payload, "hash": entry.hash}


async def list_cases(request: web.Request) -> web.Response:
    _principal(request)
    engine = request.app[ENGINE]
    engine.refresh()
    status = request.query.get("status")
    if status not in (None, "open", "awaiting_signoff", "monitoring", "closed", "active"):
        raise _error(web.HTTPBadRequest, f"unknown status {status!r}")
    cases = engine.cases(status=status, entity_id=request.query.get("entity_id"))
    return web.json_response({"cases": [case.to_dict() for case in cases]})


async def show_case(request: web.Request) -> web.Response:
    _principal(request)
    engine = request.app[ENGINE]
    engine.refresh()
    try:
        case = engine.case(request.match_info["case_id"])
    except UnknownCase:
        raise _error(web.HTTPNotFound, "no such case") from None
    history = [_entry(e) for e in engine.history(case.case_id)]
    return web.json_response({"case": case.to_dict(), "history": history})


class ActionRefused(Exception):
    """An action the API refuses, with its HTTP status and reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def apply_action(engine: EscalationEngine | None, principal: Principal, case_id: str,
                 route: str, body: Any) -> dict[str, Any]:
    """A person's action on a case, as ``POST /cases/{id}/{route}`` with JSON ``body``
    takes it: the one path behind this API and the dashboard's buttons. Who acted is
    ``principal``, never a field of ``body``. Returns the case and the entries logged;
    raises :class:`ActionRefused` (400 bad body, 403 read-only token, 404 unknown case,
    409 an action the case cannot take now, e.g. the four-eyes rule, 503 no log to act on:
    ``engine`` is ``None``).

    >>> from notifiers.log.escalation_log import open_log
    >>> engine = EscalationEngine(open_log("memory://"), None)
    >>> try:
    ...     apply_action(engine, Principal("CQC", "auditor"), "c-1", "ack", {})
    ... except ActionRefused as refused:
    ...     print(refused.status, refused.message)
    403 this token may read but not act
    """
    if principal.role != "operator":
        raise ActionRefused(403, "this token may read but not act")
    action = ROUTE_ACTIONS.get(route)
    if action is None:
        raise ActionRefused(404, f"unknown action {route!r}")
    body = {} if body is None else body
    if not isinstance(body, dict):
        raise ActionRefused(400, "the body must be a JSON object")
    note, details = body.get("note"), body.get("details") or {}
    if (note is not None and not isinstance(note, str)) or not isinstance(details, dict):
        raise ActionRefused(400, "note must be a string and details an object")
    if engine is None:
        raise ActionRefused(503, "no escalation log yet")
    try:
        entries = engine.act(case_id, action, by=principal.name, note=note, details=details)
    except UnknownCase:
        raise ActionRefused(404, "no such case") from None
    except CaseActionError as error:
        raise ActionRefused(409, str(error)) from None
    return {"case": engine.case(case_id).to_dict(), "logged": [_entry(e) for e in entries]}


REFUSALS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
    409: web.HTTPConflict, 503: web.HTTPServiceUnavailable}


async def act(request: web.Request) -> web.Response:
    principal = _principal(request)
    body: Any = {}
    if principal.role == "operator" and request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            raise _error(web.HTTPBadRequest, "the body must be JSON") from None
    try:
        done = apply_action(request.app[ENGINE], principal, request.match_info["case_id"],
                            request.match_info["action"], body)
    except ActionRefused as refused:
        raise _error(REFUSALS[refused.status], refused.message) from None
    on_change = request.app[ON_CHANGE]
    if callable(on_change):
        on_change()
    return web.json_response(done)


def make_app(engine: EscalationEngine, tokens: Mapping[str, Principal | str], *,
             on_change: Callable[[], None] | None = None) -> web.Application:
    """The aiohttp application.

    ``tokens`` maps each bearer token to a :class:`Principal` (or just a role, in which
    case the role is also the name logged). ``on_change`` is called after every accepted
    action, e.g. to wake the dispatcher for notifications the action requested.
    """
    app = web.Application()
    app[ENGINE] = engine
    app[TOKENS] = {token: p if isinstance(p, Principal) else Principal(p, p)
                   for token, p in tokens.items()}
    app[ON_CHANGE] = on_change
    app.router.add_get("/cases", list_cases)
    app.router.add_get("/cases/{case_id}", show_case)
    app.router.add_post("/cases/{case_id}/{action:" + "|".join(ROUTE_ACTIONS) + "}", act)
    return app
