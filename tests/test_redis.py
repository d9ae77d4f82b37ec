"""The Redis backend against a real redis-server and the real sandbox on loopback.

Skips when ``redis-server`` (Debian package) is not installed; ``.ci/run`` installs it.
"""

from __future__ import annotations

import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mobilestatus_pandas as msp
from mobilestatus_pandas import cli
from mobilestatus_pandas.datasets import random_numbers
from mobilestatus_pandas.stores import redis as redis_backend
from mobilestatus_pandas.stores import resolve_cache
from tests.conftest import FastSandbox, allowed_refusals, skip_without_redis
from tests.redis_server import RedisServer

pytestmark = pytest.mark.integration

TEAM_KEY = "ab" * 32
#: Statuses that are not a final answer about the number.
UNANSWERED = ("busy", "daily_limit", "error", "not_checked")


def redis_connection(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, decode_responses=True)


def everything_in(url: str) -> str:
    """Every key and every value in the Redis, as one text (to look for numbers in)."""
    r = redis_connection(url)
    parts = []
    for name in r.scan_iter(count=1000):
        kind = r.type(name)
        parts.append(name)
        if kind == "string":
            parts.append(r.get(name))
        elif kind == "hash":
            parts.append(str(r.hgetall(name)))
        elif kind == "stream":
            parts.append(str(r.xrange(name)))
        elif kind == "zset":
            parts.append(str(r.zrange(name, 0, -1, withscores=True)))
    return "\n".join(parts)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, free to stop and restart."""
    skip_without_redis()
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def team_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MOBILESTATUS_CACHE_KEY", TEAM_KEY)
    return TEAM_KEY


def test_a_run_caches_in_redis_and_the_next_run_pays_nothing(
    sandbox: msp.Sandbox, redis_url: str, team_key: str
) -> None:
    numbers = random_numbers(40, seed=3)
    frame = pd.DataFrame({"phone": [*numbers, "not a number"]})
    client = sandbox.client(cache=redis_url, price_per_call=0.05)
    out = frame.mobile.status("phone", client=client, progress=False)
    assert not out["mobile_status"].iloc[:40].isin(UNANSWERED).any()
    assert out["mobile_status"].iloc[-1] == "invalid"
    calls = sandbox.stats()["requests"]
    assert calls >= 40

    again = sandbox.client(cache=redis_url).lookup_many(numbers, progress=False)
    assert again["from_cache"].all()
    assert sandbox.stats()["requests"] == calls, "the second run made no call"

    ledger = client.ledger()
    assert len(ledger) == calls
    assert ledger["billed"].sum() == out["mobile_billed"].sum()
    assert ledger["called_at"].dt.tz is not None
    assert set(ledger["secret_id"]) == {sandbox.secret_id}
    assert client.billing()["billed"].sum() == ledger["billed"].sum()

    stored = everything_in(redis_url)
    assert not any(n in stored for n in numbers), "no full number reaches Redis"
    assert sandbox.secret_key not in stored


def test_answers_expire_with_the_cache_ttl(
    sandbox: msp.Sandbox, redis_url: str, team_key: str
) -> None:
    import datetime as dt

    client = sandbox.client(cache=redis_url, cache_ttl=dt.timedelta(hours=2))
    client.lookup(random_numbers(1, seed=5)[0])
    r = redis_connection(redis_url)
    [answer] = list(r.scan_iter(match="mobilestatus:answer:*"))
    assert 2 * 3600 * 1000 - 60_000 < r.pttl(answer) <= 2 * 3600 * 1000
    assert r.pttl("mobilestatus:ledger") == -1, "the ledger never expires"


def test_environment_variable_chooses_redis(
    sandbox: msp.Sandbox, redis_url: str, team_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOBILESTATUS_CACHE", redis_url)
    client = sandbox.client(cache="default")
    assert client.cache_location == redis_url
    assert client.cache_path is None
    client.lookup(random_numbers(1, seed=6)[0])
    assert redis_connection(redis_url).xlen("mobilestatus:ledger") == 1


def test_machines_with_the_team_key_share_answers(
    sandbox: msp.Sandbox,
    redis_url: str,
    team_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    numbers = random_numbers(10, seed=7)
    monkeypatch.setenv("MOBILESTATUS_CACHE_DIR", str(tmp_path / "machine-a"))
    sandbox.client(cache=redis_url).lookup_many(numbers, progress=False)
    calls = sandbox.stats()["requests"]
    monkeypatch.setenv("MOBILESTATUS_CACHE_DIR", str(tmp_path / "machine-b"))
    out = sandbox.client(cache=redis_url).lookup_many(numbers, progress=False)
    assert out["from_cache"].all()
    assert sandbox.stats()["requests"] == calls


def test_a_different_hashing_key_is_refused_not_paid_again(
    sandbox: msp.Sandbox, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No shared key: each machine's own key file, so machine B would hash differently.
    monkeypatch.setenv("MOBILESTATUS_CACHE_DIR", str(tmp_path / "machine-a"))
    sandbox.client(cache=redis_url).lookup(random_numbers(1, seed=8)[0])
    monkeypatch.setenv("MOBILESTATUS_CACHE_DIR", str(tmp_path / "machine-b"))
    with pytest.raises(msp.InputError, match="MOBILESTATUS_CACHE_KEY"):
        sandbox.client(cache=redis_url)


def test_unreachable_redis_says_so_before_anything_is_sent(sandbox: msp.Sandbox) -> None:
    skip_without_redis()
    from tests.redis_server import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(msp.CacheUnavailableError, match="cannot use Redis at"):
        sandbox.client(cache=url)
    assert sandbox.stats()["requests"] == 0


def test_password_never_shows(redis_url: str, team_key: str) -> None:
    from tests.redis_server import free_port

    secret_url = redis_url.replace("redis://", "redis://:hunter2-password@")
    assert redis_backend.mask_url(secret_url) == redis_url.replace("redis://", "redis://:***@")
    client = msp.MobileStatusClient("http://127.0.0.1:9", "AKID", "k" * 32, cache=secret_url)
    assert "hunter2" not in repr(client)
    assert ":***@" in repr(client)
    assert "hunter2" not in repr(client.store)
    away = f"redis://:hunter2-password@127.0.0.1:{free_port()}/0"
    with pytest.raises(msp.CacheUnavailableError) as caught:
        msp.MobileStatusClient("http://127.0.0.1:9", "AKID", "k" * 32, cache=away)
    assert "hunter2" not in str(caught.value)
    assert ":***@" in str(caught.value)


def test_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(msp.MissingDependencyError, match=r"mobilestatus-pandas\[redis\]"):
        msp.MobileStatusClient("http://127.0.0.1:9", "AKID", "k" * 32, cache="redis://x:1/0")
    with pytest.raises(ImportError):  # also an ImportError, as callers may expect
        msp.MobileStatusClient("http://127.0.0.1:9", "AKID", "k" * 32, cache="redis://x:1/0")


def test_other_url_schemes_are_refused() -> None:
    with pytest.raises(msp.InputError, match="redis://"):
        msp.MobileStatusClient("http://127.0.0.1:9", "AKID", "k" * 32, cache="memcached://x:1")


@pytest.mark.parametrize(
    "typo", ["redis:/host:6379", "redis//h:6379/0", "rediss:/x", "unix:/tmp/redis.sock", "Redis:h"]
)
def test_a_mistyped_redis_url_is_refused_not_a_sqlite_folder(
    typo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(msp.InputError, match=r"cache=.*looks like a Redis URL") as caught:
        msp.MobileStatusClient("http://127.0.0.1:9", "AKID", "k" * 32, cache=typo)
    assert repr(typo) in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # no SQLite cache made in a folder of that name
    monkeypatch.setenv("MOBILESTATUS_CACHE", typo)
    with pytest.raises(msp.InputError, match=r"\$MOBILESTATUS_CACHE="):
        msp.MobileStatusClient("http://127.0.0.1:9", "AKID", "k" * 32)


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.sampled_from(["redis:", "redis:/", "redis//", "rediss:/", "REDIS:", "unix:/"]),
    user=st.sampled_from(["", "default"]),
    password=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=6, max_size=20),
    where=st.sampled_from(["userinfo", "query"]),
)
def test_a_mistyped_redis_url_never_shows_its_password(
    prefix: str, user: str, password: str, where: str
) -> None:
    password = f"Zq{password}"  # a text the message cannot hold by chance
    url = (
        f"{prefix}{user}:{password}@h:6379/0"
        if where == "userinfo"
        else f"{prefix}h:6379/0?db=0&password={password}"
    )
    with pytest.raises(msp.InputError) as caught:
        resolve_cache(url)
    assert password not in str(caught.value)
    assert "***" in str(caught.value)


@pytest.mark.parametrize("path", ["redis/cache.sqlite", "redis-cache.sqlite", "rediscache"])
def test_paths_that_only_start_with_redis_stay_sqlite_files(path: str) -> None:
    assert resolve_cache(path) == Path(path)


def test_import_of_the_package_does_not_import_redis() -> None:
    import subprocess

    code = "import mobilestatus_pandas, sys; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_rate_log_uses_the_servers_clock(redis_url: str) -> None:
    """Machines whose clocks disagree by minutes still share one window."""
    log = redis_backend.RedisWindowLog(redis_backend.connect(redis_url))
    assert log.try_acquire("AKID", 0.0, 2, 1.0) == 0.0  # "now" passed in is ignored
    wait = log.try_acquire("AKID", 9e9, 2, 1.0)
    assert 0.4 < wait <= 0.5, "the second send waits its spacing on the server's clock"


def test_concurrent_limiters_never_pass_the_limit_together(redis_url: str) -> None:
    """Six clients (own connections, own limiters) against one Redis: 10 per second in all."""
    from mobilestatus_pandas.engine.ratelimit import RateLimiter

    grants: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        log = redis_backend.RedisWindowLog(redis_backend.connect(redis_url))
        limiter = RateLimiter(10, log, "AKIDshared", window_margin_seconds=0.0)
        for _ in range(5):
            assert limiter.acquire()
            with lock:
                grants.append(time.time())

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    grants.sort()
    assert len(grants) == 30
    in_any_second = max(
        sum(1 for t in grants if start <= t < start + 0.98) for start in grants
    )  # 20 ms less than a window: the client's clock reads a little after the server's
    assert in_any_second <= 10
    assert (len(grants) - 1) / (grants[-1] - grants[0]) > 8, "and it keeps close to the rate"


def test_redis_away_past_the_timeout_ends_the_run_cleanly(
    own_redis: RedisServer, team_key: str
) -> None:
    numbers = random_numbers(200, seed=11)
    with FastSandbox(latency_ms=20, own_process=True) as sb:
        # At the account's pace, so that Redis goes away mid-run; the resume at the
        # sandbox's (what it calls is the point, not how fast).
        client = sb.client(cache=own_redis.url, outage_timeout=1.5, rate_limit=20)
        timer = threading.Timer(1.0, own_redis.stop)
        timer.start()
        with pytest.warns(msp.RunStoppedWarning, match="Redis at") as caught:
            out = client.lookup_many(numbers, progress=False)
        timer.join()
        stats = sb.stats()
        report = out.attrs["mobilestatus"]
        assert report["stop_reason"] == "cache unavailable"
        not_checked = out["status"] == "not_checked"
        assert 0 < not_checked.sum() < len(numbers)
        assert out.loc[not_checked, "error"].str.contains("Redis at").all()
        assert "outage_timeout" in str(caught[0].message)
        answered = out["status"] != "not_checked"
        assert answered.sum() == stats["requests"], "every call's answer is in the frame"

        own_redis.start()  # the held writes go to Redis when it is back
        assert client.store.flush(timeout_seconds=10) == 0
        ledger = client.ledger()
        assert len(ledger) == stats["requests"]
        assert ledger["billed"].sum() == stats["billed"]
        again = sb.client(cache=own_redis.url).lookup_many(numbers, progress=False)  # resumes
        assert again["from_cache"].sum() == answered.sum()
        assert again.attrs["mobilestatus"]["calls"] == not_checked.sum()
        assert not again["status"].isin(UNANSWERED).any()
        assert sb.stats()["numbers_billed_more_than_once"] == 0


@pytest.mark.serial
def test_redis_restart_mid_run_loses_no_answered_result(
    own_redis: RedisServer, team_key: str
) -> None:
    numbers = random_numbers(120, seed=12)
    with msp.Sandbox(latency_ms=300, own_process=True) as sb:
        client = sb.client(cache=own_redis.url)
        restart = threading.Timer(2.0, own_redis.restart, kwargs={"down_seconds": 0.5})
        restart.start()
        with warnings.catch_warnings():
            warnings.simplefilter("error", msp.RunStoppedWarning)
            out = client.lookup_many(numbers, progress=False)
        restart.join()
        stats = sb.stats()
        assert client.limiter.outages >= 1, "the run did see Redis go away"
        assert client.store.failed_writes >= 1, "answers arrived while it was away"
        assert not out["status"].isin(UNANSWERED).any(), "every number was answered"
        assert stats["rate_limited"] <= allowed_refusals(stats["requests"]), stats
        assert stats["numbers_billed_more_than_once"] == 0

        # Everything answered is in Redis: the ledger has every call, the cache every number.
        fresh = sb.client(cache=own_redis.url)
        assert len(fresh.ledger()) == stats["requests"]
        again = fresh.lookup_many(numbers, progress=False)
        assert again["from_cache"].all()
        assert sb.stats()["requests"] == stats["requests"]


def test_cli_cache_info_and_clear_on_redis(
    sandbox: msp.Sandbox, redis_url: str, team_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.client(cache=redis_url).lookup_many(random_numbers(5, seed=13), progress=False)
    assert cli.main(["cache", "info", "--cache", redis_url]) == 0
    shown = capsys.readouterr().out
    assert "cached answers: 5" in shown
    assert "ledger calls:   5" in shown
    assert cli.main(["cache", "clear", "--cache", redis_url]) == 0
    assert "cleared 5" in capsys.readouterr().out
    assert cli.main(["cache", "info", "--cache", redis_url]) == 0
    assert "cached answers: 0" in capsys.readouterr().out


@pytest.mark.serial
def test_redis_away_before_a_run_raises_before_anything_is_sent(
    own_redis: RedisServer, team_key: str, sandbox: msp.Sandbox
) -> None:
    client = sandbox.client(cache=own_redis.url, outage_timeout=0.5)
    own_redis.stop()
    started = time.monotonic()
    with pytest.raises(msp.CacheUnavailableError, match="did not answer"):
        client.lookup_many(random_numbers(5, seed=14), progress=False)
    assert time.monotonic() - started >= 0.5, "it waited for Redis first"
    assert sandbox.stats()["requests"] == 0


def test_writes_held_while_redis_is_away_count_as_cached_and_land_later(
    own_redis: RedisServer,
) -> None:
    from mobilestatus_pandas.stores import CachedAnswer, LedgerEntry

    store = redis_backend.RedisStore(
        redis_backend.connect(own_redis.url), ttl_seconds=60, outage_timeout=0.3
    )
    entry = LedgerEntry(time.time(), "k1", "0", 0, True, "req-1", None, "run", "AKID")
    answer = CachedAnswer("0", "ok", 0, "req-1", entry.called_at)
    own_redis.stop()
    store.record(entry, answer)  # does not raise: held
    assert store.held_writes == 1
    assert store.failed_writes == 1
    assert store.flush(timeout_seconds=0.3) == 1, "still away: still held"
    with pytest.raises(msp.CacheUnavailableError):
        store.ledger()
    own_redis.start()
    assert store.get_many(["k1"], 0) == {"k1": answer}
    assert store.held_writes == 0, "written on the next use"
    assert store.ledger() == [entry]
    assert store.flush() == 0
    assert store.ledger() == [entry], "written once"
    store.close()


def test_a_write_retried_after_a_lost_reply_is_recorded_once(redis_url: str) -> None:
    from mobilestatus_pandas.stores import CachedAnswer, LedgerEntry

    store = redis_backend.RedisStore(redis_backend.connect(redis_url), ttl_seconds=60)
    entry = LedgerEntry(1.0, "k1", "0", 0, True, "req-1", None, "run", "AKID")
    answer = CachedAnswer("0", "ok", 0, "req-1", 1.0)
    store._write("marker-1", entry, answer)
    store._write("marker-1", entry, answer)  # the same write again: Redis did it already
    assert store.ledger() == [entry]
    store._write("marker-2", entry, answer)  # another call of the same number: recorded
    assert len(store.ledger()) == 2
    store.close()


def test_redis_claims_expire_on_the_server(redis_url: str) -> None:
    store = redis_backend.RedisStore(redis_backend.connect(redis_url), ttl_seconds=60)
    assert store.claim("k", "run-a", 0.0, 30)
    ttl = redis_connection(redis_url).pttl("mobilestatus:claim:k")
    assert 29_000 < ttl <= 30_000
    assert not store.claim("k", "run-b", 0.0, 30)
    store.close()
