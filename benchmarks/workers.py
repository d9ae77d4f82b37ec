"""Threads against a raised rate limit: the old default pool vs the bounded one, one run.

An account with a raised limit (``rate_limit=1000``) against a sandbox that answers at once,
serving from its own process (as a remote service would). The old default started
``1.5 x rate_limit`` threads (1,500); the new default bounds them (``default_max_workers``),
since threads are for waiting on the network and past a few dozen they only contend for
the GIL. Prints calls/s and peak threads for each, and the ratio.

    .venv/bin/python benchmarks/workers.py [--numbers 3000] [--rate-limit 1000]
"""

from __future__ import annotations

import argparse
import math
import threading
import time

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import random_numbers
from mobilestatus_pandas.engine import dispatch as engine
from mobilestatus_pandas.engine.calls import default_max_workers

#: The default before it was bounded: 1.5 x the rate limit.
OLD_WORKERS_PER_RATE = 1.5
#: How often the peak thread count is sampled.
SAMPLE_SECONDS = 0.02


def old_width(run: engine.Calls, opened: bool) -> int:
    """The old dispatcher's width: one call first, then every worker."""
    return run.client.max_workers if opened else 1


def measure(
    sb: msp.Sandbox, numbers: list[str], rate_limit: float, max_workers: int, *, old: bool = False
) -> tuple[float, int]:
    """Calls per second of ``lookup_many`` and the most threads alive during it."""
    adaptive_width = engine._in_flight_width
    if old:
        engine._in_flight_width = old_width
    client = sb.client(cache=None, rate_limit=rate_limit, max_workers=max_workers)
    peak = threading.active_count()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(SAMPLE_SECONDS):
            peak = max(peak, threading.active_count())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        client.lookup_many(numbers, progress=False)
    finally:
        engine._in_flight_width = adaptive_width
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    client.close()
    return len(numbers) / elapsed, peak - 2  # less this thread and the sampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=3000)
    parser.add_argument("--rate-limit", type=float, default=1000.0)
    args = parser.parse_args()

    old_workers = math.ceil(args.rate_limit * OLD_WORKERS_PER_RATE)
    new_workers = default_max_workers(args.rate_limit)
    numbers = random_numbers(2 * args.numbers, seed=7)
    with msp.Sandbox(own_process=True, rate_limit=args.rate_limit) as sb:
        old_rate, old_threads = measure(
            sb, numbers[: args.numbers], args.rate_limit, old_workers, old=True
        )
        new_rate, new_threads = measure(sb, numbers[args.numbers :], args.rate_limit, new_workers)
        stats = sb.stats()
    print(f"rate_limit {args.rate_limit:g} calls/s, zero-latency sandbox in its own process")
    print(f"old default max_workers={old_workers}: {old_rate:6.0f} calls/s, {old_threads} threads")
    print(f"new default max_workers={new_workers}: {new_rate:6.0f} calls/s, {new_threads} threads")
    print(
        f"ratio: {new_rate / old_rate:.2f}x the calls/s "
        f"with {new_threads / old_threads:.2f}x the threads"
    )
    print(
        f"RequestLimitExceeded: {stats['rate_limited']}, "
        f"max calls in any second at the service: {stats['max_calls_in_any_second']}"
    )


if __name__ == "__main__":
    main()
