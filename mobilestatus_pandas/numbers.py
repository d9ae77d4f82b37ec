"""Normalise and validate Chinese mainland mobile numbers, a whole column at a time.

Spreadsheets and CRMs hand us numbers in every shape: ``+86 138-0013-8000``, ``0086 138 0013
8000``, ``tel:+8613800138000``, full-width digits, ``13800138000.0`` or ``1.3800138E+10`` from
Excel, ints, floats, ``None``. :func:`normalize` turns each into its 11 national digits, or
``<NA>`` when it is not a Chinese mobile number at all (letters, extensions, other countries,
too short or too long). :func:`is_valid` then checks the digits against libphonenumber's CN
mobile pattern (the ``phonenumbers`` metadata, compiled once), so a number the service would
reject as ``Result -2`` is marked invalid without paying for a call.

Both work on the distinct values of a column and map back with a join: a million rows over
twenty thousand numbers do twenty thousand values' work.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: Country calling code for China, and the international call prefix used there.
CN_COUNTRY_CODE: Final = "86"

# Separators people put between digit groups: white space, dashes (ASCII and Unicode),
# dots, slashes, parentheses, brackets, underscores. (RE2 syntax: run by pyarrow.)
_SEPARATORS: Final = "[\\s\\-\u2010-\u2015\u2212\u30fc./()\\[\\]_]"
_TEL_PREFIX: Final = r"^tel:"
# "13800138000.0" (a float printed by Excel or pandas)
_FLOAT_SUFFIX: Final = r"^(\d+)\.0*$"
# "1.3800138e+10" (scientific notation from a spreadsheet)
_SCIENTIFIC: Final = r"^\d(?:\.\d+)?e\+?\d{1,2}$"
# An optional +86 / 0086 / 86 prefix, then 11 digits starting with 1.
_CN_MOBILE_SHAPE: Final = (
    rf"^(?:\+{CN_COUNTRY_CODE}|00{CN_COUNTRY_CODE}|{CN_COUNTRY_CODE})?(?P<national>1\d{{10}})$"
)
#: Floats at or above this lose integer precision; they are not phone numbers.
_MAX_EXACT_FLOAT: Final = 1e16


@lru_cache(maxsize=1)
def cn_mobile_pattern() -> re.Pattern[str]:
    """Return libphonenumber's CN mobile national-number pattern, compiled once."""
    import phonenumbers  # imported here: its metadata is large and only needed on first use

    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    if metadata is None or metadata.mobile is None:  # pragma: no cover - packaging error
        raise RuntimeError("phonenumbers has no CN mobile metadata; reinstall phonenumbers")
    return re.compile(rf"(?:{metadata.mobile.national_number_pattern})")


def string_dtype() -> pd.StringDtype[Any]:
    """The dtype of every string result column: pandas' string dtype, pyarrow-backed."""
    return pd.StringDtype("pyarrow")


def _whole_floats_as_text(floats: np.ndarray) -> pa.Array:
    """Integral, exactly representable floats as digit strings; null for the rest."""
    whole = np.isfinite(floats) & (np.floor(floats) == floats) & (np.abs(floats) < _MAX_EXACT_FLOAT)
    ints = np.where(whole, floats, 0).astype(np.int64)
    return pc.if_else(
        pa.array(whole), pc.cast(pa.array(ints), pa.string()), pa.nulls(len(ints), pa.string())
    )


def _as_text(values: pd.Series) -> pa.Array:
    """Each distinct value as text, the way a person would read it."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return pa.nulls(len(values), pa.string())
    if pd.api.types.is_integer_dtype(dtype):
        return pc.cast(pa.array(values.astype("int64").to_numpy()), pa.string())
    if pd.api.types.is_float_dtype(dtype):
        return _whole_floats_as_text(values.astype("float64").to_numpy())
    # Strings, or mixed objects: str() prints ints and floats as "13800138000",
    # "13800138000.0" or "1.3800138e+10" (handled below) and booleans as "True" (not digits).
    return pa.array(values.astype(str).to_numpy(dtype=object), type=pa.string())


def _normalize_distinct(values: pd.Series) -> pa.Array:
    """Normalise distinct, non-missing values (any types) to 11-digit strings or null.

    Every step runs in pyarrow's compute kernels (RE2), not in a Python loop.
    """
    text = _as_text(values)
    text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.utf8_normalize(text, "NFKC")))
    text = pc.replace_substring_regex(text, _TEL_PREFIX, "")
    text = pc.replace_substring_regex(text, _FLOAT_SUFFIX, r"\1")
    scientific = pc.fill_null(pc.match_substring_regex(text, _SCIENTIFIC), False)
    if pc.any(scientific).as_py():
        floats = pc.cast(pc.if_else(scientific, text, "nan"), pa.float64()).to_numpy(
            zero_copy_only=False
        )
        text = pc.if_else(scientific, _whole_floats_as_text(floats), text)
    text = pc.replace_substring_regex(text, _SEPARATORS, "")
    return pc.struct_field(pc.extract_regex(text, _CN_MOBILE_SHAPE), "national")


def normalize(values: Iterable[Any] | pd.Series) -> pd.Series:
    """Return the 11-digit national form of each value, ``<NA>`` where it is not one.

    The result has the pandas string dtype and, for a Series input, the same index and name.

    >>> normalize(["+86 138-0013-8000", "tel:0086 13800138000", 13800138000.0, "n/a"]).tolist()
    ['13800138000', '13800138000', '13800138000', <NA>]
    """
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if isinstance(series.dtype, pd.CategoricalDtype):
        # The categories are the distinct values already.
        distinct = pd.Series(series.cat.categories)
        codes = series.cat.codes.to_numpy()
    else:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        distinct = pd.Series(uniques)
    normalized = pc.take(_normalize_distinct(distinct), pa.array(codes, mask=codes < 0))
    return pd.Series(
        pd.arrays.ArrowStringArray(normalized), index=series.index, name=series.name, copy=False
    )


def is_valid(national: pd.Series) -> pd.Series:
    """Return a boolean Series: does each normalised number match the CN mobile pattern?

    ``<NA>`` inputs are not valid. Works on the distinct values of the column.
    """
    codes, uniques = pd.factorize(national, use_na_sentinel=True)
    distinct = pa.array(np.asarray(uniques, dtype=object), type=pa.string())
    pattern = f"^{cn_mobile_pattern().pattern}$"
    valid = pc.fill_null(pc.match_substring_regex(distinct, pattern), False)
    out = np.zeros(len(codes), dtype=bool)
    present = codes >= 0
    out[present] = valid.to_numpy(zero_copy_only=False)[codes[present]]
    return pd.Series(out, index=national.index, dtype="boolean", name=national.name)


def normalize_one(value: Any) -> str | None:
    """Normalise one value; ``None`` when it is not a Chinese mobile number."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    result = normalize(pd.Series([value], dtype=object)).iloc[0]
    return None if pd.isna(result) else str(result)


def is_valid_one(national: str | None) -> bool:
    """Whether one normalised number matches the CN mobile pattern."""
    return national is not None and cn_mobile_pattern().fullmatch(national) is not None
