"""The embedded store: one SQLite file in WAL mode, safe for several processes at once,
created private to the user. ``SQLiteStore(":memory:")`` keeps everything in this process
only (``cache=None``). The schema, its migrations, and the SQLite connection helpers the
rate-limit log shares (:mod:`.ratelog`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from ..errors import CacheUnavailableError
from .base import (
    DEFAULT_ACTION,
    SCHEMA_VERSION,
    CachedAnswer,
    LedgerEntry,
    _create_private_file,
    ensure_private_dir,
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
    until REAL NOT NULL
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


@contextmanager
def lock_errors_translated(path: str, busy_timeout_seconds: float) -> Iterator[None]:
    """Turn SQLite's lock timeout into :class:`CacheUnavailableError`, at the store boundary."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if not is_lock_error(exc):
            raise
        raise CacheUnavailableError(
            f"the SQLite file {path} stayed locked by another process for "
            f"{busy_timeout_seconds:g} s ({exc}); find what holds it (a long transaction, "
            "a DB browser), then run again (answers so far are kept)"
        ) from exc


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
    conn.execute("BEGIN IMMEDIATE")
    try:
        if not _billed_is_required(conn):
            conn.execute("ROLLBACK")
            return False
        conn.execute(_LEDGER_V2)
        conn.execute(_LEDGER_COPY)
        conn.execute("DROP TABLE ledger")
        conn.execute("ALTER TABLE ledger_v2 RENAME TO ledger")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return True


#: Columns schema version 3 added: (table, column, declaration).
_ADDED_COLUMNS: Final = (
    ("ledger", "action", f"TEXT NOT NULL DEFAULT '{DEFAULT_ACTION}'"),
    ("answers", "detail", "TEXT"),
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
    conn.execute("BEGIN IMMEDIATE")
    try:
        missing = _missing_columns(conn)
        for table, column, declaration in missing:
            # Names from the constant above, never from input.
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return bool(missing)


def _billed_value(billed: bool | None) -> int | None:
    return None if billed is None else int(billed)


class SQLiteStore:
    """The embedded cache and ledger: one SQLite file (or ``":memory:"``).

    One connection per store, shared by the engine's worker threads under a lock; other
    processes coordinate through SQLite's own file locking (WAL mode). When another process
    keeps the file locked past ``busy_timeout_seconds``, operations raise
    :class:`~mobilestatus_pandas.errors.CacheUnavailableError`; a write that could not be
    made is held in memory (counted by :meth:`flush`) and written at the next write or flush.
    """

    def __init__(self, path: str | Path, *, busy_timeout_seconds: float | None = None) -> None:
        self.path = str(path)
        self.busy_timeout_seconds = (
            SQLITE_BUSY_TIMEOUT_SECONDS if busy_timeout_seconds is None else busy_timeout_seconds
        )
        self._conn = connect(path, CACHE_SCHEMA, busy_timeout_seconds=self.busy_timeout_seconds)
        self._lock = threading.RLock()
        # Writes that found the file locked, oldest first, written when it is free again.
        self._held: deque[tuple[LedgerEntry, CachedAnswer | None]] = deque()
        self._lock_failed = False  # the last statement found the file locked
        migrate_ledger(self._conn)
        add_columns(self._conn)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    @contextmanager
    def _translated(self, *, writing: bool = False) -> Iterator[None]:
        """Lock timeouts become CacheUnavailableError; after one, writes do not wait for
        the lock again (one try each) until one succeeds: the worker threads share this
        connection, and each waiting out the busy timeout in turn would take minutes.
        (Reads succeed while another process writes, in WAL mode: they say nothing of it.)"""
        with self._lock:
            fail_fast = writing and self._lock_failed
            if fail_fast:
                self._conn.execute("PRAGMA busy_timeout = 0")
            try:
                with lock_errors_translated(self.path, self.busy_timeout_seconds):
                    yield
            except CacheUnavailableError:
                self._lock_failed = True
                raise
            else:
                if writing:
                    self._lock_failed = False
            finally:
                if fail_fast:
                    busy_ms = round(self.busy_timeout_seconds * 1000)
                    self._conn.execute(f"PRAGMA busy_timeout = {busy_ms}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements in one write transaction (taken at once, so no deadlocks)."""
        with self._lock, self._translated(writing=True):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def get_many(self, keys: Sequence[str], fresh_after: float) -> dict[str, CachedAnswer]:
        if not keys:
            return {}
        with self._lock, self._translated():
            rows = self._conn.execute(
                "SELECT a.key, a.result, a.description, a.status_code, a.request_id, a.checked_at, "
                "a.detail FROM json_each(?) AS j JOIN answers AS a ON a.key = j.value "
                "WHERE a.checked_at > ?",
                (json.dumps(list(keys)), fresh_after),
            ).fetchall()
            found = {row[0]: CachedAnswer(*row[1:]) for row in rows}
            wanted = set(keys)  # answers held back count as cached
            for entry, held in self._held:
                if held is not None and entry.key in wanted and held.checked_at > fresh_after:
                    found[entry.key] = held
        return found

    def record(self, entry: LedgerEntry, answer: CachedAnswer | None) -> None:
        """Write at once; when the file stays locked, hold the write and raise
        :class:`~mobilestatus_pandas.errors.CacheUnavailableError`."""
        with self._lock:
            self._held.append((entry, answer))
            self._write_held()

    def _write_held(self) -> None:
        with self._lock:
            while self._held:
                self._write(*self._held[0])
                self._held.popleft()

    def _write(self, entry: LedgerEntry, answer: CachedAnswer | None) -> None:
        with self.transaction() as conn:
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

    def ledger(self) -> list[LedgerEntry]:
        with self._lock, self._translated():
            rows = self._conn.execute(
                "SELECT called_at, key, result, status_code, billed, request_id, error, run_id, "
                "secret_id, action FROM ledger ORDER BY id"
            ).fetchall()
            held = [entry for entry, _ in self._held]
        return [
            LedgerEntry(r[0], r[1], r[2], r[3], None if r[4] is None else bool(r[4]), *r[5:])
            for r in rows
        ] + held

    def count_answers(self) -> int:
        with self._lock, self._translated():
            return int(self._conn.execute("SELECT count(*) FROM answers").fetchone()[0])

    def clear(self, *, ledger: bool = False) -> int:
        with self.transaction() as conn:
            removed = conn.execute("DELETE FROM answers").rowcount
            if ledger:
                conn.execute("DELETE FROM ledger")
        return int(removed)

    def flush(self, timeout_seconds: float = 0.0) -> int:
        """Write what is held (writes that found the file locked); return how many are still
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
        """How many writes wait in memory for the file to be free."""
        with self._lock:
            return len(self._held)

    def claim(self, key: str, owner: str, now: float, seconds: float) -> bool:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO claims VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                "owner = excluded.owner, until = excluded.until "
                "WHERE claims.owner = excluded.owner OR claims.until <= ?",
                (key, owner, now + seconds, now),
            )
            row = conn.execute("SELECT owner FROM claims WHERE key = ?", (key,)).fetchone()
        return row is not None and row[0] == owner

    def release(self, key: str, owner: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, owner))

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
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM job_state WHERE name = ? AND until > ?", (name, now)
            ).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        held = self.flush()
        if held:
            logger.error(
                "closing with %d calls not written to %s (locked): they are not in the "
                "ledger or cache", held, self.path,
            )  # fmt: skip
        with self._lock:
            self._conn.close()
