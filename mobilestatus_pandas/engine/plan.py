"""What a run has to do, worked out before anything is sent; and :func:`estimate` of it.

:func:`make_plan` classifies every distinct value once (a number, or the reason it is not
sent), de-duplicates, so each distinct number is looked up once, draws the sample when one
is asked, and answers what it can from the store in one query. :func:`estimate` is a plan
read aloud: rows, distinct numbers, cached, calls needed, worst-case cost and minutes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from ..analysis import sampling
from ..service import numbers
from ..service.actions import STATUS, Action, get_action
from ..service.result import round_cost
from . import options
from .answers import cached_result
from .options import RunOptions
from .timing import expected_minutes

if TYPE_CHECKING:
    from .calls import Caller


@dataclass
class Plan:
    """What a run has to do, worked out before anything is sent."""

    series: pd.Series
    row_codes: np.ndarray  # per row: position in ``distinct``, -1 when not a number
    row_reasons: np.ndarray  # per row: index in numbers.REASONS where row_codes is -1
    distinct: list[str]  # the distinct normalised numbers
    to_check: list[str]  # those to answer (valid, or all with validate="server")
    cached: dict[str, Any]  # those answered by the cache (the action's records)
    sample: sampling.SampleDesign | None = None  # the draw, with sample=N

    @property
    def pending(self) -> list[str]:
        return [n for n in self.to_check if n not in self.cached]


def make_plan(
    client: Caller,
    values: Iterable[object] | pd.Series,
    run_options: RunOptions,
    sample: sampling.SampleRequest | None = None,
) -> Plan:
    """Normalise and de-duplicate the values; answer what the cache can, in one query.

    Every check on the values (their dtype) runs here, before any request; ``sample`` is
    ``run_options``' sample checked against the rows (``sampling.check_request``).
    """
    action = run_options.action
    mode = options.choice(
        "validate", run_options.validate or client.validate, options.VALIDATE_MODES
    )
    series = numbers.as_series(values)
    found = numbers.classify_values(series)
    # De-duplicate the numbers of the distinct values (not of the rows: fewer to hash).
    number_codes, uniques = pd.factorize(
        pd.Series(pd.arrays.ArrowStringArray(found.national), copy=False), use_na_sentinel=True
    )
    number_codes = np.append(number_codes, -1)  # position -1: the NA rows
    row_codes = number_codes[found.rows]
    row_reasons = found.row_reason()
    distinct = [str(n) for n in uniques]
    locally_valid = numbers.is_valid(pd.Series(distinct, dtype=numbers.string_dtype()))
    send = locally_valid.to_numpy(dtype=bool) if mode == "local" else np.ones(len(distinct), bool)
    to_check = [n for n, go in zip(distinct, send, strict=True) if go]
    design = None
    if sample is not None:
        to_check, design = sampling.draw(distinct, to_check, row_codes, sample)
    cached: dict[str, Any] = {}
    if to_check and not run_options.refresh:
        keys = {client.number_key(n, action): n for n in to_check}
        fresh_after = client.now() - client.cache_ttl.total_seconds()
        for key, answer in client.store.get_many(list(keys), fresh_after).items():
            cached[keys[key]] = cached_result(keys[key], answer, action)
    return Plan(series, row_codes, row_reasons, distinct, to_check, cached, design)


#: The labels of :func:`estimate`'s answer, in order.
ESTIMATE_LABELS: Final = (
    "rows",
    "distinct numbers",
    "invalid rows",
    "missing rows",
    "cached and fresh",
    "calls needed",
    "worst-case billed calls",
    "worst-case cost",
    "expected minutes",
)


def estimate(
    client: Caller,
    values: Iterable[object] | pd.Series,
    *,
    validate: str | None = None,
    refresh: bool = False,
    action: Action | str = STATUS,
) -> pd.Series:
    """What a run of ``action`` would do, before any money is spent: no call is made.

    Returns a Series labelled ``rows``, ``distinct numbers``, ``invalid rows`` (not sent),
    ``missing rows`` (no number given: not sent, not counted as invalid), ``cached and
    fresh``, ``calls needed``, ``worst-case billed calls`` (every call could be
    billed), ``worst-case cost`` (NaN without ``price_per_call``) and ``expected minutes`` (at
    the rate limit: :func:`~.timing.expected_seconds`).
    """
    act = get_action(action)
    plan = make_plan(client, values, RunOptions(refresh=refresh, validate=validate, action=act))
    sent = {n: i for i, n in enumerate(plan.distinct)}
    checked_codes = np.array([sent[n] for n in plan.to_check], dtype=np.int64)
    missing = (plan.row_codes < 0) & (plan.row_reasons == numbers.REASONS.index(numbers.NO_NUMBER))
    missing_rows = int(missing.sum())
    invalid_rows = int((~np.isin(plan.row_codes, checked_codes)).sum()) - missing_rows
    calls = len(plan.pending)
    price = client.price_for(act)
    return pd.Series(
        [
            len(plan.series),
            len(plan.distinct),
            invalid_rows,
            missing_rows,
            len(plan.cached),
            calls,
            calls,
            round_cost(calls * price) if price is not None else float("nan"),
            expected_minutes(calls, client.rate_limit),
        ],
        index=list(ESTIMATE_LABELS),
        dtype=object,
        name="mobilestatus estimate",
    )
