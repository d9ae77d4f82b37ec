"""The limiter's promise, for every window log: never more than N sends in any window."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mobilestatus_pandas.ratelimit import (
    RECOVERY_SECONDS,
    LocalWindowLog,
    RateLimiter,
    SQLiteWindowLog,
    WindowLog,
    window_for_rate,
)
from tests.conftest import FakeClock


def max_in_window(times: list[float], window: float) -> int:
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


LOGS: dict[str, Callable[[Path], WindowLog]] = {
    "local": lambda _: LocalWindowLog(),
    "sqlite": lambda tmp: SQLiteWindowLog(tmp / "rate.sqlite3"),
}


@pytest.fixture(params=sorted(LOGS))
def make_log(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], WindowLog]:
    return lambda: LOGS[request.param](tmp_path)


class TestWindowLogContract:
    def test_allows_limit_then_says_how_long_to_wait(
        self, make_log: Callable[[], WindowLog]
    ) -> None:
        log = make_log()
        assert [log.try_acquire("b", t, 4, 1.0) for t in (0.0, 0.3, 0.6, 0.9)] == [0.0] * 4
        assert log.try_acquire("b", 0.95, 4, 1.0) == pytest.approx(0.2)  # spacing
        assert log.try_acquire("b", 1.16, 4, 1.0) == 0.0

    def test_sends_are_spaced(self, make_log: Callable[[], WindowLog]) -> None:
        log = make_log()
        assert log.try_acquire("b", 0.0, 4, 1.0) == 0.0
        assert log.try_acquire("b", 0.1, 4, 1.0) == pytest.approx(0.15)
        assert log.try_acquire("b", 0.25, 4, 1.0) == 0.0

    def test_buckets_are_separate(self, make_log: Callable[[], WindowLog]) -> None:
        log = make_log()
        assert log.try_acquire("a", 0.0, 1, 1.0) == 0.0
        assert log.try_acquire("b", 0.0, 1, 1.0) == 0.0
        assert log.try_acquire("a", 0.5, 1, 1.0) > 0

    def test_smaller_limit_waits_for_more_sends_to_expire(
        self, make_log: Callable[[], WindowLog]
    ) -> None:
        log = make_log()
        for t in (0.0, 0.3, 0.6, 0.9):
            log.try_acquire("b", t, 4, 1.0)
        # backing off to 2 per window at 1.0: of the sends at 0.3, 0.6, 0.9 still in the
        # window two must leave before one more fits, so the wait ends when 0.6 expires
        assert log.try_acquire("b", 1.0, 2, 1.0) == pytest.approx(0.6)


def test_sqlite_log_is_shared_between_connections(tmp_path: Path) -> None:
    a, b = SQLiteWindowLog(tmp_path / "r.sqlite3"), SQLiteWindowLog(tmp_path / "r.sqlite3")
    assert a.try_acquire("k", 0.0, 1, 1.0) == 0.0
    assert b.try_acquire("k", 0.1, 1, 1.0) > 0


@pytest.mark.parametrize("rate", [20.0, 5.0, 2.5, 1.0, 0.5])
def test_never_more_than_rate_in_any_second(
    rate: float, clock: FakeClock, make_log: Callable[[], WindowLog]
) -> None:
    limiter = RateLimiter(rate, make_log(), "AKID", clock=clock, sleep=clock.sleep)
    sends = []
    for _ in range(int(rate * 10) + 5):
        assert limiter.acquire()
        sends.append(clock())
        clock.advance(0.001)
    assert max_in_window(sends, 1.0) <= max(1, int(rate))
    elapsed = sends[-1] - sends[0]
    assert len(sends) / (elapsed + 1.0) >= min(rate, 1) * 0.8, "and it keeps close to the rate"


def test_window_for_rate() -> None:
    assert window_for_rate(20) == (20, 1.0)
    assert window_for_rate(2.5) == (2, 1.0)
    assert window_for_rate(0.25) == (1, 4.0)
    with pytest.raises(ValueError, match="positive"):
        window_for_rate(0)


def test_penalty_halves_then_recovers(clock: FakeClock) -> None:
    limiter = RateLimiter(20, LocalWindowLog(), "AKID", clock=clock, sleep=clock.sleep)
    assert limiter.current_limit() == 20
    limiter.penalize()
    assert limiter.current_limit() == 10
    limiter.penalize()
    assert limiter.current_limit() == 5
    clock.advance(RECOVERY_SECONDS / 2)
    assert 5 < limiter.current_limit() < 20
    clock.advance(RECOVERY_SECONDS)
    assert limiter.current_limit() == 20
    for _ in range(10):
        limiter.penalize()
    assert limiter.current_limit() == 2, "never below a tenth of the rate"


def test_stop_event_ends_a_wait(clock: FakeClock) -> None:
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        stop.set()  # someone pressed Ctrl-C while we waited
        clock.sleep(seconds)

    limiter = RateLimiter(1, LocalWindowLog(), "AKID", clock=clock, sleep=sleep)
    assert limiter.acquire(stop)
    assert limiter.acquire(stop) is False
    assert limiter.acquire(stop) is False


def test_margin_widens_the_window(clock: FakeClock) -> None:
    limiter = RateLimiter(
        2, LocalWindowLog(), "AKID", clock=clock, sleep=clock.sleep, window_margin_seconds=0.05
    )
    for _ in range(3):
        limiter.acquire()
    assert clock() == pytest.approx(1_700_000_000 + 1.05)
