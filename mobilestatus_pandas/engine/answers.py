"""A run's answers as result columns: so far (:class:`AnswerTable`) and at the end (:func:`join`).

:class:`AnswerTable` holds the answers so far one slot per distinct number in typed arrays,
so ``run.partial()`` on a million rows is a few ``take`` calls, not a loop; :func:`join`
spreads the final per-number results over the rows (a number in several rows is billed on
its first row only, in both). Also here: the result columns' dtypes
(:func:`result_dtypes`, :func:`empty_results`), the row a cached answer gives
(:func:`cached_result`), and the ledger as a frame (:func:`ledger_frame`).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from ..service import codes, numbers
from ..service.actions import STATUS, Action, get_action
from ..stores import LEDGER_FIELDS, CachedAnswer, LedgerEntry

if TYPE_CHECKING:
    from .calls import Caller

#: What a not-yet-answered number says in ``error`` in a partial frame.
NOT_ANSWERED_YET: Final = "not answered yet"
#: The string result columns (the others are typed arrays in :class:`AnswerTable`).
_STRING_FIELDS: Final = ("number", "result", "description", "request_id", "error")
_STATUS_CODE: Final = {status: np.int8(i) for i, status in enumerate(codes.STATUSES)}
_NAT: Final = np.iinfo(np.int64).min
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MICROSECOND: Final = dt.timedelta(microseconds=1)
_NS_PER_MICROSECOND: Final = 1000


def _nanoseconds(moment: dt.datetime | None) -> int:
    if moment is None:
        return int(_NAT)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return (moment - _EPOCH) // _MICROSECOND * _NS_PER_MICROSECOND


class AnswerTable:
    """The answers of a run so far: one slot per distinct number (then one per refusal
    reason), each column a typed array, spread over the rows on demand.

    Written one number at a time by the run, read as a whole frame by :meth:`frame` at any
    moment: the frame has the engine's columns and dtypes (``result_dtypes``), and a
    number in several rows is billed on its first row only, as in the final result.
    """

    def __init__(
        self,
        distinct: Sequence[str],
        row_codes: np.ndarray,
        row_reasons: np.ndarray,
        action: Action = STATUS,
    ) -> None:
        count = len(distinct)
        #: The action whose columns this table holds (MobileStatus's typed, others' as objects).
        self._action = action
        self._status_index = {status: np.int8(i) for i, status in enumerate(action.statuses)}
        self._own: dict[str, np.ndarray] = {}
        slots = count + len(numbers.REASONS)
        self._position = {number: i for i, number in enumerate(distinct)}
        self._take = np.where(row_codes < 0, count + row_reasons.astype(np.intp), row_codes).astype(
            np.intp
        )
        # A number in several rows is billed once: on its first row.
        first_row = np.full(slots, -1, dtype=np.int64)
        first_row[self._take[::-1]] = np.arange(len(self._take) - 1, -1, -1)
        self._first = np.zeros(len(self._take), dtype=bool)
        self._first[first_row[first_row >= 0]] = True
        #: Rows per slot: status counts per row from per-number statuses, cheaply.
        self.rows_per_slot = np.bincount(self._take, minlength=slots)
        self._strings = {name: np.full(slots, None, dtype=object) for name in _STRING_FIELDS}
        self._strings["number"][:count] = np.asarray(distinct, dtype=object)
        self._number_column = pd.array(self._strings["number"], dtype=numbers.string_dtype())
        self._valid = np.zeros(slots, dtype=bool)
        self._status = np.zeros(slots, dtype=np.int8)
        self._status_code = np.zeros(slots, dtype=np.int64)
        self._status_code_na = np.ones(slots, dtype=bool)
        self._billed = np.zeros(slots, dtype=bool)
        self._billed_na = np.zeros(slots, dtype=bool)
        self._from_cache = np.zeros(slots, dtype=bool)
        self._checked_at = np.full(slots, _NAT, dtype=np.int64)
        if action is not STATUS:
            self._own = {name: np.full(slots, None, dtype=object) for name in action.own_columns}
        self._lock = threading.Lock()
        for i, reason in enumerate(numbers.REASONS):
            self._write(count + i, action.refused(None, reason))

    def positions(self, batch_numbers: Sequence[str]) -> np.ndarray:
        """The slots of ``batch_numbers``."""
        position = self._position
        return np.fromiter((position[n] for n in batch_numbers), np.intp, len(batch_numbers))

    def fill(self, slots: np.ndarray, template: Any) -> None:
        """Give every slot in ``slots`` the fields of ``template`` (its number aside)."""
        with self._lock:
            for name in _STRING_FIELDS[1:]:
                self._strings[name][slots] = getattr(template, name)
            self._valid[slots] = template.valid
            self._status[slots] = self._status_index[template.status]
            if self._action is STATUS:
                self._status_code_na[slots] = template.status_code is None
                self._status_code[slots] = template.status_code or 0
            for name, column in self._own.items():
                column[slots] = getattr(template, name)
            self._billed_na[slots] = template.billed is None
            self._billed[slots] = bool(template.billed)
            self._from_cache[slots] = template.from_cache
            self._checked_at[slots] = _nanoseconds(template.checked_at)

    def set(self, number: str, result: Any) -> None:
        """Record ``number``'s result."""
        with self._lock:
            self._write(self._position[number], result)

    def _write(self, i: int, result: Any) -> None:
        strings = self._strings
        strings["result"][i] = result.result
        strings["description"][i] = result.description
        strings["request_id"][i] = result.request_id
        strings["error"][i] = result.error
        self._valid[i] = result.valid
        self._status[i] = self._status_index[result.status]
        if self._action is STATUS:
            self._status_code_na[i] = result.status_code is None
            self._status_code[i] = result.status_code or 0
        for name, column in self._own.items():
            column[i] = getattr(result, name)
        self._billed_na[i] = result.billed is None
        self._billed[i] = bool(result.billed)
        self._from_cache[i] = result.from_cache
        self._checked_at[i] = _nanoseconds(result.checked_at)

    def status_counts(self) -> np.ndarray:
        """Rows per status so far, in the order of the action's statuses."""
        with self._lock:
            status = self._status.copy()
        return np.bincount(status, weights=self.rows_per_slot, minlength=len(self._action.statuses))

    def frame(self, index: pd.Index) -> pd.DataFrame:
        """The result columns of every row, as they stand (vectorised: no loop over rows)."""
        with self._lock:
            strings = {name: self._strings[name].copy() for name in _STRING_FIELDS[1:]}
            valid, status = self._valid.copy(), self._status.copy()
            status_code, status_code_na = self._status_code.copy(), self._status_code_na.copy()
            billed, billed_na = self._billed.copy(), self._billed_na.copy()
            from_cache, checked_at = self._from_cache.copy(), self._checked_at.copy()
            own = {name: column.copy() for name, column in self._own.items()}
        take, first = self._take, self._first
        string = numbers.string_dtype()
        no_mask = np.zeros(len(take), dtype=bool)
        dtypes = self._action.dtypes()
        moments = pd.DatetimeIndex(checked_at.take(take).view("datetime64[ns]"))
        columns: dict[str, Any] = {
            "number": self._number_column.take(take),
            "valid": pd.arrays.BooleanArray(valid.take(take), no_mask),
            "result": pd.array(strings["result"], dtype=string).take(take),
            "description": pd.array(strings["description"], dtype=string).take(take),
            "status_code": pd.arrays.IntegerArray(
                status_code.take(take), status_code_na.take(take)
            ),
            "status": pd.Categorical.from_codes(status.take(take), dtype=dtypes["status"]),
            "billed": pd.arrays.BooleanArray(
                billed.take(take) & first, billed_na.take(take) & first
            ),
            "from_cache": pd.arrays.BooleanArray(from_cache.take(take), no_mask),
            "checked_at": moments.tz_localize("UTC").array,
            "request_id": pd.array(strings["request_id"], dtype=string).take(take),
            "error": pd.array(strings["error"], dtype=string).take(take),
        }
        if self._action is not STATUS:
            del columns["status_code"]
            for name, values in own.items():  # few slots: one conversion each, then a take
                dtype = dtypes[name]
                if isinstance(dtype, pd.CategoricalDtype):
                    columns[name] = pd.Categorical(values, dtype=dtype).take(take)
                else:
                    column = pd.Series(values, dtype=object)
                    if dtype == "Int64":
                        column = column.astype("Float64")
                    columns[name] = column.astype(dtype).array.take(take)
            columns = {name: columns[name] for name in self._action.columns}
        return pd.DataFrame(columns, index=index, copy=False)


