"""The actions the engine can run, as data: one :class:`Action` per Tencent API.

An action says everything that differs between APIs of the same product: the ``X-TC-Action``
name, its own Result code table (status label, billed, final/cacheable, retryable), which
fields of an answer it keeps beside ``Result`` and ``Description``, how those become result
columns, the columns' names and dtypes, and their default prefix. Signing, pacing, caching,
the ledger and the run are the same for every action.

Two are known: :data:`STATUS` (``MobileStatus``, the line state) and :data:`TENURE`
(``MobileNetworkTimeVerification``, how long the line has been on the network). Their code
tables are apart on purpose (:mod:`.codes`, :mod:`.tenure`): the same Result means different
things, and is billed differently, in each.

>>> TENURE.api, TENURE.default_prefix
('MobileNetworkTimeVerification', 'tenure_')
>>> TENURE.read("0", {"Range": "[3,6)"})["band"]
'[3,6)'
>>> TENURE.result_code("-2").billed, STATUS.result_code("-2").billed
(True, False)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from ..errors import InputError
from . import codes, tenure
from .codes import ResultCode
from .result import LookupResult, TenureResult

#: Columns every action's result frame starts with, in order (before its own columns).
LEADING_COLUMNS: Final[tuple[str, ...]] = ("number", "valid", "result", "description")
#: Columns every action's result frame ends with, in order (after its own and ``status``).
TRAILING_COLUMNS: Final[tuple[str, ...]] = (
    "status",
    "billed",
    "from_cache",
    "checked_at",
    "request_id",
    "error",
)
#: An unknown Result: an error, never billed, never cached.
UNKNOWN_RESULT: Final = ResultCode("error", billed=False, final=False, retryable=False)

#: Reads an answer's Result and kept fields into the action's own columns plus ``status``
#: (and ``error`` when the answer is not what the documentation promises).
Reader = Callable[[str | None, Mapping[str, Any]], dict[str, Any]]


def _string() -> Any:
    from .numbers import string_dtype

    return string_dtype()


@dataclass(frozen=True)
class Action:
    """One API of the product, as the engine needs to know it.

    Attributes:
        name: what users pass (``"status"``, ``"tenure"``).
        api: the ``X-TC-Action`` header value.
        result_codes: Result -> :class:`~mobilestatus_pandas.service.codes.ResultCode`,
            this API's own.
        statuses: every status label, in the order of the ``status`` category.
        status_descriptions: text for each status label.
        no_answer_states: labels that say nothing about the line (never cached).
        kept_fields: ``Response`` fields kept beside Result and Description (cached too).
        own_columns: the action's own result columns, in order, and their dtypes.
        default_prefix: the prefix of its columns in a frame.
        reader: turns Result and the kept fields into ``own_columns`` plus ``status``.
        result_type: the record of one number's answer (its fields are ``columns``).
    """

    name: str
    api: str
    result_codes: Mapping[str, ResultCode]
    statuses: tuple[str, ...]
    status_descriptions: Mapping[str, str]
    no_answer_states: tuple[str, ...]
    kept_fields: tuple[str, ...]
    own_columns: Mapping[str, Callable[[], Any]]
    default_prefix: str
    reader: Reader
    result_type: type[Any]

    def result_code(self, result: str | None) -> ResultCode:
        """The meaning of a ``Result`` value; unknown values map to an unbilled error."""
        if result is None:
            return UNKNOWN_RESULT
        return self.result_codes.get(str(result).strip(), UNKNOWN_RESULT)

    @property
    def cacheable_results(self) -> frozenset[str]:
        """Result codes whose answers are final: cached and reused until they expire."""
        return frozenset(code for code, meaning in self.result_codes.items() if meaning.final)

    @property
    def billed_results(self) -> frozenset[str]:
        """Result codes the service bills."""
        return frozenset(code for code, meaning in self.result_codes.items() if meaning.billed)

    @property
    def columns(self) -> tuple[str, ...]:
        """The result columns, in order, without prefix."""
        return (*LEADING_COLUMNS, *self.own_columns, *TRAILING_COLUMNS)

    def dtypes(self) -> dict[str, Any]:
        """The dtype of each result column, in column order."""
        string = _string()
        common: dict[str, Any] = {
            "number": string,
            "valid": "boolean",
            "result": string,
            "description": string,
            "status": pd.CategoricalDtype(list(self.statuses), ordered=False),
            "billed": "boolean",
            "from_cache": "boolean",
            "checked_at": pd.DatetimeTZDtype("ns", "UTC"),
            "request_id": string,
            "error": string,
        }
        own = {name: make() for name, make in self.own_columns.items()}
        return {name: own[name] if name in own else common[name] for name in self.columns}

    def read(self, result: str | None, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The action's own columns and ``status`` for an answer (``fields``: kept fields)."""
        return self.reader(result, fields)

    def keep(self, response: Mapping[str, Any]) -> dict[str, Any]:
        """The fields of a ``Response`` object this action keeps (absent ones are ``None``)."""
        return {name: response.get(name) for name in self.kept_fields}

    def empty_columns(self) -> dict[str, Any]:
        """The action's own columns for a row without an answer (every value missing)."""
        return dict.fromkeys(self.own_columns)

    def to_frame(self, records: Sequence[Any], index: pd.Index | None = None) -> pd.DataFrame:
        """Records (this action's result type) as a result frame with this action's dtypes."""
        table = {name: [getattr(r, name) for r in records] for name in self.columns}
        columns: dict[str, Any] = {}
        for name, dtype in self.dtypes().items():
            values = pd.Series(table[name], dtype=object)
            if name == "checked_at":
                values = pd.to_datetime(values, utc=True)
            elif dtype == "Int64":
                values = values.astype("Float64")
            columns[name] = values.astype(dtype)
        frame = pd.DataFrame(columns)
        if index is not None:
            frame.index = index
        return frame

    # -- one number's result, in this action's record ---------------------------------------

    def from_answer(
        self,
        number: str,
        result: str | None,
        description: str | None,
        fields: Mapping[str, Any],
        request_id: str | None,
        checked_at: dt.datetime | None,
        *,
        billed: bool = True,
        from_cache: bool = False,
    ) -> Any:
        """The record an answer (Result, Description, kept fields) gives ``number``.

        ``billed=False`` for an answer that was not paid for in this lookup (a cached one).
        """
        own = self.read(result, fields)
        status = own.pop("status")
        note = own.pop("error", None)
        meaning = self.result_code(result)
        if meaning.status == "error":
            error: str | None = f"unknown Result {result!r}"
        elif not meaning.final:  # busy after retries, daily limit: say which code it was
            error = f"Result {result}"
        else:
            error = note
        return self.result_type(
            number=number,
            valid=status != "invalid",
            result=result,
            description=description,
            status=status,
            billed=billed and meaning.billed,
            from_cache=from_cache,
            checked_at=checked_at,
            request_id=request_id,
            error=error,
            **own,
        )

    def failure(
        self,
        number: str,
        description: str | None,
        error: str | None,
        *,
        request_id: str | None = None,
        checked_at: dt.datetime | None = None,
    ) -> Any:
        """The record of a call that ended on an error answer or a transport failure."""
        return self.result_type(
            number=number,
            valid=True,
            result=None,
            description=description,
            status="error",
            billed=False,
            from_cache=False,
            checked_at=checked_at,
            request_id=request_id,
            error=error,
            **self.empty_columns(),
        )

    def unchecked(self, number: str | None, valid: bool, reason: str) -> Any:
        """The record of a number not looked up (budget, stop, not sampled)."""
        return self.result_type.unchecked(number, valid, reason)

    def refused(self, number: str | None, reason: str) -> Any:
        """The record of a value refused before any call (see ``numbers.REASONS``)."""
        return self.result_type.refused(number, reason)

    def invalid(self, number: str | None) -> Any:
        """The record of a value that is not a CN mobile number."""
        return self.result_type.invalid(number)


