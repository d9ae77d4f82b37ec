"""MobileNetworkTimeVerification (line tenure): its code table and its ``Range`` parser.

Its codes are not MobileStatus's (see :mod:`mobilestatus_pandas.service.codes`): here ``-1`` is an
invalid number format (unbilled), ``-2`` a number that does not exist and ``-3`` a number
whose tenure cannot be found (both billed), ``-4`` busy and ``-5`` the daily limit. The two
tables are kept apart on purpose: a shared one would bill the wrong codes.

A successful answer carries ``Range``, the tenure in months as an interval: ``[a,b)`` (at
least a months, under b months; ``b`` = ``+`` has no upper bound), as the current
documentation writes it; older texts wrote ``(a,b]``. :func:`parse_range` reads both, and
:func:`band_of` names the band the service's interval is (:data:`BANDS`).

>>> parse_range("[6,12)")
TenureRange(months_min=6, months_max=12, band='[6,12)')
>>> parse_range("[24,+)")
TenureRange(months_min=24, months_max=None, band='[24,+)')
>>> parse_range("")
TenureRange(months_min=None, months_max=None, band=None)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .codes import ResultCode

#: Every tenure status label, in the fixed order used for categories, tables and plots.
TENURE_STATUSES: Final[tuple[str, ...]] = (
    "known",
    "no_duration",
    "not_found",
    "unsupported",
    "invalid",
    "missing",
    "busy",
    "daily_limit",
    "error",
    "not_checked",
)

#: Tenure statuses that carry no answer about the line (reported apart, never cached).
TENURE_NO_ANSWER_STATES: Final[tuple[str, ...]] = (
    "missing",
    "busy",
    "daily_limit",
    "error",
    "not_checked",
)

#: Human-readable text for each tenure status label.
TENURE_STATUS_DESCRIPTIONS: Final[dict[str, str]] = {
    "known": "tenure found (Result 0): see range and band",
    "no_duration": "the number exists but its tenure cannot be found (Result -3)",
    "not_found": "the number does not exist (Result -2)",
    "unsupported": "number segment not supported (Result -13)",
    "invalid": "not a valid CN mobile number (Result -1 or locally invalid)",
    "missing": "no number given (empty, None, NaN)",
    "busy": "verification service busy after retries (Result -4)",
    "daily_limit": "daily verification limit reached (Result -5)",
    "error": "API or network failure after retries",
    "not_checked": "not looked up (budget reached, run stopped, not sampled)",
}

#: Result -> meaning, for MobileNetworkTimeVerification only. Billed: 0, -2, -3 (documented).
TENURE_RESULT_CODES: Final[dict[str, ResultCode]] = {
    "0": ResultCode("known", billed=True, final=True, retryable=False),
    "-2": ResultCode("not_found", billed=True, final=True, retryable=False),
    "-3": ResultCode("no_duration", billed=True, final=True, retryable=False),
    "-1": ResultCode("invalid", billed=False, final=True, retryable=False),
    "-4": ResultCode("busy", billed=False, final=False, retryable=True),
    "-5": ResultCode("daily_limit", billed=False, final=False, retryable=False),
    "-13": ResultCode("unsupported", billed=False, final=True, retryable=False),
}

#: The tenure bands the service answers with, shortest first (an ordered category).
BANDS: Final[tuple[str, ...]] = ("[0,3)", "[3,6)", "[6,12)", "[12,24)", "[24,+)")

#: Each band's bounds in months (``None``: no upper bound).
BAND_BOUNDS: Final[dict[str, tuple[int, int | None]]] = {
    "[0,3)": (0, 3),
    "[3,6)": (3, 6),
    "[6,12)": (6, 12),
    "[12,24)": (12, 24),
    "[24,+)": (24, None),
}

#: Tenure under this many months is a "new line" (a classic fraud signal).
NEW_LINE_MONTHS: Final = 6
#: The bands that are wholly under :data:`NEW_LINE_MONTHS`.
NEW_LINE_BANDS: Final[tuple[str, ...]] = tuple(
    band for band, (_, high) in BAND_BOUNDS.items() if high is not None and high <= NEW_LINE_MONTHS
)

#: Upper bounds meaning "no limit": ``+`` as documented; ``-1`` and ``∞`` as other vendors of
#: the same data write it.
_UNBOUNDED: Final = frozenset({"+", "+∞", "∞", "-1", "inf", "+inf"})
_RANGE_RE: Final = re.compile(
    r"^\s*(?P<open>[\[(])\s*(?P<low>\d+)\s*[,，]\s*(?P<high>[^\s\])]+)\s*(?P<close>[\])])\s*$"
)


@dataclass(frozen=True)
class TenureRange:
    """A parsed ``Range``: bounds in months and the band, each ``None`` when not known."""

    months_min: int | None
    months_max: int | None
    band: str | None


_NO_RANGE: Final = TenureRange(None, None, None)


def parse_range(text: str | None) -> TenureRange:
    """Read the service's ``Range`` text; empty, absent or unreadable text gives ``None`` s.

    ``[a,b)`` and ``(a,b]`` both give ``months_min=a`` and ``months_max=b`` (``None`` when
    ``b`` is ``+``); ``band`` is the one of :data:`BANDS` with those bounds, ``None`` for an
    interval the service does not usually answer with (its bounds are still given).
    """
    if text is None:
        return _NO_RANGE
    match = _RANGE_RE.match(str(text))
    if match is None:
        return _NO_RANGE
    low = int(match["low"])
    raw_high = match["high"].strip()
    if raw_high in _UNBOUNDED:
        high: int | None = None
    elif raw_high.isdigit():
        high = int(raw_high)
        if high <= low:
            return _NO_RANGE
    else:
        return _NO_RANGE
    return TenureRange(low, high, band_of(low, high))


def band_of(months_min: int, months_max: int | None) -> str | None:
    """The band of :data:`BANDS` with exactly these bounds, else ``None``."""
    for band, bounds in BAND_BOUNDS.items():
        if bounds == (months_min, months_max):
            return band
    return None


def is_readable_range(text: str | None) -> bool:
    """Whether ``text`` is an interval :func:`parse_range` can read."""
    return parse_range(text).months_min is not None
