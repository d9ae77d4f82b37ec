"""Make the README's pictures: the health, billing, compare and time plots, the dashboard screenshot
and the live widget of a run mid-way.

make pictures      (needs Chromium and the widget JavaScript for the two screenshots)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import signups

DOCS = Path(__file__).parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    frame = signups(rows=3000, seed=11)
    with tempfile.TemporaryDirectory() as tmp, msp.Sandbox() as sandbox:
        client = sandbox.client(cache=Path(tmp) / "cache.sqlite3", price_per_call=0.05)
        first = frame.iloc[:2000].mobile.status("phone", client=client, progress=False)
        second = frame.mobile.status("phone", client=client, progress=False)

    ax = first.mobile.plot(by="signup_channel")
    ax.figure.savefig(DOCS / "health.png", dpi=110)

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
    first.mobile.plot(kind="billing", ax=left)
    second.mobile.plot(kind="billing", ax=right)
    left.set_title("First run: " + left.get_title().split(": ", 1)[1])
    right.set_title("Again, +1,000 rows: " + right.get_title().split(": ", 1)[1])
    figure.savefig(DOCS / "billing.png", dpi=110)

    shares, _ = second.mobile.plot(kind="compare", by="fraud")
    shares.figure.savefig(DOCS / "compare.png", dpi=110)

    monthly = second.mobile.plot(kind="time", on="signup_ts", freq="M")
    monthly.figure.savefig(DOCS / "time.png", dpi=110)

    from tests.browser import render
    from tests.test_browser import DASHBOARD_CELLS, RUN_CELLS, RUN_CLEANUP

    if render.chromium() is None or not render.widget_javascript_ready():
        print(
            "no Chromium or widget JavaScript: docs/dashboard.png, docs/run_widget.png not remade"
        )
        return
    with tempfile.TemporaryDirectory() as tmp:
        page = render.export_html(render.execute(DASHBOARD_CELLS), Path(tmp) / "site")
        with render.serve(page.parent) as url:
            render.screenshot(f"{url}/index.html", DOCS / "dashboard.png", width=1100, height=1000)
    with tempfile.TemporaryDirectory() as tmp:  # saved ~2 s into the run, as the test sees it
        nb = render.execute(RUN_CELLS, cleanup=RUN_CLEANUP)
        page = render.export_html(nb, Path(tmp) / "site")
        with render.serve(page.parent) as url:
            render.screenshot(f"{url}/index.html", DOCS / "run_widget.png", width=1100, height=400)
    print(
        "wrote docs/health.png, docs/billing.png, docs/compare.png, docs/time.png, "
        "docs/dashboard.png, "
        "docs/run_widget.png"
    )


if __name__ == "__main__":
    main()
