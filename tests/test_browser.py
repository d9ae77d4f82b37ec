"""The dashboard and a run's live widget as a reader sees them: a real kernel, exported HTML,
headless Chromium."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from tests.browser import render

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.serial]

#: Set by ``.ci/run``: a missing Chromium or widget JavaScript fails the test instead of
#: skipping it (as ``MOBILESTATUS_REQUIRE_REDIS`` does for the Redis tests).
REQUIRE_ENV = "MOBILESTATUS_REQUIRE_BROWSER"


def missing_browser_parts() -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    if render.chromium() is None:
        return "Chromium is not installed (Debian package chromium)"
    if not render.widget_javascript_ready():
        return "widget JavaScript missing: npm ci --prefix tests/browser (make pytest does it)"
    return None


@pytest.fixture(autouse=True)
def browser_parts() -> None:
    """Skip without Chromium or the widget JavaScript; fail instead under $REQUIRE_ENV."""
    missing = missing_browser_parts()
    if missing and os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{missing}, and {REQUIRE_ENV} is set")
    if missing:
        pytest.skip(missing)


DASHBOARD_CELLS = [
    "import mobilestatus_pandas as msp\nfrom mobilestatus_pandas.datasets import signups",
    "df = signups(rows=800)\nwith msp.Sandbox() as sb:\n"
    "    out = df.mobile.status('phone', client=sb.client(price_per_call=0.05), progress=False)",
    "out.mobile.dashboard(by='fraud')",
]


def colour_pixels(png: Path, hex_colour: str, tolerance: int = 12) -> int:
    import matplotlib.image

    image = (matplotlib.image.imread(png)[..., :3] * 255).astype(int)
    target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image - target).max(axis=-1) <= tolerance).sum())


def test_dashboard_renders_in_chromium(tmp_path: Path) -> None:
    from mobilestatus_pandas.views.plots import STATUS_COLORS

    nb = render.execute(DASHBOARD_CELLS)
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = {m["model_name"] for m in state.values()}
    assert {"VBoxModel", "DropdownModel", "ToggleButtonsModel", "ImageModel"} <= models
    page = render.export_html(nb, tmp_path / "site")
    with render.serve(page.parent) as url:
        shot = render.screenshot(f"{url}/index.html", tmp_path / "dashboard.png")
    # The plot is drawn only when the widget JavaScript renders the saved state: its green
    # "normal" bars are the proof. Without it the page shows the text fallback.
    assert colour_pixels(shot, STATUS_COLORS["normal"]) > 20_000
    assert colour_pixels(shot, STATUS_COLORS["cancelled"]) > 100


#: A run that lasts well beyond the notebook (400 distinct numbers at the sandbox's 20 calls/s,
#: about 20 s): the notebook is saved ~2 s in, while it goes on.
RUN_CELLS = [
    "import time\nimport mobilestatus_pandas as msp\n"
    "from mobilestatus_pandas.datasets import signups\n"
    "sandbox = msp.Sandbox(latency_ms=40, rate_limit=20).start()\n"
    "df = signups(rows=600, distinct=400, seed=5)\n"
    "run = df.mobile.start('phone', client=sandbox.client(cache=None, price_per_call=0.05))",
    "run",
    "time.sleep(2)  # the widget moves on while the kernel runs this cell",
]
#: Run after the notebook is saved, in the same kernel: nothing is left running.
RUN_CLEANUP = ["run.stop()\nrun.result(timeout=30)\nsandbox.stop()"]


def saved_widget_state(page: Path) -> dict[str, dict[str, object]]:
    """The widget models embedded in an exported page, by model name (one of each expected)."""
    match = re.search(
        r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>',
        page.read_text(encoding="utf-8"),
        re.S,
    )
    assert match, "no widget state in the exported page"
    models: dict[str, dict[str, object]] = {}
    for model in json.loads(match.group(1))["state"].values():
        models.setdefault(model["model_name"], model["state"])
    return models


def test_run_widget_renders_mid_run_in_chromium(tmp_path: Path) -> None:
    nb = render.execute(RUN_CELLS, cleanup=RUN_CLEANUP)
    page = render.export_html(nb, tmp_path / "site")
    # what the page carries: the widget's state as the kernel sent it ~2 s into the run
    models = saved_widget_state(page)
    progress = models["IntProgressModel"]
    assert 0 < int(progress["value"]) < int(progress["max"]), progress  # type: ignore[call-overload]
    with render.serve(page.parent) as url:
        dom = render.dom(f"{url}/index.html")
    # what Chromium shows once the widget JavaScript has rendered that state (the scripts,
    # the state among them, left out: only the drawn widget counts)
    shown = re.sub(r"<script\b.*?</script>", "", dom, flags=re.S)
    assert "MobileStatus run: running" in shown
    bar = re.search(r'class="progress-bar[^"]*"[^>]*width: ([0-9.]+)%', shown)
    assert bar, "no progress bar drawn"
    assert 0 < float(bar.group(1)) < 100
    called = re.search(r"numbers called <b>([0-9,]+) / ([0-9,]+) \(", shown)
    assert called, "no figures drawn"
    answered, total = (int(n.replace(",", "")) for n in called.groups())
    assert 0 < answered < total
    for figure in ("calls/s", "ETA", "billed", "possibly billed", "cost so far"):
        assert figure in shown
    # the status bar: answers so far and the rest not checked yet
    assert 'title="normal: ' in shown
    assert 'title="not_checked: ' in shown


#: A run that ends inside its cell, and a tenure run of check(): saved with widget state.
ENDED_CELLS = [
    "import mobilestatus_pandas as msp\nfrom mobilestatus_pandas.datasets import signups\n"
    "sandbox = msp.Sandbox(rate_limit=200).start()\n"
    "df = signups(rows=300, distinct=200, seed=5)\n"
    "client = sandbox.client(cache=None, rate_limit=200)",
    "out = df.mobile.status('phone', client=client)",
    "both = df.iloc[:60].mobile.check('phone', client=client)",
]
ENDED_CLEANUP = ["sandbox.stop()"]


def test_exported_html_shows_how_runs_ended(tmp_path: Path) -> None:
    """Saved with widget state and exported, a finished run shows its final figures (not
    "running 7 / 400", not a blank where the widget was), the tenure run titled as one."""
    nb = render.execute(ENDED_CELLS, cleanup=ENDED_CLEANUP)
    page = render.export_html(nb, tmp_path / "site")
    with render.serve(page.parent) as url:
        dom = render.dom(f"{url}/index.html")
    shown = re.sub(r"<script\b.*?</script>", "", dom, flags=re.S)
    assert shown.count("MobileStatus run: done") == 2, "status, and check()'s status run"
    assert shown.count("MobileNetworkTimeVerification run (line tenure): done") == 1
    called = re.findall(r"numbers called</th><td[^>]*>([0-9,]+) / ([0-9,]+) \(100%\)", shown)
    assert len(called) == 3, called
    assert all(a == b for a, b in called), called
    assert "run: running" not in shown
    assert "run: planning" not in shown
    assert "run (line tenure): planning" not in shown
