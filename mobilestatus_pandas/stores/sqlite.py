"""The embedded store: one SQLite file in WAL mode, safe for several processes at once,
created private to the user. ``SQLiteStore(":memory:")`` keeps everything in this process
only (``cache=None``). The schema, its migrations, and the SQLite connection helpers the
rate-limit log shares (:mod:`.ratelog`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

from ..errors import CacheUnavailableError
from .base import (
    DEFAULT_ACTION,
    SCHEMA_VERSION,
    CachedAnswer,
    LedgerEntry,
    _create_private_file,
    ensure_private_dir,
    entry_from_json,
    entry_to_json,
)

logger = logging.getLogger(__name__)

#: How long a write waits for another process's write transaction on the same file before
#: the store gives up (CacheUnavailableError: the run ends as in an outage, answers kept).
SQLITE_BUSY_TIMEOUT_SECONDS: Final = 30.0
SETUP_RETRY_SECONDS: Final = 0.02

CACHE_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    result TEXT NOT NULL,
    description TEXT,
    status_code INTEGER,
    request_id TEXT,
    checked_at REAL NOT NULL,
    detail TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    called_at REAL NOT NULL,
    key TEXT NOT NULL,
    result TEXT,
    status_code INTEGER,
    billed INTEGER,
    request_id TEXT,
    error TEXT,
    run_id TEXT NOT NULL,
    secret_id TEXT NOT NULL,
    action TEXT NOT NULL DEFAULT 'MobileStatus'
);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL,
    sent TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS job_state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    until REAL NOT NULL
) WITHOUT ROWID;
"""


