"""Pseudonymisation of patient identifiers at ingest (keyed HMAC).

The NHS number is personal data: it is validated, then replaced by a keyed hash before
anything is stored, logged or sent. Without the key the pseudonym cannot be reversed or
recomputed from a guessed NHS number.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from typing import Any

from streams.contract import identifiers


class Pseudonymiser:
    """Keyed HMAC-SHA256 pseudonyms.

    >>> p = Pseudonymiser(b"k" * 32)
    >>> p.pseudonym("9434765919")
    'p:121ee75534cd8e8dc2bb07aa'
    >>> p.pseudonym("9434765919") == p.pseudonym("9434765919")
    True
    """

    __slots__ = ("_inner", "_outer", "context")

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the pseudonymisation key must be at least 16 bytes")
        # HMAC (RFC 2104) with the keyed inner and outer hash states computed once: this
        # runs for every event at ingest, and copying a state is cheaper than rekeying.
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        block = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        self.context = {"pseudonymiser": self}
        """The validation context that lets the event contract pseudonymise at ingest."""

    @classmethod
    def ephemeral(cls) -> Pseudonymiser:
        """A random key for one run: pseudonyms are then unlinkable across runs."""
        return cls(secrets.token_bytes(32))

    def pseudonym(self, nhs_number: str) -> str:
        """``p:`` and the first 96 bits of HMAC-SHA256(key, NHS number), in hex.

        >>> import hmac
        >>> key = b"k" * 32
        >>> Pseudonymiser(key).pseudonym("9434765919")[2:] == hmac.digest(
        ...     key, b"9434765919", "sha256")[:12].hex()
        True
        """
        inner = self._inner.copy()
        inner.update(nhs_number.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return "p:" + outer.digest()[:12].hex()

    def screen(self, text: str) -> str:
        """``text`` with every NHS number in it (``identifiers.nhs_numbers_in``) replaced by
        its pseudonym: the privacy screen of identifiers and free-text fields. The same
        number gives the same pseudonym in any written form, so joins on a screened key
        (an ``episode_id`` holding the NHS number) still work.

        >>> p = Pseudonymiser(b"k" * 32)
        >>> p.screen("EP-943.476.5919-2")
        'EP-p:121ee75534cd8e8dc2bb07aa-2'
        >>> p.screen("EP-9434765919-2") == p.screen("EP-943.476.5919-2"), p.screen("ep1")
        (True, 'ep1')
        """
        found = identifiers.nhs_numbers_in(text)
        for start, end, digits in reversed(found):
            text = text[:start] + self.pseudonym(digits) + text[end:]
        return text

    def redact_line(self, line: str | bytes) -> str:
        """A raw input line made safe to keep in a dead letter; never raises.

        When the line parses, ``patient.nhs_number`` is replaced by its pseudonym. Then, on
        the *decoded* text (JSON ``\\u`` escapes resolved, so ``\\u0039…`` cannot hide
        digits), anything written like an NHS number, valid or not, plain, spaced, dotted
        or dashed, becomes ``[redacted]``. Lone surrogates become U+FFFD, so the result
        always encodes as UTF-8.

        >>> p = Pseudonymiser(b"k" * 32)
        >>> p.redact_line('{"patient": {"nhs_number": "9434765919"}, "x": 1}')
        '{"patient": {"nhs_number": "p:121ee75534cd8e8dc2bb07aa"}, "x": 1}'
        >>> p.redact_line('{"patient": {"nhs_number": "943 476 5919"')
        '{"patient": {"nhs_number": "[redacted]"'
        >>> p.redact_line('{"id": "623.994.8179", "n": "\\u0039434765919", "x": [')
        '{"id": "[redacted]", "n": "[redacted]", "x": ['
        """
        try:
            text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
            try:
                data = json.loads(text)
            except (ValueError, RecursionError):
                decoded = _unescape(text)
            else:
                _replace_nhs_numbers(data, self)
                decoded = json.dumps(data, ensure_ascii=False)
            redacted = identifiers.NHS_NUMBER_LIKE.sub("[redacted]", decoded)
        except RecursionError:  # nested too deep for _replace_nhs_numbers or dumps
            redacted = identifiers.NHS_NUMBER_LIKE.sub("[redacted]", _unescape(text))
        return _SURROGATE.sub("\ufffd", redacted)


_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _unescape(text: str) -> str:
    """JSON ``\\uXXXX`` escapes resolved (the rest left as it is), for a line that does
    not parse.

    >>> _unescape(r"\u0039\u00344 x")
    '944 x'
    """
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _replace_nhs_numbers(data: Any, pseudonymiser: Pseudonymiser) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "nhs_number" and value is not None:
                data[key] = pseudonymiser.pseudonym(str(value))
            else:
                _replace_nhs_numbers(value, pseudonymiser)
    elif isinstance(data, list):
        for item in data:
            _replace_nhs_numbers(item, pseudonymiser)
