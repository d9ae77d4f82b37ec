"""Sampling before paying: the allocation, the draw, the weights, and sampled runs end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.analysis import sampling
from mobilestatus_pandas.analysis.sampling import (
    MIN_PER_STRATUM,
    SampleRequest,
    allocate,
    draw,
    weights,
)
from mobilestatus_pandas.datasets import random_numbers

# -- allocation -------------------------------------------------------------------------------


def test_allocation_is_proportional_when_no_floor_binds() -> None:
    counts, allocation = allocate({"a": 6000, "b": 3000, "c": 1000}, 1000)
    assert counts == {"a": 600, "b": 300, "c": 100}
    assert allocation == "proportional"


@pytest.mark.parametrize(
    ("population", "size"),
    [
        ({"fraud": 50, "good": 9950}, 500),
        ({"x": 3, "y": 10, "z": 100_000}, 200),
        ({"a": 7, "b": 7, "c": 7, "d": 70_000}, 40),
        ({i: (i + 1) ** 3 for i in range(12)}, 150),
    ],
)
def test_allocation_keeps_the_budget_and_the_floors(
    population: dict[object, int], size: int
) -> None:
    counts, allocation = allocate(population, size)
    assert sum(counts.values()) == size  # within budget, and all of it used
    floor = min(MIN_PER_STRATUM, size // len(population))
    for key, n in counts.items():
        assert n <= population[key]
        assert n >= min(floor, population[key])
    assert allocation == "floored"


def test_allocation_takes_everyone_when_the_sample_covers_the_population() -> None:
    assert allocate({"a": 5, "b": 7}, 100) == ({"a": 5, "b": 7}, "proportional")


def test_a_sample_smaller_than_the_number_of_groups_is_refused() -> None:
    with pytest.raises(msp.InputError, match="smaller than the number of groups"):
        allocate({"a": 100, "b": 100, "c": 100}, 2)


# -- the draw ---------------------------------------------------------------------------------


def _draw(numbers: list[str], groups: list[object], size: int, seed: int | None = 0):  # type: ignore[no-untyped-def]
    codes = np.arange(len(numbers))
    request = SampleRequest(size, np.asarray(groups, dtype=object), "g", seed)
    return draw(numbers, numbers, codes, request)


def test_draw_is_stratified_reproducible_and_independent_of_row_order() -> None:
    numbers = random_numbers(2000, seed=3)
    groups = ["fraud" if i % 20 == 0 else "good" for i in range(2000)]  # 100 fraud, 1900 good
    chosen, design = _draw(numbers, groups, 200)
    assert len(chosen) == 200
    assert design.strata == {
        "fraud": {"numbers": 100, "sampled": MIN_PER_STRATUM},
        "good": {"numbers": 1900, "sampled": 200 - MIN_PER_STRATUM},
    }
    assert design.allocation == "floored"
    fraud = {n for n, g in zip(numbers, groups, strict=True) if g == "fraud"}
    assert len(fraud & set(chosen)) == MIN_PER_STRATUM
    one = numbers.index(next(iter(fraud & set(chosen))))
    assert design.number_weight[one] == pytest.approx(100 / 30)
    assert np.isnan(design.number_weight[numbers.index(next(iter(fraud - set(chosen))))])
    again, _ = _draw(numbers, groups, 200)
    assert again == chosen
    order = np.random.default_rng(1).permutation(2000)
    shuffled, _ = _draw([numbers[i] for i in order], [groups[i] for i in order], 200)
    assert set(shuffled) == set(chosen)
    other, _ = _draw(numbers, groups, 200, seed=1)
    assert set(other) != set(chosen)


def test_draw_without_seed_records_the_seed_it_used() -> None:
    numbers = random_numbers(300, seed=4)
    chosen, design = _draw(numbers, ["a"] * 300, 50, seed=None)
    again, _ = _draw(numbers, ["a"] * 300, 50, seed=design.seed)
    assert again == chosen


def test_missing_groups_are_a_stratum_of_their_own() -> None:
    numbers = random_numbers(200, seed=5)
    groups: list[object] = ["a"] * 150 + [None] * 20 + [float("nan")] * 30
    _, design = _draw(numbers, groups, 60)
    assert design.strata[None]["numbers"] == 50
    assert design.strata[None]["sampled"] >= MIN_PER_STRATUM // 2


# -- weights ----------------------------------------------------------------------------------


def test_weights_of_an_unsampled_run_are_one_but_for_rows_not_checked() -> None:
    out = pd.DataFrame(
        {"mobile_status": ["normal", "cancelled", "invalid", "error", "missing", "not_checked"]}
    )
    assert weights(out).tolist()[:5] == [1.0] * 5
    assert pd.isna(weights(out).iloc[5])


def test_missing_rows_weigh_one_in_a_sample_and_drawn_failures_their_number() -> None:
    out = pd.DataFrame(
        {
            "mobile_status": ["normal", "error", "missing", "missing", "not_checked"],
            "mobile_sample_weight": [5.0, 5.0, float("nan"), 1.0, float("nan")],
            "mobile_number": pd.array(["13800000001", "13800000002", None, None, None]),
            "mobile_billed": [True, False, False, False, False],
            "mobile_from_cache": [False] * 5,
        }
    )
    assert weights(out).tolist()[:4] == [5.0, 5.0, 1.0, 1.0]
    assert pd.isna(weights(out).iloc[4])
    table = out.mobile.summary(price_per_call=0.05)
    assert table.loc["missing", "estimated_rows"] == 2  # was 0: missing rows weighed NaN


def test_weights_need_a_result_frame() -> None:
    with pytest.raises(msp.InputError, match="mobile_status"):
        weights(pd.DataFrame({"x": [1]}))


# -- sampled runs against the sandbox ---------------------------------------------------------

#: Calls per second for the sandbox and its clients here: these tests are about what is
#: called, not about pacing.
FAST: float = 500.0


@pytest.fixture
def sandbox() -> Iterator[msp.Sandbox]:
    with msp.Sandbox(rate_limit=FAST) as sb:
        yield sb


@pytest.mark.integration
def test_sampled_run_pays_for_the_sample_only_and_records_the_design(
    sandbox: msp.Sandbox, cache_file: Path
) -> None:
    numbers = random_numbers(600, seed=8)
    fraud = [i % 15 == 0 for i in range(600)]  # 40 fraud numbers
    df = pd.DataFrame(
        {"phone": [*numbers, numbers[0], "junk", None], "fraud": [*fraud, True, False, False]}
    )
    client = sandbox.client(cache=cache_file, rate_limit=FAST)
    out = df.mobile.status("phone", client=client, sample=100, by="fraud", seed=1, progress=False)
    assert sandbox.stats()["requests"] == 100
    design = out.attrs["mobilestatus"]["sample"]
    assert design == {
        "size": 100,
        "by": "fraud",
        "seed": 1,
        "allocation": "floored",
        "strata": {
            False: {"numbers": 560, "sampled": 70},
            True: {"numbers": 40, "sampled": 30},
        },
    }
    left = out["mobile_error"] == sampling.NOT_SAMPLED
    assert (out.loc[left, "mobile_status"] == "not_checked").all()
    assert left.sum() == 500 + int(out["mobile_number"].iloc[600] not in set(
        out.loc[~left, "mobile_number"].iloc[:600]
    ))  # fmt: skip
    sampled = out["mobile_status"].ne("not_checked") & out["mobile_number"].notna()
    assert out.loc[sampled, "mobile_number"].iloc[:600].nunique() == 100
    # junk is decided without a call for every row: weight 1
    assert out["mobile_status"].iloc[601] == "invalid"
    assert weights(out).iloc[601] == 1.0
    w = weights(out).iloc[:600]
    assert w[out["fraud"].iloc[:600]].dropna().eq(40 / 30).all()
    assert w[~out["fraud"].iloc[:600]].dropna().eq(560 / 70).all()
    # weights estimate the population: they sum to the numbers each stratum holds
    assert w.sum() == pytest.approx(600, abs=1e-9)

    # running the cell again is free, and a full run later reuses the sample's answers
    again = df.mobile.status("phone", client=client, sample=100, by="fraud", seed=1, progress=False)
    assert sandbox.stats()["requests"] == 100
    assert again["mobile_status"].tolist() == out["mobile_status"].tolist()
    full = df.mobile.status("phone", client=client, progress=False)
    assert sandbox.stats()["requests"] == 600
    assert full.attrs["mobilestatus"]["cache_hits"] == 100
    assert "mobile_sample_weight" not in full.columns
    # overwriting a sampled frame with a full run drops the stale weights
    redone = out.mobile.status("phone", client=client, progress=False, overwrite=True)
    assert "mobile_sample_weight" not in redone.columns
    checked = redone["mobile_status"] != "not_checked"
    assert (~redone["mobile_status"].isin(msp.NO_ANSWER_STATES)).sum() >= 602
    assert weights(redone).notna().tolist() == checked.tolist()


@pytest.mark.integration
def test_sampling_with_a_series_by_and_through_the_client(sandbox: msp.Sandbox) -> None:
    numbers = random_numbers(300, seed=9)
    df = pd.DataFrame({"phone": numbers}, index=np.arange(300) * 10)
    month = pd.Series(np.arange(300) % 3, index=df.index, name="month")
    client = sandbox.client(rate_limit=FAST)
    out = df.mobile.status("phone", client=client, sample=60, by=month, seed=2, progress=False)
    design = out.attrs["mobilestatus"]["sample"]
    assert design["by"] == "month"
    assert {k: v["sampled"] for k, v in design["strata"].items()} == {0: 20, 1: 20, 2: 20}
    res = sandbox.client(rate_limit=FAST).lookup_many(numbers, progress=False, sample=30, seed=2)
    assert res.attrs["mobilestatus"]["sample"]["strata"] == {None: {"numbers": 300, "sampled": 30}}
    assert (res["status"] != "not_checked").sum() == 30
    cols = df["phone"].mobile.status(
        client=sandbox.client(rate_limit=FAST), sample=10, progress=False
    )
    assert (cols["mobile_status"] != "not_checked").sum() == 10


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sample": 0}, "sample must be"),
        ({"sample": 2.5}, "sample must be"),
        ({"by": "fraud"}, "pass sample=N"),
        ({"seed": 3}, "pass sample=N"),
        ({"sample": 5, "by": "frod"}, "Did you mean 'fraud'"),
        ({"sample": 5, "by": np.array([1, 2])}, "one value per row"),
        ({"sample": 5, "seed": "x"}, "seed must be"),
    ],
)
def test_wrong_sample_options_say_what_to_do(options: dict[str, object], message: str) -> None:
    df = pd.DataFrame({"phone": ["13800000000", "13800000001", "13800000002"], "fraud": [1, 0, 0]})
    client = msp.MobileStatusClient(endpoint="http://127.0.0.1:9", secret_id="a", secret_key="b")
    with pytest.raises((msp.InputError, KeyError), match=message):
        df.mobile.status("phone", client=client, progress=False, **options)  # type: ignore[arg-type]
