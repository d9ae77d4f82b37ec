"""How long ``estimate`` says a run takes (engine/timing.py): the model, checked by itself;
``benchmarks/estimate_time.py`` compares it with runs on the sandbox."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mobilestatus_pandas.engine import timing
from mobilestatus_pandas.engine.ratelimit import WINDOW_MARGIN_SECONDS


def test_a_run_is_its_first_call_alone_the_paced_rest_and_the_last_answer() -> None:
    spacing = (1.0 + WINDOW_MARGIN_SECONDS) / 20
    assert timing.expected_seconds(1, 20.0, latency_seconds=0.3) == pytest.approx(0.3)
    # 400 calls, 0.3 s each: the first answered at 0.3 s, 398 spacings, the last answer
    assert timing.expected_seconds(400, 20.0, latency_seconds=0.3) == pytest.approx(
        0.3 + 398 * spacing + 0.3
    )
    # calls / rate (20 s) was short of this by the margin and two latencies
    assert timing.expected_seconds(400, 20.0, latency_seconds=0.3) > 400 / 20 * 1.04
    assert timing.expected_minutes(400, 20.0) == round(
        timing.expected_seconds(400, 20.0) / 60, timing.MINUTE_DECIMALS
    )
    assert timing.expected_seconds(0, 20.0) == 0.0


def test_slow_rates_pace_one_call_per_window() -> None:
    # 0.5 calls/s: one call each 2 s window (and its margin)
    assert timing.expected_seconds(3, 0.5, latency_seconds=0.1) == pytest.approx(
        (2.0 + WINDOW_MARGIN_SECONDS) * 2 + 0.1
    )


@given(
    calls=st.integers(min_value=1, max_value=100_000),
    rate=st.floats(min_value=0.1, max_value=500.0),
    latency=st.floats(min_value=0.0, max_value=5.0),
)
def test_never_less_than_the_rate_allows_and_more_calls_take_longer(
    calls: int, rate: float, latency: float
) -> None:
    seconds = timing.expected_seconds(calls, rate, latency_seconds=latency)
    limit, window = int(rate) if rate >= 1 else 1, 1.0 if rate >= 1 else 1 / rate
    assert seconds >= (calls - 1) * window / limit - 1e-9
    assert seconds >= latency
    assert timing.expected_seconds(calls + 1, rate, latency_seconds=latency) > seconds
