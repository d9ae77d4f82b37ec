"""Pictures of result frames and ledgers (matplotlib, imported on first use).

Every function returns the matplotlib ``Axes`` it drew on and accepts ``ax=`` to draw into a
figure of your own. One colour per status, the same everywhere in the project
(:data:`STATUS_COLORS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from .codes import STATUS_DESCRIPTIONS, STATUSES
from .errors import InputError, MissingDependencyError
from .report import billing_by_period, summary

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: One fixed colour per status, everywhere: greens are alive, warm colours are dead lines.
STATUS_COLORS: Final[dict[str, str]] = {
    "normal": "#2e7d32",  # green
    "out_of_service": "#ef6c00",  # orange
    "cancelled": "#c62828",  # red
    "offline": "#6a1b9a",  # purple
    "unavailable": "#ad1457",  # magenta
    "unknown": "#9e9e9e",  # grey
    "not_found": "#78909c",  # blue grey
    "invalid": "#8d6e63",  # brown
    "missing": "#f5f5f5",  # near white: no number given
    "unsupported": "#bcaaa4",  # light brown
    "busy": "#fbc02d",  # yellow
    "daily_limit": "#0277bd",  # blue
    "error": "#212121",  # black
    "not_checked": "#e0e0e0",  # light grey
}
BILLED_COLOR: Final = "#c62828"
UNBILLED_COLOR: Final = "#90a4ae"
CACHE_COLOR: Final = "#2e7d32"
COST_COLOR: Final = "#37474f"
#: Shares below this are not labelled inside their bar segment (they would overlap).
MIN_LABELLED_SHARE: Final = 0.04
BAR_HEIGHT_INCHES: Final = 0.45


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise MissingDependencyError(
            "plots need matplotlib: pip install 'mobilestatus-pandas[notebook]'"
        ) from exc
    return plt


def _new_axes(rows: int, width: float = 10.0) -> Axes:
    plt = _pyplot()
    _, ax = plt.subplots(figsize=(width, 1.6 + BAR_HEIGHT_INCHES * rows), layout="constrained")
    return ax


def _group_label(key: object) -> str:
    if isinstance(key, tuple):
        return " / ".join(str(k) for k in key)
    return str(key)


def health_table(
    frame: pd.DataFrame, by: str | Sequence[str] | None = None, *, prefix: str = "mobile_"
) -> pd.DataFrame:
    """Rows per status (columns, fixed order, only those present) per group (index)."""
    table = summary(frame, by, prefix=prefix)["rows"]
    if by is None:
        counts = table.to_frame("all rows").T
    else:
        counts = table.unstack("status")
        counts.index = [_group_label(k) for k in counts.index]
    present = [s for s in STATUSES if s in counts.columns and counts[s].sum() > 0]
    return counts[present] if present else counts.iloc[:, :0]


def health(
    frame: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    *,
    normalize: bool = True,
    ax: Axes | None = None,
    prefix: str = "mobile_",
) -> Axes:
    """Horizontal stacked bars of line status, one bar per group (one bar without ``by``).

    Shares (or counts with ``normalize=False``) are labelled inside segments wide enough to
    hold them; each bar is labelled with its group and size; the legend sits outside.
    """
    counts = health_table(frame, by, prefix=prefix)
    sizes = counts.sum(axis=1)
    values = counts.div(sizes.where(sizes > 0, 1), axis=0) if normalize else counts
    ax = ax if ax is not None else _new_axes(len(values))
    labels = [f"{group}  (n={int(size):,})" for group, size in sizes.items()]
    positions = list(range(len(values)))[::-1]  # first group on top
    left = pd.Series(0.0, index=values.index)
    for status in values.columns:
        widths = values[status].astype(float)
        bars = ax.barh(
            positions, widths, left=left, color=STATUS_COLORS[status], label=status,
            edgecolor="white", linewidth=0.5, height=0.7,
        )  # fmt: skip
        shares = counts[status] / sizes.where(sizes > 0, 1)
        texts = [
            (f"{share:.0%}" if normalize else f"{int(count):,}")
            if share >= MIN_LABELLED_SHARE
            else ""
            for share, count in zip(shares, counts[status], strict=True)
        ]
        dark = status not in ("not_checked", "unsupported", "busy", "unknown")
        ax.bar_label(bars, labels=texts, label_type="center", fontsize=8,
                     color="white" if dark else "black")  # fmt: skip
        left = left + widths
    ax.set_yticks(positions, labels=labels)
    ax.set_xlabel("share of rows" if normalize else "rows")
    if normalize:
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(_pyplot().FuncFormatter(lambda x, _: f"{x:.0%}"))
    grouping = "" if by is None else f" by {by if isinstance(by, str) else ', '.join(by)}"
    ax.set_title(f"Line health{grouping}")
    ax.legend(
        [STATUS_DESCRIPTIONS[s].split(" (")[0] for s in values.columns],
        loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8,
        title="status", title_fontsize=9,
    )  # fmt: skip
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def billing(
    frame: pd.DataFrame,
    *,
    ledger: pd.DataFrame | None = None,
    period: str = "D",
    price_per_call: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Billed vs unbilled calls: per period from a ledger, else the run's calls and cache hits.

    ``frame`` is a result frame (its run report is drawn) or a ledger (``client.ledger()``);
    ``ledger=`` takes precedence. With a ledger, cost goes on a second axis when known; for a
    run, in the title.
    """
    source = ledger if ledger is not None else frame
    if {"called_at", "billed"} <= set(source.columns):
        return _billing_over_time(source, period, price_per_call, ax)
    report = frame.attrs.get("mobilestatus")
    if not report:
        raise InputError(
            "no run report in this frame: plot the output of df.mobile.status(...), "
            "or pass ledger=client.ledger()"
        )
    names = ["billed calls", "unbilled calls", "cache hits"]
    values = [
        report["billed_calls"], report["calls"] - report["billed_calls"], report["cache_hits"]
    ]  # fmt: skip
    ax = ax if ax is not None else _new_axes(2, width=7.0)
    bars = ax.bar(names, values, color=[BILLED_COLOR, UNBILLED_COLOR, CACHE_COLOR], width=0.6)
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=2, fontsize=9)
    ax.set_ylabel("numbers")
    price = price_per_call if price_per_call is not None else report.get("price_per_call")
    cost = f", cost {report['billed_calls'] * price:,.2f}" if price is not None else ""
    ax.set_title(f"Run {report['run_id']}: {report['distinct_numbers']:,} distinct numbers{cost}")
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(y=0.15)
    return ax


