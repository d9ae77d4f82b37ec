"""How long a run of so many calls takes at the rate limit: the figure ``estimate`` gives.

A run does not send ``calls / rate`` seconds' worth of calls and stop. Its first call goes
alone (the concurrency controller learns the latency from it before opening the pipe), the
limiter paces the rest one ``(window + margin) / limit`` apart (the margin keeps a window
from counting 21 sends at 20/s), and the run ends when the last answer is back, a latency
after the last send. ``calls / rate`` left all three out and ran 7-17% short of the time
measured on the sandbox (``benchmarks/estimate_time.py`` measures both).

>>> round(expected_seconds(400, 20.0, latency_seconds=0.1), 2)
20.5
>>> expected_seconds(0, 20.0)
0.0
"""

from __future__ import annotations

from typing import Final

from .ratelimit import WINDOW_MARGIN_SECONDS, window_for_rate

#: What a call is assumed to take when nothing better is known: about what Tencent's service
#: answers in from mainland China (the sandbox answers at once unless told otherwise).
ESTIMATE_LATENCY_SECONDS: Final = 0.1
SECONDS_PER_MINUTE: Final = 60.0
#: ``expected minutes`` is rounded to this many places (0.001 min: 0.06 s).
MINUTE_DECIMALS: Final = 3


def expected_seconds(
    calls: int,
    rate_per_second: float,
    *,
    latency_seconds: float = ESTIMATE_LATENCY_SECONDS,
    margin_seconds: float = WINDOW_MARGIN_SECONDS,
) -> float:
    """Seconds a run of ``calls`` takes at ``rate_per_second``: the first call alone, the
    others paced by the limiter (its least margin), the last answer a latency after its send.
    """
    if calls <= 0:
        return 0.0
    limit, window = window_for_rate(rate_per_second)
    spacing = (window + margin_seconds) / limit
    if calls == 1:
        return latency_seconds
    # the second call leaves when the first is answered (or a spacing later, if longer)
    return max(latency_seconds, spacing) + (calls - 2) * spacing + latency_seconds


def expected_minutes(calls: int, rate_per_second: float) -> float:
    """:func:`expected_seconds` in minutes, rounded to :data:`MINUTE_DECIMALS` places."""
    return round(expected_seconds(calls, rate_per_second) / SECONDS_PER_MINUTE, MINUTE_DECIMALS)
