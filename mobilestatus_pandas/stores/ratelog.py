"""Where the rate limit's sliding-window log lives: this process's memory
(:class:`LocalWindowLog`, ``cache=None``) or a SQLite file in the per-user folder that every
process of the user shares (:class:`SQLiteWindowLog`); Redis's is in :mod:`.redis`.
:mod:`mobilestatus_pandas.engine.ratelimit` paces calls over any of them.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from pathlib import Path
from typing import Final, Protocol

from .sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, connect, errors_translated, write_transaction

logger = logging.getLogger(__name__)

#: Sends are kept this many windows: a window that widens (the limiter's margin follows the
#: service's refusals) still counts the sends it reaches.
HISTORY_WINDOWS: Final = 2.0
#: How long calls wait for a shared log that stopped answering before the run gives up.
DEFAULT_OUTAGE_TIMEOUT_SECONDS: Final = 60.0

RATE_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS rate_log (
    bucket TEXT NOT NULL,
    sent_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rate_log_bucket ON rate_log (bucket, sent_at);
"""


class WindowLog(Protocol):
    """Where sends are recorded. Implementations must be atomic for their sharing scope."""

    def try_acquire(
        self,
        bucket: str,
        now: float,
        limit: int,
        window_seconds: float,
        spacing_seconds: float | None = None,
    ) -> float:
        """Record a send at ``now`` if fewer than ``limit`` lie in ``(now - window, now]``
        and the latest is at least ``spacing_seconds`` old (default ``window / limit``).

        Returns 0.0 when the send was recorded, else the seconds until it could be. Raises
        :class:`~mobilestatus_pandas.errors.CacheUnavailableError` when the log cannot be
        reached.
        """
        ...


def _wait_for(
    sends_in_window: list[float],
    now: float,
    limit: int,
    window: float,
    spacing: float | None = None,
) -> float:
    """Seconds until a send at ``now`` is allowed (0.0: now) given the sorted sends in window."""
    waits = [0.0]
    if sends_in_window:
        waits.append(sends_in_window[-1] + (window / limit if spacing is None else spacing) - now)
    excess = len(sends_in_window) - limit
    if excess >= 0:
        waits.append(sends_in_window[excess] + window - now)
    wait = max(waits)
    return wait if wait <= 0 else max(wait, 1e-6)


class LocalWindowLog:
    """A window log in this process's memory."""

    def __init__(self) -> None:
        self._sends: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def try_acquire(
        self,
        bucket: str,
        now: float,
        limit: int,
        window_seconds: float,
        spacing_seconds: float | None = None,
    ) -> float:
        with self._lock:
            sends = self._sends.setdefault(bucket, deque())
            while sends and sends[0] <= now - HISTORY_WINDOWS * window_seconds:
                sends.popleft()
            in_window = [t for t in sends if t > now - window_seconds]
            wait = _wait_for(in_window, now, limit, window_seconds, spacing_seconds)
            if wait <= 0:
                sends.append(now)
                return 0.0
            return wait


class SQLiteWindowLog:
    """A window log in a SQLite file, shared by every process that opens the same file."""

    def __init__(self, path: str | Path, *, busy_timeout_seconds: float | None = None) -> None:
        self.path = str(path)
        self.busy_timeout_seconds = (
            SQLITE_BUSY_TIMEOUT_SECONDS if busy_timeout_seconds is None else busy_timeout_seconds
        )
        self._conn: sqlite3.Connection = connect(
            path, RATE_SCHEMA, busy_timeout_seconds=self.busy_timeout_seconds
        )
        self._lock = threading.Lock()

    def try_acquire(
        self,
        bucket: str,
        now: float,
        limit: int,
        window_seconds: float,
        spacing_seconds: float | None = None,
    ) -> float:
        """As :meth:`WindowLog.try_acquire`; a file locked by another process past the busy
        timeout (or full, or failing) raises
        :class:`~mobilestatus_pandas.errors.CacheUnavailableError`."""
        with self._lock, errors_translated(self.path, self.busy_timeout_seconds):
            with write_transaction(self._conn) as conn:
                conn.execute(
                    "DELETE FROM rate_log WHERE bucket = ? AND sent_at <= ?",
                    (bucket, now - HISTORY_WINDOWS * window_seconds),
                )
                sends = [
                    row[0]
                    for row in conn.execute(
                        "SELECT sent_at FROM rate_log WHERE bucket = ? AND sent_at > ? "
                        "ORDER BY sent_at",
                        (bucket, now - window_seconds),
                    )
                ]
                wait = _wait_for(sends, now, limit, window_seconds, spacing_seconds)
                if wait <= 0:
                    conn.execute("INSERT INTO rate_log VALUES (?, ?)", (bucket, now))
                    wait = 0.0
            return wait

    def close(self) -> None:
        with self._lock:
            self._conn.close()
