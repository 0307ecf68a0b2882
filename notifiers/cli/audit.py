"""``vigil audit …``: verify, read and export the escalation log.

* ``vigil audit verify [--log URL] [--expect-head SEQ:HASH]`` — walk the chain; exit 0 and
  print ``{"ok": true, "entries": N, "head": {"seq": N, "hash": "..."}}``, or exit 1 and
  print ``{"ok": false, "first_bad_seq": 17, "reason": "...", "head": {...}}``. Keep the
  head somewhere the database's writers cannot reach; ``--expect-head`` then fails (exit 1,
  ``"anchor": "..."`` naming the problem) when the log no longer holds entry SEQ with that
  hash: a truncated tail, or a tail rewritten (or forged and appended) with recomputed
  hashes, which the chain alone cannot show (:mod:`notifiers.log.anchor`).
* ``vigil audit show [--case ID | --entity ID] [--kind KIND] [--log URL]`` — one line per entry.
* ``vigil audit export --format jsonl|csv [--log URL] [--out FILE]`` — every field of every
  entry, hashes included, so the chain can be checked again away from the database
  (``LogEntry.from_record`` then ``verify_chain`` for JSON lines).

The log URL defaults to ``$VIGIL_ESCALATION_LOG``, else ``sqlite:///vigil-escalation.db``.
These commands only read: they never create a log, so a mistyped URL fails (exit 2 with
``{"ok": false, "error": "..."}``) instead of verifying an empty new one.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable
from typing import TextIO

from notifiers.cli.log_options import add_log_option, open_existing
from notifiers.log.anchor import Head, anchor_problem, head_of
from notifiers.log.chain import canonical_json, rfc3339
from notifiers.log.escalation_log import EscalationLog, LogEntry
from streams.console import EXIT_FAILED, EXIT_USAGE

EXPORT_COLUMNS = ("seq", "at", "kind", "case_id", "entity_id", "payload", "prev_hash", "hash")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``audit`` and its subcommands on the ``vigil`` parser."""
    audit = subparsers.add_parser("audit", help="verify, read and export the escalation log")
    commands = audit.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)

    verify = commands.add_parser("verify", help="check the hash chain end to end")
    verify.add_argument("--expect-head", type=_head, metavar="SEQ:HASH",
                        help="fail unless the log still holds entry SEQ with hash HASH "
                             "(a head printed by an earlier verify or checkpoint)")
    add_log_option(verify)
    verify.set_defaults(func=verify_command)

    show = commands.add_parser("show", help="print entries, one per line")
    about = show.add_mutually_exclusive_group()
    about.add_argument("--case", dest="case_id", help="only entries of this case")
    about.add_argument("--entity", dest="entity_id", help="only entries about this entity")
    show.add_argument("--kind", help="only entries of this kind (signal, route, …)")
    add_log_option(show)
    show.set_defaults(func=show_command)

    export = commands.add_parser("export", help="write every entry as JSON lines or CSV")
    export.add_argument("--format", choices=("jsonl", "csv"), required=True)
    export.add_argument("--out", help="file to write (default: standard output)")
    add_log_option(export)
    export.set_defaults(func=export_command)


def _open(args: argparse.Namespace) -> EscalationLog | None:
    log = open_existing(args)
    if isinstance(log, str):
        print(json.dumps({"ok": False, "error": log}))
        return None
    return log


def _head(text: str) -> Head:
    try:
        return Head.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def verify_command(args: argparse.Namespace) -> int:
    """``vigil audit verify``: 0 when the chain is intact (and holds ``--expect-head``),
    1 when not, 2 when unreadable."""
    log = _open(args)
    if log is None:
        return EXIT_USAGE
    expected: Head | None = getattr(args, "expect_head", None)
    try:
        result = log.verify()
        anchored = None
        if expected is not None and expected.seq > 0:
            anchored = next(log.entries(since_seq=expected.seq - 1), None)
            if anchored is not None and anchored.seq != expected.seq:
                anchored = None
    finally:
        log.close()
    report = {**result.to_dict(), "head": head_of(result).to_dict()}
    problem = None if expected is None else anchor_problem(result, anchored, expected)
    if problem is not None:
        report.update(ok=False, expected_head=expected.to_dict() if expected else None,
                      anchor=problem)
    print(json.dumps(report, ensure_ascii=False))
    return 0 if result.ok and problem is None else EXIT_FAILED


def show_command(args: argparse.Namespace) -> int:
    """``vigil audit show``: human-readable lines, oldest first."""
    log = _open(args)
    if log is None:
        return EXIT_USAGE
    try:
        selected = log.entries(
            case_id=getattr(args, "case_id", None),
            entity_id=getattr(args, "entity_id", None),
            kind=getattr(args, "kind", None),
        )
        for entry in selected:
            print(format_entry(entry))
    finally:
        log.close()
    return 0


def format_entry(entry: LogEntry) -> str:
    """One entry as a line for people.

    >>> from notifiers.log.chain import GENESIS_HASH, next_entry
    >>> from datetime import UTC, datetime
    >>> e = next_entry(0, GENESIS_HASH, "case_opened", {"stage": 1},
    ...                datetime(2024, 5, 1, 9, 30, tzinfo=UTC), case_id="C1", entity_id="RXF")
    >>> format_entry(e)
    '#1 2024-05-01T09:30:00Z case_opened case=C1 entity=RXF {"stage":1}'
    """
    payload = canonical_json(entry.payload).decode("utf-8")
    return (
        f"#{entry.seq} {rfc3339(entry.at)} {entry.kind} case={entry.case_id or '-'} "
        f"entity={entry.entity_id or '-'} {payload}"
    )


def export_command(args: argparse.Namespace) -> int:
    """``vigil audit export``: all entries with their hashes, as JSON lines or CSV."""
    log = _open(args)
    if log is None:
        return EXIT_USAGE
    out_path = getattr(args, "out", None)
    try:
        if out_path:
            with open(out_path, "w", encoding="utf-8", newline="") as out:
                count = write_export(log.entries(), args.format, out)
            print(json.dumps({"ok": True, "exported": count, "format": args.format,
                              "out": out_path}))
        else:
            write_export(log.entries(), args.format, sys.stdout)
    finally:
        log.close()
    return 0


def write_export(entries: Iterable[LogEntry], fmt: str, out: TextIO) -> int:
    """Write ``entries`` to ``out`` as ``jsonl`` or ``csv``; return how many were written.

    JSON lines are canonical JSON of :meth:`LogEntry.to_record`; CSV has the columns
    :data:`EXPORT_COLUMNS` with the payload as canonical JSON text and empty cells for null
    ids.
    """
    count = 0
    if fmt == "jsonl":
        for entry in entries:
            out.write(canonical_json(entry.to_record()).decode("utf-8") + "\n")
            count += 1
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        for entry in entries:
            record = entry.to_record()
            record["payload"] = canonical_json(entry.payload).decode("utf-8")
            writer.writerow(["" if record[c] is None else record[c] for c in EXPORT_COLUMNS])
            count += 1
    else:
        raise ValueError(f"unknown export format {fmt!r}: use jsonl or csv")
    return count
