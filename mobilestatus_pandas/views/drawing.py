"""What every picture shares: one colour per status, pyplot loaded on first use, axes sized
to their bars, bar labels that fit.

:mod:`~mobilestatus_pandas.views.plots` (the ``plot`` dispatch, health, time and billing),
:mod:`~mobilestatus_pandas.views.compare_plot`,
:mod:`~mobilestatus_pandas.views.tenure_plot` and the
run's live display draw with these, so the same status has the same colour everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

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
