"""Arbitrary values for property tests, and an oracle for the digits a value spells out."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from mobilestatus_pandas.service import numbers


def digits_in(value: object) -> str | None:
    """The number a value spells out, by a route independent of the code under test:
    Python's own str/int/Decimal, no regular expressions beyond digit extraction.

    ``None`` when the value cannot spell an exact number (the code must then send nothing).
    """
    if isinstance(value, (bool, np.bool_)) or value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value) or value != int(value) or abs(value) >= 2**53:
            return None
        return str(int(value))
    if isinstance(value, Decimal):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFKC", value).strip().lower()
    try:  # text that is a number (decimal or scientific): only its integral value counts
        exact = Decimal(text.replace(" ", ""))
    except ArithmeticError:
        exact = None
    if exact is not None and exact.is_finite() and "e" in text:
        # Scientific notation spells a number only when its mantissa writes every digit:
        # "1.38e10" has three digits, not the eleven of 13800000000.
        mantissa, _, exponent = text.replace(" ", "").partition("e")
        written = len(mantissa.partition(".")[2])
        if exact != exact.to_integral_value() or written < int(exponent):
            return None
        return str(int(exact))
    if exact is not None and exact.is_finite() and "." in text and exact == int(exact):
        text = text.split(".")[0]
    return "".join(ch for ch in text if ch.isdigit())


def strip_country_code(digits: str) -> str:
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + numbers.NATIONAL_DIGITS:
            return digits[len(prefix) :]
    return digits


def phone_like() -> st.SearchStrategy[object]:
    number = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
    return st.one_of(
        number,
        number.map(int),
        number.map(float),
        number.map(lambda n: f"+86 {n[:3]} {n[3:7]} {n[7:]}"),
        number.map(lambda n: f"{n[0]}.{n[1:]}E+10"),
        number.map(lambda n: f"{n[0]}.{n[1:6]}E+10"),
        number.map(lambda n: f"{n}；"),
        number.map(lambda n: f"-{n}"),
        st.from_regex(r"[+]?[0-9 ().,;eE\-]{0,20}", fullmatch=True),
    )


def scalar_values() -> st.SearchStrategy[object]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(),
        st.floats(width=32, allow_nan=False).map(np.float32),
        st.text(),
        st.binary(max_size=16),
        st.decimals(),
        st.just(pd.NA),
        st.sampled_from([pd.NaT, np.nan, np.datetime64("NaT"), float("-inf"), 2**53 + 1]),
        st.from_type(type).flatmap(st.from_type),  # objects of any type hypothesis can build
        phone_like(),
    )


def any_values() -> st.SearchStrategy[object]:
    return st.recursive(
        scalar_values(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.text(max_size=3), inner, max_size=2),
            st.frozensets(st.integers(), max_size=2),
            st.lists(st.integers(0, 9), max_size=3).map(np.array),
        ),
        max_leaves=4,
    )


def typed_columns() -> st.SearchStrategy[pd.Series]:
    """Columns of the dtypes phone numbers arrive in, holding numbers, junk and gaps."""
    number = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
    text = st.one_of(st.none(), st.text(max_size=20), number, phone_like().map(str))
    int64 = st.integers(-(2**63), 2**63 - 1)
    mobile_ints = number.map(int)
    return st.one_of(
        st.lists(st.one_of(int64, mobile_ints)).map(lambda v: pd.Series(v, dtype="int64")),
        st.lists(st.one_of(st.integers(0, 2**64 - 1), mobile_ints)).map(
            lambda v: pd.Series(v, dtype="uint64")
        ),
        st.lists(st.one_of(st.none(), int64, mobile_ints)).map(
            lambda v: pd.Series(v, dtype="Int64")
        ),
        st.lists(st.one_of(st.floats(), mobile_ints.map(float))).map(
            lambda v: pd.Series(v, dtype="float64")
        ),
        st.lists(text).map(lambda v: pd.Series(v, dtype="string")),
        st.lists(text).map(lambda v: pd.Series(v, dtype="category")),
        st.lists(text).map(lambda v: pd.Series(v, dtype=object)),
    )
