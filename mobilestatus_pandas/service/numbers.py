"""Normalise and validate Chinese mainland mobile numbers, a whole column at a time.

Spreadsheets and CRMs hand us numbers in every shape: ``+86 138-0013-8000``, ``0086 138 0013
8000``, ``tel:+8613800138000``, full-width digits, ``13800138000.0`` from Excel, ints, floats,
``None``. :func:`classify` turns each into its 11 national digits, or says why it is not one
(:data:`REASONS`): no number given, letters, an extension, another country, a landline, the
wrong length, digits lost on the way (a spreadsheet's ``1.38001E+10``), not a CN mobile range.
:func:`normalize` is its ``number`` column. Validity is libphonenumber's CN mobile pattern
(the ``phonenumbers`` metadata, compiled once), so a number the service would reject as
``Result -2`` is refused without paying for a call.

One rule runs through it: **a number is only ever made of digits that were in the input**.
Values that may have lost digits on the way (floats past their exact range, scientific
notation whose mantissa is shorter than the number, float text with a fraction) are refused
with the reason ``"digits lost"``, never rounded into a stranger's number; ``float32`` and
``float16`` columns, which cannot hold 11 digits at all, raise :class:`InputError`.

Everything works on the distinct values of a column and maps back with a join: a million rows
over twenty thousand numbers do twenty thousand values' work, in pyarrow's kernels (RE2).
"""

from __future__ import annotations

import numbers as abc_numbers
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError

#: Country calling code for China, and the international call prefix used there.
CN_COUNTRY_CODE: Final = "86"
#: Digits in a Chinese mainland mobile number (national form).
NATIONAL_DIGITS: Final = 11

# Why a value is not looked up: the ``description`` of its row. Order is the code order.
#: Empty, None, NaN, pd.NA, white space, or a placeholder such as "n/a" (status ``missing``).
NO_NUMBER: Final = "no number given"
#: A number with a country code other than +86.
FOREIGN: Final = "foreign country code"
#: A Chinese fixed-line number (area code and subscriber number).
LANDLINE: Final = "landline"
#: Digits only, but not 11 of them (after any +86 prefix).
WRONG_LENGTH: Final = "wrong length"
#: Digits may have been lost before we saw the value: floats past their exact range or with a
#: fraction, scientific notation whose mantissa does not carry every digit.
DIGITS_LOST: Final = "digits lost"
#: Letters among the digits.
LETTERS: Final = "letters"
#: A number followed by an extension (``ext 12``, ``x12``, ``#12``, ``转12``).
EXTENSION: Final = "extension"
#: 11 digits starting with 1, but not in a range libphonenumber knows as CN mobile.
NOT_MOBILE_RANGE: Final = "not a CN mobile range"
#: A negative number (``-13800138000``).
NEGATIVE: Final = "negative number"
#: Not a phone number at all: booleans, lists, dicts, sets, arrays, other objects, symbols.
NOT_A_NUMBER: Final = "not a phone number"
#: Every reason a value is refused without a call, in code order.
REASONS: Final[tuple[str, ...]] = (
    NO_NUMBER,
    FOREIGN,
    LANDLINE,
    WRONG_LENGTH,
    DIGITS_LOST,
    LETTERS,
    EXTENSION,
    NOT_MOBILE_RANGE,
    NEGATIVE,
    NOT_A_NUMBER,
)
_CODE: Final = {reason: np.int8(i) for i, reason in enumerate(REASONS)}
#: The reason code of a value that is a number (no reason).
NO_REASON: Final = np.int8(-1)

