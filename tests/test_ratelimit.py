"""The limiter's promise, for every window log: never more than N sends in any window."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mobilestatus_pandas.engine.ratelimit import RECOVERY_SECONDS, RateLimiter, window_for_rate
from mobilestatus_pandas.errors import CacheUnavailableError
from mobilestatus_pandas.stores import LocalWindowLog, SQLiteWindowLog, WindowLog
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


@pytest.fixture(params=[*sorted(LOGS), "redis"])
def make_log(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], WindowLog]:
    if request.param == "redis":  # a real redis-server (skips when it is not installed)
        from mobilestatus_pandas.stores import redis as redis_backend

        url = request.getfixturevalue("redis_url")
        return lambda: redis_backend.RedisWindowLog(redis_backend.connect(url), server_time=False)
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


class FlakyLog:
    """A window log that is away (raises) while ``away`` is set; counts every grant."""

    def __init__(self) -> None:
        self.inner = LocalWindowLog()
        self.away = False
        self.tries_while_away = 0
        self.grants: list[float] = []

    def try_acquire(self, bucket: str, now: float, limit: int, window_seconds: float) -> float:
        if self.away:
            self.tries_while_away += 1
            raise CacheUnavailableError("Redis at test is not answering")
        wait = self.inner.try_acquire(bucket, now, limit, window_seconds)
        if wait <= 0:
            self.grants.append(now)
        return wait


def test_outage_pauses_then_resumes_after_a_whole_window(clock: FakeClock) -> None:
    log = FlakyLog()
    limiter = RateLimiter(
        20, log, "AKID", clock=clock, sleep=clock.sleep, outage_timeout_seconds=30
    )
    assert limiter.acquire()
    log.away = True
    outage_began = clock()

    def come_back(seconds: float) -> None:
        clock.sleep(seconds)
        if clock() - outage_began > 3:
            log.away = False

    limiter._sleep = come_back
    assert limiter.acquire()
    assert log.tries_while_away > 1, "it kept asking while the log was away"
    assert len(log.grants) == 2, "no slot was given without the log"
    assert log.grants[1] - outage_began >= 3
    assert limiter.outages == 1


def test_short_outage_still_waits_one_window(clock: FakeClock) -> None:
    """The log may have lost the last second's sends: wait them out before sending again."""
    log = FlakyLog()
    limiter = RateLimiter(20, log, "AKID", clock=clock, sleep=clock.sleep)
    log.away = True
    began = clock()

    def back_at_once(seconds: float) -> None:
        clock.sleep(seconds)
        log.away = False

    limiter._sleep = back_at_once
    assert limiter.acquire()
    assert log.grants[0] - began >= limiter.window_seconds


def test_outage_longer_than_the_timeout_raises(clock: FakeClock) -> None:
    log = FlakyLog()
    log.away = True
    limiter = RateLimiter(20, log, "AKID", clock=clock, sleep=clock.sleep, outage_timeout_seconds=5)
    start = clock()
    with pytest.raises(CacheUnavailableError, match="outage_timeout"):
        limiter.acquire()
    assert 5 <= clock() - start <= 5.5
    assert log.grants == []
    with pytest.raises(CacheUnavailableError):  # still away: the next ask fails at once
        limiter.acquire()
    assert clock() - start <= 6


def test_stop_event_ends_an_outage_wait(clock: FakeClock) -> None:
    log = FlakyLog()
    log.away = True
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        stop.set()
        clock.sleep(seconds)

    limiter = RateLimiter(20, log, "AKID", clock=clock, sleep=sleep)
    assert limiter.acquire(stop) is False
    assert log.grants == []
