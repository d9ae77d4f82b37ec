"""What the sandbox answers for a number: the documented examples, magic test numbers, and a
deterministic spread of answers for every other valid number, for each action it serves.

Like a payment provider's test cards, the magic numbers give every Result and StatusCode on
demand. Every other number that passes libphonenumber's CN mobile pattern gets a line state
chosen by a hash of the number (mostly ``normal``), the same on every run; anything else gets
``Result -2``.

``MobileNetworkTimeVerification`` (line tenure) has its own table: magic numbers for every
Result and every tenure band (:data:`TENURE_MAGIC_NUMBERS`), a spread of bands for other
valid numbers drawn from a hash independent of the line state's, and ``Result -1`` (its
invalid format) for anything else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from ..service.numbers import is_valid_one


@dataclass(frozen=True)
class Behaviour:
    """One scripted answer: a result (``Result``, ``StatusCode``) or an error code."""

    result: str | None = None
    status_code: int | None = None
    error: str | None = None
    note: str = ""
    #: MobileNetworkTimeVerification's ``Range`` (tenure in months), for its Result "0".
    range: str | None = None


DESCRIPTIONS: Final[dict[str, str]] = {
    "0": "Query succeeded",
    "-1": "No result found",
    "-2": "Invalid phone number format",
    "-3": "Verification service busy, please retry",
    "-4": "Verification attempts over the daily limit, please retry tomorrow",
    "-13": "Number segment not supported",
}

#: The magic numbers: number -> what the sandbox always answers for it.
MAGIC_NUMBERS: Final[dict[str, Behaviour]] = {
    "13800138000": Behaviour("0", 1, note="documented example: billed, out of service"),
    "16137688175": Behaviour("-2", 99, note="documented example: invalid format"),
    "13800000000": Behaviour("0", 0, note="normal"),
    "13800000001": Behaviour("0", 1, note="out of service"),
    "13800000002": Behaviour("0", 2, note="cancelled"),
    "13800000004": Behaviour("0", 4, note="offline"),
    "13800000005": Behaviour("0", 5, note="on the network but unusable"),
    "13800000099": Behaviour("0", 99, note="line state unknown"),
    "13800000007": Behaviour("0", 7, note="an undocumented StatusCode (reads as unknown)"),
    "13800000101": Behaviour("-1", 99, note="no result found"),
    "13800000102": Behaviour("-2", 99, note="invalid format by the service"),
    "13800000103": Behaviour("-3", 99, note="service busy, on every attempt"),
    "13800000104": Behaviour("-4", 99, note="daily limit reached"),
    "13800000113": Behaviour("-13", 99, note="number segment not supported"),
    "13800000199": Behaviour("-99", 99, note="an undocumented Result (reads as error)"),
    "13800000500": Behaviour(error="InternalError", note="InternalError, on every attempt"),
    "13800000400": Behaviour(error="InvalidParameterValue", note="rejected parameter"),
}

ERROR_MESSAGES: Final[dict[str, str]] = {
    "InternalError": "An internal error occurred.",
    "InvalidParameterValue": "The parameter value is invalid.",
}

#: How ordinary valid numbers spread over the answers (shares add up to 1).
SPREAD: Final[tuple[tuple[float, Behaviour], ...]] = (
    (0.80, Behaviour("0", 0)),
    (0.05, Behaviour("0", 1)),
    (0.05, Behaviour("0", 2)),
    (0.04, Behaviour("0", 4)),
    (0.02, Behaviour("0", 5)),
    (0.02, Behaviour("0", 99)),
    (0.015, Behaviour("-1", 99)),
    (0.005, Behaviour("-13", 99)),
)


def behaviour_for(mobile: str) -> Behaviour:
    """What the sandbox answers for ``mobile`` (the value of the ``Mobile`` parameter)."""
    magic = MAGIC_NUMBERS.get(mobile)
    if magic is not None:
        return magic
    if not (mobile.isascii() and mobile.isdigit() and is_valid_one(mobile)):
        return Behaviour("-2", 99)
    digest = hashlib.sha256(mobile.encode("ascii")).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    cumulative = 0.0
    for share, behaviour in SPREAD:
        cumulative += share
        if point < cumulative:
            return behaviour
    return SPREAD[0][1]


#: The ``X-TC-Action`` of line tenure (see :mod:`mobilestatus_pandas.service.actions`).
TENURE_ACTION: Final = "MobileNetworkTimeVerification"

TENURE_DESCRIPTIONS: Final[dict[str, str]] = {
    "0": "Query succeeded",
    "-1": "Invalid phone number format",
    "-2": "The phone number does not exist",
    "-3": "The phone number exists, but its tenure cannot be found",
    "-4": "Verification service busy, please retry",
    "-5": "Verification attempts over the daily limit, please retry tomorrow",
    "-13": "Number segment not supported",
}


def _known(months: str, note: str = "") -> Behaviour:
    return Behaviour("0", range=months, note=note or f"tenure {months} months")


#: Line tenure's magic numbers: number -> what the sandbox always answers for it.
TENURE_MAGIC_NUMBERS: Final[dict[str, Behaviour]] = {
    "13800138000": _known("[24,+)", "documented example: billed, 24 months or more"),
    "16137688175": Behaviour("-2", note="documented example: the number does not exist"),
    "13900000000": _known("[0,3)"),
    "13900000003": _known("[3,6)"),
    "13900000006": _known("[6,12)"),
    "13900000012": _known("[12,24)"),
    "13900000024": _known("[24,+)"),
    "13900000025": _known("(6,12]", "an older SDK text's bracket style: band [6,12)"),
    "13900000023": _known("[23,+)", "an interval outside the usual bands: no band"),
    "13900000020": _known("", "Result 0 without a Range: billed, no band"),
    "13900000101": Behaviour("-1", note="invalid format by the service"),
    "13900000102": Behaviour("-2", note="the number does not exist (billed)"),
    "13900000103": Behaviour("-3", note="exists, tenure not found (billed)"),
    "13900000104": Behaviour("-4", note="service busy, on every attempt"),
    "13900000105": Behaviour("-5", note="daily limit reached"),
    "13900000113": Behaviour("-13", note="number segment not supported"),
    "13900000199": Behaviour("-99", note="an undocumented Result (reads as error)"),
    "13900000500": Behaviour(error="InternalError", note="InternalError, on every attempt"),
    "13900000400": Behaviour(error="InvalidParameterValue", note="rejected parameter"),
}

#: How ordinary valid numbers spread over tenure answers (shares add up to 1).
TENURE_SPREAD: Final[tuple[tuple[float, Behaviour], ...]] = (
    (0.08, _known("[0,3)")),
    (0.07, _known("[3,6)")),
    (0.12, _known("[6,12)")),
    (0.18, _known("[12,24)")),
    (0.42, _known("[24,+)")),
    (0.05, Behaviour("-2")),
    (0.06, Behaviour("-3")),
    (0.02, Behaviour("-13")),
)
#: Salts the hash of a number so its tenure does not follow its line state.
_TENURE_SALT: Final = b"tenure:"


def tenure_behaviour_for(mobile: str) -> Behaviour:
    """What the sandbox answers MobileNetworkTimeVerification for ``mobile``."""
    magic = TENURE_MAGIC_NUMBERS.get(mobile)
    if magic is not None:
        return magic
    if not (mobile.isascii() and mobile.isdigit() and is_valid_one(mobile)):
        return Behaviour("-1")
    digest = hashlib.sha256(_TENURE_SALT + mobile.encode("ascii")).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    cumulative = 0.0
    for share, behaviour in TENURE_SPREAD:
        cumulative += share
        if point < cumulative:
            return behaviour
    return TENURE_SPREAD[-1][1]