#: Text that means "no value" (pandas' read_csv defaults, lower-cased), and the empty string.
_MISSING_TEXT: Final = pa.array(
    sorted(
        {
            "", "#n/a", "#n/a n/a", "#na", "-1.#ind", "-1.#qnan", "-nan", "1.#ind",
            "1.#qnan", "<na>", "n/a", "na", "null", "nan", "none", "nil",
        }
    ),
    type=pa.string(),
)  # fmt: skip
# Characters that end a cell without being part of the number: list punctuation (ASCII and
# full-width; NFKC has already turned "，；" into ",;") and white space.
_TRAILING: Final = ",;\u3001\u3002 \t\r\n"
# Separators people put between digit groups: white space, dashes (ASCII and Unicode),
# dots, slashes, parentheses, brackets, underscores. (RE2 syntax: run by pyarrow.)
_SEPARATORS: Final = "[\\s\\-\u2010-\u2015\u2212\u30fc./()\\[\\]_]"
_TEL_PREFIX: Final = r"^tel:"
_NEGATIVE: Final = "^[-\u2212]\\s*\\d"
# "13800138000.0": a float printed by Excel or pandas; the fraction is zero.
_ZERO_FRACTION: Final = r"^(\d+)\.0*$"
# "13800138000.5": a float with a fraction is not a phone number that kept its digits. (Seven
# digits before the dot, so "138.00138000" still reads as dot-separated groups.)
_NONZERO_FRACTION: Final = r"^\d{7,}\.\d*[1-9]\d*$"
# "1.3800138e+10": scientific notation from a spreadsheet; see _from_scientific.
_SCIENTIFIC: Final = r"^\d(?:\.\d+)?e\+?\d{1,2}$"
_SCIENTIFIC_PARTS: Final = re.compile(r"^(\d)(?:\.(\d+))?e\+?(\d{1,2})$")
_EXTENSION: Final = (
    "\\d[\\s\\-.,]*(?:ext(?:ension|n)?\\.?|x|#|\u8f6c|\u5206\u673a)[\\s\\-.:]*\\d{1,6}$"
)
_LETTER: Final = r"\pL"
_NOT_DIGITS: Final = r"^\+?$|[^\d+]|.\+"
_INTERNATIONAL: Final = r"^(?:\+|00)"
_CN_INTERNATIONAL: Final = rf"^(?:\+|00){CN_COUNTRY_CODE}"
# An optional +86 / 0086 / 86 prefix, then 11 digits starting with 1.
_CN_MOBILE_SHAPE: Final = (
    rf"^(?:\+{CN_COUNTRY_CODE}|00{CN_COUNTRY_CODE}|{CN_COUNTRY_CODE})?(?P<national>1\d{{10}})$"
)
#: Integers a float64 holds exactly: below 2**53. Larger floats may have lost digits.
MAX_EXACT_FLOAT64: Final = 2**53


@lru_cache(maxsize=1)
def _cn_metadata() -> Any:
    import phonenumbers  # imported here: its metadata is large and only needed on first use

    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    if metadata is None or metadata.mobile is None:  # pragma: no cover - packaging error
        raise RuntimeError("phonenumbers has no CN mobile metadata; reinstall phonenumbers")
    return metadata


@lru_cache(maxsize=1)
def cn_mobile_pattern() -> re.Pattern[str]:
    """Return libphonenumber's CN mobile national-number pattern, compiled once."""
    return re.compile(rf"(?:{_cn_metadata().mobile.national_number_pattern})")


def _cn_fixed_line_pattern() -> str:
    """libphonenumber's CN fixed-line pattern (RE2), with an optional trunk 0."""
    return f"^0?(?:{_cn_metadata().fixed_line.national_number_pattern})$"


def string_dtype() -> pd.StringDtype[Any]:
    """The dtype of every string result column: pandas' string dtype, pyarrow-backed."""
    return pd.StringDtype("pyarrow")