def cached_result(number: str, answer: CachedAnswer, action: Action = STATUS) -> Any:
    """The row a cached answer gives ``number``: the same as the call gave, from the cache."""
    if action is STATUS:
        fields: dict[str, Any] = {"StatusCode": answer.status_code}
    else:
        try:
            loaded = json.loads(answer.detail) if answer.detail else {}
        except ValueError:  # written by something else: the fields are unknown
            loaded = {}
        fields = loaded if isinstance(loaded, dict) else {}
    return action.from_answer(
        number,
        answer.result,
        answer.description,
        fields,
        answer.request_id,
        dt.datetime.fromtimestamp(answer.checked_at, tz=dt.timezone.utc),
        billed=False,
        from_cache=True,
    )


def result_dtypes(action: Action | str = STATUS) -> dict[str, Any]:
    """The dtype of each result column of ``action`` (MobileStatus's by default)."""
    return get_action(action).dtypes()


def empty_results(index: pd.Index | None = None, action: Action | str = STATUS) -> pd.DataFrame:
    """A result frame with no rows (or all-missing rows for ``index``)."""
    return pd.DataFrame(
        {
            name: pd.Series(index=index, dtype=dtype)
            for name, dtype in result_dtypes(action).items()
        },
        index=index,
    )


def join(
    per_number: Sequence[Any],
    row_codes: np.ndarray,
    row_reasons: np.ndarray,
    index: pd.Index,
    action: Action = STATUS,
) -> pd.DataFrame:
    """Spread per-number results over the rows.

    Rows without a number (``row_codes`` -1) take the refusal of their reason
    (``row_reasons``, an index in :data:`numbers.REASONS`): one table row per reason, so the
    join stays a single ``take``.
    """
    refusals = [action.refused(None, reason) for reason in numbers.REASONS]
    table = [*per_number, *refusals]
    distinct = pd.DataFrame({name: [getattr(r, name) for r in table] for name in action.columns})
    take = np.where(row_codes < 0, len(per_number) + row_reasons.astype(np.intp), row_codes)
    # A number in several rows is billed once: on its first row.
    first_row = np.full(len(table), -1, dtype=np.int64)
    first_row[take[::-1]] = np.arange(len(take) - 1, -1, -1)  # the last write is the first row
    first = np.zeros(len(take), dtype=bool)
    first[first_row[first_row >= 0]] = True
    columns: dict[str, Any] = {}
    for name, dtype in action.dtypes().items():
        col = distinct[name]
        if name == "checked_at":
            col = pd.to_datetime(col, utc=True)
        elif isinstance(dtype, str) and dtype == "Int64":  # status_code, months_min/max
            col = col.astype("Float64").astype("Int64")
        columns[name] = col.astype(dtype).take(take).reset_index(drop=True)
    out = pd.DataFrame(columns)
    out["billed"] = out["billed"] & pd.array(first, dtype="boolean")
    out.index = index
    return out


