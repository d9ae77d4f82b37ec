"""A store that fails mid-run is an outage: the run ends cleanly, answers kept, reason said.

Redis out of memory (``maxmemory`` with ``noeviction``), Redis read-only (a replica after a
failover) and a SQLite file locked by another process past its busy timeout reach the
engine as :class:`CacheUnavailableError`, never as a raw third-party exception that loses
the frame. And claims hold or fail closed: no number is called without one, and an
interrupted run renews its claims until the calls it abandoned have ended.
"""

from __future__ import annotations

import _thread
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import random_numbers
from mobilestatus_pandas.engine import dispatch
from mobilestatus_pandas.stores import (
    NOT_RECORDED,
    CachedAnswer,
    LedgerEntry,
    SQLiteStore,
    SQLiteWindowLog,
)
from mobilestatus_pandas.stores import redis as redis_backend
from mobilestatus_pandas.stores import sqlite as cache
from tests.conftest import FastSandbox, skip_without_redis
from tests.redis_server import RedisServer, free_port

pytestmark = pytest.mark.integration

TEAM_KEY = "cd" * 32
#: A busy timeout short enough for a test to wait it out.
SHORT_BUSY_SECONDS = 0.2


def an_entry(key: str = "k1") -> tuple[LedgerEntry, CachedAnswer]:
    entry = LedgerEntry(time.time(), key, "0", 0, True, "req-1", None, "run", "AKID")
    return entry, CachedAnswer("0", "ok", 0, "req-1", entry.called_at)


