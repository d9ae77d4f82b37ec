"""The limiter's promise, for every window log: never more than N sends in any window."""

from __future__ import annotations

import heapq
import itertools
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mobilestatus_pandas.engine.ratelimit import (
    MAX_MARGIN_SECONDS,
    NARROW_HALF_LIFE_SECONDS,
    PENALTY_FACTOR,
    RECOVERY_SECONDS,
    WINDOW_MARGIN_SECONDS,
    RateLimiter,
    window_for_rate,
)
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

    def test_a_window_that_widens_counts_the_sends_it_reaches(
        self, make_log: Callable[[], WindowLog]
    ) -> None:
        log = make_log()
        for t in (0.0, 0.3, 0.6, 0.9):
            assert log.try_acquire("b", t, 4, 1.0) == 0.0
        assert log.try_acquire("b", 1.01, 4, 1.0) > 0  # spacing: the send at 0 is out
        # the margin widened to 0.2: the send at 0 is in the window again until 1.2
        assert log.try_acquire("b", 1.16, 4, 1.2, 0.05) == pytest.approx(0.04)

    def test_a_send_restamped_counts_from_when_it_left(
        self, make_log: Callable[[], WindowLog]
    ) -> None:
        log: Any = make_log()
        assert log.try_acquire("b", 0.0, 4, 1.0) == 0.0
        log.restamp("b", 0.0, 0.25)  # it reached the socket 250 ms after its slot
        for t in (0.3, 0.6, 0.9):
            assert log.try_acquire("b", t, 4, 1.0, 0.01) == 0.0
        # at 1.1 the send of 0.0 would be out of the window; moved to 0.25 it is not
        assert log.try_acquire("b", 1.1, 4, 1.0, 0.01) == pytest.approx(0.15)

    def test_spacing_may_be_shorter_than_window_over_limit(
        self, make_log: Callable[[], WindowLog]
    ) -> None:
        log = make_log()
        assert log.try_acquire("b", 0.0, 4, 1.0, 0.125) == 0.0
        assert log.try_acquire("b", 0.0625, 4, 1.0, 0.125) == pytest.approx(0.0625)
        assert log.try_acquire("b", 0.125, 4, 1.0, 0.125) == 0.0
        assert log.try_acquire("b", 0.25, 4, 1.0, 0.125) == 0.0
        assert log.try_acquire("b", 0.375, 4, 1.0, 0.125) == 0.0
        assert log.try_acquire("b", 0.5, 4, 1.0, 0.125) == pytest.approx(0.5), "4 per window"


def test_sqlite_log_is_shared_between_connections(tmp_path: Path) -> None:
    a, b = SQLiteWindowLog(tmp_path / "r.sqlite3"), SQLiteWindowLog(tmp_path / "r.sqlite3")
    assert a.try_acquire("k", 0.0, 1, 1.0) == 0.0
    assert b.try_acquire("k", 0.1, 1, 1.0) > 0


@pytest.mark.parametrize("rate", [1000.0, 20.0, 5.0, 2.5, 1.0, 0.5])
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
    # ... and close to it: the limit per window (one second and the least margin), within
    # 5% (a limiter ten times too slow, or one that waits a whole window per send, fails).
    limit, window = window_for_rate(rate)
    expected = limit / (window + WINDOW_MARGIN_SECONDS)
    assert (len(sends) - 1) / (sends[-1] - sends[0]) >= 0.95 * expected


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

    def try_acquire(
        self,
        bucket: str,
        now: float,
        limit: int,
        window_seconds: float,
        spacing_seconds: float | None = None,
    ) -> float:
        if self.away:
            self.tries_while_away += 1
            raise CacheUnavailableError("Redis at test is not answering")
        wait = self.inner.try_acquire(bucket, now, limit, window_seconds, spacing_seconds)
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


# -- the margin follows the evidence; the back-off is proportionate to it ----------------------


