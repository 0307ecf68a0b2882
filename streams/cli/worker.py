"""``vigil run``, ``vigil produce`` and ``vigil config check``."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from notifiers.rules import RulesError
from streams.pipeline.config import ConfigError, load_config
from streams.settings import VigilSettings

EXIT_USAGE = 2


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


def _settings() -> VigilSettings | None:
    try:
        return VigilSettings()
    except ValidationError as error:
        print(f"vigil: invalid settings: {error}", file=sys.stderr)
        return None


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
    settings = _settings()
    loaded = None if settings is None else _load(args, settings)
    if settings is None or loaded is None:
        return EXIT_USAGE
    config, rules = loaded
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

    settings = _settings()
    loaded = None if settings is None else _load(args, settings)
    if settings is None or loaded is None:
        return EXIT_USAGE
    config, _ = loaded
    broker = None
    pseudonymiser = settings.pseudonymiser()
    if args.embedded_broker:
        from streams.kafka.embedded_broker import EmbeddedBroker

        broker = EmbeddedBroker().start()
        settings = settings.model_copy(update={"bootstrap_servers": broker.bootstrap_servers})
        print(f"vigil run: embedded broker (dev mode, in memory) at "
              f"{broker.bootstrap_servers}", file=sys.stderr)
        pseudonymiser = pseudonymiser or Pseudonymiser.ephemeral()
    elif not settings.bootstrap_servers:
        print("vigil run: no Kafka cluster configured. Set VIGIL_BOOTSTRAP_SERVERS "
              "(host:port,...) with TLS/SASL settings as needed, or use --embedded-broker "
              "for a local dev broker.", file=sys.stderr)
        return EXIT_USAGE
    if pseudonymiser is None:
        print("vigil run: VIGIL_HMAC_KEY is not set; refusing to start (NHS numbers must be "
              "pseudonymised with a stable secret key)", file=sys.stderr)
        return EXIT_USAGE
    from streams.worker.app import Worker

    try:
        escalation = None
        if args.rules is not None:
            from streams.worker.escalation import EscalationSide

            escalation = EscalationSide(settings, args.rules)
        worker = Worker(settings, Pipeline(config), pseudonymiser, escalation)
        return _run_faust(worker, settings)
    finally:
        if broker is not None:
            broker.stop()


def _run_faust(worker: Any, settings: VigilSettings) -> int:
    import faust

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


# -- produce ----------------------------------------------------------------------------


def event_keys(lines: Iterator[bytes]) -> Iterator[tuple[bytes | None, bytes]]:
    """(key, line) pairs: the provider's ODS code, so that each provider's events stay in
    order on one partition; an ``outcome`` (which names no provider) gets its episode's
    provider, remembered from the procedure. Unreadable lines get no key.

    >>> list(event_keys(iter([
    ...     b'{"event_type": "procedure", "episode_id": "e1", "provider": {"ods_code": "RXF"}}',
    ...     b'{"event_type": "outcome", "episode_id": "e1"}', b'{oops'])))[1][0], None
    (b'RXF', None)
    """
    # Total: a line is data, whatever it holds. A line nested too deep for ``json.loads``
    # (``RecursionError``), a lone surrogate (which cannot encode) or an over-long key gets
    # no key and is still sent, for the worker to dead-letter. A key is sent to the broker:
    # an NHS number written into an episode id is replaced by a digest before it is one.
    from streams.contract.identifiers import NHS_NUMBER_LIKE

    providers: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            continue
        key = None
        try:
            data = json.loads(line)
            if isinstance(data, dict):
                provider = data.get("provider")
                episode = data.get("episode_id")
                ods = provider.get("ods_code") if isinstance(provider, dict) else None
                if isinstance(ods, str):
                    key = ods
                    if isinstance(episode, str) and data.get("event_type") == "procedure":
                        providers[episode] = ods
                elif isinstance(episode, str):
                    key = providers.get(episode, episode)
            if key is not None and NHS_NUMBER_LIKE.search(key):
                key = "h:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:24]
            encoded = key.strip().encode() if key else None
        except (ValueError, RecursionError, UnicodeError, MemoryError):
            encoded = None
        yield (encoded if encoded and len(encoded) <= 256 else None), line.rstrip(b"\n")


async def ensure_topics(settings: VigilSettings, *names: str) -> None:
    """Create topics that do not exist yet, with the configured partitions."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers,
                                **settings.aiokafka_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(n, settings.partitions, settings.replication_factor)
               for n in names if n not in existing]
        if new:
            await admin.create_topics(new)
    finally:
        await admin.close()


async def publish(settings: VigilSettings, lines: Iterable[bytes], *,
                  rate: float | None = None, seconds: float | None = None,
                  stop: asyncio.Event | None = None,
                  on_sent: Callable[[bytes], None] | None = None) -> int:
    """Publish JSON lines to the events topic, keyed by provider (``event_keys``); return
    how many were sent. The one producer behind ``vigil produce``, ``vigil simulate`` and
    the demo.

    With ``rate``, send a steady ``rate`` events per second (each one due at ``i / rate``
    seconds after the start, so a slow moment is caught up rather than lost). Stops at the
    end of ``lines``, after ``seconds``, or when ``stop`` is set.
    """
    if rate is not None and rate <= 0:
        raise ValueError("rate must be positive")
    from aiokafka import AIOKafkaProducer

    await ensure_topics(settings, settings.events_topic)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers,
                                linger_ms=5, max_batch_size=256 * 1024, acks="all",
                                **settings.aiokafka_options())
    await producer.start()
    sent = 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        pending = []
        for key, line in event_keys(iter(lines)):
            if stop is not None and stop.is_set():
                break
            if seconds is not None and loop.time() - started >= seconds:
                break
            if rate is not None:
                due = started + sent / rate
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
            pending.append(await producer.send(settings.events_topic, line, key=key))
            sent += 1
            if on_sent is not None:
                on_sent(line)
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


async def produce(settings: VigilSettings, path: Path, progress: bool = False,
                  rate: float | None = None) -> int:
    """Publish the JSONL file ``path`` (see ``publish``), with a progress bar if asked."""
    if not progress:
        with path.open("rb") as stream:
            return await publish(settings, stream, rate=rate)
    from tqdm import tqdm

    with tqdm(total=path.stat().st_size, unit="B", unit_scale=True, file=sys.stderr,
              desc="produce") as bar, path.open("rb") as stream:
        return await publish(settings, stream, rate=rate,
                             on_sent=lambda line: bar.update(len(line) + 1))


def cmd_produce(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings is None:
        return EXIT_USAGE
    if not settings.bootstrap_servers:
        print("vigil produce: no Kafka cluster configured (VIGIL_BOOTSTRAP_SERVERS)",
              file=sys.stderr)
        return EXIT_USAGE
    if not args.events.is_file():
        print(f"vigil produce: cannot read {args.events}", file=sys.stderr)
        return EXIT_USAGE
    if args.rate is not None and args.rate <= 0:
        print("vigil produce: --rate must be positive", file=sys.stderr)
        return EXIT_USAGE
    sent = asyncio.run(produce(settings, args.events, progress=sys.stderr.isatty(),
                               rate=args.rate))
    print(json.dumps({"topic": settings.events_topic, "messages": sent}))
    return 0
