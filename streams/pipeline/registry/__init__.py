"""The registries: which monitor kinds and which metric kinds a config may name.

``monitors.MONITORS`` maps each configurable monitor kind to its config model and its class;
``metrics.METRICS`` maps each metric kind to its config model and its compiled class. The
config's discriminated unions, the monitors each metric kind allows, the kind tags that
error messages strip and the conformance suite (``tests/streams/test_conformance.py``) are
all generated from them, so nothing else lists kinds.

Adding a monitor kind
---------------------
1. Write ``signals/<kind>.py``: a ``@dataclass(slots=True)`` subclassing
   ``signals.monitor.FieldState`` with ``observation_type`` (a family from
   ``signals.observations``), ``two_sided``, the read-outs ``n``, ``observed``,
   ``expected``, ``statistic``, ``direction`` and ``update(observation) -> Crossing | None``;
   beside it a config model subclassing ``signals.monitor_config.MonitorConfig`` with
   ``kind: Literal["<kind>"]`` and ``build(context)``.
2. Add one ``MonitorKind(...)`` line to ``monitors.MONITORS`` with an example config that
   crosses a limit on synthetic data. Every metric kind whose observation families include
   the monitor's ``observation_type`` now accepts it; the conformance suite checks it.

Adding a metric kind
--------------------
1. Write ``streams/pipeline/metric_kinds/<kind>.py``: its config model (``kind:
   Literal["<kind>"]``, monitors typed ``monitor_configs(<families>)`` if it has any), and a
   class implementing ``metric_kinds.base.MetricKind`` with a small typed entity state.
2. Add one ``MetricKindSpec(...)`` line to ``metrics.METRICS`` with an example config.
"""
