"""The session journal: SQLite in WAL mode, fed synchronously, written in order by one thread."""

from __future__ import annotations

import dataclasses
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tpdevice.daemon.journal_schema import SCHEMA_VERSION, SchemaTooNewError, migrate
from tpdevice.daemon.journal_writes import apply_event
from tpdevice.errors import TpDeviceError
from tpdevice.therapy.events import Event, iso_utc

__all__ = ["Journal", "JournalError", "SessionMeta"]

_LOGGER = logging.getLogger(__name__)
TELEMETRY_PERIOD_S = 0.2  # telemetry is kept at 5 Hz
_BATCH = 256  # writes committed together at most
Write = Callable[[sqlite3.Connection], None]


@dataclasses.dataclass(frozen=True, slots=True)
class _EventWrite:
    """One event's write, with when it was recorded (monotonic s) for the commit lag."""

    device_id: str
    device_seq: int
    body: dict[str, object]
    recorded_s: float

    def __call__(self, conn: sqlite3.Connection) -> None:
        apply_event(conn, self.device_id, self.device_seq, self.body)


class JournalError(TpDeviceError):
    """The journal file cannot be used (locked, corrupt, newer schema, unwritable)."""


@dataclasses.dataclass(frozen=True, slots=True)
class SessionMeta:
    """What the journal keeps about a session beyond its events."""

    session_id: str
    device_id: str
    profile_id: str
    region: str
    started_wall: str
    client: str | None = None  # a pseudonym, never a real name
    override_reason: str | None = None


@contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    """Turn sqlite3's exceptions into one JournalError line naming the file."""
    try:
        yield
    except SchemaTooNewError as err:
        raise JournalError(
            f"{path}: written by a newer tpdevice (schema {err.found}; this one reads up to"
            f" {SCHEMA_VERSION})"
        ) from None
    except sqlite3.OperationalError as err:
        if "locked" in str(err) or "busy" in str(err):
            raise JournalError(f"{path}: locked by another process") from None
        raise JournalError(f"{path}: {err}") from None
    except sqlite3.DatabaseError as err:
        raise JournalError(f"{path}: not a usable journal ({err})") from None


