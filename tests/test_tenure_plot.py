"""Tenure tables and pictures from a tenure result frame (records made by the action)."""

from __future__ import annotations

import datetime as dt

import matplotlib
import pandas as pd
import pytest

from mobilestatus_pandas.errors import InputError
from mobilestatus_pandas.service import actions
from mobilestatus_pandas.views import tenure_plot

matplotlib.use("Agg")

AT = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def tenure_frame() -> pd.DataFrame:
    t = actions.TENURE
    records = [
        t.from_answer("13900000000", "0", "ok", {"Range": "[0,3)"}, "r", AT),
        t.from_answer("13900000003", "0", "ok", {"Range": "[3,6)"}, "r", AT),
        t.from_answer("13900000024", "0", "ok", {"Range": "[24,+)"}, "r", AT),
        t.from_answer("13900000023", "0", "ok", {"Range": "[23,+)"}, "r", AT),
        t.from_answer("13900000102", "-2", "no", {"Range": ""}, "r", AT),
        t.from_answer("13900000024", "0", "ok", {"Range": "[24,+)"}, "r", AT),
        t.refused(None, "no number given"),
    ]
    frame = t.to_frame(records).add_prefix("tenure_")
    frame.insert(0, "fraud", [True, True, False, False, True, False, False])
    return frame


def test_to_frame_has_the_tenure_dtypes() -> None:
    frame = tenure_frame()
    assert str(frame["tenure_months_min"].dtype) == "Int64"
    assert frame["tenure_months_max"].isna().tolist() == [
        False, False, True, True, True, True, True,
    ]  # fmt: skip
    assert frame["tenure_band"].cat.ordered
    assert frame["tenure_band"].tolist()[:3] == ["[0,3)", "[3,6)", "[24,+)"]


def test_tenure_table_counts_bands_and_rows_without_one() -> None:
    table = tenure_plot.tenure_table(tenure_frame())
    assert table.loc["all"].to_dict() == {
        "[0,3)": 1, "[3,6)": 1, "[24,+)": 2, "other range": 1, "not_found": 1, "missing": 1,
    }  # fmt: skip
    by = tenure_plot.tenure_table(tenure_frame(), "fraud")
    assert by.loc[True, "[0,3)"] == 1
    assert by.loc[False, "[24,+)"] == 2
    assert by.loc[True].sum() == 3
    assert by.loc[False].sum() == 4


def test_new_line_share() -> None:
    # Known tenure: [0,3), [3,6), [24,+) twice, [23,+): 2 of 5 under six months.
    assert tenure_plot.new_line_share(tenure_frame()) == pytest.approx(2 / 5)


def test_tenure_plot_draws_a_bar_per_group() -> None:
    ax = tenure_plot.tenure_plot(tenure_frame(), by="fraud")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(labels) == ["False  (n=4)", "True  (n=3)"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "[0,3): 0-3 months"
    assert "[24,+): 24+ months" in legend
    assert "by fraud" in ax.get_title()


def test_tenure_picture_of_a_frame_without_tenure_says_what_to_do() -> None:
    with pytest.raises(InputError, match=r"df.mobile.tenure"):
        tenure_plot.tenure_table(pd.DataFrame({"mobile_status": ["normal"]}))


def test_plot_kind_tenure_through_the_accessor() -> None:
    frame = tenure_frame()
    ax = frame.mobile.plot(kind="tenure", by="fraud")
    assert ax.get_title() == "Line tenure (months on the network) by fraud"
    ax = frame.mobile.plot(kind="tenure", normalize=False)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["all  (n=7)"]
    with pytest.raises(InputError, match="has no option 'freq'"):
        frame.mobile.plot(kind="tenure", freq="W")
