"""Pictures of result frames and ledgers (matplotlib, imported on first use).

Every function returns the matplotlib ``Axes`` it drew on and accepts ``ax=`` to draw into a
figure of your own. One colour per status, the same everywhere in the project
(:data:`STATUS_COLORS`).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from ..analysis.report import DEAD_LINE, DEFAULT_CURRENCY, billing_by_period, summary
from ..errors import InputError
from ..service.codes import DEAD_LINE_STATES, LINE_STATES, STATUS_DESCRIPTIONS, STATUSES
from ..service.result import round_cost
from .drawing import STATUS_COLORS, stacked_bars
from .drawing import group_label as _group_label
from .drawing import new_axes as _new_axes
from .drawing import pyplot as _pyplot

if TYPE_CHECKING:
    from matplotlib.axes import Axes

BILLED_COLOR: Final = "#c62828"
UNBILLED_COLOR: Final = "#90a4ae"
#: Calls sent that got no answer: the service may have billed them.
POSSIBLY_BILLED_COLOR: Final = "#ef9a9a"
CACHE_COLOR: Final = "#2e7d32"
COST_COLOR: Final = "#37474f"
NOT_SENT_COLOR: Final = "#bdbdbd"
DEAD_LINE_COLOR: Final = "#000000"
#: Statuses whose colour is light: their labels are written in black.
LIGHT_STATUSES: Final = frozenset(
    {"not_checked", "unsupported", "busy", "unknown", "missing", "not_found"}
)


def status_label(status: str) -> str:
    """A legend entry: the status name as in the frame, then its description."""
    if status == DEAD_LINE:
        return f"{DEAD_LINE}: any of {', '.join(DEAD_LINE_STATES)}"
    return f"{status}: {STATUS_DESCRIPTIONS[status].split(' (')[0]}"


def _title_grouping(names: Sequence[object]) -> str:
    shown = [str(n) for n in names if n is not None]
    return f" by {', '.join(shown)}" if shown else ""


def health_table(
    frame: pd.DataFrame, by: object = None, *, prefix: str = "mobile_"
) -> pd.DataFrame:
    """Rows per status (columns, fixed order, only those present) per group (index)."""
    return _counts(summary(frame, by, prefix=prefix, wide=True), by is not None)


def _counts(wide: pd.DataFrame, grouped: bool) -> pd.DataFrame:
    counts = wide[[s for s in STATUSES if s in wide.columns]]
    if grouped:
        counts = counts.set_axis([_group_label(k) for k in counts.index], axis=0)
    return counts


def health(
    frame: pd.DataFrame,
    by: object = None,
    *,
    normalize: bool = True,
    ax: Axes | None = None,
    prefix: str = "mobile_",
) -> Axes:
    """Horizontal stacked bars of line status, one bar per group (one bar without ``by``).

    Shares (or counts with ``normalize=False``) are labelled inside the segments they fit in;
    each bar is labelled with its group and size; the legend (status name, then description)
    sits outside.
    """
    wide = summary(frame, by, prefix=prefix, wide=True)
    return stacked_bars(
        _counts(wide, by is not None),
        colors=STATUS_COLORS,
        legend_label=status_label,
        legend_title="status",
        title=f"Line health{_title_grouping(wide.index.names if by is not None else [])}",
        black_text=LIGHT_STATUSES,
        normalize=normalize,
        ax=ax,
    )


def over_time(
    frame: pd.DataFrame,
    *,
    on: object = None,
    freq: str = "W",
    answered: bool = False,
    ax: Axes | None = None,
    prefix: str = "mobile_",
) -> Axes:
    """Line health over time: per period of ``on`` (a datetime column, default the index),
    the share of each status (its colour) and of dead lines (dashed).

    Shares are of all rows in the period, or of the rows with an answer about the line with
    ``answered=True``. Rows without a date are left out (the title says how many).
    """
    dates: pd.Index | pd.Series
    if on is None:
        dates = frame.index
        if not isinstance(dates, pd.DatetimeIndex):
            raise InputError(
                "out.mobile.plot(kind='time') needs on=: the datetime column to put on the "
                "time axis (or a DatetimeIndex)"
            )
    else:
        if on not in frame.columns:
            raise InputError(f"out.mobile.plot(kind='time'): on={on!r} is not a column")
        dates = frame[on]
        if not pd.api.types.is_datetime64_any_dtype(dates.dtype):
            raise InputError(
                f"out.mobile.plot(kind='time'): column {on!r} holds {dates.dtype}, not "
                f"datetimes; convert it first: out[{on!r}] = pd.to_datetime(out[{on!r}])"
            )
    undated = int(pd.isna(dates).sum())
    dated = frame[pd.notna(dates)] if on is not None else frame[frame.index.notna()]
    values = "answered_share" if answered else "row_share"
    grouper = pd.Grouper(key=on, freq=freq) if on is not None else pd.Grouper(freq=freq)
    table = summary(dated, grouper, prefix=prefix, wide=True, values=values)
    statuses = [s for s in STATUSES if s in table.columns and table[s].notna().any()]
    ax = ax if ax is not None else _new_axes(8, width=10.0)
    periods = table.index
    for status in statuses:
        line_state = status in LINE_STATES  # the others are drawn lighter, behind
        ax.plot(periods, table[status].to_numpy(dtype=float), color=STATUS_COLORS[status],
                marker="o", markersize=3 if line_state else 2, linewidth=1.5 if line_state else 0.8,
                alpha=1.0 if line_state else 0.6, label=status_label(status))  # fmt: skip
    dead = table[[s for s in DEAD_LINE_STATES if s in table.columns]].sum(axis=1, min_count=1)
    ax.plot(periods, dead.to_numpy(dtype=float), color=DEAD_LINE_COLOR, linestyle="--",
            linewidth=2, label=status_label(DEAD_LINE))  # fmt: skip
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(_pyplot().FuncFormatter(lambda y, _: f"{y:.0%}"))
    ax.set_ylabel("share of answered rows" if answered else "share of rows")
    ax.set_xlabel(f"period ({freq})")
    where = f"{on}" if on is not None else "the index"
    note = f"; {undated:,} rows without a date left out" if undated else ""
    ax.set_title(f"Line health over time ({where} per {freq}){note}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8,
              title="status", title_fontsize=9)  # fmt: skip
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def billing(
    frame: pd.DataFrame,
    *,
    ledger: pd.DataFrame | None = None,
    period: str = "D",
    price_per_call: float | None = None,
    currency: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Billed vs unbilled calls: per period from a ledger, else the run's numbers.

    ``frame`` is a result frame (its run report is drawn) or a ledger (``client.ledger()``);
    ``ledger=`` takes precedence. For a run the bars are the run's distinct numbers, each in
    one bar: billed calls, unbilled calls, cache hits, and not sent (not a valid number, or not
    checked because the run stopped); the title gives their total and the cost. With a ledger,
    cost goes on a second axis when known. Costs are in ``currency`` (default ``"USD"``),
    rounded to cents.
    """
    currency = currency or DEFAULT_CURRENCY
    source = ledger if ledger is not None else frame
    if {"called_at", "billed"} <= set(source.columns):
        return _billing_over_time(source, period, price_per_call, currency, ax)
    report = frame.attrs.get("mobilestatus")
    if not report:
        raise InputError(
            "no run report in this frame: plot the output of df.mobile.status(...), "
            "or pass ledger=client.ledger()"
        )
    distinct = int(report["distinct_numbers"])
    answered = report["calls"] + report["cache_hits"]
    possibly = int(report.get("possibly_billed") or 0)
    names = ["billed calls", "unbilled calls", "cache hits", "not sent"]
    values = [
        report["billed_calls"], report["calls"] - report["billed_calls"] - possibly,
        report["cache_hits"], max(0, distinct - answered),
    ]  # fmt: skip
    colors = [BILLED_COLOR, UNBILLED_COLOR, CACHE_COLOR, NOT_SENT_COLOR]
    if possibly:  # sent, no answer: shown only when there were some
        names.insert(1, "possibly billed")
        values.insert(1, possibly)
        colors.insert(1, POSSIBLY_BILLED_COLOR)
    ax = ax if ax is not None else _new_axes(2, width=7.0)
    bars = ax.bar(names, values, color=colors, width=0.6)
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=2, fontsize=9)
    ax.set_ylabel("numbers")
    price = price_per_call if price_per_call is not None else report.get("price_per_call")
    cost = (
        f", cost {round_cost(report['billed_calls'] * price):,.2f} {currency}"
        if price is not None
        else ""
    )
    ax.set_title(f"Run {report['run_id']}: {distinct:,} distinct numbers{cost}")
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(y=0.15)
    return ax


