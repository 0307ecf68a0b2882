"""The provider's structured response to a look-back pack.

HQIP's outlier process asks the provider's lead clinician to check the data and reply with
any data errors or an explanation (stage 4), which the audit then reviews (stage 5). The
form asks that per episode of the excursion (is the record right; what did the case-note
review find) and overall (data quality, explanation, local review, actions), as a JSON
Schema for systems (:func:`response_schema`) and a CSV template for people
(:func:`response_csv`); ``streams.lookback.files`` renders it as HTML too.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from streams.lookback.pack import LookBackPack

DATA_CHECK = ("correct", "corrected", "not_checked")
"""Per episode: the record is right, was corrected (say what in ``data_correction``), or was
not checked."""
REVIEW_OUTCOME = ("no_concerns", "care_issues_not_contributory",
                  "care_issues_may_have_contributed", "not_reviewed")
"""Per episode: what the case-note review found."""
EPISODE_REVIEW_FIELDS = ("data_check", "data_correction", "review_outcome", "review_comment")

OVERALL_QUESTIONS: tuple[tuple[str, str, str], ...] = (
    ("data_complete_and_accurate", "boolean",
     "Are the data submitted for these episodes complete and accurate?"),
    ("data_errors", "string", "Data errors found, and whether they have been corrected at "
                              "source and resubmitted"),
    ("explanation", "string", "Explanation of the results (case mix, coding, service "
                              "changes, other)"),
    ("local_review_under_way", "boolean", "Is a local review (case-note review, mortality "
                                          "and morbidity meeting) under way or done?"),
    ("actions", "string", "Actions taken or planned"),
    ("lead_clinician", "string", "Lead clinician responding (name and role)"),
    ("medical_director_informed", "boolean", "Has the Medical Director been informed?"),
    ("responded_on", "date", "Date of this response"),
)
"""Overall questions: (field, JSON type, question)."""


def response_schema(pack: LookBackPack) -> dict[str, Any]:
    """The response as JSON Schema (draft 2020-12); episode references are fixed to the
    pack's own.

    >>> from streams.lookback.pack import LookBackPack
    >>> schema = response_schema(LookBackPack({"pack_id": "lookback-x", "case_id": "c-1"},
    ...                                       (), ()))
    >>> schema["properties"]["pack_id"]["const"], sorted(schema["required"])
    ('lookback-x', ['episodes', 'overall', 'pack_id'])
    """
    episode_ids = [e.episode_id for e in pack.episodes]
    overall: dict[str, Any] = {}
    for name, kind, question in OVERALL_QUESTIONS:
        overall[name] = ({"type": "string", "format": "date", "description": question}
                         if kind == "date" else {"type": kind, "description": question})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:vigil:lookback-response:{pack.pack_id}",
        "title": f"Provider response to look-back pack {pack.pack_id}",
        "type": "object",
        "required": ["pack_id", "episodes", "overall"],
        "properties": {
            "pack_id": {"const": pack.pack_id},
            "case_id": {"const": pack.summary.get("case_id")},
            "episodes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["episode_id", "data_check", "review_outcome"],
                    "properties": {
                        "episode_id": {"enum": episode_ids},
                        "data_check": {"enum": list(DATA_CHECK)},
                        "data_correction": {"type": "string"},
                        "review_outcome": {"enum": list(REVIEW_OUTCOME)},
                        "review_comment": {"type": "string"},
                    },
                    "additionalProperties": False,
                },
            },
            "overall": {"type": "object", "properties": overall,
                        "required": [q[0] for q in OVERALL_QUESTIONS],
                        "additionalProperties": False},
        },
        "additionalProperties": False,
    }


def response_csv(pack: LookBackPack) -> str:
    """A CSV template: one row per episode with the review columns blank, then the overall
    questions as ``question,answer`` rows after a blank line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["position", "occurred_at", "episode_id", *EPISODE_REVIEW_FIELDS])
    for e in pack.episodes:
        writer.writerow([e.position, e.occurred_at.isoformat(), e.episode_id, "", "", "", ""])
    writer.writerow([])
    writer.writerow(["overall_question", "answer"])
    for name, _, _ in OVERALL_QUESTIONS:
        writer.writerow([name, ""])
    return out.getvalue()
