from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobilestatus_pandas import InputError
from mobilestatus_pandas.service import numbers
from tests.values import any_values, digits_in, strip_country_code, typed_columns

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
        "1.3800138000E+10",  # scientific notation whose mantissa carries all 11 digits
        "1.38001380000e10",
        "13800138000；",  # trailing punctuation ends the cell, it is not part of the number
        "13800138000,",
        "13800138000;",
        "13800138000。",
        "13800138000、",
        "１３８００１３８０００，",
        b"13800138000",  # bytes are one number
        Decimal("13800138000"),
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
        "1.3800138E+10",  # 8 digits of mantissa: the last three are unknown
        -13800138000,
        "-13800138000",
        [N],
        {"phone": N},
        {N},
        np.array([13800138000]),
        (N,),
    ],
)
def test_normalize_rejects_junk_without_raising(raw: object) -> None:
    assert numbers.normalize_one(raw) is None


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
    assert numbers.classify(s)["reason"].tolist() == [
        pd.NA,
        numbers.NO_NUMBER,
        numbers.DIGITS_LOST,
        numbers.NOT_A_NUMBER,
    ]


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


# -- reasons: why a value is not looked up -------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, numbers.NO_NUMBER),
        (float("nan"), numbers.NO_NUMBER),
        (np.nan, numbers.NO_NUMBER),
        (pd.NA, numbers.NO_NUMBER),
        (pd.NaT, numbers.NO_NUMBER),
        ("", numbers.NO_NUMBER),
        ("   ", numbers.NO_NUMBER),
        ("\u3000\t", numbers.NO_NUMBER),
        ("n/a", numbers.NO_NUMBER),
        ("NULL", numbers.NO_NUMBER),
        ("--", numbers.NO_NUMBER),
        (Decimal("NaN"), numbers.NO_NUMBER),
        ("+1 415 555 0100", numbers.FOREIGN),
        ("+44 7700 900123", numbers.FOREIGN),
        ("0044 7700 900123", numbers.FOREIGN),
        ("010-12345678", numbers.LANDLINE),
        ("+86 10 1234 5678", numbers.LANDLINE),
        ("0755 1234 5678", numbers.LANDLINE),
        ("1380013800", numbers.WRONG_LENGTH),
        ("138001380001", numbers.WRONG_LENGTH),
        ("+86 138001380", numbers.WRONG_LENGTH),
        (138001380, numbers.WRONG_LENGTH),
        pytest.param(10**5000, numbers.WRONG_LENGTH, id="more digits than Python prints"),
        ("1.38E+10", numbers.DIGITS_LOST),
        ("1.86339E+10", numbers.DIGITS_LOST),
        ("1.3800138E+10", numbers.DIGITS_LOST),
        ("1.38001380001e10", numbers.DIGITS_LOST),  # a fraction: not a whole number
        ("13800138000.5", numbers.DIGITS_LOST),
        (13800138000.5, numbers.DIGITS_LOST),
        (2.0**53 + 2, numbers.DIGITS_LOST),  # past float64's exact integers
        (1.3800138e19, numbers.DIGITS_LOST),
        (np.float32(13800138000), numbers.DIGITS_LOST),  # float32 keeps 7 digits
        (np.float16(3000), numbers.DIGITS_LOST),  # float16: exact below 2048
        (Decimal("1.38E+10"), numbers.DIGITS_LOST),
        ("abc13800138000", numbers.LETTERS),
        ("call me", numbers.LETTERS),
        ("13800138000 ext 12", numbers.EXTENSION),
        ("13800138000 ext. 12", numbers.EXTENSION),
        ("13800138000x12", numbers.EXTENSION),
        ("13800138000#12", numbers.EXTENSION),
        ("13800138000转12", numbers.EXTENSION),
        ("13800138000 分机 12", numbers.EXTENSION),
        ("16137688175", numbers.NOT_MOBILE_RANGE),
        ("23800138000", numbers.NOT_MOBILE_RANGE),
        (-13800138000, numbers.NEGATIVE),
        ("-13800138000", numbers.NEGATIVE),
        (-13800138000.0, numbers.NEGATIVE),
        (np.int64(-13800138000), numbers.NEGATIVE),
        (True, numbers.NOT_A_NUMBER),
        (np.bool_(False), numbers.NOT_A_NUMBER),
        ([N], numbers.NOT_A_NUMBER),
        ({"phone": N}, numbers.NOT_A_NUMBER),
        ({N}, numbers.NOT_A_NUMBER),
        (np.array([13800138000]), numbers.NOT_A_NUMBER),
        (object(), numbers.NOT_A_NUMBER),
        (float("inf"), numbers.NOT_A_NUMBER),
        ("13800138000*", numbers.NOT_A_NUMBER),
        (b"\xff\xfe", numbers.NOT_A_NUMBER),
    ],
)
def test_every_refused_value_says_why(raw: object, reason: str) -> None:
    # Alone, and among other values (object column): the reason follows the value.
    alone = numbers.classify(pd.Series([raw], dtype=object))
    assert alone["reason"].tolist() == [reason]
    assert alone["valid"].tolist() == [False]
    mixed = numbers.classify(pd.Series([N, raw, "13800000001", raw], dtype=object))
    assert mixed["reason"].tolist() == [pd.NA, reason, pd.NA, reason]
    if reason != numbers.NOT_MOBILE_RANGE:
        assert mixed["number"].isna().tolist() == [False, True, False, True]