def _read_status(result: str | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    raw = fields.get("StatusCode")
    try:
        status_code = None if raw is None else int(raw)
    except (TypeError, ValueError):
        status_code = None
    return {"status_code": status_code, "status": codes.status_for(result, status_code)}


def _read_tenure(result: str | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    raw = fields.get("Range")
    text = str(raw).strip() if raw is not None else ""
    meaning = TENURE.result_code(result)
    parsed = tenure.parse_range(text) if meaning.status == "known" else tenure.parse_range(None)
    out: dict[str, Any] = {
        "range": text or None,
        "months_min": parsed.months_min,
        "months_max": parsed.months_max,
        "band": parsed.band,
        "status": meaning.status,
    }
    if meaning.status == "known" and parsed.months_min is None:
        # Billed and final all the same: the service's text stays in `range`.
        out["error"] = f"unreadable Range {text!r}"
    return out


STATUS: Final = Action(
    name="status",
    api="MobileStatus",
    result_codes=codes.RESULT_CODES,
    statuses=codes.STATUSES,
    status_descriptions=codes.STATUS_DESCRIPTIONS,
    no_answer_states=codes.NO_ANSWER_STATES,
    kept_fields=("StatusCode",),
    own_columns={"status_code": lambda: "Int64"},
    default_prefix="mobile_",
    reader=_read_status,
    result_type=LookupResult,
)

TENURE: Final = Action(
    name="tenure",
    api="MobileNetworkTimeVerification",
    result_codes=tenure.TENURE_RESULT_CODES,
    statuses=tenure.TENURE_STATUSES,
    status_descriptions=tenure.TENURE_STATUS_DESCRIPTIONS,
    no_answer_states=tenure.TENURE_NO_ANSWER_STATES,
    kept_fields=("Range",),
    own_columns={
        "range": _string,
        "months_min": lambda: "Int64",
        "months_max": lambda: "Int64",
        "band": lambda: pd.CategoricalDtype(list(tenure.BANDS), ordered=True),
    },
    default_prefix="tenure_",
    reader=_read_tenure,
    result_type=TenureResult,
)

#: Every action by its name.
ACTIONS: Final[dict[str, Action]] = {STATUS.name: STATUS, TENURE.name: TENURE}
#: Every action by its API name (``X-TC-Action``).
ACTIONS_BY_API: Final[dict[str, Action]] = {a.api: a for a in ACTIONS.values()}


def get_action(action: str | Action) -> Action:
    """The :class:`Action` named ``action`` (``"status"``, ``"tenure"`` or an API name)."""
    if isinstance(action, Action):
        return action
    if isinstance(action, str):
        found = ACTIONS.get(action) or ACTIONS_BY_API.get(action)
        if found is not None:
            return found
    raise InputError(
        f"action must be one of {tuple(ACTIONS)} (or {tuple(ACTIONS_BY_API)}), got {action!r}"
    )


def get_actions(actions: object) -> tuple[Action, ...]:
    """Several actions, in the order given, without repeats (``"both"``: status and tenure)."""
    if isinstance(actions, str) and actions == "both":
        return (STATUS, TENURE)
    if isinstance(actions, (str, Action)):
        return (get_action(actions),)
    if not isinstance(actions, (tuple, list)) or not actions:
        raise InputError(
            f"actions must be a name or a non-empty tuple of names from {tuple(ACTIONS)}, "
            f"got {actions!r}"
        )
    out: list[Action] = []
    for item in actions:
        found = get_action(item)
        if found not in out:
            out.append(found)
    return tuple(out)
