"""Where the rate limit's sliding-window log lives: this process's memory
(:class:`LocalWindowLog`, ``cache=None``) or a SQLite file in the per-user folder that every
process of the user shares (:class:`SQLiteWindowLog`); Redis's is in :mod:`.redis`.
:mod:`mobilestatus_pandas.engine.ratelimit` paces calls over any of them.
"""

from __future__ import annotations

import bisect
import json
import logging
import sqlite3
import threading
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
    in_window: int,
    latest: float | None,
    limit_back: float | None,
    now: float,
    limit: int,
    window: float,
    spacing: float | None = None,
) -> float:
    """Seconds until a send at ``now`` is allowed (0.0: now), given how many sends lie in
    the window, the latest send, and the ``limit``-th latest (when there are that many)."""
    waits = [0.0]
    if latest is not None:
        waits.append(latest + (window / limit if spacing is None else spacing) - now)
    if in_window >= limit and limit_back is not None:
        waits.append(limit_back + window - now)
    wait = max(waits)
    return wait if wait <= 0 else max(wait, 1e-6)


def _plan(
    sends: list[float],
    now: float,
    count: int,
    limit: int,
    window: float,
    spacing: float | None,
) -> tuple[list[float], float]:
    """Up to ``count`` send times from ``now`` on, ``window / limit`` apart, that the window
    allows after the sorted ``sends`` (which it extends); and, when none fits now, the wait."""
    step = window / limit
    planned: list[float] = []
    at = now
    for _ in range(count):
        wait = _wait_in(sends, at, limit, window, spacing if not planned else step)
        if wait > 0:
            if not planned:
                return [], wait
            break
        planned.append(at)
        bisect.insort(sends, at)
        at += step
    return planned, 0.0


def _wait_in(
    sends: list[float], at: float, limit: int, window: float, spacing: float | None
) -> float:
    """:func:`_wait_for` over the sorted ``sends``: what the window holds at ``at``."""
    in_window = len(sends) - bisect.bisect_right(sends, at - window)
    return _wait_for(
        in_window,
        sends[-1] if in_window else None,
        sends[-limit] if in_window >= limit else None,
        at,
        limit,
        window,
        spacing,
    )


class LocalWindowLog:
    """A window log in this process's memory: each bucket's send times, sorted, so a
    decision costs a binary search, not a pass over the window (a raised limit keeps
    thousands of sends in it)."""

    def __init__(self) -> None:
        self._sends: dict[str, list[float]] = {}
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
            sends = self._sends.setdefault(bucket, [])
            if sends and sends[0] <= now - (HISTORY_WINDOWS + 1) * window_seconds:
                del sends[: bisect.bisect_right(sends, now - HISTORY_WINDOWS * window_seconds)]
            wait = _wait_in(sends, now, limit, window_seconds, spacing_seconds)
            if wait <= 0:
                bisect.insort(sends, now)
                return 0.0
            return wait

    def restamp(self, bucket: str, sent_at: float, later_by_seconds: float) -> None:
        """The send recorded at ``sent_at`` left ``later_by_seconds`` later: move it."""
        with self._lock:
            sends = self._sends.get(bucket, [])
            at = bisect.bisect_left(sends, sent_at)
            if at < len(sends) and sends[at] == sent_at:
                del sends[at]
                bisect.insort(sends, sent_at + later_by_seconds)

    def reserve(
        self,
        bucket: str,
        now: float,
        count: int,
        limit: int,
        window_seconds: float,
        spacing_seconds: float | None = None,
    ) -> tuple[list[float], float]:
        """As :meth:`SQLiteWindowLog.reserve`, in memory."""
        with self._lock:
            sends = self._sends.setdefault(bucket, [])
            if sends and sends[0] <= now - (HISTORY_WINDOWS + 1) * window_seconds:
                del sends[: bisect.bisect_right(sends, now - HISTORY_WINDOWS * window_seconds)]
            return _plan(sends, now, count, limit, window_seconds, spacing_seconds)


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
                # Three index lookups, not the whole window: the count, the latest, and
                # the limit-th latest (a raised limit keeps thousands of sends in it).
                in_window, latest = conn.execute(
                    "SELECT COUNT(*), MAX(sent_at) FROM rate_log WHERE bucket = ? AND sent_at > ?",
                    (bucket, now - window_seconds),
                ).fetchone()
                limit_back = None
                if in_window >= limit:
                    limit_back = conn.execute(
                        "SELECT sent_at FROM rate_log WHERE bucket = ? AND sent_at > ? "
                        "ORDER BY sent_at DESC LIMIT 1 OFFSET ?",
                        (bucket, now - window_seconds, limit - 1),
                    ).fetchone()[0]
                wait = _wait_for(
                    in_window, latest, limit_back, now, limit, window_seconds, spacing_seconds
                )
                if wait <= 0:
                    conn.execute("INSERT INTO rate_log VALUES (?, ?)", (bucket, now))
                    wait = 0.0
            return wait

    def reserve(
        self,
        bucket: str,
        now: float,
        count: int,
        limit: int,
        window_seconds: float,
        spacing_seconds: float | None = None,
    ) -> tuple[list[float], float]:
        """Record up to ``count`` sends at ``now``, ``now + window / limit``, ... as many
        as the window allows, in one transaction; return their times, or (none fitting now)
        the wait. A raised limit takes its slots a batch at a time: one transaction per
        send would cost more than the send."""
        with self._lock, errors_translated(self.path, self.busy_timeout_seconds):
            with write_transaction(self._conn) as conn:
                conn.execute(
                    "DELETE FROM rate_log WHERE bucket = ? AND sent_at <= ?",
                    (bucket, now - HISTORY_WINDOWS * window_seconds),
                )
                # Only the sends that leave the window while the batch is planned are read
                # one by one; the others are counted (a raised limit keeps thousands).
                start = now - window_seconds
                horizon = start + (count + 1) * window_seconds / limit
                in_window, latest = conn.execute(
                    "SELECT COUNT(*), MAX(sent_at) FROM rate_log WHERE bucket = ? AND sent_at > ?",
                    (bucket, start),
                ).fetchone()
                leaving = [
                    row[0]
                    for row in conn.execute(
                        "SELECT sent_at FROM rate_log WHERE bucket = ? AND sent_at > ? "
                        "AND sent_at <= ? ORDER BY sent_at",
                        (bucket, start, horizon),
                    )
                ]
                staying = in_window - len(leaving)
                # Those that stay are later than the horizon: as if there (their exact times
                # do not matter while the batch is planned), the latest as it is.
                sends = leaving + ([horizon] * (staying - 1) + [latest] if staying > 0 else [])
                planned, wait = _plan(sends, now, count, limit, window_seconds, spacing_seconds)
                if planned:
                    conn.execute(
                        "INSERT INTO rate_log (bucket, sent_at) SELECT ?, value FROM json_each(?)",
                        (bucket, json.dumps(planned)),
                    )
            return planned, wait

    def restamp(self, bucket: str, sent_at: float, later_by_seconds: float) -> None:
        """The send recorded at ``sent_at`` left ``later_by_seconds`` later: move it, so
        every process sharing the file counts it from when it was on the wire."""
        with (
            self._lock,
            errors_translated(self.path, self.busy_timeout_seconds),
            write_transaction(self._conn) as conn,
        ):
            conn.execute(
                "UPDATE rate_log SET sent_at = sent_at + ? WHERE rowid = (SELECT rowid "
                "FROM rate_log WHERE bucket = ? AND sent_at = ? LIMIT 1)",
                (later_by_seconds, bucket, sent_at),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
