"""Giving up fast: 200 numbers against endpoints where nothing can work, default settings.

Three runs of ``lookup_many`` with the client's defaults (4 retries, backoff from 0.2 s):

* a closed port on loopback (connection refused: nothing is sent);
* a sandbox in its own process that drops every connection after reading the request;
* a sandbox that answers the first call, then drops every connection (the mid-run streak).

Prints seconds and requests for each against the targets of issue 12 (under 15 s and under
30 requests; before the circuit breaker: 55 s, and 1,000 requests all ending as ``error``
rows), and the same 200 numbers against a healthy sandbox as the reference.

    .venv/bin/python benchmarks/failures.py [--numbers 200]
"""

from __future__ import annotations

import argparse
import socket
import time
import warnings
from typing import Any

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import random_numbers

TARGET_SECONDS = 15.0
TARGET_REQUESTS = 30


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(client: msp.MobileStatusClient, numbers: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = client.lookup_many(numbers, progress=False)
        except msp.TransportError as exc:
            return time.perf_counter() - started, f"raised {type(exc).__name__}"
    elapsed = time.perf_counter() - started
    report = out.attrs["mobilestatus"]
    stopped = report["stop_reason"] or "finished"
    return elapsed, f"{stopped} ({len(caught)} warning(s), {report['not_checked']} not_checked)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=200)
    args = parser.parse_args()
    numbers = random_numbers(args.numbers, seed=123)
    rows: list[tuple[str, float, Any, str]] = []

    client = msp.MobileStatusClient(
        f"http://127.0.0.1:{closed_port()}", "AKIDbench", "bench-key", cache=None
    )
    seconds, how = timed(client, numbers)
    attempts = client.last_run.not_sent if client.last_run else "?"
    rows.append(("closed port", seconds, f"0 ({attempts} connects)", how))

    with msp.Sandbox(fault_rate=1.0, faults=("drop",), own_process=True) as sb:
        seconds, how = timed(sb.client(cache=None), numbers)
        rows.append(("drops every connection", seconds, sb.stats()["requests"], how))

    with msp.Sandbox() as sb:
        client = sb.client(cache=None)
        send = client._send

        def dies_after_first(prepared: Any) -> Any:
            answer = send(prepared)
            sb.config.faults, sb.config.fault_rate = ("drop",), 1.0
            return answer

        client._send = dies_after_first  # type: ignore[method-assign]
        seconds, how = timed(client, numbers)
        rows.append(("dies after the first call", seconds, sb.stats()["requests"], how))

    with msp.Sandbox(own_process=True) as sb:
        seconds, how = timed(sb.client(cache=None), numbers)
        rows.append(("healthy (reference)", seconds, sb.stats()["requests"], how))

    print(f"{args.numbers} numbers, client defaults; targets: < {TARGET_SECONDS:g} s and "
          f"< {TARGET_REQUESTS} requests when nothing can work")  # fmt: skip
    print(f"{'endpoint':28} {'seconds':>8} {'requests':>20}  outcome")
    for name, seconds, requests, how in rows:
        print(f"{name:28} {seconds:8.2f} {requests!s:>20}  {how}")
    reference = rows[-1][1]
    for name, seconds, _, _ in rows[:-1]:
        print(f"{name}: {seconds / reference:.2f}x the healthy run's time")


if __name__ == "__main__":
    main()
