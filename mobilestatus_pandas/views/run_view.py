"""How a :class:`~mobilestatus_pandas.engine.run.Run` is shown: a live widget in Jupyter, one plain
line of progress elsewhere, and a static picture for notebooks saved and opened without a
kernel.

In Jupyter, displaying a run shows :class:`~mobilestatus_pandas.views.widgets.RunWidget` and a
thread of the run's own refreshes it a few times a second (widget values set from a thread
reach the browser without the kernel: the notebook stays free to run other cells). When
the run ends, whoever waits for it (:func:`settle`, from ``run.result()``) replaces every
display of it by its final state before returning, inside the waiting cell, so a saved
notebook and HTML exported from it show the figures the run ended with (an HTML table and a
PNG of the status bar; the widget's view is dropped, as it needs JavaScript to show).
Outside Jupyter, or when the widget cannot be shown, the run shows as text: never a
traceback.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import sys
import threading
from typing import Any, Final

#: A :class:`~mobilestatus_pandas.engine.run.Run`. Typed loosely on purpose: the run imports its
#: display when it is shown, and the display never imports the run.
Run = Any

logger = logging.getLogger(__name__)

#: The live display is refreshed this often (at most a few times a second).
UPDATE_SECONDS: Final = 0.25
#: How long the waiter of a run waits for the widget's last refresh before it shows the end.
SETTLE_SECONDS: Final = 10.0
#: The status bar's size in the static picture.
BAR_FIGURE_INCHES: Final = (6.0, 0.5)
BAR_DPI: Final = 100
SECONDS_PER_MINUTE: Final = 60
SECONDS_PER_HOUR: Final = 3600
TABLE_STYLE: Final = "border-collapse:collapse;font:12px sans-serif;margin-top:4px"
CELL_STYLE: Final = "padding:1px 10px;text-align:right;border-bottom:1px solid #eee"


def run_title(run: Run) -> str:
    """What a run is called in its displays: ``"MobileStatus run"`` for line status, else its
    action's API and what it asks (``"MobileNetworkTimeVerification run (line tenure)"``)."""
    action = getattr(run, "action", None)
    if action is None or action.name == "status":
        return "MobileStatus run"
    return f"{action.api} run (line {action.name})"


def format_seconds(seconds: float | None) -> str:
    """``"7 min 12 s"``, ``"2 h 5 min"``, ``"40 s"``; ``"?"`` when unknown.

    >>> format_seconds(432), format_seconds(7500), format_seconds(None)
    ('7 min 12 s', '2 h 5 min', '?')
    """
    if seconds is None:
        return "?"
    whole = round(seconds)
    if whole >= SECONDS_PER_HOUR:
        return f"{whole // SECONDS_PER_HOUR} h {whole % SECONDS_PER_HOUR // SECONDS_PER_MINUTE} min"
    if whole >= SECONDS_PER_MINUTE:
        return f"{whole // SECONDS_PER_MINUTE} min {whole % SECONDS_PER_MINUTE} s"
    return f"{whole} s"


def figures(run: Run) -> dict[str, str]:
    """The run's figures as labelled text, in display order."""
    report = run.report
    answered, pending = run.progress()
    share = answered / pending if pending else 1.0
    shown = {
        "numbers called": f"{answered:,} / {pending:,} ({share:.0%})",
        "calls/s": f"{report.calls_per_second:.1f}",
        "ETA": "-" if run.done() else format_seconds(report.eta_seconds),
        "elapsed": format_seconds(report.elapsed_seconds),
        "calls": f"{report.calls:,}",
        "billed": f"{report.billed_calls:,}",
        "possibly billed": f"{report.possibly_billed:,}",
        "cache hits": f"{report.cache_hits:,}",
        # Refused for the rate (free): shown, never hidden, and said to be retried.
        "refused for the rate": (
            f"{report.rate_limited:,} (retried {report.rate_limited_retries:,})"
        ),
    }
    if report.cost is not None:
        shown["cost so far" if not run.done() else "cost"] = f"{report.cost:,.2f}"
    if report.stop_reason:
        shown["stopped"] = report.stop_reason
    return shown


