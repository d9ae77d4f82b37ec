"""resolve_by: one meaning of by= for summary, plots, compare and shared."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.analysis.grouping import MANY_GROUPS, ManyGroupsWarning, resolve_by


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-20", None]),
            "channel": ["ads", "ads", "organic", "ads"],
        },
        index=[5, 6, 7, 8],
    )


def test_none_and_a_column(frame: pd.DataFrame) -> None:
    assert resolve_by(frame, None) == ([], [])
    keys, names = resolve_by(frame, "channel")
    assert names == ["channel"]
    assert keys[0].index.equals(frame.index)
    assert keys[0].tolist() == ["ads", "ads", "organic", "ads"]


def test_a_time_grouper_labels_each_row_with_its_period(frame: pd.DataFrame) -> None:
    keys, names = resolve_by(frame, pd.Grouper(key="ts", freq="W"))
    assert names == ["ts"]
    labels = keys[0]
    assert str(labels[5].date()) == "2024-01-07"  # the week ending Sunday 7 January
    assert str(labels[6].date()) == "2024-01-07"
    assert str(labels[7].date()) == "2024-01-21"
    assert pd.isna(labels[8]), "no date, no period"
    expected = frame.groupby(pd.Grouper(key="ts", freq="W")).size()
    assert keys[0].value_counts().sort_index().tolist() == expected[expected > 0].tolist()
    on_index, _ = resolve_by(frame.set_index("ts"), pd.Grouper(freq="MS"))
    assert str(on_index[0].iloc[1].date()) == "2024-01-01"


def test_a_series_aligns_on_the_index(frame: pd.DataFrame) -> None:
    month = frame["ts"].dt.month
    keys, names = resolve_by(frame, month.iloc[::-1])
    assert names == ["ts"]
    assert keys[0].tolist()[:3] == [1, 1, 1]
    elsewhere = month.reset_index(drop=True)
    with pytest.raises(msp.InputError, match="none of its index labels"):
        resolve_by(frame, elsewhere)


def test_lists_arrays_and_levels(frame: pd.DataFrame) -> None:
    _keys, names = resolve_by(frame, ["channel", frame["ts"].dt.day])
    assert names == ["channel", "ts"]
    one_array, names = resolve_by(frame, [1, 1, 2, 2])
    assert len(one_array) == 1
    assert names == ["group_0"]
    by_level, names = resolve_by(frame.rename_axis("row"), "row")
    assert names == ["row"]
    assert by_level[0].tolist() == [5, 6, 7, 8]
    with pytest.raises(msp.InputError, match="one value per row"):
        resolve_by(frame, np.array([1, 2]))
    with pytest.raises(msp.InputError, match="not a column or index level"):
        resolve_by(frame, "nope")
    with pytest.raises(msp.InputError, match="datetimes"):
        resolve_by(frame, pd.Grouper(key="channel", freq="W"))
    with pytest.raises(msp.InputError, match="empty list"):
        resolve_by(frame, [])


def test_hundreds_of_groups_warn(frame: pd.DataFrame) -> None:
    many = pd.DataFrame({"id": range(MANY_GROUPS + 1)})
    with pytest.warns(ManyGroupsWarning, match=f"{MANY_GROUPS + 1} groups"):
        resolve_by(many, "id")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve_by(many.iloc[:MANY_GROUPS], "id")
        resolve_by(many, "id", warn_above=None)
