"""The notebook dashboard: one ipywidgets widget over a result frame (imported on first use).

Headline figures, a grouping dropdown, a counts/shares toggle, the health plot (a PNG in an
``Image`` widget, so the widget renders anywhere its state is saved, exported HTML included)
and the summary table. Changing a control redraws the plot and the table in place.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from typing import Any, Final

import numpy as np
import pandas as pd

from ..analysis.report import DEFAULT_CURRENCY, summary
from ..errors import MissingDependencyError
from ..service.codes import DEAD_LINE_STATES, NO_ANSWER_STATES
from ..service.result import round_cost

try:
    import ipywidgets as widgets
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise MissingDependencyError(
        "the dashboard needs ipywidgets, a dependency of mobilestatus-pandas that this "
        "environment lacks: pip install 'ipywidgets>=8.1' (or reinstall mobilestatus-pandas)"
    ) from exc

logger = logging.getLogger(__name__)

NO_GROUPING: Final = "(all rows)"
#: Columns with more distinct values than this are not offered for grouping.
MAX_GROUPS: Final = 20
SHARES, COUNTS = "shares", "counts"
#: A frame with this column has line tenure: the compare view compares it too.
TENURE_BAND: Final = "tenure_band"
#: The headline's shares: among rows with an answer about the line (the one definition).
SHARE_NORMAL: Final = "normal (of answered rows)"
SHARE_DEAD: Final = "dead lines (of answered rows)"
#: The views: line health (stacked bars) or the comparison of groups (intervals, lift).
HEALTH, COMPARE = "health", "compare"
COMPARE_NEEDS_GROUP: Final = (
    "<p style='font:13px sans-serif;color:#555'>Choose a grouping (group by) to compare "
    "groups: shares with intervals, lift against the largest group, p-values.</p>"
)
TABLE_STYLE: Final = (
    "<style>.mobilestatus-summary{border-collapse:collapse;font-size:12px;"
    "font-family:sans-serif}.mobilestatus-summary th,.mobilestatus-summary td"
    "{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}</style>"
)
PLOT_DPI: Final = 100


def grouping_candidates(frame: pd.DataFrame, prefix: str) -> list[str]:
    """Columns worth grouping by: not results, few distinct values."""
    out = []
    for name in frame.columns:
        if str(name).startswith(prefix):
            continue
        try:
            distinct = frame[name].nunique(dropna=False)
        except TypeError:  # unhashable values
            continue
        if 1 < distinct <= MAX_GROUPS:
            out.append(str(name))
    return out


def headline(frame: pd.DataFrame, prefix: str, currency: str | None = None) -> dict[str, Any]:
    """The headline figures of a result frame (the cost rounded to cents, with its currency).

    The shares are the library's one definition of a share (as ``compare``, ``summary``'s
    ``answered_share`` and the wide table's ``dead_line_share``): among the rows with an
    answer about the line, estimated for the whole frame on a sampled one (its weights)."""
    import numpy as np

    from ..analysis.sampling import weights

    status = frame[f"{prefix}status"].astype(str)
    report = frame.attrs.get("mobilestatus", {})
    rows = len(frame)
    answered = ~status.isin(list(NO_ANSWER_STATES)).to_numpy(dtype=bool)
    weight = np.where(answered, weights(frame, prefix).to_numpy(dtype=float), 0.0)
    weight = np.nan_to_num(weight)
    total = weight.sum()

    def share(mask: pd.Series) -> float:
        return float((weight * mask.to_numpy(dtype=bool)).sum() / total) if total else 0.0

    figures: dict[str, Any] = {
        "rows": rows,
        "answered rows": int(answered.sum()),
        "distinct numbers": int(frame[f"{prefix}number"].nunique()),
        SHARE_NORMAL: share(status == "normal"),
        SHARE_DEAD: share(status.isin(list(DEAD_LINE_STATES))),
        "billed calls": int(frame[f"{prefix}billed"].fillna(False).sum()),
        "cache hits": int(
            report.get("cache_hits", frame[f"{prefix}from_cache"].fillna(False).sum())
        ),
    }
    if report.get("cost") is not None:
        figures[f"cost ({currency or DEFAULT_CURRENCY})"] = round_cost(report["cost"])
    return figures


def _headline_html(figures: dict[str, Any]) -> str:
    cells = []
    for name, value in figures.items():
        if name in (SHARE_NORMAL, SHARE_DEAD):
            shown = f"{value:.1%}"
        elif isinstance(value, float):
            shown = f"{value:,.2f}"
        else:
            shown = f"{value:,}"
        cells.append(
            "<div style='display:inline-block;margin:0 18px 6px 0'>"
            f"<div style='font:600 22px sans-serif'>{html.escape(shown)}</div>"
            f"<div style='font:12px sans-serif;color:#555'>{html.escape(name)}</div></div>"
        )
    return "<div>" + "".join(cells) + "</div>"


class Dashboard(widgets.VBox):  # type: ignore[misc]
    """Line health of a result frame at a glance. Build it with ``out.mobile.dashboard()``.

    Bar labels are drawn only where they fit inside their segment, in shares and counts
    alike. Attributes for scripting and tests: ``group`` (Dropdown), ``mode`` (ToggleButtons),
    ``view`` (ToggleButtons: ``"health"`` or ``"compare"``, the comparison of groups by
    ``out.mobile.compare`` with its plot), ``headline`` (HTML), ``plot`` (Image), ``table``
    (HTML), ``axes`` (the matplotlib Axes of the current plot).
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        by: str | None = None,
        prefix: str = "mobile_",
        currency: str | None = None,
    ) -> None:
        summary(frame, prefix=prefix)  # fails early, with advice, on a frame without results
        self._frame = frame
        self._prefix = prefix
        self._currency = currency
        options = [NO_GROUPING, *grouping_candidates(frame, prefix)]
        if by is not None and by not in options:
            options.append(by)
        self.group = widgets.Dropdown(
            options=options, value=by or NO_GROUPING, description="group by"
        )
        self.mode = widgets.ToggleButtons(options=[SHARES, COUNTS], value=SHARES)
        self.view = widgets.ToggleButtons(options=[HEALTH, COMPARE], value=HEALTH)
        self.headline = widgets.HTML(_headline_html(headline(frame, prefix, currency)))
        self.plot = widgets.Image(format="png")
        self.table = widgets.HTML()
        self.axes: Any = None
        super().__init__(
            [
                self.headline,
                widgets.HBox([self.group, self.view, self.mode]),
                self.plot,
                self.table,
            ]
        )
        self._handles: list[Any] = []
        self.group.observe(self._redraw, names="value")
        self.mode.observe(self._redraw, names="value")
        self.view.observe(self._redraw, names="value")
        self._redraw()

    def static_html(self) -> str:
        """What the dashboard shows, as plain HTML: the headline figures, the plot (an
        inline PNG) and the table; for notebooks opened without a kernel or widgets."""
        png = base64.b64encode(self.plot.value).decode()
        picture = f"<img alt='plot' src='data:image/png;base64,{png}'>" if png else ""
        return f"<div>{self.headline.value}{picture}{self.table.value}</div>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget's view, and beside it a static copy (HTML table, PNG plot) that
        viewers without the widget JavaScript show (GitHub, nbconvert without state)."""
        bundle: dict[str, Any] = dict(super()._repr_mimebundle_(**kwargs) or {})
        bundle["text/html"] = self.static_html()
        if self.plot.value:
            bundle["image/png"] = base64.b64encode(self.plot.value).decode()
        return bundle

    def _ipython_display_(self) -> None:
        from IPython.display import display as ipython_display

        display: Any = ipython_display  # untyped
        self._handles.append(display(self._repr_mimebundle_(), raw=True, display_id=True))

    def _update_displays(self) -> None:
        """Keep the saved output's static copy at what the controls show now."""
        if not self._handles:
            return
        bundle = self._repr_mimebundle_()
        for handle in self._handles:
            try:
                handle.update(bundle, raw=True)
            except Exception:  # a display that went away: the widget itself is current
                logger.debug("could not update a dashboard display", exc_info=True)

    @property
    def by(self) -> str | None:
        """The grouping column chosen, or None."""
        return None if self.group.value == NO_GROUPING else str(self.group.value)

    def _redraw(self, _change: object = None) -> None:
        from matplotlib.figure import Figure

        from .drawing import BAR_HEIGHT_INCHES
        from .plots import health

        by = self.by
        if self.view.value == COMPARE:
            self._draw_compare(by)
            return
        groups = 1 if by is None else self._frame[by].nunique(dropna=False)
        self.mode.disabled = False
        figure = Figure(figsize=(9, 1.6 + BAR_HEIGHT_INCHES * groups), layout="constrained")
        self.axes = health(
            self._frame, by, normalize=self.mode.value == SHARES, ax=figure.add_subplot(),
            prefix=self._prefix,
        )  # fmt: skip
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=PLOT_DPI)
        self.plot.value = buffer.getvalue()
        # the wide table: a row per group, a column per status present, then the totals
        table = summary(self._frame, by, prefix=self._prefix, currency=self._currency, wide=True)
        self.table.value = TABLE_STYLE + table.to_html(
            float_format=lambda x: f"{x:.3f}", classes="mobilestatus-summary", border=0
        )
        self._update_displays()

    def _draw_compare(self, by: str | None) -> None:
        from matplotlib.figure import Figure

        from ..analysis.stats import compare
        from .compare_plot import ROW_HEIGHT_INCHES, compare_plot

        self.mode.disabled = True
        if by is None:
            self.axes = None
            self.plot.value = b""
            self.table.value = COMPARE_NEEDS_GROUP
            self._update_displays()
            return
        tables = [compare(self._frame, by, prefix=self._prefix)]
        outcomes = ["status"]
        if TENURE_BAND in self._frame.columns:  # line tenure too: new lines and bands
            tables.append(compare(self._frame, by, outcome="tenure"))
            outcomes.append("tenure")
        from .compare_plot import DEFAULT_STATUSES

        heights = [
            len(t[t["status"].isin(DEFAULT_STATUSES)]) if o == "status" else len(t)
            for o, t in zip(outcomes, tables, strict=True)
        ]
        figure = Figure(
            figsize=(11, 1.4 * len(tables) + ROW_HEIGHT_INCHES * sum(heights)),
            layout="constrained",
        )
        grid = figure.subplots(
            len(tables), 2, squeeze=False, gridspec_kw={"height_ratios": heights}
        )
        pairs = []
        for row, outcome in enumerate(outcomes):
            prefix = self._prefix if outcome == "status" else None
            pairs.append(
                compare_plot(self._frame, by, ax=grid[row], outcome=outcome, prefix=prefix)
            )
        self.axes = pairs[0] if len(pairs) == 1 else np.array(pairs, dtype=object)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=PLOT_DPI)
        self.plot.value = buffer.getvalue()
        self.table.value = TABLE_STYLE + "".join(
            table.set_index(["status", "group"]).to_html(
                float_format=lambda x: f"{x:.3g}", classes="mobilestatus-summary", border=0,
                na_rep="",
            )
            for table in tables
        )  # fmt: skip
        self._update_displays()


class RunWidget(widgets.VBox):  # type: ignore[misc]
    """A run as it goes: what it is doing, a progress bar, the figures (calls/s, ETA, billed
    and possibly billed calls, cost so far) and the status counts as a bar in the plots'
    colours. Shown by displaying a run (``run`` in a cell); refreshed from the run's thread.

    Attributes for scripting and tests: ``title`` (HTML), ``progress`` (IntProgress: numbers
    answered of those to call), ``figures`` (HTML), ``statuses`` (HTML: the bar),
    ``error`` (HTML: what ended the run, at once), ``state`` (the run's state when last
    refreshed), ``refreshes`` (how many times it was refreshed). What it shows is set by
    :func:`mobilestatus_pandas.views.run_view.refresh`.
    """

    def __init__(self) -> None:
        self.title = widgets.HTML()
        self.progress = widgets.IntProgress(value=0, min=0, max=1, bar_style="info")
        self.figures = widgets.HTML()
        self.statuses = widgets.HTML()
        self.error = widgets.HTML()
        self.state = ""
        self.refreshes = 0
        super().__init__([self.title, self.progress, self.figures, self.statuses, self.error])
