from __future__ import annotations

import pandas as pd
import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.batch import empty_results


def results(statuses: list[str], numbers: list[str | None], billed: list[bool]) -> pd.DataFrame:
    frame = empty_results(pd.RangeIndex(len(statuses))).add_prefix("mobile_")
    frame["mobile_status"] = pd.Categorical(statuses, categories=list(msp.STATUSES))
    frame["mobile_number"] = pd.array(numbers, dtype="string")
    frame["mobile_billed"] = pd.array(billed, dtype="boolean")
    frame["mobile_from_cache"] = pd.array([not b for b in billed], dtype="boolean")
    return frame


def test_summary_counts_rows_and_distinct_numbers_in_fixed_order() -> None:
    out = results(
        ["normal", "normal", "cancelled", "invalid"],
        ["1", "1", "2", None],
        [True, False, True, False],
    )
    table = out.mobile.summary()
    assert list(table.index) == list(msp.STATUSES)
    assert table.loc["normal", "rows"] == 2
    assert table.loc["normal", "numbers"] == 1
    assert table.loc["normal", "billed"] == 1
    assert table.loc["normal", "from_cache"] == 1
    assert table["row_share"].sum() == pytest.approx(1.0)
    assert table.loc["cancelled", "number_share"] == pytest.approx(0.5)
    assert "cost" not in table.columns


def test_summary_by_group_with_cost() -> None:
    out = results(["normal", "cancelled", "normal"], ["1", "2", "3"], [True, True, True])
    out["fraud"] = [False, True, True]
    out.attrs["mobilestatus"] = {"price_per_call": 0.5}
    table = out.mobile.summary(by="fraud")
    assert table.loc[(True, "cancelled"), "row_share"] == pytest.approx(0.5)
    assert table.loc[(False, "normal"), "row_share"] == pytest.approx(1.0)
    assert table["cost"].sum() == pytest.approx(1.5)


def test_summary_of_a_frame_without_results_says_what_to_do() -> None:
    with pytest.raises(msp.InputError, match=r"df\.mobile\.status"):
        pd.DataFrame({"phone": ["1"]}).mobile.summary()
    with pytest.raises(msp.InputError, match="group by"):
        results(["normal"], ["1"], [True]).mobile.summary(by="nope")
