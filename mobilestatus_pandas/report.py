"""Tables that summarise result frames: line health per status, overall or per group.

Reads result frames only (the ``mobile_*`` columns and ``attrs["mobilestatus"]``).
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any, Final

import numpy as np
import pandas as pd

from .batch import ATTRS_KEY, COST_DECIMALS
from .codes import DEAD_LINE_STATES, NO_ANSWER_STATES, STATUSES
from .errors import InputError
from .grouping import resolve_by, user_stacklevel

#: The currency a price is taken to be in when none is named. The default endpoint is Tencent
#: Cloud International, which bills in US dollars; pass ``currency=`` for another.
DEFAULT_CURRENCY: Final = "USD"
#: The row label of the one group of a table without ``by``.
ALL_ROWS: Final = "all rows"
#: The pseudo-status of any dead line (:data:`~mobilestatus_pandas.codes.DEAD_LINE_STATES`).
DEAD_LINE: Final = "dead_line"

#: The columns of the long summary, in order (``cost_<currency>`` follows when a price is
#: known; ``estimated_rows`` and ``estimated_share`` on a sampled frame).
SUMMARY_COLUMNS: Final = (
    "rows",
    "row_share",
    "answered_share",
    "numbers",
    "number_share",
    "billed_numbers",
    "cached_numbers",
    "cached_rows",
)
#: The per-group totals that follow the status columns of the wide summary.
WIDE_TOTALS: Final = (
    "rows",
    "answered_rows",
    "dead_line_share",
    "numbers",
    "billed_numbers",
    "cached_numbers",
    "cached_rows",
)


class CostUnknownWarning(UserWarning):
    """Numbers were billed but no price is known (no ``price_per_call=``, no run report)."""


def cost_column(currency: str | None = None) -> str:
    """The name of the cost column: the cost carries its unit, e.g. ``cost_usd``."""
    return f"cost_{(currency or DEFAULT_CURRENCY).lower()}"


def to_cents(costs: np.ndarray) -> np.ndarray:
    """Costs rounded to cents so that they still add up to their rounded total.

    Rounding each part alone can miss the total by a cent per part; this rounds down, then
    gives the cents left over to the parts with the largest remainders (largest remainder
    method), so a table's cost column sums to the run's cost.
    """
    scale = 10**COST_DECIMALS
    exact = np.asarray(costs, dtype=float).reshape(-1) * scale
    floored = np.floor(exact + 1e-9)
    missing = round(round(float(exact.sum())) - floored.sum())
    if missing > 0:
        order = np.argsort(-(exact - floored), kind="stable")[:missing]
        floored[order] += 1
    return (floored / scale).reshape(np.shape(costs))


def run_report(frame: pd.DataFrame) -> dict[str, Any]:
    """The run report in ``frame.attrs`` (empty when a merge or concat dropped it)."""
    report = frame.attrs.get(ATTRS_KEY)
    return report if isinstance(report, dict) else {}


def _column(frame: pd.DataFrame, prefix: str, name: str) -> pd.Series:
    full = f"{prefix}{name}"
    if full not in frame.columns:
        raise InputError(
            f"{full!r} is not in the frame: summarise the output of df.mobile.status(...) "
            f"(or pass the prefix= it was made with)"
        )
    return frame[full]


def _group_codes(frame: pd.DataFrame, by: object) -> tuple[np.ndarray, pd.Index | None]:
    """Per row, the position of its group in the returned (sorted) group index."""
    keys, names = resolve_by(frame, by)
    if not keys:
        return np.zeros(len(frame), dtype=np.int64), None
    ranged = [pd.Series(key.array, name=name) for key, name in zip(keys, names, strict=True)]
    grouped = pd.Series(np.zeros(len(frame)), dtype=float).groupby(
        ranged, dropna=False, observed=True, sort=True
    )
    codes = grouped.ngroup().to_numpy(dtype=np.int64)
    index = grouped.size().index
    index.names = names
    return codes, index


def _distinct_per_cell(cells: np.ndarray, numbers: np.ndarray, size: int) -> np.ndarray:
    """Distinct numbers per cell (``numbers`` are codes, -1 for no number)."""
    has = numbers >= 0
    pairs = pd.DataFrame({"cell": cells[has], "number": numbers[has]}).drop_duplicates()
    return np.bincount(pairs["cell"].to_numpy(), minlength=size)


def _price(frame: pd.DataFrame, price_per_call: float | None, billed: int) -> float | None:
    if price_per_call is not None:
        if price_per_call < 0:
            raise InputError(f"price_per_call must be >= 0, got {price_per_call!r}")
        return float(price_per_call)
    report = run_report(frame)
    if report.get("price_per_call") is not None:
        return float(report["price_per_call"])
    if not report and billed:
        warnings.warn(
            f"{billed:,} numbers were billed but this frame has no run report (a merge, concat "
            f"or file round trip drops DataFrame.attrs), so their cost is unknown: pass "
            f"price_per_call= to get the cost column",
            CostUnknownWarning,
            stacklevel=user_stacklevel(),
        )
    return None


def summary(
    frame: pd.DataFrame,
    by: object = None,
    *,
    prefix: str = "mobile_",
    price_per_call: float | None = None,
    currency: str | None = None,
    all_statuses: bool = False,
    wide: bool = False,
    values: str = "rows",
) -> pd.DataFrame:
    """Line health: per status (fixed order), overall or per group.

    Long (default): one row per status (per group with ``by``, the groups as outer index
    levels), columns named for their unit:

    * ``rows``, ``row_share`` (of all rows in the group), ``answered_share`` (of the rows with
      an answer about the line: not ``missing``, ``busy``, ``daily_limit``, ``error`` or
      ``not_checked``, which get NA);
    * ``numbers`` (distinct), ``number_share``;
    * ``billed_numbers``: distinct numbers whose lookup this run paid for (a number is billed
      once, whatever its rows), ``cached_numbers`` (answered by the cache) and ``cached_rows``;
    * ``cost_<currency>`` when a price is known (``price_per_call=``, else the run's).

    Without ``by`` the column totals agree with the run report: ``billed_numbers`` sums to
    ``billed_calls``, ``cached_numbers`` to ``cache_hits``, ``numbers`` to ``distinct_numbers``.
    A number shared by rows of several groups counts in each group's ``numbers`` and
    ``billed_numbers``; its cost is split equally among its rows, so group costs add up to
    the run's cost and do not depend on row order.

    ``by`` takes what ``groupby`` takes (see :func:`~mobilestatus_pandas.grouping.resolve_by`).
    Statuses with no row in any group are left out unless ``all_statuses=True``. ``wide=True``
    gives one row per group, a column per status holding ``values`` (any long column), then
    the group totals ``rows``, ``answered_rows``, ``dead_line_share`` (among answered rows),
    ``numbers``, ``billed_numbers``, ``cached_numbers``, ``cached_rows`` and the cost.

    On a sampled frame (``attrs["mobilestatus"]["sample"]``), ``estimated_rows`` and
    ``estimated_share`` (among answered rows) estimate the whole frame from the sampling
    weights. With no price and no run report (dropped by a merge), a
    :class:`CostUnknownWarning` says the cost is unknown instead of leaving it out silently.
    """
    status = _column(frame, prefix, "status").astype(pd.CategoricalDtype(list(STATUSES)))
    number = _column(frame, prefix, "number")
    billed = _column(frame, prefix, "billed").fillna(False).to_numpy(dtype=bool)
    cached = _column(frame, prefix, "from_cache").fillna(False).to_numpy(dtype=bool)
    group_codes, groups = _group_codes(frame, by)

    width = len(STATUSES)
    status_codes = status.cat.codes.to_numpy(dtype=np.int64)
    known = status_codes >= 0  # a row with no status (never made by a run) is not counted
    number_codes, uniques = pd.factorize(number.to_numpy(dtype=object), use_na_sentinel=True)
    has_number = number_codes >= 0
    # A number is billed once per run (on its first row): find it wherever it is, so the
    # figures do not depend on row order, and split its cost over all of its rows.
    number_billed = np.zeros(len(uniques), dtype=bool)
    number_billed[number_codes[billed & has_number]] = True
    rows_per_number = np.bincount(number_codes[has_number], minlength=len(uniques))
    row_cost = np.zeros(len(frame))
    row_cost[has_number] = (
        number_billed[number_codes[has_number]] / rows_per_number[number_codes[has_number]]
    )
    billed_rows = np.zeros(len(frame), dtype=bool)
    billed_rows[has_number] = number_billed[number_codes[has_number]]
    billed_codes = np.where(billed_rows, number_codes, -1)
    cached_codes = np.where(cached, number_codes, -1)

    group_count = 1 if groups is None else len(groups)
    size = group_count * width
    cells = (group_codes * width + status_codes)[known]
    counts = {
        "rows": np.bincount(cells, minlength=size),
        "numbers": _distinct_per_cell(cells, number_codes[known], size),
        "billed_numbers": _distinct_per_cell(cells, billed_codes[known], size),
        "cached_numbers": _distinct_per_cell(cells, cached_codes[known], size),
        "cached_rows": np.bincount(cells, weights=cached[known], minlength=size).astype(np.int64),
    }
    grid = {name: value.reshape(group_count, width) for name, value in counts.items()}
    answered = np.array([s not in NO_ANSWER_STATES for s in STATUSES])
    dead = np.array([s in DEAD_LINE_STATES for s in STATUSES])
    price = _price(frame, price_per_call, int(counts["billed_numbers"].sum()))
    sample = run_report(frame).get("sample")
    estimated = None
    if sample:
        # sampling is the sampler's module; imported by name so this one stands without it
        sampling = importlib.import_module(f"{__package__}.sampling")
        row_weights = sampling.weights(frame, prefix).to_numpy(dtype=float)
        estimated = np.bincount(cells, weights=row_weights[known], minlength=size).reshape(
            group_count, width
        )

    visible = np.ones(width, dtype=bool) if all_statuses else grid["rows"].sum(axis=0) > 0
    if wide:
        return _wide(
            grid, groups, visible, answered, dead, values, row_cost, group_codes, known,
            price, currency, estimated,
        )  # fmt: skip

    with np.errstate(invalid="ignore", divide="ignore"):
        group_rows = grid["rows"].sum(axis=1, keepdims=True)
        answered_rows = (grid["rows"] * answered).sum(axis=1, keepdims=True)
        table_values: dict[str, np.ndarray] = {
            "rows": grid["rows"],
            "row_share": grid["rows"] / np.where(group_rows > 0, group_rows, 1),
            "answered_share": np.where(
                answered & (answered_rows > 0), grid["rows"] / answered_rows, np.nan
            ),
            "numbers": grid["numbers"],
            "number_share": grid["numbers"]
            / np.maximum(grid["numbers"].sum(axis=1, keepdims=True), 1),
            "billed_numbers": grid["billed_numbers"],
            "cached_numbers": grid["cached_numbers"],
            "cached_rows": grid["cached_rows"],
        }
        if price is not None:
            cost = np.bincount(cells, weights=row_cost[known], minlength=size) * price
            table_values[cost_column(currency)] = to_cents(cost).reshape(group_count, width)
        if estimated is not None:
            est_answered = (estimated * answered).sum(axis=1, keepdims=True)
            table_values["estimated_rows"] = estimated
            table_values["estimated_share"] = np.where(
                answered & (est_answered > 0), estimated / est_answered, np.nan
            )
    kept = np.flatnonzero(visible)
    statuses = pd.CategoricalIndex(
        np.array(STATUSES, dtype=object)[kept], categories=list(STATUSES), name="status"
    )
    if groups is None:
        index: pd.Index = statuses
    else:
        levels = [groups.get_level_values(i).repeat(len(kept)) for i in range(groups.nlevels)]
        tiled = pd.Categorical(np.tile(statuses, group_count), categories=list(STATUSES))
        index = pd.MultiIndex.from_arrays([*levels, tiled], names=[*groups.names, "status"])
    table = pd.DataFrame(
        {name: value[:, kept].reshape(-1) for name, value in table_values.items()}, index=index
    )
    return table.astype(dict.fromkeys(counts, "int64"))


def _wide(
    grid: dict[str, np.ndarray],
    groups: pd.Index | None,
    visible: np.ndarray,
    answered: np.ndarray,
    dead: np.ndarray,
    values: str,
    row_cost: np.ndarray,
    group_codes: np.ndarray,
    known: np.ndarray,
    price: float | None,
    currency: str | None,
    estimated: np.ndarray | None,
) -> pd.DataFrame:
    """One row per group: ``values`` per status, then the group's totals."""
    rows = grid["rows"]
    group_rows = rows.sum(axis=1)
    answered_rows = (rows * answered).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_status: dict[str, np.ndarray] = {
            **grid,
            "row_share": rows / np.maximum(group_rows, 1)[:, None],
            "answered_share": np.where(
                answered & (answered_rows > 0)[:, None], rows / answered_rows[:, None], np.nan
            ),
            "number_share": grid["numbers"]
            / np.maximum(grid["numbers"].sum(axis=1, keepdims=True), 1),
        }
        if estimated is not None:
            est_answered = (estimated * answered).sum(axis=1, keepdims=True)
            per_status["estimated_rows"] = estimated
            per_status["estimated_share"] = np.where(
                answered & (est_answered > 0), estimated / est_answered, np.nan
            )
        if values not in per_status:
            raise InputError(
                f"values must be one of {sorted(per_status)} (what each status column of the "
                f"wide table holds), got {values!r}"
            )
        dead_rows = (rows * dead).sum(axis=1)
        totals: dict[str, np.ndarray] = {
            "rows": group_rows,
            "answered_rows": answered_rows,
            "dead_line_share": np.where(answered_rows > 0, dead_rows / answered_rows, np.nan),
        }
        for name in ("numbers", "billed_numbers", "cached_numbers", "cached_rows"):
            # a number has one status, so its group's distinct count is the sum over statuses
            totals[name] = grid[name].sum(axis=1)
        if price is not None:
            cost = np.bincount(
                group_codes[known], weights=row_cost[known], minlength=len(group_rows)
            )
            totals[cost_column(currency)] = to_cents(cost * price)
        if estimated is not None:
            est_answered_rows = (estimated * answered).sum(axis=1)
            totals["estimated_rows"] = estimated.sum(axis=1)
            totals["estimated_dead_line_share"] = np.where(
                est_answered_rows > 0, (estimated * dead).sum(axis=1) / est_answered_rows, np.nan
            )
    columns = {status: per_status[values][:, i] for i, status in enumerate(STATUSES) if visible[i]}
    index = groups if groups is not None else pd.Index([ALL_ROWS], name="group")
    return pd.DataFrame({**columns, **totals}, index=index)


def billing_by_period(
    ledger: pd.DataFrame, period: str = "D", *, price_per_call: float | None = None
) -> pd.DataFrame:
    """The ledger per period (``"D"`` day, ``"M"`` month, any pandas period alias):
    calls, billed, unbilled, ``cost`` (when the ledger has one or a price is given) and
    ``billed_without_request_id``, which must be 0 to reconcile with Tencent's bill.
    """
    missing = {"called_at", "billed", "request_id"} - set(ledger.columns)
    if missing:
        raise InputError(f"not a ledger (missing {sorted(missing)}): use client.ledger()")
    billed = ledger["billed"].fillna(False).astype(bool)
    parts = pd.DataFrame(
        {
            "calls": 1,
            "billed": billed.astype("int64"),
            "unbilled": (~billed).astype("int64"),
            "billed_without_request_id": (billed & ledger["request_id"].isna()).astype("int64"),
        },
        index=ledger.index,
    )
    if "cost" in ledger.columns:
        parts["cost"] = ledger["cost"].astype(float)
    elif price_per_call is not None:
        parts["cost"] = billed.astype(float) * price_per_call
    when = pd.to_datetime(ledger["called_at"], utc=True).dt.tz_localize(None)
    parts["period"] = when.dt.to_period(period).to_numpy()
    table = parts.groupby("period").sum()
    table.index.name = "period"
    if "cost" in table.columns:
        table["cost"] = table["cost"].round(COST_DECIMALS)
    return table


def shared(
    frame: pd.DataFrame, by: object, *, min_accounts: int = 2, prefix: str = "mobile_"
) -> pd.DataFrame:
    """Numbers carried by at least ``min_accounts`` distinct accounts (``by``), most first.

    One row per such number (the index, named ``number``): ``accounts`` (distinct values of
    ``by``), ``rows``, the line ``status`` and ``dead_line`` (any of ``DEAD_LINE_STATES``).
    Rows without a number or without an account are left out.
    """
    if by is None:
        raise InputError("shared needs by=: the column naming the account, e.g. by='user_id'")
    if isinstance(min_accounts, bool) or not isinstance(min_accounts, int | np.integer):
        raise InputError(f"min_accounts must be a whole number >= 2, got {min_accounts!r}")
    if min_accounts < 2:
        raise InputError(f"min_accounts must be >= 2 (a number shared), got {min_accounts}")
    # Accounts are many by nature: no warning about the number of groups.
    keys, names = resolve_by(frame, by, warn_above=None)
    if len(keys) != 1:
        raise InputError(f"by= names one account column, got {len(keys)}: {names}")
    number = _column(frame, prefix, "number")
    status = _column(frame, prefix, "status").astype(pd.CategoricalDtype(list(STATUSES)))
    parts = pd.DataFrame(
        {"number": number.to_numpy(), "account": keys[0].to_numpy(), "status": status.to_numpy()}
    )
    parts = parts[parts["number"].notna()]
    grouped = parts.groupby("number", sort=False, observed=True)
    table = grouped.agg(
        accounts=("account", "nunique"), rows=("account", "size"), status=("status", "first")
    )
    table = table[table["accounts"] >= min_accounts].copy()
    table["status"] = table["status"].astype(pd.CategoricalDtype(list(STATUSES)))
    table["dead_line"] = table["status"].isin(list(DEAD_LINE_STATES)).astype(bool)
    table = table.astype({"accounts": "int64", "rows": "int64"})
    table.index = pd.Index(table.index.astype(str), name="number", dtype=number.dtype)
    order = np.lexsort((table.index.to_numpy(dtype=str), -table["rows"], -table["accounts"]))
    return table.iloc[order]
