"""One rate limit for every call: never more than ``rate`` sends in any one-second window,
and near it when the path to the service jitters.

The limit is a *sliding-window log*: every send is recorded with its time, and a send is
allowed only while fewer than ``limit`` sends lie in the last ``window`` seconds, where the
window is one second plus a *safety margin*. The service counts its second by the time a
request *arrives*; a request that the network holds up by more than the margin can land in
the same second as the twentieth after it, and be refused (``RequestLimitExceeded``: free,
retried). Sends are paced evenly, ``window / limit`` apart, on a schedule: a thread that
wakes a few milliseconds late (a busy machine, the GIL) does not push every later send back.

Where the log lives decides who shares the limit:

* :class:`~mobilestatus_pandas.stores.LocalWindowLog`: this process only (``cache=None``);
* :class:`~mobilestatus_pandas.stores.SQLiteWindowLog`: every process of this user on this
  machine that uses the same credentials, whatever cache each uses: the log lives in the
  per-user cache directory (two notebooks at once stay under the limit together);
* :class:`~mobilestatus_pandas.stores.redis.RedisWindowLog`: every process on every machine
  that uses the same Redis and credentials (``cache="redis://..."``).

:class:`RateLimiter` adds what a client needs around the log:

* **a margin that follows the evidence** (:meth:`RateLimiter.refused`), as TCP's congestion
  window follows losses (AIMD) and botocore's adaptive retry mode follows throttling: a
  refusal of a request sent at the current margin widens it (x ``WIDEN_FACTOR``, at least
  ``WIDEN_STEP_SECONDS``); refusals of requests sent before that reaction are the same
  evidence and change nothing (TCP reduces once per window of data); quiet time narrows it
  back towards the minimum, halfway every ``NARROW_HALF_LIFE_SECONDS``;
* **a back-off proportionate to the evidence**: jitter explains a refusal only up to
  ``MAX_MARGIN_SECONDS``; a refusal at the widest margin means someone else uses the
  account's limit, and the allowed rate is cut (x ``PENALTY_FACTOR``, recovering over
  ``RECOVERY_SECONDS``);
* **sends stamped on the wire** (:meth:`RateLimiter.sent`): this process's own sends count
  in its window from the moment the request was written to the socket, when that is later
  than the slot (a thread held up between the two would otherwise eat into the margin);
* waiting (interruptibly), and pausing while a shared log cannot be reached: no slot is
  ever given without the log's say, so an outage slows calls down and never lets them run
  unpaced.

docs/architecture.md says why these choices, and what the benchmarks measured.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from ..errors import CacheUnavailableError
from ..stores.ratelog import DEFAULT_OUTAGE_TIMEOUT_SECONDS, WindowLog

logger = logging.getLogger(__name__)

#: The service's documented limit for MobileStatus, calls per second per account.
DEFAULT_RATE_PER_SECOND: Final = 20.0
#: The least margin added to the one-second window: covers the time between taking a slot
#: and the request reaching the service on a quiet path (loopback, a LAN).
WINDOW_MARGIN_SECONDS: Final = 0.02
#: The widest margin jitter can explain: past it, refusals mean someone else uses the limit.
MAX_MARGIN_SECONDS: Final = 0.25
#: A margin within this share of the widest counts as the widest (it narrows with time).
NEAR_WIDEST_SHARE: Final = 0.9
#: A refusal of a request sent at the current margin multiplies it by this ...
WIDEN_FACTOR: Final = 1.5
#: ... and adds at least this much.
WIDEN_STEP_SECONDS: Final = 0.02
#: Quiet time (no refusal) takes the margin halfway back to the minimum in this long.
NARROW_HALF_LIFE_SECONDS: Final = 120.0
#: Sends are spaced ``window / limit`` apart on a schedule; sends that come late may let the
#: next ones catch up by this share of the spacing ...
CATCH_UP_SHARE: Final = 0.5
#: ... or by this long, whichever is more: at a raised limit (1 ms apart at 1000/s) a wait
#: per send would cost more than the spacing (a sleep, then the GIL back). Never more than
#: ``limit`` sends in any window, whatever the catch-up.
CATCH_UP_SECONDS: Final = 0.01
#: At a raised limit the slots are taken from the window log a batch at a time, this long's
#: worth (none at 20/s: one slot each, as ever) ...
RESERVE_SECONDS: Final = 0.02
#: ... and at most this many.
MAX_RESERVE: Final = 64
#: A send that reached the socket this much later than its slot is moved in a shared log.
RESTAMP_AFTER_SECONDS: Final = 0.001
#: Longest single wait before checking again (keeps Ctrl-C and shared logs responsive).
POLL_SECONDS: Final = 0.1
#: When refusals outrun the widest margin, the allowed rate is multiplied by this ...
PENALTY_FACTOR: Final = 0.5
#: ... never below this share of the configured rate ...
MIN_RATE_SHARE: Final = 0.1
#: ... and grows back to the full rate linearly over this many seconds.
RECOVERY_SECONDS: Final = 10.0
#: The shortest wait (a shorter one might not move a clock at today's Unix time).
MIN_SLEEP_SECONDS: Final = 0.001
#: How often a paused limiter asks an unreachable log again.
OUTAGE_POLL_SECONDS: Final = 0.25


#: A limiter this far behind its schedule was idle, not late: its next send starts afresh.
IDLE_SECONDS: Final = 1.0


def _catch_up(spacing: float) -> float:
    """How far behind its schedule a late send may let the next ones catch up."""
    return max(spacing * CATCH_UP_SHARE, CATCH_UP_SECONDS)


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
    ``window_margin_seconds`` is the least margin, ``max_margin_seconds`` the widest
    (see the module's docstring: the margin follows the refusals the service answers).

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
    >>> limiter.refused(sent_at=now[0])  # the service refused it: jitter, most likely
    'widened'
    >>> round(limiter.margin_seconds(), 2)
    0.04
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
        max_margin_seconds: float = MAX_MARGIN_SECONDS,
        outage_timeout_seconds: float = DEFAULT_OUTAGE_TIMEOUT_SECONDS,
    ) -> None:
        self.limit, self.base_window_seconds = window_for_rate(rate_per_second)
        if not (0 <= window_margin_seconds <= max_margin_seconds):
            raise ValueError(
                "window_margin_seconds must be at least 0 and at most max_margin_seconds, got "
                f"{window_margin_seconds!r} and {max_margin_seconds!r}"
            )
        self.rate_per_second = rate_per_second
        self.min_margin_seconds = window_margin_seconds
        self.max_margin_seconds = max_margin_seconds
        self._log = log
        self._bucket = bucket
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._penalty_lock = threading.Lock()
        self._share = 1.0
        self._penalized_at: float | None = None
        # The margin as last widened, and when (it narrows from there with quiet time).
        self._widened_margin = window_margin_seconds
        self._widened_at: float | None = None
        # Refusals of requests sent before this were answered by the latest reaction.
        self._reacted_at = -math.inf
        # This limiter's latest sends (as many as the limit): [slot time, time on the wire].
        self._sends: deque[list[float]] = deque(maxlen=self.limit)
        self._next_at = -math.inf
        # Slots taken from the log in a batch and not yet handed out (their planned times).
        self._reserved: deque[float] = deque()
        self._reserve = getattr(log, "reserve", None)
        self._mine = threading.local()
        #: RequestLimitExceeded answers told to :meth:`refused`.
        self.refusals = 0
        #: ... of which widened the margin, and of which cut the rate (someone else's calls).
        self.widenings = 0
        self.penalties = 0
        self.outage_timeout_seconds = outage_timeout_seconds
        self._outage_since: float | None = None
        self.outages = 0

    # -- the margin and the back-off ----------------------------------------------------

    def _margin_at(self, now: float) -> float:
        if self._widened_at is None:
            return self.min_margin_seconds
        quiet = max(0.0, now - self._widened_at)
        extra = self._widened_margin - self.min_margin_seconds
        return self.min_margin_seconds + extra * 0.5 ** (quiet / NARROW_HALF_LIFE_SECONDS)

    def margin_seconds(self) -> float:
        """The safety margin now, added to the one-second window."""
        with self._penalty_lock:
            return self._margin_at(self._clock())

    @property
    def window_seconds(self) -> float:
        """The window the log counts sends in now: one second (or ``1 / rate``) + margin."""
        return self.base_window_seconds + self.margin_seconds()

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
        """Someone else uses the account's limit: slow down now, recover over time."""
        with self._penalty_lock:
            self._penalize(self._clock())

    def _penalize(self, now: float) -> None:
        self.penalties += 1
        self._share = max(MIN_RATE_SHARE, self._share_now(now) * PENALTY_FACTOR)
        self._penalized_at = now

    def refused(self, sent_at: float) -> str:
        """The service answered ``RequestLimitExceeded`` to a request sent at ``sent_at``.

        Returns what it changed: ``"widened"`` (the margin, as jitter explains it),
        ``"penalized"`` (the rate: the margin is at its widest, so someone else is using the
        account's limit), or ``"none"`` (the request left before the latest reaction: the
        same evidence, already answered).
        """
        now = self._clock()
        with self._penalty_lock:
            self.refusals += 1
            if sent_at < self._reacted_at:
                return "none"
            self._reacted_at = now
            margin = self._margin_at(now)
            if margin < self.max_margin_seconds * NEAR_WIDEST_SHARE:
                widened = max(margin * WIDEN_FACTOR, margin + WIDEN_STEP_SECONDS)
                self._widened_margin = min(self.max_margin_seconds, widened)
                self._widened_at = now
                self.widenings += 1
                logger.debug("RequestLimitExceeded: margin %.3f s -> %.3f s", margin, widened)
                return "widened"
            self._widened_margin, self._widened_at = self.max_margin_seconds, now
            self._penalize(now)
            return "penalized"

    # -- slots ----------------------------------------------------------------------------

    def sent(self, on_wire_at: float) -> None:
        """The request of this thread's latest slot was written to the socket at
        ``on_wire_at``: it counts in this limiter's window from then, if that is later; at
        the documented limit (slots taken one at a time) the shared log is told too, so
        every process sharing it counts the send from then."""
        entry = getattr(self._mine, "entry", None)
        if entry is None:
            return
        self._mine.entry = None
        late = on_wire_at - entry[0]
        entry[1] = max(entry[1], on_wire_at)
        restamp = getattr(self._log, "restamp", None)
        if late > RESTAMP_AFTER_SECONDS and restamp is not None and not self._batched():
            try:
                restamp(self._bucket, entry[0], late)
            except CacheUnavailableError:  # this process still counts it from the wire
                logger.debug("could not restamp a send", exc_info=True)

    def _batched(self) -> bool:
        """Whether slots are taken from the log a batch at a time (a raised limit)."""
        return self._reserve is not None and self._batch_size(self.limit) > 1

    def _batch_size(self, limit: int) -> int:
        return min(MAX_RESERVE, int(limit / self.base_window_seconds * RESERVE_SECONDS))

    def _own_wait(self, now: float, limit: int, window: float) -> float:
        """Seconds until this limiter's own schedule and own sends allow a send at ``now``:
        the ``limit``-th latest of its sends must have been on the wire a window ago."""
        wait = self._next_at - now
        sends = self._sends
        if len(sends) >= limit:
            wait = max(wait, sends[-limit][1] + window - now)
        return wait

    def _granted(self, now: float, spacing: float) -> None:
        entry = [now, now]
        self._sends.append(entry)
        self._mine.entry = entry
        # On schedule: a send that came late does not delay the next by as much. A send after
        # an idle spell (a second or a spacing behind, whichever is longer) starts a new
        # schedule: no catch-up, so the first two sends of a run are a whole spacing apart.
        if now - self._next_at > max(spacing, IDLE_SECONDS):
            self._next_at = now + spacing
        else:
            self._next_at = max(self._next_at, now - _catch_up(spacing)) + spacing

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
                window = self.window_seconds
                if self._outage_since is not None and now - self._outage_since < window:
                    # The log may have lost the sends of the window before the outage.
                    left = self._outage_since + window - now
                    self._sleep(min(max(left, MIN_SLEEP_SECONDS), POLL_SECONDS))
                    continue
                limit = self.current_limit()
                spacing = window / limit
                self._drop_stale_reservations(now)
                wait = self._own_wait(now, limit, window)
                if self._reserved:  # a slot of the batch already in the log
                    wait = max(wait, self._reserved[0] - now)
                if wait > 0:
                    self._sleep(min(max(wait, MIN_SLEEP_SECONDS), POLL_SECONDS))
                    continue
                if self._reserved:
                    self._reserved.popleft()
                    self._granted(now, spacing)
                    return True
                try:
                    wait = self._take_from_log(now, limit, window, spacing)
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
                    self._granted(now, spacing)
                    return True
                self._sleep(min(wait, POLL_SECONDS))
        finally:
            self._lock.release()

    def _take_from_log(self, now: float, limit: int, window: float, spacing: float) -> float:
        """Take a slot (or, at a raised limit, a batch of them) from the log: 0.0 when one
        is taken, else the seconds to wait."""
        log_spacing = max(0.0, spacing - _catch_up(spacing))
        batch = self._batch_size(limit)
        if batch > 1 and self._reserve is not None:
            planned, wait = self._reserve(self._bucket, now, batch, limit, window, log_spacing)
            if planned:
                self._reserved.extend(planned[1:])
                return 0.0
            return float(wait)
        return self._log.try_acquire(self._bucket, now, limit, window, log_spacing)

    def _drop_stale_reservations(self, now: float) -> None:
        """Slots of a batch planned long enough ago count as unsent: a late send on one of
        them would be counted in the log earlier than it left."""
        stale = now - self.min_margin_seconds / 2
        while self._reserved and self._reserved[0] < stale:
            self._reserved.popleft()

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
