"""Who may read the dashboard's JSON, and the headers every dashboard response carries.

The JSON (open cases with named clinicians' preliminary outlier status, notes, principals)
is behind the same bearer tokens as the escalation HTTP API (``VIGIL_API_TOKENS``,
``token:role:name,...``): any role that may read there may read here. The static page
itself holds no data and loads without a token; its script sends the token it was given
(``/dashboard/#token=…``, kept in ``sessionStorage``) as ``Authorization: Bearer``.

With no tokens configured the JSON answers 401 to everyone: a dashboard is never open by
default.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

READ_ROLES = ("operator", "auditor")
"""Roles whose tokens may read (the escalation API's two roles: both read)."""

SECURITY_HEADERS: Mapping[str, str] = {
    # No inline script or style anywhere: the page is one HTML file, app.js and app.css.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The token travels in the URL fragment once; no referrer ever carries a URL away.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""Sent with every dashboard response, pages and JSON alike."""

HEADER_TIMEOUT = 10.0
"""Seconds a connection may take to send a complete request head (request line and
headers) before the worker's web server drops it, so half-sent requests cannot pile up."""


def reader(authorization: str | None, principals: Mapping[str, tuple[str, str]]) -> str | None:
    """The name of the principal whose bearer token is in the ``Authorization`` header
    value, if its role may read; else ``None``.

    ``principals`` is :meth:`VigilSettings.api_principals` (token → (role, name)). Every
    token is compared in constant time, so timing does not reveal a prefix.

    >>> table = {"t-operator": ("operator", "Dr A"), "t-auditor": ("auditor", "CQC")}
    >>> reader("Bearer t-auditor", table), reader("bearer t-operator", table)
    ('CQC', 'Dr A')
    >>> reader("Bearer t-audito", table), reader("Basic t-auditor", table), reader(None, table)
    (None, None, None)
    """
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    found = None
    for known, (role, name) in principals.items():
        if hmac.compare_digest(known.encode(), token.encode()) and role in READ_ROLES:
            found = name
    return found