def test_an_isolated_refusal_widens_the_margin_briefly_and_leaves_the_rate(
    clock: FakeClock,
) -> None:
    limiter = RateLimiter(20, LocalWindowLog(), "AKID", clock=clock, sleep=clock.sleep)
    assert limiter.margin_seconds() == WINDOW_MARGIN_SECONDS
    assert limiter.refused(sent_at=clock()) == "widened"
    assert limiter.margin_seconds() == pytest.approx(2 * WINDOW_MARGIN_SECONDS)
    assert limiter.current_limit() == 20, "jitter is no reason to halve the rate"
    assert limiter.penalties == 0
    clock.advance(NARROW_HALF_LIFE_SECONDS)
    assert limiter.margin_seconds() == pytest.approx(1.5 * WINDOW_MARGIN_SECONDS)
    clock.advance(20 * NARROW_HALF_LIFE_SECONDS)
    assert limiter.margin_seconds() == pytest.approx(WINDOW_MARGIN_SECONDS)


def test_refusals_of_requests_sent_before_the_reaction_are_the_same_evidence(
    clock: FakeClock,
) -> None:
    limiter = RateLimiter(20, LocalWindowLog(), "AKID", clock=clock, sleep=clock.sleep)
    sent = clock()
    clock.advance(0.2)
    assert limiter.refused(sent) == "widened"
    widened = limiter.margin_seconds()
    for _ in range(5):  # the others in flight at the same margin answer now
        assert limiter.refused(sent + 0.1) == "none"
    assert limiter.margin_seconds() == widened
    assert limiter.refusals == 6
    assert limiter.widenings == 1


def test_refusals_past_the_widest_margin_mean_someone_else_uses_the_limit(
    clock: FakeClock,
) -> None:
    limiter = RateLimiter(20, LocalWindowLog(), "AKID", clock=clock, sleep=clock.sleep)
    reactions = []
    for _ in range(10):
        clock.advance(0.3)
        reactions.append(limiter.refused(sent_at=clock()))
    widened = reactions.count("widened")
    assert 3 <= widened <= 7, reactions
    assert reactions == ["widened"] * widened + ["penalized"] * (10 - widened)
    assert limiter.margin_seconds() == pytest.approx(MAX_MARGIN_SECONDS, rel=0.01)
    assert limiter.current_limit() < 20 * PENALTY_FACTOR, "the present strong back-off"


def test_a_late_thread_does_not_push_every_later_send_back(clock: FakeClock) -> None:
    """Each wait overshoots by 4 ms (a busy machine): the schedule absorbs it."""

    def late_sleep(seconds: float) -> None:
        clock.sleep(seconds + 0.004)

    limiter = RateLimiter(20, LocalWindowLog(), "AKID", clock=clock, sleep=late_sleep)
    sends = []
    for _ in range(200):
        assert limiter.acquire()
        sends.append(clock())
    assert max_in_window(sends, 1.0) <= 20
    rate = (len(sends) - 1) / (sends[-1] - sends[0])
    assert rate >= 0.98 * 20 / (1 + WINDOW_MARGIN_SECONDS), f"{rate:.2f}/s"


def test_a_send_counts_from_when_it_was_written_to_the_socket(clock: FakeClock) -> None:
    limiter = RateLimiter(20, LocalWindowLog(), "AKID", clock=clock, sleep=clock.sleep)
    first_on_wire = clock() + 0.3
    for _ in range(20):  # each request leaves 300 ms after its slot (a held-up thread)
        assert limiter.acquire()
        limiter.sent(clock() + 0.3)
    assert limiter.acquire()  # the 21st waits a window after the first was on the wire
    assert clock() >= first_on_wire + limiter.window_seconds