def row_keys(
    client: Caller, distinct: Sequence[str], row_codes: np.ndarray
) -> pd.arrays.IntegerArray:
    """The ``key`` column (:data:`~mobilestatus_pandas.service.result.KEY_COLUMN`): each row's
    number as a keyed hash (:meth:`Caller.row_keys`), ``<NA>`` for rows without a number. It
    survives dropping the number, so statistics can still put a number's rows together."""
    keys = np.append(client.row_keys(distinct), 0)
    missing = row_codes < 0
    return pd.arrays.IntegerArray(keys[np.where(missing, len(keys) - 1, row_codes)], missing)


def ledger_frame(
    entries: Sequence[LedgerEntry], price_per_call: float | Mapping[str, float] | None
) -> pd.DataFrame:
    """The ledger as a DataFrame (``called_at`` in UTC; ``cost`` when a price is known).

    ``billed`` is nullable: ``<NA>`` for a call sent without an answer (possibly billed),
    whose ``cost`` is ``<NA>`` too (at most one price). ``action`` is the API each call asked;
    ``price_per_call`` may be a price per action (by API name): then ``price`` is each
    call's, and ``cost`` follows it.
    """
    frame = pd.DataFrame.from_records(
        [asdict(e) for e in entries], columns=list(LEDGER_FIELDS)
    ).rename(columns={"key": "number_key"})
    string = numbers.string_dtype()
    frame["called_at"] = pd.to_datetime(frame["called_at"], unit="s", utc=True)
    frame["status_code"] = frame["status_code"].astype("Float64").astype("Int64")
    frame["billed"] = frame["billed"].astype("boolean")
    for name in ("number_key", "result", "request_id", "error", "run_id", "secret_id", "action"):
        frame[name] = frame[name].astype(string)
    if isinstance(price_per_call, Mapping):
        if price_per_call:
            prices = frame["action"].map(dict(price_per_call)).astype("Float64")
            frame["price"] = prices
            frame["cost"] = frame["billed"].astype("Float64") * prices
    elif price_per_call is not None:
        frame["cost"] = frame["billed"].astype("Float64") * price_per_call
    return frame
