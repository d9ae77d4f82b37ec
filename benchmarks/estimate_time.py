"""How close ``estimate``'s time is to the time a run takes on the sandbox, one run each.

For each size and latency: a fresh sandbox (20 calls/s, the latency given), ``estimate``'s
``expected minutes`` in seconds, then the run's own wall time (``df.mobile.status``, no cache)
and the ratio estimate / measured (1.00 is exact; the issue asked for within 5%). Beside it
the old figure, ``calls / rate``, and its ratio (7-17% short: it left out the first call's
wait, the limiter's margin and the last answer's latency; see ``engine/timing.py``).

    .venv/bin/python benchmarks/estimate_time.py [--sizes 200 400 1000] [--latencies 0 100 300]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

import mobilestatus_pandas as msp

RATE_PER_SECOND = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 400, 1000])
    parser.add_argument("--latencies", type=float, nargs="+", default=[0.0, 100.0, 300.0])
    args = parser.parse_args()
    print(f"{'calls':>6} {'latency':>8} {'estimate':>9} {'measured':>9} {'ratio':>6} {'old':>6}")
    for latency_ms in args.latencies:
        for size in args.sizes:
            frame = pd.DataFrame({"phone": [f"139{i:08d}" for i in range(size)]})
            with msp.Sandbox(latency_ms=latency_ms, rate_limit=RATE_PER_SECOND) as sandbox:
                client = sandbox.client(cache=None, rate_limit=RATE_PER_SECOND)
                estimate = frame.mobile.estimate("phone", client=client)
                estimated = float(estimate["expected minutes"]) * 60
                started = time.monotonic()
                frame.mobile.status("phone", client=client, progress=False)
                measured = time.monotonic() - started
            old = size / RATE_PER_SECOND
            print(
                f"{size:>6} {latency_ms:>6.0f}ms {estimated:>8.2f}s {measured:>8.2f}s "
                f"{estimated / measured:>6.3f} {old / measured:>6.3f}"
            )


if __name__ == "__main__":
    main()
