"""``vigil run``, ``vigil produce`` and ``vigil config check``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from notifiers.rules import RulesError
from streams.console import EXIT_USAGE, usage_error
from streams.kafka.producer import ensure_topics, produce
from streams.pipeline.config import ConfigError, load_config
from streams.settings import VigilSettings
from streams.settings_loading import load_settings


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("run", help="run the streaming worker on Kafka")
    p.add_argument("--config", type=Path, required=True, help="metric configuration (YAML)")
    p.add_argument("--rules", type=Path, help="escalation rules (YAML), checked at start")
    p.add_argument("--embedded-broker", action="store_true",
                   help="dev mode: start a local in-memory broker (Tansu) and use it")
    p.set_defaults(func=cmd_run)

    p = subparsers.add_parser("produce", help="publish a JSONL file to the events topic")
    p.add_argument("events", type=Path, help="JSONL events file")
    p.add_argument("--rate", type=float, metavar="N",
                   help="events per second, steady (default: as fast as the broker takes them)")
    p.set_defaults(func=cmd_produce)

    p = subparsers.add_parser("config", help="configuration tools")
    sub = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    c = sub.add_parser("check", help="validate config and rules; print effective settings")
    c.add_argument("--config", type=Path, required=True, help="metric configuration (YAML)")
    c.add_argument("--rules", type=Path, help="escalation rules (YAML)")
    c.set_defaults(func=cmd_config_check)


def _check_rules(path: Path | None, settings: VigilSettings) -> dict[str, Any] | None:
    """Validate the escalation rules and the recipients they go to (``RulesError`` lists
    every problem); ``None`` when no rules are given."""
    if path is None:
        return None
    from notifiers.rules import load_rules
    from streams.worker.escalation import recipients_for

    rules = load_rules(path)
    recipients = recipients_for(settings)
    return {"path": str(path), "version": rules.version, "policies": len(rules.policies),
            "recipients": str(settings.recipients or f"outbox {settings.outbox_dir}"),
            "channels": sorted(recipients.channels)}


def _load(args: argparse.Namespace, settings: VigilSettings) -> tuple[Any, Any] | None:
    """The metric config and the checked rules (and recipients), or None after saying on
    stderr what is wrong with them."""
    try:
        return load_config(args.config), _check_rules(args.rules, settings)
    except RulesError as error:
        print("\n".join(error.errors), file=sys.stderr)
    except (ConfigError, ValueError, OSError) as error:
        print(error, file=sys.stderr)
    return None


def cmd_config_check(args: argparse.Namespace) -> int:
    settings = load_settings()
    loaded = None if settings is None else _load(args, settings)
    if settings is None or loaded is None:
        return EXIT_USAGE
    config, rules = loaded
    refused = settings.secret_problems()  # the same refusal as vigil run and vigil replay
    if refused:
        return usage_error(f"vigil config check: {'; '.join(refused)}")
    problems = []
    if settings.hmac_key is None:
        problems.append("VIGIL_HMAC_KEY is not set: vigil run will refuse to start "
                        "(except with --embedded-broker)")
    if not settings.bootstrap_servers:
        problems.append("VIGIL_BOOTSTRAP_SERVERS is not set: vigil run needs a Kafka "
                        "cluster (or --embedded-broker)")
    report = {
        "config": str(args.config),
        "registry": config.registry,
        "metrics": [m.name for m in config.metrics],
        "rules": rules,
        "settings": settings.masked(),
        "warnings": problems,
    }
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(json.dumps(report))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from streams.contract.pseudonym import Pseudonymiser
    from streams.pipeline.core import Pipeline

    settings = load_settings()
    loaded = None if settings is None else _load(args, settings)
    if settings is None or loaded is None:
        return EXIT_USAGE
    config, _ = loaded
    # --embedded-broker is dev mode (in-memory data): only the 16-byte floor applies there.
    refused = settings.secret_problems(production=False if args.embedded_broker else None)
    if refused:
        return usage_error(f"vigil run: {'; '.join(refused)}")
    broker = None
    pseudonymiser = settings.pseudonymiser()
    if args.embedded_broker:
        from streams.kafka.embedded_broker import EmbeddedBroker

        broker = EmbeddedBroker().start()
        settings = settings.model_copy(update={"bootstrap_servers": broker.bootstrap_servers,
                                               "broker_quirks": "tansu"})
        # The embedded broker creates a topic on its first metadata request with its own
        # partition count; the episodes changelog must match the events topic's, so the
        # events topic exists with VIGIL_PARTITIONS before the address is announced.
        asyncio.run(ensure_topics(settings, settings.events_topic))
        print(f"vigil run: embedded broker (dev mode, in memory) at "
              f"{broker.bootstrap_servers}", file=sys.stderr)
        pseudonymiser = pseudonymiser or Pseudonymiser.ephemeral()
    elif not settings.bootstrap_servers:
        return usage_error("vigil run: no Kafka cluster configured. Set VIGIL_BOOTSTRAP_SERVERS "
                           "(host:port,...) with TLS/SASL settings as needed, or use "
                           "--embedded-broker for a local dev broker.")
    if pseudonymiser is None:
        return usage_error("vigil run: VIGIL_HMAC_KEY is not set; refusing to start (NHS numbers "
                           "must be pseudonymised with a stable secret key)")
    from streams.kafka.reachable import unreachable, unreachable_message
    from streams.worker.app import Worker

    if broker is None and (failures := unreachable(settings.bootstrap_servers or "")):
        return usage_error(unreachable_message("vigil run", failures))
    try:
        escalation = None
        pipeline = Pipeline(config, settings.join_window())
        if args.rules is not None:
            from streams.lookback.source import configured_pack_source
            from streams.worker.escalation import EscalationSide

            escalation = EscalationSide(
                settings, args.rules,
                packs=configured_pack_source(settings.lookback_events, pipeline))
        worker = Worker(settings, pipeline, pseudonymiser, escalation)
        return _run_faust(worker, settings)
    finally:
        if broker is not None:
            broker.stop()


def _run_faust(worker: Any, settings: VigilSettings) -> int:
    import faust

    from streams.worker import collector

    collector.tune()  # start-up is done: few, short collector pauses from here on
    faust_worker = faust.Worker(
        worker.app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False,
        override_logging=False,
    )
    # faust handles SIGTERM/SIGINT: agents stop, the acked offsets are committed, the
    # producer is flushed. It exits the process when done.
    try:
        faust_worker.execute_from_commandline()
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings is None:
        return EXIT_USAGE
    if not settings.bootstrap_servers:
        return usage_error("vigil produce: no Kafka cluster configured (VIGIL_BOOTSTRAP_SERVERS)")
    if not args.events.is_file():
        return usage_error(f"vigil produce: cannot read {args.events}")
    if args.rate is not None and args.rate <= 0:
        return usage_error("vigil produce: --rate must be positive")
    from aiokafka.errors import KafkaConnectionError

    try:
        sent = asyncio.run(produce(settings, args.events, progress=sys.stderr.isatty(),
                                   rate=args.rate))
    except KafkaConnectionError:
        return usage_error(f"vigil produce: cannot reach Kafka at {settings.bootstrap_servers} "
                           "(VIGIL_BOOTSTRAP_SERVERS): is the broker running?")
    print(json.dumps({"topic": settings.events_topic, "messages": sent}))
    return 0
