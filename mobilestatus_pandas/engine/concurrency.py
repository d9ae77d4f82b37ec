"""How many calls to keep in flight: enough to reach the rate limit at the latency observed.

Little's law says a pipe that answers in ``W`` seconds carries ``rate x W`` calls at once when
it runs at ``rate`` calls per second. A fixed pool is right at one latency only: 30 workers
reach 20 calls/s up to 1.5 s, and cap a run at 13.7 calls/s when the service answers in 2 s
(analysts far from the endpoint see such latencies). :class:`InFlightTarget` watches how long
answers take and keeps ``rate x mean latency x headroom`` calls in flight, within the thread
bound (``max_workers``). Calls beyond what the rate allows wait for a slot from the rate
limiter, which alone decides when a call leaves: a wider pipe never sends faster than the
limit.

The mean (not the median) is what Little's law needs: with a heavy tail, the slow calls hold
their slots for long, and the mean counts them.

>>> now = [0.0]
>>> target = InFlightTarget(20, max_in_flight=60, clock=lambda: now[0])
>>> target.width()  # before any answer: as if answers took INITIAL_LATENCY_SECONDS
40
>>> for _ in range(40):
...     sent_at = now[0]
...     now[0] += 2.0  # answers take two seconds
...     target.answered(sent_at)
>>> target.width()  # 20/s x 2 s x 2 = 80, within the bound
60
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final

#: Before the first answer, calls are assumed to take this long.
INITIAL_LATENCY_SECONDS: Final = 1.0
#: In flight = rate x mean latency x HEADROOM: room for calls waiting for their slot, and for
#: the mean of the latest answers running low under a heavy tail (the slowest calls of the
#: moment are still in flight, not yet counted). 1.5 reached 18.1 calls/s at 1 s median with
#: a lognormal tail (sigma 1), 2 reached 19.4 (benchmarks/latency.py).
HEADROOM: Final = 2.0
#: The mean latency is taken over this many of the latest answers.
LATENCY_SAMPLES: Final = 64
#: Never fewer calls in flight than this (after the first call of a run, which goes alone).
MIN_IN_FLIGHT: Final = 2


class InFlightTarget:
    """The number of calls to keep in flight, following the latency of recent answers.

    Args:
        rate_per_second: the rate the calls should reach (the client's ``rate_limit``).
        max_in_flight: the bound (the worker threads there are).
        clock: seconds (any origin, the same as the ``sent_at`` given to :meth:`answered`).
        headroom: multiplies ``rate x latency``.
        samples: how many of the latest answers the mean latency is taken over.

    Thread-safe: workers report answers while the dispatcher asks for the width.
    """

    def __init__(
        self,
        rate_per_second: float,
        max_in_flight: int,
        *,
        clock: Callable[[], float] = time.time,
        headroom: float = HEADROOM,
        samples: int = LATENCY_SAMPLES,
        initial_latency_seconds: float = INITIAL_LATENCY_SECONDS,
    ) -> None:
        if not (math.isfinite(rate_per_second) and rate_per_second > 0):
            raise ValueError(f"rate_per_second must be a positive number, got {rate_per_second!r}")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight!r}")
        if headroom < 1:
            raise ValueError(f"headroom must be at least 1, got {headroom!r}")
        self.rate_per_second = rate_per_second
        self.max_in_flight = max_in_flight
        self.headroom = headroom
        self.initial_latency_seconds = initial_latency_seconds
        self._clock = clock
        self._latencies: deque[float] = deque(maxlen=samples)
        self._lock = threading.Lock()

    def answered(self, sent_at: float) -> None:
        """An answer to a call sent at ``sent_at`` (on this object's clock) arrived now."""
        self.observe(self._clock() - sent_at)

    def observe(self, latency_seconds: float) -> None:
        """Count one call that took ``latency_seconds`` from send to answer."""
        latency = max(0.0, latency_seconds)
        with self._lock:
            self._latencies.append(latency)

    def mean_latency(self) -> float:
        """The mean latency of the latest answers (the initial guess before any)."""
        with self._lock:
            if not self._latencies:
                return self.initial_latency_seconds
            return sum(self._latencies) / len(self._latencies)

    def width(self) -> int:
        """Calls to keep in flight now: ``rate x mean latency x headroom``, within bounds."""
        wanted = math.ceil(self.rate_per_second * self.mean_latency() * self.headroom)
        return max(min(MIN_IN_FLIGHT, self.max_in_flight), min(self.max_in_flight, wanted))

    def __repr__(self) -> str:
        return (
            f"InFlightTarget(rate_per_second={self.rate_per_second:g}, "
            f"max_in_flight={self.max_in_flight}, width={self.width()})"
        )
