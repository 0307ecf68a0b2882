"""Charts: one palette and one description of each chart, drawn by matplotlib for files
(reports, look-back packs) and by Vega-Lite in the dashboard."""
