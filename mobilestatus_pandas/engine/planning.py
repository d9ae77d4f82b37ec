"""Before paying for everyone: a sample's cost beside the full run's, and the sample size a
question needs.

:func:`extend_estimate` adds to what ``df.mobile.estimate`` says about the full run. Widths
are planned as :func:`~mobilestatus_pandas.analysis.stats.compare` reports them: about the
process that makes sign-ups (no finite-population correction), with numbers as the units
(rows that share a number are one cluster): the width of the interval on the dead-line share
of ``n`` numbers is ``2 z sqrt(p (1 - p) / n)``, so a sample is never planned narrower than
the full run, whose own width is the same formula on every number. ``finite=True`` plans
about the table instead (``population="table"``): ``2 z sqrt(p (1 - p) / n · (N - n) /
(N - 1))``, 0 for the full run. With no guess of the share ``p`` it plans for the worst case,
0.5, which gives the widest interval. Several rows per number make the row share's interval
wider than planned when rows of a number agree (the design effect ``compare`` reports).

With ``by``, the sample is allocated to the groups as ``status(sample=, by=)`` draws it
(:func:`~mobilestatus_pandas.analysis.sampling.allocate`) and each group's expected width is
reported beside its full run's.

>>> numbers_for_width(0.02, population=1_000_000, share=0.5, level=0.95)
9604
>>> numbers_for_width(0.02, population=1_000_000, share=0.5, level=0.95, finite=True)
9513
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist
from typing import Any, Final

import pandas as pd

from ..errors import InputError
from ..service.result import round_cost
from .timing import expected_minutes

DEFAULT_LEVEL: Final = 0.95
#: The share planned for when none is guessed: p (1 - p) is largest at 0.5.
WORST_CASE_SHARE: Final = 0.5

#: The labels :func:`extend_estimate` adds, in order (those that apply).
SAMPLE_LABELS: Final = (
    "sample numbers",
    "sample worst-case billed calls",
    "sample worst-case cost",
    "sample expected minutes",
    "sample interval width",
    "full run interval width",
    "target interval width",
    "numbers for target width",
    "dead-line share assumed",
    "interval level",
)


def _z(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2)


def interval_width(
    numbers: int, population: int, share: float, level: float, *, finite: bool = False
) -> float:
    """The width of the ``level`` interval on a share measured on ``numbers`` of ``population``
    distinct numbers: about the process (default), or about the table with ``finite`` (0 when
    every number is measured)."""
    if numbers <= 0:
        return math.inf
    correction = 1.0
    if finite:
        if population <= 1 or numbers >= population:
            return 0.0
        correction = (population - numbers) / (population - 1)
    return 2 * _z(level) * math.sqrt(share * (1 - share) / numbers * correction)


def numbers_for_width(
    width: float, population: int, share: float, level: float, *, finite: bool = False
) -> int:
    """The fewest distinct numbers whose ``level`` interval on the share is at most ``width``
    wide, at most ``population`` (about the process, every number may still be wider than
    ``width``: :func:`interval_width` of ``population`` says how wide)."""
    variance = share * (1 - share)
    if population <= 0 or variance == 0:
        return min(population, 1)
    unlimited = (2 * _z(level)) ** 2 * variance / width**2
    needed = unlimited / (1 + (unlimited - 1) / population) if finite else unlimited
    return min(population, math.ceil(needed - 1e-9))


def _check_fraction(name: str, value: float, *, closed: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    ok = ok and ((0 <= value <= 1) if closed else (0 < value < 1))
    if not ok:
        bounds = "between 0 and 1" if closed else "strictly between 0 and 1"
        raise InputError(f"{name} must be a number {bounds}, got {value!r}")
    return float(value)


def _per_group(
    groups: Mapping[Any, int], sample: int, share: float, level: float, by_name: object
) -> dict[str, object]:
    """Each group's allocated numbers and expected widths (a sample's and the full run's)."""
    from ..analysis.sampling import allocate

    live = {g: n for g, n in groups.items() if n > 0}
    counts, _ = allocate(live, sample) if live else ({}, None)
    out: dict[str, object] = {}
    for group, population in live.items():
        label = f"{by_name}={group}" if by_name is not None else str(group)
        drawn = counts.get(group, 0)
        out[f"sample numbers [{label}]"] = drawn
        out[f"sample interval width [{label}]"] = round(
            interval_width(drawn, population, share, level), 4
        )
        out[f"full run interval width [{label}]"] = round(
            interval_width(population, population, share, level), 4
        )
    return out


def extend_estimate(
    estimate: pd.Series,
    *,
    sample: int | None = None,
    target_width: float | None = None,
    level: float = DEFAULT_LEVEL,
    expected_share: float | None = None,
    price_per_call: float | None = None,
    rate_per_second: float,
    groups: Mapping[Any, int] | None = None,
    by_name: object = None,
) -> pd.Series:
    """``estimate`` (the full run, from ``batch.estimate``) with the sample's figures added.

    With ``sample``: ``sample numbers`` (the distinct numbers a sample of that size would
    look up: valid ones, at most all of them), its ``worst-case billed calls`` (those not in
    the cache), ``worst-case cost``, ``expected minutes`` and the ``sample interval width`` of
    the dead-line share, beside the ``full run interval width`` (about the process: a full
    run is not exact either). With ``target_width``: the ``numbers for target width``. Both
    state the ``dead-line share assumed`` (``expected_share``, else the worst case 0.5) and
    the ``interval level``. With ``groups`` (each group's distinct numbers to look up, from
    ``by``) and ``sample``: per group, ``sample numbers [by=g]`` as the draw allocates them,
    ``sample interval width [by=g]`` and ``full run interval width [by=g]``.
    """
    if sample is None and target_width is None:
        return estimate
    level = _check_fraction("level", level)
    share = (
        WORST_CASE_SHARE
        if expected_share is None
        else _check_fraction("expected_share", expected_share, closed=True)
    )
    calls = int(estimate["calls needed"])
    population = int(estimate["cached and fresh"]) + calls  # the numbers a run would answer
    added: dict[str, object] = {}
    if sample is not None:
        if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
            raise InputError(f"sample must be a whole number of numbers >= 1, got {sample!r}")
        drawn = min(sample, population)
        sample_calls = min(drawn, calls)
        added["sample numbers"] = drawn
        added["sample worst-case billed calls"] = sample_calls
        added["sample worst-case cost"] = (
            round_cost(sample_calls * price_per_call) if price_per_call is not None else math.nan
        )
        added["sample expected minutes"] = expected_minutes(sample_calls, rate_per_second)
        added["sample interval width"] = round(interval_width(drawn, population, share, level), 4)
        added["full run interval width"] = round(
            interval_width(population, population, share, level), 4
        )
    if target_width is not None:
        added["target interval width"] = _check_fraction("target_width", target_width)
        added["numbers for target width"] = numbers_for_width(
            target_width, population, share, level
        )
    added["dead-line share assumed"] = share
    added["interval level"] = level
    if groups is not None and sample is not None:
        added.update(_per_group(groups, sample, share, level, by_name))
    extra = pd.Series(added, dtype=object)
    return pd.concat([estimate.astype(object), extra]).rename(estimate.name)
