"""Where the escalation side gets look-back packs: an optional, typed source.

The engine asks a :class:`PackSource` for the pack of a case's signal when it writes a
notice that carries one (:data:`PACK_TEMPLATES`); the log records the pack's name, size,
SHA-256 and download link, never its bytes, and the dispatcher asks the source again when it
sends (the email attachment, the file beside the outbox message). Without a source (no
events file) the notice says that no pack is attached, and why. ``streams.lookback.source``
has the replay source.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Protocol

PACK_TEMPLATES = frozenset({"preliminary_notice"})
"""The notices a look-back pack goes with."""
NO_SOURCE = "no events file is configured for look-back packs"


class PackSource(Protocol):
    """Gives the zipped look-back pack of a case's signal, or ``None``."""

    def pack_for(self, case_id: str, signal: Mapping[str, Any]) -> bytes | None: ...


def pack_url(case_id: str) -> str:
    """The dashboard's download route for a case's pack.

    >>> pack_url("c-1")
    '/dashboard/api/cases/c-1/pack'
    """
    return f"/dashboard/api/cases/{case_id}/pack"


def pack_record(source: PackSource | None, case_id: str, signal: Mapping[str, Any]
                ) -> dict[str, Any]:
    """What the log and the message say of the pack: attached (name, bytes, SHA-256, link)
    or not, and why.

    >>> pack_record(None, "c-1", {})["reason"]
    'no events file is configured for look-back packs'
    >>> class Fixed:
    ...     def pack_for(self, case_id, signal): return b"zip"
    >>> record = pack_record(Fixed(), "c-1", {})
    >>> record["attached"], record["filename"], record["bytes"], record["url"]
    (True, 'lookback-c-1.zip', 3, '/dashboard/api/cases/c-1/pack')
    """
    if source is None:
        return {"attached": False, "reason": NO_SOURCE}
    try:
        data = source.pack_for(case_id, signal)
    except Exception as error:  # a pack must never stop a notice going out
        return {"attached": False, "reason": f"the pack could not be built ({error})"}
    if data is None:
        why = getattr(source, "why_not", None) or "the source has no pack for this signal"
        return {"attached": False, "reason": str(why)}
    return {"attached": True, "filename": f"lookback-{case_id}.zip", "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "url": pack_url(case_id)}


def pack_sentence(record: Mapping[str, Any] | None) -> str:
    """The notice's line about the pack.

    >>> pack_sentence({"attached": False, "reason": "no events file"})
    'No look-back pack is attached: no events file.'
    """
    if not record:
        return ""
    if record.get("attached"):
        return (f"Attached: look-back pack {record['filename']} (the episodes behind the "
                "signal, by your own episode reference, a chart and a response form); also "
                f"at {record['url']}.")
    return f"No look-back pack is attached: {record.get('reason')}."
