"""The contract every cache/ledger backend keeps (like requests-cache's storage tests).

A new backend (Redis, ...) subclasses :class:`StoreContract` and provides ``make_store``.
"""

from __future__ import annotations

import hmac
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mobilestatus_pandas.stores import (
    NOT_RECORDED,
    CachedAnswer,
    LedgerEntry,
    NumberHasher,
    SQLiteStore,
    Store,
)

NUMBER = "13800138000"


def entry(
    key: str, *, billed: bool | None = True, result: str = "0", at: float = 100.0
) -> LedgerEntry:
    return LedgerEntry(at, key, result, 1, billed, f"req-{key}-{at}", None, "run1", "AKIDx")


def answer(at: float = 100.0, result: str = "0") -> CachedAnswer:
    return CachedAnswer(result, "ok", 1, "req", at)


def in_flight(key: str, at: float = 100.0) -> LedgerEntry:
    """What a call just sent would be if its caller never recorded it."""
    return LedgerEntry(at, key, None, None, None, None, NOT_RECORDED, "run1", "AKIDx")


class StoreContract:
    make_store: Callable[..., Store]

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        store = self.make_store(tmp_path)
        yield store
        store.close()

    def test_empty(self, store: Store) -> None:
        assert store.get_many([], 0) == {}
        assert store.get_many(["k1"], 0) == {}
        assert store.ledger() == []
        assert store.count_answers() == 0

    def test_record_with_answer_caches_and_logs(self, store: Store) -> None:
        store.record(entry("k1"), answer())
        assert store.get_many(["k1", "k2"], 0) == {"k1": answer()}
        assert store.ledger() == [entry("k1")]

    def test_record_without_answer_only_logs(self, store: Store) -> None:
        store.record(entry("k1", billed=False, result="-3"), None)
        assert store.get_many(["k1"], 0) == {}
        assert len(store.ledger()) == 1

    def test_billed_is_true_false_or_unknown(self, store: Store) -> None:
        """``None``: sent, no answer (possibly billed); kept apart from an unbilled answer."""
        unanswered = LedgerEntry(101.0, "k3", None, None, None, None, "ReadTimeoutError", "r", "A")
        store.record(entry("k1", billed=True), None)
        store.record(entry("k2", billed=False, result="-1"), None)
        store.record(unanswered, None)
        assert [e.billed for e in store.ledger()] == [True, False, None]
        assert store.ledger()[2] == unanswered

    def test_action_and_detail_round_trip(self, store: Store) -> None:
        """A tenure call keeps its action in the ledger and its own fields in the cache;
        entries written without them read as MobileStatus calls without detail."""
        tenure = LedgerEntry(100.0, "t1", "-2", None, True, "req-t", None, "run1", "AKIDx",
                             action="MobileNetworkTimeVerification")  # fmt: skip
        cached = CachedAnswer("0", "ok", None, "req-t", 100.0, detail='{"Range": "[6,12)"}')
        store.record(tenure, cached)
        store.record(entry("k1"), answer())
        assert store.ledger() == [tenure, entry("k1")]
        assert [e.action for e in store.ledger()] == [
            "MobileNetworkTimeVerification",
            "MobileStatus",
        ]
        found = store.get_many(["t1", "k1"], 0)
        assert found["t1"].detail == '{"Range": "[6,12)"}'
        assert found["k1"].detail is None

    def test_freshness_cutoff(self, store: Store) -> None:
        store.record(entry("old", at=50), answer(at=50))
        store.record(entry("new", at=150), answer(at=150))
        assert set(store.get_many(["old", "new"], fresh_after=100)) == {"new"}

    def test_newer_answer_replaces_older(self, store: Store) -> None:
        store.record(entry("k", at=1), answer(at=1, result="-1"))
        store.record(entry("k", at=2), answer(at=2, result="0"))
        assert store.get_many(["k"], 0)["k"].result == "0"
        assert store.count_answers() == 1
        assert [e.called_at for e in store.ledger()] == [1, 2]

    def test_many_keys_in_one_query(self, store: Store) -> None:
        for i in range(0, 5000, 2):
            store.record(entry(f"k{i}"), answer())
        found = store.get_many([f"k{i}" for i in range(5000)], 0)
        assert len(found) == 2500

    def test_clear(self, store: Store) -> None:
        store.record(entry("k"), answer())
        assert store.clear() == 1
        assert store.get_many(["k"], 0) == {}
        assert len(store.ledger()) == 1, "the ledger is the bill's record: kept unless asked"
        store.clear(ledger=True)
        assert store.ledger() == []

    def test_claims_belong_to_one_owner_at_a_time(self, store: Store) -> None:
        now = 1_000.0
        assert store.claim("k", "run-a", now, 30)
        assert not store.claim("k", "run-b", now + 1, 30), "run-a is calling it"
        assert store.claim("k", "run-a", now + 2, 30), "the owner renews its claim"
        assert store.claim("other", "run-b", now, 30), "claims are per number"
        store.release("k", "run-b")  # not run-b's to release
        assert not store.claim("k", "run-b", now + 3, 30)
        store.release("k", "run-a")
        assert store.claim("k", "run-b", now + 4, 30)

    def test_many_claims_are_taken_and_renewed_in_one_step(self, store: Store) -> None:
        now = 1_000.0
        assert store.claim("b", "run-b", now, 30)
        assert store.claim_many(["a", "b", "c"], "run-a", now, 30) == [True, False, True]
        assert store.claim_many(["c", "a"], "run-a", now + 1, 30) == [True, True], "renewed"
        assert not store.claim("a", "run-b", now + 2, 30), "run-a holds it"
        assert store.claim_many([], "run-a", now, 30) == []
        self.lapse(store, "c")
        assert store.claim("c", "run-b", now + 3, 30), "a lapsed claim is anyone's"
        assert store.claim_many(["a", "c"], "run-a", now + 4, 30) == [True, False]

    # -- a claim ends only when its answer is where the next claimer looks ---------------

    @staticmethod
    def lapse(store: Store, key: str) -> None:
        """Make the claim on ``key`` lapse now, as when its owner stops renewing it."""
        raise NotImplementedError

    def test_the_last_record_ends_the_claim_with_the_answer(self, store: Store) -> None:
        now = 1_000.0
        assert store.claim("k", "run-a", now, 30)
        store.record(entry("k"), answer(), owner="run-a", release=True)
        assert store.claim("k", "run-b", now + 1, 30), "the claim ended with the write"
        assert store.get_many(["k"], 0) == {"k": answer()}, "and the answer is there"
        assert store.ledger() == [entry("k")]

    def test_a_record_that_is_not_the_last_keeps_the_claim(self, store: Store) -> None:
        now = 1_000.0
        assert store.claim("k", "run-a", now, 30)
        store.record(entry("k", billed=False, result="-3"), None, owner="run-a")
        assert not store.claim("k", "run-b", now + 1, 30), "a retry is coming: still claimed"
        store.record(entry("k", at=101), answer(), owner="run-b", release=True)
        assert not store.claim("k", "run-b", now + 2, 30), "not run-b's claim to end"

    def test_a_call_marked_sent_and_recorded_leaves_one_row(self, store: Store) -> None:
        now = time.time()  # SQLite's claims use the caller's clock; its ledger, time's
        assert store.claim("k", "run-a", now, 30)
        assert store.mark_sent(in_flight("k"), "run-a", now, 30)
        store.record(entry("k"), answer(), owner="run-a", release=True)
        self.lapse(store, "k")
        assert store.claim("k", "run-b", now + 1, 30)
        assert store.ledger() == [entry("k")], "the mark went with the record"

    def test_a_call_its_caller_never_recorded_is_possibly_billed(self, store: Store) -> None:
        """A process killed mid-call: its mark outlives its claim, and the ledger shows the
        call as possibly billed, then as a row once another run takes the number over."""
        now = time.time()  # SQLite's claims use the caller's clock; its ledger, time's
        assert store.claim("k", "run-a", now, 30)
        assert store.mark_sent(in_flight("k"), "run-a", now, 30)
        assert store.ledger() == [], "in flight while its claim lasts"
        self.lapse(store, "k")
        assert store.ledger() == [in_flight("k")]
        assert [e.billed for e in store.ledger()] == [None], "possibly billed"
        assert store.claim("k", "run-b", now + 40, 30)
        assert store.ledger() == [in_flight("k")], "a row now, counted once"
        store.record(entry("k", at=140), answer(), owner="run-b", release=True)
        assert store.ledger() == [in_flight("k"), entry("k", at=140)]

    def test_no_mark_without_the_claim(self, store: Store) -> None:
        now = time.time()  # SQLite's claims use the caller's clock; its ledger, time's
        assert not store.mark_sent(in_flight("k"), "run-a", now, 30), "never claimed"
        assert store.claim("k", "run-b", now, 30)
        assert not store.mark_sent(in_flight("k"), "run-a", now, 30), "run-b's claim"
        assert store.ledger() == []

    def test_a_call_that_never_left_is_unmarked(self, store: Store) -> None:
        now = time.time()
        assert store.claim("k", "run-a", now, 30)
        assert store.mark_sent(in_flight("k"), "run-a", now, 30)
        store.unmark("k", "run-b")  # not run-b's mark
        store.unmark("k", "run-a")
        assert not store.claim("k", "run-b", now, 30), "the claim stays"
        store.release("k", "run-a")
        assert store.ledger() == [], "not sent, never billed: no row"

    def test_releasing_a_marked_call_keeps_it_in_the_ledger(self, store: Store) -> None:
        now = time.time()  # SQLite's claims use the caller's clock; its ledger, time's
        assert store.claim("k", "run-a", now, 30)
        assert store.mark_sent(in_flight("k"), "run-a", now, 30)
        store.release("k", "run-a")
        assert store.claim("k", "run-b", now + 1, 30)
        assert store.ledger() == [in_flight("k")], "sent, then given up: possibly billed"

    def test_counters_are_shared_and_atomic(self, store: Store) -> None:
        now = 1_000.0
        assert store.add_count("job1:billed", 0, now, 60) == 0
        assert store.add_count("job1:billed", 1, now, 60) == 1
        assert store.add_count("job1:billed", 2, now, 60) == 3
        assert store.add_count("job1:billed", -1, now, 60) == 2
        assert store.add_count("job2:billed", 1, now, 60) == 1, "counters are per name"
        assert store.add_count("job1:billed", 0, now, 60) == 2

    def test_flags_keep_the_first_value(self, store: Store) -> None:
        now = 1_000.0
        assert store.get_flag("job1:stop", now) is None
        assert store.set_flag("job1:stop", "authentication failed", now, 60)
        assert not store.set_flag("job1:stop", "max_billed reached", now, 60)
        assert store.get_flag("job1:stop", now + 1) == "authentication failed"
        assert store.get_flag("job2:stop", now) is None


