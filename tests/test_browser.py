"""The dashboard as a reader sees it: a real kernel, exported HTML, headless Chromium."""

from __future__ import annotations

import os
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
    from mobilestatus_pandas.plots import STATUS_COLORS

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
