"""A run: plan, dispatch, stop rules and report, behind one handle (:class:`Run`).

``df.mobile.start("phone", client=client)`` returns a :class:`Run` at once; the lookups go
on in a thread of their own, so a notebook stays free while thousands of numbers are
checked at the rate limit::

    run = df.mobile.start("phone", client=client)
    run                       # in Jupyter: a live widget; elsewhere one line of progress
    run.partial()             # the frame so far, shaped like status(); the rest not_checked
    run.stop()                # stop sending; every answer is kept (and cached)
    out = run.result()        # waits; raises what ended the run (e.g. AuthenticationError)

``df.mobile.status`` is ``start(...).result()`` with the progress display: one path.

What a run does, in order (:func:`.steps.run_steps`, in the run's thread), each part in a
file of its own under ``engine/``:

1. **plan** (:mod:`.plan`): normalise every input at once and de-duplicate, so each
   distinct number is looked up once; answer what the cache can, in one query;
2. **dispatch** (:mod:`.dispatch`): send the rest through the client's rate limiter to a
   pool of worker threads; each answer is written to the cache and ledger the moment it
   arrives (``Calls``), so an interrupted or killed run loses at most the calls in
   flight, and running it again resumes; each number is claimed in the store first, so two
   runs given the same number pay once;
3. **stop rules** (:mod:`.stops`): an account-level failure raises
   :class:`AuthenticationError` at the first answer (the first call of a run goes alone, so
   a wrong key costs one request), a first call that gets no answer after its retries
   :class:`TransportError` naming the endpoint; a streak of daily-limit answers or of
   transport failures, ``max_billed``, ``run.stop()``, or a shared cache (Redis) away for
   longer than ``outage_timeout`` ends the run with ``not_checked`` rows; Ctrl-C while
   waiting stops within a couple of seconds, keeps what was answered, and re-raises;
4. **join** (:mod:`.answers`): spread the answers back over the rows (``AnswerTable``
   holds them while the run goes on, so ``partial()`` is cheap); the
   :class:`~.run_report.RunReport` goes to ``out.attrs["mobilestatus"]``.

This module is the handle: :class:`Run`, :func:`start` (a run in the background) and
:func:`run_lookups` (a run waited for).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..analysis import sampling
from ..errors import InputError, RunInProgressError
from ..service import numbers
from ..service.result import ATTRS_KEY, KEY_COLUMN, round_cost
from . import options
from .answers import NOT_ANSWERED_YET, AnswerTable, row_keys
from .dispatch import DISPATCH_POLL_SECONDS
from .display import RunDisplay
from .display import current as current_display
from .options import RunOptions
from .plan import Plan
from .run_report import RunReport
from .steps import run_steps
from .stops import (
    CLOSED_DETAIL,
    STOP_CLOSED,
    STOP_INTERRUPTED,
    STOP_STOPPED,
    STOPPED_DETAIL,
    JobGate,
    RunStoppedWarning,
)

if TYPE_CHECKING:
    from .calls import Caller

logger = logging.getLogger(__name__)

#: Turns the engine's result frame (unprefixed result columns) into what the caller sees.
Shape = Callable[[pd.DataFrame], pd.DataFrame]


def _identity(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


class _Settle:
    """What ``client.settle_interrupted_runs()`` waits on for an interrupted run."""

    def __init__(self, finished: threading.Event) -> None:
        self._finished = finished

    def shutdown(self, wait: bool = True) -> None:
        if wait:
            self._finished.wait()


_active_runs: weakref.WeakKeyDictionary[Any, Run] = weakref.WeakKeyDictionary()
_active_lock = threading.Lock()


def active_run(client: Caller) -> Run | None:
    """The run going on with ``client`` (its one run at a time, not a part of a job), or
    None: ``client.active_run``, for a run whose handle was dropped."""
    with _active_lock:
        run = _active_runs.get(client)
    return run if run is not None and not run.done() else None


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
        client: Caller,
        values: pd.Series,
        run_options: RunOptions | None = None,
        *,
        shape: Shape = _identity,
        sample: sampling.SampleRequest | None = None,
        gate: JobGate | None = None,
        display: RunDisplay | None = None,
    ) -> None:
        self.client = client
        #: What this run was asked to do (checked when they were made).
        self.options = run_options if run_options is not None else RunOptions()
        #: How this run is shown (its bar, its line, its widget): handed down by the package
        #: (:func:`.display.install`), as the engine never imports the views.
        self.shown_by = display if display is not None else current_display()
        #: The API this run asks (``STATUS``, ``TENURE``): its columns, codes and limit.
        self.action = self.options.action
        self._values = values
        self._gate = gate
        self._warning: str | None = None
        self._shape = shape
        self._sample = sample
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stop_requested: tuple[str, str] | None = None  # (reason, detail) asked for
        self._interrupted = False
        self._planned = threading.Event()
        self._finished = threading.Event()
        self._table: AnswerTable | None = None
        self._plan_weights: np.ndarray | None = None
        self._row_keys: pd.arrays.IntegerArray | None = None
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
        # Runs of one job (a gate) share their client by design; any other run has the
        # client to itself. A run that was stopped or interrupted is waited for (its calls in
        # flight end within the client's timeout): the next run then finds their answers.
        self.client.settle_interrupted_runs()
        while self._gate is None:
            with _active_lock:
                other = _active_runs.get(self.client)
                if other is None or other.done():
                    _active_runs[self.client] = self
                    break
                if not other._stop.is_set():
                    raise RunInProgressError(
                        f"this client already has a run going ({other.progress_line()}): wait "
                        "for it (client.active_run.result()), stop it (client.stop_run(); its "
                        "answers so far are kept), or start this one on another client"
                    )
            other._finished.wait()
        try:
            self.client.track(self)  # close() ends this run before the cache closes
        except BaseException:
            with _active_lock:
                if _active_runs.get(self.client) is self:
                    del _active_runs[self.client]
            raise
        self._thread.start()
        return self

    def _work(self) -> None:
        try:
            frame, report = run_steps(
                self.client, self._values, self.options, self._sample, gate=self._gate,
                stop=self._stop, on_plan=self._on_plan, on_result=self._on_result,
                on_warning=self._on_warning, display=self.shown_by,
            )  # fmt: skip
            self._report = report
            if self._row_keys is not None:
                frame[KEY_COLUMN] = self._row_keys
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
            self.client.untrack(self)

    def _on_plan(self, plan: Plan, report: RunReport) -> None:
        table = AnswerTable(plan.distinct, plan.row_codes, plan.row_reasons, self.action)
        self._row_keys = row_keys(self.client, plan.distinct, plan.row_codes)
        if plan.to_check:
            table.fill(
                table.positions(plan.to_check), self.action.unchecked(None, True, NOT_ANSWERED_YET)
            )
        if plan.sample is not None:
            table.fill(
                table.positions(plan.sample.left_out),
                self.action.unchecked(None, True, sampling.NOT_SAMPLED),
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
            if self._interrupted:
                report.stop_reason = STOP_INTERRUPTED
            elif self._stop_requested is not None:
                report.stop_reason, report.stop_detail = self._stop_requested
        self._planned.set()

    def _on_warning(self, message: str) -> None:
        self._warning = message

    def _on_result(self, number: str, result: Any) -> None:
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
        self._request_stop(STOP_STOPPED, STOPPED_DETAIL)

    def _request_stop(self, reason: str, detail: str) -> None:
        with self._lock:
            if self._stop_requested is None:
                self._stop_requested = (reason, detail)
            report = self._report
            if report is not None and report.stop_reason is None and not self.done():
                report.stop_reason = reason
                report.stop_detail = detail
        self._stop.set()

    def stop_for_close(self) -> None:
        """Stop because the client closes (see ``Caller.close``): as :meth:`stop`, with
        ``stop_reason="client closed"`` and its warning from :meth:`result`."""
        self._request_stop(STOP_CLOSED, CLOSED_DETAIL)

    def wait_ended(self) -> None:
        """Wait until the run has ended: its calls in flight answered and recorded (those
        of an interrupted run are waited for by ``client.settle_interrupted_runs()``)."""
        self._finished.wait()

    def result(self, timeout: float | None = None) -> pd.DataFrame:
        """The result frame, once the run has ended (``timeout`` seconds at most, else
        ``TimeoutError``). Raises what ended the run: :class:`AuthenticationError`, an
        unreachable endpoint's :class:`TransportError`, ..."""
        return self._wait(timeout, stacklevel=3)

    def _wait(self, timeout: float | None = None, *, stacklevel: int = 2) -> pd.DataFrame:
        """:meth:`result`; a stopped run's warning points ``stacklevel`` frames up."""
        timeout = options.optional_number("timeout", timeout, unit="seconds")
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            # In short waits: an interrupt (a kernel's, or _thread.interrupt_main) is seen
            # only between them, never inside one.
            while not (finished := self._finished.wait(DISPATCH_POLL_SECONDS)):
                if deadline is not None and time.monotonic() >= deadline:
                    break
        except KeyboardInterrupt:  # Ctrl-C, a kernel interrupt: stop, keep what came back
            self._interrupt()
            raise
        if finished:
            self.shown_by.settle(self)  # its displays show the end before the waiter returns
        if not finished:
            raise TimeoutError(
                f"the run is still going after {timeout:g} s ({self.progress_line()}); call "
                "run.result() again, run.partial() for what is answered so far, or run.stop()"
            )
        if self._error is not None:
            raise self._error
        if self._warning is not None:
            message, self._warning = self._warning, None  # said once
            warnings.warn(message, RunStoppedWarning, stacklevel=stacklevel)
        assert self._frame is not None
        return self._frame

    def _interrupt(self) -> None:
        """Stop the run because its caller was interrupted: nothing more is sent; the calls
        in flight end in the run's thread and are recorded (the client's next run, and
        ``client.settle_interrupted_runs()``, wait for them)."""
        with self._lock:
            self._interrupted = True
            report = self._report
            if report is not None and report.stop_reason is None:
                report.stop_reason = STOP_INTERRUPTED
        self._stop.set()
        self.client.abandon_pool(_Settle(self._finished))
        logger.warning("run interrupted; answers so far are in the cache, run again to resume")

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
        if self._row_keys is not None:
            frame[KEY_COLUMN] = self._row_keys
        frame.attrs[ATTRS_KEY] = self.report.to_dict()
        if self._sample_dict is not None:
            frame.attrs[ATTRS_KEY][sampling.SAMPLE_KEY] = self._sample_dict
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
            return RunReport(run_id="(planning)", rows=len(self._values))
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
            report.cost = round_cost(report.billed_calls * price)
            report.worst_case_cost = round_cost(
                (report.billed_calls + report.possibly_billed) * price
            )
        table = self._table
        if table is not None:
            counts = table.status_counts()
            report.status_counts = {
                status: int(n) for status, n in zip(self.action.statuses, counts, strict=True) if n
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
        return self.shown_by.progress_line(self)

    def __repr__(self) -> str:
        return f"<msp.Run {self.progress_line()}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return self.shown_by.bundle(self)

    def _ipython_display_(self) -> None:
        self.shown_by.show(self)


def start(
    client: Caller,
    values: Iterable[object] | pd.Series,
    run_options: RunOptions | None = None,
    *,
    shape: Shape = _identity,
    gate: JobGate | None = None,
    display: RunDisplay | None = None,
) -> Run:
    """Start looking ``values`` up in the background; a :class:`Run`, at once.

    ``run_options`` (:class:`~.options.RunOptions`, checked when made; the defaults without)
    say what to do: the action, the budget, refresh, validation, a sample. The sample is
    checked against the rows here, before the run starts (a wrong option raises now, not
    from :meth:`Run.result`). With ``progress``, the engine's bar or plain lines are drawn
    outside Jupyter, where a displayed run is its own live widget. ``gate`` makes the run
    one part of a larger job (a Dask partition): a budget and stops shared with the job's
    other runs, on a client they share. ``display`` shows the run: the one the package
    installed (:func:`.display.current`) unless another is given.
    """
    asked = run_options if run_options is not None else RunOptions()
    shown = display if display is not None else current_display()
    series = numbers.as_series(values)
    by = asked.by
    by_name = by.name if isinstance(by, pd.Series) else None
    request = sampling.check_request(asked.sample, by, asked.seed, len(series), by_name)
    if not isinstance(series, pd.Series):  # pragma: no cover - as_series returns one
        raise InputError("values must be a Series of phone numbers")
    if asked.progress and shown.in_jupyter():
        asked = asked.replace(progress=False)  # the live widget shows the progress
    run = Run(client, series, asked, shape=shape, sample=request, gate=gate, display=shown)
    return run._begin()


def run_lookups(
    client: Caller,
    values: Iterable[object] | pd.Series,
    run_options: RunOptions | None = None,
    *,
    gate: JobGate | None = None,
    display: RunDisplay | None = None,
) -> pd.DataFrame:
    """Look up every value; a DataFrame of the result columns, one row per value, in order.

    ``run_options`` (:class:`~.options.RunOptions`) say what to do; ``action`` among them is
    the API asked: ``"status"`` (MobileStatus, the default) or ``"tenure"``
    (MobileNetworkTimeVerification); the columns are that action's (``action.columns``).

    The index is ``values``' index for a Series, else a RangeIndex. The run report is in
    ``out.attrs["mobilestatus"]`` (a plain dict) and ``client.last_run``. With ``sample=N``
    only N distinct numbers are looked up, stratified by ``by`` (one value per row) when given:
    see :mod:`mobilestatus_pandas.analysis.sampling`. ``gate`` makes the run one part of a larger
    job (a Dask partition): a budget and stops shared with the job's other runs.
    """
    asked = run_options if run_options is not None else RunOptions()
    run = start(client, values, asked, gate=gate, display=display)
    if asked.progress and run.shown_by.in_jupyter():
        run.shown_by.show(run)  # the live widget: the same display as a background run's
    return run._wait(stacklevel=4)
