"""Outlier reports: per entity and per registry, as standalone HTML and as PDF.

``assembly`` replays the events once and gathers what a report shows (aggregates, charts'
traces, funnel snapshots, signals, cases from the escalation log); ``methods`` writes the
methods text; ``render`` draws the figures (``streams.charts.figures``) and writes HTML
(Jinja2, images embedded) and PDF (matplotlib's ``PdfPages``). Reports hold aggregates and,
in look-back tables, the provider's own episode references only: no patient identifier.
"""
