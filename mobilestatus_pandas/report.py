"""Tables that summarise result frames: line health per status, overall or per group.

Reads result frames only (the ``mobile_*`` columns and ``attrs["mobilestatus"]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import pandas as pd

from .codes import STATUSES
from .errors import InputError

SUMMARY_COLUMNS: Final = ("rows", "row_share", "numbers", "number_share", "billed", "from_cache")


def _column(frame: pd.DataFrame, prefix: str, name: str) -> pd.Series:
    full = f"{prefix}{name}"
    if full not in frame.columns:
        raise InputError(
            f"{full!r} is not in the frame: summarise the output of df.mobile.status(...) "
            f"(or pass the prefix= it was made with)"
        )
    return frame[full]


def summary(
    frame: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    *,
    prefix: str = "mobile_",
    price_per_call: float | None = None,
) -> pd.DataFrame:
    """Line health: per status (fixed order), rows and distinct numbers with their shares,
    billed calls and rows served from the cache; ``cost`` when a price is known.

    ``by`` names one or more grouping columns (e.g. a fraud label): the same table per group,
    the groups as outer index levels. The price defaults to the one the run was made with.
    """
    status = _column(frame, prefix, "status").astype(pd.CategoricalDtype(list(STATUSES)))
    parts = pd.DataFrame(
        {
            "status": status,
            "number": _column(frame, prefix, "number"),
            "billed": _column(frame, prefix, "billed").fillna(False).astype(bool),
            "from_cache": _column(frame, prefix, "from_cache").fillna(False).astype(bool),
        },
        index=frame.index,
    )
    keys = [] if by is None else [by] if isinstance(by, str) else list(by)
    for key in keys:
        if key not in frame.columns:
            raise InputError(f"cannot group by {key!r}: not a column of the frame")
        parts[key] = frame[key].to_numpy()
    groups = [*keys, "status"]
    table = parts.groupby(groups, observed=False, dropna=False).agg(
        rows=("status", "size"),
        numbers=("number", "nunique"),
        billed=("billed", "sum"),
        from_cache=("from_cache", "sum"),
    )
    if keys:
        totals = table.groupby(level=list(range(len(keys))), dropna=False)
        row_total, number_total = (
            totals["rows"].transform("sum"),
            totals["numbers"].transform("sum"),
        )
    else:
        row_total, number_total = table["rows"].sum(), table["numbers"].sum()
    table["row_share"] = (table["rows"] / row_total).fillna(0.0)
    table["number_share"] = (table["numbers"] / number_total).fillna(0.0)
    table = table[list(SUMMARY_COLUMNS)].astype(
        {"rows": "int64", "numbers": "int64", "billed": "int64", "from_cache": "int64"}
    )
    price = price_per_call
    if price is None:
        price = frame.attrs.get("mobilestatus", {}).get("price_per_call")
    if price is not None:
        table["cost"] = table["billed"] * float(price)
    return table


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
    return table
