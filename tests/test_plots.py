"""Plots and the dashboard, drawn for real (Agg backend) from frames made by the sandbox."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt

import mobilestatus_pandas as msp
from mobilestatus_pandas.accessor import MobileFrameAccessor
from mobilestatus_pandas.datasets import signups
from mobilestatus_pandas.views.plots import PLOT_OPTIONS, STATUS_COLORS, status_label

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def enriched() -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    frame = signups(rows=400, seed=3)
    # an 11-digit number that is not a CN mobile: a distinct number never sent
    frame.loc[len(frame)] = {**frame.iloc[0].to_dict(), "user_id": 401, "phone": 14155550100}
    frame["signup_ts"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(
        np.arange(len(frame)) % 56, unit="D"
    )
    frame["region"] = [f"region {i % 10}" for i in range(len(frame))]
    with msp.Sandbox() as sb:
        client = sb.client(cache=None, price_per_call=0.1)
        out = frame.mobile.status("phone", client=client, progress=False)
        yield out, client.ledger()
    plt.close("all")


def bar_colors(ax: plt.Axes) -> dict[str, str]:
    return {
        container.get_label(): matplotlib.colors.to_hex(container.patches[0].get_facecolor())
        for container in ax.containers
    }


def assert_labels_fit(ax: plt.Axes) -> int:
    """Every bar label shown lies inside a bar segment, and no two overlap; returns how many."""
    ax.figure.draw_without_rendering()
    boxes = [p.get_window_extent() for c in ax.containers for p in c.patches]
    shown = [t.get_window_extent() for t in ax.texts if t.get_text() and t.get_visible()]
    for text in shown:
        assert any(
            box.x0 - 0.5 <= text.x0 and text.x1 <= box.x1 + 0.5 and box.y0 - 0.5 <= text.y0
            for box in boxes
        ), f"a label overflows its segment: {text}"
    for i, a in enumerate(shown):
        for b in shown[i + 1 :]:
            assert not a.overlaps(b), "two labels collide"
    return len(shown)


def test_health_plot_one_bar_with_fixed_colours_and_shares(
    enriched: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    out, _ = enriched
    ax = out.mobile.plot()
    colors = bar_colors(ax)
    assert colors[status_label("normal")] == STATUS_COLORS["normal"]
    assert colors[status_label("cancelled")] == STATUS_COLORS["cancelled"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "normal: line in service", "the status name first, as in the frame"
    assert "out_of_service: line suspended" in legend
    widths = [c.patches[0].get_width() for c in ax.containers]
    assert sum(widths) == pytest.approx(1.0)
    normal = (out["mobile_status"] == "normal").mean()
    assert ax.containers[0].patches[0].get_width() == pytest.approx(normal)
    labels = [t.get_text() for t in ax.texts]
    assert f"{normal:.0%}" in labels
    assert ax.get_yticklabels()[0].get_text() == f"all rows  (n={len(out):,})"
    assert assert_labels_fit(ax) > 0


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
    # segments too small for their label carry none, so labels never pile up
    assert assert_labels_fit(ax) > 10


def test_health_plot_by_a_series(enriched: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    out, _ = enriched
    ax = out.mobile.plot(by=out["signup_ts"].dt.month)
    assert [t.get_text().split()[0] for t in ax.get_yticklabels()] == ["1", "2"]
    assert ax.get_title() == "Line health by signup_ts"


def test_time_plot_shows_shares_per_period(enriched: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    out, _ = enriched
    ax = out.mobile.plot(kind="time", on="signup_ts", freq="W", statuses="all", answered=False)
    assert ax.get_ylabel() == "share of rows"
    lines = {line.get_label(): line for line in ax.get_lines()}
    weekly = out.mobile.summary(
        by=pd.Grouper(key="signup_ts", freq="W"), wide=True, values="row_share"
    )
    normal = lines[status_label("normal")]
    assert matplotlib.colors.to_hex(normal.get_color()) == STATUS_COLORS["normal"]
    assert list(normal.get_ydata()) == pytest.approx(weekly["normal"].tolist())
    assert len(normal.get_xdata()) == len(weekly) == 8  # 56 days from a Monday
    dead = lines[status_label("dead_line")]
    assert dead.get_linestyle() == "--"
    expected = weekly[list(msp.DEAD_LINE_STATES)].sum(axis=1)
    assert list(dead.get_ydata()) == pytest.approx(expected.tolist())
    answered = out.mobile.plot(kind="time", on="signup_ts")  # the one definition, by default
    assert answered.get_ylabel() == "share of answered rows"
    with pytest.raises(msp.InputError, match=r"pd\.to_datetime"):
        out.mobile.plot(kind="time", on="signup_channel")
    with pytest.raises(msp.InputError, match="needs on="):
        out.mobile.plot(kind="time")
    with pytest.raises(msp.InputError, match="no status 'dead'"):
        out.mobile.plot(kind="time", on="signup_ts", statuses=["dead"])


def labelled_lines(ax: plt.Axes) -> list[str]:
    return [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]


def test_time_plot_reads_as_a_picture_for_a_report(
    enriched: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """Dates that never overlap, the lines that matter, a title in words, the rows per
    period, and a partial last week said to be one (not a spike)."""
    out, _ = enriched
    out = out.copy()
    # 52 days from a Monday: the last week holds 3 days of sign-ups
    out["signup_ts"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(len(out)) % 52, "D")
    ax = out.mobile.plot(kind="time", on="signup_ts", freq="W")
    ax.figure.draw_without_rendering()
    ticks = [t for t in ax.get_xticklabels() if t.get_text()]
    assert len(ticks) >= 4
    boxes = [t.get_window_extent() for t in ticks]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), f"date ticks overlap: {[t.get_text() for t in ticks]}"
    assert labelled_lines(ax) == [status_label(s) for s in ("dead_line", *msp.DEAD_LINE_STATES)]
    title = ax.get_title()
    assert "per week of signup_ts" in title
    assert "per W" not in title
    weekly = out.mobile.summary(by=pd.Grouper(key="signup_ts", freq="W"), wide=True)
    last_rows = int(weekly["rows"].iloc[-1])
    assert f"the last week is partial ({last_rows:,} rows" in title
    assert "first week" not in title, "the first week is whole (a Monday to a Sunday)"
    counts = next(a for a in ax.figure.axes if a is not ax and a.bbox.bounds == ax.bbox.bounds)
    heights = [p.get_height() for p in counts.patches]
    assert heights == weekly["rows"].tolist(), "a bar per week: its rows"
    assert [bool(p.get_hatch()) for p in counts.patches] == [False] * 7 + [True]


def test_time_plot_by_day_and_on_the_index_without_warnings(
    enriched: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    out, _ = enriched
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 56 days are 56 groups: no "many groups" warning
        daily = out.mobile.plot(kind="time", on="signup_ts", freq="D")
        monthly = out.set_index("signup_ts").mobile.plot(kind="time", freq="MS")
    assert "per day of signup_ts" in daily.get_title()
    assert "partial" not in daily.get_title(), "whole days of midnight dates"
    assert "per month of the index" in monthly.get_title()
    assert "the last month is partial" in monthly.get_title(), "25 of February's 29 days"
    with pytest.raises(msp.InputError, match="not a period"):
        out.mobile.plot(kind="time", on="signup_ts", freq="bogus")


LAB_WHITE = (0.95047, 1.0, 1.08883)


def lab(color: str) -> np.ndarray:
    """CIE Lab of an sRGB colour (D65), written out so the test needs no colour library."""
    rgb = np.array(matplotlib.colors.to_rgb(color))
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = (
        np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
        @ linear
        / np.array(LAB_WHITE)
    )
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.mark.parametrize("palette", ["status", "tenure"])
def test_every_colour_shows_on_white_and_apart_from_the_others(palette: str) -> None:
    from mobilestatus_pandas.views import drawing
    from mobilestatus_pandas.views.tenure_plot import TENURE_COLORS

    extra = {"dead_line": drawing.DEAD_LINE_COLOR, "new_line": drawing.NEW_LINE_COLOR}
    colours = {**STATUS_COLORS, **extra} if palette == "status" else {**TENURE_COLORS, **extra}
    for name, colour in colours.items():
        contrast = drawing.contrast_on_white(colour)
        assert contrast >= drawing.MIN_CONTRAST_ON_WHITE, f"{name} ({colour}) fades into white"
    names = list(colours)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            distance = float(np.linalg.norm(lab(colours[a]) - lab(colours[b])))
            assert distance >= drawing.MIN_COLOR_DISTANCE, f"{a} and {b} look alike"


def assert_legend_clear_of_labels(ax: plt.Axes) -> None:
    """The legend covers no tick label or axis label of any axes in the figure."""
    figure = ax.figure
    figure.draw_without_rendering()
    legend = ax.get_legend().get_window_extent()
    for axes in figure.axes:
        texts = [*axes.get_xticklabels(), *axes.get_yticklabels(), axes.yaxis.label]
        for text in texts:
            if text.get_visible() and text.get_text():
                box = text.get_window_extent()
                assert not legend.overlaps(box), f"the legend covers {text.get_text()!r}"


def test_legends_sit_clear_of_the_axes_labels(enriched: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    from mobilestatus_pandas.views.tenure_plot import tenure_plot
    from tests.test_tenure_plot import tenure_frame

    out, ledger = enriched
    assert_legend_clear_of_labels(out.mobile.plot())  # one bar: the "100%" tick
    assert_legend_clear_of_labels(out.mobile.plot(by="signup_channel"))
    assert_legend_clear_of_labels(out.mobile.plot(kind="time", on="signup_ts"))
    assert_legend_clear_of_labels(ledger.mobile.plot(kind="billing"))  # the cost axis
    assert_legend_clear_of_labels(tenure_plot(tenure_frame(), by="fraud"))
    board = out.mobile.dashboard()
    board.group.value = "fraud"
    assert_legend_clear_of_labels(board.axes)


def test_statuses_in_bars_are_their_visible_colours(
    enriched: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    from mobilestatus_pandas.views import drawing

    out, _ = enriched
    frame = out.copy()
    frame.loc[frame.index[:20], "mobile_status"] = "missing"
    ax = frame.mobile.plot()
    colours = bar_colors(ax)
    assert colours[status_label("missing")] == STATUS_COLORS["missing"]
    for colour in colours.values():
        assert drawing.contrast_on_white(colour) >= drawing.MIN_CONTRAST_ON_WHITE


def test_billing_plots(enriched: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    out, ledger = enriched
    ax = out.mobile.plot(kind="billing")
    heights = [p.get_height() for p in ax.patches]
    report = out.attrs["mobilestatus"]
    assert heights == [
        report["billed_calls"], report["calls"] - report["billed_calls"], 0, 1
    ]  # fmt: skip
    assert sum(heights) == report["distinct_numbers"], "the bars add up to the title"
    assert f"{report['distinct_numbers']:,} distinct numbers" in ax.get_title()
    assert f"cost {report['billed_calls'] * 0.1:,.2f} USD" in ax.get_title()
    assert "CNY" in out.mobile.plot(kind="billing", currency="CNY").get_title()
    over_time = ledger.mobile.plot(kind="billing")
    assert sum(p.get_height() for p in over_time.patches) == len(ledger)
    assert len(over_time.figure.axes) == 2, "cost on a second axis"
    assert over_time.figure.axes[1].get_ylabel() == "cost (USD)"


def test_plot_options_are_checked_and_documented(
    enriched: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    out, _ = enriched
    with pytest.raises(msp.InputError, match=r"out\.mobile\.plot: kind must be one of"):
        out.mobile.plot(kind="pie")
    with pytest.raises(msp.InputError, match=r"out\.mobile\.plot\(kind='health'\) has no option"):
        out.mobile.plot(normalise=False)
    with pytest.raises(msp.InputError, match="Did you mean 'normalize'"):
        out.mobile.plot(normalise=False)
    with pytest.raises(msp.InputError, match="takes no by="):
        out.mobile.plot(kind="billing", by="fraud")
    documented = MobileFrameAccessor.plot.__doc__ or ""
    for kind, options in PLOT_OPTIONS.items():
        assert f'kind="{kind}"' in documented
        for option in options:
            assert f"``{option}" in documented, f"{kind}: {option} is not documented"


def test_billing_views_of_the_ledger(enriched: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, ledger = enriched
    from mobilestatus_pandas.analysis.report import billing_by_period

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
    assert "dead lines (of answered rows)" in board.headline.value
    # the headline's share is the wide table's: among answered rows, one definition
    from mobilestatus_pandas.views.widgets import SHARE_DEAD, headline

    wide = out.mobile.summary(wide=True)
    assert out["mobile_status"].isin(msp.NO_ANSWER_STATES).any(), "all rows != answered rows"
    assert headline(out, "mobile_")[SHARE_DEAD] == pytest.approx(wide["dead_line_share"].iloc[0])
    assert bytes(board.plot.value).startswith(b"\x89PNG")
    assert len(board.axes.get_yticklabels()) == 1
    assert "fraud" in board.group.options
    first_png = board.plot.value

    board.group.value = "fraud"
    assert board.by == "fraud"
    assert len(board.axes.get_yticklabels()) == 2
    assert board.plot.value != first_png
    assert "fraud" in board.table.value
    assert "dead_line_share" in board.table.value, "the wide table: a row per group"

    board.mode.value = "counts"
    assert board.axes.get_xlabel() == "rows"
    assert assert_labels_fit(board.axes) > 0, "counts mode: no label collides"
    first_group = sum(c.patches[0].get_width() for c in board.axes.containers)
    assert first_group == (~out["fraud"]).sum(), "counts: the bar is the group's size"
    state = board.get_state()
    assert len(state["children"]) == 4


def test_dashboard_on_a_frame_without_results_says_what_to_do() -> None:
    with pytest.raises(msp.InputError, match=r"df\.mobile\.status"):
        pd.DataFrame({"x": [1]}).mobile.dashboard()


def test_plots_of_an_empty_result_draw_without_warnings() -> None:
    from mobilestatus_pandas.engine.answers import empty_results

    empty = empty_results(pd.RangeIndex(0)).add_prefix("mobile_")
    empty["signup_ts"] = pd.Series([], dtype="datetime64[ns]")
    empty.attrs["mobilestatus"] = {"price_per_call": 0.1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert empty.mobile.plot().get_legend() is None
        assert empty.mobile.plot(kind="time", on="signup_ts").get_title().startswith("Dead")
    assert empty.mobile.summary(wide=True).loc["all rows", "rows"] == 0


def test_dashboard_carries_a_static_copy_of_what_it_shows(
    enriched: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """Saved and opened without a kernel, the dashboard shows an HTML table and its PNG
    (not ``Dashboard(children=...``), and the copy follows the controls."""
    import base64

    out, _ = enriched
    board = out.mobile.dashboard()
    bundle = board._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == board.model_id
    assert base64.b64decode(bundle["image/png"]) == board.plot.value
    assert "<table" in bundle["text/html"]
    assert "data:image/png;base64," in bundle["text/html"]
    assert "Dashboard(" not in bundle["text/html"]
    updates = []

    class Handle:
        def update(self, data: dict[str, str], raw: bool) -> None:
            updates.append(data)

    board._handles.append(Handle())
    board.group.value = "fraud"
    assert updates, "a control change updates the saved copy"
    assert "dead_line_share" in updates[-1]["text/html"]
    assert base64.b64decode(updates[-1]["image/png"]) == board.plot.value


def test_stacked_bars_draw_shares_per_group_with_the_colours_and_labels_given() -> None:
    """The one drawing of stacked share bars that the health and tenure pictures share."""
    from matplotlib.colors import to_hex

    from mobilestatus_pandas.views.drawing import stacked_bars

    counts = pd.DataFrame({"up": [3, 1], "down": [1, 0]}, index=["g1", ("g2", "x")])
    ax = stacked_bars(
        counts, colors={"up": "#00aa00", "down": "#ffffff"}, legend_label=str.upper,
        legend_title="state", title="A title", black_text={"down"},
    )  # fmt: skip
    widths = [round(p.get_width(), 3) for p in ax.patches]
    assert widths == [0.75, 1.0, 0.25, 0.0], "shares per group: the up segments, then down"
    assert [to_hex(p.get_facecolor()) for p in ax.patches] == ["#00aa00"] * 2 + ["#ffffff"] * 2
    assert ax.patches[2].get_x() == pytest.approx(0.75), "down starts where up ends"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["g1  (n=4)", "g2 / x  (n=1)"]
    assert ax.patches[0].get_y() > ax.patches[1].get_y(), "the first group on top"
    assert ax.get_title() == "A title"
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "state"
    assert [t.get_text() for t in legend.get_texts()] == ["UP", "DOWN"]
    texts = {t.get_text(): t.get_color() for t in ax.texts if t.get_text()}
    assert texts["75%"] == "white"
    assert texts["25%"] == "black", "black text on the light category"
    plt.close(ax.figure)
    counted = stacked_bars(
        counts, colors={"up": "g", "down": "r"}, legend_label=str, legend_title="",
        title="", normalize=False,
    )  # fmt: skip
    assert [p.get_width() for p in counted.patches] == [3.0, 1.0, 1.0, 0.0]
    assert counted.get_xlabel() == "rows"
    plt.close(counted.figure)
