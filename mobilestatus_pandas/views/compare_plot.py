"""The comparison picture: shares with their intervals per group, and lift as a forest plot.

Drawn from :func:`mobilestatus_pandas.analysis.stats.compare`'s table (matplotlib, imported on first
use). Left panel: each status's share per group, a dot with its Wilson interval; right panel:
the lift against the reference group on a log axis with its interval, and a line at 1 (no
difference). One row per (status, group), statuses in blocks, colours from
:data:`mobilestatus_pandas.views.drawing.STATUS_COLORS` (``dead_line`` black, apart from each dead
line state's colour).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from ..analysis.stats import DEAD_LINE, NOTE_REFERENCE, OUTCOME_TENURE, compare
from ..errors import InputError
from ..service.codes import DEAD_LINE_STATES
from .drawing import DEAD_LINE_COLOR as DEAD_LINE_COLOR  # re-exported: dead_line's colour
from .drawing import NEW_LINE_COLOR as NEW_LINE_COLOR  # re-exported: new_line's colour

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ROW_HEIGHT_INCHES: Final = 0.32
#: Lift axis limits when no interval sets them.
DEFAULT_LIFT_RANGE: Final = (0.25, 4.0)
#: What the picture shows by default: dead lines, each dead line state, and live lines.
DEFAULT_STATUSES: Final = (DEAD_LINE, *DEAD_LINE_STATES, "normal")
_NUMERIC: Final = ("share", "ci_low", "ci_high", "lift", "lift_ci_low", "lift_ci_high")


def _color(status: str) -> str:
    from .drawing import color_of
    from .tenure_plot import TENURE_COLORS

    return color_of(status, TENURE_COLORS)


def _axes(ax: Any, rows: int) -> tuple[Axes, Axes]:
    if ax is None:
        from .drawing import pyplot as _pyplot

        _, pair = _pyplot().subplots(
            1, 2, figsize=(11, 1.4 + ROW_HEIGHT_INCHES * rows), layout="constrained", sharey=True
        )
        return pair[0], pair[1]
    if isinstance(ax, (Sequence, np.ndarray)) and len(ax) == 2:
        return ax[0], ax[1]
    raise InputError(
        "plot(kind='compare') draws two panels (shares, lift): pass ax=(ax_shares, ax_lift), "
        "e.g. from plt.subplots(1, 2), or no ax"
    )


def compare_plot(
    frame: pd.DataFrame,
    by: object,
    *,
    reference: object = None,
    statuses: Sequence[str] | str | None = None,
    level: float = 0.95,
    ax: Any = None,
    outcome: str = "status",
    population: str = "process",
    prefix: str | None = None,
) -> np.ndarray:
    """Shares with interval bars per group, and lift with its interval on a log axis.

    Options as :func:`~mobilestatus_pandas.analysis.stats.compare`; ``statuses`` defaults to
    :data:`DEFAULT_STATUSES` (``dead_line``, each dead line state, ``normal``). ``ax`` takes a
    pair of Axes. Returns the two Axes (shares, lift) as an array, as ``plt.subplots(1, 2)``.
    ``outcome="tenure"``: line tenure's ``new_line`` and bands in their order (all of them by
    default), among rows with a known band. ``population="table"``: intervals about this
    table rather than the process that makes sign-ups.
    """
    tenure = outcome == OUTCOME_TENURE
    if statuses is None and not tenure:
        statuses = DEFAULT_STATUSES
    table = compare(
        frame, by, reference=reference, statuses=statuses, level=level, outcome=outcome,
        population=population, prefix=prefix,
    )  # fmt: skip
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, PercentFormatter

    facts = table.attrs["compare"]
    share_ax, lift_ax = _axes(ax, len(table))
    positions = np.arange(len(table))[::-1]  # first row on top
    column = {name: table[name].to_numpy(dtype=float) for name in _NUMERIC}
    status_of = [str(x) for x in table["status"]]
    notes = [None if pd.isna(x) else str(x) for x in table["note"]]
    labels = [
        f"{status} · {group}  (n={int(n):,})"
        for status, group, n in zip(status_of, table["group"], table["n"], strict=True)
    ]
    for i, y in enumerate(positions):
        color = _color(status_of[i])
        share, low, high = column["share"][i], column["ci_low"][i], column["ci_high"][i]
        if not np.isnan(share):
            share_ax.errorbar(
                share, y, xerr=[[share - low], [high - share]],
                fmt="o", color=color, ecolor=color, capsize=3, markersize=5,
            )  # fmt: skip
        lift, low, high = column["lift"][i], column["lift_ci_low"][i], column["lift_ci_high"][i]
        if notes[i] == NOTE_REFERENCE:
            lift_ax.text(1.0, y, "  reference", va="center", ha="left", fontsize=8, color="#555")
        elif not np.isnan(lift) and not np.isnan(low):
            lift_ax.errorbar(
                lift, y, xerr=[[lift - low], [high - lift]],
                fmt="s", color=color, ecolor=color, capsize=3, markersize=5,
            )  # fmt: skip
        elif notes[i] is not None:
            lift_ax.text(1.0, y, f"  {notes[i]}", va="center", ha="left", fontsize=7, color="#777")
    share_ax.set_yticks(positions, labels=labels, fontsize=8)
    rows_of = "rows with a known tenure" if tenure else "answered rows"
    share_ax.set_xlabel(f"share of {rows_of} ({level:.0%} Wilson interval)")
    share_ax.set_xlim(left=0)
    share_ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    lift_ax.set_xscale("log")
    lift_ax.axvline(1.0, color="#333", linewidth=0.8, linestyle="--")
    bounds = pd.concat([table["lift_ci_low"], table["lift_ci_high"]]).dropna()
    low = min(DEFAULT_LIFT_RANGE[0], float(bounds.min()) / 1.3) if len(bounds) else None
    high = max(DEFAULT_LIFT_RANGE[1], float(bounds.max()) * 1.3) if len(bounds) else None
    lift_ax.set_xlim(low or DEFAULT_LIFT_RANGE[0], high or DEFAULT_LIFT_RANGE[1])
    left, right = lift_ax.get_xlim()
    ticks = [2.0**k for k in range(-10, 11) if left <= 2.0**k <= right]
    lift_ax.xaxis.set_major_locator(FixedLocator(ticks))
    lift_ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    lift_ax.xaxis.set_minor_formatter(NullFormatter())
    reference_name = (
        f"{facts['by']}={facts['reference']}" if facts["by"] is not None else facts["reference"]
    )
    lift_ax.set_xlabel(f"lift against {reference_name} (log scale, {level:.0%} interval)")
    # blocks of statuses are told apart by a faint line between them
    for y in positions[1:][table["status"].to_numpy()[1:] != table["status"].to_numpy()[:-1]]:
        for a in (share_ax, lift_ax):
            a.axhline(y + 0.5, color="#ddd", linewidth=0.8)
    grouping = facts["by"] if facts["by"] is not None else "group"
    sampled = ", estimated from a sample" if facts["sampled"] else ""
    what = "Line tenure" if tenure else "Line status"
    share_ax.set_title(f"{what} by {grouping}{sampled}", fontsize=10, loc="left")
    lift_ax.set_title("Lift (forest plot)", fontsize=10, loc="left")
    for a in (share_ax, lift_ax):
        a.spines[["top", "right"]].set_visible(False)
    share_ax.set_ylim(-0.7, len(table) - 0.3)
    return np.array([share_ax, lift_ax], dtype=object)
