"""Published figures and their formats (``vigil export``): every count goes through one
small-number-suppression step (:mod:`streams.exports.suppression`) before it is written as
CSV/JSON, FHIR R4 ``MeasureReport``, the ICB roll-up or the HQIP outlier sheet."""
