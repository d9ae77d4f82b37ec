"""The first partition of a Dask worker: every number's key, then its cached answer (issue 24).

For 40,000 numbers, all cached and fresh, in one process: the row keys (``Caller.row_keys``),
the cache keys (``Caller.number_keys``), and one batched read of their answers from a real
``redis-server`` on loopback (``RedisStore.get_many``) and from a real SQLite file
(``SQLiteStore.get_many``). Each is timed the old way (the code as it was, kept below) and
the new way in the same run, alternating, best of ``--repeat``; the keys and answers of the
two ways are checked equal before any timing. Prints seconds and the ratio old/new.

Measured on the 2-core development machine (40,000 numbers, best of 11, another job on
one core): row keys 0.083 -> 0.029 s (2.8x), number keys 0.075 -> 0.029 s (2.6x), Redis
get_many 0.179 -> 0.126 s (1.4x), SQLite get_many 0.186 -> 0.134 s (1.4x); the four
together 0.52 -> 0.32 s (1.6x). The keys: the HMAC's two SHA-256 states after the secret
and the prefix are made once and copied per number, and a row key is read from the
digest's bytes, not its hex. The reads: a garbage collection's share was the largest part
left (gen 0/1/2 runs per read shown): Redis now decodes 250 answers at a time (their lists
freed before the next), SQLite reads row by row rather than fetchall() (104 -> 58 and 101
-> 52 collections), and SQLite looks the keys up in sorted order (each B-tree page once).
What remains is mostly the C JSON decoder, the socket, SQLite's own join, and one
``CachedAnswer`` per answer.

    .venv/bin/python benchmarks/store_read.py [--numbers 40000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import gc
import hmac
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import random_numbers
from mobilestatus_pandas.engine.calls import ROW_KEY_TAG
from mobilestatus_pandas.stores import CachedAnswer, LedgerEntry, SQLiteStore
from mobilestatus_pandas.stores.redis import MGET_CHUNK, RedisStore, connect
from mobilestatus_pandas.stores.sqlite import _write_step as write_step

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make tests.redis_server importable
    sys.path.insert(0, str(ROOT))

#: How old the cached answers are at most, and the freshness cutoff (all are fresh).
ANSWER_AGE_SECONDS = 3600.0
TTL_SECONDS = 86_400.0


# -- the old way, as the code was before issue 24 ------------------------------------------


def old_keys(secret: bytes, texts: Sequence[str]) -> list[str]:
    """``NumberHasher.keys`` before: one ``hmac.digest`` per number, hex."""
    return [hmac.digest(secret, n.encode("ascii"), "sha256").hex() for n in texts]


def old_row_keys(secret: bytes, numbers: Sequence[str]) -> np.ndarray:
    """``Caller.row_keys`` before: the hex keys, then their first 16 digits as an int."""
    digests = old_keys(secret, [f"{ROW_KEY_TAG}{n}" for n in numbers])
    return np.fromiter((int(d[:16], 16) >> 1 for d in digests), np.int64, len(digests))


def old_number_keys(secret: bytes, realm: str, numbers: Sequence[str]) -> list[str]:
    """``Caller.number_keys`` before (MobileStatus's keys)."""
    return old_keys(secret, [f"{realm}:{n}" for n in numbers])


def old_redis_get_many(
    store: RedisStore, keys: Sequence[str], fresh_after: float
) -> dict[str, CachedAnswer]:
    """``RedisStore.get_many`` before."""
    store._drain()

    def read() -> list[Any]:
        pipe = store._redis.pipeline(transaction=False)
        for start in range(0, len(keys), MGET_CHUNK):
            pipe.mget([store._answer_key(k) for k in keys[start : start + MGET_CHUNK]])
        return [value for chunk in pipe.execute() for value in chunk]

    found: dict[str, CachedAnswer] = {}
    raws = store._retrying(read)
    present = [i for i, raw in enumerate(raws) if raw is not None]
    decoded = json.loads("[" + ",".join([raws[i] for i in present]) + "]")
    for i, values in zip(present, decoded, strict=True):
        stored = CachedAnswer(*values)
        if stored.checked_at > fresh_after:
            found[keys[i]] = stored
    with store._held_lock:
        wanted = set(keys)
        for _, entry, held, _, _ in store._held:
            if held is not None and entry.key in wanted and held.checked_at > fresh_after:
                found[entry.key] = held
    return found


def old_sqlite_get_many(
    store: SQLiteStore, keys: Sequence[str], fresh_after: float
) -> dict[str, CachedAnswer]:
    """``SQLiteStore.get_many`` before."""
    with store._lock, store._translated():
        rows = store._conn.execute(
            "SELECT a.key, a.result, a.description, a.status_code, a.request_id, a.checked_at, "
            "a.detail FROM json_each(?) AS j JOIN answers AS a ON a.key = j.value "
            "WHERE a.checked_at > ?",
            (json.dumps(list(keys)), fresh_after),
        ).fetchall()
        found = {row[0]: CachedAnswer(*row[1:]) for row in rows}
        wanted = set(keys)
        for entry, held, _, _ in store._held:
            if held is not None and entry.key in wanted and held.checked_at > fresh_after:
                found[entry.key] = held
    return found


# -- timing --------------------------------------------------------------------------------


def collections_in(fn: Callable[[], Any]) -> list[int]:
    """How many garbage collections of each generation one call of ``fn`` sets off."""
    counts = [0, 0, 0]

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            counts[info["generation"]] += 1

    gc.callbacks.append(count)
    try:
        fn()
    finally:
        gc.callbacks.remove(count)
    return counts


def best_of(repeat: int, old: Callable[[], Any], new: Callable[[], Any]) -> tuple[float, float]:
    """The best seconds of each, run alternately ``repeat`` times."""
    old_best = new_best = float("inf")
    for _ in range(repeat):
        for fn, is_old in ((old, True), (new, False)):
            started = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - started
            if is_old:
                old_best = min(old_best, elapsed)
            else:
                new_best = min(new_best, elapsed)
    return old_best, new_best


def answers_for(count: int, now: float) -> list[CachedAnswer]:
    """Answers as the service gives them: a request id each, half with a tenure detail."""
    return [
        CachedAnswer(
            "0",
            "ok",
            0,
            secrets.token_hex(18),
            now - ANSWER_AGE_SECONDS * i / count,
            None if i % 2 else '{"Range": "[6,12)"}',
        )
        for i in range(count)
    ]


def ledger_entry(key: str, answer: CachedAnswer) -> LedgerEntry:
    """The ledger row a run writes beside an answer."""
    return LedgerEntry(answer.checked_at, key, "0", 0, True, None, None, "bench", "AKIDbench")


def fill_redis(store: RedisStore, keys: Sequence[str], answers: Sequence[CachedAnswer]) -> None:
    """Record each answer as a run does (its script: the answer and a ledger entry)."""
    for key, answer in zip(keys, answers, strict=True):
        store.record(ledger_entry(key, answer), answer)


def fill_sqlite(store: SQLiteStore, keys: Sequence[str], answers: Sequence[CachedAnswer]) -> None:
    """Record each answer as a run does, in one transaction (not one file sync each)."""
    with store.transaction() as conn:
        for key, answer in zip(keys, answers, strict=True):
            write_step(conn, ledger_entry(key, answer), answer, None, False)


class Comparison:
    """The rows of the table: each step the old way and the new, timed alternately."""

    def __init__(self, repeat: int) -> None:
        self.repeat = repeat
        self.rows: list[tuple[str, float, float, list[int], list[int]]] = []

    def add(self, name: str, old: Callable[[], Any], new: Callable[[], Any]) -> None:
        old_seconds, new_seconds = best_of(self.repeat, old, new)
        self.rows.append((name, old_seconds, new_seconds, collections_in(old), collections_in(new)))

    def show(self) -> None:
        print(f"{'':22} {'old s':>8} {'new s':>8} {'old/new':>8}   gc runs (gen 0/1/2) old -> new")
        for name, old, new, old_gc, new_gc in self.rows:
            runs = f"{'/'.join(map(str, old_gc))} -> {'/'.join(map(str, new_gc))}"
            print(f"{name:22} {old:8.4f} {new:8.4f} {old / new:7.2f}x   {runs}")
        old_total = sum(row[1] for row in self.rows)
        new_total = sum(row[2] for row in self.rows)
        print(f"{'together':22} {old_total:8.4f} {new_total:8.4f} {old_total / new_total:7.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    from tests.redis_server import RedisServer

    numbers = random_numbers(args.numbers, seed=24)
    now = time.time()
    fresh_after = now - 2 * ANSWER_AGE_SECONDS
    print(f"== {args.numbers} numbers, all cached, best of {args.repeat}")
    print(f"load before: {os.getloadavg()[0]:.2f} (1-minute average, {os.cpu_count()} cores)")
    table = Comparison(args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        client = msp.MobileStatusClient("http://127.0.0.1:9", "AKIDbench", "k" * 32, cache=None)
        secret = client._hasher._secret
        realm = client.realm
        keys = client.number_keys(numbers)
        assert keys == old_number_keys(secret, realm, numbers)
        assert (client.row_keys(numbers) == old_row_keys(secret, numbers)).all()
        table.add(
            "row keys",
            lambda: old_row_keys(secret, numbers),
            lambda: client.row_keys(numbers),
        )
        table.add(
            "number keys",
            lambda: old_number_keys(secret, realm, numbers),
            lambda: client.number_keys(numbers),
        )
        client.close()
        answers = answers_for(len(keys), now)
        expected = dict(zip(keys, answers, strict=True))

        server = RedisServer(Path(tmp) / "redis").start()
        try:
            redis_store = RedisStore(connect(server.url), ttl_seconds=TTL_SECONDS)
            fill_redis(redis_store, keys, answers)
            assert old_redis_get_many(redis_store, keys, fresh_after) == expected
            assert redis_store.get_many(keys, fresh_after) == expected
            table.add(
                "RedisStore.get_many",
                lambda: old_redis_get_many(redis_store, keys, fresh_after),
                lambda: redis_store.get_many(keys, fresh_after),
            )
            redis_store.close()
        finally:
            server.stop()

        sqlite_store = SQLiteStore(Path(tmp) / "bench.sqlite3")
        fill_sqlite(sqlite_store, keys, answers)
        assert old_sqlite_get_many(sqlite_store, keys, fresh_after) == expected
        assert sqlite_store.get_many(keys, fresh_after) == expected
        table.add(
            "SQLiteStore.get_many",
            lambda: old_sqlite_get_many(sqlite_store, keys, fresh_after),
            lambda: sqlite_store.get_many(keys, fresh_after),
        )
        sqlite_store.close()

    table.show()
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