def is_lock_error(exc: sqlite3.Error) -> bool:
    """Whether SQLite gave up waiting for another connection ("database is locked")."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


#: SQLite's failures of the file rather than of our statements: the store cannot be used
#: now (a full disk, an I/O error, a read-only file, a lock held elsewhere). Programming
#: errors (a closed connection, a constraint) are not among them.
STORE_FAILURES: Final = (sqlite3.OperationalError, sqlite3.DatabaseError)
_NOT_FAILURES: Final = (
    sqlite3.IntegrityError,
    sqlite3.ProgrammingError,
    sqlite3.InterfaceError,
    sqlite3.NotSupportedError,
)


def describe_sqlite_failure(path: str, exc: sqlite3.Error, busy_timeout_seconds: float) -> str:
    """What is wrong with the SQLite file at ``path``, in words, with what to do about it."""
    text = str(exc).lower()
    if is_lock_error(exc):
        return (
            f"the SQLite file {path} stayed locked by another process for "
            f"{busy_timeout_seconds:g} s ({exc}); find what holds it (a long transaction, "
            "a DB browser), then run again (answers so far are kept)"
        )
    if "full" in text:
        what = "the disk is full (or the file reached its size limit)"
        advice = "free space on its disk"
    elif "readonly" in text or "read-only" in text:
        what = "the file is read-only"
        advice = "make it (and its folder) writable by you, or use another cache="
    else:
        what = "it cannot be read or written"
        advice = "check its disk"
    return (
        f"the SQLite file {path}: {what} ({type(exc).__name__}: {exc}); {advice}, then run "
        "again (answers received are held by this client and written when the file takes "
        "them: client.store.flush())"
    )


@contextmanager
def errors_translated(path: str, busy_timeout_seconds: float) -> Iterator[None]:
    """Turn SQLite's failures of the file (a lock timeout, a full disk, an I/O error, a
    read-only file) into :class:`CacheUnavailableError`, at the store boundary."""
    try:
        yield
    except STORE_FAILURES as exc:
        if isinstance(exc, _NOT_FAILURES):
            raise
        raise CacheUnavailableError(
            describe_sqlite_failure(path, exc, busy_timeout_seconds)
        ) from exc


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; on any failure a rollback that never hides it.

    SQLite rolls a transaction back by itself on some failures (a full disk, an I/O error),
    and a ``ROLLBACK`` then raises "cannot rollback - no transaction is active": the
    rollback is tried only while a transaction is open, and its own failure is logged.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                logger.debug("rollback failed after an error", exc_info=True)
        raise


def connect(
    path: str | Path, schema: str, *, busy_timeout_seconds: float | None = None
) -> sqlite3.Connection:
    """Open (creating private) a SQLite file in WAL mode, ready for several processes.

    ``busy_timeout_seconds`` (default ``SQLITE_BUSY_TIMEOUT_SECONDS``) is how long a
    statement waits for another connection's lock.
    """
    busy = SQLITE_BUSY_TIMEOUT_SECONDS if busy_timeout_seconds is None else busy_timeout_seconds
    target = str(path)
    if target != ":memory:":
        file = Path(target)
        ensure_private_dir(file.parent)
        _create_private_file(file)
    conn = sqlite3.connect(
        target,
        timeout=busy,
        isolation_level=None,  # we open transactions ourselves
        check_same_thread=False,
    )

    def set_up() -> None:
        if target != ":memory:":
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(schema)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # Switching to WAL needs the file to itself and SQLite reports "locked" at once, without
    # its busy handler, while another process does the same: retry until the busy timeout.
    deadline = time.monotonic() + busy
    while True:
        try:
            set_up()
            return conn
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                conn.close()
                raise
            if time.monotonic() > deadline:
                conn.close()
                raise
            time.sleep(SETUP_RETRY_SECONDS)


#: The ledger table as schema version 2 has it (``billed`` nullable), under a temporary name.
_LEDGER_V2: Final = """
CREATE TABLE ledger_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    called_at REAL NOT NULL,
    key TEXT NOT NULL,
    result TEXT,
    status_code INTEGER,
    billed INTEGER,
    request_id TEXT,
    error TEXT,
    run_id TEXT NOT NULL,
    secret_id TEXT NOT NULL
)
"""
_LEDGER_COPY: Final = (
    "INSERT INTO ledger_v2 (id, called_at, key, result, status_code, billed, request_id, "
    "error, run_id, secret_id) SELECT id, called_at, key, result, status_code, billed, "
    "request_id, error, run_id, secret_id FROM ledger"
)


def _billed_is_required(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT \"notnull\" FROM pragma_table_info('ledger') WHERE name = 'billed'"
    ).fetchone()
    return bool(row and row[0])


def migrate_ledger(conn: sqlite3.Connection) -> bool:
    """Rebuild a version-1 ledger (``billed`` NOT NULL) so ``billed`` may be NULL.

    SQLite cannot drop a NOT NULL constraint in place: the table is copied, in one write
    transaction, keeping every row and its id. The shape is checked again once the write
    lock is held, so of several processes opening an old file at once one rebuilds and the
    others find it done. Returns whether this call rebuilt it.
    """
    if not _billed_is_required(conn):
        return False
    with write_transaction(conn):
        if not _billed_is_required(conn):
            return False
        conn.execute(_LEDGER_V2)
        conn.execute(_LEDGER_COPY)
        conn.execute("DROP TABLE ledger")
        conn.execute("ALTER TABLE ledger_v2 RENAME TO ledger")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return True


#: Columns schema versions 3 and 4 added: (table, column, declaration).
_ADDED_COLUMNS: Final = (
    ("ledger", "action", f"TEXT NOT NULL DEFAULT '{DEFAULT_ACTION}'"),
    ("answers", "detail", "TEXT"),
    ("claims", "sent", "TEXT"),
)


def _missing_columns(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    missing = []
    for table, column, declaration in _ADDED_COLUMNS:
        found = conn.execute(
            "SELECT 1 FROM pragma_table_info(?) WHERE name = ?", (table, column)
        ).fetchone()
        if found is None:
            missing.append((table, column, declaration))
    return missing


def add_columns(conn: sqlite3.Connection) -> bool:
    """Add the columns of schema version 3 to an older file (``ledger.action``, whose old
    rows are all MobileStatus calls, and ``answers.detail``); returns whether it added any.

    Checked again under the write lock, so of several processes opening an old file at once
    one adds them and the others find them there.
    """
    if not _missing_columns(conn):
        return False
    with write_transaction(conn):
        missing = _missing_columns(conn)
        for table, column, declaration in missing:
            # Names from the constant above, never from input.
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return bool(missing)


def _billed_value(billed: bool | None) -> int | None:
    return None if billed is None else int(billed)


#: A write the store could not make yet: the entry, the answer, and the owner whose call it
#: settles (and whether its claim ends with it).
HeldWrite = tuple[LedgerEntry, CachedAnswer | None, str | None, bool]
T = TypeVar("T")


class _Pending:
    """One thread's step in a group commit (see ``SQLiteStore._grouped``)."""

    __slots__ = ("done", "error", "result", "step")

    def __init__(self, step: Callable[[sqlite3.Connection], Any]) -> None:
        self.step = step
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