def _billing_over_time(
    ledger: pd.DataFrame,
    period: str,
    price_per_call: float | None,
    currency: str,
    ax: Axes | None,
) -> Axes:
    table = billing_by_period(ledger, period, price_per_call=price_per_call)
    labels = [str(p) for p in table.index]
    ax = ax if ax is not None else _new_axes(2, width=max(7.0, 0.45 * len(labels) + 4))
    x = list(range(len(labels)))
    bottom = pd.Series(0.0, index=table.index)
    layers = [("billed", "billed calls", BILLED_COLOR),
              ("possibly_billed", "possibly billed", POSSIBLY_BILLED_COLOR),
              ("unbilled", "unbilled calls", UNBILLED_COLOR)]  # fmt: skip
    for column, name, color in layers:
        heights = table[column].astype(float)
        if column == "possibly_billed" and not heights.any():
            continue  # shown only when some call got no answer
        bars = ax.bar(x, heights, bottom=bottom, color=color, label=name, width=0.6)
        ax.bar_label(bars, labels=[f"{int(v):,}" if v else "" for v in heights],
                     label_type="center", fontsize=8, color="white")  # fmt: skip
        bottom = bottom + heights
    rotate = len(labels) > 6
    ax.set_xticks(
        x, labels=labels, rotation=30 if rotate else 0, ha="right" if rotate else "center"
    )
    ax.set_xlim(-1, len(labels))
    ax.set_ylabel("calls")
    when = "day" if period == "D" else f"period ({period})"
    ax.set_title(f"Calls per {when}, Beijing time (UTC+8) as on Tencent's bill")
    handles, names = ax.get_legend_handles_labels()
    if "cost" in table.columns:
        twin = ax.twinx()
        line = twin.plot(x, table["cost"].to_numpy(dtype=float), color=COST_COLOR, marker="o")
        twin.set_ylabel(f"cost ({currency})")
        twin.set_ylim(bottom=0)
        handles, names = [*handles, *line], [*names, f"cost ({currency})"]
    outside = 1.1 if "cost" in table.columns else 1.01  # clear of the cost axis
    ax.legend(
        handles, names, loc="upper left", bbox_to_anchor=(outside, 1.0), frameon=False, fontsize=8
    )
    return ax


