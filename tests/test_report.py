"""Summary tables and shared numbers: unit tests on built frames, and totals against a real run."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.analysis import sampling
from mobilestatus_pandas.analysis.report import SUMMARY_COLUMNS, WIDE_TOTALS
from mobilestatus_pandas.datasets import signups
from mobilestatus_pandas.engine.answers import empty_results
from tests.conftest import FastSandbox

CostUnknownWarning = msp.CostUnknownWarning
ManyGroupsWarning = msp.ManyGroupsWarning


def results(
    statuses: list[str],
    numbers: list[str | None],
    billed: list[bool],
    cached: list[bool] | None = None,
) -> pd.DataFrame:
    frame = empty_results(pd.RangeIndex(len(statuses))).add_prefix("mobile_")
    frame["mobile_status"] = pd.Categorical(statuses, categories=list(msp.STATUSES))
    frame["mobile_number"] = pd.array(numbers, dtype="string")
    frame["mobile_billed"] = pd.array(billed, dtype="boolean")
    cached = cached if cached is not None else [not b for b in billed]
    frame["mobile_from_cache"] = pd.array(cached, dtype="boolean")
    frame.attrs["mobilestatus"] = {"price_per_call": None}  # a run report, without a price
    return frame


def test_summary_counts_rows_and_distinct_numbers_hiding_empty_statuses() -> None:
    out = results(
        ["normal", "normal", "cancelled", "invalid"],
        ["1", "1", "2", None],
        [True, False, True, False],
    )
    table = out.mobile.summary()
    assert list(table.index) == ["normal", "cancelled", "invalid"], "empty statuses hidden"
    assert list(table.columns) == list(SUMMARY_COLUMNS)
    assert table.loc["normal", "rows"] == 2
    assert table.loc["normal", "numbers"] == 1
    assert table.loc["normal", "billed_numbers"] == 1
    assert table.loc["normal", "cached_rows"] == 1
    assert table.loc["normal", "cached_numbers"] == 1
    assert table["row_share"].sum() == pytest.approx(1.0)
    assert table.loc["cancelled", "number_share"] == pytest.approx(0.5)
    everything = out.mobile.summary(all_statuses=True)
    assert list(everything.index) == list(msp.STATUSES)
    assert everything.loc["busy", "rows"] == 0


def test_answered_share_leaves_out_rows_without_an_answer() -> None:
    out = results(
        ["normal", "normal", "cancelled", "not_checked", "missing", "error", "busy"],
        ["1", "2", "3", "4", None, "5", "6"],
        [True, True, True, False, False, False, False],
        cached=[False] * 7,
    )
    table = out.mobile.summary()
    assert table.loc["normal", "row_share"] == pytest.approx(2 / 7)
    assert table.loc["normal", "answered_share"] == pytest.approx(2 / 3)
    assert table.loc["cancelled", "answered_share"] == pytest.approx(1 / 3)
    for status in msp.NO_ANSWER_STATES:
        if status in table.index:
            assert pd.isna(table.loc[status, "answered_share"]), status


def test_summary_by_group_with_cost_split_over_a_shared_number() -> None:
    # number "2" is billed once, on its first row, but carried by a row of each group
    out = results(["normal", "cancelled", "cancelled"], ["1", "2", "2"], [True, True, False])
    out["fraud"] = [False, False, True]
    out.attrs["mobilestatus"] = {"price_per_call": 0.5}
    table = out.mobile.summary(by="fraud")
    assert table.loc[(True, "cancelled"), "row_share"] == pytest.approx(1.0)
    assert table.loc[(True, "cancelled"), "billed_numbers"] == 1, "billed wherever it is"
    assert table.loc[(False, "cancelled"), "cost_usd"] == pytest.approx(0.25)
    assert table.loc[(True, "cancelled"), "cost_usd"] == pytest.approx(0.25)
    assert table["cost_usd"].sum() == pytest.approx(1.0), "group costs add up to the run's"


def test_per_group_figures_do_not_depend_on_row_order() -> None:
    out = results(
        ["normal", "cancelled", "cancelled", "normal", "offline"],
        ["1", "2", "2", "1", "3"],
        [True, True, False, False, True],
    )
    out["group"] = ["a", "a", "b", "b", "b"]
    out.attrs["mobilestatus"] = {"price_per_call": 0.1}
    reordered = out.iloc[::-1].copy()
    # a run marks each number billed on its first row: in the new order, another row
    first = ~reordered["mobile_number"].duplicated().to_numpy()
    reordered["mobile_billed"] = pd.array(first, dtype="boolean")
    assert not reordered["mobile_billed"].equals(out["mobile_billed"].iloc[::-1])
    forward = out.mobile.summary(by="group")
    backward = reordered.mobile.summary(by="group")
    pd.testing.assert_frame_equal(forward, backward)


def test_wide_table_has_groups_as_rows_and_statuses_as_columns() -> None:
    out = results(
        ["normal", "cancelled", "normal", "offline", "not_checked"],
        ["1", "2", "3", "4", "5"],
        [True, True, True, True, False],
    )
    out["channel"] = ["ads", "ads", "organic", "organic", "organic"]
    out.attrs["mobilestatus"] = {"price_per_call": 0.1}
    wide = out.mobile.summary(by="channel", wide=True)
    assert list(wide.index) == ["ads", "organic"]
    statuses = ["normal", "cancelled", "offline", "not_checked"]
    assert list(wide.columns) == [*statuses, *WIDE_TOTALS, "cost_usd"]
    assert wide.loc["organic", "normal"] == 1
    assert wide.loc["organic", "rows"] == 3
    assert wide.loc["organic", "answered_rows"] == 2
    assert wide.loc["organic", "dead_line_share"] == pytest.approx(0.5)
    assert wide.loc["ads", "dead_line_share"] == pytest.approx(0.5)
    assert wide.loc["ads", "cost_usd"] == pytest.approx(0.2)
    shares = out.mobile.summary(by="channel", wide=True, values="answered_share")
    assert shares.loc["organic", "offline"] == pytest.approx(0.5)
    assert pd.isna(shares.loc["organic", "not_checked"])
    overall = out.mobile.summary(wide=True)
    assert list(overall.index) == ["all rows"]
    with pytest.raises(msp.InputError, match="values must be one of"):
        out.mobile.summary(wide=True, values="cost")


def test_by_takes_what_groupby_takes() -> None:
    out = results(["normal", "cancelled", "normal", "offline"], list("1234"), [True] * 4)
    out["signup_ts"] = pd.to_datetime(["2024-01-03", "2024-02-10", "2024-02-11", "2024-03-30"])
    out["channel"] = ["ads", "ads", "organic", "organic"]
    out.index = [10, 11, 12, 13]
    by_month = out.mobile.summary(by=out.signup_ts.dt.month, wide=True)
    assert list(by_month.index) == [1, 2, 3]
    assert by_month.index.name == "signup_ts"
    assert by_month.loc[2, "rows"] == 2
    by_period = out.mobile.summary(by=pd.Grouper(key="signup_ts", freq="MS"), wide=True)
    assert [str(p.date()) for p in by_period.index] == ["2024-01-01", "2024-02-01", "2024-03-01"]
    assert by_period["rows"].tolist() == [1, 2, 1]
    both = out.mobile.summary(by=["channel", out.signup_ts.dt.month], wide=True)
    assert both.index.names == ["channel", "signup_ts"]
    assert both.loc[("organic", 2), "normal"] == 1
    by_array = out.mobile.summary(by=np.array(["x", "y", "x", "y"]), wide=True)
    assert by_array.loc["x", "rows"] == 2
    with pytest.raises(msp.InputError, match="cannot group by 'nope'"):
        out.mobile.summary(by="nope")
    with pytest.raises(msp.InputError, match="one value per row"):
        out.mobile.summary(by=np.array([1, 2]))


def test_many_groups_draw_a_warning() -> None:
    rows = 150
    out = results(["normal"] * rows, [str(i) for i in range(rows)], [True] * rows)
    out["user_id"] = range(rows)
    with pytest.warns(ManyGroupsWarning, match="150 groups"):
        out.mobile.summary(by="user_id", wide=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out.assign(half=np.arange(rows) % 2).mobile.summary(by="half")


def test_cost_without_attrs_price_given_or_a_warning() -> None:
    out = results(["normal", "cancelled"], ["1", "2"], [True, True])
    out["user_id"] = [1, 2]
    out.attrs["mobilestatus"] = {"price_per_call": 0.1}
    merged = out.merge(pd.DataFrame({"user_id": [1, 2], "fraud": [True, False]}), on="user_id")
    assert "mobilestatus" not in merged.attrs, "merge drops attrs (the case this is about)"
    with pytest.warns(CostUnknownWarning, match="price_per_call="):
        silent = merged.mobile.summary()
    assert not any(c.startswith("cost") for c in silent.columns)
    priced = merged.mobile.summary(price_per_call=0.1, currency="CNY")
    assert priced["cost_cny"].sum() == pytest.approx(0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unpriced = out.copy()
        unpriced.attrs["mobilestatus"] = {"price_per_call": None}
        assert "cost_usd" not in unpriced.mobile.summary().columns, "a run without a price"
        nothing_billed = results(["invalid"], [None], [False])
        nothing_billed.mobile.summary()  # nothing was paid for: nothing to warn about


def test_costs_are_rounded_to_cents() -> None:
    rows = 3
    out = results(["normal"] * rows, ["1", "2", "3"], [True] * rows)
    table = out.mobile.summary(price_per_call=0.1)
    assert repr(float(table.loc["normal", "cost_usd"])) == "0.3", "not 0.30000000000000004"


def test_summary_of_a_frame_without_results_says_what_to_do() -> None:
    with pytest.raises(msp.InputError, match=r"df\.mobile\.status"):
        pd.DataFrame({"phone": ["1"]}).mobile.summary()
    with pytest.raises(msp.InputError, match="group by"):
        results(["normal"], ["1"], [True]).mobile.summary(by="nope")


def test_shared_numbers_count_accounts() -> None:
    out = results(
        ["cancelled", "cancelled", "cancelled", "normal", "normal", "offline", "missing"],
        ["1", "1", "1", "2", "2", "3", None],
        [True, False, False, True, False, True, False],
    )
    out["user_id"] = [7, 8, 9, 4, 4, 5, 6]  # "2" twice by one account: not shared
    table = out.mobile.shared(by="user_id")
    assert list(table.index) == ["1"]
    assert table.index.name == "number"
    assert table.loc["1", "accounts"] == 3
    assert table.loc["1", "rows"] == 3
    assert table.loc["1", "status"] == "cancelled"
    assert bool(table.loc["1", "dead_line"])
    out.loc[4, "user_id"] = 5
    again = out.mobile.shared(by="user_id")
    assert list(again.index) == ["1", "2"], "most shared first"
    assert again["accounts"].tolist() == [3, 2]
    assert list(out.mobile.shared(by="user_id", min_accounts=3).index) == ["1"]
    with pytest.raises(msp.InputError, match="min_accounts"):
        out.mobile.shared(by="user_id", min_accounts=1)
    with pytest.raises(msp.InputError, match="cannot group by"):
        out.mobile.shared(by="account")


@pytest.fixture(scope="module")
def two_runs() -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """A first run, then a second with more rows (cache hits), with junk and an 11-digit
    invalid number (normalised, counted as distinct, never sent)."""
    first = signups(rows=120, distinct=50, seed=11)
    second = pd.concat([first, signups(rows=80, distinct=40, seed=12)], ignore_index=True)
    second.loc[len(second)] = {**second.iloc[0].to_dict(), "user_id": 999, "phone": 14155550100}
    with FastSandbox() as sb:
        client = sb.client(price_per_call=0.1, cache=None)
        a = first.mobile.status("phone", client=client, progress=False)
        b = second.mobile.status("phone", client=client, progress=False)
    return a, b


@pytest.mark.integration
def test_totals_agree_with_the_run_report(two_runs: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    for out in two_runs:
        report = out.attrs["mobilestatus"]
        table = out.mobile.summary()
        assert table["rows"].sum() == report["rows"]
        assert table["numbers"].sum() == report["distinct_numbers"]
        assert table["billed_numbers"].sum() == report["billed_calls"]
        assert table["cached_numbers"].sum() == report["cache_hits"]
        assert table["cost_usd"].sum() == pytest.approx(report["cost"])
        wide = out.mobile.summary(by="signup_channel", wide=True)
        assert wide["cost_usd"].sum() == pytest.approx(report["cost"])
        assert wide["rows"].sum() == report["rows"]
    assert two_runs[1].attrs["mobilestatus"]["cache_hits"] > 0


@pytest.mark.integration
def test_the_run_report_cost_is_rounded_to_cents(
    two_runs: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    for out in two_runs:
        report = out.attrs["mobilestatus"]
        assert report["cost"] == round(report["billed_calls"] * 0.1, 2)
        assert len(repr(report["cost"]).split(".")[-1]) <= 2, repr(report["cost"])


@pytest.mark.integration
def test_a_sampled_frame_is_summarised_for_the_whole_frame() -> None:
    frame = signups(rows=900, distinct=400, seed=4)
    with FastSandbox() as sb:
        client = sb.client(price_per_call=0.05, cache=None)
        out = frame.mobile.status("phone", client=client, progress=False, sample=120,
                                  by="fraud", seed=1)  # fmt: skip
        full = frame.mobile.status("phone", client=client, progress=False)
    assert out.attrs["mobilestatus"]["sample"]["allocation"] == "floored", "weights differ"
    weights = sampling.weights(out).fillna(0.0)
    table = out.mobile.summary(by="fraud", wide=True, values="estimated_share")
    for fraud in (False, True):
        rows = out["fraud"] == fraud
        status = out.loc[rows, "mobile_status"]
        w = weights[rows]
        answered = ~status.isin(msp.NO_ANSWER_STATES)
        for name in ("normal", "cancelled"):
            expected = (w * (status == name))[answered].sum() / w[answered].sum()
            assert table.loc[fraud, name] == pytest.approx(expected)
        assert table.loc[fraud, "estimated_rows"] == pytest.approx(w.sum())
    # the unweighted share of the sample over-represents the small group; the estimate does not
    truth = full.mobile.summary(wide=True, values="answered_share")
    overall = out.mobile.summary(wide=True)
    naive = out.mobile.summary(wide=True)["dead_line_share"].iloc[0]
    estimate = overall["estimated_dead_line_share"].iloc[0]
    assert abs(estimate - truth["dead_line_share"].iloc[0]) < 0.1
    assert abs(estimate - naive) > 0, "weights change the estimate on an unequal design"
    long = out.mobile.summary()
    assert {"estimated_rows", "estimated_share"} <= set(long.columns)
    merged = out.merge(frame[["user_id"]], on="user_id")  # attrs dropped, weights kept
    assert "estimated_share" in merged.mobile.summary(price_per_call=0.05).columns
