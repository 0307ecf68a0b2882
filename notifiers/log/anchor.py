"""Anchoring the escalation log: a head (``seq``, ``hash``) kept outside the database, and
the check that the log still holds it.

A hash chain alone proves nothing about its end: whoever can write the database can drop
the last entries, or rewrite a tail and recompute every hash after it, and the chain still
verifies. A head recorded elsewhere (a ticket, an email, a witness holding the signed
checkpoints the escalation service writes, as RFC 6962 logs publish signed tree heads)
closes that gap: the log must still hold entry ``seq`` with exactly that ``hash``, which it
cannot after a truncation below ``seq`` or any rewrite at or before it.

Checkpoint file (``VIGIL_AUDIT_CHECKPOINT_FILE``): one JSON object,
``{"log": "vigil-escalation", "seq": N, "hash": H, "at": RFC 3339, "signature": S}`` where
``S = hex(HMAC-SHA256(key, canonical_json({"at", "hash", "log", "seq"})))`` with the key
``VIGIL_AUDIT_CHECKPOINT_KEY``. HMAC rather than a public-key signature because it needs
no dependency beyond the standard library; the witness that checks it holds the same key,
so the key must not be readable by whoever can write the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from notifiers.log.chain import GENESIS_HASH, LogEntry, VerifyResult, canonical_json, rfc3339

CHECKPOINT_LOG_NAME = "vigil-escalation"
_HEAD = re.compile(r"^(\d+):([0-9a-f]{64})$")


@dataclass(frozen=True, slots=True)
class Head:
    """An entry's position and hash: the head of the log when it was recorded."""

    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Head:
        """``SEQ:HASH`` as ``vigil audit verify`` prints it (hash in lowercase hex).

        >>> Head.parse("3:" + "ab" * 32).seq
        3
        >>> Head.parse("3:xyz")
        Traceback (most recent call last):
        ...
        ValueError: a head is SEQ:HASH (a number, a colon, 64 lowercase hex digits), not '3:xyz'
        """
        found = _HEAD.match(text.strip())
        if found is None:
            raise ValueError("a head is SEQ:HASH (a number, a colon, 64 lowercase hex "
                             f"digits), not {text[:80]!r}")
        return cls(int(found.group(1)), found.group(2))

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash}


def head_of(result: VerifyResult) -> Head:
    """The head of the intact part of a verified chain (``0:000…`` for an empty log)."""
    return Head(result.entries, result.last_hash)


def anchor_problem(result: VerifyResult, anchored: LogEntry | None, expected: Head) -> str | None:
    """Why the log no longer matches the head ``expected``, or ``None`` when it does.

    ``result`` is the log's verification and ``anchored`` its entry at ``expected.seq``
    (``None`` when it has none).

    >>> from datetime import UTC
    >>> from notifiers.log.chain import next_entry, verify_chain
    >>> t = datetime(2024, 5, 1, tzinfo=UTC)
    >>> first = next_entry(0, GENESIS_HASH, "signal", {"n": 1}, t)
    >>> second = next_entry(1, first.hash, "signal", {"n": 2}, t)
    >>> result = verify_chain([first, second])
    >>> anchor_problem(result, first, Head(1, first.hash)) is None
    True
    >>> anchor_problem(verify_chain([first]), None, Head(2, second.hash))
    'the log has 1 entries, fewer than the expected head seq 2 (truncated)'
    >>> forged = next_entry(0, GENESIS_HASH, "signal", {"n": 9}, t)
    >>> anchor_problem(verify_chain([forged]), forged, Head(1, first.hash)).endswith(
    ...     "(rewritten at or before it)")
    True
    """
    if expected.seq == 0:
        return None if expected.hash == GENESIS_HASH else "head seq 0 has the genesis hash only"
    if not result.ok and result.entries < expected.seq:
        return (f"the chain breaks at entry {result.first_bad_seq}, at or before the expected "
                f"head seq {expected.seq}: {result.reason}")
    if anchored is None or result.entries < expected.seq:
        return (f"the log has {result.entries} entries, fewer than the expected head seq "
                f"{expected.seq} (truncated)")
    if not hmac.compare_digest(anchored.hash, expected.hash):
        return (f"entry {expected.seq} has hash {anchored.hash[:12]}…, not the expected "
                f"{expected.hash[:12]}… (rewritten at or before it)")
    return None


def checkpoint(head: Head, at: datetime, key: bytes) -> dict[str, Any]:
    """The signed checkpoint of ``head`` at time ``at`` (see the module docstring).

    >>> from datetime import UTC
    >>> c = checkpoint(Head(2, "ab" * 32), datetime(2024, 5, 1, tzinfo=UTC), b"k" * 32)
    >>> sorted(c), c["at"], verify_checkpoint(c, b"k" * 32), verify_checkpoint(c, b"x" * 32)
    (['at', 'hash', 'log', 'seq', 'signature'], '2024-05-01T00:00:00Z', True, False)
    """
    body = {"log": CHECKPOINT_LOG_NAME, "seq": head.seq, "hash": head.hash,
            "at": rfc3339(at)}
    return {**body, "signature": _sign(body, key)}


def verify_checkpoint(record: dict[str, Any], key: bytes) -> bool:
    """Whether ``record`` was signed with ``key`` and is unchanged."""
    body = {k: record.get(k) for k in ("log", "seq", "hash", "at")}
    return hmac.compare_digest(str(record.get("signature", "")), _sign(body, key))


def write_checkpoint(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` to ``path`` atomically (a reader never sees half a checkpoint)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(record, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _sign(body: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, canonical_json(body), hashlib.sha256).hexdigest()
