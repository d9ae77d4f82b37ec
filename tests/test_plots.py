"""Plots and the dashboard, drawn for real (Agg backend) from frames made by the sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import signups
from mobilestatus_pandas.plots import STATUS_COLORS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def enriched() -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    frame = signups(rows=400, seed=3)
    frame["region"] = [f"region {i % 10}" for i in range(len(frame))]
    with msp.Sandbox() as sb:
        client = sb.client(price_per_call=0.1)
        out = frame.mobile.status("phone", client=client, progress=False)
        yield out, client.ledger()
    plt.close("all")


def bar_colors(ax: plt.Axes) -> dict[str, str]:
    return {
        container.get_label(): matplotlib.colors.to_hex(container.patches[0].get_facecolor())
        for container in ax.containers
    }


def test_health_plot_one_bar_with_fixed_colours_and_shares(
    enriched: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    out, _ = enriched
    ax = out.mobile.plot()
    colors = bar_colors(ax)
    assert colors["normal"] == STATUS_COLORS["normal"]
    assert colors["cancelled"] == STATUS_COLORS["cancelled"]
    widths = [c.patches[0].get_width() for c in ax.containers]
    assert sum(widths) == pytest.approx(1.0)
    normal = (out["mobile_status"] == "normal").mean()
    assert ax.containers[0].patches[0].get_width() == pytest.approx(normal)
    labels = [t.get_text() for t in ax.texts]
    assert f"{normal:.0%}" in labels
    assert ax.get_yticklabels()[0].get_text() == f"all rows  (n={len(out):,})"
    assert ax.get_legend() is not None


def test_health_plot_by_ten_groups_counts(enriched: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    out, _ = enriched
    _, ax = plt.subplots()
    drawn = out.mobile.plot(by="region", normalize=False, ax=ax)
    assert drawn is ax
    ticks = sorted((t.get_position()[1], t.get_text()) for t in ax.get_yticklabels())
    assert len(ticks) == 10
    assert ticks[-1][1].startswith("region 0"), "the first group is on top"
    totals = [sum(c.patches[i].get_width() for c in ax.containers) for i in range(10)]
    assert sum(totals) == len(out)
    # small segments carry no label, so labels never pile up
    assert all(t.get_text() == "" or int(t.get_text().replace(",", "")) >= 0 for t in ax.texts)


def test_billing_plots(enriched: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    out, ledger = enriched
    ax = out.mobile.plot(kind="billing")
    heights = [p.get_height() for p in ax.patches]
    report = out.attrs["mobilestatus"]
    assert heights == [report["billed_calls"], report["calls"] - report["billed_calls"], 0]
    assert "cost" in ax.get_title()
    over_time = ledger.mobile.plot(kind="billing")
    assert sum(p.get_height() for p in over_time.patches) == len(ledger)
    assert len(over_time.figure.axes) == 2, "cost on a second axis"
    with pytest.raises(msp.InputError, match="kind"):
        out.mobile.plot(kind="pie")


def test_billing_views_of_the_ledger(enriched: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, ledger = enriched
    from mobilestatus_pandas.report import billing_by_period

    table = billing_by_period(ledger, "M")
    assert table["calls"].sum() == len(ledger)
    assert table["billed"].sum() == ledger["billed"].sum()
    assert table["billed_without_request_id"].sum() == 0
    assert table["cost"].sum() == pytest.approx(0.1 * ledger["billed"].sum())


def test_dashboard_controls_redraw_in_place(enriched: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    out, _ = enriched
    board = out.mobile.dashboard()
    assert isinstance(board, msp.widgets.Dashboard)
    assert "rows" in board.headline.value
    assert "dead lines" in board.headline.value
    assert bytes(board.plot.value).startswith(b"\x89PNG")
    assert len(board.axes.get_yticklabels()) == 1
    assert "fraud" in board.group.options
    first_png = board.plot.value

    board.group.value = "fraud"
    assert board.by == "fraud"
    assert len(board.axes.get_yticklabels()) == 2
    assert board.plot.value != first_png
    assert "fraud" in board.table.value

    board.mode.value = "counts"
    assert board.axes.get_xlabel() == "rows"
    first_group = sum(c.patches[0].get_width() for c in board.axes.containers)
    assert first_group == (~out["fraud"]).sum(), "counts: the bar is the group's size"
    state = board.get_state()
    assert len(state["children"]) == 4


def test_dashboard_on_a_frame_without_results_says_what_to_do() -> None:
    with pytest.raises(msp.InputError, match=r"df\.mobile\.status"):
        pd.DataFrame({"x": [1]}).mobile.dashboard()