def lapse_sqlite(store: Store, key: str) -> None:
    assert isinstance(store, SQLiteStore)
    with store.transaction() as conn:
        conn.execute("UPDATE claims SET until = 0 WHERE key = ?", (key,))


class TestSQLiteFileStore(StoreContract):
    lapse = staticmethod(lapse_sqlite)

    @staticmethod
    def make_store(tmp_path: Path) -> Store:
        return SQLiteStore(tmp_path / "sub" / "cache.sqlite3")

    def test_file_is_private_and_holds_no_number(self, tmp_path: Path) -> None:
        path = tmp_path / "sub" / "cache.sqlite3"
        store = SQLiteStore(path)
        hasher = NumberHasher.for_directory(path.parent)
        key = hasher.key(NUMBER)
        store.record(entry(key), answer())
        store.close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE((path.parent / "cache.key").stat().st_mode) == 0o600
        for file in path.parent.iterdir():
            assert NUMBER.encode() not in file.read_bytes()

    def test_two_connections_see_each_other(self, tmp_path: Path) -> None:
        path = tmp_path / "c.sqlite3"
        a, b = SQLiteStore(path), SQLiteStore(path)
        a.record(entry("k"), answer())
        assert b.get_many(["k"], 0) == {"k": answer()}
        a.close()
        b.close()


