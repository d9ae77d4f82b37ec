"""The answer for one number, and the result columns it becomes in a DataFrame."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final

import pandas as pd

from .codes import STATUSES
from .numbers import NO_NUMBER, NOT_A_NUMBER, NOT_MOBILE_RANGE

#: The result columns, in order, without prefix.
RESULT_COLUMNS: Final[tuple[str, ...]] = (
    "number",
    "valid",
    "result",
    "description",
    "status_code",
    "status",
    "billed",
    "from_cache",
    "checked_at",
    "request_id",
    "error",
)

#: The result column (after the prefix) of the keyed hash of the number: the number's identity
#: for statistics (rows that share it are one cluster), kept when the number is dropped.
KEY_COLUMN: Final = "key"
#: The key under which a result frame's ``attrs`` carry the run report.
ATTRS_KEY: Final = "mobilestatus"
#: Costs are money: rounded to cents wherever they are reported.
COST_DECIMALS: Final = 2


def round_cost(value: float) -> float:
    """A cost rounded to cents (``0.1 * 1271`` is 127.10000000000001 in floating point)."""
    return round(float(value), COST_DECIMALS)


def plain(row: Mapping[Any, Any], name: str) -> Any:
    """``row[name]`` as plain Python: pandas' missing markers (``None``, ``<NA>``, ``NaT``)
    become ``None``, anything else is returned as it is.

    >>> row = {"result": pd.NA, "checked_at": pd.NaT, "description": "ok"}
    >>> plain(row, "result"), plain(row, "checked_at"), plain(row, "description")
    (None, None, 'ok')
    """
    value = row[name]
    return None if value is None or value is pd.NA or value is pd.NaT else value


def _whole(row: Mapping[Any, Any], name: str) -> int | None:
    """``row[name]`` as an int, or ``None`` where it is missing."""
    value = plain(row, name)
    return None if value is None else int(value)


@dataclass(frozen=True)
class LookupResult:
    """What is known about one number after a lookup.

    Attributes:
        number: the normalised 11-digit number, or ``None`` when the input was not a number.
        valid: whether the number is a CN mobile number (locally, or by the service's answer).
        result: the service's ``Result`` code (``"0"``, ``"-1"``, ...), ``None`` without an answer.
        description: the service's ``Description``, or our reason when there was no call.
        status_code: the service's ``StatusCode`` (line state for Result ``"0"``).
        status: one of :data:`mobilestatus_pandas.STATUSES`.
        billed: the call was billed (Result ``"0"``) in this lookup; ``False`` for cache hits;
            ``None`` (``<NA>`` in a frame) when a call was sent and got no answer: possibly
            billed.
        from_cache: the answer came from the cache, no call was made.
        checked_at: when the service gave this answer (UTC), ``None`` without an answer.
        request_id: the ``RequestId`` of the answering call.
        error: the error code or reason when the lookup did not give a line state.
    """

    number: str | None
    valid: bool
    result: str | None
    description: str | None
    status_code: int | None
    status: str
    billed: bool | None
    from_cache: bool
    checked_at: datetime | None
    request_id: str | None
    error: str | None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> LookupResult:
        """Build from one row of a result frame (pandas scalars and ``<NA>`` included)."""
        checked_at = plain(row, "checked_at")
        return cls(
            number=plain(row, "number"),
            valid=bool(plain(row, "valid")),
            result=plain(row, "result"),
            description=plain(row, "description"),
            status_code=_whole(row, "status_code"),
            status=str(row["status"]),
            billed=None if plain(row, "billed") is None else bool(row["billed"]),
            from_cache=bool(plain(row, "from_cache")),
            checked_at=None if checked_at is None else checked_at.to_pydatetime(),
            request_id=plain(row, "request_id"),
            error=plain(row, "error"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict, in column order."""
        return asdict(self)

    @classmethod
    def unchecked(cls, number: str | None, valid: bool, reason: str) -> LookupResult:
        """A number that was not looked up (budget reached, run stopped)."""
        return cls(number, valid, None, None, None, "not_checked", False, False, None, None, reason)

    @classmethod
    def refused(cls, number: str | None, reason: str) -> LookupResult:
        """A value not looked up because of what it is: ``reason`` is one of
        :data:`mobilestatus_pandas.service.numbers.REASONS`. "no number given" is status
        ``missing``,
        every other reason ``invalid``."""
        status = "missing" if reason == NO_NUMBER else "invalid"
        return cls(number, False, None, reason, None, status, False, False, None, None, None)

    @classmethod
    def invalid(cls, number: str | None) -> LookupResult:
        """A value that is not a CN mobile number, decided without a call."""
        return cls.refused(number, NOT_A_NUMBER if number is None else NOT_MOBILE_RANGE)


@dataclass(frozen=True)
class TenureResult:
    """What is known about one number's tenure after a MobileNetworkTimeVerification lookup.

    The fields shared with :class:`LookupResult` mean the same (``billed`` is ``True`` for
    Results 0, -2 and -3, the ones this API bills). Its own:

    Attributes:
        range: the service's ``Range`` text (e.g. ``"[6,12)"``), ``None`` without one.
        months_min: at least this many months on the network.
        months_max: under this many months (``None``: no upper bound, or no tenure).
        band: one of :data:`mobilestatus_pandas.service.tenure.BANDS`, ``None`` without one.
        status: one of :data:`mobilestatus_pandas.service.tenure.TENURE_STATUSES`.
    """

    number: str | None
    valid: bool
    result: str | None
    description: str | None
    range: str | None
    months_min: int | None
    months_max: int | None
    band: str | None
    status: str
    billed: bool | None
    from_cache: bool
    checked_at: datetime | None
    request_id: str | None
    error: str | None

    def __post_init__(self) -> None:
        from .tenure import TENURE_STATUSES

        if self.status not in TENURE_STATUSES:
            raise ValueError(f"unknown tenure status {self.status!r}")

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> TenureResult:
        """Build from one row of a tenure result frame (without prefix)."""
        checked_at = plain(row, "checked_at")
        band = plain(row, "band")
        return cls(
            number=plain(row, "number"),
            valid=bool(plain(row, "valid")),
            result=plain(row, "result"),
            description=plain(row, "description"),
            range=plain(row, "range"),
            months_min=_whole(row, "months_min"),
            months_max=_whole(row, "months_max"),
            band=None if band is None else str(band),
            status=str(row["status"]),
            billed=None if plain(row, "billed") is None else bool(row["billed"]),
            from_cache=bool(plain(row, "from_cache")),
            checked_at=None if checked_at is None else pd.Timestamp(checked_at).to_pydatetime(),
            request_id=plain(row, "request_id"),
            error=plain(row, "error"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict, in column order."""
        return asdict(self)

    @classmethod
    def unchecked(cls, number: str | None, valid: bool, reason: str) -> TenureResult:
        """A number that was not looked up (budget reached, run stopped, not sampled)."""
        return cls(number, valid, None, None, None, None, None, None, "not_checked", False,
                   False, None, None, reason)  # fmt: skip

    @classmethod
    def refused(cls, number: str | None, reason: str) -> TenureResult:
        """A value not looked up because of what it is (see :meth:`LookupResult.refused`)."""
        status = "missing" if reason == NO_NUMBER else "invalid"
        return cls(number, False, None, reason, None, None, None, None, status, False, False,
                   None, None, None)  # fmt: skip

    @classmethod
    def invalid(cls, number: str | None) -> TenureResult:
        """A value that is not a CN mobile number, decided without a call."""
        return cls.refused(number, NOT_A_NUMBER if number is None else NOT_MOBILE_RANGE)
