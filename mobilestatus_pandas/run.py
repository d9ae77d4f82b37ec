"""A run of lookups as an object: started in the background, watched, stopped, resumed.

``df.mobile.start("phone", client=client)`` returns a :class:`Run` at once; the lookups go
on in a thread of their own, so a notebook stays free while thousands of numbers are
checked at the rate limit::

    run = df.mobile.start("phone", client=client)
    run                       # in Jupyter: a live widget; elsewhere one line of progress
    run.partial()             # the frame so far, shaped like status(); the rest not_checked
    run.stop()                # stop sending; every answer is kept (and cached)
    out = run.result()        # waits; raises what ended the run (e.g. AuthenticationError)

Running the same ``start`` (or ``status``) again, even after a kernel restart, looks up only
what the cache does not hold: a stopped run resumes paying nothing twice.

Below the handle, :class:`AnswerTable` holds the answers so far one slot per distinct number
in typed arrays, so ``partial()`` on a million rows is a few ``take`` calls, not a loop.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from . import batch, codes, numbers, options, sampling
from .errors import InputError, RunInProgressError
from .result import LookupResult

if TYPE_CHECKING:
    from .batch import RunReport, _Plan
    from .client import MobileStatusClient

logger = logging.getLogger(__name__)

#: What a not-yet-answered number says in ``error`` in a partial frame.
NOT_ANSWERED_YET: Final = "not answered yet"
#: What an unanswered number says in ``error`` after ``run.stop()``.
STOPPED_DETAIL: Final = "stopped by run.stop()"
#: The string result columns (the others are typed arrays in :class:`AnswerTable`).
_STRING_FIELDS: Final = ("number", "result", "description", "request_id", "error")
_STATUS_CODE: Final = {status: np.int8(i) for i, status in enumerate(codes.STATUSES)}
_NAT: Final = np.iinfo(np.int64).min
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MICROSECOND: Final = dt.timedelta(microseconds=1)
_NS_PER_MICROSECOND: Final = 1000

#: Turns the engine's result frame (unprefixed result columns) into what the caller sees.
Shape = Callable[[pd.DataFrame], pd.DataFrame]


def _identity(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


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
    moment: the frame has the engine's columns and dtypes (``batch.result_dtypes``), and a
    number in several rows is billed on its first row only, as in the final result.
    """

    def __init__(
        self, distinct: Sequence[str], row_codes: np.ndarray, row_reasons: np.ndarray
    ) -> None:
        count = len(distinct)
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
        self._lock = threading.Lock()
        for i, reason in enumerate(numbers.REASONS):
            self._write(count + i, LookupResult.refused(None, reason))

    def positions(self, batch_numbers: Sequence[str]) -> np.ndarray:
        """The slots of ``batch_numbers``."""
        position = self._position
        return np.fromiter((position[n] for n in batch_numbers), np.intp, len(batch_numbers))

    def fill(self, slots: np.ndarray, template: LookupResult) -> None:
        """Give every slot in ``slots`` the fields of ``template`` (its number aside)."""
        with self._lock:
            for name in _STRING_FIELDS[1:]:
                self._strings[name][slots] = getattr(template, name)
            self._valid[slots] = template.valid
            self._status[slots] = _STATUS_CODE[template.status]
            self._status_code_na[slots] = template.status_code is None
            self._status_code[slots] = template.status_code or 0
            self._billed_na[slots] = template.billed is None
            self._billed[slots] = bool(template.billed)
            self._from_cache[slots] = template.from_cache
            self._checked_at[slots] = _nanoseconds(template.checked_at)

    def set(self, number: str, result: LookupResult) -> None:
        """Record ``number``'s result."""
        with self._lock:
            self._write(self._position[number], result)

    def _write(self, i: int, result: LookupResult) -> None:
        strings = self._strings
        strings["result"][i] = result.result
        strings["description"][i] = result.description
        strings["request_id"][i] = result.request_id
        strings["error"][i] = result.error
        self._valid[i] = result.valid
        self._status[i] = _STATUS_CODE[result.status]
        self._status_code_na[i] = result.status_code is None
        self._status_code[i] = result.status_code or 0
        self._billed_na[i] = result.billed is None
        self._billed[i] = bool(result.billed)
        self._from_cache[i] = result.from_cache
        self._checked_at[i] = _nanoseconds(result.checked_at)

    def status_counts(self) -> np.ndarray:
        """Rows per status so far, in :data:`codes.STATUSES` order."""
        with self._lock:
            status = self._status.copy()
        return np.bincount(status, weights=self.rows_per_slot, minlength=len(codes.STATUSES))

    def frame(self, index: pd.Index) -> pd.DataFrame:
        """The result columns of every row, as they stand (vectorised: no loop over rows)."""
        with self._lock:
            strings = {name: self._strings[name].copy() for name in _STRING_FIELDS[1:]}
            valid, status = self._valid.copy(), self._status.copy()
            status_code, status_code_na = self._status_code.copy(), self._status_code_na.copy()
            billed, billed_na = self._billed.copy(), self._billed_na.copy()
            from_cache, checked_at = self._from_cache.copy(), self._checked_at.copy()
        take, first = self._take, self._first
        string = numbers.string_dtype()
        no_mask = np.zeros(len(take), dtype=bool)
        dtypes = batch.result_dtypes()
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
        return pd.DataFrame(columns, index=index, copy=False)


