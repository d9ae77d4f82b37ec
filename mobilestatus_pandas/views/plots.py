"""Pictures of result frames and ledgers (matplotlib, imported on first use).

Every function returns the matplotlib ``Axes`` it drew on and accepts ``ax=`` to draw into a
figure of your own. One colour per status, the same everywhere in the project
(:data:`STATUS_COLORS`).
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from ..analysis.grouping import ManyGroupsWarning
from ..analysis.report import DEAD_LINE, DEFAULT_CURRENCY, billing_by_period, summary
from ..errors import InputError
from ..service.codes import DEAD_LINE_STATES, STATUS_DESCRIPTIONS, STATUSES
from ..service.result import round_cost
from .drawing import DEAD_LINE_COLOR as DEAD_LINE_COLOR  # re-exported
from .drawing import STATUS_COLORS, color_of, legend_outside, stacked_bars
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
        normalize=normalize,
        ax=ax,
    )


#: What the time plot draws by default: dead lines (with its interval or count) and each dead
#: line state; ``statuses="all"`` draws every status present.
TIME_STATUSES: Final = (DEAD_LINE, *DEAD_LINE_STATES)
#: A first or last period whose rows span less than this share of it is drawn as partial.
PARTIAL_COVERAGE: Final = 0.9
#: The rows-per-period bars fill at most this share of the time plot's height.
COUNT_BARS_HEIGHT: Final = 0.25
COUNT_COLOR: Final = "#e3eaee"
#: The share axis ends a tenth above the highest share or interval drawn (shares of a few
#: per cent are not flattened at the foot of a 0-100% axis), at 100% at most.
SHARE_AXIS_STEP: Final = 0.1
#: Words for the period of a ``freq`` (the period's frequency code), for titles.
PERIOD_WORDS: Final[dict[str, str]] = {
    "Y": "year", "Q": "quarter", "M": "month", "W": "week", "D": "day", "h": "hour",
    "min": "minute", "s": "second",
}  # fmt: skip
#: Offset aliases whose period is spelled without the start/end letter (``"MS"`` -> ``"M"``).
_PERIOD_ALIASES: Final[dict[str, str]] = {
    "ME": "M", "MS": "M", "QE": "Q", "QS": "Q", "YE": "Y", "YS": "Y", "A": "Y", "AS": "Y",
    "H": "h", "T": "min", "S": "s",
}  # fmt: skip


def _periods(dates: pd.Series, freq: str) -> pd.Series:
    """Each date's period (``Series.dt.to_period``), for a pandas frequency."""
    try:
        return dates.dt.to_period(_PERIOD_ALIASES.get(freq, freq))
    except (ValueError, TypeError, AttributeError) as exc:
        raise InputError(
            f"out.mobile.plot(kind='time'): freq={freq!r} is not a period pandas knows; use "
            f"'D', 'W', 'M', 'Q' or 'Y' (or 'W-MON' and the like)"
        ) from exc


def _period_word(periods: pd.PeriodIndex, freq: str) -> str:
    code = periods.freqstr.split("-")[0] if len(periods) else freq
    return PERIOD_WORDS.get(code, f"period ({freq})")


def _partial(periods: pd.PeriodIndex, dates: pd.Series) -> list[bool]:
    """Whether each period is covered only in part by the dates (the first and last only).

    Dates that are all midnights count as whole days."""
    partial = [False] * len(periods)
    if not len(periods):
        return partial
    step = pd.Timedelta(days=1) if (dates == dates.dt.normalize()).all() else pd.Timedelta(0)
    first, last = dates.min(), dates.max() + step
    for i in {0, len(periods) - 1}:
        start, end = periods[i].start_time, periods[i].end_time + pd.Timedelta(1, "ns")
        covered = min(end, last) - max(start, first)
        partial[i] = covered / (end - start) < PARTIAL_COVERAGE
    return partial


