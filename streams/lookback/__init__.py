"""Look-back packs: the episodes behind a signal's excursion, for the provider to review.

``trace`` replays events through the one pipeline and records one chart's updates;
``excursion`` finds where the excursion began; ``pack`` assembles the case summary and the
episode table (pure); ``response_form`` is the provider's structured review; ``files``
renders it all (JSON, CSV, PNG, HTML) and zips it; ``source`` builds packs from an events
file for the escalation side (:class:`streams.lookback.source.ReplayPackSource`).

Pseudonyms: a pack names an episode only by the provider's own episode reference
(``episode_id``), which the provider maps to its patients with its own records. A pack
never holds an NHS number, the ingest pseudonym (``streams.contract.pseudonym``) or any
other patient field: the trace keeps only the observation's date, episode reference,
predicted risk and outcome.
"""
