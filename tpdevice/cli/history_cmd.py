"""`tpdevice history|report`: what the journal kept, with or without a running daemon."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import sys
from pathlib import Path

from tpdevice.cli.errors import CliError
from tpdevice.daemon.config import default_journal_path
from tpdevice.daemon.journal_queries import (
    JournalReader,
    SessionRecord,
    StepRecord,
    TelemetryRecord,
)

__all__ = ["show_events", "show_history", "show_report"]

EXPORTS = ("csv", "json")


def _reader(journal: Path | None) -> JournalReader:
    path = journal or default_journal_path()
    if not path.is_file():
        raise CliError(f"{path}: no journal yet (sessions are journaled as they run)")
    return JournalReader(path)


def _since(text: str | None) -> str | None:
    """--since as an ISO date or date-time, or N days (e.g. 7d)."""
    if text is None:
        return None
    try:
        if text.endswith("d") and text[:-1].isdigit():
            moment = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=int(text[:-1]))
        else:
            moment = datetime.datetime.fromisoformat(text).astimezone(datetime.UTC)
    except ValueError:
        raise CliError(f"--since: {text!r} is not a date (2026-12-01), a time or Nd") from None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def show_history(
    journal: Path | None, *, client: str | None, region: str | None, since: str | None,
    export: str | None, json_out: bool,
) -> None:  # fmt: skip
    """Sessions, newest first, as a table, JSON or CSV."""
    if export is not None and export not in EXPORTS:
        raise CliError(f"--export: {export!r} is not one of {', '.join(EXPORTS)}")
    reader = _reader(journal)
    try:
        records = reader.history(client=client, region=region, since_wall=_since(since))
    finally:
        reader.close()
    rows = [dataclasses.asdict(record) for record in records]
    if export == "csv":
        writer = csv.DictWriter(
            sys.stdout, fieldnames=[f.name for f in dataclasses.fields(SessionRecord)]
        )
        writer.writeheader()
        writer.writerows(rows)
    elif export == "json" or json_out:
        print(json.dumps(rows))
    elif not rows:
        print("no sessions in the journal match")
    else:
        for record in records:
            print(_history_line(record))


def _history_line(record: SessionRecord) -> str:
    started = record.started_wall[:16].replace("T", " ")
    cause = f" ({record.cause})" if record.cause else ""
    client = f" client {record.client}" if record.client else ""
    return (f"{started}  {record.session_id}  {record.device_id:<10} {record.profile_id:<22}"
            f" {record.outcome}{cause}  {record.steps_done}/{record.step_count} steps,"
            f" motor {record.motor_on_s:.0f} s{client}")  # fmt: skip


def show_report(journal: Path | None, session_id: str, plot: Path | None, json_out: bool) -> None:
    """One session's steps with planned and actual timing; optionally its plot as a PNG."""
    reader = _reader(journal)
    try:
        record = reader.session(session_id)
        if record is None:
            raise CliError(f"no session {session_id!r} in the journal")
        steps = reader.steps(session_id)
        telemetry = reader.telemetry(session_id) if plot is not None else []
    finally:
        reader.close()
    if plot is not None:
        _plot(record, steps, telemetry, plot)
    if json_out:
        print(json.dumps({"session": dataclasses.asdict(record),
                          "steps": [dataclasses.asdict(s) for s in steps]}))  # fmt: skip
        return
    print(_history_line(record))
    for step in steps:
        actual = "-" if step.actual_duration_s is None else f"{step.actual_duration_s:.1f}"
        print(f"  {step.step_index:>3} {step.kind:<8} {step.side:<8} {step.freq_hz:>5.1f} Hz"
              f"  planned {step.planned_start_s:>7.1f} s +{step.planned_duration_s:.1f}"
              f"  actual {step.actual_start_s:>7.1f} s +{actual}"
              f"  late {step.lateness_ms:.1f} ms{'  skipped' if step.skipped else ''}")  # fmt: skip


def _plot(
    record: SessionRecord, steps: list[StepRecord], telemetry: list[TelemetryRecord], path: Path
) -> None:
    from tpdevice.daemon.report_plot import plot_session

    if path.suffix.lower() != ".png":
        raise CliError(f"--plot: {path} must end in .png")
    try:
        plot_session(record, steps, telemetry, path)
    except OSError as err:
        raise CliError(f"--plot: cannot write {path} ({err.strerror})") from None
    sys.stderr.write(f"plot written to {path}\n")


def show_events(journal: Path | None, last: int, json_out: bool) -> None:
    """The last `last` journaled events, oldest first."""
    from tpdevice.cli.session_cmd import event_line

    if not 1 <= last <= 100_000:
        raise CliError(f"--last: {last} must be 1..100000")
    reader = _reader(journal)
    try:
        found = reader.recent_events(last)
    finally:
        reader.close()
    for device_id, seq, body in found:
        envelope = {"device_id": device_id, "device_seq": seq, "event": body}
        print(json.dumps(envelope) if json_out else event_line(envelope))