def _billing_over_time(
    ledger: pd.DataFrame, period: str, price_per_call: float | None, ax: Axes | None
) -> Axes:
    table = billing_by_period(ledger, period, price_per_call=price_per_call)
    labels = [str(p) for p in table.index]
    ax = ax if ax is not None else _new_axes(2, width=max(7.0, 0.45 * len(labels) + 4))
    x = list(range(len(labels)))
    bottom = pd.Series(0.0, index=table.index)
    for column, name, color in (("billed", "billed calls", BILLED_COLOR),
                                ("unbilled", "unbilled calls", UNBILLED_COLOR)):  # fmt: skip
        heights = table[column].astype(float)
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
    ax.set_title("Calls per day" if period == "D" else f"Calls per period ({period})")
    handles, names = ax.get_legend_handles_labels()
    if "cost" in table.columns:
        twin = ax.twinx()
        line = twin.plot(x, table["cost"].to_numpy(dtype=float), color=COST_COLOR, marker="o")
        twin.set_ylabel("cost")
        twin.set_ylim(bottom=0)
        handles, names = [*handles, *line], [*names, "cost"]
    outside = 1.1 if "cost" in table.columns else 1.01  # clear of the cost axis
    ax.legend(
        handles, names, loc="upper left", bbox_to_anchor=(outside, 1.0), frameon=False, fontsize=8
    )
    return ax


def plot(
    frame: pd.DataFrame,
    kind: str = "health",
    by: str | Sequence[str] | None = None,
    ax: Axes | None = None,
    **options: Any,
) -> Axes:
    """``kind="health"`` (:func:`health`) or ``kind="billing"`` (:func:`billing`)."""
    if kind == "health":
        return health(frame, by, ax=ax, **options)
    if kind == "billing":
        if by is not None:
            raise InputError("the billing plot has no by=; it shows calls over time or per run")
        return billing(frame, ax=ax, **options)
    raise InputError(f"kind must be 'health' or 'billing', got {kind!r}")
