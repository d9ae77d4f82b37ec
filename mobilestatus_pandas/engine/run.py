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

What a run does, in order (:func:`_run`, in the run's thread):

1. **plan** (:func:`_plan`): normalise every input at once and de-duplicate, so each
   distinct number is looked up once; answer what the cache can, in one query;
2. **dispatch** (:func:`_dispatch`): send the rest through the client's rate limiter to a
   pool of worker threads; each answer is written to the cache and ledger the moment it
   arrives (:class:`_Calls`), so an interrupted or killed run loses at most the calls in
   flight, and running it again resumes; each number is claimed in the store first, so two
   runs given the same number pay once;
3. **join** (:func:`_join`): spread the answers back over the rows; the
   :class:`RunReport` goes to ``out.attrs["mobilestatus"]``.

Stop rules: an account-level failure raises :class:`AuthenticationError` at the first
answer (the first call of a run goes alone, so a wrong key costs one request), a wrong
``Encryption`` key :class:`EncryptionKeyError`, and a first call that gets no answer after its
retries :class:`TransportError` naming the endpoint; a streak of daily-limit answers or of
transport failures, ``max_billed``, ``run.stop()``, or a shared cache (Redis) away for longer
than ``outage_timeout`` ends the run with ``not_checked`` rows; Ctrl-C while waiting stops
within a couple of seconds, keeps what was answered, and re-raises.

Every possible charge counts: an attempt that was sent but got no answer is in the ledger as
possibly billed (``billed`` NULL), and ``max_billed`` is checked before every attempt
(retries included) against billed plus possibly billed plus attempts in flight, so the
service never bills more than the budget.

:class:`AnswerTable` holds the answers so far one slot per distinct number in typed arrays,
so ``partial()`` on a million rows is a few ``take`` calls, not a loop.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np
import pandas as pd

from ..analysis import sampling
from ..errors import (
    CacheUnavailableError,
    InputError,
    NotSentError,
    RunInProgressError,
    TransportError,
)
from ..service import codes, numbers
from ..service.actions import STATUS, Action, get_action
from ..service.result import ATTRS_KEY, round_cost
from ..stores import LEDGER_FIELDS, CachedAnswer, LedgerEntry
from . import options
from .calls import CallOutcome
from .concurrency import InFlightTarget

if TYPE_CHECKING:
    from .calls import Answer, Caller

logger = logging.getLogger(__name__)

#: This many daily-limit (-4) answers in a row end the run.
DAILY_LIMIT_STREAK: Final = 10
#: This many numbers in a row ending on a transport failure (after their retries) end the
#: run: the endpoint is down or unreachable, and every further call would fail alike.
TRANSPORT_FAILURE_STREAK: Final = 10
#: ... and so do this many attempts in a row, of any numbers, without an answer: with many
#: calls in flight when the endpoint goes away, the run stops before each of them has used
#: all its retries.
TRANSPORT_FAILED_ATTEMPTS: Final = 30
#: How often a run waiting for another run's answer to a number looks in the cache.
CLAIM_POLL_SECONDS: Final = 0.25
#: A claim on a number lasts this long unless renewed; a running run renews its claims every
#: CLAIM_RENEW_SECONDS, so a run that died holds its numbers no longer than this.
CLAIM_SECONDS: Final = 10.0
CLAIM_RENEW_SECONDS: Final = 2.0
#: How often the dispatcher wakes to check for completions and interrupts.
DISPATCH_POLL_SECONDS: Final = 0.1

STOP_BUDGET: Final = "max_billed reached"
STOP_DAILY_LIMIT: Final = "daily limit reached"
STOP_INTERRUPTED: Final = "interrupted"
STOP_CACHE_UNAVAILABLE: Final = "cache unavailable"
STOP_TRANSPORT: Final = "transport failures"
#: ``run.stop()`` ended a background run (see run.py).
STOP_STOPPED: Final = "stopped"


class RunStoppedWarning(UserWarning):
    """A run ended before every number was looked up; the frame says which rows."""


#: Told a number and its result as soon as the engine has it.
ResultSink = Callable[[str, Any], None]  # the action's record (LookupResult, TenureResult)
#: Told the plan and the report of a run once it is planned, before anything is sent.
PlanSink = Callable[["_Plan", "RunReport"], None]


class JobGate(Protocol):
    """What several runs that make one job share: a budget and a stop (see ``dask.py``).

    A run given a gate asks it before every call to the service and tells it every answer;
    the gate keeps the job's state in the shared store, so runs on other machines see it.
    """

    def before_call(self, stop: threading.Event) -> str | None:
        """None to send the call now (waiting as needed); else why the job stopped."""
        ...

    def after_answer(self, result: str | None, billed: bool, error_code: str | None) -> None:
        """The service answered a call this gate let through (``result``: its Result)."""
        ...

    def after_no_answer(self, possibly_billed: bool) -> None:
        """A call this gate let through got no answer, or was not sent after all."""
        ...


@dataclass
class RunReport:
    """What one run did. Also found as ``out.attrs["mobilestatus"]`` (as a plain dict)."""

    run_id: str
    rows: int = 0
    distinct_numbers: int = 0
    invalid: int = 0
    #: Rows with no number given (status ``missing``), apart from ``invalid``.
    missing: int = 0
    cache_hits: int = 0
    #: Calls that reached the service (every ledger row of the run).
    calls: int = 0
    billed_calls: int = 0
    #: Calls sent that got no answer (read timeout, reset, truncated body, HTTP 5xx): the
    #: service may have billed them. ``max_billed`` counts them as billed.
    possibly_billed: int = 0
    #: Attempts that never left this machine (connection refused, DNS): never billed.
    not_sent: int = 0
    retries: int = 0
    errors: int = 0
    not_checked: int = 0
    elapsed_seconds: float = 0.0
    calls_per_second: float = 0.0
    cost: float | None = None
    #: ``cost`` plus the possibly billed calls: the most the run can have cost.
    worst_case_cost: float | None = None
    price_per_call: float | None = None
    stop_reason: str | None = None
    #: What stopped the run, in words (the error's message), when something did.
    stop_detail: str | None = None
    #: Calls answered but not yet written to the cache and ledger (a Redis that is away):
    #: the client holds them and writes them when it can.
    held_writes: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    #: Seconds left at the pace so far, while a run goes on (None when unknown or done).
    eta_seconds: float | None = None
    #: The action the run asked (``"status"``: MobileStatus, ``"tenure"``: line tenure).
    action: str = "status"

    def to_dict(self) -> dict[str, Any]:
        """The report as a plain dict (what ``DataFrame.attrs`` holds)."""
        return asdict(self)


class _Calls:
    """The calls of one run: counters, budget, claims, stop signal, and what to do with
    each answer (the ledger and the cache, at once)."""

    def __init__(
        self,
        client: Caller,
        report: RunReport,
        refresh: bool,
        gate: JobGate | None = None,
        max_billed: int | None = None,
        stop: threading.Event | None = None,
        on_result: ResultSink | None = None,
        action: Action = STATUS,
    ) -> None:
        self.client = client
        #: The API this run asks (its codes, its limiter, its cache keys).
        self.action = action
        self.gate = gate
        self.report = report
        self.max_billed = max_billed
        #: Attempts granted a slot and not yet settled (each may become one billed call).
        self.reserved = 0
        #: Attempts in a row, run-wide, that got no answer (reset by any answer).
        self.failed_attempts = 0
        #: Set to stop sending: by the engine's stop rules, or from outside (``run.stop()``).
        self.stop = stop if stop is not None else threading.Event()
        #: Told every number's result the moment it is known (a background run's table).
        self.on_result = on_result
        self.lock = threading.Lock()
        # With refresh, only answers newer than the run count (another run's, given the
        # same number at the same time); else any answer within the cache's TTL.
        self.fresh_after = client.now() if refresh else (
            client.now() - client.cache_ttl.total_seconds()
        )  # fmt: skip
        # Claims are the client's (its runs never overlap: each waits for the calls of an
        # interrupted one), so a run takes over what an earlier one could not release.
        self.owner = client.claim_owner
        if gate is not None:  # runs of one job share a client at the same time: one owner each
            self.owner = f"{self.owner}:{report.run_id}"
        self.claimed: set[str] = set()
        self.finished = threading.Event()
        #: How many calls to keep in flight, following the latency of the answers so far.
        self.in_flight = InFlightTarget(client.rate_limit, client.max_workers, clock=client.now)

    def renew_claims(self) -> None:
        """Keep this run's claims alive until its last call has ended (a thread of its own).

        An interrupted run's calls may still be in flight after it returns: ``finished`` is
        set only once they are all done (see :func:`_finish_when_settled`), so their claims
        do not lapse while another run could take the number.
        """
        store = self.client.store
        while not self.finished.wait(CLAIM_RENEW_SECONDS):
            with self.lock:
                keys = list(self.claimed)
            for key in keys:
                try:
                    store.claim(key, self.owner, self.client.now(), CLAIM_SECONDS)
                except Exception:  # a renewal missed is a claim that may lapse, no more
                    logger.debug("could not renew a claim", exc_info=True)

    def _stop_for_cache(self, exc: CacheUnavailableError) -> None:
        # The shared cache and rate limit stayed away past outage_timeout: sending unpaced
        # is not an option, so the run ends here; answers so far are kept.
        with self.lock:
            if self.report.stop_reason is None:
                self.report.stop_reason = STOP_CACHE_UNAVAILABLE
                self.report.stop_detail = str(exc)
        self.stop.set()

    def committed(self) -> int:
        """Billed and possibly billed calls so far: what counts against ``max_billed``."""
        return self.report.billed_calls + self.report.possibly_billed

    def _reserve(self) -> bool:
        """Reserve the budget for one attempt (any attempt may be billed)."""
        with self.lock:
            if self.max_billed is not None and self.committed() + self.reserved >= self.max_billed:
                if self.report.stop_reason is None:
                    self.report.stop_reason = STOP_BUDGET
                return False
            self.reserved += 1
            return True

    def _settle(self) -> None:
        """An attempt reserved by :meth:`acquire` ended (call with ``self.lock`` held)."""
        self.reserved = max(0, self.reserved - 1)

    def acquire(self) -> bool:
        """Before every attempt: reserve its budget, then wait for a rate-limit slot."""
        if not self._reserve():
            return False
        try:
            # The job's gate first (it may wait, and talks to the store): a slot from the
            # limiter is used at once, or the sends of the cluster bunch up.
            reason = None if self.gate is None else self.gate.before_call(self.stop)
            if reason is not None:
                with self.lock:  # the job stopped (elsewhere, or its budget is spent)
                    if self.report.stop_reason is None:
                        self.report.stop_reason = reason
                        self.report.stop_detail = reason
                self.stop.set()
                granted = False
            else:
                granted = self.client.limiter_for(self.action).acquire(self.stop)
                if not granted and self.gate is not None:
                    self.gate.after_no_answer(possibly_billed=False)
        except CacheUnavailableError as exc:
            self._stop_for_cache(exc)
            granted = False
        if not granted:
            with self.lock:
                self._settle()
        return granted

    def pause(self, seconds: float) -> None:
        self.stop.wait(seconds)

    def on_answer(self, number: str, answer: Answer, sent_at: float, final: bool) -> None:
        """Record an answer in the ledger (and the cache, when it is final) at once."""
        action = self.action
        key = self.client.number_key(number, action)
        meaning = action.result_code(answer.result)
        billed = answer.error_code is None and meaning.billed
        entry = LedgerEntry(
            called_at=sent_at,
            key=key,
            result=answer.result,
            status_code=answer.status_code if action is STATUS else None,
            billed=billed,
            request_id=answer.request_id,
            error=answer.error_code,
            run_id=self.report.run_id,
            secret_id=self.client.secret_id,
            action=action.api,
        )
        cached = None
        if final and answer.error_code is None and answer.result in action.cacheable_results:
            cached = CachedAnswer(
                answer.result,
                answer.description,
                answer.status_code if action is STATUS else None,
                answer.request_id,
                sent_at,
                # MobileStatus's StatusCode has its column; another action's own fields go
                # in detail, so a cached answer gives the same row as the call did.
                None if action is STATUS else json.dumps(answer.fields, ensure_ascii=False),
            )
        self.in_flight.answered(sent_at)
        with self.lock:
            self.failed_attempts = 0
        try:
            self.client.store.record(entry, cached)
        except CacheUnavailableError as exc:
            # The store refused the write (a SQLite file locked past its busy timeout): it
            # holds it to write later; the answer is in the row; the run ends here.
            self._stop_for_cache(exc)
        finally:
            with self.lock:
                self._settle()
                self.report.calls += 1
                self.report.billed_calls += int(billed)
        if self.gate is not None:
            self.gate.after_answer(answer.result, billed, answer.error_code)

    def on_transport_error(
        self, number: str, error: TransportError, sent_at: float, final: bool
    ) -> None:
        """Record an attempt that got no answer: in the ledger unless it was never sent."""
        self._count_failed_attempt(error)
        if self.gate is not None:
            sent = not isinstance(error, NotSentError)
            self.gate.after_no_answer(possibly_billed=sent and error.possibly_billed)
        if isinstance(error, NotSentError):
            with self.lock:
                self._settle()
                self.report.not_sent += 1
            return
        entry = LedgerEntry(
            called_at=sent_at,
            key=self.client.number_key(number, self.action),
            result=None,
            status_code=None,
            billed=None if error.possibly_billed else False,
            request_id=None,
            error=error.code,
            run_id=self.report.run_id,
            secret_id=self.client.secret_id,
            action=self.action.api,
        )
        try:
            self.client.store.record(entry, None)
        except CacheUnavailableError as exc:  # held by the store, written later
            self._stop_for_cache(exc)
        finally:
            with self.lock:
                self._settle()
                self.report.calls += 1
                self.report.possibly_billed += int(error.possibly_billed)

    def _count_failed_attempt(self, error: TransportError) -> None:
        """Stop the run once TRANSPORT_FAILED_ATTEMPTS attempts in a row got no answer."""
        with self.lock:
            self.failed_attempts += 1
            if self.failed_attempts < TRANSPORT_FAILED_ATTEMPTS or self.stop.is_set():
                return
            if self.report.stop_reason is None:
                self.report.stop_reason = STOP_TRANSPORT
                self.report.stop_detail = (
                    f"{self.failed_attempts} calls in a row got no answer from "
                    f"{error.endpoint or self.client.endpoint} (last: {error})"
                )
        self.stop.set()

    def _answered_elsewhere(self, number: str, key: str) -> CallOutcome | None:
        """The cached answer another run wrote since this run's plan, if there is one."""
        try:
            answer = self.client.store.get_many([key], self.fresh_after).get(key)
        except CacheUnavailableError as exc:
            self._stop_for_cache(exc)
            return CallOutcome(self.action.unchecked(number, True, str(exc)), 0, 0)
        if answer is None:
            return None
        with self.lock:
            self.report.cache_hits += 1
        return CallOutcome(_cached_result(number, answer, self.action), 0, 0)

    def lookup(self, number: str) -> CallOutcome:
        """Look one number up, unless another run is calling it or has answered it.

        The number is claimed first (in the shared store): a run that finds it claimed waits
        for that run's answer in the cache instead of paying for it again, and calls it
        itself only if the claim ends without one (an answer that is not cached, or a run
        that died). Claims are renewed by :meth:`renew_claims` and released at the end.
        """
        key = self.client.number_key(number, self.action)
        waited = self._claim(number, key)
        if waited is not None:
            return waited
        try:
            done = self._answered_elsewhere(number, key)
            if done is not None:
                return done
            return self.client.call(
                number,
                acquire=self.acquire,
                sleep=self.pause,
                on_answer=self.on_answer,
                on_transport_error=self.on_transport_error,
                action=self.action,
            )
        finally:
            with self.lock:
                self.claimed.discard(key)
            try:
                self.client.store.release(key, self.owner)
            except CacheUnavailableError:  # the claim lapses on its own
                logger.debug("could not release a claim", exc_info=True)

    def _claim(self, number: str, key: str) -> CallOutcome | None:
        """Wait until this run holds the claim on ``key`` (None), or for another outcome:
        another run's answer, the run stopped, or a store that could not grant claims for
        ``outage_timeout``.

        Fails closed: no call without a claim. A store that is away (or refuses writes)
        grants none, and calling anyway would let two machines pay for the number once it
        is back.
        """
        store, owner = self.client.store, self.owner
        away_since: float | None = None
        while True:
            try:
                held = store.claim(key, owner, self.client.now(), CLAIM_SECONDS)
            except CacheUnavailableError as exc:
                away_since = time.monotonic() if away_since is None else away_since
                waited = time.monotonic() - away_since
                if waited >= self.client.outage_timeout:
                    self._stop_for_cache(
                        CacheUnavailableError(
                            f"{exc}; waited {waited:.0f} s (outage_timeout) to claim numbers"
                        )
                    )
            else:
                away_since = None
                if held:
                    with self.lock:
                        self.claimed.add(key)
                    return None
                done = self._answered_elsewhere(number, key)
                if done is not None:
                    return done
            if self.stop.is_set():
                reason = self.report.stop_detail or "run stopped"
                return CallOutcome(self.action.unchecked(number, True, reason), 0, 0)
            self.pause(CLAIM_POLL_SECONDS)


def _progress_bar(total: int, enabled: bool) -> Any:
    from ..views.progress import (
        progress_bar,  # a bar on a terminal or in Jupyter, plain lines in a log
    )

    return progress_bar(total, enabled)


def _finish_when_settled(run: _Calls, executor: ThreadPoolExecutor) -> None:
    """Mark an interrupted run finished (its claims no longer renewed) only once the calls
    it abandoned have ended: until then they may still be paid for, and their claims must
    keep other runs from calling the same numbers."""

    def settle() -> None:
        executor.shutdown(wait=True)
        run.finished.set()

    threading.Thread(target=settle, name="mobilestatus-settle", daemon=True).start()


def _in_flight_width(run: _Calls, opened: bool) -> int:
    """How many calls may be in flight now: one until the first answer (a wrong key costs
    one request), then what the latency observed asks for, within ``max_workers``."""
    return run.in_flight.width() if opened else 1


def _dispatch(
    run: _Calls, pending: list[str], max_billed: int | None, progress: bool
) -> dict[str, Any]:
    """Send ``pending`` numbers through the worker pool; return their results."""
    client, report = run.client, run.report
    results: dict[str, Any] = {}
    queue = list(reversed(pending))
    in_flight: dict[Future[CallOutcome], str] = {}
    # The first call goes alone: a wrong key, an inactive account or a dead endpoint costs
    # one call (with its retries).
    opened = False
    daily_streak = transport_streak = 0
    failed = 0
    bar = _progress_bar(len(pending), progress)
    executor = ThreadPoolExecutor(max_workers=client.max_workers, thread_name_prefix="mobilestatus")
    renewer = threading.Thread(
        target=run.renew_claims, name="mobilestatus-claims", daemon=True
    )  # fmt: skip
    renewer.start()
    try:
        while queue or in_flight:
            width = _in_flight_width(run, opened)
            while queue and not run.stop.is_set() and len(in_flight) < width:
                if max_billed is not None and run.committed() + len(in_flight) >= max_billed:
                    break
                number = queue.pop()
                in_flight[executor.submit(run.lookup, number)] = number
            if not in_flight:
                if max_billed is not None and queue and not run.stop.is_set():
                    report.stop_reason = STOP_BUDGET
                break
            done, _ = wait(in_flight, timeout=DISPATCH_POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                number = in_flight.pop(future)
                outcome = future.result()  # AuthenticationError propagates from here
                if not opened and outcome.transport_error is not None:
                    # The endpoint has answered nothing yet: after all its retries, the first
                    # failure raises; one not retried (an ambiguous call without
                    # retry_ambiguous) proves less, and the next number goes alone again.
                    retried = outcome.retries >= client.max_retries
                    if retried or report.stop_reason == STOP_TRANSPORT:
                        raise _endpoint_unreachable(outcome)
                else:
                    opened = True
                result = outcome.result
                results[number] = result
                if run.on_result is not None:
                    run.on_result(number, result)
                report.retries += outcome.retries
                daily_streak = daily_streak + 1 if result.status == "daily_limit" else 0
                if daily_streak >= DAILY_LIMIT_STREAK and not run.stop.is_set():
                    report.stop_reason = STOP_DAILY_LIMIT
                    run.stop.set()
                error = outcome.transport_error
                transport_streak = transport_streak + 1 if error is not None else 0
                if (
                    error is not None
                    and transport_streak >= TRANSPORT_FAILURE_STREAK
                    and not run.stop.is_set()
                ):
                    report.stop_reason = STOP_TRANSPORT
                    report.stop_detail = (
                        f"{transport_streak} numbers in a row got no answer from "
                        f"{client.endpoint} (last: {error})"
                    )
                    run.stop.set()
                failed += result.status in ("error", "busy")
                if bar is not None:  # the figures first: the update shows them
                    bar.set_postfix(
                        billed=report.billed_calls,
                        cached=report.cache_hits,
                        errors=failed,
                        refresh=False,
                    )
                    bar.update(1)
    except BaseException as exc:
        run.stop.set()
        if isinstance(exc, KeyboardInterrupt):
            report.stop_reason = STOP_INTERRUPTED
            logger.warning("run interrupted; answers so far are in the cache, run again to resume")
        executor.shutdown(wait=False, cancel_futures=True)
        client.abandon_pool(executor)
        _finish_when_settled(run, executor)
        raise
    finally:
        if bar is not None:
            bar.close()
    executor.shutdown(wait=True)
    run.finished.set()
    reason = report.stop_detail or report.stop_reason or "run stopped"
    for number in queue:
        results[number] = run.action.unchecked(number, True, reason)
    if report.stop_reason:  # calls that were waiting for a slot when the run stopped
        for number, result in list(results.items()):
            if result.status == "not_checked":
                results[number] = run.action.unchecked(number, True, reason)
    return results


def _endpoint_unreachable(outcome: CallOutcome) -> TransportError:
    """The error a run raises when its first call gets no answer after its retries."""
    error = outcome.transport_error
    assert error is not None
    sent = (
        "it may have been billed (see client.ledger())"
        if outcome.result.billed is None
        else "nothing was billed"
    )
    return type(error)(
        f"the first call of the run got no answer from {error.endpoint} after "
        f"{outcome.attempts} attempts ({error}); {sent}. Check endpoint= (or "
        "$MOBILESTATUS_ENDPOINT), the network and any proxy, then run again",
        status=error.status,
        endpoint=error.endpoint,
    )


def _cached_result(number: str, answer: CachedAnswer, action: Action = STATUS) -> Any:
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


def run_lookups(
    client: Caller,
    values: Iterable[object] | pd.Series,
    *,
    progress: bool = True,
    max_billed: int | None = None,
    refresh: bool = False,
    validate: str | None = None,
    sample: int | None = None,
    by: object = None,
    seed: int | None = None,
    gate: JobGate | None = None,
    action: Action | str = STATUS,
) -> pd.DataFrame:
    """Look up every value; a DataFrame of the result columns, one row per value, in order.

    ``action`` is the API asked: ``"status"`` (MobileStatus, the default) or ``"tenure"``
    (MobileNetworkTimeVerification); the columns are that action's (``action.columns``).

    The index is ``values``' index for a Series, else a RangeIndex. The run report is in
    ``out.attrs["mobilestatus"]`` (a plain dict) and ``client.last_run``. With ``sample=N``
    only N distinct numbers are looked up, stratified by ``by`` (one value per row) when given:
    see :mod:`mobilestatus_pandas.analysis.sampling`. ``gate`` makes the run one part of a larger
    job (a Dask partition): a budget and stops shared with the job's other runs.
    """
    from ..views.run_view import in_jupyter, show

    run = start(
        client, values, progress=progress, max_billed=max_billed, refresh=refresh,
        validate=validate, sample=sample, by=by, seed=seed, gate=gate, action=action,
    )  # fmt: skip
    if progress and in_jupyter():
        show(run)  # the live widget: the same display as a background run's
    return run._wait(stacklevel=4)


@dataclass
class _Plan:
    """What a run has to do, worked out before anything is sent."""

    series: pd.Series
    row_codes: np.ndarray  # per row: position in ``distinct``, -1 when not a number
    row_reasons: np.ndarray  # per row: index in numbers.REASONS where row_codes is -1
    distinct: list[str]  # the distinct normalised numbers
    to_check: list[str]  # those to answer (valid, or all with validate="server")
    cached: dict[str, Any]  # those answered by the cache (the action's records)
    sample: sampling.SampleDesign | None = None  # the draw, with sample=N

    @property
    def pending(self) -> list[str]:
        return [n for n in self.to_check if n not in self.cached]


def _plan(
    client: Caller,
    values: Iterable[object] | pd.Series,
    validate: str | None,
    refresh: bool,
    sample: sampling.SampleRequest | None = None,
    action: Action = STATUS,
) -> _Plan:
    """Normalise and de-duplicate the values; answer what the cache can, in one query.

    Every check on the values (their dtype) and the options runs here, before any request.
    """
    mode = options.choice("validate", validate or client.validate, options.VALIDATE_MODES)
    series = numbers.as_series(values)
    found = numbers.classify_values(series)
    # De-duplicate the numbers of the distinct values (not of the rows: fewer to hash).
    number_codes, uniques = pd.factorize(
        pd.Series(pd.arrays.ArrowStringArray(found.national), copy=False), use_na_sentinel=True
    )
    number_codes = np.append(number_codes, -1)  # position -1: the NA rows
    row_codes = number_codes[found.rows]
    row_reasons = found.row_reason()
    distinct = [str(n) for n in uniques]
    locally_valid = numbers.is_valid(pd.Series(distinct, dtype=numbers.string_dtype()))
    send = locally_valid.to_numpy(dtype=bool) if mode == "local" else np.ones(len(distinct), bool)
    to_check = [n for n, go in zip(distinct, send, strict=True) if go]
    design = None
    if sample is not None:
        to_check, design = sampling.draw(distinct, to_check, row_codes, sample)
    cached: dict[str, Any] = {}
    if to_check and not refresh:
        keys = {client.number_key(n, action): n for n in to_check}
        fresh_after = client.now() - client.cache_ttl.total_seconds()
        for key, answer in client.store.get_many(list(keys), fresh_after).items():
            cached[keys[key]] = _cached_result(keys[key], answer, action)
    return _Plan(series, row_codes, row_reasons, distinct, to_check, cached, design)


#: The labels of :func:`estimate`'s answer, in order.
ESTIMATE_LABELS: Final = (
    "rows",
    "distinct numbers",
    "invalid rows",
    "missing rows",
    "cached and fresh",
    "calls needed",
    "worst-case billed calls",
    "worst-case cost",
    "expected minutes",
)


def estimate(
    client: Caller,
    values: Iterable[object] | pd.Series,
    *,
    validate: str | None = None,
    refresh: bool = False,
    action: Action | str = STATUS,
) -> pd.Series:
    """What a run of ``action`` would do, before any money is spent: no call is made.

    Returns a Series labelled ``rows``, ``distinct numbers``, ``invalid rows`` (not sent),
    ``missing rows`` (no number given: not sent, not counted as invalid), ``cached and
    fresh``, ``calls needed``, ``worst-case billed calls`` (every call could be
    billed), ``worst-case cost`` (NaN without ``price_per_call``) and ``expected minutes`` (at
    the rate limit).
    """
    options.flag("refresh", refresh)
    act = get_action(action)
    plan = _plan(client, values, validate, refresh, action=act)
    sent = {n: i for i, n in enumerate(plan.distinct)}
    checked_codes = np.array([sent[n] for n in plan.to_check], dtype=np.int64)
    missing = (plan.row_codes < 0) & (plan.row_reasons == numbers.REASONS.index(numbers.NO_NUMBER))
    missing_rows = int(missing.sum())
    invalid_rows = int((~np.isin(plan.row_codes, checked_codes)).sum()) - missing_rows
    calls = len(plan.pending)
    price = client.price_for(act)
    return pd.Series(
        [
            len(plan.series),
            len(plan.distinct),
            invalid_rows,
            missing_rows,
            len(plan.cached),
            calls,
            calls,
            round_cost(calls * price) if price is not None else float("nan"),
            round(calls / client.rate_limit / 60, 2),
        ],
        index=list(ESTIMATE_LABELS),
        dtype=object,
        name="mobilestatus estimate",
    )


def _run(
    client: Caller,
    values: Iterable[object] | pd.Series,
    progress: bool,
    max_billed: int | None,
    refresh: bool,
    validate: str | None,
    sample: sampling.SampleRequest | None = None,
    *,
    gate: JobGate | None = None,
    stop: threading.Event | None = None,
    on_plan: PlanSink | None = None,
    on_result: ResultSink | None = None,
    on_warning: Callable[[str], None] | None = None,
    action: Action = STATUS,
) -> tuple[pd.DataFrame, RunReport]:
    options.check_run_options(
        progress=progress, max_billed=max_billed, refresh=refresh, validate=validate
    )
    started = time.monotonic()
    client.settle_interrupted_runs()
    plan = _plan(client, values, validate, refresh, sample, action)
    report = RunReport(
        run_id=uuid.uuid4().hex[:12],
        rows=len(plan.series),
        distinct_numbers=len(plan.distinct),
        cache_hits=len(plan.cached),
        action=action.name,
    )
    price = client.price_for(action)
    report.price_per_call = price
    client.last_run = report
    results = dict(plan.cached)
    pending = plan.pending
    if on_plan is not None:
        on_plan(plan, report)

    run = _Calls(client, report, refresh, gate, max_billed, stop, on_result, action)
    try:
        if pending:
            results.update(_dispatch(run, pending, max_billed, progress))
    finally:
        # Answers received while a shared cache was away are written now if it is back
        # (waiting for it as calls would have, unless waiting is what stopped the run).
        no_wait = report.stop_reason in (STOP_CACHE_UNAVAILABLE, STOP_INTERRUPTED)
        report.held_writes = client.store.flush(0.0 if no_wait else client.outage_timeout)
        report.elapsed_seconds = time.monotonic() - started
        report.calls_per_second = (
            report.calls / report.elapsed_seconds if report.elapsed_seconds > 0 else 0.0
        )
        if price is not None:
            report.cost = round_cost(report.billed_calls * price)
            report.worst_case_cost = round_cost(
                (report.billed_calls + report.possibly_billed) * price
            )

    if plan.sample is not None:
        for number in plan.sample.left_out:
            results[number] = action.unchecked(number, True, sampling.NOT_SAMPLED)
    per_number = [results.get(n) or action.invalid(n) for n in plan.distinct]
    frame = _join(per_number, plan.row_codes, plan.row_reasons, plan.series.index, action)
    if plan.sample is not None:
        frame[sampling.WEIGHT_COLUMN] = plan.sample.row_weights(plan.row_codes)
    report.invalid = int((frame["status"] == "invalid").sum())
    report.missing = int((frame["status"] == "missing").sum())
    report.errors = int(frame["status"].isin(["error", "busy"]).sum())
    report.not_checked = int((frame["status"] == "not_checked").sum())
    report.status_counts = {
        str(k): int(v) for k, v in frame["status"].value_counts(sort=False).items() if v
    }
    frame.attrs[ATTRS_KEY] = report.to_dict()
    if plan.sample is not None:
        frame.attrs[ATTRS_KEY][sampling.SAMPLE_KEY] = plan.sample.to_dict()
    advice = {
        STOP_BUDGET: "Raise max_billed and run again; answered numbers come from the cache.",
        STOP_DAILY_LIMIT: "The service's daily verification limit is used up; run again "
        "tomorrow, answered numbers come from the cache.",
        STOP_CACHE_UNAVAILABLE: f"{report.stop_detail}.",
        STOP_TRANSPORT: f"{report.stop_detail}. Check the endpoint and the network, then run "
        "again: answered numbers come from the cache.",
    }
    if report.stop_reason in advice:
        held = (
            f" {report.held_writes} answered calls are held by this client until Redis "
            "is back (keep it open, or they are not in the ledger)."
            if report.held_writes
            else ""
        )
        message = (
            f"{action.api} run stopped early ({report.stop_reason}): "
            f"{report.not_checked} rows are 'not_checked'. {advice[report.stop_reason]}{held}"
        )
        if on_warning is not None:  # said by the thread that waits for the result
            on_warning(message)
        else:
            warnings.warn(message, RunStoppedWarning, stacklevel=4)
    return frame, report


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


def _join(
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


# -- the handle: a run in the background -----------------------------------------------

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


class _Settle:
    """What ``client.settle_interrupted_runs()`` waits on for an interrupted run."""

    def __init__(self, finished: threading.Event) -> None:
        self._finished = finished

    def shutdown(self, wait: bool = True) -> None:
        if wait:
            self._finished.wait()


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
        client: Caller,
        values: pd.Series,
        *,
        shape: Shape = _identity,
        max_billed: int | None = None,
        refresh: bool = False,
        validate: str | None = None,
        sample: sampling.SampleRequest | None = None,
        progress: bool = False,
        gate: JobGate | None = None,
        action: Action = STATUS,
    ) -> None:
        self.client = client
        #: The API this run asks (``STATUS``, ``TENURE``): its columns, codes and limit.
        self.action = action
        self._values = values
        self._progress = progress
        self._gate = gate
        self._warning: str | None = None
        self._shape = shape
        self._max_billed = max_billed
        self._refresh = refresh
        self._validate = validate
        self._sample = sample
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stop_requested = False
        self._interrupted = False
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
                        f"this client already has a run going ({other.progress_line()}); wait "
                        "for run.result(), call run.stop(), or start this one on another client"
                    )
            other._finished.wait()
        self._thread.start()
        return self

    def _work(self) -> None:
        try:
            frame, report = _run(
                self.client, self._values, self._progress, self._max_billed, self._refresh,
                self._validate, self._sample, gate=self._gate, stop=self._stop,
                on_plan=self._on_plan, on_result=self._on_result, on_warning=self._on_warning,
                action=self.action,
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
        table = AnswerTable(plan.distinct, plan.row_codes, plan.row_reasons, self.action)
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
            elif self._stop_requested:
                report.stop_reason = STOP_STOPPED
                report.stop_detail = STOPPED_DETAIL
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
        with self._lock:
            self._stop_requested = True
            report = self._report
            if report is not None and report.stop_reason is None and not self.done():
                report.stop_reason = STOP_STOPPED
                report.stop_detail = STOPPED_DETAIL
        self._stop.set()

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
        from ..views.run_view import progress_line

        return progress_line(self)

    def __repr__(self) -> str:
        return f"<msp.Run {self.progress_line()}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        from ..views.run_view import static_bundle

        return static_bundle(self)

    def _ipython_display_(self) -> None:
        from ..views.run_view import show

        show(self)


def start(
    client: Caller,
    values: Iterable[object] | pd.Series,
    *,
    shape: Shape = _identity,
    max_billed: int | None = None,
    refresh: bool = False,
    validate: str | None = None,
    sample: int | None = None,
    by: object = None,
    seed: int | None = None,
    progress: bool = False,
    gate: JobGate | None = None,
    action: Action | str = STATUS,
) -> Run:
    """Start looking ``values`` up in the background; a :class:`Run`, at once.

    Every check on the options runs here, before the run starts (a wrong option raises now,
    not from :meth:`Run.result`). ``progress`` draws the engine's bar or plain lines (see
    :mod:`.progress`) outside Jupyter, where a displayed run is its own live widget.
    ``gate`` makes the run one part of a larger job (a Dask partition): a budget and stops
    shared with the job's other runs, on a client they share.
    """
    from ..views.run_view import in_jupyter

    options.check_run_options(
        progress=progress, max_billed=max_billed, refresh=refresh, validate=validate
    )
    series = numbers.as_series(values)
    by_name = by.name if isinstance(by, pd.Series) else None
    request = sampling.check_request(sample, by, seed, len(series), by_name)
    if not isinstance(series, pd.Series):  # pragma: no cover - as_series returns one
        raise InputError("values must be a Series of phone numbers")
    run = Run(
        client, series, shape=shape, max_billed=max_billed, refresh=refresh,
        validate=validate, sample=request, progress=progress and not in_jupyter(), gate=gate,
        action=get_action(action),
    )  # fmt: skip
    return run._begin()