def refresh(widget: Any, run: Run) -> None:
    """Show ``run`` as it stands in ``widget`` (a :class:`~.widgets.RunWidget`; called from
    the run's display thread)."""
    widget.state = run.state
    widget.title.value = (
        f"<b style='font:600 13px sans-serif'>{html.escape(run_title(run))}: "
        f"{html.escape(widget.state)}</b>"
    )
    error = run.error
    if error is not None:
        widget.progress.bar_style = "danger"
        widget.error.value = (
            "<pre style='color:#b00020;white-space:pre-wrap;font-size:12px'>"
            f"{html.escape(f'{type(error).__name__}: {error}')}</pre>"
        )
        widget.refreshes += 1
        return
    answered, pending = run.progress()
    widget.progress.max = max(pending, 1)
    widget.progress.value = min(answered, widget.progress.max) if pending else 1
    if run.done():
        widget.progress.bar_style = "warning" if widget.state == "stopped" else "success"
    shown = figures(run)
    widget.figures.value = (
        "<div style='font:12px sans-serif;color:#333'>"
        + " &middot; ".join(
            f"{html.escape(name)} <b>{html.escape(value)}</b>" for name, value in shown.items()
        )
        + "</div>"
    )
    widget.statuses.value = bar_html(status_counts(run))
    widget.refreshes += 1


def _error_text(run: Run) -> str | None:
    error = run.error
    return None if error is None else f"{type(error).__name__}: {error}"


def progress_line(run: Run) -> str:
    """One plain line: state, numbers, calls/s, ETA, billed, cost, status counts."""
    try:
        error = _error_text(run)
        if error is not None:
            return f"failed: {error}"
        shown = figures(run)
        counts = ", ".join(f"{s} {n:,}" for s, n in run.report.status_counts.items())
        head = ", ".join(f"{k} {v}" for k, v in shown.items() if k != "numbers called")
        return f"{run.state}: {shown['numbers called']} numbers called, {head}" + (
            f"; rows: {counts}" if counts else ""
        )
    except Exception:  # a display never raises: the run is what matters
        logger.debug("cannot describe the run", exc_info=True)
        return run.state


def status_counts(run: Run) -> dict[str, int]:
    """Rows per status so far (every status present, in the project's order)."""
    return dict(run.report.status_counts)


def bar_html(counts: dict[str, int]) -> str:
    """The status counts as one thin bar in the plots' colours, with a legend."""
    total = sum(counts.values())
    if not total:
        return "<div style='height:14px;background:#eee;border-radius:3px'></div>"
    parts = [
        f"<div title='{html.escape(s)}: {n:,}' style='flex:{n};background:{_color(s)}'></div>"
        for s, n in counts.items()
        if n
    ]
    legend = " ".join(
        f"<span style='white-space:nowrap;margin-right:10px'><span style='display:inline-block;"
        f"width:9px;height:9px;background:{_color(s)};border:1px solid #bbb'></span> "
        f"{html.escape(s)} {n:,}</span>"
        for s, n in counts.items()
        if n
    )
    return (
        "<div style='display:flex;height:14px;border-radius:3px;overflow:hidden'>"
        + "".join(parts)
        + f"</div><div style='font:11px sans-serif;color:#444;margin-top:3px'>{legend}</div>"
    )