def test_every_reason_is_documented_and_covered() -> None:
    assert len(set(numbers.REASONS)) == len(numbers.REASONS)
    guide = Path(__file__).parents[1] / "docs" / "guide" / "results.md"
    text = guide.read_text(encoding="utf-8")
    for reason in numbers.REASONS:
        assert f"`{reason}`" in text, f"docs/guide/results.md does not document {reason!r}"


def test_classify_frame_shape_and_dtypes() -> None:
    s = pd.Series(["138 0013 8000", None, "x"], index=[7, 3, 7], name="phone")
    out = numbers.classify(s)
    assert list(out.columns) == ["number", "valid", "reason"]
    assert out.index.tolist() == [7, 3, 7]
    assert isinstance(out["number"].dtype, pd.StringDtype)
    assert isinstance(out["reason"].dtype, pd.StringDtype)
    assert out["valid"].dtype == "boolean"
    assert out["valid"].tolist() == [True, False, False]
    assert out["reason"].tolist() == [pd.NA, numbers.NO_NUMBER, numbers.LETTERS]


@pytest.mark.parametrize("dtype", ["float32", "float16", "Float32", "float[pyarrow]"])
def test_narrow_float_columns_are_refused_with_how_to_read_them(dtype: str) -> None:
    with np.errstate(over="ignore"):  # float16 cannot even hold the number's size
        s = pd.Series([13912345678.0], name="phone").astype(dtype)
    with pytest.raises(InputError, match=r"dtype=\{'phone': str\}"):
        numbers.normalize(s)
    with pytest.raises(InputError, match="lost digits"):
        numbers.classify(s)


def test_float64_is_exact_only_for_whole_values_below_2_53() -> None:
    s = pd.Series([13800138000.0, 2.0**53 - 2, 2.0**53, 1e17, 13800138000.25, -13800138000.0])
    out = numbers.classify(s)
    assert out["number"].tolist()[0] == N
    assert out["reason"].tolist() == [
        pd.NA,
        numbers.WRONG_LENGTH,  # exact, but 16 digits
        numbers.DIGITS_LOST,
        numbers.DIGITS_LOST,
        numbers.DIGITS_LOST,
        numbers.NEGATIVE,
    ]


def test_a_float_column_that_lost_digits_is_refused_row_by_row_not_as_a_whole() -> None:
    s = pd.Series([2.0**60, 2.0**61])
    assert numbers.classify(s)["reason"].tolist() == [numbers.DIGITS_LOST] * 2


