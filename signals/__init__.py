"""Vigil's statistics: online monitors, risk models and control-limit calibration.

Everything here is pure Python/numpy: no I/O, no Kafka, no clocks. Each monitor is a small
class whose state can be written out with ``to_state()`` and read back with
``from_state(...)``, and whose one ``update(...)`` returns what happened.
"""
