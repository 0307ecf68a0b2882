"""The one colour palette of every Vigil chart, in files and in the browser.

Okabe & Ito's colour-blind-safe set (Okabe M, Ito K. *Color Universal Design*, 2008): worse
than expected is vermillion, better is blue, so the two never rely on red against green.
Alert and alarm limits differ by line style as well as colour, so a chart printed in grey
still reads. matplotlib figures (:mod:`streams.charts.figures`) and the dashboard's
Vega-Lite specs (served from :data:`PALETTE`) take their colours from here only.

>>> DIRECTION["worse"], DIRECTION["better"]
('#D55E00', '#0072B2')
>>> sorted(PALETTE) == sorted(["direction", "limit", "series", "neutral", "dash"])
True
"""

from __future__ import annotations

from typing import Any

BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"
GREY = "#6B6B6B"

DIRECTION = {"worse": VERMILLION, "better": BLUE}
"""A signal's, a limit's or a funnel point's colour by the direction it is about."""

LIMIT = {"alert": ORANGE, "alarm": VERMILLION}
"""Control-limit colour by level (the better-side limits use :data:`DIRECTION` blue)."""

DASH = {"alert": [4, 3], "alarm": [1, 0]}
"""Line dash (on, off) by level: alert limits dashed, alarm limits solid."""

SERIES = [BLACK, BLUISH_GREEN, REDDISH_PURPLE, SKY_BLUE, ORANGE, GREY]
"""Colours of a chart's statistic lines in configured monitor order."""

NEUTRAL = GREY
"""Target lines, axes and entities within limits."""

PALETTE: dict[str, Any] = {"direction": DIRECTION, "limit": LIMIT, "series": SERIES,
                           "neutral": NEUTRAL, "dash": DASH}
"""All of it as JSON for the browser (``GET /dashboard/api/palette``)."""
