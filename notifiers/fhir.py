"""A notification as a FHIR R4 ``Communication`` resource, for trust systems that take FHIR.

``Communication`` fits "an alert sent to a responsible provider". Its ``subject`` may only
reference a Patient or Group, so the organisation, clinician or device the signal is about
goes in ``about`` as a logical identifier reference. Aggregates only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from notifiers.notification_facts import NotificationFacts

ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
_SYSTEMS = {
    "provider": ("Organization", ODS_SYSTEM),
    "clinician": ("Practitioner", "https://fhir.hl7.org.uk/Id/gmc-number"),
    "device": ("Device", "https://www.gs1.org/gtin"),
}


def communication(facts: NotificationFacts, text: str) -> dict[str, Any]:
    """The resource; ``identifier`` carries the notification key so a receiver can dedupe."""
    signal = facts.signal
    about: list[dict[str, Any]] = []
    kind = _SYSTEMS.get(str(signal.get("entity_type")))
    if kind and signal.get("entity_id"):
        about.append({"type": kind[0],
                      "identifier": {"system": kind[1], "value": str(signal["entity_id"])}})
    if signal.get("provider") and signal.get("entity_type") != "provider":
        about.append({"type": "Organization",
                      "identifier": {"system": ODS_SYSTEM, "value": str(signal["provider"])}})
    return {
        "resourceType": "Communication",
        "identifier": [{"system": "urn:vigil:notification", "value": facts.key}],
        "status": "completed",
        "category": [{"text": "safety-signal"}],
        "priority": "urgent" if signal.get("level") == "alarm" else "routine",
        "topic": {"text": str(signal.get("metric", ""))},
        "about": about,
        "sent": facts.at.isoformat(),
        "payload": [{"contentString": text}],
    }
