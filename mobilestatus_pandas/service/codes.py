"""The code tables: every mapping from the service's codes to what they mean for us.

One place answers three questions about anything the service can say:

* what a ``Result`` (and, for Result ``"0"``, a ``StatusCode``) means: the status label,
  whether the call was billed, whether the answer is final (cacheable) or worth a retry;
* what an error ``Code`` means: retry it, stop the whole run (the account is at fault), or
  record it against the one number;
* the fixed order of the status labels, used for categorical columns, tables and plots.

Unknown codes never raise: an unknown Result maps to ``"error"`` (unbilled, not cached), an
unknown StatusCode to ``"unknown"``, an unknown error code to a per-number error.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

#: Every status label, in the fixed order used for categories, tables and plots.
STATUSES: Final[tuple[str, ...]] = (
    "normal",
    "out_of_service",
    "cancelled",
    "offline",
    "unavailable",
    "unknown",
    "not_found",
    "invalid",
    "missing",
    "unsupported",
    "busy",
    "daily_limit",
    "error",
    "not_checked",
)

#: Line states: the labels a billed answer (Result "0") can carry.
LINE_STATES: Final[tuple[str, ...]] = STATUSES[:6]

#: Line states that mean the number no longer reaches a person.
DEAD_LINE_STATES: Final[tuple[str, ...]] = ("out_of_service", "cancelled", "offline")

#: Statuses that carry no answer about the line: left out of shares and comparisons
#: (reported apart), and never cached.
NO_ANSWER_STATES: Final[tuple[str, ...]] = (
    "missing",
    "busy",
    "daily_limit",
    "error",
    "not_checked",
)

#: StatusCode (meaningful when Result is "0") -> status label.
STATUS_CODE_LABELS: Final[dict[int, str]] = {
    0: "normal",
    1: "out_of_service",
    2: "cancelled",
    4: "offline",
    5: "unavailable",
    99: "unknown",
}

#: Human-readable text for each status label (used in tables, plots and the README).
STATUS_DESCRIPTIONS: Final[dict[str, str]] = {
    "normal": "line in service",
    "out_of_service": "line suspended (out of service)",
    "cancelled": "account cancelled",
    "offline": "not on the network",
    "unavailable": "on the network but unusable",
    "unknown": "line state unknown",
    "not_found": "no result found (Result -1)",
    "invalid": "not a valid CN mobile number",
    "missing": "no number given (empty, None, NaN)",
    "unsupported": "number segment not supported (Result -13)",
    "busy": "verification service busy after retries (Result -3)",
    "daily_limit": "daily verification limit reached (Result -4)",
    "error": "API or network failure after retries",
    "not_checked": "not looked up (budget reached or run stopped)",
}


@dataclass(frozen=True)
class ResultCode:
    """What one ``Result`` value means."""

    status: str
    billed: bool
    #: A final answer about the number: safe to cache and to reuse until it expires.
    final: bool
    #: Worth sending again after a pause.
    retryable: bool


#: Result -> meaning. Only "0" is billed (documented); only final answers are cached.
RESULT_CODES: Final[dict[str, ResultCode]] = {
    "0": ResultCode("normal", billed=True, final=True, retryable=False),
    "-1": ResultCode("not_found", billed=False, final=True, retryable=False),
    "-2": ResultCode("invalid", billed=False, final=True, retryable=False),
    "-3": ResultCode("busy", billed=False, final=False, retryable=True),
    "-4": ResultCode("daily_limit", billed=False, final=False, retryable=False),
    "-13": ResultCode("unsupported", billed=False, final=True, retryable=False),
}
_UNKNOWN_RESULT: Final = ResultCode("error", billed=False, final=False, retryable=False)

#: Result codes whose answers may be cached.
CACHEABLE_RESULTS: Final[frozenset[str]] = frozenset(
    code for code, meaning in RESULT_CODES.items() if meaning.final
)


def result_code(result: str | None) -> ResultCode:
    """Return the meaning of a ``Result`` value; unknown values map to an unbilled error."""
    if result is None:
        return _UNKNOWN_RESULT
    return RESULT_CODES.get(str(result).strip(), _UNKNOWN_RESULT)


def status_for(result: str | None, status_code: int | None) -> str:
    """Return the status label for a service answer (``Result`` and ``StatusCode``)."""
    meaning = result_code(result)
    if meaning.status != "normal":
        return meaning.status
    # Result "0": the line state is in StatusCode; an unknown state is "unknown", never a crash.
    if status_code is None:
        return "unknown"
    return STATUS_CODE_LABELS.get(int(status_code), "unknown")


class ErrorKind(enum.Enum):
    """What an error ``Code`` in the response means for a run."""

    #: Transient: send the same request again after a pause.
    RETRY = "retry"
    #: The service is throttling this account: slow the limiter down, then retry.
    RATE_LIMITED = "rate_limited"
    #: The account or credentials are at fault: every number would fail alike, stop the run.
    ACCOUNT = "account"
    #: The request's set-up is wrong (the Encryption key): every number would fail alike.
    CONFIGURATION = "configuration"
    #: Something about this request or number: record it on the row, go on with the others.
    PER_NUMBER = "per_number"


_ACCOUNT_PREFIXES: Final = ("AuthFailure", "UnauthorizedOperation")
_ACCOUNT_CODES: Final = frozenset({"FailedOperation.StsUnAuthErrError"})
_RETRY_CODES: Final = frozenset({"InternalError", "FailedOperation.UnKnown"})
#: The service could not decrypt the Encryption parameter: the public key is not its own.
_CONFIGURATION_CODES: Final = frozenset({"FailedOperation.DecryptSystemError"})
_RATE_PREFIX: Final = "RequestLimitExceeded"


def error_kind(code: str) -> ErrorKind:
    """Classify an error ``Code`` from the service. Unknown codes are per-number errors."""
    if code == _RATE_PREFIX or code.startswith(_RATE_PREFIX + "."):
        return ErrorKind.RATE_LIMITED
    if code in _ACCOUNT_CODES or code.split(".", 1)[0] in _ACCOUNT_PREFIXES:
        return ErrorKind.ACCOUNT
    if code in _CONFIGURATION_CODES:
        return ErrorKind.CONFIGURATION
    if code in _RETRY_CODES or code.startswith("InternalError."):
        return ErrorKind.RETRY
    return ErrorKind.PER_NUMBER
