"""One module per metric kind: its config model, what events feed it, which entities it
updates and how its observations drive the monitors in ``signals``. The contract is
``base.MetricKind``; ``streams.pipeline.registry.metrics`` lists the kinds."""