def _write_step(
    conn: sqlite3.Connection,
    entry: LedgerEntry,
    answer: CachedAnswer | None,
    owner: str | None,
    release: bool,
) -> None:
    """One call's record, in the caller's transaction: the ledger row, the answer, the end
    of the claim (``release``) or of the call's mark."""
    _insert_entry(conn, entry)
    if answer is not None:
        conn.execute(
            "INSERT OR REPLACE INTO answers (key, result, description, status_code, "
            "request_id, checked_at, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                entry.key,
                answer.result,
                answer.description,
                answer.status_code,
                answer.request_id,
                answer.checked_at,
                answer.detail,
            ),
        )
    if owner is not None and release:
        conn.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (entry.key, owner))
    elif owner is not None:
        conn.execute(
            "UPDATE claims SET sent = NULL WHERE key = ? AND owner = ?", (entry.key, owner)
        )


def _claim_in(conn: sqlite3.Connection, key: str, owner: str, until: float, now: float) -> bool:
    """One claim (``SQLiteStore.claim``) in the transaction of ``conn``."""
    row = conn.execute("SELECT owner, until, sent FROM claims WHERE key = ?", (key,)).fetchone()
    if row is not None and row[0] != owner and row[1] > now:
        return False
    if row is not None and row[0] != owner and row[2] is not None:
        # A lapsed claim whose call was sent and never recorded: possibly billed.
        _insert_entry(conn, entry_from_json(row[2]))
    conn.execute(
        "INSERT INTO claims (key, owner, until, sent) VALUES (?, ?, ?, NULL) "
        "ON CONFLICT (key) DO UPDATE SET until = excluded.until, "
        "sent = CASE WHEN claims.owner = excluded.owner THEN claims.sent END, "
        "owner = excluded.owner",
        (key, owner, until),
    )
    return True


