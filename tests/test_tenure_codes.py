"""Line tenure's code table, Range parsing and the action descriptions (unit tests)."""

from __future__ import annotations

import pandas as pd
import pytest

from mobilestatus_pandas.errors import InputError
from mobilestatus_pandas.service import actions, codes, tenure


@pytest.mark.parametrize(
    ("result", "status", "billed", "final", "retryable"),
    [
        ("0", "known", True, True, False),
        ("-2", "not_found", True, True, False),
        ("-3", "no_duration", True, True, False),
        ("-1", "invalid", False, True, False),
        ("-4", "busy", False, False, True),
        ("-5", "daily_limit", False, False, False),
        ("-13", "unsupported", False, True, False),
        ("-99", "error", False, False, False),  # undocumented: never billed, never cached
        (None, "error", False, False, False),
    ],
)
def test_each_tenure_result_code(
    result: str | None, status: str, billed: bool, final: bool, retryable: bool
) -> None:
    meaning = actions.TENURE.result_code(result)
    assert (meaning.status, meaning.billed, meaning.final, meaning.retryable) == (
        status,
        billed,
        final,
        retryable,
    )
    assert (result in actions.TENURE.cacheable_results) is final
    assert (result in actions.TENURE.billed_results) is billed


def test_tenure_and_status_never_share_a_code_table() -> None:
    # The same Result means something else, and is billed differently, in each API.
    assert actions.TENURE.result_codes is not codes.RESULT_CODES
    differs = {
        r: (actions.STATUS.result_code(r).status, actions.TENURE.result_code(r).status)
        for r in ("-1", "-2", "-3", "-4")
    }
    assert differs == {
        "-1": ("not_found", "invalid"),
        "-2": ("invalid", "not_found"),
        "-3": ("busy", "no_duration"),
        "-4": ("daily_limit", "busy"),
    }
    assert actions.STATUS.billed_results == {"0"}
    assert actions.TENURE.billed_results == {"0", "-2", "-3"}


@pytest.mark.parametrize(
    ("text", "low", "high", "band"),
    [
        ("[0,3)", 0, 3, "[0,3)"),
        ("[3,6)", 3, 6, "[3,6)"),
        ("[6,12)", 6, 12, "[6,12)"),
        ("[12,24)", 12, 24, "[12,24)"),
        ("[24,+)", 24, None, "[24,+)"),
        ("(6,12]", 6, 12, "[6,12)"),  # older SDK texts' bracket style
        ("(24,+)", 24, None, "[24,+)"),
        (" [ 3 , 6 ) ", 3, 6, "[3,6)"),
        ("[24,-1)", 24, None, "[24,+)"),  # other vendors' "no upper bound"
        ("[23,+)", 23, None, None),  # the documented example: not a usual band
        ("[1,2)", 1, 2, None),
    ],
)
def test_ranges_parse_to_months_and_band(
    text: str, low: int, high: int | None, band: str | None
) -> None:
    assert tenure.parse_range(text) == tenure.TenureRange(low, high, band)


@pytest.mark.parametrize(
    "text", [None, "", "  ", "24+", "[a,b)", "[6,3)", "[6,6)", "[6,12", "6,12"]
)
def test_empty_or_unreadable_ranges_give_nothing(text: str | None) -> None:
    assert tenure.parse_range(text) == tenure.TenureRange(None, None, None)
    assert not tenure.is_readable_range(text)


def test_bands_are_ordered_and_new_lines_are_under_six_months() -> None:
    dtype = actions.TENURE.dtypes()["band"]
    assert isinstance(dtype, pd.CategoricalDtype)
    assert dtype.ordered
    assert list(dtype.categories) == list(tenure.BANDS)
    assert tenure.NEW_LINE_BANDS == ("[0,3)", "[3,6)")


def test_tenure_columns_and_dtypes() -> None:
    assert actions.TENURE.columns == (
        "number", "valid", "result", "description", "range", "months_min", "months_max",
        "band", "status", "billed", "from_cache", "checked_at", "request_id", "error",
    )  # fmt: skip
    dtypes = actions.TENURE.dtypes()
    assert list(dtypes) == list(actions.TENURE.columns)
    assert dtypes["months_min"] == "Int64"
    assert dtypes["months_max"] == "Int64"
    assert list(dtypes["status"].categories) == list(tenure.TENURE_STATUSES)
    frame = pd.DataFrame({n: pd.Series([], dtype=d) for n, d in dtypes.items()})
    assert frame.columns.tolist() == list(actions.TENURE.columns)


