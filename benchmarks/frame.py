"""Frame speed: ``df.mobile.status`` on a million rows served from the cache, and ``normalize``.

Compares, in the same run, against the naive ways an analyst would write them:
``df.apply`` row by row with ``phonenumbers.parse`` and a dict lookup. The naive ways are
timed on a slice and scaled linearly (they are linear, and minutes long at full size).
Prints times, ratios, and the peak memory of ``df.mobile.status`` against the input's size.

    .venv/bin/python benchmarks/frame.py [--rows 1000000] [--numbers 20000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import messy_format, random_numbers
from mobilestatus_pandas.service import codes, numbers

NAIVE_SLICE = 50_000


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_rss() -> int:
    """Reset the kernel's peak-RSS mark (Linux); return the resident bytes now."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS") * 1024


def peak_rss() -> int:
    """Peak resident bytes since the last reset (Linux)."""
    return _status_kib("VmHWM") * 1024


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def naive_normalize(value: object) -> str | None:
    import phonenumbers

    try:
        parsed = phonenumbers.parse(str(value), "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return str(parsed.national_number)


def messy_column(rows: int, pool: list[str], seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(pool), size=rows)
    styles = rng.integers(0, 9, size=rows)
    return pd.Series([messy_format(pool[p], int(s)) for p, s in zip(picks, styles, strict=True)])


def prefill_cache(client: msp.MobileStatusClient, pool: list[str]) -> dict[str, str]:
    """Cache an answer for every number, as earlier runs would have; return number -> status."""
    store = client.store
    assert isinstance(store, msp.stores.SQLiteStore)
    now = time.time()
    rng = np.random.default_rng(5)
    status_codes = rng.choice([0, 0, 0, 0, 1, 2, 4], size=len(pool))
    with store.transaction() as conn:
        conn.executemany(
            "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?)",
            [
                (client.number_key(n), "0", "ok", int(c), f"req-{i}", now)
                for i, (n, c) in enumerate(zip(pool, status_codes, strict=True))
            ],
        )
    return {n: codes.status_for("0", int(c)) for n, c in zip(pool, status_codes, strict=True)}


def setting(rows: int, count: int) -> tuple[list[str], pd.DataFrame]:
    pool = random_numbers(count, seed=1)
    frame = pd.DataFrame({"phone": messy_column(rows, pool, seed=2)})
    frame["segment"] = np.where(np.arange(rows) % 10 == 0, "fraud", "legit")
    return pool, frame


def measure_memory(rows: int, count: int) -> None:
    """In a fresh process: the peak resident memory ``df.mobile.status`` adds, in bytes."""
    pool, frame = setting(rows, count)
    with tempfile.TemporaryDirectory() as tmp, msp.Sandbox() as sandbox:
        client = sandbox.client(cache=Path(tmp) / "cache.sqlite3")
        prefill_cache(client, pool)
        before = reset_peak_rss()
        out = frame.mobile.status("phone", client=client, progress=False)
        peak = peak_rss() - before
        assert len(out) == rows
    print(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--numbers", type=int, default=20_000)
    parser.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_only:
        measure_memory(args.rows, args.numbers)
        return

    pool, frame = setting(args.rows, args.numbers)
    input_bytes = int(frame.memory_usage(deep=True).sum())
    print(f"{args.rows:,} rows over {args.numbers:,} numbers, {input_bytes / 2**20:.0f} MiB")

    # normalize: ours on the whole column vs phonenumbers.parse row by row
    ours_s, normalized = timed(lambda: frame["phone"].mobile.normalize())
    head = frame["phone"].iloc[:NAIVE_SLICE]
    naive_s, naive = timed(lambda: head.apply(naive_normalize))
    naive_full = naive_s * args.rows / NAIVE_SLICE
    agree = (normalized.iloc[:NAIVE_SLICE].fillna("") == naive.fillna("")).mean()
    print(
        f"normalize   ours {ours_s:6.2f} s   naive df.apply(phonenumbers.parse) "
        f"{naive_full:7.1f} s (scaled from {NAIVE_SLICE:,})   ratio {naive_full / ours_s:5.0f}x"
    )
    print(
        f"            the naive way reads {agree:.0%} of these messy values as we do "
        "(it misses floats from spreadsheets, for one)"
    )

    # 1M distinct messy values: the worst case for normalize (nothing repeats)
    distinct = messy_column(args.rows, random_numbers(args.rows, seed=3), seed=4)
    distinct_s, _ = timed(lambda: numbers.normalize(distinct))
    print(f"normalize   {args.rows:,} values, {distinct.nunique():,} distinct: {distinct_s:.2f} s")

    with tempfile.TemporaryDirectory() as tmp, msp.Sandbox() as sandbox:
        client = sandbox.client(cache=Path(tmp) / "cache.sqlite3")
        statuses = prefill_cache(client, pool)
        status_s, out = timed(lambda: frame.mobile.status("phone", client=client, progress=False))
        assert out.attrs["mobilestatus"]["calls"] == 0
        assert sandbox.stats()["requests"] == 0
        naive_s, _ = timed(
            lambda: head.apply(lambda v: statuses.get(naive_normalize(v) or "", "invalid"))
        )
        naive_full = naive_s * args.rows / NAIVE_SLICE
    print(
        f"status      ours {status_s:6.2f} s   naive df.apply(parse + dict) {naive_full:7.1f} s "
        f"(scaled from {NAIVE_SLICE:,})   ratio {naive_full / status_s:5.0f}x"
    )
    child = subprocess.run(
        [sys.executable, __file__, "--memory-only", "--rows", str(args.rows),
         "--numbers", str(args.numbers)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    peak = int(child.stdout.strip().splitlines()[-1])
    print(
        f"peak memory df.mobile.status adds (fresh process): {peak / 2**20:.0f} MiB "
        f"= {peak / input_bytes:.2f}x the input frame"
    )


if __name__ == "__main__":
    main()
