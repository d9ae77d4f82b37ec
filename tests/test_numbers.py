from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobilestatus_pandas import numbers

N = "13800138000"


@pytest.mark.parametrize(
    "raw",
    [
        N,
        "+86 138 0013 8000",
        "+86-138-0013-8000",
        "0086 138 0013 8000",
        "86 13800138000",
        "8613800138000",
        "(138) 0013.8000",
        "138/0013/8000",
        "tel:+86-138-0013-8000",
        "TEL:13800138000",
        "１３８００１３８０００",
        "＋８６ １３８ ００１３ ８０００",
        "  13800138000  ",
        "138\u20140013\u20138000",
        13800138000,
        13800138000.0,
        np.int64(13800138000),
        np.float64(13800138000.0),
        8613800138000,
        "13800138000.0",
        "1.3800138E+10",
        "1.3800138e10",
    ],
)
def test_normalize_accepts_every_common_shape(raw: object) -> None:
    assert numbers.normalize_one(raw) == N


@pytest.mark.parametrize(
    "raw",
    [
        None,
        float("nan"),
        "",
        "   ",
        "n/a",
        "13800138000 ext 12",
        "13800138000#12",
        "1380013800",  # too short
        "138001380001",  # too long
        "+1 415 555 0100",
        "+44 7700 900123",
        "23800138000",  # 11 digits, not a mobile shape
        "13800138000.5",
        True,
        "abc13800138000",
        "1.38E+10",  # precision lost by the spreadsheet: not this number, not any number
    ],
)
def test_normalize_rejects_junk_without_raising(raw: object) -> None:
    result = numbers.normalize_one(raw)
    assert result is None or result != N
    if raw != "1.38E+10":
        assert result is None


def test_normalize_keeps_index_name_and_uses_string_dtype() -> None:
    s = pd.Series(["+86 138 0013 8000", None, "x", 13800000001], index=[10, 10, 3, 7], name="p")
    out = numbers.normalize(s)
    assert out.index.tolist() == [10, 10, 3, 7]
    assert out.name == "p"
    assert isinstance(out.dtype, pd.StringDtype)
    assert out.tolist()[0] == N
    assert out.isna().tolist() == [False, True, True, False]


@pytest.mark.parametrize("dtype", ["int64", "float64", "category", "string", object])
def test_normalize_by_dtype(dtype: str) -> None:
    s = pd.Series([13800138000, 13800000001, 13800138000]).astype(dtype)
    assert numbers.normalize(s).tolist() == [N, "13800000001", N]


def test_float_column_with_missing_values() -> None:
    s = pd.Series([13800138000.0, np.nan, 1.5, np.inf])
    assert numbers.normalize(s).tolist() == [N, pd.NA, pd.NA, pd.NA]


def test_empty_inputs() -> None:
    assert numbers.normalize([]).tolist() == []
    assert numbers.is_valid(pd.Series([], dtype="string")).tolist() == []


def test_validity_follows_libphonenumber_cn_mobile_metadata() -> None:
    s = pd.Series([N, "16137688175", "13800000001", None, "19912345678"], dtype="string")
    assert numbers.is_valid(s).tolist() == [True, False, True, False, True]
    assert numbers.is_valid(s).dtype == "boolean"


def test_validity_agrees_with_phonenumbers_parse() -> None:
    import phonenumbers

    rng = np.random.default_rng(1)
    sample = [f"1{rng.integers(0, 10**10):010d}" for _ in range(300)]
    ours = numbers.is_valid(pd.Series(sample, dtype="string")).tolist()
    theirs = [
        phonenumbers.number_type(phonenumbers.parse(n, "CN"))
        in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
        and phonenumbers.is_valid_number(phonenumbers.parse(n, "CN"))
        for n in sample
    ]
    assert ours == theirs


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(), st.integers(), st.floats(), st.none()), max_size=20))
def test_normalize_never_raises_and_returns_digits_or_na(values: list[object]) -> None:
    out = numbers.normalize(pd.Series(values, dtype=object))
    assert len(out) == len(values)
    for value in out:
        assert value is pd.NA or (len(value) == 11 and value.isdigit() and value[0] == "1")


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.integers(0, 8))
def test_every_messy_format_round_trips(number: str, style: int) -> None:
    from mobilestatus_pandas.datasets import messy_format

    assert numbers.normalize_one(messy_format(number, style)) == number
