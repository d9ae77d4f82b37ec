"""Dispatch: the calls of one run in flight, and what is done with each answer.

:func:`dispatch` sends a run's pending numbers to a pool of worker threads, one call in
flight until the service has answered once (a wrong key costs one request), then as many as
:class:`~mobilestatus_pandas.engine.concurrency.InFlightTarget` says; it counts the streaks
that stop a run (:mod:`.stops`) and feeds the progress bar.

:class:`Calls` is what the workers share: each number is claimed in the store first (two
runs given the same number pay once; a run that finds it claimed waits for the other's
answer in the cache), each attempt reserves its ``max_billed`` budget and a rate-limit slot
(:meth:`Calls.acquire`), and every answer is written to the ledger and the cache the moment
it arrives (:meth:`Calls.on_answer`), so an interrupted or killed run loses at most the calls
in flight. Every possible charge counts: an attempt sent without an answer is in the ledger
as possibly billed (``billed`` NULL), and the budget is checked before every attempt against
billed plus possibly billed plus attempts in flight.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Final

from ..errors import CacheUnavailableError, NotSentError, TransportError
from ..service import codes
from ..service.actions import STATUS
from ..stores import NOT_RECORDED, CachedAnswer, LedgerEntry
from .answers import cached_result
from .calls import CallOutcome
from .concurrency import InFlightTarget
from .run_report import RunReport
from .stops import (
    DAILY_LIMIT_STREAK,
    STOP_BUDGET,
    STOP_CACHE_UNAVAILABLE,
    STOP_DAILY_LIMIT,
    STOP_INTERRUPTED,
    STOP_TRANSPORT,
    TRANSPORT_FAILED_ATTEMPTS,
    TRANSPORT_FAILURE_STREAK,
    JobGate,
    endpoint_unreachable,
)

if TYPE_CHECKING:
    from .calls import Answer, Caller
    from .display import ProgressBar
    from .options import RunOptions

logger = logging.getLogger(__name__)

#: How often a run waiting for another run's answer to a number looks in the cache.
CLAIM_POLL_SECONDS: Final = 0.25
#: A claim on a number lasts this long unless renewed; a running run renews its claims every
#: CLAIM_RENEW_SECONDS, so a run that died holds its numbers no longer than this.
CLAIM_SECONDS: Final = 10.0
CLAIM_RENEW_SECONDS: Final = 2.0
#: How often the dispatcher wakes to check for completions and interrupts.
DISPATCH_POLL_SECONDS: Final = 0.1

#: Told a number and its result as soon as the engine has it.
ResultSink = Callable[[str, Any], None]  # the action's record (LookupResult, TenureResult)


class Calls:
    """The calls of one run: counters, budget, claims, stop signal, and what to do with
    each answer (the ledger and the cache, at once)."""

    def __init__(
        self,
        client: Caller,
        report: RunReport,
        run_options: RunOptions,
        gate: JobGate | None = None,
        stop: threading.Event | None = None,
        on_result: ResultSink | None = None,
    ) -> None:
        self.client = client
        #: The API this run asks (its codes, its limiter, its cache keys).
        self.action = run_options.action
        self.gate = gate
        self.report = report
        self.max_billed = run_options.max_billed
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
        self.fresh_after = client.now() if run_options.refresh else (
            client.now() - client.cache_ttl.total_seconds()
        )  # fmt: skip
        # Claims are the client's (its runs never overlap: each waits for the calls of an
        # interrupted one), so a run takes over what an earlier one could not release.
        self.owner = client.claim_owner
        if gate is not None:  # runs of one job share a client at the same time: one owner each
            self.owner = f"{self.owner}:{report.run_id}"
        self.claimed: set[str] = set()
        #: Claims a final record ended (or keeps, when the store held the write): the
        #: lookup does not release them itself.
        self.settled: set[str] = set()
        #: Claims found lost just before a send (lapsed and taken, or the store could not
        #: say): the number goes back to be claimed again, unsent.
        self.lost: set[str] = set()
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
            if not keys:
                continue
            try:  # all at once: one round trip to a remote store, not one per claim
                store.claim_many(keys, self.owner, self.client.now(), CLAIM_SECONDS)
            except Exception:  # a renewal missed is a claim that may lapse, no more
                logger.debug("could not renew the claims", exc_info=True)

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
        gate_granted = False  # the gate's unit, to give back if the call is not sent
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
                gate_granted = self.gate is not None
                granted = self.client.limiter_for(self.action).acquire(self.stop)
        except CacheUnavailableError as exc:
            self._stop_for_cache(exc)
            granted = False
        if not granted:
            if gate_granted and self.gate is not None:
                self.gate.after_no_answer(possibly_billed=False)
            with self.lock:
                self._settle()
        return granted

    def acquire_for(self, key: str) -> bool:
        """Before every attempt at ``key``: :meth:`acquire`, then mark the call sent on its
        claim (renewing it), so a process killed before it records the answer leaves the
        call in the ledger as possibly billed. A claim found lost (lapsed and taken by
        another run, or a store that cannot say) sends nothing: the number is claimed
        again."""
        if not self.acquire():
            return False
        now = self.client.now()
        entry = LedgerEntry(
            called_at=now,
            key=key,
            result=None,
            status_code=None,
            billed=None,
            request_id=None,
            error=NOT_RECORDED,
            run_id=self.report.run_id,
            secret_id=self.client.secret_id,
            action=self.action.api,
        )
        try:
            marked = self.client.store.mark_sent(entry, self.owner, now, CLAIM_SECONDS)
        except CacheUnavailableError:
            logger.debug("could not mark a call sent", exc_info=True)
            marked = False
        if marked:
            return True
        if self.gate is not None:
            self.gate.after_no_answer(possibly_billed=False)
        with self.lock:
            self._settle()
            self.lost.add(key)
        return False

    def pause(self, seconds: float) -> None:
        self.stop.wait(seconds)

    def _record(self, entry: LedgerEntry, answer: CachedAnswer | None, final: bool) -> None:
        """Write one attempt, settling its mark; the last one ends the claim in the same
        step (so the next claimer finds the answer). A write the store could not take is
        held, and the claim stays until it lapses."""
        if final:
            with self.lock:
                self.settled.add(entry.key)
        try:
            self.client.store.record(entry, answer, owner=self.owner, release=final)
        except CacheUnavailableError as exc:
            # The store refused the write (a SQLite file locked, full, read-only): it holds
            # it to write later; the answer is in the row; the run ends here.
            self._stop_for_cache(exc)

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
            self._record(entry, cached, final)
        finally:
            with self.lock:
                self._settle()
                self.report.calls += 1
                self.report.billed_calls += int(billed)
                if answer.error_code and (
                    codes.error_kind(answer.error_code) is codes.ErrorKind.RATE_LIMITED
                ):
                    self.report.rate_limited += 1
                    self.report.rate_limited_retries += int(not final)
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
            try:  # it never left: not a possible charge
                self.client.store.unmark(self.client.number_key(number, self.action), self.owner)
            except CacheUnavailableError:
                logger.debug("could not unmark a call", exc_info=True)
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
            self._record(entry, None, final)
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
        return CallOutcome(cached_result(number, answer, self.action), 0, 0)

    def lookup(self, number: str) -> CallOutcome:
        """Look one number up, unless another run is calling it or has answered it.

        The number is claimed first (in the shared store): a run that finds it claimed waits
        for that run's answer in the cache instead of paying for it again, and calls it
        itself only if the claim ends without one (an answer that is not cached, or a run
        that died). Claims are renewed by :meth:`renew_claims`; the last attempt's record
        ends the claim in the same step as it writes the answer, so the next claimer finds
        it (:meth:`_record`); a claim not ended so (nothing sent) is released at the end.
        """
        key = self.client.number_key(number, self.action)
        while True:
            waited = self._claim(number, key)
            if waited is not None:
                return waited
            outcome = self._lookup_claimed(number, key)
            if outcome is not None:
                return outcome

    def _lookup_claimed(self, number: str, key: str) -> CallOutcome | None:
        """Call a number this run holds the claim on; None when the claim was found lost
        before the call left (claim it again)."""
        try:
            done = self._answered_elsewhere(number, key)
            if done is not None:
                return done
            outcome = self.client.call(
                number,
                acquire=lambda: self.acquire_for(key),
                sleep=self.pause,
                on_answer=self.on_answer,
                on_transport_error=self.on_transport_error,
                action=self.action,
            )
            with self.lock:
                lost = key in self.lost and key not in self.settled
            if lost and not self.stop.is_set():
                return None
            return outcome
        finally:
            with self.lock:
                self.claimed.discard(key)
                self.lost.discard(key)
                ended = key in self.settled
                self.settled.discard(key)
            if not ended:
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


def _finish_when_settled(run: Calls, executor: ThreadPoolExecutor) -> None:
    """Mark an interrupted run finished (its claims no longer renewed) only once the calls
    it abandoned have ended: until then they may still be paid for, and their claims must
    keep other runs from calling the same numbers."""

    def settle() -> None:
        executor.shutdown(wait=True)
        run.finished.set()

    threading.Thread(target=settle, name="mobilestatus-settle", daemon=True).start()


def _in_flight_width(run: Calls, opened: bool) -> int:
    """How many calls may be in flight now: one until the first answer (a wrong key costs
    one request), then what the latency observed asks for, within ``max_workers``."""
    return run.in_flight.width() if opened else 1


def dispatch(run: Calls, pending: list[str], bar: ProgressBar | None = None) -> dict[str, Any]:
    """Send ``pending`` numbers through the worker pool; return their results.

    ``bar`` (the run's display's, or None) counts the numbers answered; it is closed here.
    """
    client, report, max_billed = run.client, run.report, run.max_billed
    results: dict[str, Any] = {}
    queue = list(reversed(pending))
    in_flight: dict[Future[CallOutcome], str] = {}
    # The first call goes alone: a wrong key, an inactive account or a dead endpoint costs
    # one call (with its retries).
    opened = False
    daily_streak = transport_streak = 0
    failed = 0
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
                        raise endpoint_unreachable(outcome)
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
                        refused=report.rate_limited,
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