def over_time(
    frame: pd.DataFrame,
    *,
    on: object = None,
    freq: str = "W",
    answered: bool = True,
    statuses: Sequence[str] | str | None = None,
    ax: Axes | None = None,
    prefix: str = "mobile_",
) -> Axes:
    """Line health over time: per period of ``on`` (a datetime column, default the index),
    the share of dead lines (dashed black) and of each dead line state (its colour).

    ``statuses`` picks the lines (default :data:`TIME_STATUSES`; ``"all"``: every status
    present). Shares are of the rows with an answer about the line (the library's one
    definition of a share, as ``compare``, ``summary`` and the dashboard's headline), the
    dead-line share with its interval (numbers as clusters,
    :func:`~mobilestatus_pandas.analysis.stats.compare`); ``answered=False``: of all rows in
    the period, ``missing`` and failures included (no interval). Grey bars at the foot give
    the rows per period (right axis): a share from few rows is seen to be one. A first or
    last period the dates cover only in part is drawn hollow and named in the title, so a
    partial week never passes for a spike. Dates are labelled by matplotlib's concise date
    formatter (ticks never overlap). Rows without a date are left out (the title says how
    many).
    """
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.ticker import MaxNLocator

    dates: pd.Series
    if on is None:
        if not isinstance(frame.index, pd.DatetimeIndex):
            raise InputError(
                "out.mobile.plot(kind='time') needs on=: the datetime column to put on the "
                "time axis (or a DatetimeIndex)"
            )
        dates = pd.Series(frame.index, index=frame.index)
    else:
        if on not in frame.columns:
            raise InputError(f"out.mobile.plot(kind='time'): on={on!r} is not a column")
        dates = frame[on]
        if not pd.api.types.is_datetime64_any_dtype(dates.dtype):
            raise InputError(
                f"out.mobile.plot(kind='time'): column {on!r} holds {dates.dtype}, not "
                f"datetimes; convert it first: out[{on!r}] = pd.to_datetime(out[{on!r}])"
            )
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)  # periods have no time zone: local wall time
    dated_rows = dates.notna().to_numpy()
    undated = int((~dated_rows).sum())
    dated = frame[dated_rows]
    dates = dates[dated_rows]
    key = _periods(dates, freq).rename(str(on) if on is not None else "period")
    values = "answered_share" if answered else "row_share"
    with warnings.catch_warnings():  # many periods are what a time axis is for
        warnings.simplefilter("ignore", ManyGroupsWarning)
        table = summary(dated, key, prefix=prefix, wide=True, values=values)
        rows = summary(dated, key, prefix=prefix, wide=True)["rows"]
    table = table[table["rows"] > 0] if "rows" in table.columns else table
    periods = pd.PeriodIndex(table.index, dtype=key.dtype)
    rows = rows.reindex(table.index)
    partial = _partial(periods, dates)
    x = (periods.start_time + (periods.end_time - periods.start_time) / 2) if len(periods) else []
    if statuses is None:
        shown = list(TIME_STATUSES)
    elif statuses == "all":
        shown = [DEAD_LINE, *STATUSES]
    else:
        shown = [statuses] if isinstance(statuses, str) else list(statuses)
        unknown = sorted(set(shown) - {DEAD_LINE, *STATUSES})
        if unknown:
            raise InputError(
                f"out.mobile.plot(kind='time'): no status {', '.join(map(repr, unknown))}; "
                f"statuses are {DEAD_LINE!r} and {', '.join(STATUSES)}"
            )
    ax = ax if ax is not None else _new_axes(8, width=10.0)
    counts = ax.twinx()  # rows per period, at the foot, behind the shares
    counts.bar(x, rows.to_numpy(dtype=float), width=_bar_width(periods), color=COUNT_COLOR,
               edgecolor=["#78909c" if p else COUNT_COLOR for p in partial],
               hatch=None, label="rows per period (hatched: partial)", zorder=0)  # fmt: skip
    for patch, is_partial in zip(counts.patches, partial, strict=True):
        if is_partial:
            patch.set_hatch("///")
    top = float(rows.max()) if len(rows) else 1.0
    counts.set_ylim(0, max(top, 1.0) / COUNT_BARS_HEIGHT)
    ticks = MaxNLocator(nbins=3, integer=True).tick_values(0, max(top, 1.0))
    counts.set_yticks([t for t in ticks if 0 <= t <= max(top, 1.0)])
    counts.set_ylabel(f"rows per {_period_word(periods, freq)}", color="#607d8b")
    counts.tick_params(axis="y", colors="#607d8b", labelsize=8)
    counts.spines[["top", "left"]].set_visible(False)
    ax.set_zorder(counts.get_zorder() + 1)  # the shares in front of the bars
    ax.patch.set_visible(False)
    full = [not p for p in partial]
    peaks: list[float] = []  # the highest share or interval drawn sets the axis' top
    for status in shown:
        if status == DEAD_LINE:
            parts = [s for s in DEAD_LINE_STATES if s in table.columns]
            series = table[parts].sum(axis=1, min_count=1) if parts else None
        else:
            series = table[status] if status in table.columns else None
        if series is None or not series.notna().any():
            continue
        y = series.to_numpy(dtype=float)
        peaks.extend(y)
        color = color_of(status)
        dead = status == DEAD_LINE
        ax.plot(x, y, marker="o", markersize=4, markevery=full, label=status_label(status),
                color=color, linewidth=2.2 if dead else 1.4,
                linestyle="--" if dead else "-")  # fmt: skip
        hollow = [i for i, p in enumerate(partial) if p]
        if hollow:
            ax.plot([x[i] for i in hollow], y[hollow], linestyle="none", marker="o",
                    markersize=6, markerfacecolor="white", markeredgecolor=color)  # fmt: skip
        if dead and answered and len(periods):
            band = _dead_line_band(dated, key, prefix)
            if band is not None:
                low, high = band.reindex(table.index).to_numpy(dtype=float).T
                peaks.extend(high)
                ax.fill_between(x, low, high, color=color, alpha=0.12, linewidth=0,
                                label="dead_line: 95% interval (numbers as clusters)")  # fmt: skip
    finite = np.asarray(peaks, dtype=float)
    finite = finite[np.isfinite(finite)]
    highest = float(finite.max()) if len(finite) else 1.0
    top = min(1.0, SHARE_AXIS_STEP * (np.floor(highest / SHARE_AXIS_STEP) + 1))
    ax.set_ylim(0, top)
    ax.yaxis.set_major_formatter(_pyplot().FuncFormatter(lambda y, _: f"{y:.0%}"))
    ax.set_ylabel("share of answered rows" if answered else "share of rows")
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    word = _period_word(periods, freq)
    where = f"{on}" if on is not None else "the index"
    notes = []
    for i in [i for i, p in enumerate(partial) if p]:
        which = "last" if i == len(partial) - 1 and len(partial) > 1 else "first"
        count = int(rows.iloc[i])
        notes.append(
            f"the {which} {word} is partial ({count:,} row{'' if count == 1 else 's'}, hollow)"
        )
    if undated:
        notes.append(f"{undated:,} rows without a date left out")
    ax.set_title(
        f"Dead lines per {word} of {where}"
        + (f"\n{'; '.join(notes)}" if notes else ""),
        fontsize=11,
    )  # fmt: skip
    handles, labels = ax.get_legend_handles_labels()
    bars, bar_labels = counts.get_legend_handles_labels()
    if handles:
        legend_outside(ax, handles=[*handles, *bars], labels=[*labels, *bar_labels],
                       title="status")  # fmt: skip
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def _bar_width(periods: pd.PeriodIndex) -> Any:
    """Each period's bar, 80% as wide as the period (in matplotlib's date units: days)."""
    if not len(periods):
        return 0.8
    days = (periods.end_time - periods.start_time) / pd.Timedelta(days=1)
    return (days * 0.8).to_numpy(dtype=float)


def _dead_line_band(dated: pd.DataFrame, key: pd.Series, prefix: str) -> pd.DataFrame | None:
    """The dead-line share's interval per period (answered rows, numbers as clusters)."""
    from ..analysis.stats import compare

    try:
        with warnings.catch_warnings():  # many periods are what a time axis is for
            warnings.simplefilter("ignore", ManyGroupsWarning)
            table = compare(dated, key, statuses=[DEAD_LINE], prefix=prefix)
    except InputError:  # too few answers, no number column: the count bars stand alone
        return None
    band = table[["ci_low", "ci_high"]]
    # the periods as they are (object), without the dtype inference pandas 2.2 warns about
    band.index = pd.Index(table["group"].to_numpy(dtype=object), dtype=object)
    return band


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
    legend_outside(ax, handles=handles, labels=names)  # clear of the cost axis
    return ax


#: What each kind of ``out.mobile.plot`` draws, and the options it takes (besides ``ax``).
PLOT_OPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "health": ("normalize", "prefix"),
    "time": ("on", "freq", "answered", "statuses", "prefix"),
    "billing": ("ledger", "period", "price_per_call", "currency"),
    "compare": ("reference", "statuses", "level", "outcome", "population", "prefix"),
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
