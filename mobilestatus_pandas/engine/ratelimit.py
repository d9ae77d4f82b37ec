"""One rate limit for every call: never more than ``rate`` sends in any one-second window.

The limit is a *sliding-window log*: every send is recorded with its time, and a send is
allowed only while fewer than ``limit`` sends lie in the last ``window`` seconds. That is
exactly the promise "never more than N in any one-second window, counted by send time",
with no burst allowance to go wrong. Sends are also spaced at least ``window / limit`` apart:
twenty calls leaving in the same millisecond would contend for the CPU and reach the
service with uneven delays, eating into the safety margin; evenly spaced calls do not.

Where the log lives decides who shares the limit:

* :class:`~mobilestatus_pandas.stores.LocalWindowLog`: this process only (``cache=None``);
* :class:`~mobilestatus_pandas.stores.SQLiteWindowLog`: every process of this user on this
  machine that uses the same credentials, whatever cache each uses: the log lives in the
  per-user cache directory (two notebooks at once stay under the limit together);
* :class:`~mobilestatus_pandas.stores.redis.RedisWindowLog`: every process on every machine
  that uses the same Redis and credentials (``cache="redis://..."``).

:class:`RateLimiter` adds what a client needs around the log: waiting (interruptibly),
a small safety margin for the time between our clock and the service's, backing off
when the service says ``RequestLimitExceeded`` (someone else is using the account's limit),
then recovering, and pausing while a shared log cannot be reached: no slot is ever given
without the log's say, so an outage slows calls down and never lets them run unpaced.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Final

from ..errors import CacheUnavailableError
from ..stores.ratelog import DEFAULT_OUTAGE_TIMEOUT_SECONDS, WindowLog

logger = logging.getLogger(__name__)

#: The service's documented limit for MobileStatus, calls per second per account.
DEFAULT_RATE_PER_SECOND: Final = 20.0
#: Added to the one-second window: covers the time between taking a slot and the request
#: reaching the service, so the service never sees more than the limit in its own second.
WINDOW_MARGIN_SECONDS: Final = 0.02
#: Longest single wait before checking again (keeps Ctrl-C and shared logs responsive).
POLL_SECONDS: Final = 0.1
#: After RequestLimitExceeded the allowed rate is multiplied by this ...
PENALTY_FACTOR: Final = 0.5
#: ... never below this share of the configured rate ...
MIN_RATE_SHARE: Final = 0.1
#: ... and grows back to the full rate linearly over this many seconds.
RECOVERY_SECONDS: Final = 10.0
#: The shortest wait (a shorter one might not move a clock at today's Unix time).
MIN_SLEEP_SECONDS: Final = 0.001
#: How often a paused limiter asks an unreachable log again.
OUTAGE_POLL_SECONDS: Final = 0.25


def window_for_rate(rate_per_second: float) -> tuple[int, float]:
    """The (limit, window seconds) of a sliding log that keeps to ``rate_per_second``.

    A rate of at least one allows ``floor(rate)`` sends per second; a slower rate allows one
    send per ``1 / rate`` seconds.
    """
    if not math.isfinite(rate_per_second) or rate_per_second <= 0:
        raise ValueError(f"rate_per_second must be a positive number, got {rate_per_second!r}")
    if rate_per_second >= 1:
        return math.floor(rate_per_second), 1.0
    return 1, 1.0 / rate_per_second


class RateLimiter:
    """Hands out send slots at no more than ``rate_per_second``, shared through ``log``.

    ``bucket`` names whose limit this is (the SecretId: the service limits per account).
    ``clock`` (Unix seconds) and ``sleep`` are injectable so tests run without waiting.

    When the log cannot be reached, :meth:`acquire` waits (no slot without the log) and, as
    the log may have lost its recent sends, lets no call go until a whole window has passed
    since the outage began; after ``outage_timeout_seconds`` it raises
    :class:`~mobilestatus_pandas.errors.CacheUnavailableError`.

    >>> from mobilestatus_pandas.stores import LocalWindowLog
    >>> now = [0.0]
    >>> limiter = RateLimiter(2, LocalWindowLog(), "AKID...", clock=lambda: now[0],
    ...                       sleep=lambda s: now.__setitem__(0, now[0] + s))
    >>> limiter.acquire(), limiter.acquire(), round(now[0], 2)  # the second waits its turn
    (True, True, 0.51)
    """

    def __init__(
        self,
        rate_per_second: float,
        log: WindowLog,
        bucket: str,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        window_margin_seconds: float = WINDOW_MARGIN_SECONDS,
        outage_timeout_seconds: float = DEFAULT_OUTAGE_TIMEOUT_SECONDS,
    ) -> None:
        self.limit, base_window = window_for_rate(rate_per_second)
        self.rate_per_second = rate_per_second
        self.window_seconds = base_window + window_margin_seconds
        self._log = log
        self._bucket = bucket
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._penalty_lock = threading.Lock()
        self._share = 1.0
        self._penalized_at: float | None = None
        self.penalties = 0
        self.outage_timeout_seconds = outage_timeout_seconds
        self._outage_since: float | None = None
        self.outages = 0

    def _share_now(self, now: float) -> float:
        """The share of the limit allowed at ``now``; call with the penalty lock held."""
        if self._penalized_at is None:
            return 1.0
        recovered = max(0.0, now - self._penalized_at) / RECOVERY_SECONDS
        share = min(1.0, self._share + recovered * (1.0 - self._share))
        if share >= 1.0:
            self._penalized_at, self._share = None, 1.0
        return share

    def current_limit(self) -> int:
        """Sends allowed per window now: the full limit, or less while backing off."""
        with self._penalty_lock:
            return max(1, int(self.limit * self._share_now(self._clock())))

    def penalize(self) -> None:
        """The service said RequestLimitExceeded: slow down now, recover over time."""
        now = self._clock()
        with self._penalty_lock:
            self.penalties += 1
            self._share = max(MIN_RATE_SHARE, self._share_now(now) * PENALTY_FACTOR)
            self._penalized_at = now

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for a send slot; ``False`` when ``stop`` was set before one came."""
        while not self._lock.acquire(timeout=POLL_SECONDS):
            if stop is not None and stop.is_set():
                return False
        try:
            while True:
                if stop is not None and stop.is_set():
                    return False
                now = self._clock()
                if self._outage_since is not None and now - self._outage_since < (
                    self.window_seconds
                ):
                    # The log may have lost the sends of the window before the outage.
                    left = self._outage_since + self.window_seconds - now
                    self._sleep(min(max(left, MIN_SLEEP_SECONDS), POLL_SECONDS))
                    continue
                try:
                    wait = self._log.try_acquire(
                        self._bucket, now, self.current_limit(), self.window_seconds
                    )
                except CacheUnavailableError as exc:
                    self._sleep(self._outage(now, exc))
                    continue
                if self._outage_since is not None:
                    logger.warning(
                        "the shared rate limit answers again after %.1f s; calls resume",
                        now - self._outage_since,
                    )
                    self._outage_since = None
                if wait <= 0:
                    return True
                self._sleep(min(wait, POLL_SECONDS))
        finally:
            self._lock.release()

    def _outage(self, now: float, exc: CacheUnavailableError) -> float:
        """Note that the log is away; raise after the timeout, else return how long to wait."""
        if self._outage_since is None:
            self._outage_since = now
            self.outages += 1
            logger.warning("%s: calls paused until it answers", exc)
        waited = now - self._outage_since
        if waited >= self.outage_timeout_seconds:
            raise CacheUnavailableError(
                f"{exc}; waited {waited:.0f} s (outage_timeout) with calls paused"
            ) from exc
        return min(OUTAGE_POLL_SECONDS, self.outage_timeout_seconds - waited)