class SQLiteStore:
    """The embedded cache and ledger: one SQLite file (or ``":memory:"``).

    One connection per store, shared by the engine's worker threads under a lock; other
    processes coordinate through SQLite's own file locking (WAL mode). When the file cannot
    be written (another process keeps it locked past ``busy_timeout_seconds``, the disk is
    full, an I/O error, a read-only file), operations raise
    :class:`~mobilestatus_pandas.errors.CacheUnavailableError`; a write that could not be
    made is held in memory (counted by :meth:`flush`) and written at the next write or
    flush, and the claim it would have ended stays until it lapses.
    """

    def __init__(self, path: str | Path, *, busy_timeout_seconds: float | None = None) -> None:
        self.path = str(path)
        self.busy_timeout_seconds = (
            SQLITE_BUSY_TIMEOUT_SECONDS if busy_timeout_seconds is None else busy_timeout_seconds
        )
        with errors_translated(self.path, self.busy_timeout_seconds):
            self._conn = connect(path, CACHE_SCHEMA, busy_timeout_seconds=self.busy_timeout_seconds)
            migrate_ledger(self._conn)
            add_columns(self._conn)
        self._lock = threading.RLock()
        # Steps of a group commit waiting for the connection (see _grouped).
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        # Writes that could not be made, oldest first, written when the file takes them.
        self._held: deque[HeldWrite] = deque()
        self._write_failed = False  # the last write failed (the file locked, full, ...)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    @contextmanager
    def _translated(self, *, writing: bool = False) -> Iterator[None]:
        """The file's failures become CacheUnavailableError; after one, writes do not wait
        for the lock again (one try each) until one succeeds: the worker threads share this
        connection, and each waiting out the busy timeout in turn would take minutes.
        (Reads succeed while another process writes, in WAL mode: they say nothing of it.)"""
        with self._lock:
            fail_fast = writing and self._write_failed
            if fail_fast:
                self._conn.execute("PRAGMA busy_timeout = 0")
            try:
                with errors_translated(self.path, self.busy_timeout_seconds):
                    yield
            except CacheUnavailableError:
                if writing:
                    self._write_failed = True
                raise
            else:
                if writing:
                    self._write_failed = False
            finally:
                if fail_fast:
                    busy_ms = round(self.busy_timeout_seconds * 1000)
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute(f"PRAGMA busy_timeout = {busy_ms}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements in one write transaction (taken at once, so no deadlocks)."""
        with self._lock, self._translated(writing=True), write_transaction(self._conn) as conn:
            yield conn

    def _grouped(self, step: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``step`` in a write transaction, with the steps other threads queued
        meanwhile (group commit): the thread that gets the connection runs every queued
        step, in order, in one transaction, and each caller returns when its own has
        committed (or raises what failed it). A raised limit makes hundreds of writes a
        second from dozens of threads; one transaction each, they queue on the connection.
        Each step stays whole (it commits with the others or not at all), and held writes
        go first."""
        pending = _Pending(step)
        with self._queue_lock:
            self._queue.append(pending)
        with self._lock:
            if not pending.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                try:
                    with self.transaction() as conn:
                        for held in self._held:
                            _write_step(conn, *held)
                        for queued in batch:
                            queued.result = queued.step(conn)
                    self._held.clear()
                except BaseException as exc:
                    for queued in batch:
                        queued.error = exc
                finally:
                    for queued in batch:
                        queued.done = True
        if pending.error is not None:
            raise pending.error
        return pending.result

    def get_many(self, keys: Sequence[str], fresh_after: float) -> dict[str, CachedAnswer]:
        if not keys:
            return {}
        with self._lock, self._translated():
            rows = self._conn.execute(
                "SELECT a.key, a.result, a.description, a.status_code, a.request_id, a.checked_at, "
                "a.detail FROM json_each(?) AS j JOIN answers AS a ON a.key = j.value "
                "WHERE a.checked_at > ?",
                # In the table's order: each page of its B-tree read once, not once per
                # key (40,000 keys of a file larger than the page cache: 1.6x faster).
                (json.dumps(sorted(keys)), fresh_after),
            )
            # Row by row from the cursor, not fetchall(): each row is freed once read, so
            # the garbage collector runs half as often over a large read.
            found = {row[0]: CachedAnswer(*row[1:]) for row in rows}
            if self._held:  # answers held back count as cached
                wanted = set(keys)
                for entry, held, _, _ in self._held:
                    if held is not None and entry.key in wanted and held.checked_at > fresh_after:
                        found[entry.key] = held
        return found

    def record(
        self,
        entry: LedgerEntry,
        answer: CachedAnswer | None,
        *,
        owner: str | None = None,
        release: bool = False,
    ) -> None:
        """Write at once, in one transaction with the end of ``owner``'s claim (or mark);
        when the file cannot take it, hold the write, keep the claim, and raise
        :class:`~mobilestatus_pandas.errors.CacheUnavailableError`."""
        write: HeldWrite = (entry, answer, owner, release)
        try:
            self._grouped(lambda conn: _write_step(conn, *write))
        except CacheUnavailableError:
            with self._lock:
                self._held.append(write)
            raise

    def _write_held(self) -> None:
        with self._lock:
            if self._held:
                with self.transaction() as conn:
                    for held in self._held:
                        _write_step(conn, *held)
                self._held.clear()

    def ledger(self) -> list[LedgerEntry]:
        with self._lock, self._translated():
            rows = self._conn.execute(
                "SELECT called_at, key, result, status_code, billed, request_id, error, run_id, "
                "secret_id, action FROM ledger ORDER BY id"
            ).fetchall()
            marks = self._conn.execute(
                "SELECT key, owner, sent FROM claims WHERE sent IS NOT NULL AND until <= ?",
                (time.time(),),
            ).fetchall()
            held = [entry for entry, _, _, _ in self._held]
            settling = {(entry.key, owner) for entry, _, owner, _ in self._held}
        lapsed = [entry_from_json(sent) for k, o, sent in marks if (k, o) not in settling]
        return (
            [
                LedgerEntry(r[0], r[1], r[2], r[3], None if r[4] is None else bool(r[4]), *r[5:])
                for r in rows
            ]
            + held
            + lapsed
        )

    def count_answers(self) -> int:
        with self._lock, self._translated():
            return int(self._conn.execute("SELECT count(*) FROM answers").fetchone()[0])

    def clear(self, *, ledger: bool = False) -> int:
        with self.transaction() as conn:
            removed = conn.execute("DELETE FROM answers").rowcount
            if ledger:
                conn.execute("DELETE FROM ledger")
                conn.execute("UPDATE claims SET sent = NULL")
        return int(removed)

    def flush(self, timeout_seconds: float = 0.0) -> int:
        """Write what is held (writes the file could not take); return how many are still
        held after trying for up to ``timeout_seconds``."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            with self._lock:
                try:
                    self._write_held()  # one try, at once: writes are held after a failure
                    return 0
                except CacheUnavailableError:
                    if time.monotonic() >= deadline:
                        return len(self._held)
            time.sleep(SETUP_RETRY_SECONDS)

    @property
    def held_writes(self) -> int:
        """How many writes wait in memory for the file to take them."""
        with self._lock:
            return len(self._held)

    def claim(self, key: str, owner: str, now: float, seconds: float) -> bool:
        return self._grouped(lambda conn: _claim_in(conn, key, owner, now + seconds, now))

    def claim_many(self, keys: Sequence[str], owner: str, now: float, seconds: float) -> list[bool]:
        if not keys:
            return []
        return self._grouped(
            lambda conn: [_claim_in(conn, key, owner, now + seconds, now) for key in keys]
        )

    def release(self, key: str, owner: str) -> None:
        def step(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT sent FROM claims WHERE key = ? AND owner = ?", (key, owner)
            ).fetchone()
            if row is not None and row[0] is not None:
                _insert_entry(conn, entry_from_json(row[0]))
            conn.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, owner))

        self._grouped(step)

    def mark_sent(self, entry: LedgerEntry, owner: str, now: float, seconds: float) -> bool:
        def step(conn: sqlite3.Connection) -> bool:
            return bool(
                conn.execute(
                    "UPDATE claims SET sent = ?, until = ? WHERE key = ? AND owner = ?",
                    (entry_to_json(entry), now + seconds, entry.key, owner),
                ).rowcount
            )

        return self._grouped(step)

    def unmark(self, key: str, owner: str) -> None:
        self._grouped(
            lambda conn: conn.execute(
                "UPDATE claims SET sent = NULL WHERE key = ? AND owner = ?", (key, owner)
            )
        )

    def add_count(self, name: str, amount: int, now: float, seconds: float) -> int:
        with self.transaction() as conn:
            conn.execute("DELETE FROM job_state WHERE name = ? AND until <= ?", (name, now))
            conn.execute(
                "INSERT INTO job_state VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "value = CAST(CAST(value AS INTEGER) + ? AS TEXT), until = excluded.until",
                (name, str(int(amount)), now + seconds, int(amount)),
            )
            row = conn.execute("SELECT value FROM job_state WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def set_flag(self, name: str, value: str, now: float, seconds: float) -> bool:
        with self.transaction() as conn:
            conn.execute("DELETE FROM job_state WHERE name = ? AND until <= ?", (name, now))
            inserted = conn.execute(
                "INSERT OR IGNORE INTO job_state VALUES (?, ?, ?)", (name, value, now + seconds)
            ).rowcount
        return bool(inserted)

    def get_flag(self, name: str, now: float) -> str | None:
        with self._lock, self._translated():
            row = self._conn.execute(
                "SELECT value FROM job_state WHERE name = ? AND until > ?", (name, now)
            ).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        held = self.flush()
        if held:
            logger.error(
                "closing with %d calls not written to %s (it cannot take them): they are "
                "not in the ledger or cache", held, self.path,
            )  # fmt: skip
        with self._lock:
            self._conn.close()


def _insert_entry(conn: sqlite3.Connection, entry: LedgerEntry) -> None:
    conn.execute(
        "INSERT INTO ledger (called_at, key, result, status_code, billed, request_id, "
        "error, run_id, secret_id, action) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.called_at,
            entry.key,
            entry.result,
            entry.status_code,
            _billed_value(entry.billed),
            entry.request_id,
            entry.error,
            entry.run_id,
            entry.secret_id,
            entry.action,
        ),
    )
