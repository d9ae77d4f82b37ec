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
#: Every colour stands out on white (:data:`MIN_CONTRAST_ON_WHITE`) and from every other one
#: (:data:`MIN_COLOR_DISTANCE`), :data:`DEAD_LINE_COLOR` included (``tests/test_plots.py``).
STATUS_COLORS: Final[dict[str, str]] = {
    "normal": "#2e7d32",  # green
    "out_of_service": "#ef6c00",  # orange
    "cancelled": "#c62828",  # red
    "offline": "#6a1b9a",  # purple
    "unavailable": "#d81b60",  # pink red
    "unknown": "#9e9e9e",  # grey
    "not_found": "#4fc3f7",  # light blue
    "invalid": "#8d6e63",  # brown
    "missing": "#f48fb1",  # pink: no number given (visible on white, in bars and legend)
    "unsupported": "#c0a080",  # sand
    "busy": "#f9a825",  # amber
    "daily_limit": "#1565c0",  # blue
    "error": "#424242",  # dark grey
    "not_checked": "#b39ddb",  # lavender
}
#: The pseudo-status ``dead_line`` (any dead line state): black, apart from each state's colour.
DEAD_LINE_COLOR: Final = "#000000"
#: The pseudo-status ``new_line`` (a line under six months old): apart from every status's
#: and tenure band's colour (offline's purple before).
NEW_LINE_COLOR: Final = "#880e4f"
#: Each colour's contrast with white, at least (WCAG's ratio: 1 is white itself).
MIN_CONTRAST_ON_WHITE: Final = 1.8
#: Colours drawn side by side differ by at least this CIE76 distance in Lab (about 2.3 is
#: the smallest difference an eye sees; 20 tells bars and legend entries apart at a glance).
MIN_COLOR_DISTANCE: Final = 20.0
#: Text on a colour darker than this relative luminance is written in white, else in black.
DARK_LUMINANCE: Final = 0.3
#: Room between the axes' outermost labels and a legend placed outside them.
LEGEND_GAP_PIXELS: Final = 6.0
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


def color_of(status: str, others: Mapping[str, str] | None = None) -> str:
    """A status's colour: line status's (``dead_line`` and ``new_line`` included), else its
    colour in ``others`` (the tenure bands'), else grey."""
    if status == "dead_line":
        return DEAD_LINE_COLOR
    if status == "new_line":
        return NEW_LINE_COLOR
    if status in STATUS_COLORS:
        return STATUS_COLORS[status]
    return (others or {}).get(status, STATUS_COLORS["unknown"])


def relative_luminance(color: str) -> float:
    """WCAG's relative luminance of a colour (0 black, 1 white)."""
    from matplotlib.colors import to_rgb

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in to_rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_on_white(color: str) -> float:
    """WCAG's contrast ratio of a colour with white (1 to 21)."""
    return 1.05 / (relative_luminance(color) + 0.05)


def text_color_on(color: str) -> str:
    """``"white"`` or ``"black"``: whichever reads better on ``color``."""
    return "white" if relative_luminance(color) < DARK_LUMINANCE else "black"


def legend_outside(ax: Axes, **options: Any) -> Any:
    """A legend to the right of ``ax``, clear of every label the axes draw there.

    A legend anchored at the axes' right edge covers the last tick label of the x axis
    ("100%", half of it right of the edge) and a twin axis's labels. This measures how far
    they reach past the edge and anchors the legend that many pixels further (an offset in
    inches, so it holds when a constrained layout resizes the axes afterwards).
    ``options`` go to ``Axes.legend`` (``handles``, ``labels``, ``title``, ...).
    """
    from matplotlib.transforms import ScaledTranslation

    figure = ax.figure.figure  # the root figure, also from a subfigure
    figure.draw_without_rendering()
    edge = ax.bbox.x1
    reach = edge
    for label in ax.get_xticklabels():
        if label.get_visible() and label.get_text():
            reach = max(reach, label.get_window_extent().x1)
    for other in figure.axes:  # twin axes share the position and draw their labels right
        tight = other.get_tightbbox() if other is not ax else None
        if tight is not None and other.bbox.bounds == ax.bbox.bounds:
            reach = max(reach, tight.x1)
    shift = (reach - edge + LEGEND_GAP_PIXELS) / figure.dpi
    anchor = ax.transAxes + ScaledTranslation(shift, 0, figure.dpi_scale_trans)
    options = {"frameon": False, "fontsize": 8, "title_fontsize": 9, **options}
    return ax.legend(
        loc="upper left", bbox_to_anchor=(1.0, 1.0), bbox_transform=anchor, borderaxespad=0.0,
        **options,
    )  # fmt: skip


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
    black_text: Collection[str] | None = None,
    normalize: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Horizontal stacked bars: one bar per group (``counts``' index, first on top), one
    segment per category (its columns, in order) of the rows counted.

    Shares (or counts with ``normalize=False``) are labelled inside the segments they fit in
    (in black on the ``black_text`` categories' light colours, else white; by default in
    whichever of the two reads better on the segment's colour); each bar is
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
                             color=_text_color(colors[category], category, black_text))  # fmt: skip
        labelled.extend(zip(bars.patches, drawn, strict=True))
        left = left + widths
    ax.set_yticks(positions, labels=labels)
    ax.set_xlabel("share of rows" if normalize else "rows")
    if normalize:
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(pyplot().FuncFormatter(lambda x, _: f"{x:.0%}"))
    ax.set_title(title)
    if len(values.columns):  # an empty frame has no category to explain
        legend_outside(ax, title=legend_title)
    ax.spines[["top", "right"]].set_visible(False)
    fit_bar_labels(ax, labelled)
    return ax


def _text_color(color: str, category: str, black_text: Collection[str] | None) -> str:
    if black_text is None:
        return text_color_on(color)
    return "black" if category in black_text else "white"


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
