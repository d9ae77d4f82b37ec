"""The batch engine: many numbers in, one result row per input out, nothing paid for twice.

``run_lookups`` does four things, in order:

1. normalise every input at once and de-duplicate: each distinct number is looked up once;
2. answer what it can from the cache, in one query;
3. send the rest through the client's rate limiter to a pool of worker threads; each worker
   writes its answer to the cache and ledger the moment it arrives, so an interrupted or
   killed run loses at most the calls in flight, and running it again resumes;
4. join the answers back to the rows.

It stops well: an account-level failure raises :class:`AuthenticationError` at the first
answer (the first call of a run goes alone, so a wrong key costs one request), a wrong
``Encryption`` key :class:`EncryptionKeyError`, and a first call that gets no answer after its
retries :class:`TransportError` naming the endpoint; a streak of daily-limit answers or of
transport failures, ``max_billed``, or a shared cache (Redis) away for longer than
``outage_timeout`` ends the run with ``not_checked`` rows and a warning; Ctrl-C stops within
a couple of seconds, keeps what was answered, and re-raises.

Every possible charge counts: an attempt that was sent but got no answer is in the ledger as
possibly billed (``billed`` NULL), and ``max_billed`` is checked before every attempt
(retries included) against billed plus possibly billed plus attempts in flight, so the
service never bills more than the budget.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np
import pandas as pd

from . import codes, numbers, options, sampling
from .client import CallOutcome
from .concurrency import InFlightTarget
from .errors import CacheUnavailableError, NotSentError, TransportError
from .result import RESULT_COLUMNS, LookupResult
from .stores import LEDGER_FIELDS, CachedAnswer, LedgerEntry

if TYPE_CHECKING:
    from .client import Answer, MobileStatusClient

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
#: The key under which a result frame's ``attrs`` carry the run report.
ATTRS_KEY: Final = "mobilestatus"
#: Costs are money: rounded to cents wherever they are reported.
COST_DECIMALS: Final = 2

STOP_BUDGET: Final = "max_billed reached"
STOP_DAILY_LIMIT: Final = "daily limit reached"
STOP_INTERRUPTED: Final = "interrupted"
STOP_CACHE_UNAVAILABLE: Final = "cache unavailable"
STOP_TRANSPORT: Final = "transport failures"
#: ``run.stop()`` ended a background run (see run.py).
STOP_STOPPED: Final = "stopped"


def round_cost(value: float) -> float:
    """A cost rounded to cents (``0.1 * 1271`` is 127.10000000000001 in floating point)."""
    return round(float(value), COST_DECIMALS)


class RunStoppedWarning(UserWarning):
    """A run ended before every number was looked up; the frame says which rows."""


#: Told a number and its result as soon as the engine has it.
ResultSink = Callable[[str, LookupResult], None]
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

    def to_dict(self) -> dict[str, Any]:
        """The report as a plain dict (what ``DataFrame.attrs`` holds)."""
        return asdict(self)


class _Run:
    """The state of one run: counters, stop signal, and what to do with each answer."""

    def __init__(
        self,
        client: MobileStatusClient,
        report: RunReport,
        refresh: bool,
        gate: JobGate | None = None,
        max_billed: int | None = None,
        stop: threading.Event | None = None,
        on_result: ResultSink | None = None,
    ) -> None:
        self.client = client
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
                granted = self.client.limiter.acquire(self.stop)
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
        key = self.client.number_key(number)
        meaning = codes.result_code(answer.result)
        billed = answer.error_code is None and meaning.billed
        entry = LedgerEntry(
            called_at=sent_at,
            key=key,
            result=answer.result,
            status_code=answer.status_code,
            billed=billed,
            request_id=answer.request_id,
            error=answer.error_code,
            run_id=self.report.run_id,
            secret_id=self.client.secret_id,
        )
        cached = None
        if final and answer.error_code is None and answer.result in codes.CACHEABLE_RESULTS:
            cached = CachedAnswer(
                answer.result, answer.description, answer.status_code, answer.request_id, sent_at
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
            key=self.client.number_key(number),
            result=None,
            status_code=None,
            billed=None if error.possibly_billed else False,
            request_id=None,
            error=error.code,
            run_id=self.report.run_id,
            secret_id=self.client.secret_id,
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
            return CallOutcome(LookupResult.unchecked(number, True, str(exc)), 0, 0)
        if answer is None:
            return None
        with self.lock:
            self.report.cache_hits += 1
        return CallOutcome(_cached_result(number, answer), 0, 0)

    def lookup(self, number: str) -> CallOutcome:
        """Look one number up, unless another run is calling it or has answered it.

        The number is claimed first (in the shared store): a run that finds it claimed waits
        for that run's answer in the cache instead of paying for it again, and calls it
        itself only if the claim ends without one (an answer that is not cached, or a run
        that died). Claims are renewed by :meth:`renew_claims` and released at the end.
        """
        key = self.client.number_key(number)
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
                return CallOutcome(LookupResult.unchecked(number, True, reason), 0, 0)
            self.pause(CLAIM_POLL_SECONDS)


def _progress_bar(total: int, enabled: bool) -> Any:
    from .progress import progress_bar  # a bar on a terminal or in Jupyter, plain lines in a log

    return progress_bar(total, enabled)


def _finish_when_settled(run: _Run, executor: ThreadPoolExecutor) -> None:
    """Mark an interrupted run finished (its claims no longer renewed) only once the calls
    it abandoned have ended: until then they may still be paid for, and their claims must
    keep other runs from calling the same numbers."""

    def settle() -> None:
        executor.shutdown(wait=True)
        run.finished.set()

    threading.Thread(target=settle, name="mobilestatus-settle", daemon=True).start()


def _in_flight_width(run: _Run, opened: bool) -> int:
    """How many calls may be in flight now: one until the first answer (a wrong key costs
    one request), then what the latency observed asks for, within ``max_workers``."""
    return run.in_flight.width() if opened else 1


def _dispatch(
    run: _Run, pending: list[str], max_billed: int | None, progress: bool
) -> dict[str, LookupResult]:
    """Send ``pending`` numbers through the worker pool; return their results."""
    client, report = run.client, run.report
    results: dict[str, LookupResult] = {}
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
        results[number] = LookupResult.unchecked(number, True, reason)
    if report.stop_reason:  # calls that were waiting for a slot when the run stopped
        for number, result in list(results.items()):
            if result.status == "not_checked":
                results[number] = LookupResult.unchecked(number, True, reason)
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


def _cached_result(number: str, answer: CachedAnswer) -> LookupResult:
    status = codes.status_for(answer.result, answer.status_code)
    return LookupResult(
        number,
        status != "invalid",
        answer.result,
        answer.description,
        answer.status_code,
        status,
        False,
        True,
        dt.datetime.fromtimestamp(answer.checked_at, tz=dt.timezone.utc),
        answer.request_id,
        None,
    )


def run_lookups(
    client: MobileStatusClient,
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
) -> pd.DataFrame:
    """Look up every value; a DataFrame of the result columns, one row per value, in order.

    The index is ``values``' index for a Series, else a RangeIndex. The run report is in
    ``out.attrs["mobilestatus"]`` (a plain dict) and ``client.last_run``. With ``sample=N``
    only N distinct numbers are looked up, stratified by ``by`` (one value per row) when given:
    see :mod:`mobilestatus_pandas.sampling`. ``gate`` makes the run one part of a larger
    job (a Dask partition): a budget and stops shared with the job's other runs.
    """
    series = numbers.as_series(values)  # a bare string is one number, not 11 characters
    by_name = by.name if isinstance(by, pd.Series) else None
    request = sampling.check_request(sample, by, seed, len(series), by_name)
    frame, _ = _run(client, series, progress, max_billed, refresh, validate, request, gate=gate)
    return frame


@dataclass
class _Plan:
    """What a run has to do, worked out before anything is sent."""

    series: pd.Series
    row_codes: np.ndarray  # per row: position in ``distinct``, -1 when not a number
    row_reasons: np.ndarray  # per row: index in numbers.REASONS where row_codes is -1
    distinct: list[str]  # the distinct normalised numbers
    to_check: list[str]  # those to answer (valid, or all with validate="server")
    cached: dict[str, LookupResult]  # those answered by the cache
    sample: sampling.SampleDesign | None = None  # the draw, with sample=N

    @property
    def pending(self) -> list[str]:
        return [n for n in self.to_check if n not in self.cached]


def _plan(
    client: MobileStatusClient,
    values: Iterable[object] | pd.Series,
    validate: str | None,
    refresh: bool,
    sample: sampling.SampleRequest | None = None,
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
    cached: dict[str, LookupResult] = {}
    if to_check and not refresh:
        keys = {client.number_key(n): n for n in to_check}
        fresh_after = client.now() - client.cache_ttl.total_seconds()
        for key, answer in client.store.get_many(list(keys), fresh_after).items():
            cached[keys[key]] = _cached_result(keys[key], answer)
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
    client: MobileStatusClient,
    values: Iterable[object] | pd.Series,
    *,
    validate: str | None = None,
    refresh: bool = False,
) -> pd.Series:
    """What a run would do, before any money is spent: no call is made.

    Returns a Series labelled ``rows``, ``distinct numbers``, ``invalid rows`` (not sent),
    ``missing rows`` (no number given: not sent, not counted as invalid), ``cached and
    fresh``, ``calls needed``, ``worst-case billed calls`` (every call could be
    billed), ``worst-case cost`` (NaN without ``price_per_call``) and ``expected minutes`` (at
    the rate limit).
    """
    options.flag("refresh", refresh)
    plan = _plan(client, values, validate, refresh)
    sent = {n: i for i, n in enumerate(plan.distinct)}
    checked_codes = np.array([sent[n] for n in plan.to_check], dtype=np.int64)
    missing = (plan.row_codes < 0) & (plan.row_reasons == numbers.REASONS.index(numbers.NO_NUMBER))
    missing_rows = int(missing.sum())
    invalid_rows = int((~np.isin(plan.row_codes, checked_codes)).sum()) - missing_rows
    calls = len(plan.pending)
    price = client.price_per_call
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
    client: MobileStatusClient,
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
) -> tuple[pd.DataFrame, RunReport]:
    options.check_run_options(
        progress=progress, max_billed=max_billed, refresh=refresh, validate=validate
    )
    started = time.monotonic()
    client.settle_interrupted_runs()
    plan = _plan(client, values, validate, refresh, sample)
    report = RunReport(
        run_id=uuid.uuid4().hex[:12],
        rows=len(plan.series),
        distinct_numbers=len(plan.distinct),
        cache_hits=len(plan.cached),
    )
    report.price_per_call = client.price_per_call
    client.last_run = report
    results = dict(plan.cached)
    pending = plan.pending
    if on_plan is not None:
        on_plan(plan, report)

    run = _Run(client, report, refresh, gate, max_billed, stop, on_result)
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
        if client.price_per_call is not None:
            report.cost = round_cost(report.billed_calls * client.price_per_call)
            report.worst_case_cost = round_cost(
                (report.billed_calls + report.possibly_billed) * client.price_per_call
            )

    if plan.sample is not None:
        for number in plan.sample.left_out:
            results[number] = LookupResult.unchecked(number, True, sampling.NOT_SAMPLED)
    per_number = [results.get(n) or LookupResult.invalid(n) for n in plan.distinct]
    frame = _join(per_number, plan.row_codes, plan.row_reasons, plan.series.index)
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
        warnings.warn(
            f"MobileStatus run stopped early ({report.stop_reason}): "
            f"{report.not_checked} rows are 'not_checked'. {advice[report.stop_reason]}{held}",
            RunStoppedWarning,
            stacklevel=4,
        )
    return frame, report


def result_dtypes() -> dict[str, Any]:
    """The dtype of each result column."""
    string = numbers.string_dtype()
    return {
        "number": string,
        "valid": "boolean",
        "result": string,
        "description": string,
        "status_code": "Int64",
        "status": pd.CategoricalDtype(list(codes.STATUSES), ordered=False),
        "billed": "boolean",
        "from_cache": "boolean",
        "checked_at": pd.DatetimeTZDtype("ns", "UTC"),
        "request_id": string,
        "error": string,
    }


def empty_results(index: pd.Index | None = None) -> pd.DataFrame:
    """A result frame with no rows (or all-missing rows for ``index``)."""
    return pd.DataFrame(
        {name: pd.Series(index=index, dtype=dtype) for name, dtype in result_dtypes().items()},
        index=index,
    )


def _join(
    per_number: Sequence[LookupResult],
    row_codes: np.ndarray,
    row_reasons: np.ndarray,
    index: pd.Index,
) -> pd.DataFrame:
    """Spread per-number results over the rows.

    Rows without a number (``row_codes`` -1) take the refusal of their reason
    (``row_reasons``, an index in :data:`numbers.REASONS`): one table row per reason, so the
    join stays a single ``take``.
    """
    refusals = [LookupResult.refused(None, reason) for reason in numbers.REASONS]
    table = [*per_number, *refusals]
    distinct = pd.DataFrame({name: [getattr(r, name) for r in table] for name in RESULT_COLUMNS})
    take = np.where(row_codes < 0, len(per_number) + row_reasons.astype(np.intp), row_codes)
    # A number in several rows is billed once: on its first row.
    first_row = np.full(len(table), -1, dtype=np.int64)
    first_row[take[::-1]] = np.arange(len(take) - 1, -1, -1)  # the last write is the first row
    first = np.zeros(len(take), dtype=bool)
    first[first_row[first_row >= 0]] = True
    columns: dict[str, Any] = {}
    for name, dtype in result_dtypes().items():
        col = distinct[name]
        if name == "checked_at":
            col = pd.to_datetime(col, utc=True)
        elif name == "status_code":
            col = col.astype("Float64").astype("Int64")
        columns[name] = col.astype(dtype).take(take).reset_index(drop=True)
    out = pd.DataFrame(columns)
    out["billed"] = out["billed"] & pd.array(first, dtype="boolean")
    out.index = index
    return out


def ledger_frame(entries: Sequence[LedgerEntry], price_per_call: float | None) -> pd.DataFrame:
    """The ledger as a DataFrame (``called_at`` in UTC; ``cost`` when a price is known).

    ``billed`` is nullable: ``<NA>`` for a call sent without an answer (possibly billed),
    whose ``cost`` is ``<NA>`` too (at most one price).
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
    if price_per_call is not None:
        frame["cost"] = frame["billed"].astype("Float64") * price_per_call
    return frame