def bar_png(counts: dict[str, int]) -> bytes:
    """The status counts as a PNG of one stacked bar (matplotlib, no pyplot)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=BAR_FIGURE_INCHES, layout="constrained")
    ax = figure.add_subplot()
    left = 0
    for status, n in counts.items():
        if n:
            ax.barh(0, n, left=left, color=_color(status), label=f"{status} {n:,}")
            left += n
    ax.set_xlim(0, max(left, 1))
    ax.set_axis_off()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=BAR_DPI)
    return buffer.getvalue()


def static_html(run: Run, png: bytes | None = None) -> str:
    """The run as a saved notebook shows it: state, figures, status counts, the bar."""
    error = _error_text(run)
    title = (
        f"<div style='font:600 13px sans-serif'>{html.escape(run_title(run))}: "
        f"{html.escape(run.state)}</div>"
    )
    if error is not None:
        return title + f"<pre style='color:#b00020;white-space:pre-wrap'>{html.escape(error)}</pre>"
    rows = [*figures(run).items(), *((s, f"{n:,} rows") for s, n in status_counts(run).items())]
    cells = "".join(
        f"<tr><th style='{CELL_STYLE};text-align:left'>{html.escape(k)}</th>"
        f"<td style='{CELL_STYLE}'>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    picture = (
        f"<img alt='status counts' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        if png
        else ""
    )
    return f"<div>{title}{picture}<table style='{TABLE_STYLE}'>{cells}</table></div>"


def static_bundle(run: Run) -> dict[str, Any]:
    """The run's mimebundle without a widget: text, an HTML table and the PNG bar."""
    bundle: dict[str, Any] = {"text/plain": repr(run)}
    try:
        png = None if run.error is not None else bar_png(status_counts(run))
        bundle["text/html"] = static_html(run, png)
        if png:
            bundle["image/png"] = base64.b64encode(png).decode()
    except Exception:  # matplotlib missing or failing: the text stands alone
        logger.debug("no static picture of the run", exc_info=True)
    return bundle


def in_jupyter() -> bool:
    """Whether this is a Jupyter kernel (IPython with a kernel), without importing IPython."""
    ipython_module = sys.modules.get("IPython")
    if ipython_module is None:
        return False
    shell = ipython_module.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def show(run: Run) -> None:
    """Display ``run``: the live widget in Jupyter (falling back to text), else one line."""
    from IPython.display import display as ipython_display

    display: Any = ipython_display  # untyped
    if not in_jupyter():  # IPython in a terminal: the line of text
        display({"text/plain": repr(run)}, raw=True)
        return

    try:
        view = _live_view(run)
        handle = display(view.bundle(), raw=True, display_id=True)
        view.add(handle)
    except Exception:  # no ipywidgets, no comm: text, refreshed at the end
        logger.debug("no live widget for the run", exc_info=True)
        handle = display(static_bundle(run), raw=True, display_id=True)
        if not isinstance(run._display, StaticView):
            run._display = StaticView(run)
        run._display.add(handle)


def settle(run: Run) -> None:
    """Make every display of ``run`` (ended) show its final state before returning.

    Called by the run's waiter (``run.result()``, ``df.mobile.status``, each run of
    ``check``) in its own thread, inside the cell that waits: a kernel sends the update
    while that cell runs, so a saved notebook keeps the final figures (an update sent by a
    background thread after the cell had ended was lost: saved notebooks showed
    "running 7 / 400", or "planning ... 0 / 0" for the tenure run of a ``check``).
    """
    view = run._display
    if isinstance(view, LiveView | StaticView):
        view.settle()


