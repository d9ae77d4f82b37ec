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

#: Country calling code for China, and the international call prefix used there.
CN_COUNTRY_CODE: Final = "86"
NATIONAL_NUMBER_LENGTH: Final = 11

# Separators people put between digit groups: white space, dashes (ASCII and Unicode),
# dots, slashes, parentheses, underscores.
_SEPARATORS: Final = r"[\s\-\u2010-\u2015\u2212\u30fc./()\[\]_]"
_TEL_PREFIX: Final = r"^tel:"
# "13800138000.0" (a float printed by Excel or pandas)
_FLOAT_SUFFIX: Final = r"^(\d+)\.0*$"
# "1.3800138e+10" (scientific notation from a spreadsheet)
_SCIENTIFIC: Final = r"^\d(?:\.\d+)?e\+?\d{1,2}$"
# An optional +86 / 0086 / 86 prefix, then 11 digits starting with 1.
_CN_MOBILE_SHAPE: Final = (
    rf"^(?:\+{CN_COUNTRY_CODE}|00{CN_COUNTRY_CODE}|{CN_COUNTRY_CODE})?(1\d{{10}})$"
)


@lru_cache(maxsize=1)
def cn_mobile_pattern() -> re.Pattern[str]:
    """Return libphonenumber's CN mobile national-number pattern, compiled once."""
    import phonenumbers  # imported here: its metadata is large and only needed on first use

    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    if metadata is None or metadata.mobile is None:  # pragma: no cover - packaging error
        raise RuntimeError("phonenumbers has no CN mobile metadata; reinstall phonenumbers")
    return re.compile(rf"(?:{metadata.mobile.national_number_pattern})")


def _string_dtype() -> pd.StringDtype[Any]:
    """The pandas string dtype for results (pyarrow-backed when pyarrow is installed)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return pd.StringDtype("python")
    return pd.StringDtype("pyarrow")


def _normalize_distinct(values: pd.Series) -> pd.Series:
    """Normalise a Series of distinct, non-missing values (any types) to 11-digit strings."""
    if values.empty:
        return pd.Series([], index=values.index, dtype=_string_dtype())
    if pd.api.types.is_bool_dtype(values.dtype):
        return pd.Series(pd.NA, index=values.index, dtype=_string_dtype())
    if pd.api.types.is_integer_dtype(values.dtype):
        text = values.astype("int64").astype(str)
    elif pd.api.types.is_float_dtype(values.dtype):
        floats = values.astype("float64")
        whole = np.isfinite(floats) & (np.floor(floats) == floats) & (floats.abs() < 1e16)
        text = pd.Series("", index=values.index, dtype=object)
        text[whole] = floats[whole].astype("int64").astype(str)
    else:
        # Mixed objects: booleans are never numbers; everything else is read as text
        # (ints and floats print as "13800138000" / "13800138000.0" / "1.3800138e+10").
        is_bool = values.map(lambda v: isinstance(v, (bool, np.bool_)))
        text = values.astype(str).where(~is_bool.astype(bool), "")
    text = text.astype(_string_dtype())

    text = text.str.normalize("NFKC").str.strip().str.lower()
    text = text.str.replace(_TEL_PREFIX, "", regex=True)
    text = text.str.replace(_FLOAT_SUFFIX, r"\1", regex=True)
    scientific = text.str.fullmatch(_SCIENTIFIC).fillna(False).astype(bool)
    if scientific.any():
        floats = pd.to_numeric(text[scientific], errors="coerce").astype("float64")
        whole = np.isfinite(floats) & (np.floor(floats) == floats) & (floats.abs() < 1e16)
        fixed = pd.Series(pd.NA, index=floats.index, dtype=_string_dtype())
        fixed[whole] = floats[whole].astype("int64").astype(str)
        text[scientific] = fixed
    text = text.str.replace(_SEPARATORS, "", regex=True)
    national = text.str.extract(_CN_MOBILE_SHAPE, expand=False)
    return national.astype(_string_dtype())


def normalize(values: Iterable[Any] | pd.Series) -> pd.Series:
    """Return the 11-digit national form of each value, ``<NA>`` where it is not one.

    The result has the pandas string dtype and, for a Series input, the same index.

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
        if distinct.dtype == object:
            distinct = distinct.infer_objects()
    normalized = _normalize_distinct(distinct).astype(_string_dtype())
    taken = normalized.array.take(codes, allow_fill=True)  # code -1 (missing) -> <NA>
    return pd.Series(taken, index=series.index, name=series.name)


def is_valid(national: pd.Series) -> pd.Series:
    """Return a boolean Series: does each normalised number match the CN mobile pattern?

    ``<NA>`` inputs are not valid. Works on the distinct values of the column.
    """
    codes, uniques = pd.factorize(national, use_na_sentinel=True)
    distinct = pd.Series(uniques, dtype=_string_dtype())
    valid = distinct.str.fullmatch(cn_mobile_pattern().pattern).fillna(False).to_numpy(dtype=bool)
    out = np.zeros(len(codes), dtype=bool)
    present = codes >= 0
    out[present] = valid[codes[present]]
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