_active_runs: weakref.WeakKeyDictionary[Any, Run] = weakref.WeakKeyDictionary()
_active_lock = threading.Lock()


class Run:
    """Lookups going on in the background; made by ``df.mobile.start(...)``.

    Methods: :meth:`partial` (the frame so far, shaped exactly like ``status``'s output,
    unanswered rows ``not_checked``), :meth:`stop` (stop sending; answers are kept),
    :meth:`result` (wait for the frame; raises what ended the run), :meth:`done`;
    :attr:`report` is the live :class:`~mobilestatus_pandas.RunReport` (calls, billed,
    possibly billed, cache hits, calls/s, ETA, cost so far).

    In Jupyter a run displays as a live widget; elsewhere ``repr(run)`` is one line of
    progress. One run at a time per client: starting a second raises
    :class:`~mobilestatus_pandas.RunInProgressError` (runs on different clients go on side
    by side).

    >>> import pandas as pd, mobilestatus_pandas as msp
    >>> with msp.Sandbox() as sb:
    ...     run = pd.DataFrame({"phone": ["13800000000", "13800000002"]}).mobile.start(
    ...         "phone", client=sb.client(cache=None))
    ...     out = run.result(timeout=30)
    >>> out["mobile_status"].tolist(), run.done(), run.report.stop_reason
    (['normal', 'cancelled'], True, None)
    """

    def __init__(
        self,
        client: MobileStatusClient,
        values: pd.Series,
        *,
        shape: Shape = _identity,
        max_billed: int | None = None,
        refresh: bool = False,
        validate: str | None = None,
        sample: sampling.SampleRequest | None = None,
    ) -> None:
        self.client = client
        self._values = values
        self._shape = shape
        self._max_billed = max_billed
        self._refresh = refresh
        self._validate = validate
        self._sample = sample
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stop_requested = False
        self._planned = threading.Event()
        self._finished = threading.Event()
        self._table: AnswerTable | None = None
        self._plan_weights: np.ndarray | None = None
        self._sample_dict: dict[str, Any] | None = None
        self._report: RunReport | None = None
        self._frame: pd.DataFrame | None = None
        self._error: BaseException | None = None
        self._pending = 0
        self._answered = 0
        self._started_at = time.monotonic()
        self._sending_since: float | None = None
        self._ended_at: float | None = None
        self._thread = threading.Thread(target=self._work, name="mobilestatus-run", daemon=True)
        self._display: Any = None

    # -- running ---------------------------------------------------------------------------

    def _begin(self) -> Run:
        with _active_lock:
            other = _active_runs.get(self.client)
            if other is not None and not other.done():
                raise RunInProgressError(
                    f"this client already has a run going ({other.progress_line()}); wait "
                    "for run.result(), call run.stop(), or start this one on another client"
                )
            _active_runs[self.client] = self
        self._thread.start()
        return self

    def _work(self) -> None:
        try:
            frame, report = batch._run(
                self.client, self._values, False, self._max_billed, self._refresh,
                self._validate, self._sample, stop=self._stop, on_plan=self._on_plan,
                on_result=self._on_result,
            )  # fmt: skip
            self._report = report
            self._frame = self._shape(frame)
        except BaseException as exc:  # re-raised by result(), shown by the display
            self._error = exc
            logger.debug("run ended by %s", type(exc).__name__)
        finally:
            self._ended_at = time.monotonic()
            self._planned.set()
            self._finished.set()
            with _active_lock:
                if _active_runs.get(self.client) is self:
                    del _active_runs[self.client]

    def _on_plan(self, plan: _Plan, report: RunReport) -> None:
        table = AnswerTable(plan.distinct, plan.row_codes, plan.row_reasons)
        if plan.to_check:
            table.fill(
                table.positions(plan.to_check), LookupResult.unchecked(None, True, NOT_ANSWERED_YET)
            )
        if plan.sample is not None:
            table.fill(
                table.positions(plan.sample.left_out),
                LookupResult.unchecked(None, True, sampling.NOT_SAMPLED),
            )
            self._plan_weights = plan.sample.row_weights(plan.row_codes)
            self._sample_dict = plan.sample.to_dict()
        for number, result in plan.cached.items():
            table.set(number, result)
        with self._lock:
            self._table = table
            self._report = report
            self._pending = len(plan.pending)
            self._sending_since = time.monotonic()
            if self._stop_requested:
                report.stop_reason = batch.STOP_STOPPED
                report.stop_detail = STOPPED_DETAIL
        self._planned.set()

    def _on_result(self, number: str, result: LookupResult) -> None:
        table = self._table
        if table is not None:
            table.set(number, result)
        with self._lock:
            self._answered += 1

    # -- the handle ------------------------------------------------------------------------

    def done(self) -> bool:
        """Whether the run has ended (finished, stopped or failed)."""
        return self._finished.is_set()

    def stop(self) -> None:
        """Stop sending: calls already sent finish and are kept (cached, in the ledger);
        the rest of the numbers are ``not_checked`` in :meth:`result`, with
        ``stop_reason="stopped"``. Returns at once; :meth:`result` waits for the end."""
        with self._lock:
            self._stop_requested = True
            report = self._report
            if report is not None and report.stop_reason is None and not self.done():
                report.stop_reason = batch.STOP_STOPPED
                report.stop_detail = STOPPED_DETAIL
        self._stop.set()

    def result(self, timeout: float | None = None) -> pd.DataFrame:
        """The result frame, once the run has ended (``timeout`` seconds at most, else
        ``TimeoutError``). Raises what ended the run: :class:`AuthenticationError`, an
        unreachable endpoint's :class:`TransportError`, ..."""
        timeout = options.optional_number("timeout", timeout, unit="seconds")
        if not self._finished.wait(timeout):
            raise TimeoutError(
                f"the run is still going after {timeout:g} s ({self.progress_line()}); call "
                "run.result() again, run.partial() for what is answered so far, or run.stop()"
            )
        if self._error is not None:
            raise self._error
        assert self._frame is not None
        return self._frame

    def partial(self) -> pd.DataFrame:
        """The frame so far: the same rows, index, columns and dtypes as the result, the
        numbers not answered yet ``not_checked`` (``error`` says so). Cheap on a million
        rows (a few array ``take`` calls); waits for the plan (normalising the numbers and
        reading the cache) when called the moment the run starts."""
        self._planned.wait()
        if self._finished.is_set() and self._error is None and self._frame is not None:
            return self._frame
        table = self._table
        if table is None:  # the run failed before it was planned
            assert self._error is not None
            raise self._error
        frame = table.frame(self._values.index)
        if self._plan_weights is not None:
            frame[sampling.WEIGHT_COLUMN] = self._plan_weights
        frame.attrs[batch.ATTRS_KEY] = self.report.to_dict()
        if self._sample_dict is not None:
            frame.attrs[batch.ATTRS_KEY][sampling.SAMPLE_KEY] = self._sample_dict
        return self._shape(frame)

    @property
    def error(self) -> BaseException | None:
        """What ended the run, when something did (:meth:`result` raises it)."""
        return self._error

    @property
    def report(self) -> RunReport:
        """The live run report: counts so far, calls/s, ETA and cost so far."""
        with self._lock:
            report = self._report
        if report is None:
            return batch.RunReport(run_id="(planning)", rows=len(self._values))
        if not self.done():
            self._refresh_report(report)
        return report

    def _refresh_report(self, report: RunReport) -> None:
        now = time.monotonic()
        report.elapsed_seconds = now - self._started_at
        sending = now - (self._sending_since or now)
        report.calls_per_second = report.calls / sending if sending > 0 else 0.0
        left = max(0, self._pending - self._answered)
        answers_per_second = self._answered / sending if sending > 0 else 0.0
        report.eta_seconds = (
            left / answers_per_second if answers_per_second > 0 else (0.0 if not left else None)
        )
        price = report.price_per_call
        if price is not None:
            report.cost = batch.round_cost(report.billed_calls * price)
            report.worst_case_cost = batch.round_cost(
                (report.billed_calls + report.possibly_billed) * price
            )
        table = self._table
        if table is not None:
            counts = table.status_counts()
            report.status_counts = {
                status: int(n) for status, n in zip(codes.STATUSES, counts, strict=True) if n
            }

    def progress(self) -> tuple[int, int]:
        """Numbers answered and numbers to call (cache hits and refusals aside)."""
        with self._lock:
            return self._answered, self._pending

    @property
    def state(self) -> str:
        """``"planning"``, ``"running"``, ``"stopping"``, ``"done"``, ``"stopped"`` or
        ``"failed"``."""
        if self._error is not None:
            return "failed"
        if self.done():
            stopped = self._report is not None and self._report.stop_reason is not None
            return "stopped" if stopped else "done"
        if self._stop.is_set():
            return "stopping"
        return "running" if self._planned.is_set() else "planning"

    def progress_line(self) -> str:
        """One line: state, numbers answered, calls/s, ETA, billed, cost, status counts."""
        from .run_view import progress_line

        return progress_line(self)

    def __repr__(self) -> str:
        return f"<msp.Run {self.progress_line()}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        from .run_view import static_bundle

        return static_bundle(self)

    def _ipython_display_(self) -> None:
        from .run_view import show

        show(self)


def start(
    client: MobileStatusClient,
    values: pd.Series,
    *,
    shape: Shape = _identity,
    max_billed: int | None = None,
    refresh: bool = False,
    validate: str | None = None,
    sample: int | None = None,
    by: object = None,
    seed: int | None = None,
) -> Run:
    """Start looking ``values`` up in the background; a :class:`Run`, at once.

    Every check on the options runs here, before the run starts (a wrong option raises now,
    not from :meth:`Run.result`).
    """
    options.check_run_options(max_billed=max_billed, refresh=refresh, validate=validate)
    series = numbers.as_series(values)
    by_name = by.name if isinstance(by, pd.Series) else None
    request = sampling.check_request(sample, by, seed, len(series), by_name)
    if not isinstance(series, pd.Series):  # pragma: no cover - as_series returns one
        raise InputError("values must be a Series of phone numbers")
    run = Run(
        client, series, shape=shape, max_billed=max_billed, refresh=refresh,
        validate=validate, sample=request,
    )  # fmt: skip
    return run._begin()
