"""Calls in flight that follow the latency: a fixed pool of 30 vs the adaptive width, one run.

At each latency the same sandbox (own process, 20 calls/s limit) is called by the engine as
it was (30 workers, all kept busy) and as it is (in flight = rate x mean latency x 1.5, within
``max_workers``). Prints the rate *at the service* (calls over the span of send times in the
ledger, after the first call of the run, which goes alone by design so that a wrong key
costs one request), end-to-end calls/s (first call and the slowest last answers included),
the most requests that reached the service in any second and how many it refused, and the
ratio.

    .venv/bin/python benchmarks/latency.py [--numbers 300]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import random_numbers
from mobilestatus_pandas.engine import dispatch as engine

#: The old default pool: 1.5 x the 20 calls/s limit.
OLD_POOL = 30
#: A client timeout long enough that the heavy tail's slowest calls are not retried.
TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Scenario:
    name: str
    latency_ms: float
    spread_ms: float = 0.0
    tail_sigma: float | None = None


SCENARIOS = (
    Scenario("250 ms", 250, spread_ms=50),
    Scenario("1 s, heavy tail (lognormal, sigma 1)", 1000, tail_sigma=1.0),
    Scenario("2 s", 2000, spread_ms=400),
)


def fixed_width(run: engine.Calls, opened: bool) -> int:
    """The old dispatcher's width: one call first, then every worker."""
    return run.client.max_workers if opened else 1


def measure(sb: msp.Sandbox, numbers: list[str], *, old: bool) -> tuple[float, float, str]:
    """(calls/s at the service, calls/s end to end, what the service saw) of one run."""
    sb.reset_stats()
    options = {"max_workers": OLD_POOL} if old else {}
    client = sb.client(cache=None, timeout=TIMEOUT_SECONDS, **options)
    adaptive = engine._in_flight_width
    if old:
        engine._in_flight_width = fixed_width
    started = time.perf_counter()
    try:
        client.lookup_many(numbers, progress=False)
    finally:
        engine._in_flight_width = adaptive
    elapsed = time.perf_counter() - started
    sent = client.ledger()["called_at"].sort_values().iloc[1:]  # after the lone first call
    span = (sent.iloc[-1] - sent.iloc[0]).total_seconds()
    client.close()
    stats = sb.stats()
    seen = (
        f"max {stats['max_arrivals_in_any_second']}/s, RequestLimitExceeded {stats['rate_limited']}"
    )
    return (len(sent) - 1) / span, len(numbers) / elapsed, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=300)
    parser.add_argument("--only", default="", help="run the scenarios whose name contains this")
    args = parser.parse_args()
    numbers = random_numbers(2 * args.numbers * len(SCENARIOS), seed=5)
    print(f"{args.numbers} numbers per run, limit 20 calls/s; calls/s at the service (end to end)")
    for i, scenario in enumerate(SCENARIOS):
        if args.only not in scenario.name:
            continue
        chunk = numbers[2 * i * args.numbers : 2 * (i + 1) * args.numbers]
        with msp.Sandbox(
            own_process=True,
            latency_ms=scenario.latency_ms,
            latency_spread_ms=scenario.spread_ms,
            latency_tail_sigma=scenario.tail_sigma,
        ) as sb:
            old, old_e2e, old_seen = measure(sb, chunk[: args.numbers], old=True)
            new, new_e2e, new_seen = measure(sb, chunk[args.numbers :], old=False)
        print(f"{scenario.name}")
        print(f"  pool of {OLD_POOL}: {old:5.1f} ({old_e2e:4.1f}) calls/s; {old_seen}")
        print(f"  adaptive:   {new:5.1f} ({new_e2e:4.1f}) calls/s; {new_seen}")
        print(f"  ratio {new / old:.2f}x")


if __name__ == "__main__":
    main()
