from __future__ import annotations

import io

from mobilestatus_pandas.views.progress import (
    PLAIN_MAX_SILENCE_SECONDS,
    PlainProgress,
    progress_bar,
)
from tests.conftest import FakeClock


def test_plain_lines_at_each_tenth_and_the_end(clock: FakeClock) -> None:
    out = io.StringIO()
    bar = PlainProgress(1262, stream=out, clock=clock)
    for i in range(1262):
        bar.set_postfix(billed=i + 1, errors=0, refresh=False)
        bar.update(1)
        clock.advance(0.05)
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "MobileStatus: 1262 numbers to look up"
    assert len(lines) == 1 + 11, lines  # 10 steps of 126, then the 2 left at close
    assert lines[1] == "MobileStatus: 126/1262 (10%) in 6 s, billed 126, errors 0"
    assert lines[-1] == "MobileStatus: 1262/1262 (100%) in 63 s, billed 1262, errors 0"
    assert len(out.getvalue()) < 1000


def test_a_slow_run_still_shows_it_is_alive(clock: FakeClock) -> None:
    out = io.StringIO()
    bar = PlainProgress(1000, stream=out, clock=clock)
    bar.update(1)
    assert len(out.getvalue().splitlines()) == 1
    clock.advance(PLAIN_MAX_SILENCE_SECONDS)
    bar.update(1)
    assert out.getvalue().splitlines()[-1] == "MobileStatus: 2/1000 (0%) in 60 s"


def test_close_tells_where_an_interrupted_run_got(clock: FakeClock) -> None:
    out = io.StringIO()
    bar = PlainProgress(100, stream=out, clock=clock)
    for _ in range(15):
        bar.update(1)
    bar.close()
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[-1] == "MobileStatus: 15/100 (15%) in 0 s"
    assert len(lines) == 3


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_display_follows_the_stream() -> None:
    assert progress_bar(10, enabled=False) is None
    assert progress_bar(0, enabled=True) is None
    assert isinstance(progress_bar(10, enabled=True, stream=io.StringIO()), PlainProgress)
    terminal = Terminal()
    bar = progress_bar(10, enabled=True, stream=terminal)
    assert not isinstance(bar, PlainProgress)
    bar.update(10)
    bar.close()
    assert "\r" in terminal.getvalue(), "tqdm's bar, redrawn in place"
