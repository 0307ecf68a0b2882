"""What counts as a usable secret: the one check behind ``vigil run``, ``vigil config check``
and ``vigil replay`` (:meth:`streams.settings.VigilSettings.secret_problems`).

A pseudonym is only as strong as its key: with a guessable key every NHS number can be
recovered by trying all of them (about 10^9 HMACs, minutes on one core). So in production
mode the key must be long, not a shipped value (the demo key, the example Secret's and the
compose file's placeholders) and not an obviously patterned string; bearer tokens must carry
at least 128 bits. In demo mode only the pseudonymiser's own minimum (16 bytes) applies, so
that a short key fails the same way in every command instead of crashing one of them.

>>> key_problem("VIGIL_HMAC_KEY", "short", production=False)
'VIGIL_HMAC_KEY is shorter than 16 bytes'
>>> key_problem("VIGIL_HMAC_KEY", "a" * 40, production=True)
'VIGIL_HMAC_KEY is a repeated pattern, not a random key (use e.g. openssl rand -hex 32)'
>>> key_problem("VIGIL_HMAC_KEY", "3f9c1be07a4d2856e1c9f03b7a6d4e28", production=True) is None
True
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

DEMO_HMAC_KEY = "vigil-DEMO-ONLY-key-never-use-with-real-data"
"""A fixed pseudonymisation key for the demo's synthetic data ONLY (``vigil demo``); refused
in production mode. Real deployments set their own secret ``VIGIL_HMAC_KEY``."""

MIN_KEY_BYTES = 16
"""The pseudonymiser's floor, in every mode."""
MIN_PRODUCTION_KEY_BYTES = 32
"""The key length production mode asks for (``openssl rand -hex 32`` gives 64)."""
MIN_TOKEN_BITS = 128
"""Least estimated strength of an API bearer token in production mode."""

_PLACEHOLDER_MARKS = ("replace-me", "replace_me", "changeme", "change-me", "change_me",
                      "placeholder", "example", "demo-only", "your-secret", "secret-here")
"""Substrings of the values shipped in ``deploy/k8s/secret.example.yaml``, the README and
the demo: a value containing one was copied, not generated."""
_DEFAULT_PASSWORDS = frozenset({"vigil", "postgres", "password", "admin", "secret", "test",
                                "changeme"})
"""Database passwords that are somebody's default (the compose file used ``vigil``)."""


def is_placeholder(value: str) -> bool:
    """Whether ``value`` is (or contains) a shipped placeholder or the demo key.

    >>> is_placeholder("REPLACE-ME-with-32-random-bytes-as-hex"), is_placeholder("k" * 3)
    (True, False)
    """
    lowered = value.lower()
    return value == DEMO_HMAC_KEY or any(mark in lowered for mark in _PLACEHOLDER_MARKS)


def _periodic(value: str) -> bool:
    """Whether ``value`` is a shorter string repeated (``abcabcabc``).

    >>> _periodic("abab"), _periodic("abca")
    (True, False)
    """
    return len(value) > 1 and (value + value).find(value, 1) < len(value)


def estimated_bits(value: str) -> float:
    """Length × log2 of the alphabet its character classes span: an upper bound on a
    random string's strength, used to refuse strings that cannot reach a floor.

    >>> round(estimated_bits("0123456789abcdef" * 2))
    165
    >>> estimated_bits("")
    0.0
    """
    pool = 0
    pool += 10 if any(c.isdigit() for c in value) else 0
    pool += 26 if any(c.islower() for c in value) else 0
    pool += 26 if any(c.isupper() for c in value) else 0
    pool += 33 if any(not c.isalnum() for c in value) else 0
    return len(value) * math.log2(pool) if pool else 0.0


def _low_entropy(value: str) -> str | None:
    if _periodic(value):
        return "is a repeated pattern, not a random key (use e.g. openssl rand -hex 32)"
    if len(set(value)) < 8:
        return "uses fewer than 8 distinct characters, not a random key"
    return None


def key_problem(name: str, value: str, *, production: bool) -> str | None:
    """Why the pseudonymisation key ``value`` (setting ``name``) is refused, or ``None``."""
    size = len(value.encode())
    if size < MIN_KEY_BYTES:
        return f"{name} is shorter than {MIN_KEY_BYTES} bytes"
    if not production:
        return None
    if value == DEMO_HMAC_KEY:
        return f"{name} is the DEMO-ONLY key; set VIGIL_MODE=demo or generate a real key"
    if is_placeholder(value):
        return f"{name} is a placeholder from the examples; generate a real key"
    if size < MIN_PRODUCTION_KEY_BYTES:
        return (f"{name} is shorter than {MIN_PRODUCTION_KEY_BYTES} bytes (production mode; "
                "use e.g. openssl rand -hex 32)")
    weakness = _low_entropy(value)
    return f"{name} {weakness}" if weakness else None


def token_problem(name: str, token: str, *, production: bool) -> str | None:
    """Why the API bearer ``token`` is refused, or ``None``; the token is never echoed.

    >>> token_problem("VIGIL_API_TOKENS", "t1", production=True)
    'VIGIL_API_TOKENS: a token is below 128 bits (use e.g. openssl rand -hex 32)'
    >>> token_problem("VIGIL_API_TOKENS", "t1", production=False) is None
    True
    """
    if not production:
        return None
    if is_placeholder(token):
        return f"{name}: a token is a placeholder from the examples"
    if estimated_bits(token) < MIN_TOKEN_BITS:
        return f"{name}: a token is below {MIN_TOKEN_BITS} bits (use e.g. openssl rand -hex 32)"
    weakness = _low_entropy(token)
    return f"{name}: a token {weakness.removesuffix(' (use e.g. openssl rand -hex 32)')}" \
        if weakness else None


def database_url_problem(name: str, url: str, *, production: bool) -> str | None:
    """Why the password inside a database URL is refused, or ``None``.

    >>> database_url_problem("VIGIL_ESCALATION_LOG", "postgresql://vigil:vigil@db/vigil",
    ...                      production=True)
    'VIGIL_ESCALATION_LOG: the database password is a default or placeholder'
    """
    if not production:
        return None
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    if password is not None and (password.lower() in _DEFAULT_PASSWORDS
                                 or is_placeholder(password)):
        return f"{name}: the database password is a default or placeholder"
    return None


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, for printing.

    >>> mask_url("postgresql://user:s3cret@host:5432/db?sslmode=require")
    'postgresql://user:***@host:5432/db?sslmode=require'
    >>> mask_url("sqlite:///vigil-escalation.db")
    'sqlite:///vigil-escalation.db'
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()
