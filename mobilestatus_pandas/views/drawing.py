"""What every picture shares: one colour per status, pyplot loaded on first use, axes sized
to their bars, bar labels that fit, and the stacked share bars (:func:`stacked_bars`).

:mod:`~mobilestatus_pandas.views.plots` (the ``plot`` dispatch, health, time and billing),
:mod:`~mobilestatus_pandas.views.compare_plot`,
:mod:`~mobilestatus_pandas.views.tenure_plot` and the
run's live display draw with these, so the same status has the same colour everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from ..errors import MissingDependencyError

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
#: A bar label is drawn only where it fits inside its segment with this much room each side.
LABEL_PADDING_PIXELS: Final = 2.0
BAR_HEIGHT_INCHES: Final = 0.45


def pyplot() -> Any:
    """``matplotlib.pyplot``, imported on first use (a clear error when it is missing)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise MissingDependencyError(
            "plots need matplotlib, a dependency of mobilestatus-pandas that this environment "
            "lacks: pip install 'matplotlib>=3.8' (or reinstall mobilestatus-pandas)"
        ) from exc
    return plt


def new_axes(rows: int, width: float = 10.0) -> Axes:
    """New axes tall enough for ``rows`` horizontal bars."""
    _, ax = pyplot().subplots(figsize=(width, 1.6 + BAR_HEIGHT_INCHES * rows), layout="constrained")
    return ax


def stacked_bars(
    counts: pd.DataFrame,
    *,
    colors: Mapping[str, str],
    legend_label: Callable[[str], str],
    legend_title: str,
    title: str,
    black_text: Collection[str] = (),
    normalize: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Horizontal stacked bars: one bar per group (``counts``' index, first on top), one
    segment per category (its columns, in order) of the rows counted.

    Shares (or counts with ``normalize=False``) are labelled inside the segments they fit in
    (in black on the ``black_text`` categories' light colours, else white); each bar is
    labelled with its group and size; the legend (``legend_label`` of each category, under
    ``legend_title``) sits outside. The line-health and tenure pictures are drawn with it.
    """
    sizes = counts.sum(axis=1)
    values = counts.div(sizes.where(sizes > 0, 1), axis=0) if normalize else counts
    ax = ax if ax is not None else new_axes(len(values))
    labels = [f"{group_label(group)}  (n={int(size):,})" for group, size in sizes.items()]
    positions = list(range(len(values)))[::-1]  # first group on top
    left = pd.Series(0.0, index=values.index)
    labelled: list[tuple[Any, Any]] = []
    for category in values.columns:
        widths = values[category].astype(float)
        bars = ax.barh(
            positions, widths, left=left, color=colors[category], label=legend_label(category),
            edgecolor="white", linewidth=0.5, height=0.7,
        )  # fmt: skip
        shares = counts[category] / sizes.where(sizes > 0, 1)
        texts = [
            (f"{share:.0%}" if normalize else f"{int(count):,}") if count > 0 else ""
            for share, count in zip(shares, counts[category], strict=True)
        ]
        drawn = ax.bar_label(bars, labels=texts, label_type="center", fontsize=8,
                             color="black" if category in black_text else "white")  # fmt: skip
        labelled.extend(zip(bars.patches, drawn, strict=True))
        left = left + widths
    ax.set_yticks(positions, labels=labels)
    ax.set_xlabel("share of rows" if normalize else "rows")
    if normalize:
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(pyplot().FuncFormatter(lambda x, _: f"{x:.0%}"))
    ax.set_title(title)
    if len(values.columns):  # an empty frame has no category to explain
        ax.legend(
            loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8,
            title=legend_title, title_fontsize=9,
        )  # fmt: skip
    ax.spines[["top", "right"]].set_visible(False)
    fit_bar_labels(ax, labelled)
    return ax


def group_label(key: object) -> str:
    """A group's label: its key, or the parts of a tuple key joined by " / "."""
    if isinstance(key, tuple):
        return " / ".join(str(k) for k in key)
    return str(key)


def fit_bar_labels(ax: Axes, labelled: list[tuple[Any, Any]]) -> None:
    """Hide each label that does not fit inside its bar segment (so labels never collide).

    Needs the laid-out figure: it is drawn once, without rendering, to measure the texts.
    """
    ax.figure.figure.draw_without_rendering()  # the root figure, also from a subfigure
    for patch, text in labelled:
        if not text.get_text():
            continue
        box = patch.get_window_extent()
        inner = text.get_window_extent()
        fits = inner.width + 2 * LABEL_PADDING_PIXELS <= box.width and inner.height <= box.height
        if not fits:
            text.set_text("")
