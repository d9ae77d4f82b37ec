"""Tables that summarise result frames: line health per status, overall or per group.

Reads result frames only (the ``mobile_*`` columns and ``attrs["mobilestatus"]``).
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any, Final

import numpy as np
import pandas as pd

from ..errors import InputError
from ..service.codes import DEAD_LINE_STATES, NO_ANSWER_STATES, STATUSES
from ..service.result import ATTRS_KEY, COST_DECIMALS
from .grouping import resolve_by, user_stacklevel

#: Days in ``client.billing()`` are those of Tencent's bill, which states times in UTC+8.
BILLING_TIMEZONE: Final = "Asia/Shanghai"

#: The currency a price is taken to be in when none is named. The default endpoint is Tencent
#: Cloud International, which bills in US dollars; pass ``currency=`` for another.
DEFAULT_CURRENCY: Final = "USD"
#: The row label of the one group of a table without ``by``.
ALL_ROWS: Final = "all rows"
#: The result column (after the prefix) of a sampled run's per-row design weights.
SAMPLE_WEIGHT_COLUMN: Final = "sample_weight"
#: The pseudo-status of any dead line (:data:`~mobilestatus_pandas.service.codes.DEAD_LINE_STATES`).
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

    ``by`` takes what ``groupby`` takes (see
    :func:`~mobilestatus_pandas.analysis.grouping.resolve_by`).
    Statuses with no row in any group are left out unless ``all_statuses=True``. ``wide=True``
    gives one row per group, a column per status holding ``values`` (any long column), then
    the group totals ``rows``, ``answered_rows``, ``dead_line_share`` (among answered rows),
    ``numbers``, ``billed_numbers``, ``cached_numbers``, ``cached_rows`` and the cost.

    On a sampled frame (``attrs["mobilestatus"]["sample"]``), ``estimated_rows`` and
    ``estimated_share`` (among answered rows) estimate the whole frame from the sampling
    weights. With no price and no run report (dropped by a merge), a
    :class:`CostUnknownWarning` says the cost is unknown instead of leaving it out silently.
    """
    sampled = f"{prefix}{SAMPLE_WEIGHT_COLUMN}" in frame.columns or bool(
        run_report(frame).get("sample")
    )
    parts, names = summary_parts(frame, by, prefix=prefix, weighted=sampled)
    return summary_from_parts(
        parts, names, price=_price(frame, price_per_call, _billed_numbers(parts)),
        currency=currency, all_statuses=all_statuses, wide=wide, values=values,
        estimated=sampled,
    )  # fmt: skip


def _key_column(position: int) -> str:
    return f"__by_{position}__"


def _billed_numbers(parts: pd.DataFrame) -> int:
    return int(parts.loc[parts["billed"], "number"].nunique())


def summary_parts(
    frame: pd.DataFrame,
    by: object = None,
    *,
    prefix: str = "mobile_",
    hash_key: str | None = None,
    weighted: bool = False,
) -> tuple[pd.DataFrame, list[str]]:
    """The additive core of :func:`summary`: one row per (group, status, number).

    Columns: the group keys (``__by_0__``...), ``status``, ``number`` (the number, or its
    hash with ``hash_key``; NA for rows without one), ``rows``, ``billed`` (any of its rows),
    ``cached_rows`` and ``weight`` (the sampling weights' sum with ``weighted``, else rows).
    Parts of several pieces of a frame combine with :func:`combine_parts` (dask sums them per
    partition); :func:`summary_from_parts` makes the table. Returns ``(parts, names)``.
    """
    status = _column(frame, prefix, "status").astype(pd.CategoricalDtype(list(STATUSES)))
    number = _column(frame, prefix, "number")
    billed = _column(frame, prefix, "billed").fillna(False).to_numpy(dtype=bool)
    cached = _column(frame, prefix, "from_cache").fillna(False).to_numpy(dtype=bool)
    keys, names = resolve_by(frame, by)
    numbers: Any = number.array
    if hash_key is not None:
        present = number.notna().to_numpy()
        hashed = np.zeros(len(frame), dtype=np.uint64)
        hashed[present] = pd.util.hash_pandas_object(
            number[present], index=False, hash_key=hash_key
        ).to_numpy()
        numbers = pd.arrays.IntegerArray(hashed.astype(np.int64), ~present)
    if weighted:
        sampling = importlib.import_module(f"{__package__}.sampling")
        weight = np.nan_to_num(sampling.weights(frame, prefix).to_numpy(dtype=float), nan=0.0)
    else:
        weight = np.ones(len(frame))
    data: dict[str, Any] = {_key_column(i): key.array for i, key in enumerate(keys)}
    data.update(
        status=status.array, number=numbers, rows=np.ones(len(frame), dtype=np.int64),
        billed=billed, cached_rows=cached.astype(np.int64), weight=weight,
    )  # fmt: skip
    return combine_parts([pd.DataFrame(data)]), names