def simulate(
    jitter: Callable[[random.Random], float],
    *,
    numbers: int = 600,
    latency_seconds: float = 0.15,
    other_client_per_second: float = 0.0,
    seed: int = 0,
) -> tuple[float, int, RateLimiter]:
    """A run against the sandbox's own counter, on a fake clock: each request reaches the
    counter ``jitter`` late, its answer comes ``latency_seconds`` later, refused ones are sent
    again. ``other_client_per_second`` more arrivals come from someone else on the account.
    Returns answered/s at the service, requests refused, and the limiter."""
    from mobilestatus_pandas.sandbox.server import SandboxConfig, SandboxState

    rng = random.Random(seed)
    clock = FakeClock()
    service = SandboxState(SandboxConfig("AKID", "key"))
    limiter = RateLimiter(20, LocalWindowLog(), "AKID", clock=clock, sleep=clock.sleep)
    events: list[tuple[float, int, str, float]] = []  # (time, order, kind, sent_at)
    order = itertools.count()
    if other_client_per_second:
        step = 1 / other_client_per_second
        for k in range(int(numbers / 20 * other_client_per_second * 3)):
            heapq.heappush(events, (clock() + k * step, next(order), "other", 0.0))
    admitted: list[float] = []
    refused = answered = 0

    def settle(until: float) -> None:
        nonlocal refused, answered
        while events and events[0][0] <= until:
            at, _, kind, sent_at = heapq.heappop(events)
            if kind == "other":
                service.admit("AKID", at)
            elif kind == "arrive":
                ok = service.admit("AKID", at)
                admitted.extend([at] if ok else [])
                heapq.heappush(
                    events, (at + latency_seconds, next(order), "ok" if ok else "no", sent_at)
                )
            elif kind == "ok":
                answered += 1
            else:
                refused += 1
                limiter.refused(sent_at)

    sent = 0
    while answered < numbers:
        settle(clock())
        if sent - refused < numbers:  # a number waiting (new, or refused and sent again)
            assert limiter.acquire()
            sent += 1
            heapq.heappush(events, (clock() + jitter(rng), next(order), "arrive", clock()))
        else:
            clock.advance(0.01)
    return (len(admitted) - 1) / (admitted[-1] - admitted[0]), refused, limiter


def test_under_80_ms_of_jitter_the_service_sees_90_percent_of_the_limit_and_refuses_1_in_100() -> (
    None
):
    for seed in range(3):
        rate, refused, limiter = simulate(lambda rng: rng.uniform(0, 0.08), seed=seed)
        assert rate >= 18.0, (seed, rate)
        assert refused <= 6, (seed, refused)
        assert limiter.penalties == 0, "jitter is not someone else's calls"


def test_without_jitter_nothing_is_refused_near_the_limit() -> None:
    rate, refused, limiter = simulate(lambda rng: 0.0)
    assert refused == 0
    assert rate >= 19.5
    assert limiter.margin_seconds() == WINDOW_MARGIN_SECONDS


def test_someone_else_on_the_account_gets_the_strong_back_off() -> None:
    _, refused, limiter = simulate(lambda rng: 0.0, numbers=200, other_client_per_second=10)
    assert refused > 0
    assert limiter.penalties > 0


class CountingLog:
    """A window log that counts how often it is asked (each ask is a store round trip)."""

    def __init__(self, inner: WindowLog) -> None:
        self.inner = inner
        self.asks = 0

    def try_acquire(self, *args: float | str | None) -> float:
        self.asks += 1
        return self.inner.try_acquire(*args)  # type: ignore[arg-type]

    def reserve(self, *args: float | str | None) -> tuple[list[float], float]:
        self.asks += 1
        return self.inner.reserve(*args)  # type: ignore[arg-type, attr-defined, no-any-return]


@pytest.mark.parametrize("kind", ["local", "sqlite"])
def test_a_raised_limit_takes_its_slots_from_the_log_a_batch_at_a_time(
    kind: str, clock: FakeClock, tmp_path: Path
) -> None:
    log = CountingLog(LOGS[kind](tmp_path))
    limiter = RateLimiter(1000, log, "AKID", clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    sends = []
    for _ in range(3000):
        assert limiter.acquire()
        sends.append(clock())
    assert max_in_window(sends, 1.0) <= 1000
    assert (len(sends) - 1) / (sends[-1] - sends[0]) >= 0.95 * 1000 / 1.02
    assert log.asks <= 3000 / 10, f"{log.asks} asks of the log for 3,000 sends"


def test_at_the_documented_limit_every_slot_is_asked_for_alone(clock: FakeClock) -> None:
    log = CountingLog(LocalWindowLog())
    limiter = RateLimiter(20, log, "AKID", clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    for _ in range(40):
        assert limiter.acquire()
    assert log.asks >= 40


def test_slots_of_a_batch_not_used_in_time_are_dropped(clock: FakeClock) -> None:
    log = CountingLog(LocalWindowLog())
    limiter = RateLimiter(1000, log, "AKID", clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert limiter.acquire()
    asks = log.asks
    clock.advance(1.0)  # the run paused: the slots it took are a second old
    assert limiter.acquire()
    assert log.asks == asks + 1, "a stale slot is not handed out: the log is asked again"