class StaticView:
    """A run shown without a widget: its static picture, replaced by the final one at the end."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.handles: list[Any] = []
        self._lock = threading.Lock()
        self._settled = False
        threading.Thread(target=self._watch, name="mobilestatus-display", daemon=True).start()

    def add(self, handle: Any) -> None:
        """Show the run in one more display (its final state if it has ended)."""
        with self._lock:
            self.handles.append(handle)
            settled = self._settled
        if settled:
            _update([handle], static_bundle(self.run))

    def _watch(self) -> None:
        self.run._finished.wait()
        self.settle()

    def settle(self) -> None:
        """Show the final state in every display, once."""
        with self._lock:
            if self._settled:
                return
            self._settled = True
            handles = list(self.handles)
        _update(handles, static_bundle(self.run))


def _update(handles: list[Any], bundle: dict[str, Any]) -> None:
    for handle in handles:
        try:
            handle.update(bundle, raw=True)
        except Exception:  # a display that went away: the others still get the update
            logger.debug("could not update the run's display", exc_info=True)


class LiveView:
    """A run's widget and the thread that refreshes it until the run ends."""

    def __init__(self, run: Run) -> None:
        from .widgets import RunWidget

        self.run = run
        self.widget = RunWidget()
        refresh(self.widget, run)
        self.handles: list[Any] = []
        self._lock = threading.Lock()
        self._settled = False
        self._thread = threading.Thread(target=self._watch, name="mobilestatus-widget", daemon=True)
        self._thread.start()

    def bundle(self) -> dict[str, Any]:
        """While the run goes on: the widget's view plus the static picture (for viewers
        without widgets). Once it has ended: the static picture of its final state alone,
        so a saved notebook, and HTML exported from it with or without widget state, show
        the figures the run ended with (a widget needs its JavaScript to show anything)."""
        if self.run.done():
            return static_bundle(self.run)
        return {**static_bundle(self.run), **self.widget._repr_mimebundle_()}

    def add(self, handle: Any) -> None:
        """Show the run in one more display (its final state if it has ended)."""
        with self._lock:
            self.handles.append(handle)
            settled = self._settled
        if settled:
            _update([handle], self.bundle())

    def watching(self) -> bool:
        """Whether the widget is still being refreshed."""
        return self._thread.is_alive()

    def settle(self, timeout_seconds: float = SETTLE_SECONDS) -> None:
        """Wait for the last refresh, then show the final state in every display, once."""
        if self._thread is not threading.current_thread():
            self._thread.join(timeout_seconds)
        with self._lock:
            if self._settled:
                return
            self._settled = True
            handles = list(self.handles)
        try:
            refresh(self.widget, self.run)
        except Exception:  # a closed comm: the static picture still shows the end
            logger.debug("the run's widget could not be refreshed", exc_info=True)
        _update(handles, self.bundle())

    def _watch(self) -> None:
        run = self.run
        try:
            while not run._finished.wait(UPDATE_SECONDS):
                refresh(self.widget, run)
            refresh(self.widget, run)
        except Exception:  # a closed comm, a kernel going away: stop refreshing, quietly
            logger.debug("the run's widget stopped refreshing", exc_info=True)
        self.settle()


def _live_view(run: Run) -> LiveView:
    if run._display is None:
        run._display = LiveView(run)
    view: LiveView = run._display
    return view


def _color(status: str) -> str:
    """A status's colour in the pictures: line status's, else line tenure's."""
    from .drawing import STATUS_COLORS
    from .tenure_plot import TENURE_COLORS

    return STATUS_COLORS.get(status) or TENURE_COLORS.get(status, STATUS_COLORS["unknown"])


class ViewsRunDisplay:
    """The views' side of :class:`~mobilestatus_pandas.engine.display.RunDisplay`: tqdm's bar
    or plain lines (:mod:`.progress`), the live widget in Jupyter and the text line and
    static picture elsewhere (this module). The package installs :data:`RUN_DISPLAY` in the
    engine when it is imported, so the engine shows runs without importing the views."""

    def in_jupyter(self) -> bool:
        return in_jupyter()

    def progress_bar(self, total: int, enabled: bool, label: str | None = None) -> Any:
        from .progress import progress_bar  # a bar on a terminal or in Jupyter, plain lines

        return progress_bar(total, enabled, label=label)

    def progress_line(self, run: Run) -> str:
        return progress_line(run)

    def bundle(self, run: Run) -> dict[str, Any]:
        return static_bundle(run)

    def show(self, run: Run) -> None:
        show(run)

    def settle(self, run: Run) -> None:
        settle(run)


#: What the package installs in the engine (``engine.display.install``) at import.
RUN_DISPLAY: Final = ViewsRunDisplay()