def as_series(values: Iterable[Any] | pd.Series | object) -> pd.Series:
    """``values`` as a Series: a bare string, bytes or scalar is one value, never split."""
    if isinstance(values, pd.Series):
        return values
    if isinstance(values, pd.DataFrame):
        raise InputError("pass one column of phone numbers (a Series), not a DataFrame")
    if isinstance(values, (str, bytes, bytearray)) or not isinstance(values, Iterable):
        return pd.Series([values], dtype=object)
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise InputError(f"pass a 1-dimensional array of numbers, got shape {values.shape}")
        return pd.Series(values)
    if isinstance(values, (pd.Index, pd.api.extensions.ExtensionArray)):
        return pd.Series(values)
    return pd.Series(list(values), dtype=object)


def check_dtype(series: pd.Series) -> None:
    """Raise :class:`InputError` when the column's dtype cannot hold phone numbers.

    Strings, objects, integers and ``float64`` are read value by value; booleans, dates and
    floats narrower than 64 bits (which cannot hold 11 digits: ``float32`` keeps about 7)
    are refused, before anything is sent.
    """
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    name = series.name
    label = "the column" if name is None else f"column {name!r}"
    if pd.api.types.is_bool_dtype(dtype):
        raise InputError(f"{label} holds booleans, not phone numbers")
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        return
    if pd.api.types.is_integer_dtype(dtype):
        return
    if pd.api.types.is_float_dtype(dtype):
        extension: Any = dtype  # nullable and arrow float dtypes carry their numpy dtype
        numpy_dtype: Any = np.dtype(getattr(extension, "numpy_dtype", extension))
        if numpy_dtype.itemsize >= np.dtype(np.float64).itemsize:
            return
        digits = np.finfo(numpy_dtype).precision
        hint = repr(name if name is not None else "phone")
        raise InputError(
            f"{label} is {dtype}, which keeps only about {digits} significant digits: its "
            f"phone numbers have already lost digits (11 are needed), and looking them up "
            f"would pay for strangers' numbers. Read the column as text, e.g. "
            f"pd.read_csv(path, dtype={{{hint}: str}}) or "
            f"pd.read_excel(path, dtype={{{hint}: str}})."
        )
    raise InputError(f"{label} has dtype {dtype}; phone numbers must be strings or numbers")


@dataclass(frozen=True)
class Classified:
    """What :func:`classify_values` found: a number or a reason per distinct input value.

    Attributes:
        rows: per row, the position of its value among the distinct values; -1 for NA.
        national: per distinct value, its 11 national digits, or null.
        reason: per distinct value, its index in :data:`REASONS`, or -1 where ``national``
            is set (a number shaped like a CN mobile; its range is checked by :func:`is_valid`).
    """

    rows: np.ndarray
    national: pa.Array
    reason: np.ndarray

    def row_national(self) -> pa.Array:
        """The national number of each row (null where there is none)."""
        return pc.take(self.national, pa.array(self.rows, mask=self.rows < 0))

    def row_reason(self) -> np.ndarray:
        """The reason code of each row (:data:`NO_NUMBER` for NA rows, -1 for numbers)."""
        return row_reasons(self.rows, self.reason)


def row_reasons(rows: np.ndarray, reason: np.ndarray) -> np.ndarray:
    """Each row's reason code from its distinct value's (``rows``: positions among the
    distinct values, -1 for NA): :data:`NO_NUMBER` for NA rows, -1 for numbers."""
    present = rows >= 0
    out = np.full(len(rows), _CODE[NO_NUMBER], dtype=np.int8)
    out[present] = reason[rows[present]]
    return out


