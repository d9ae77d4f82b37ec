"""How a run is shown, as the engine sees it: a protocol the layer above fills in.

The engine never imports the views (a lower layer never imports a higher one), yet a run
draws a progress bar, shows as a live widget in Jupyter and as one line of text elsewhere.
So the engine says what it needs (:class:`RunDisplay`: is this Jupyter, a progress bar for
so many numbers, a run as one line, as a static bundle, shown live), and the package hands
it the views' implementation at import (``mobilestatus_pandas/__init__.py`` calls
:func:`install` with :data:`mobilestatus_pandas.views.run_view.RUN_DISPLAY`). A run takes the
display installed when it starts (or one given to it), so a test or an application can
install another.

Until one is installed (the engine imported on its own, which importing any module of the
package does not allow in practice), :class:`TextDisplay` shows a run as plain text and
draws no bar.

>>> TextDisplay().in_jupyter(), TextDisplay().progress_bar(10, True)
(False, None)
"""

from __future__ import annotations

import threading
from typing import Any, Protocol, runtime_checkable


class ProgressBar(Protocol):
    """What the dispatcher does with a progress bar (tqdm's calls; ``views.progress``)."""

    def set_postfix(self, *args: Any, **kwargs: Any) -> Any:
        """Show the figures (billed, cached, errors) beside the bar."""
        ...

    def update(self, n: float | None = 1) -> Any:
        """``n`` more numbers answered."""
        ...

    def close(self) -> Any:
        """The run has ended: draw the bar a last time."""
        ...


@runtime_checkable
class RunDisplay(Protocol):
    """What the engine asks of whoever shows runs. ``run`` is a ``Run`` (``engine.run``)."""

    def in_jupyter(self) -> bool:
        """Whether a displayed run shows as a live widget (then no text bar is drawn)."""
        ...

    def progress_bar(
        self, total: int, enabled: bool, label: str | None = None
    ) -> ProgressBar | None:
        """A bar for ``total`` numbers, or None (not ``enabled``, or nothing to count).
        ``label`` names what is counted: the action's API (``"MobileStatus"``,
        ``"MobileNetworkTimeVerification"``), so runs side by side are told apart."""
        ...

    def progress_line(self, run: Any) -> str:
        """The run as one line: state, numbers answered, calls/s, ETA, billed, cost."""
        ...

    def bundle(self, run: Any) -> dict[str, Any]:
        """The run as a static mimebundle (for ``_repr_mimebundle_``)."""
        ...

    def show(self, run: Any) -> None:
        """Show the run, live where it can be (``_ipython_display_``)."""
        ...

    def settle(self, run: Any) -> None:
        """The run has ended: make every view of it show its final state before returning
        (called by whoever waits for the run, in the waiting thread)."""
        ...


class TextDisplay:
    """A run as plain text, without a bar: the display before the views install theirs."""

    def in_jupyter(self) -> bool:
        return False

    def progress_bar(
        self, total: int, enabled: bool, label: str | None = None
    ) -> ProgressBar | None:
        return None

    def progress_line(self, run: Any) -> str:
        answered, pending = run.progress()
        return f"{run.state}: {answered}/{pending} numbers answered"

    def bundle(self, run: Any) -> dict[str, Any]:
        return {"text/plain": self.progress_line(run)}

    def show(self, run: Any) -> None:
        return None

    def settle(self, run: Any) -> None:
        return None


_installed: RunDisplay = TextDisplay()
_lock = threading.Lock()


def install(display: RunDisplay) -> RunDisplay:
    """Show runs started from now on with ``display``; returns the one it replaces."""
    global _installed
    with _lock:
        previous, _installed = _installed, display
    return previous


def current() -> RunDisplay:
    """The display installed now (what a run started now will use)."""
    return _installed