def combine_parts(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Parts of pieces of one frame (:func:`summary_parts`), as the parts of the whole."""
    joined = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    keys = [c for c in joined.columns if str(c).startswith("__by_")]
    grouped = joined.groupby([*keys, "status", "number"], dropna=False, observed=True, sort=False)
    combined = grouped.agg(
        rows=("rows", "sum"), billed=("billed", "any"), cached_rows=("cached_rows", "sum"),
        weight=("weight", "sum"),
    ).reset_index()  # fmt: skip
    combined["status"] = combined["status"].astype(pd.CategoricalDtype(list(STATUSES)))
    return combined


def summary_from_parts(
    parts: pd.DataFrame,
    names: list[str],
    *,
    price: float | None = None,
    currency: str | None = None,
    all_statuses: bool = False,
    wide: bool = False,
    values: str = "rows",
    estimated: bool = False,
) -> pd.DataFrame:
    """The table :func:`summary` gives, from the parts of the frame (see
    :func:`summary_parts`) and the names of its ``by`` keys."""
    key_columns = [_key_column(i) for i in range(len(names))]
    groups: pd.Index | None = None
    if key_columns:
        grouped = parts.groupby(key_columns, dropna=False, observed=True, sort=True)
        group_codes = grouped.ngroup().to_numpy(dtype=np.int64)
        groups = grouped.size().index
        groups.names = names
    else:
        group_codes = np.zeros(len(parts), dtype=np.int64)

    width = len(STATUSES)
    status_codes = parts["status"].cat.codes.to_numpy(dtype=np.int64)
    known = status_codes >= 0  # a row with no status (never made by a run) is not counted
    rows = parts["rows"].to_numpy(dtype=np.int64)
    number_codes, uniques = pd.factorize(parts["number"], use_na_sentinel=True)
    has_number = number_codes >= 0
    # A number is billed once per run (on its first row): find it wherever it is, so the
    # figures do not depend on row order, and split its cost over all of its rows.
    number_billed = np.zeros(len(uniques), dtype=bool)
    number_billed[number_codes[parts["billed"].to_numpy(dtype=bool) & has_number]] = True
    rows_per_number = np.bincount(
        number_codes[has_number], weights=rows[has_number], minlength=len(uniques)
    )
    part_billed = np.zeros(len(parts), dtype=bool)
    part_billed[has_number] = number_billed[number_codes[has_number]]
    part_cost = np.zeros(len(parts))
    part_cost[part_billed] = rows[part_billed] / rows_per_number[number_codes[part_billed]]
    cached_rows = parts["cached_rows"].to_numpy(dtype=np.int64)

    group_count = 1 if groups is None else len(groups)
    size = group_count * width
    cells = (group_codes * width + status_codes)[known]

    def per_cell(weights: np.ndarray) -> np.ndarray:
        return np.bincount(cells, weights=weights[known], minlength=size)

    # parts are distinct per (group, status, number): counting parts counts distinct numbers
    counts = {
        "rows": per_cell(rows),
        "numbers": per_cell(has_number),
        "billed_numbers": per_cell(part_billed),
        "cached_numbers": per_cell(has_number & (cached_rows > 0)),
        "cached_rows": per_cell(cached_rows),
    }
    grid = {
        name: np.rint(value).astype(np.int64).reshape(group_count, width)
        for name, value in counts.items()
    }
    answered = np.array([s not in NO_ANSWER_STATES for s in STATUSES])
    dead = np.array([s in DEAD_LINE_STATES for s in STATUSES])
    cost_grid = None if price is None else per_cell(part_cost).reshape(group_count, width) * price
    weights_grid = (
        per_cell(parts["weight"].to_numpy(dtype=float)).reshape(group_count, width)
        if estimated
        else None
    )

    visible = np.ones(width, dtype=bool) if all_statuses else grid["rows"].sum(axis=0) > 0
    if wide:
        return _wide(
            grid, groups, visible, answered, dead, values, cost_grid, currency, weights_grid
        )

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
        if cost_grid is not None:
            table_values[cost_column(currency)] = to_cents(cost_grid)
        if weights_grid is not None:
            est_answered = (weights_grid * answered).sum(axis=1, keepdims=True)
            table_values["estimated_rows"] = weights_grid
            table_values["estimated_share"] = np.where(
                answered & (est_answered > 0), weights_grid / est_answered, np.nan
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
    return pd.DataFrame(
        {name: value[:, kept].reshape(-1) for name, value in table_values.items()}, index=index
    )


def _wide(
    grid: dict[str, np.ndarray],
    groups: pd.Index | None,
    visible: np.ndarray,
    answered: np.ndarray,
    dead: np.ndarray,
    values: str,
    cost_grid: np.ndarray | None,
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
        if cost_grid is not None:
            totals[cost_column(currency)] = to_cents(cost_grid.sum(axis=1))
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
    ledger: pd.DataFrame,
    period: str = "D",
    *,
    price_per_call: float | None = None,
    tz: str | None = BILLING_TIMEZONE,
    by_action: bool = False,
) -> pd.DataFrame:
    """The ledger per period (``"D"`` day, ``"M"`` month, any pandas period alias):
    calls, billed, ``possibly_billed`` (sent, no answer: Tencent may have billed them),
    unbilled, ``cost`` and ``worst_case_cost`` (with the possibly billed calls; when the
    ledger has a cost or a price is given) and ``billed_without_request_id``, which must be 0
    to reconcile with Tencent's bill.

    Periods are those of the time zone ``tz`` (``None``: UTC); by default
    ``"Asia/Shanghai"`` (UTC+8), the time Tencent's bills are stated in, so a day here is a
    day on the bill.

    A ledger's per-call ``price`` (each action has its own, see ``price_per_call``) prices
    its possibly billed calls; ``by_action=True`` gives a row per period and action (the
    ``X-TC-Action`` of the calls: MobileStatus, MobileNetworkTimeVerification).
    """
    missing = {"called_at", "billed", "request_id"} - set(ledger.columns)
    if missing:
        raise InputError(f"not a ledger (missing {sorted(missing)}): use client.ledger()")
    flags = ledger["billed"].astype("boolean")
    billed = flags.fillna(False).astype(bool)
    possibly = flags.isna()
    parts = pd.DataFrame(
        {
            "calls": 1,
            "billed": billed.astype("int64"),
            "possibly_billed": possibly.astype("int64"),
            "unbilled": (~billed & ~possibly).astype("int64"),
            "billed_without_request_id": (billed & ledger["request_id"].isna()).astype("int64"),
        },
        index=ledger.index,
    )
    if "cost" in ledger.columns:
        cost = ledger["cost"].astype("Float64").fillna(0.0).astype(float)
        price: Any = price_per_call
        if "price" in ledger.columns:  # each call's own price (its action's)
            price = ledger["price"].astype("Float64").fillna(0.0).astype(float)
        elif price is None:  # a possibly billed call costs what a billed one did
            known = ledger.loc[billed, "cost"].astype(float)
            price = float(known.max()) if len(known) else 0.0
        parts["cost"] = cost
        parts["worst_case_cost"] = cost + possibly.astype(float) * price
    elif price_per_call is not None:
        parts["cost"] = billed.astype(float) * price_per_call
        parts["worst_case_cost"] = (billed | possibly).astype(float) * price_per_call
    try:
        when = pd.to_datetime(ledger["called_at"], utc=True).dt.tz_convert(tz or "UTC")
    except Exception as exc:  # an unknown zone name: say which
        raise InputError(
            f"tz={tz!r} is not a time zone name (e.g. 'Asia/Shanghai', 'UTC')"
        ) from exc
    parts["period"] = when.dt.tz_localize(None).dt.to_period(period).to_numpy()
    keys = ["period"]
    if by_action:
        if "action" not in ledger.columns:
            raise InputError(
                "by_action=True needs a ledger with an action column (client.ledger())"
            )
        parts["action"] = ledger["action"].astype(object).fillna("MobileStatus").to_numpy()
        keys.append("action")
    table = parts.groupby(keys).sum()
    if not by_action:
        table.index.name = "period"
    for column in ("cost", "worst_case_cost"):
        if column in table.columns:
            table[column] = table[column].round(COST_DECIMALS)
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
