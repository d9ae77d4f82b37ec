"""The fraud study end to end against the sandbox: a full run and a sample of the synthetic
sign-ups, compared by the fraud label; the compare plot and the dashboard's comparison view."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import FRAUD_DEAD_LINE_SHARE, signups
from mobilestatus_pandas.views.compare_plot import DEAD_LINE_COLOR
from mobilestatus_pandas.views.plots import STATUS_COLORS

pytestmark = pytest.mark.integration

#: Calls per second for the sandbox and its clients: these tests are about answers, not pacing.
FAST = 1000.0


@pytest.fixture(scope="module")
def study() -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """The full run and a stratified sample of 300 numbers of 3,000 sign-ups."""
    frame = signups(rows=3000, seed=7)
    with msp.Sandbox(rate_limit=FAST) as sb:
        full = frame.mobile.status("phone", client=sb.client(rate_limit=FAST), progress=False)
        sample = frame.mobile.status(
            "phone", client=sb.client(rate_limit=FAST), sample=300, by="fraud", seed=0,
            progress=False,
        )  # fmt: skip
        yield full, sample
    plt.close("all")


def _dead(table: pd.DataFrame, group: object) -> pd.Series:
    return table[(table["status"] == "dead_line") & (table["group"] == group)].iloc[0]


def test_the_planted_signal_is_found_with_its_interval(
    study: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    full, _ = study
    table = full.mobile.compare("fraud")
    fraud, good = _dead(table, True), _dead(table, False)
    assert good["note"] == "reference group"
    assert fraud["ci_low"] < FRAUD_DEAD_LINE_SHARE < fraud["ci_high"]
    assert fraud["lift_ci_low"] > 1.5  # a dead line is a fraud signal here
    assert fraud["p_value"] < 1e-4
    answered = ~full["mobile_status"].isin(msp.NO_ANSWER_STATES)
    assert fraud["n"] == int((answered & full["fraud"]).sum())


def test_a_sample_of_a_tenth_estimates_the_full_run(
    study: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    full, sample = study
    truth = full.mobile.compare("fraud", statuses="dead_line")
    estimate = sample.mobile.compare("fraud", statuses="dead_line")
    assert estimate.attrs["compare"]["sampled"] is True
    for group in (False, True):
        row = _dead(estimate, group)
        assert row["ci_low"] <= _dead(truth, group)["share"] <= row["ci_high"]
        assert row["n"] < _dead(truth, group)["n"] / 2  # fewer rows, same question
    answered = ~sample["mobile_status"].isin(msp.NO_ANSWER_STATES)
    assert sample.loc[answered, "mobile_number"].nunique() <= 300
    assert _dead(estimate, True)["lift_ci_low"] > 1.0


def test_compare_plot_shares_and_lift_forest(study: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    full, _ = study
    shares, lift = full.mobile.plot(kind="compare", by="fraud")
    table = full.mobile.compare("fraud", statuses=["dead_line", "out_of_service", "cancelled",
                                                   "offline", "normal"])  # fmt: skip
    assert lift.get_xscale() == "log"
    ticks = sorted((t.get_position()[1], t.get_text()) for t in shares.get_yticklabels())
    labels = [text for _, text in ticks]
    assert labels[-1].startswith("dead_line · False"), "the first row is at the top"
    assert len(labels) == len(table)
    # one dot per (status, group) at its share; one square per non-reference group at its lift
    dots = [line for line in shares.get_lines() if line.get_marker() == "o"]
    assert sorted(float(d.get_xdata()[0]) for d in dots) == pytest.approx(
        sorted(table["share"].tolist())
    )
    squares = [line for line in lift.get_lines() if line.get_marker() == "s"]
    fraud = table[table["group"] == True]  # noqa: E712
    assert sorted(float(s.get_xdata()[0]) for s in squares) == pytest.approx(
        sorted(fraud["lift"].tolist())
    )
    colours = {matplotlib.colors.to_hex(d.get_color()) for d in dots}
    dead_states = ("out_of_service", "cancelled", "offline", "normal")
    assert colours == {DEAD_LINE_COLOR, *(STATUS_COLORS[s] for s in dead_states)}
    from mobilestatus_pandas.views.drawing import MIN_COLOR_DISTANCE
    from tests.test_plots import lab

    drawn = sorted(colours)
    for i, a in enumerate(drawn):  # dead_line and each dead line state: told apart at a glance
        for b in drawn[i + 1 :]:
            assert float(np.linalg.norm(lab(a) - lab(b))) >= MIN_COLOR_DISTANCE, (a, b)
    assert "fraud=False" in lift.get_xlabel()
    assert sum(t.get_text().strip() == "reference" for t in lift.texts) == 5


def test_compare_plot_options(study: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    full, sample = study
    _, pair = plt.subplots(1, 2)
    drawn = sample.mobile.plot(kind="compare", by=full["signup_channel"], ax=pair,
                               statuses="dead_line", reference="ads")  # fmt: skip
    assert list(drawn) == list(pair)
    assert "estimated from a sample" in drawn[0].get_title(loc="left")
    assert "signup_channel=ads" in drawn[1].get_xlabel()
    with pytest.raises(msp.InputError, match="needs by="):
        full.mobile.plot(kind="compare")
    with pytest.raises(msp.InputError, match="two panels"):
        full.mobile.plot(kind="compare", by="fraud", ax=pair[0])
    with pytest.raises(msp.InputError, match="'compare'"):
        full.mobile.plot(kind="forest")


def test_dashboard_comparison_view(study: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    full, _ = study
    board = full.mobile.dashboard()
    board.view.value = "compare"
    assert board.axes is None
    assert "Choose a grouping" in board.table.value
    board.group.value = "fraud"
    assert board.axes is not None
    assert board.axes[1].get_xscale() == "log"
    assert bytes(board.plot.value).startswith(b"\x89PNG")
    assert "lift_ci_low" in board.table.value
    assert "dead_line" in board.table.value
    assert board.mode.disabled
    board.view.value = "health"
    assert not board.mode.disabled
    assert not isinstance(board.axes, np.ndarray)


def test_the_guide_example_is_what_compare_prints() -> None:
    from pathlib import Path

    guide = Path(__file__).parent.parent / "docs" / "guide" / "fraud-study.md"
    text = guide.read_text(encoding="utf-8")
    frame = signups(rows=3000, seed=11)
    with msp.Sandbox(rate_limit=FAST) as sb:
        out = frame.mobile.status("phone", client=sb.client(rate_limit=FAST), progress=False)
    table = out.mobile.compare("fraud")
    printed = table[table.status == "dead_line"].to_string(
        index=False, float_format="{:.3g}".format
    )
    for line in printed.splitlines():
        assert f"# {line}" in text


def test_tenure_in_the_study_table_plot_and_dashboard() -> None:
    from mobilestatus_pandas.views.compare_plot import NEW_LINE_COLOR

    frame = signups(rows=1500, seed=3)
    with msp.Sandbox(rate_limit=FAST) as sb:
        both = frame.mobile.check(
            "phone", actions=("status", "tenure"), client=sb.client(rate_limit=FAST),
            progress=False,
        )  # fmt: skip
    table = both.mobile.compare("fraud", outcome="tenure")
    assert table["status"].cat.categories.tolist()[0] == "new_line"
    assert list(table["status"].cat.categories[1:]) == sorted(
        table["status"].cat.categories[1:], key=list(msp.TENURE_BANDS).index
    ), "bands in their order"
    fraud = table[(table["status"] == "new_line") & (table["group"] == True)].iloc[0]  # noqa: E712
    assert fraud["lift_ci_low"] > 1.0, "the planted signal: fraud takes new lines more often"
    shares, _ = both.mobile.plot(kind="compare", by="fraud", outcome="tenure")
    assert "Line tenure by fraud" in shares.get_title(loc="left")
    dots = [line for line in shares.get_lines() if line.get_marker() == "o"]
    assert NEW_LINE_COLOR in {matplotlib.colors.to_hex(d.get_color()) for d in dots}
    board = both.mobile.dashboard()
    board.view.value = "compare"
    board.group.value = "fraud"
    assert "new_line" in board.table.value
    assert "dead_line" in board.table.value
    assert board.axes.shape == (2, 2), "status above, tenure below"
    plt.close("all")