class FileLock:
    """Another process's write transaction on a SQLite file, held until released."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def take(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def close(self) -> None:
        self.release()
        self.conn.close()


# -- SQLite ------------------------------------------------------------------------------


@pytest.mark.serial
def test_a_locked_sqlite_file_holds_the_write_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    store = SQLiteStore(path, busy_timeout_seconds=SHORT_BUSY_SECONDS)
    entry, answer = an_entry()
    lock = FileLock(path)
    lock.take()
    with pytest.raises(msp.CacheUnavailableError, match="locked by another process"):
        store.record(entry, answer)
    assert store.held_writes == 1
    second, _ = an_entry("k2")
    started = time.monotonic()
    with pytest.raises(msp.CacheUnavailableError):
        store.record(second, None)
    assert time.monotonic() - started < SHORT_BUSY_SECONDS / 2, "no second wait for the lock"
    assert store.held_writes == 2
    assert store.get_many(["k1"], 0) == {"k1": answer}, "a held answer counts as cached"
    assert store.ledger() == [entry, second], "held calls are in the ledger"
    started = time.monotonic()
    assert store.flush(0.0) == 2, "still locked: still held"
    assert time.monotonic() - started < SHORT_BUSY_SECONDS, "flush(0) does not wait"
    lock.close()
    assert store.flush(1.0) == 0
    store.close()
    again = SQLiteStore(path)
    assert again.ledger() == [entry, second], "written once, to the file"
    assert again.get_many(["k1"], 0) == {"k1": answer}
    again.close()


def fill_the_disk(store: SQLiteStore, spare_pages: int = 0) -> int:
    """Let the file grow by ``spare_pages`` pages at most, as a disk about to be full
    (``PRAGMA max_page_count``: SQLite answers SQLITE_FULL past it). Returns the limit."""
    with store.transaction() as conn:
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        conn.execute(f"PRAGMA max_page_count = {pages + spare_pages}")
    return pages + spare_pages


def room_again(store: SQLiteStore) -> None:
    with store.transaction() as conn:
        conn.execute("PRAGMA max_page_count = 1073741823")


def test_a_full_disk_holds_the_write_and_says_so(tmp_path: Path) -> None:
    """SQLITE_FULL rolls the transaction back by itself; the store says the disk is full
    (never "cannot rollback - no transaction is active"), holds the write, and writes it
    once there is room."""
    path = tmp_path / "cache.sqlite3"
    store = SQLiteStore(path)
    fill_the_disk(store)
    (first, answer), (second, _) = an_entry("k1" + "x" * 2000), an_entry("k2" + "x" * 2000)
    with pytest.raises(msp.CacheUnavailableError, match="disk is full") as caught:
        store.record(first, answer)
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    assert "full" in str(caught.value.__cause__)
    assert "rollback" not in str(caught.value)
    assert store.held_writes == 1
    assert store.get_many([first.key], 0) == {first.key: answer}, "a held answer counts"
    with pytest.raises(msp.CacheUnavailableError, match="disk is full"):
        store.record(second, None)  # the held one first, still no room: both held
    assert store.ledger() == [first, second], "held calls are in the ledger"
    assert store.flush(0.0) == 2, "still full: still held"
    room_again(store)
    assert store.flush(0.0) == 0
    store.close()
    again = SQLiteStore(path)
    assert again.ledger() == [first, second], "written once each"
    assert again.get_many([first.key], 0) == {first.key: answer}
    again.close()


@pytest.mark.parametrize("failure", ["full", "read-only"])
def test_a_claim_on_a_file_that_cannot_be_written_fails_closed(
    tmp_path: Path, failure: str
) -> None:
    path = tmp_path / "cache.sqlite3"
    store = SQLiteStore(path)
    for i in range(40):  # fill the file's free pages so the next claim needs a new one
        store.claim(f"k{i}" + "x" * 2000, "run-a", time.time(), 30)
    if failure == "full":
        fill_the_disk(store)
        expected = "disk is full"
    else:
        with store.transaction() as conn:  # as a file opened read-only (chmod is no
            conn.execute("PRAGMA query_only = 1")  # use when the tests run as root)
        expected = "read-only"

    def claim_many() -> None:
        for i in range(40, 200):
            store.claim(f"k{i}" + "x" * 2000, "run-a", time.time(), 30)

    with pytest.raises(msp.CacheUnavailableError, match=expected):
        claim_many()
    store.close()


def test_a_locked_rate_log_is_an_outage(tmp_path: Path) -> None:
    path = tmp_path / "ratelimit.sqlite3"
    log = SQLiteWindowLog(path, busy_timeout_seconds=SHORT_BUSY_SECONDS)
    lock = FileLock(path)
    lock.take()
    with pytest.raises(msp.CacheUnavailableError, match="locked"):
        log.try_acquire("AKID", time.time(), 20, 1.0)
    lock.close()
    assert log.try_acquire("AKID", time.time(), 20, 1.0) == 0.0
    log.close()


def test_a_cache_file_locked_mid_run_ends_the_run_cleanly(
    cache_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "SQLITE_BUSY_TIMEOUT_SECONDS", SHORT_BUSY_SECONDS)
    numbers = random_numbers(100, seed=31)
    with msp.Sandbox(latency_ms=100) as sb:
        client = sb.client(cache=cache_file, outage_timeout=0.5)
        client.lookup("13800000000")  # creates the file
        lock = FileLock(cache_file)
        timer = threading.Timer(1.0, lock.take)
        timer.start()
        with pytest.warns(msp.RunStoppedWarning, match="locked"):
            out = client.lookup_many(numbers, progress=False)
        timer.join()
        stats = sb.stats()
        report = out.attrs["mobilestatus"]
        assert report["stop_reason"] == "cache unavailable"
        assert "locked by another process" in report["stop_detail"]
        answered = out["status"] != "not_checked"
        assert 0 < answered.sum() < len(numbers)
        assert answered.sum() + 1 == stats["requests"], "every call's answer is in the frame"
        assert report["held_writes"] >= 1, "answers that found the file locked are held"

        lock.close()
        assert client.store.flush(timeout_seconds=2) == 0
        assert len(client.ledger()) == stats["requests"]
        again = client.lookup_many(numbers, progress=False)  # resumes where it stopped
        assert again["from_cache"].sum() == answered.sum()
        assert not again["status"].isin(["not_checked", "error"]).any()
        assert sb.stats()["numbers_billed_more_than_once"] == 0
        client.close()


def test_a_full_disk_mid_run_returns_the_frame(cache_file: Path) -> None:
    """The disk fills up mid-run: the run ends as in an outage, the frame comes back with
    every answer received, the writes the file could not take are in the report and
    written once there is room, and running again resumes without paying twice."""
    numbers = random_numbers(120, seed=36)
    with msp.Sandbox(latency_ms=20) as sb:
        client = sb.client(cache=cache_file, outage_timeout=0.5)
        client.lookup("13800000000")  # creates the file
        fill_the_disk(client.store, spare_pages=3)
        with pytest.warns(msp.RunStoppedWarning, match="disk is full"):
            out = client.lookup_many(numbers, progress=False)
        stats = sb.stats()
        report = out.attrs["mobilestatus"]
        assert report["stop_reason"] == "cache unavailable"
        assert "disk is full" in report["stop_detail"]
        answered = out["status"] != "not_checked"
        assert 0 < answered.sum() < len(numbers)
        assert answered.sum() + 1 == stats["requests"], "every call's answer is in the frame"
        assert report["held_writes"] >= 1, "answers the file could not take are held"
        assert client.store.held_writes == report["held_writes"]

        room_again(client.store)
        assert client.store.flush(timeout_seconds=1) == 0
        assert len(client.ledger()) == stats["requests"]
        again = client.lookup_many(numbers, progress=False)  # resumes where it stopped
        assert again["from_cache"].sum() == answered.sum()
        assert not again["status"].isin(["not_checked", "error"]).any()
        assert sb.stats()["numbers_billed_more_than_once"] == 0
        client.close()


# -- Redis -------------------------------------------------------------------------------


@pytest.fixture
def own_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    """A redis-server of this test's own, and the team's hashing key."""
    skip_without_redis()
    monkeypatch.setenv("MOBILESTATUS_CACHE_KEY", TEAM_KEY)
    with RedisServer(tmp_path / "redis") as server:
        yield server


def admin(server: RedisServer) -> Any:
    import redis

    return redis.Redis.from_url(server.url, decode_responses=True)


def out_of_memory(server: RedisServer) -> None:
    connection = admin(server)
    connection.config_set("maxmemory-policy", "noeviction")
    connection.config_set("maxmemory", "1")


def enough_memory(server: RedisServer) -> None:
    admin(server).config_set("maxmemory", "0")


def read_only(server: RedisServer) -> None:
    """Make it a replica (of a primary that is not there: it keeps its data), as after a
    failover that left this client pointing at the old primary."""
    admin(server).replicaof("127.0.0.1", free_port())


def primary_again(server: RedisServer) -> None:
    admin(server).replicaof("NO", "ONE")


def run_through_a_failure(
    server: RedisServer, fail: Callable[[RedisServer], None], mend: Callable[[RedisServer], None],
    expected: str, seed: int,
) -> None:  # fmt: skip
    numbers = random_numbers(150, seed=seed)
    with FastSandbox(latency_ms=50, own_process=True) as sb:
        # At the account's pace, so that the failure comes mid-run; the resume at the
        # sandbox's (what it calls is the point, not how fast).
        client = sb.client(cache=server.url, outage_timeout=1.0, rate_limit=20)
        timer = threading.Timer(1.0, fail, args=(server,))
        timer.start()
        with pytest.warns(msp.RunStoppedWarning, match=expected):
            out = client.lookup_many(numbers, progress=False)
        timer.join()
        stats = sb.stats()
        report = out.attrs["mobilestatus"]
        assert report["stop_reason"] == "cache unavailable"
        assert expected in report["stop_detail"]
        answered = out["status"] != "not_checked"
        assert 0 < answered.sum() < len(numbers)
        assert answered.sum() == stats["requests"], "every call's answer is in the frame"
        assert out.loc[~answered, "error"].str.contains(expected).all()

        mend(server)  # the held writes go to Redis when it takes them again
        assert client.store.flush(timeout_seconds=5) == 0
        assert len(client.ledger()) == stats["requests"]
        client.close()
        again = sb.client(cache=server.url).lookup_many(numbers, progress=False)
        assert again["from_cache"].sum() == answered.sum()
        assert not again["status"].isin(["not_checked", "error"]).any()
        assert sb.stats()["numbers_billed_more_than_once"] == 0


def test_redis_out_of_memory_mid_run_is_an_outage(own_redis: RedisServer) -> None:
    run_through_a_failure(own_redis, out_of_memory, enough_memory, "out of memory", seed=32)


def test_redis_read_only_after_a_failover_is_an_outage(own_redis: RedisServer) -> None:
    run_through_a_failure(own_redis, read_only, primary_again, "read-only replica", seed=33)


def test_redis_grants_no_claim_while_away(own_redis: RedisServer) -> None:
    store = redis_backend.RedisStore(redis_backend.connect(own_redis.url), ttl_seconds=60)
    own_redis.stop()
    with pytest.raises(msp.CacheUnavailableError, match="no number can be claimed"):
        store.claim("k", "run-a", time.time(), 10)
    own_redis.start()
    assert store.claim("k", "run-a", time.time(), 10)
    assert not store.claim("k", "run-b", time.time(), 10), "run-a's claim holds"


def test_no_number_is_called_without_a_claim(own_redis: RedisServer) -> None:
    with msp.Sandbox() as sb:
        client = sb.client(cache=own_redis.url, outage_timeout=0.5)
        out_of_memory(own_redis)  # reads work, claims are refused
        with pytest.warns(msp.RunStoppedWarning, match="claim"):
            out = client.lookup_many(random_numbers(5, seed=34), progress=False)
        assert sb.stats()["requests"] == 0, "no claim, no call"
        assert (out["status"] == "not_checked").all()
        assert "out of memory" in out.attrs["mobilestatus"]["stop_detail"]
        enough_memory(own_redis)
        client.close()


# -- claims of an interrupted run -----------------------------------------------------------


def live_claims(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM claims WHERE until > ?", (time.time(),)
        ).fetchone()
    return int(count)


@pytest.mark.usefixtures("ctrl_c_raises")
def test_an_interrupted_run_keeps_its_claims_while_its_calls_are_in_flight(
    cache_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatch, "CLAIM_SECONDS", 0.4)
    monkeypatch.setattr(dispatch, "CLAIM_RENEW_SECONDS", 0.05)
    numbers = random_numbers(40, seed=35)
    with msp.Sandbox(latency_ms=1500) as sb:
        client = sb.client(cache=cache_file)

        def interrupt_once_the_first_answer_is_in() -> None:
            # 40 calls at 20/s, each answered 1.5 s after it left: the 31st leaves as the
            # first answer comes back; then the run has about two seconds of calls in
            # flight left, room enough for this thread to be late on a busy machine.
            while sb.stats()["requests"] < 31:
                time.sleep(0.02)
            _thread.interrupt_main()

        threading.Thread(target=interrupt_once_the_first_answer_is_in, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            client.lookup_many(numbers, progress=False)
        time.sleep(0.6)  # longer than a claim lasts unless renewed
        assert live_claims(cache_file) >= 1, "calls still in flight keep their claims"
        client.settle_interrupted_runs()
        time.sleep(0.6)
        assert live_claims(cache_file) == 0, "released (or lapsed) once the calls ended"
        again = client.lookup_many(numbers, progress=False)
        assert not again["status"].isin(["not_checked", "error"]).any()
        assert sb.stats()["numbers_billed_more_than_once"] == 0
        client.close()


KILLED_RUN = """
import sys
from mobilestatus_pandas.engine import dispatch
dispatch.CLAIM_SECONDS, dispatch.CLAIM_RENEW_SECONDS = 0.5, 0.1  # lapse soon after the kill
import mobilestatus_pandas as msp
endpoint, secret_id, secret_key, cache, numbers = sys.argv[1:]
client = msp.MobileStatusClient(
    endpoint=endpoint, secret_id=secret_id, secret_key=secret_key, cache=cache
)
client.lookup_many(numbers.split(","), progress=False)
"""


def test_a_process_killed_mid_call_leaves_its_calls_possibly_billed(cache_file: Path) -> None:
    """Calls in flight when their process is killed were marked on their claims before they
    left: once the claims lapse they are in the ledger as possibly billed (NotRecorded),
    and the run that takes the numbers over pays twice for those only."""
    import subprocess
    import sys

    numbers = random_numbers(8, seed=37)
    with msp.Sandbox(latency_ms=1500) as sb:
        process = subprocess.Popen(
            [sys.executable, "-c", KILLED_RUN, sb.url, sb.secret_id, sb.secret_key,
             str(cache_file), ",".join(numbers)],
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while sb.stats()["requests"] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # the first call went alone and was answered; more are out
        process.kill()
        process.wait(timeout=30)
        time.sleep(2.0)  # the calls in flight end at the sandbox; their claims lapse
        client = msp.MobileStatusClient(  # as the killed process made its own: same keys
            endpoint=sb.url, secret_id=sb.secret_id, secret_key=sb.secret_key, cache=cache_file
        )
        lost = [e for e in client.store.ledger() if e.error == NOT_RECORDED]
        answered = [e for e in client.store.ledger() if e.error is None]
        assert lost, "the calls in flight at the kill are in the ledger"
        assert all(e.billed is None for e in lost), "possibly billed"
        assert len(lost) + len(answered) >= sb.stats()["requests"]
        counted = sum(e.billed is not False for e in client.store.ledger())
        assert counted >= sb.stats()["billed"], "the ledger never below the service's bill"

        again = client.lookup_many(numbers, progress=False)  # takes the numbers over
        assert not again["status"].isin(["not_checked", "error"]).any()
        stats = sb.stats(numbers=True)
        twice = {client.number_key(n) for n in stats["billed_more_than_once"]}
        assert twice <= {e.key for e in lost}, "paid twice only for calls in flight at the kill"
        assert sum(e.error == NOT_RECORDED for e in client.store.ledger()) == len(lost)
        client.close()
