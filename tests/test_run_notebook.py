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
    # two runs at once, shown from check's threads: each display keeps its end
    "both = df.iloc[:80].mobile.check('phone', client=sandbox.client(cache=None))",
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
    assert len(progress) == 3, "the run's, then one per action of check()"
    assert progress[0]["value"] == progress[0]["max"] == int(maximum)
    assert all(p["value"] == p["max"] > 0 for p in progress[1:]), progress
    # the cell that displayed the run now shows its final state as static HTML (the widget's
    # view gone: exported HTML shows the end with or without widget state)
    shown = nb.cells[1].outputs[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" not in shown
    assert "MobileStatus run: done" in shown["text/html"]
    assert "image/png" in shown
    # check(): a display per action, each at its end (not "planning ... 0 / 0")
    both = [o["data"]["text/html"] for o in nb.cells[4].outputs if "data" in o]
    assert len(both) == 2, nb.cells[4].outputs
    titles = sorted(html.split("</div>")[0].split(">")[-1] for html in both)
    assert titles == [
        "MobileNetworkTimeVerification run (line tenure): done",
        "MobileStatus run: done",
    ]
    for html in both:
        assert "(100%)" in html
