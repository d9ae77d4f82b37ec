"""The promises that need real time: throughput, processes sharing a limit, a killed run.

Each runs against the real sandbox on loopback, in a process of its own where the rate at the
service is measured (as a remote service would, it then shares no GIL with the client).
Together they take about a minute.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import random_numbers
from mobilestatus_pandas.engine.calls import cache_realm
from mobilestatus_pandas.stores import NumberHasher, SQLiteStore
from tests.conftest import allowed_refusals

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.serial]

WORKER = textwrap.dedent(
    """
    import json, sys, time
    import mobilestatus_pandas as msp
    from mobilestatus_pandas.datasets import random_numbers

    endpoint, secret_id, secret_key, cache, seed, count = sys.argv[1:7]
    client = msp.MobileStatusClient(endpoint, secret_id, secret_key, cache=cache)
    numbers = random_numbers(int(count), seed=int(seed))
    print(json.dumps({"ready": True}), flush=True)
    started = time.time()
    out = client.lookup_many(numbers, progress=False)
    print(json.dumps({
        "started": started, "ended": time.time(), "calls": client.last_run.calls,
        "statuses": out["status"].astype(str).value_counts().to_dict(),
    }), flush=True)
    """
)


def spawn(sb: msp.Sandbox, cache: Path, seed: int, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, sb.url, sb.secret_id, sb.secret_key, str(cache),
         str(seed), str(count)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


def test_600_numbers_at_250ms_reach_19_calls_per_second(cache_file: Path) -> None:
    with msp.Sandbox(latency_ms=250, latency_spread_ms=60, seed=1, own_process=True) as sb:
        client = sb.client(cache=cache_file)
        numbers = random_numbers(600, seed=21)
        out = client.lookup_many(numbers, progress=False)
        report = out.attrs["mobilestatus"]
        stats = sb.stats()
        refused = stats["rate_limited"]  # rare, retried and counted
        assert refused <= allowed_refusals(stats["requests"]), stats
        assert stats["max_arrivals_in_any_second"] <= 20 + refused, stats
        assert report["calls"] == 600 + refused == stats["requests"]
        # The limit is used, not wasted: in some second the service took all of it (the
        # rate over the run is benchmarks/throughput.py's and latency.py's to measure).
        assert stats["max_calls_in_any_second"] >= 19, stats
        again = client.lookup_many(numbers, progress=False)
        assert sb.stats()["requests"] == stats["requests"]
        assert again["from_cache"].all()


def test_two_processes_share_one_limit(tmp_path: Path) -> None:
    cache = tmp_path / "shared" / "mobilestatus.sqlite3"
    with msp.Sandbox(latency_ms=100, latency_spread_ms=30, own_process=True) as sb:
        procs = [spawn(sb, cache, seed, 170) for seed in (31, 32)]
        reports = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            reports.append(json.loads(out.strip().splitlines()[-1]))
        stats = sb.stats()
    refused = stats["rate_limited"]  # two limits of 20 would be refused every second
    assert refused <= allowed_refusals(stats["requests"]), (stats, reports)
    assert stats["max_arrivals_in_any_second"] <= 20 + refused, stats
    calls = sum(r["calls"] for r in reports)
    assert calls == 340 + refused, reports
    assert all(r["statuses"].get(s, 0) == 0 for r in reports for s in ("error", "not_checked"))
    # ... nor do they hold each other back: in some second the service took the full limit.
    assert stats["max_calls_in_any_second"] >= 18, stats


def test_killed_run_bills_no_finished_number_again(tmp_path: Path) -> None:
    cache = tmp_path / "kill" / "mobilestatus.sqlite3"
    numbers = random_numbers(150, seed=41)
    with msp.Sandbox(latency_ms=200, latency_spread_ms=50) as sb:
        proc = spawn(sb, cache, 41, 150)
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["ready"]
        deadline = time.monotonic() + 30
        while sb.stats()["billed"] < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        store = SQLiteStore(cache)
        finished = {e.key for e in store.ledger() if e.billed}
        store.close()
        assert len(finished) >= 30
        billed_before = dict(sb.stats(numbers=True)["billed_per_number"])

        # the same kind of client as the killed one: answers in the endpoint's realm
        client = msp.MobileStatusClient(sb.url, sb.secret_id, sb.secret_key, cache=cache)
        out = client.lookup_many(numbers, progress=False)
        stats = sb.stats(numbers=True)
        realm = client.realm
        assert realm == cache_realm(sb.url + "/")

    hasher = NumberHasher.for_directory(cache.parent)
    key_of = {n: hasher.key(f"{realm}:{n}") for n in numbers}
    twice = set(stats["billed_more_than_once"])
    assert not any(key_of[n] in finished for n in twice), "a finished number was billed again"
    assert len(twice) <= client.max_workers, "only calls in flight at the kill can repeat"
    assert out["from_cache"].sum() >= len(finished)
    assert sum(billed_before.values()) >= len(finished)
