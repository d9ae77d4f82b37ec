"""Throughput: our engine vs the official SDK's plain loop, against one sandbox, one run.

Both talk to the embedded sandbox with the same latency. The SDK loop is what an analyst
writes by hand (one call after another); our engine keeps enough calls in flight to reach the
20 calls/s limit without ever passing it. Prints calls/s for each and the ratio.

    .venv/bin/python benchmarks/throughput.py [--latency-ms 250] [--numbers 400]
"""

from __future__ import annotations

import argparse
import time

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import random_numbers


def sdk_loop(sb: msp.Sandbox, numbers: list[str]) -> float:
    """Calls per second of the official SDK called in a plain for-loop."""
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.faceid.v20180301 import faceid_client, models

    http = HttpProfile(endpoint=sb.url.removeprefix("http://"), protocol="http")
    http.scheme = "http"
    client = faceid_client.FaceidClient(
        credential.Credential(sb.secret_id, sb.secret_key), "", ClientProfile(httpProfile=http)
    )
    started = time.perf_counter()
    for number in numbers:
        request = models.MobileStatusRequest()
        request.Mobile = number
        client.MobileStatus(request)
    return len(numbers) / (time.perf_counter() - started)


def ours(sb: msp.Sandbox, numbers: list[str]) -> tuple[float, dict[str, object]]:
    """Calls per second of ``lookup_many`` (fresh in-memory cache: every number is a call)."""
    client = sb.client(cache=None)
    started = time.perf_counter()
    out = client.lookup_many(numbers, progress=False)
    elapsed = time.perf_counter() - started
    return len(numbers) / elapsed, out.attrs["mobilestatus"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=250.0)
    parser.add_argument("--numbers", type=int, default=400)
    parser.add_argument("--sdk-numbers", type=int, default=40)
    args = parser.parse_args()

    numbers = random_numbers(args.numbers + args.sdk_numbers, seed=99)
    with msp.Sandbox(
        latency_ms=args.latency_ms, latency_spread_ms=args.latency_ms / 5, own_process=True
    ) as sb:
        baseline = sdk_loop(sb, numbers[: args.sdk_numbers])
        sb.reset_stats()
        rate, report = ours(sb, numbers[args.sdk_numbers :])
        stats = sb.stats()
    print(f"sandbox latency {args.latency_ms:.0f} ms (median), limit 20 calls/s")
    print(f"official SDK, plain loop ({args.sdk_numbers} numbers): {baseline:6.2f} calls/s")
    print(f"mobilestatus-pandas lookup_many ({args.numbers} numbers): {rate:6.2f} calls/s")
    print(f"ratio: {rate / baseline:.1f}x")
    print(
        f"RequestLimitExceeded: {stats['rate_limited']}, "
        f"max requests in any second at the service: {stats['max_arrivals_in_any_second']}, "
        f"billed: {report['billed_calls']}"
    )


if __name__ == "__main__":
    main()
