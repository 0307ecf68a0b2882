"""The embedded default channel: each notification written to a folder as JSON and text.

One ``<key>.json`` and one ``<key>.txt`` per notification under ``directory/<address>/``
(and ``<key>.<file>`` per attachment, a look-back pack's ``lookback-<case>.zip``),
written to a temporary name and renamed, so a reader never sees half a file and a re-send
of the same key overwrites it with the same content rather than adding a second message.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

from notifiers.adapters.base import DeliveryResult, Notification


def safe_name(text: str) -> str:
    """A key as a file name.

    >>> safe_name("c-1:hqip_alarm:confirmation:cqc:stage")
    'c-1_hqip_alarm_confirmation_cqc_stage'
    """
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:200]


class OutboxNotifier:
    """Writes notifications to ``directory``."""

    def __init__(self, name: str, directory: str | Path) -> None:
        self.name = name
        self.directory = Path(directory)

    @classmethod
    def from_config(cls, name: str, settings: dict[str, Any],
                    env: dict[str, str]) -> OutboxNotifier:
        return cls(name, settings.get("directory", "vigil-outbox"))

    def _write(self, message: Notification) -> Path:
        folder = self.directory / safe_name(message.address or message.recipient)
        folder.mkdir(parents=True, exist_ok=True)
        stem = safe_name(message.key)
        record = {"key": message.key, "case_id": message.case_id,
                  "recipient": message.recipient, "address": message.address,
                  "subject": message.subject, "text": message.text, "body": message.body,
                  "fhir": message.fhir}
        files = {".json": json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False),
                 ".txt": f"Subject: {message.subject}\n\n{message.text}"}
        contents = {suffix: text.encode("utf-8") for suffix, text in files.items()}
        for attachment in message.attachments:  # beside the message: <key>.<file name>
            contents[f".{safe_name(attachment.filename)}"] = attachment.data
        for suffix, content in contents.items():
            final = folder / f"{stem}{suffix}"
            temporary = folder / f".{stem}{suffix}.tmp"
            temporary.write_bytes(content)
            os.replace(temporary, final)
        return folder / f"{stem}.json"

    async def send(self, message: Notification) -> DeliveryResult:
        try:
            path = await asyncio.to_thread(self._write, message)
        except OSError as error:
            return DeliveryResult.failed("io_error", detail=str(error))
        return DeliveryResult.sent(str(path))