def test_status_action_keeps_the_mobile_status_columns() -> None:
    from mobilestatus_pandas.service.result import RESULT_COLUMNS

    assert actions.STATUS.columns == RESULT_COLUMNS
    assert actions.STATUS.default_prefix == "mobile_"
    assert actions.STATUS.read("0", {"StatusCode": 2}) == {
        "status_code": 2,
        "status": "cancelled",
    }
    assert actions.STATUS.read("-2", {"StatusCode": 99})["status"] == "invalid"


def test_reading_tenure_answers() -> None:
    read = actions.TENURE.read
    assert read("0", {"Range": "[3,6)"}) == {
        "range": "[3,6)", "months_min": 3, "months_max": 6, "band": "[3,6)", "status": "known",
    }  # fmt: skip
    assert read("-2", {"Range": ""}) == {
        "range": None, "months_min": None, "months_max": None, "band": None,
        "status": "not_found",
    }  # fmt: skip
    # A Range on a non-success answer is not a tenure.
    assert read("-3", {"Range": "[3,6)"})["band"] is None
    # Success with a Range we cannot read: still known (and billed), the text kept, said why.
    odd = read("0", {"Range": "about a year"})
    assert (odd["status"], odd["range"], odd["band"]) == ("known", "about a year", None)
    assert "unreadable Range" in odd["error"]
    assert actions.TENURE.keep({"Result": "0", "Range": "[0,3)", "X": 1}) == {"Range": "[0,3)"}


def test_actions_by_name() -> None:
    assert actions.get_action("tenure") is actions.TENURE
    assert actions.get_action("MobileNetworkTimeVerification") is actions.TENURE
    assert actions.get_action("status") is actions.STATUS
    assert actions.get_actions("both") == (actions.STATUS, actions.TENURE)
    assert actions.get_actions(("tenure", "status", "tenure")) == (actions.TENURE, actions.STATUS)
    with pytest.raises(InputError, match="action must be one of"):
        actions.get_action("tenor")
    with pytest.raises(InputError, match="non-empty"):
        actions.get_actions(())


def test_answers_become_each_actions_record() -> None:
    import datetime as dt

    from mobilestatus_pandas.service.result import LookupResult, TenureResult

    at = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    known = actions.TENURE.from_answer("13900000003", "0", "ok", {"Range": "[3,6)"}, "r1", at)
    assert isinstance(known, TenureResult)
    assert (known.status, known.band, known.months_min, known.billed, known.error) == (
        "known", "[3,6)", 3, True, None,
    )  # fmt: skip
    gone = actions.TENURE.from_answer("13900000102", "-2", "no", {"Range": ""}, "r2", at)
    assert (gone.status, gone.billed, gone.valid) == ("not_found", True, True)
    bad = actions.TENURE.from_answer("13900000101", "-1", "bad", {}, "r3", at)
    assert (bad.status, bad.billed, bad.valid) == ("invalid", False, False)
    busy = actions.TENURE.from_answer("13900000104", "-4", "busy", {}, "r4", at)
    assert (busy.status, busy.billed, busy.error) == ("busy", False, "Result -4")
    cached = actions.TENURE.from_answer(
        "13900000003", "0", "ok", {"Range": "[3,6)"}, "r1", at, billed=False, from_cache=True
    )
    assert (cached.billed, cached.from_cache) == (False, True)
    status = actions.STATUS.from_answer("13800000002", "0", "ok", {"StatusCode": 2}, "r5", at)
    assert isinstance(status, LookupResult)
    assert (status.status, status.status_code, status.billed) == ("cancelled", 2, True)
    assert actions.TENURE.unchecked("13900000000", True, "stopped").status == "not_checked"
    assert actions.TENURE.refused(None, "no number given").status == "missing"
    assert actions.TENURE.failure("13900000000", "boom", "InternalError").band is None
    assert list(known.to_dict()) == list(actions.TENURE.columns)
    row = pd.Series(known.to_dict())
    assert TenureResult.from_row(row) == known


def test_the_guide_tenure_table_is_the_code_table() -> None:
    import re
    from pathlib import Path

    from mobilestatus_pandas.sandbox.behaviour import TENURE_MAGIC_NUMBERS

    guide = Path(__file__).parent.parent / "docs" / "guide" / "tenure.md"
    section = guide.read_text(encoding="utf-8")
    rows = re.findall(r"^\| (-?\d+) \| `([a-z_]+)`[^|]*\| (yes|no) \|", section, re.M)
    assert {r: (s, b == "yes") for r, s, b in rows} == {
        r: (m.status, m.billed) for r, m in tenure.TENURE_RESULT_CODES.items()
    }
    assert " < ".join(f"`{b}`" for b in tenure.BANDS) in section
    for number, band in re.findall(r"`(139\d{8})` `(\[[^`]+)`", section):
        assert TENURE_MAGIC_NUMBERS[number].range == band
    assert all(f"`{s}`" in section for s in tenure.TENURE_STATUSES)
