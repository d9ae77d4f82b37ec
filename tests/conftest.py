"""Shared fixtures: a fake clock, the real sandbox on loopback, a real redis-server.

The isolated environment every test (and every doctest) runs in is ``isolated_env``, in the
``conftest.py`` at the top of the repository: doctests in the package see it too.
"""

from __future__ import annotations

import math
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mobilestatus_pandas as msp
from tests.redis_server import RedisServer, redis_binary

#: What is promised of the rate limit where arrivals jitter (a real network, or loopback on a
#: busy machine, where a request slotted in one second can reach the sandbox in the next): at
#: most 1 request in 100 refused with RequestLimitExceeded, each retried (never a row error)
#: and counted (a ledger row, a call in the run's report). On a quiet loopback it is 0.
REFUSED_PER_REQUEST = 0.01


def allowed_refusals(requests: int) -> int:
    """The RequestLimitExceeded answers a run of ``requests`` requests may see: 1 in 100, and
    one in a run shorter than 100 (a single late arrival is jitter; a limiter that goes too
    fast is refused far more often than that)."""
    return max(1, math.floor(requests * REFUSED_PER_REQUEST))


#: For tests of what a run does, not of its pace: a sandbox and clients allowed this many calls
#: a second, so that a few hundred numbers take a second or two rather than tens (the rate
#: limit and the pace are the serial tests' and benchmarks/' to check).
FAST_RATE = 200.0


class FastSandbox(msp.Sandbox):
    """A sandbox that allows :data:`FAST_RATE` calls a second, and whose clients go at it."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("rate_limit", FAST_RATE)
        super().__init__(**options)

    def client(self, **options: Any) -> msp.MobileStatusClient:
        options.setdefault("rate_limit", FAST_RATE)
        return super().client(**options)


class FakeClock:
    """A clock that only moves when told to (or when something sleeps on it)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    """Each test's pyplot figures closed after it: a worker runs a whole test file (``--dist
    loadfile``), and pyplot warns from the 21st open figure on, in whichever test opens it."""
    yield
    pyplot = sys.modules.get("matplotlib.pyplot")  # never imported here for a test without it
    if pyplot is not None:
        pyplot.close("all")


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """Ctrl-C (SIGINT, ``_thread.interrupt_main``) raises KeyboardInterrupt in this process
    and in the processes it starts, as in a terminal, also when the tests were started where
    SIGINT is ignored (a script's background job, ``cmd &`` without job control): there
    Python leaves it ignored, its children inherit that, and ``interrupt_main`` does nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox() -> Iterator[msp.Sandbox]:
    with msp.Sandbox() as sb:
        yield sb


@pytest.fixture
def fast_sandbox() -> Iterator[FastSandbox]:
    """A sandbox for tests of what a run does, not of its pace (see :data:`FAST_RATE`)."""
    with FastSandbox() as sb:
        yield sb


@pytest.fixture
def cache_file(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "mobilestatus.sqlite3"


def skip_without_redis() -> None:
    """Skip (fail under ``$MOBILESTATUS_REQUIRE_REDIS``, as in CI) without redis-server."""
    import os

    missing = None
    if redis_binary() is None:
        missing = "redis-server is not installed (Debian package redis-server)"
    else:
        try:
            import redis  # noqa: F401
        except ImportError:
            missing = "the redis package is not installed (pip install -e '.[dev]')"
    if missing and os.environ.get("MOBILESTATUS_REQUIRE_REDIS"):
        pytest.fail(f"{missing}, and MOBILESTATUS_REQUIRE_REDIS is set")
    if missing:
        pytest.skip(missing)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session (skips when the binary is not installed)."""
    skip_without_redis()
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    import redis

    if not redis_server.ping():  # a test that stopped it: bring it back
        redis_server.start()
    with redis.Redis.from_url(redis_server.url) as connection:
        connection.flushall()
    return redis_server.url


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[msp.Sandbox]:
    """One sandbox for tests that run many examples (hypothesis): reset its stats per use."""
    with msp.Sandbox() as sb:
        yield sb