def test_sqlite_claims_expire_by_the_callers_clock(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.sqlite3")
    assert store.claim("k", "run-a", 100.0, 30)
    assert not store.claim("k", "run-b", 129.9, 30)
    assert store.claim("k", "run-b", 130.0, 30), "a claim its owner stopped renewing ends"
    assert not store.claim("k", "run-a", 131.0, 30)
    store.close()


def test_sqlite_job_state_lapses_by_the_callers_clock(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.sqlite3")
    assert store.add_count("n", 5, 100.0, 30) == 5
    assert store.set_flag("f", "x", 100.0, 30)
    assert store.get_flag("f", 129.9) == "x"
    assert store.get_flag("f", 130.0) is None
    assert store.set_flag("f", "y", 130.0, 30), "a lapsed flag can be set again"
    assert store.add_count("n", 1, 131.0, 30) == 1, "a lapsed counter starts again"
    store.close()


class TestSQLiteMemoryStore(StoreContract):
    lapse = staticmethod(lapse_sqlite)

    @staticmethod
    def make_store(tmp_path: Path) -> Store:
        return SQLiteStore(":memory:")


def test_hasher_is_keyed_and_stable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = NumberHasher.for_directory(tmp_path / "a")
    again = NumberHasher.for_directory(tmp_path / "a")
    other = NumberHasher.for_directory(tmp_path / "b")
    assert one.key(NUMBER) == again.key(NUMBER)
    assert one.key(NUMBER) != other.key(NUMBER)
    assert len(one.key(NUMBER)) == 64
    monkeypatch.setenv("MOBILESTATUS_CACHE_KEY", "00" * 32)
    shared_a = NumberHasher.for_directory(tmp_path / "a")
    shared_b = NumberHasher.for_directory(tmp_path / "b")
    assert shared_a.key(NUMBER) == shared_b.key(NUMBER)
    assert "0000" not in repr(shared_a)


#: What a key is hashed from: a realm or tag, then the number (ASCII, as ``key`` needs).
ascii_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    secret=st.binary(min_size=16, max_size=200),  # longer than SHA-256's block too
    prefix=ascii_text,
    numbers=st.lists(st.text("0123456789+", max_size=20), max_size=20),
)
def test_keys_in_bulk_are_the_keys_one_at_a_time(
    secret: bytes, prefix: str, numbers: list[str]
) -> None:
    """Existing caches keep answering: the bulk keys are hmac.digest's, byte for byte."""
    hasher = NumberHasher(secret)
    expected = [hmac.digest(secret, (prefix + n).encode("ascii"), "sha256").hex() for n in numbers]
    assert hasher.keys(numbers, prefix) == expected
    assert hasher.keys(iter(numbers), prefix) == expected
    assert hasher.keys([prefix + n for n in numbers]) == expected
    assert [hasher.key(prefix + n) for n in numbers] == expected
    assert hasher.heads(iter(numbers), prefix) == b"".join(bytes.fromhex(k[:16]) for k in expected)
    assert hasher.heads(numbers, prefix, 3) == b"".join(bytes.fromhex(k[:6]) for k in expected)


def test_a_prefix_that_is_not_ascii_fails_as_one_key_does() -> None:
    hasher = NumberHasher(b"k" * 32)
    assert hasher.keys([], "réalm:") == []
    with pytest.raises(UnicodeEncodeError):
        hasher.keys([NUMBER], "réalm:")
    with pytest.raises(UnicodeEncodeError):
        hasher.key("réalm:" + NUMBER)
    with pytest.raises(ValueError, match="head_bytes"):
        hasher.heads([NUMBER], "", 33)


def test_key_file_is_not_rewritten(tmp_path: Path) -> None:
    NumberHasher.for_directory(tmp_path)
    before = (tmp_path / "cache.key").read_text()
    NumberHasher.for_directory(tmp_path)
    assert (tmp_path / "cache.key").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["cache.key"]
    assert os.access(tmp_path / "cache.key", os.R_OK)


def test_many_processes_make_one_key_at_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "import sys, pathlib; from mobilestatus_pandas.stores import NumberHasher;"
        "print(NumberHasher.for_directory(pathlib.Path(sys.argv[1])).key('13800138000'))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / "k")], stdout=subprocess.PIPE
        )
        for _ in range(8)
    ]
    keys = {p.communicate(timeout=60)[0] for p in procs}
    assert [p.returncode for p in procs] == [0] * 8
    assert len(keys) == 1, "every process hashes with the same key"


