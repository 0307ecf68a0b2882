"""Vigil's shells: the event contract, the pipeline core shared by replay and the worker, the
faust-streaming app, the CLI, settings and telemetry. Thin: the maths lives in ``signals``."""
