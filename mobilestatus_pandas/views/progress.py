"""Progress of a run: tqdm's bar on a terminal or in Jupyter, a few plain lines elsewhere.

A bar redrawn many times a second is right on a terminal and in a notebook, and wrong in a log
file or a CI job, where every redraw becomes text (a run of 1,262 numbers wrote 142 kB). When
stderr is not a terminal, :class:`PlainProgress` prints one line at the start, one at every
tenth of the way (or after a minute without one) and one at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Final, TextIO

#: What the bar and the plain lines are called.
PROGRESS_LABEL: Final = "MobileStatus"
#: Plain lines: one each time this share of the numbers more is done...
PLAIN_STEP_FRACTION: Final = 0.10
#: ...and one after this long without a line, so a slow run still shows it is alive.
PLAIN_MAX_SILENCE_SECONDS: Final = 60.0


class PlainProgress:
    """Progress as a few plain lines, for a stream that is not a terminal.

    It has the part of tqdm's interface the engine uses (``update``, ``set_postfix``,
    ``close``), so the engine does not know which one it holds.

    >>> import io
    >>> out = io.StringIO()
    >>> bar = PlainProgress(20, stream=out, clock=lambda: 0.0)
    >>> for _ in range(20):
    ...     bar.update(1)
    >>> bar.close()
    >>> len(out.getvalue().splitlines())  # start, 10 steps of 10%, nothing more at close
    11
    """

    def __init__(
        self,
        total: int,
        *,
        stream: TextIO | None = None,
        label: str = PROGRESS_LABEL,
        clock: Callable[[], float] = time.monotonic,
        step_fraction: float = PLAIN_STEP_FRACTION,
        max_silence_seconds: float = PLAIN_MAX_SILENCE_SECONDS,
    ) -> None:
        if not 0 < step_fraction <= 1:
            raise ValueError(f"step_fraction must be in (0, 1], got {step_fraction!r}")
        self.total = total
        self.n = 0
        self._stream = sys.stderr if stream is None else stream
        self._label = label
        self._clock = clock
        self._step = max(1, round(total * step_fraction))
        self._max_silence_seconds = max_silence_seconds
        self._started = self._last_line_at = clock()
        self._printed_n = 0
        self._postfix: dict[str, object] = {}
        self._closed = False
        self._write(f"{label}: {total} numbers to look up")

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()
        self._last_line_at = self._clock()

    def _line(self) -> None:
        share = self.n / self.total if self.total else 1.0
        elapsed = self._clock() - self._started
        extra = "".join(f", {name} {value}" for name, value in self._postfix.items())
        self._write(f"{self._label}: {self.n}/{self.total} ({share:.0%}) in {elapsed:.0f} s{extra}")
        self._printed_n = self.n

    def update(self, n: int = 1) -> None:
        """``n`` more numbers are done; print a line when a step is reached or time passed."""
        self.n += n
        step_reached = self.n // self._step > self._printed_n // self._step
        silent_too_long = self._clock() - self._last_line_at >= self._max_silence_seconds
        if step_reached or (silent_too_long and self.n > self._printed_n):
            self._line()

    def set_postfix(self, refresh: bool = True, **fields: object) -> None:
        """Figures shown after the count on the next line (billed, cached, errors)."""
        del refresh  # tqdm's redraw switch: a plain line is printed only on update
        self._postfix = dict(fields)

    def close(self) -> None:
        """Print the last state unless the last line already showed it."""
        if self._closed:
            return
        self._closed = True
        if self.n != self._printed_n:
            self._line()


def _in_notebook(bar_class: type) -> bool:
    return any(base.__module__ == "tqdm.notebook" for base in bar_class.__mro__)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(
    total: int, enabled: bool, *, stream: TextIO | None = None, label: str | None = None
) -> Any:
    """The progress display for ``total`` numbers: ``None`` when disabled or nothing to do,
    tqdm's bar in Jupyter or on a terminal, :class:`PlainProgress` lines otherwise.

    ``label`` (default :data:`PROGRESS_LABEL`) begins every line and names the bar: the
    action's API, so two runs side by side (``mobilestatus check --action both``) are told
    apart ("MobileStatus: ..." and "MobileNetworkTimeVerification: ...")."""
    if not enabled or total == 0:
        return None
    from tqdm.auto import tqdm

    name = label or PROGRESS_LABEL
    target = sys.stderr if stream is None else stream
    if not _in_notebook(tqdm) and not _is_terminal(target):
        return PlainProgress(total, stream=target, label=name)
    return tqdm(total=total, desc=name, unit="number", dynamic_ncols=True, file=target)