def test_many_processes_can_create_the_same_file_at_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "race" / "mobilestatus.sqlite3"
    script = (
        "import sys; from mobilestatus_pandas.stores import SQLiteStore, LedgerEntry;"
        "s = SQLiteStore(sys.argv[1]);"
        "s.record(LedgerEntry(1.0, sys.argv[2], '0', 0, True, 'r', None, 'run', 'id'), None)"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), f"k{i}"]) for i in range(6)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 6
    store = SQLiteStore(path)
    assert sorted(e.key for e in store.ledger()) == [f"k{i}" for i in range(6)]
    store.close()


class TestRedisStore(StoreContract):
    """The same contract against a real redis-server (skips when it is not installed)."""

    @pytest.fixture
    def store(self, redis_url: str) -> Iterator[Store]:
        from mobilestatus_pandas.stores import redis as redis_backend

        store = redis_backend.RedisStore(redis_backend.connect(redis_url), ttl_seconds=3600)
        yield store
        store.close()

    @staticmethod
    def lapse(store: Store, key: str) -> None:
        from mobilestatus_pandas.stores.redis import RedisStore

        assert isinstance(store, RedisStore)
        store._redis.delete(store._claim_key(key))


def test_redis_renews_hundreds_of_claims_in_a_round_trip_or_two(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run far from Redis renews every claim it holds each sweep: one round trip per claim
    # (84 ms away, 60 claims: 5 s of a claim's 10 s life) could let one lapse mid-call.
    from redis.connection import AbstractConnection

    from mobilestatus_pandas.stores import redis as redis_backend

    store = redis_backend.RedisStore(redis_backend.connect(redis_url), ttl_seconds=3600)
    keys = [f"many-{i}" for i in range(600)]
    assert store.claim_many(keys, "run-a", time.time(), 30) == [True] * 600  # scripts loaded
    sent: list[int] = []
    send = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        sent.append(1)
        send(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    assert store.claim_many(keys, "run-a", time.time(), 30) == [True] * 600
    assert len(sent) <= 2 * (-(-600 // redis_backend.CLAIM_CHUNK))
    monkeypatch.undo()
    assert store.claim_many(keys, "run-b", time.time(), 30) == [False] * 600
    store.close()


CLAIM_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["claim", "mark", "record", "record-last", "release", "lapse", "unmark"]),
        st.sampled_from(["run-a", "run-b"]),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(steps=CLAIM_STEPS)
@example(steps=[("claim", "run-a"), ("mark", "run-a"), ("lapse", "run-a"), ("claim", "run-b")])
def test_every_call_marked_sent_stays_in_the_ledger(steps: list[tuple[str, str]]) -> None:
    """Whatever two runs do with one number's claim (claim, send, record, give up, lapse, in
    any order), every call marked sent and not unmarked is in the ledger (as its record, or
    possibly billed) or still in flight under its live claim: the ledger is never below the
    calls that may have been billed."""
    store = SQLiteStore(":memory:")
    now = time.time()
    sent = 0
    unsettled = {"run-a": False, "run-b": False}  # a mark not yet recorded or unmarked
    holder: str | None = None  # whose claim is live
    for step, owner in steps:
        if step == "claim":
            if store.claim("k", owner, now, 30):
                holder = owner
        elif step == "mark" and not unsettled[owner]:  # one attempt at a time per run
            if store.mark_sent(in_flight("k"), owner, now, 30):
                sent += 1
                unsettled[owner] = True
                holder = owner
        elif step.startswith("record") and unsettled[owner]:
            last = step == "record-last"
            store.record(entry("k"), answer(), owner=owner, release=last)
            unsettled[owner] = False
            holder = None if last and holder == owner else holder
        elif step == "release":
            store.release("k", owner)
            holder = None if holder == owner else holder
        elif step == "lapse":
            lapse_sqlite(store, "k")
            holder = None
        elif step == "unmark" and unsettled[owner]:
            store.unmark("k", owner)  # it never left; a mark taken over already stays
            unsettled[owner] = False
            sent -= 1
        in_flight_now = int(holder is not None and unsettled[holder])
        assert len(store.ledger()) + in_flight_now >= sent
    store.close()
