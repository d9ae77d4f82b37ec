"""Team scale: three processes on one account, against one sandbox, in one run.

Each process is ``mobilestatus check`` with its own cache directory, as on three analysts'
machines. Baseline: each keeps to the limit on its own (no shared backend), which is what
a team gets from three notebooks with the embedded cache. Ours: the three share one Redis
(cache, ledger, rate limit). Prints the calls per second the three reach together (from the
send times in their outputs), the service's RequestLimitExceeded answers, the peak calls in
any second at the service, and the ratios.

    .venv/bin/python benchmarks/team.py [--numbers 150] [--latency-ms 150]

``--same-numbers`` measures the claims instead: every process is given the same numbers in
the same order, Redis sits behind a delaying TCP proxy (``--redis-delay-ms`` each way,
``--slow-writes-ms`` more for ledger writes), ``--rounds`` times; it prints the requests and
the numbers the service billed more than once.

    .venv/bin/python benchmarks/team.py --same-numbers --numbers 400 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pandas as pd

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import random_numbers

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make tests.redis_server importable
    sys.path.insert(0, str(ROOT))


@dataclass
class TeamRun:
    """What a set of processes did together."""

    outputs: list[pd.DataFrame]
    exit_codes: list[int]
    errors: list[str]
    stats: dict[str, Any]

    @property
    def send_times(self) -> pd.Series:
        """When each call of every process was sent (its answer's ``checked_at``)."""
        fresh = [
            o.loc[~o["mobile_from_cache"].astype(bool), "mobile_checked_at"] for o in self.outputs
        ]
        return pd.to_datetime(pd.concat(fresh), utc=True).dropna().sort_values()

    @property
    def calls_per_second(self) -> float:
        """Calls per second together, from the first send to the last."""
        times = self.send_times
        span = (times.iloc[-1] - times.iloc[0]).total_seconds()
        return (len(times) - 1) / span if span > 0 else 0.0


def run_team(
    sandbox: msp.Sandbox,
    numbers: list[list[str]],
    workdir: Path,
    *,
    cache: str | None,
    team_key: str,
    one_machine: bool = False,
) -> TeamRun:
    """Run one ``mobilestatus check`` process per list of numbers, all at once.

    Each gets its own cache directory under ``workdir`` (as on separate machines), or all
    one (``one_machine``: as notebooks of one user); ``cache`` (a Redis URL or a file) is
    shared by all when given, else each uses the embedded cache of its directory.
    """
    processes = start_team(
        sandbox, numbers, workdir, cache=cache, team_key=team_key, one_machine=one_machine
    )
    return finish_team(sandbox, processes, workdir)


def start_team(
    sandbox: msp.Sandbox,
    numbers: list[list[str]],
    workdir: Path,
    *,
    cache: str | None,
    team_key: str,
    one_machine: bool = False,
) -> list[subprocess.Popen[bytes]]:
    """Start the processes of :func:`run_team` and return them, running."""
    sandbox.reset_stats()
    processes = []
    for i, chunk in enumerate(numbers):
        source, target = workdir / f"in-{i}.csv", workdir / f"out-{i}.csv"
        target.unlink(missing_ok=True)
        pd.DataFrame({"phone": chunk}).to_csv(source, index=False)
        env = {
            **os.environ,
            "MOBILESTATUS_CACHE_DIR": str(workdir / f"machine-{0 if one_machine else i}"),
            "MOBILESTATUS_CACHE_KEY": team_key,
            "TENCENTCLOUD_SECRET_ID": sandbox.secret_id,
            "TENCENTCLOUD_SECRET_KEY": sandbox.secret_key,
        }
        command = [
            sys.executable, "-m", "mobilestatus_pandas.cli", "check", str(source),
            "-c", "phone", "-o", str(target), "--endpoint", sandbox.url, "--no-progress",
            "--keep-numbers",  # the comparisons need mobile_number
        ]  # fmt: skip
        if cache is not None:
            command += ["--cache", cache]
        processes.append(
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        )
    return processes


def finish_team(
    sandbox: msp.Sandbox, processes: list[subprocess.Popen[bytes]], workdir: Path
) -> TeamRun:
    """Wait for the processes of :func:`start_team`; what they did together."""
    codes, errors = [], []
    for process in processes:
        _, err = process.communicate(timeout=600)
        codes.append(process.returncode)
        errors.append(err.decode(errors="replace"))
    outputs = [
        pd.read_csv(workdir / f"out-{i}.csv", dtype={"mobile_number": str})
        for i in range(len(processes))
        if (workdir / f"out-{i}.csv").exists()
    ]
    return TeamRun(outputs, codes, errors, sandbox.stats())


def same_numbers(args: argparse.Namespace) -> None:
    """Processes given the same numbers in the same order, Redis behind a delaying proxy:
    how many numbers the service billed more than once (the claims' measurement)."""
    from tests.netproxy import DelayProxy
    from tests.redis_server import RedisServer

    key = secrets.token_hex(32)
    print(
        f"{args.processes} processes given the same {args.numbers} numbers, {args.rounds} "
        f"rounds; Redis {args.redis_delay_ms:.0f} ms away each way, ledger writes "
        f"{args.slow_writes_ms:.0f} ms slower; sandbox latency {args.latency_ms:.0f} ms"
    )
    twice = requests = 0
    with (
        TemporaryDirectory() as tmp,
        msp.Sandbox(latency_ms=args.latency_ms, own_process=True) as sb,
        RedisServer(Path(tmp) / "redis") as redis,
        DelayProxy(
            redis.port,
            delay_seconds=args.redis_delay_ms / 1000,
            slow_pattern=b":written:",
            slow_seconds=args.slow_writes_ms / 1000,
        ) as proxy,
    ):
        for round_ in range(args.rounds):
            work = Path(tmp) / f"round-{round_}"
            work.mkdir()
            numbers = random_numbers(args.numbers, seed=2026 + round_)
            run = run_team(sb, [numbers] * args.processes, work, cache=proxy.url, team_key=key)
            twice += run.stats["numbers_billed_more_than_once"]
            requests += run.stats["requests"]
            print(
                f"round {round_ + 1}: {run.stats['requests']} requests for {args.numbers} "
                f"numbers, {run.stats['numbers_billed_more_than_once']} billed twice, "
                f"RequestLimitExceeded {run.stats['rate_limited']}, "
                f"max {run.stats['max_arrivals_in_any_second']} requests in any second, "
                f"{run.calls_per_second:.1f} calls/s, exit codes {run.exit_codes}"
            )
    total = args.rounds * args.numbers
    print(f"together: {requests} requests for {total} numbers, {twice} billed twice")


def main() -> None:
    from tests.redis_server import RedisServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=150, help="per process")
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument(
        "--same-numbers", action="store_true",
        help="every process given the same numbers, Redis behind a delaying proxy: "
        "numbers billed twice (the claims' measurement)",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="with --same-numbers")
    parser.add_argument("--redis-delay-ms", type=float, default=40.0, help="each way")
    parser.add_argument("--slow-writes-ms", type=float, default=0.0, help="added to writes")
    args = parser.parse_args()
    if args.same_numbers:
        same_numbers(args)
        return

    every = random_numbers(args.numbers * args.processes * 2, seed=2026)
    half = args.numbers * args.processes
    key = secrets.token_hex(32)
    with (
        TemporaryDirectory() as tmp,
        msp.Sandbox(latency_ms=args.latency_ms, own_process=True) as sb,
        RedisServer(Path(tmp) / "redis") as redis,
    ):
        runs = {}
        for name, first, cache in (("alone", 0, None), ("shared", half, redis.url)):
            work = Path(tmp) / name
            work.mkdir()
            chunks = [
                every[first + i * args.numbers : first + (i + 1) * args.numbers]
                for i in range(args.processes)
            ]
            runs[name] = run_team(sb, chunks, work, cache=cache, team_key=key)
    alone, shared = runs["alone"], runs["shared"]
    print(
        f"{args.processes} processes x {args.numbers} numbers, sandbox latency "
        f"{args.latency_ms:.0f} ms, account limit 20 calls/s"
    )
    for name, run in (("each alone (baseline)", alone), ("sharing one Redis", shared)):
        print(
            f"{name:>22}: {run.calls_per_second:6.2f} calls/s together, "
            f"RequestLimitExceeded {run.stats['rate_limited']:4d}, "
            f"max {run.stats['max_arrivals_in_any_second']} requests in any second, "
            f"numbers billed twice {run.stats['numbers_billed_more_than_once']}, "
            f"exit codes {run.exit_codes}"
        )
    refused = alone.stats["rate_limited"]
    print(
        f"ratio: {shared.calls_per_second / alone.calls_per_second:.2f}x the useful rate, "
        f"{refused} vs {shared.stats['rate_limited']} refused calls"
    )


if __name__ == "__main__":
    main()
