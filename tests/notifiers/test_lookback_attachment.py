"""The preliminary notice carries the look-back pack: an email attachment, a file beside the
outbox message, a link in the body (the webhook payload); without a pack source it says
none is attached and why."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

from notifiers.adapters.smtp import build_message
from notifiers.escalation import build_escalation
from notifiers.pack_source import NO_SOURCE
from tests.support.escalation import ANALYST, at, signal


class FixedPacks:
    """A pack source that always has the same pack, and counts its calls."""

    def __init__(self, data: bytes = b"PK-look-back") -> None:
        self.data, self.calls = data, 0

    def pack_for(self, case_id, signal):
        self.calls += 1
        return self.data


def _preliminary(tmp_path: Path, packs):
    escalation = build_escalation("memory://", "notifiers/default_rules.yaml",
                                  outbox=tmp_path / "outbox", packs=packs)
    engine, dispatcher = escalation.engine, escalation.dispatcher
    when = at("2026-12-01 09:00")
    case_id = engine.receive(signal("alarm"), at=when).case_ids[0]
    engine.act(case_id, "confirm", by=ANALYST, at=when)
    asyncio.run(dispatcher.dispatch_pending())
    requests = [e.payload for e in escalation.log.entries(kind="notification_requested")
                if e.payload["template"] == "preliminary_notice"]
    assert requests
    return case_id, requests, dispatcher


def test_the_pack_is_attached_and_linked(tmp_path):
    packs = FixedPacks()
    case_id, requests, dispatcher = _preliminary(tmp_path, packs)
    body = requests[0]["message"]["body"]
    record = body["look_back_pack"]
    assert record == {"attached": True, "filename": f"lookback-{case_id}.zip",
                      "bytes": len(packs.data),
                      "sha256": hashlib.sha256(packs.data).hexdigest(),
                      "url": f"/dashboard/api/cases/{case_id}/pack"}
    assert "Attached: look-back pack" in requests[0]["message"]["text"]
    beside = sorted((tmp_path / "outbox").rglob(f"*lookback-{case_id}.zip"))
    assert beside and all(p.read_bytes() == packs.data for p in beside)
    message = json.loads(sorted((tmp_path / "outbox").rglob("*preliminary_notice*.json"))[0]
                         .read_text())
    assert message["body"]["look_back_pack"]["url"].endswith("/pack")  # the webhook's link
    # The email carries the zip.
    notification = _notification(requests[0], dispatcher, case_id)
    email = build_message(notification, "vigil@audit.example")
    zips = [part for part in email.iter_attachments()
            if part.get_filename() == f"lookback-{case_id}.zip"]
    assert len(zips) == 1 and zips[0].get_content() == packs.data


def _notification(payload, dispatcher, case_id):
    from notifiers.adapters.base import Notification

    message = payload["message"]
    return Notification(payload["key"], payload["recipient"], "lead@trust.example",
                        message["subject"], message["text"], message["body"], None, case_id,
                        dispatcher._attachments(case_id, message["body"]))


def test_without_a_source_the_notice_says_why(tmp_path):
    _, requests, _ = _preliminary(tmp_path, None)
    record = requests[0]["message"]["body"]["look_back_pack"]
    assert record == {"attached": False, "reason": NO_SOURCE}
    assert f"No look-back pack is attached: {NO_SOURCE}." in requests[0]["message"]["text"]
    assert not list((tmp_path / "outbox").rglob("*.zip"))


def test_a_pack_that_changed_since_is_not_sent(tmp_path):
    packs = FixedPacks()
    case_id, requests, dispatcher = _preliminary(tmp_path, packs)
    packs.data = b"something else"
    assert dispatcher._attachments(case_id, requests[0]["message"]["body"]) == ()