def connect(path: Path, *, read_only: bool = False, busy_s: float = 2.0) -> sqlite3.Connection:
    """A connection to the journal at `path` (WAL); waits up to busy_s for another's lock."""
    with _sqlite_errors(path):
        if read_only:
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=busy_s)
        # The writer thread takes the connection over once open() has migrated the file.
        conn = sqlite3.connect(path, timeout=busy_s, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn


class Journal:
    """Events in, rows out: `record` is a synchronous bus sink; one thread does the writing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writes: queue.SimpleQueue[Write | threading.Event | None] = queue.SimpleQueue()
        self._device_seq: dict[str, int] = {}
        self._telemetry_t: dict[str, float] = {}
        self._error: str | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.interrupted: list[str] = []
        # Told each event's lag from record() to its commit (s), from the writer thread.
        self.on_event_lag: Callable[[float], None] | None = None

    @classmethod
    def open(cls, path: Path, *, now_wall: float, busy_s: float = 2.0) -> Journal:
        """Open (creating, migrating) the journal; sessions left running are marked interrupted."""
        journal = cls(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise JournalError(f"{path.parent}: cannot create ({err.strerror})") from None
        conn = connect(path, busy_s=busy_s)
        with _sqlite_errors(path):
            migrate(conn)
            journal._device_seq = dict(
                conn.execute("SELECT device_id, MAX(device_seq) FROM events GROUP BY device_id")
            )
            journal.interrupted = _mark_interrupted(conn, iso_utc(now_wall))
        journal._thread = threading.Thread(
            target=journal._run, args=(conn,), name="tpdevice-journal", daemon=True
        )
        journal._thread.start()
        return journal

    def begin_session(self, meta: SessionMeta) -> None:
        """Record a session about to start (before its first event)."""
        self._put(lambda conn: _insert_session(conn, meta))

    def record(self, event: Event) -> int:
        """Journal one event (the synchronous sink); return its per-device sequence number."""
        body = event.model_dump(mode="json")
        device_id = event.device
        with self._lock:
            device_seq = self._device_seq.get(device_id, 0) + 1
            self._device_seq[device_id] = device_seq
        self._put(_EventWrite(device_id, device_seq, body, time.monotonic()))
        return device_seq

    def record_telemetry(
        self,
        session_id: str,
        t_s: float,
        freq_hz: float,
        force_n: float | None,
        contact: bool,
        battery_pct: float | None = None,
        motor_temp_c: float | None = None,
    ) -> bool:
        """Keep one sample per TELEMETRY_PERIOD_S of each session; True when this one is kept."""
        last = self._telemetry_t.get(session_id)
        if last is not None and t_s - last < TELEMETRY_PERIOD_S - 1e-9:
            return False
        self._telemetry_t[session_id] = t_s
        row = (session_id, t_s, freq_hz, force_n, int(contact), battery_pct, motor_temp_c)
        self._put(lambda conn: _insert_telemetry(conn, row))
        return True

    def set_cursor(self, consumer: str, device_id: str, acked_seq: int) -> None:
        """Remember that `consumer` (e.g. the MQTT outbox) has delivered up to acked_seq."""
        row = (consumer, device_id, acked_seq)
        self._put(lambda conn: _upsert_cursor(conn, row))

    def flush(self, timeout_s: float = 5.0) -> None:
        """Wait until everything recorded so far is committed; raise JournalError if writes fail."""
        done = threading.Event()
        self._writes.put(done)
        if not done.wait(timeout_s):
            raise JournalError(f"{self.path}: writes not committed within {timeout_s:g} s")
        if self._error is not None:
            raise JournalError(self._error)

    def close(self) -> None:
        """Commit what is queued and stop the writer thread."""
        if self._thread is not None:
            self._writes.put(None)
            self._thread.join()
            self._thread = None

    def last_seqs(self) -> dict[str, int]:
        """Per device, the sequence number of the last event recorded."""
        with self._lock:
            return dict(self._device_seq)

    @property
    def devices(self) -> list[str]:
        """Every device that has journaled events."""
        with self._lock:
            return list(self._device_seq)

    @property
    def error(self) -> str | None:
        """The last write failure, one line, or None while every write has succeeded."""
        return self._error

    def _put(self, write: Write) -> None:
        if self._thread is None:
            raise JournalError(f"{self.path}: the journal is closed")
        self._writes.put(write)

    def _run(self, conn: sqlite3.Connection) -> None:
        """The writer thread: take writes in order, commit them in batches."""
        stopping = False
        while not stopping:
            batch, waiters, stopping = self._take_batch()
            self._commit(conn, batch)
            for waiter in waiters:
                waiter.set()
        conn.close()

    def _take_batch(self) -> tuple[list[Write], list[threading.Event], bool]:
        batch: list[Write] = []
        waiters: list[threading.Event] = []
        item = self._writes.get()
        while True:
            if item is None:
                return batch, waiters, True
            if isinstance(item, threading.Event):
                waiters.append(item)
            else:
                batch.append(item)
            if len(batch) >= _BATCH or self._writes.empty():
                return batch, waiters, False
            item = self._writes.get()

    def _commit(self, conn: sqlite3.Connection, batch: list[Write]) -> None:
        if not batch:
            return
        try:
            _in_transaction(conn, batch)
            self._report_lag(batch)
        except sqlite3.Error:
            # One bad write must not cost the others: replay them one by one.
            for write in batch:
                try:
                    _in_transaction(conn, [write])
                except sqlite3.Error as err:
                    self._error = f"{self.path}: write failed ({err})"
                    _LOGGER.error("%s", self._error)

    def _report_lag(self, batch: list[Write]) -> None:
        observe = self.on_event_lag
        if observe is None:
            return
        committed_s = time.monotonic()
        for write in batch:
            if isinstance(write, _EventWrite):
                observe(committed_s - write.recorded_s)


def _in_transaction(conn: sqlite3.Connection, writes: list[Write]) -> None:
    """Run `writes` as one transaction: all committed or none."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for write in writes:
            write(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _insert_session(conn: sqlite3.Connection, meta: SessionMeta) -> None:
    conn.execute(
        "INSERT INTO sessions (session_id, device_id, profile_id, region, client, started_wall,"
        " override_reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            meta.session_id,
            meta.device_id,
            meta.profile_id,
            meta.region,
            meta.client,
            meta.started_wall,
            meta.override_reason,
        ),
    )


def _upsert_cursor(conn: sqlite3.Connection, row: tuple[str, str, int]) -> None:
    conn.execute(
        "INSERT INTO outbox_cursor VALUES (?, ?, ?) ON CONFLICT (consumer, device_id)"
        " DO UPDATE SET acked_seq = MAX(acked_seq, excluded.acked_seq)",
        row,
    )


def _insert_telemetry(conn: sqlite3.Connection, row: tuple[object, ...]) -> None:
    conn.execute("INSERT INTO telemetry VALUES (?, ?, ?, ?, ?, ?, ?)", row)


def _mark_interrupted(conn: sqlite3.Connection, now_iso: str) -> list[str]:
    """Sessions still running when the last process died are interrupted, progress kept."""
    ids = [
        row[0]
        for row in conn.execute(
            "SELECT session_id FROM sessions WHERE outcome IN ('running', 'paused')"
        )
    ]
    conn.execute(
        "UPDATE sessions SET outcome = 'interrupted', ended_wall = ?,"
        " cause = 'the process driving it stopped' WHERE outcome IN ('running', 'paused')",
        (now_iso,),
    )
    return ids
