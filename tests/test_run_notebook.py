"""A run's live widget in a real kernel (nbclient): it updates while the kernel runs
another cell, and the saved notebook keeps the run's final state."""

from __future__ import annotations

import ast

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.serial]

CELLS = [
    "import time\nimport mobilestatus_pandas as msp\n"
    "from mobilestatus_pandas.datasets import signups\n"
    "sandbox = msp.Sandbox(latency_ms=50).start()\n"
    "df = signups(rows=300, distinct=200, seed=5)\n"
    "run = df.mobile.start('phone', client=sandbox.client(cache=None, price_per_call=0.05))",
    "run",
    # the kernel is busy in this cell: only the run's own thread can move the widget
    "seen = []\nfor _ in range(6):\n    seen.append(run._display.widget.progress.value)\n"
    "    time.sleep(0.5)\nprint(seen)",
    "out = run.result(timeout=60)\n"
    "run._display._thread.join(10)  # its last refresh\n"
    "print(run.state, run._display.widget.progress.value, "
    "run._display.widget.progress.max)",
    "time.sleep(1)\nsandbox.stop()",
]


def widget_state(nb: object) -> dict[str, dict[str, object]]:
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]  # type: ignore[attr-defined]
    return {key: model["state"] for key, model in state.items()}


def test_the_widget_updates_while_the_kernel_runs_another_cell() -> None:
    from tests.browser import render

    nb = render.execute(CELLS)
    seen = ast.literal_eval(nb.cells[2].outputs[0]["text"].strip())
    assert len(set(seen)) >= 3, seen  # it moved while the cell slept
    assert seen == sorted(seen)
    state, value, maximum = nb.cells[3].outputs[0]["text"].split()
    assert state == "done"
    assert value == maximum
    # the frontend's copy of the widget (from the comm messages) ends at the final figures
    progress = [s for s in widget_state(nb).values() if s.get("_model_name") == "IntProgressModel"]
    assert len(progress) == 1
    assert progress[0]["value"] == progress[0]["max"] == int(maximum)
    # the cell that displayed the run now shows its final state, also without widgets
    shown = nb.cells[1].outputs[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" in shown
    assert "MobileStatus run: done" in shown["text/html"]
    assert "image/png" in shown
