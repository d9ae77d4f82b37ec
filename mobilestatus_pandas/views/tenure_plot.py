"""Tenure pictures and tables: how long the lines of each group have been on the network.

``out.mobile.plot(kind="tenure", by="fraud")`` draws one stacked bar per group, a segment per
tenure band (shortest first, warm to cool) followed by the rows without a tenure (a number that
does not exist, no tenure found, invalid, not checked, ...), like the line-health picture does
for status. :func:`tenure_table` is the table behind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import pandas as pd

from ..analysis.grouping import describe_by, resolve_by
from ..errors import InputError
from ..service.tenure import BANDS, NEW_LINE_MONTHS, TENURE_STATUSES
from .drawing import STATUS_COLORS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: The default prefix of tenure columns.
TENURE_PREFIX: Final = "tenure_"
#: A tenure the service gave in an interval outside the usual bands (e.g. ``[23,+)``).
OTHER_RANGE: Final = "other range"
#: The columns of :func:`tenure_table`, in order: the bands, then the rows without a band.
TENURE_CATEGORIES: Final[tuple[str, ...]] = (
    *BANDS,
    OTHER_RANGE,
    *(s for s in TENURE_STATUSES if s != "known"),
)
#: One colour per band: warm for new lines, cool for old ones; the statuses without a band
#: in the line-status colours (:data:`~.drawing.STATUS_COLORS`); every one visible on white.
TENURE_COLORS: Final[dict[str, str]] = {
    "[0,3)": "#c62828",
    "[3,6)": "#ef6c00",
    "[6,12)": "#afb42b",
    "[12,24)": "#7cb342",
    "[24,+)": "#2e7d32",
    OTHER_RANGE: "#26a69a",
    "no_duration": "#9e9e9e",
    **{
        status: STATUS_COLORS[status]
        for status in TENURE_STATUSES
        if status not in ("known", "no_duration")
    },
}


def _column(frame: pd.DataFrame, prefix: str, name: str) -> pd.Series:
    full = f"{prefix}{name}"
    if full not in frame.columns:
        raise InputError(
            f"no column {full!r}: tenure pictures read the output of df.mobile.tenure(...) or "
            f"df.mobile.check(..., actions=('status', 'tenure')) (or pass the prefix= it was "
            f"made with)"
        )
    return frame[full]


def tenure_category(frame: pd.DataFrame, prefix: str = TENURE_PREFIX) -> pd.Series:
    """Per row: its band, ``"other range"``, or its tenure status (one of
    :data:`TENURE_CATEGORIES`, as an ordered categorical)."""
    status = _column(frame, prefix, "status").astype(object)
    band = _column(frame, prefix, "band").astype(object)
    known = status == "known"
    values = status.where(~known, band.where(band.notna(), OTHER_RANGE))
    return pd.Series(
        pd.Categorical(values, categories=list(TENURE_CATEGORIES), ordered=True),
        index=frame.index,
        name=f"{prefix}band",
    )


def tenure_table(
    frame: pd.DataFrame, by: object = None, *, prefix: str = TENURE_PREFIX
) -> pd.DataFrame:
    """Rows per tenure band and per status without a band (columns, only those present),
    per group of ``by`` (index; one row ``"all"`` without ``by``)."""
    category = tenure_category(frame, prefix)
    keys, _names = resolve_by(frame, by)
    if not keys:
        counts = category.value_counts(sort=False).to_frame("all").T
    else:
        counts = (
            category.groupby(keys, dropna=False, observed=False)
            .value_counts(sort=False)
            .unstack(fill_value=0)
        )
        if len(keys) == 1:
            counts.index.name = keys[0].name
    counts = counts.reindex(columns=list(TENURE_CATEGORIES), fill_value=0)
    present = [c for c in TENURE_CATEGORIES if counts[c].sum() > 0]
    counts = counts[present].astype("int64")
    return counts.loc[counts.sum(axis=1) > 0]


def new_line_share(frame: pd.DataFrame, *, prefix: str = TENURE_PREFIX) -> float:
    """The share of rows with a known tenure that are under six months (NaN without any)."""
    months_max = _column(frame, prefix, "months_max")
    status = _column(frame, prefix, "status")
    known = (status == "known") & _column(frame, prefix, "months_min").notna()
    if not known.any():
        return float("nan")
    new = (months_max <= NEW_LINE_MONTHS).fillna(False) & known
    return float(new.sum() / known.sum())


def tenure_plot(
    frame: pd.DataFrame,
    by: object = None,
    *,
    normalize: bool = True,
    ax: Axes | None = None,
    prefix: str = TENURE_PREFIX,
) -> Axes:
    """Horizontal stacked bars of tenure bands, one bar per group (one bar without ``by``)."""
    from .drawing import stacked_bars

    counts = tenure_table(frame, by, prefix=prefix)
    _keys, names = resolve_by(frame, by, warn_above=None)
    return stacked_bars(
        counts,
        colors=TENURE_COLORS,
        legend_label=_legend,
        legend_title="tenure",
        title=f"Line tenure (months on the network){describe_by(names)}",
        normalize=normalize,
        ax=ax,
    )


def _legend(category: str) -> str:
    if category in BANDS:
        low, _, high = category.strip("[)").partition(",")
        return f"{category}: {low}+ months" if high == "+" else f"{category}: {low}-{high} months"
    if category == OTHER_RANGE:
        return f"{OTHER_RANGE}: a tenure outside the usual bands"
    from ..service.tenure import TENURE_STATUS_DESCRIPTIONS

    return f"{category}: {TENURE_STATUS_DESCRIPTIONS[category].split(' (')[0]}"
