"""What the tests share besides fixtures: builders of events and configs, helpers that run
workers and the demo as processes, and access to test databases and datasets.

Fixtures (the broker, PostgreSQL, the escalation-log backends, the browser) are in the
``conftest.py`` files; nothing here is a test, and no test module imports another.
"""
