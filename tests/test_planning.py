"""estimate(sample=, target_width=): a sample's cost beside the full run's, and sample sizes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import random_numbers
from mobilestatus_pandas.engine.plan import ESTIMATE_LABELS
from mobilestatus_pandas.engine.planning import SAMPLE_LABELS, interval_width, numbers_for_width


def test_sample_size_by_hand() -> None:
    # n0 = (2 * 1.959964)^2 * 0.25 / 0.02^2 = 9603.6: about the process, whatever N
    assert numbers_for_width(0.02, 1_000_000, 0.5, 0.95) == 9604
    # about the table, with N = 10^6: n0 / (1 + (n0 - 1) / N)
    assert numbers_for_width(0.02, 1_000_000, 0.5, 0.95, finite=True) == 9513
    # a guess of the share below 0.5 needs fewer numbers: 0.1 * 0.9 / 0.25 of them
    assert numbers_for_width(0.02, 10**12, 0.1, 0.95) == math.ceil(9603.65 * 0.36)
    assert numbers_for_width(0.02, 500, 0.5, 0.95) <= 500, "never more than there are"
    assert numbers_for_width(0.02, 500, 0.0, 0.95) == 1


@pytest.mark.parametrize("finite", [False, True])
@pytest.mark.parametrize("population", [2_000, 50_000, 10**7])
@pytest.mark.parametrize("target", [0.01, 0.05, 0.1])
def test_the_size_is_the_smallest_that_reaches_the_width(
    population: int, target: float, finite: bool
) -> None:
    needed = numbers_for_width(target, population, 0.3, 0.9, finite=finite)
    if needed == population and not finite:  # every number is still wider: say so
        assert interval_width(population, population, 0.3, 0.9) > target
        return
    assert interval_width(needed, population, 0.3, 0.9, finite=finite) <= target
    assert interval_width(needed - 1, population, 0.3, 0.9, finite=finite) > target


def test_a_planned_sample_is_never_narrower_than_the_full_run() -> None:
    for numbers in (10, 500, 1999, 2000):
        assert interval_width(numbers, 2000, 0.3, 0.95) >= interval_width(2000, 2000, 0.3, 0.95)
    assert interval_width(2000, 2000, 0.3, 0.95) > 0, "the full run is not exact about the process"
    assert interval_width(2000, 2000, 0.3, 0.95, finite=True) == 0.0


def test_the_width_holds_for_real_samples() -> None:
    """Sampling without replacement at the planned size: the share's spread matches."""
    rng = np.random.default_rng(0)
    population, share, target = 20_000, 0.2, 0.04
    dead = np.zeros(population, dtype=bool)
    dead[: int(share * population)] = True
    n = numbers_for_width(target, population, share, 0.95, finite=True)
    estimates = [rng.choice(dead, size=n, replace=False).mean() for _ in range(400)]
    covered = np.mean(np.abs(np.array(estimates) - share) <= target / 2)
    assert 0.92 <= covered <= 0.98, covered


@pytest.mark.integration
def test_estimate_shows_a_sample_beside_the_full_run(sandbox: msp.Sandbox) -> None:
    client = sandbox.client(price_per_call=0.05)
    numbers = random_numbers(300, seed=5)
    client.lookup(numbers[0])  # one number in the cache
    df = pd.DataFrame({"phone": [*numbers, "junk"]})
    requests_before = sandbox.stats()["requests"]
    est = df.mobile.estimate("phone", client=client, sample=100, target_width=0.1)
    assert sandbox.stats()["requests"] == requests_before, "an estimate makes no call"
    assert list(est.index[: len(ESTIMATE_LABELS)]) == list(ESTIMATE_LABELS), "labels kept"
    assert list(est.index[len(ESTIMATE_LABELS) :]) == list(SAMPLE_LABELS)
    assert est["calls needed"] == 299
    assert est["worst-case cost"] == 14.95
    assert est["sample numbers"] == 100
    assert est["sample worst-case billed calls"] == 100
    assert est["sample worst-case cost"] == 5.0
    assert est["sample interval width"] == pytest.approx(
        interval_width(100, 300, 0.5, 0.95), abs=1e-4
    )
    assert est["numbers for target width"] == numbers_for_width(0.1, 300, 0.5, 0.95)
    assert est["dead-line share assumed"] == 0.5
    everyone = df.mobile.estimate("phone", client=client, sample=10_000)
    assert everyone["sample numbers"] == 300, "a sample is at most every number"
    assert everyone["sample worst-case billed calls"] == 299, "the cached one is free"
    assert everyone["sample interval width"] == everyone["full run interval width"] > 0
    plain = df.mobile.estimate("phone", client=client)
    assert list(plain.index) == list(ESTIMATE_LABELS)
    for bad in ({"sample": 0}, {"target_width": 1.5}, {"sample": 5, "expected_share": 2}):
        with pytest.raises(msp.InputError):
            df.mobile.estimate("phone", client=client, **bad)  # type: ignore[arg-type]


@pytest.mark.integration
def test_estimate_plans_a_stratified_sample_per_group(sandbox: msp.Sandbox) -> None:
    client = sandbox.client()
    numbers = random_numbers(1000, seed=6)
    df = pd.DataFrame({"phone": [*numbers, numbers[0], None], "fraud": [True] * 50
                       + [False] * 952})  # fmt: skip
    est = df.mobile.estimate("phone", client=client, sample=200, by="fraud")
    assert est["sample numbers [fraud=True]"] == 30, "the floor, as the draw allocates it"
    assert est["sample numbers [fraud=False]"] == 170
    assert est["sample interval width [fraud=True]"] == pytest.approx(
        interval_width(30, 50, 0.5, 0.95), abs=1e-4
    )
    assert est["full run interval width [fraud=True]"] == pytest.approx(
        interval_width(50, 50, 0.5, 0.95), abs=1e-4
    )
    wider = est["sample interval width [fraud=True]"] > est["full run interval width [fraud=True]"]
    assert wider
    with pytest.raises(msp.InputError, match="pass sample=N"):
        df.mobile.estimate("phone", client=client, by="fraud")