def test_negative_integer_columns_are_refused() -> None:
    s = pd.Series([-13800138000, 13800138000], dtype="int64")
    assert numbers.classify(s)["reason"].tolist() == [numbers.NEGATIVE, pd.NA]
    u = pd.Series([13800138000, 2**64 - 1], dtype="uint64")
    assert numbers.classify(u)["reason"].tolist() == [pd.NA, numbers.WRONG_LENGTH]


def test_a_bare_string_is_one_number_never_its_characters() -> None:
    assert numbers.normalize(N).tolist() == [N]
    assert numbers.normalize(N.encode()).tolist() == [N]
    assert numbers.normalize(13800138000).tolist() == [N]
    with pytest.raises(InputError, match="not a DataFrame"):
        numbers.normalize(pd.DataFrame({"a": [N]}))


def test_object_column_with_unhashable_values_never_raises() -> None:
    s = pd.Series([[N], N, {"a": 1}, np.array([1, 2]), None, {N}], dtype=object)
    out = numbers.classify(s)
    assert out["number"].tolist() == [pd.NA, N, pd.NA, pd.NA, pd.NA, pd.NA]
    assert out["reason"].tolist() == [
        numbers.NOT_A_NUMBER,
        pd.NA,
        numbers.NOT_A_NUMBER,
        numbers.NOT_A_NUMBER,
        numbers.NO_NUMBER,
        numbers.NOT_A_NUMBER,
    ]


def test_categorical_columns_classify_their_categories() -> None:
    s = pd.Series(["13800138000", "", None, "1.38E+10", "13800138000"], dtype="category")
    out = numbers.classify(s)
    assert out["reason"].tolist() == [
        pd.NA,
        numbers.NO_NUMBER,
        numbers.NO_NUMBER,
        numbers.DIGITS_LOST,
        pd.NA,
    ]


# -- the property: never raises, never invents a digit -------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.lists(any_values(), max_size=12))
def test_classify_never_raises_and_every_number_is_the_inputs_digits(
    values: list[object],
) -> None:
    out = numbers.classify(pd.Series(values, dtype=object))
    assert len(out) == len(values)
    for value, (number, valid, reason) in zip(values, out.itertuples(index=False), strict=True):
        assert (reason is pd.NA) == bool(valid)
        assert reason is pd.NA or reason in numbers.REASONS
        if number is pd.NA:
            continue
        assert len(number) == numbers.NATIONAL_DIGITS
        assert number[0] == "1"
        assert number == strip_country_code(digits_in(value) or ""), value


@settings(max_examples=100, deadline=None)
@given(typed_columns())
def test_typed_columns_never_raise_and_every_number_is_the_inputs_digits(
    column: pd.Series,
) -> None:
    out = numbers.classify(column)
    assert len(out) == len(column)
    assert out["number"].equals(numbers.normalize(column).rename("number"))
    for value, number in zip(column.astype(object), out["number"], strict=True):
        if number is not pd.NA:
            assert number == strip_country_code(digits_in(value) or ""), value


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.from_regex(r"[0-9]{1,22}", fullmatch=True),
            st.from_regex(r"[+0-9０-９٣ -]{0,14}", fullmatch=True),
            st.text(max_size=12),
            st.none(),
        ),
        max_size=30,
    )
)
def test_digit_keys_give_back_exactly_the_plain_digit_text(values: list[str | None]) -> None:
    # A value's integer key stands for the text itself (the Dask job table finds classified
    # values by it): only ASCII digits without a leading zero, up to 18 of them, get one,
    # and the key written out is the text again; two values share a key only when equal.
    import pyarrow as pa

    keys = numbers.digit_keys(pa.array(values, type=pa.string()))
    assert len(keys) == len(values)
    for value, key in zip(values, keys.tolist(), strict=True):
        plain = (
            value is not None
            and 0 < len(value) <= numbers.DIGIT_KEY_MAX
            and all("0" <= c <= "9" for c in value)
            and value[0] != "0"
        )
        assert (key >= 0) == plain, (value, key)
        if plain:
            assert str(key) == value