def arrow_text(values: pd.Series | pd.Index) -> pa.Array | None:
    """The values of an Arrow-backed string column as one Arrow string array (null for NA),
    or None for any other dtype."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    found = pa.array(values.array)
    if isinstance(found, pa.ChunkedArray):
        found = found.combine_chunks()
    return found.cast(pa.string())


#: The longest plain digit text :func:`digit_keys` keys by its integer (int64 holds 18 digits).
DIGIT_KEY_MAX: Final = 18


def digit_keys(text: pa.Array) -> np.ndarray:
    """Each text value's integer when it is plain ASCII digits, 1 to :data:`DIGIT_KEY_MAX`
    of them, not starting with 0 (so the integer gives back the text exactly); -1 for any
    other value (null, a leading zero, a sign, a separator, other scripts' digits)."""
    keys = np.full(len(text), -1, dtype=np.int64)
    if not len(text):
        return keys
    plain = pc.and_(
        pc.and_(pc.ascii_is_decimal(text), pc.less_equal(pc.binary_length(text), DIGIT_KEY_MAX)),
        pc.invert(pc.starts_with(text, "0")),
    )
    mask = np.asarray(pc.fill_null(plain, False).to_numpy(zero_copy_only=False), dtype=bool)
    if mask.any():
        whole = pc.cast(pc.filter(text, pa.array(mask)), pa.int64())
        keys[mask] = whole.to_numpy(zero_copy_only=False)
    return keys


def distinct_values(values: Iterable[Any] | pd.Series | object) -> tuple[np.ndarray, pd.Series]:
    """Each row's position among the column's distinct values (-1 for NA), and those values
    in order of first appearance (a categorical's categories as they are).

    Raises :class:`InputError` for a dtype that cannot hold phone numbers (:func:`check_dtype`).
    """
    series = as_series(values)
    check_dtype(series)
    if isinstance(series.dtype, pd.CategoricalDtype):
        # The categories are the distinct values already.
        return series.cat.codes.to_numpy().astype(np.intp), pd.Series(series.cat.categories)
    try:
        rows, uniques = pd.factorize(series, use_na_sentinel=True)
    except (TypeError, OverflowError):
        # Unhashable values (lists, dicts, arrays) are refused one by one; integers too
        # large for pandas 2.2's factorize (it tries them as floats) stand in as text.
        rows, uniques = pd.factorize(series.map(_factorizable), use_na_sentinel=True)
    return np.asarray(rows, dtype=np.intp), pd.Series(uniques)


def classify_values(values: Iterable[Any] | pd.Series | object) -> Classified:
    """Classify each distinct value once (see :func:`classify`): the engine's entry point.

    Raises :class:`InputError` only for a dtype that cannot hold phone numbers
    (:func:`check_dtype`); every value of a usable column gets a number or a reason.
    """
    rows, distinct = distinct_values(values)
    national, reason = classify_distinct(distinct)
    return Classified(rows, national, reason)


def classify(values: Iterable[Any] | pd.Series | object) -> pd.DataFrame:
    """Each value's number and, when it would not be looked up, why not.

    Returns a frame indexed like ``values`` with ``number`` (11 digits, string dtype,
    ``<NA>`` where there is none), ``valid`` (a CN mobile number: it would be sent) and
    ``reason`` (one of :data:`REASONS`, ``<NA>`` for valid numbers).

    >>> classify(["+86 138-0013-8000", "", "1.38001E+10", "+1 415 555 0100"]).reason.tolist()
    [<NA>, 'no number given', 'digits lost', 'foreign country code']
    """
    series = as_series(values)
    found = classify_values(series)
    distinct_numbers = pd.Series(pd.arrays.ArrowStringArray(found.national), copy=False)
    in_range = is_valid(distinct_numbers).to_numpy(dtype=bool)
    reason = np.where(
        (found.reason < 0) & ~in_range & distinct_numbers.notna().to_numpy(),
        _CODE[NOT_MOBILE_RANGE],
        found.reason,
    ).astype(np.int8)
    present = found.rows >= 0
    row_reason = np.full(len(found.rows), _CODE[NO_NUMBER], dtype=np.int8)
    row_reason[present] = reason[found.rows[present]]
    labels = pc.take(pa.array(REASONS, type=pa.string()), pa.array(row_reason, mask=row_reason < 0))
    return pd.DataFrame(
        {
            "number": pd.arrays.ArrowStringArray(found.row_national()),
            "valid": pd.array(row_reason < 0, dtype="boolean"),
            "reason": pd.arrays.ArrowStringArray(labels),
        },
        index=series.index,
    )


def normalize(values: Iterable[Any] | pd.Series | object) -> pd.Series:
    """Return the 11-digit national form of each value, ``<NA>`` where it is not one.

    The result has the pandas string dtype and, for a Series input, the same index and name.
    :func:`classify` says why a value has no number.

    >>> normalize(["+86 138-0013-8000", "tel:0086 13800138000", 13800138000.0, "n/a"]).tolist()
    ['13800138000', '13800138000', '13800138000', <NA>]
    """
    series = as_series(values)
    national = classify_values(series).row_national()
    return pd.Series(
        pd.arrays.ArrowStringArray(national), index=series.index, name=series.name, copy=False
    )


def is_valid(national: pd.Series) -> pd.Series:
    """Return a boolean Series: does each normalised number match the CN mobile pattern?

    ``<NA>`` inputs are not valid. Works on the distinct values of the column.
    """
    codes, uniques = pd.factorize(national, use_na_sentinel=True)
    valid = in_mobile_range(pa.array(np.asarray(uniques, dtype=object), type=pa.string()))
    out = np.zeros(len(codes), dtype=bool)
    present = codes >= 0
    out[present] = valid[codes[present]]
    return pd.Series(out, index=national.index, dtype="boolean", name=national.name)


def in_mobile_range(national: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """:func:`is_valid` of normalised numbers as Arrow strings, one by one (null: False)."""
    pattern = f"^{cn_mobile_pattern().pattern}$"
    valid = pc.fill_null(pc.match_substring_regex(national, pattern), False)
    return np.asarray(valid.to_numpy(zero_copy_only=False), dtype=bool)


def normalize_one(value: Any) -> str | None:
    """Normalise one value; ``None`` when it is not a Chinese mobile number.

    The value is one value whatever it is: a list is not a column of numbers here.
    """
    result = normalize(pd.Series([value], dtype=object)).iloc[0]
    return None if pd.isna(result) else str(result)


def is_valid_one(national: str | None) -> bool:
    """Whether one normalised number matches the CN mobile pattern."""
    return national is not None and cn_mobile_pattern().fullmatch(national) is not None


# -- the work, on distinct values -------------------------------------------------------------


class _Unhashable:
    """Stands for every unhashable value (list, dict, set, array): not a phone number."""

    def __repr__(self) -> str:
        return "<unhashable>"


_UNHASHABLE: Final = _Unhashable()
_type_of: Final = np.frompyfunc(type, 1, 1)


def _hashable_or_marker(value: object) -> object:
    try:
        hash(value)
    except TypeError:
        return _UNHASHABLE
    return value


#: Integers this large are no phone number (more than 11 digits after any +86 whatever they
#: are); pandas 2.2 cannot factorize them, so they stand in as too-long digit text.
_HUGE_INT: Final = 2**63
_HUGE_INT_TEXT: Final = "9" * 20


def _factorizable(value: object) -> object:
    """``value`` as ``pd.factorize`` can take it, classified the same (see classify_values)."""
    if isinstance(value, int) and abs(value) >= _HUGE_INT:
        return ("-" if value < 0 else "") + _HUGE_INT_TEXT
    return _hashable_or_marker(value)


def _exact_float_limit(dtype: np.dtype[Any]) -> float:
    """Integers below this are exact in ``dtype`` (2**53 for float64, 2**24 for float32)."""
    return float(2 ** (np.finfo(dtype).nmant + 1))


def _floats_as_text(floats: np.ndarray, reason: np.ndarray, limit: float) -> np.ndarray:
    """Exact whole floats as digit strings (None elsewhere); set the others' reasons."""
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(floats)
        whole = finite & (np.floor(floats) == floats)
        exact = whole & (np.abs(floats) < limit)
    reason[:] = np.where(exact, reason, np.where(finite, _CODE[DIGITS_LOST], _CODE[NOT_A_NUMBER]))
    reason[:] = np.where(~exact & finite & (floats < 0), _CODE[NEGATIVE], reason)
    ints = np.where(exact, floats, 0).astype(np.int64)
    text = np.asarray(pc.cast(pa.array(ints), pa.string()).to_numpy(zero_copy_only=False))
    out: np.ndarray = np.where(exact, text, np.array(None, dtype=object))
    return out


def _scalar_as_text(value: object) -> tuple[str | None, np.int8]:
    """The text of one value of an unusual type, or the reason it has none."""
    if isinstance(value, (bool, np.bool_)) or value is _UNHASHABLE:
        return None, _CODE[NOT_A_NUMBER]
    if isinstance(value, str):
        return str(value), NO_REASON
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8"), NO_REASON
        except UnicodeDecodeError:
            return None, _CODE[NOT_A_NUMBER]
    if isinstance(value, abc_numbers.Integral):
        try:
            return str(int(value)), NO_REASON
        except ValueError:  # more digits than Python prints: not a phone number's length
            return None, _CODE[WRONG_LENGTH]
    if isinstance(value, (float, np.floating)):
        reason = np.full(1, NO_REASON, dtype=np.int8)
        dtype = np.dtype(type(value)) if isinstance(value, np.floating) else np.dtype(np.float64)
        text = _floats_as_text(
            np.array([value], dtype=np.float64), reason, _exact_float_limit(dtype)
        )
        return text[0], reason[0]
    if isinstance(value, Decimal):
        return (None, _CODE[NO_NUMBER]) if value.is_nan() else (str(value), NO_REASON)
    return None, _CODE[NOT_A_NUMBER]


def _as_text(values: pd.Series, reason: np.ndarray) -> pa.Array:
    """Each distinct value as text, the way a person would read it; null where a value's
    type already decides (its reason is set in ``reason``)."""
    dtype = values.dtype
    if pd.api.types.is_integer_dtype(dtype):
        return pc.cast(pa.array(values, from_pandas=True), pa.string())
    if pd.api.types.is_float_dtype(dtype):
        floats = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return pa.array(_floats_as_text(floats, reason, MAX_EXACT_FLOAT64), type=pa.string())
    if not pd.api.types.is_object_dtype(dtype):  # strings
        return pc.cast(pa.array(values, from_pandas=True), pa.string())
    objects = values.to_numpy(dtype=object)
    kinds = _type_of(objects)
    text = np.full(len(objects), None, dtype=object)
    is_str = kinds == str  # noqa: E721 - exact type, elementwise: np.str_ goes the slow way
    text[is_str] = objects[is_str]
    is_float = kinds == float  # noqa: E721
    if is_float.any():
        float_reason = reason[is_float]
        text[is_float] = _floats_as_text(
            objects[is_float].astype(np.float64), float_reason, MAX_EXACT_FLOAT64
        )
        reason[is_float] = float_reason
    is_int = kinds == int  # noqa: E721
    if is_int.any():
        try:
            text[is_int] = list(map(str, objects[is_int]))
        except ValueError:  # more digits than Python prints: one by one below
            is_int[:] = False
    other = np.flatnonzero(~(is_str | is_float | is_int))
    for i in other:  # the unusual types: usually few
        text[i], reason[i] = _scalar_as_text(objects[i])
    return pa.array(text, type=pa.string())


def _from_scientific(text: pa.Array, reason: np.ndarray) -> pa.Array:
    """Spell out scientific notation whose mantissa carries every digit; refuse the rest.

    ``1.3800138000E+10`` is ``13800138000``; ``1.38001E+10`` (Excel's six digits) could be
    any of a hundred thousand numbers: ``"digits lost"``, never ``13800100000``.
    """
    scientific = pc.fill_null(pc.match_substring_regex(text, _SCIENTIFIC), False)
    positions = np.flatnonzero(scientific.to_numpy(zero_copy_only=False))
    if not len(positions):
        return text
    values = text.to_pylist()
    for i in positions:
        match = _SCIENTIFIC_PARTS.match(values[i])
        assert match is not None  # the RE2 pattern above matched
        lead, fraction, exponent = match.group(1), match.group(2) or "", int(match.group(3))
        if len(fraction) >= exponent and not fraction[exponent:].strip("0"):
            values[i] = lead + fraction[:exponent]
        else:
            values[i] = None
            reason[i] = _CODE[DIGITS_LOST]
    return pa.array(values, type=pa.string())


def _matches(text: pa.Array, pattern: str) -> np.ndarray:
    found = pc.fill_null(pc.match_substring_regex(text, pattern), False)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def classify_distinct(values: pd.Series) -> tuple[pa.Array, np.ndarray]:
    """Normalise distinct, non-missing values (any types): 11-digit strings or a reason.

    Every step runs in pyarrow's compute kernels (RE2), not in a Python loop, except for
    values of unusual types and scientific notation.
    """
    reason = np.full(len(values), NO_REASON, dtype=np.int8)
    text = _as_text(values, reason)
    text = pc.utf8_trim_whitespace(pc.utf8_normalize(text, "NFKC"))
    text = pc.utf8_rtrim(pc.utf8_lower(text), _TRAILING)
    blank = pc.fill_null(pc.is_in(text, _MISSING_TEXT), False).to_numpy(zero_copy_only=False)
    reason[blank & (reason < 0)] = _CODE[NO_NUMBER]
    text = pc.replace_substring_regex(text, _TEL_PREFIX, "")
    negative = _matches(text, _NEGATIVE)
    reason[negative & (reason < 0)] = _CODE[NEGATIVE]
    text = pc.replace_substring_regex(text, _ZERO_FRACTION, r"\1")
    text = _from_scientific(text, reason)
    digits = pc.replace_substring_regex(text, _SEPARATORS, "")
    national = pc.struct_field(pc.extract_regex(digits, _CN_MOBILE_SHAPE), "national")

    # Why the rest are not numbers: worked out on those alone (usually few).
    has_number = national.is_valid().to_numpy(zero_copy_only=False)
    rest = np.flatnonzero(~has_number & (reason < 0))
    if len(rest):
        reason[rest] = _reasons(pc.take(text, pa.array(rest)), pc.take(digits, pa.array(rest)))
    refused = reason >= 0
    if refused.any():
        national = pc.if_else(pa.array(refused), pa.nulls(len(national), pa.string()), national)
    return national, reason


def _reasons(text: pa.Array, digits: pa.Array) -> np.ndarray:
    """The reason each of these values (text, and text without separators) is not a number."""
    national = pc.replace_substring_regex(digits, rf"^(?:\+|00){CN_COUNTRY_CODE}", "")
    length = np.asarray(pc.utf8_length(national).to_numpy(zero_copy_only=False))
    no_digits = _matches(digits, r"^\+?$")
    # The first rule that holds gives the reason.
    rules = [
        (no_digits & ~_matches(text, _LETTER), NO_NUMBER),
        (_matches(text, _NONZERO_FRACTION), DIGITS_LOST),
        (_matches(text, _EXTENSION), EXTENSION),
        (_matches(digits, _LETTER), LETTERS),
        (_matches(digits, _NOT_DIGITS), NOT_A_NUMBER),
        (_matches(digits, _INTERNATIONAL) & ~_matches(digits, _CN_INTERNATIONAL), FOREIGN),
        (_matches(national, _cn_fixed_line_pattern()), LANDLINE),
        (length != NATIONAL_DIGITS, WRONG_LENGTH),
    ]
    return np.select(
        [holds for holds, _ in rules],
        [_CODE[reason] for _, reason in rules],
        default=_CODE[NOT_MOBILE_RANGE],
    ).astype(np.int8)