#: What each kind of ``out.mobile.plot`` draws, and the options it takes (besides ``ax``).
PLOT_OPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "health": ("normalize", "prefix"),
    "time": ("on", "freq", "answered", "prefix"),
    "billing": ("ledger", "period", "price_per_call", "currency"),
    "compare": ("reference", "statuses", "level", "outcome", "prefix"),
    "tenure": ("normalize", "prefix"),
}


#: The kinds of picture that take ``by=``.
_GROUPED_KINDS: Final = ("health", "compare", "tenure")


def plot(
    frame: pd.DataFrame,
    kind: str = "health",
    by: object = None,
    ax: Axes | None = None,
    **options: Any,
) -> Any:
    """Dispatch ``out.mobile.plot``: ``kind="health"`` (:func:`health`), ``"time"``
    (:func:`over_time`), ``"billing"`` (:func:`billing`) or ``"compare"``
    (:func:`~mobilestatus_pandas.views.compare_plot.compare_plot`, two Axes) or ``"tenure"``
    (:func:`~mobilestatus_pandas.views.tenure_plot.tenure_plot`: tenure bands per group), after
    checking the options."""
    if kind not in PLOT_OPTIONS:
        kinds = ", ".join(repr(k) for k in PLOT_OPTIONS)
        raise InputError(f"out.mobile.plot: kind must be one of {kinds}, got {kind!r}")
    unknown = sorted(set(options) - set(PLOT_OPTIONS[kind]))
    if unknown:
        allowed = ", ".join(PLOT_OPTIONS[kind])
        close = difflib.get_close_matches(unknown[0], PLOT_OPTIONS[kind], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"out.mobile.plot(kind={kind!r}) has no option {', '.join(map(repr, unknown))}: "
            f"it takes ax, {'by, ' if kind in _GROUPED_KINDS else ''}{allowed}.{hint}"
        )
    if kind == "compare":
        from .compare_plot import compare_plot

        if by is None:
            raise InputError("out.mobile.plot(kind='compare') needs by=: the grouping to compare")
        return compare_plot(frame, by, ax=ax, **options)
    if kind == "health":
        return health(frame, by, ax=ax, **options)
    if kind == "tenure":
        from .tenure_plot import tenure_plot

        return tenure_plot(frame, by, ax=ax, **options)
    if by is not None:
        raise InputError(
            f"out.mobile.plot(kind={kind!r}) takes no by=: group with kind='health' "
            f"(or kind='compare', kind='tenure')"
        )
    if kind == "time":
        return over_time(frame, ax=ax, **options)
    return billing(frame, ax=ax, **options)
