"""A team on one account: separate processes, each with its own cache directory, sharing one
real Redis, against the sandbox in its own process at 150 ms latency.

The processes are the real command (``mobilestatus check``); the harness is the team
benchmark's (``benchmarks/team.py``), which also measures the baseline.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import mobilestatus_pandas as msp
from benchmarks.team import run_team
from mobilestatus_pandas.datasets import random_numbers
from tests.conftest import allowed_refusals

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.serial]

TEAM_KEY = "cd" * 32


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[msp.Sandbox]:
    with msp.Sandbox(latency_ms=150, own_process=True) as sb:
        yield sb


def test_three_processes_share_the_limit(
    slow_sandbox: msp.Sandbox, redis_url: str, tmp_path: Path
) -> None:
    numbers = random_numbers(3 * 80, seed=31)
    chunks = [numbers[i * 80 : (i + 1) * 80] for i in range(3)]
    run = run_team(slow_sandbox, chunks, tmp_path, cache=redis_url, team_key=TEAM_KEY)
    assert run.exit_codes == [0, 0, 0], run.errors
    # One limit for the three: refusals for the rate are rare (three limits of 20 would be
    # refused hundreds of times), retried and counted; how close together they come to the
    # account's 20 calls/s is benchmarks/team.py's to measure.
    refused = run.stats["rate_limited"]
    assert refused <= allowed_refusals(run.stats["requests"]), run.stats
    assert run.stats["max_arrivals_in_any_second"] <= 20 + refused
    assert run.stats["numbers_billed_more_than_once"] == 0
    assert len(run.send_times) == 240
    # ... and they do not hold each other back: in some second the service took the full limit.
    assert run.stats["max_calls_in_any_second"] >= 18, run.stats


def test_overlapping_numbers_one_after_the_other_are_billed_once(
    slow_sandbox: msp.Sandbox, redis_url: str, tmp_path: Path
) -> None:
    numbers = random_numbers(90, seed=32)
    first, second = numbers[:60], numbers[30:]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = run_team(slow_sandbox, [first], tmp_path / "a", cache=redis_url, team_key=TEAM_KEY)
    two = run_team(slow_sandbox, [second], tmp_path / "b", cache=redis_url, team_key=TEAM_KEY)
    assert one.exit_codes == two.exit_codes == [0]
    [out_one], [out_two] = one.outputs, two.outputs
    billed_first = set(out_one.loc[out_one["mobile_billed"], "mobile_number"])
    billed_second = set(out_two.loc[out_two["mobile_billed"], "mobile_number"])
    assert billed_first, "the first process paid for its numbers"
    assert not billed_first & billed_second, "no number billed twice"
    overlap = out_two["mobile_number"].isin(first)
    assert overlap.sum() == 30
    assert out_two.loc[overlap, "mobile_from_cache"].all(), "the overlap came from Redis"
    assert two.stats["requests"] == 30 + two.stats["rate_limited"], "only its new numbers"
    assert two.stats["rate_limited"] <= allowed_refusals(two.stats["requests"]), two.stats


@pytest.mark.parametrize("backend", ["redis", "sqlite"])
def test_the_same_numbers_at_the_same_time_are_billed_once(
    backend: str, slow_sandbox: msp.Sandbox, redis_url: str, tmp_path: Path
) -> None:
    """Two processes given the same numbers at once: each number is called once; the other
    process waits for that answer (a claim on the number) and takes it from the cache.
    With Redis as on two machines; with the embedded cache as two notebooks of one user."""
    numbers = random_numbers(60, seed=33 if backend == "redis" else 34)
    run = run_team(
        slow_sandbox,
        [numbers, list(reversed(numbers))],
        tmp_path,
        cache=redis_url if backend == "redis" else None,
        team_key=TEAM_KEY,
        one_machine=backend == "sqlite",
    )
    assert run.exit_codes == [0, 0], run.errors
    assert run.stats["numbers_billed_more_than_once"] == 0
    refused = run.stats["rate_limited"]  # rare, retried: not a second call for a number
    assert refused <= allowed_refusals(run.stats["requests"]), run.stats
    assert run.stats["requests"] == 60 + refused, "one call per number for the two together"
    for out in run.outputs:
        assert out["mobile_status"].notna().all()
        assert not out["mobile_status"].isin(["error", "not_checked", "busy"]).any()
    from_cache = sum(int(out["mobile_from_cache"].sum()) for out in run.outputs)
    assert from_cache == 60, "each number was answered once and shared once"
