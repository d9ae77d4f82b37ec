"""The stop rules of a run: what ends sending early, and what the run says about it.

A run stops sending on a streak of daily-limit answers (:data:`DAILY_LIMIT_STREAK`), of
numbers ending on transport failures (:data:`TRANSPORT_FAILURE_STREAK`) or of attempts
without an answer (:data:`TRANSPORT_FAILED_ATTEMPTS`); on ``max_billed``; on a shared store
away past ``outage_timeout``; on ``run.stop()``; on Ctrl-C; or when the job it is part of
stops (a :class:`JobGate`). Each sets ``RunReport.stop_reason`` to one of the ``STOP_*``
reasons below; the rows not looked up are ``not_checked``, and :func:`stop_warning` says
what to do next. A first call that gets no answer at all raises instead
(:func:`endpoint_unreachable`): the endpoint is wrong or down.

The counting itself happens where the events are seen: the budget and failed attempts in
:class:`~mobilestatus_pandas.engine.dispatch.Calls`, the streaks in
:func:`~mobilestatus_pandas.engine.dispatch.dispatch`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from ..errors import TransportError
    from .calls import CallOutcome
    from .run_report import RunReport

#: This many daily-limit (-4) answers in a row end the run.
DAILY_LIMIT_STREAK: Final = 10
#: This many numbers in a row ending on a transport failure (after their retries) end the
#: run: the endpoint is down or unreachable, and every further call would fail alike.
TRANSPORT_FAILURE_STREAK: Final = 10
#: ... and so do this many attempts in a row, of any numbers, without an answer: with many
#: calls in flight when the endpoint goes away, the run stops before each of them has used
#: all its retries.
TRANSPORT_FAILED_ATTEMPTS: Final = 30

STOP_BUDGET: Final = "max_billed reached"
STOP_DAILY_LIMIT: Final = "daily limit reached"
STOP_INTERRUPTED: Final = "interrupted"
STOP_CACHE_UNAVAILABLE: Final = "cache unavailable"
STOP_TRANSPORT: Final = "transport failures"
#: ``run.stop()`` ended a background run (see :mod:`.run`).
STOP_STOPPED: Final = "stopped"
#: The client was closed (``close()``, a ``with`` block ending) while the run went on.
STOP_CLOSED: Final = "client closed"


class RunStoppedWarning(UserWarning):
    """A run ended before every number was looked up; the frame says which rows."""


#: What an unanswered number says in ``error`` after ``run.stop()``.
STOPPED_DETAIL: Final = "stopped by run.stop()"
#: ... and after the client was closed while the run went on.
CLOSED_DETAIL: Final = "stopped: the client was closed (close(), or its with block ended)"


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


def endpoint_unreachable(outcome: CallOutcome) -> TransportError:
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


#: What to do next, per reason a run stopped early (the others need no advice).
_ADVICE: Final = {
    STOP_BUDGET: "Raise max_billed and run again; answered numbers come from the cache.",
    STOP_DAILY_LIMIT: "The service's daily verification limit is used up; run again "
    "tomorrow, answered numbers come from the cache.",
    STOP_CLOSED: "The client was closed while the run went on: the calls in flight were "
    "answered and recorded first. Keep the client open until run.result() returns; run "
    "again with an open client to resume (answered numbers come from the cache).",
}


def stop_warning(report: RunReport, api: str) -> str | None:
    """The warning a run of ``api`` gives when it stopped early, or None (no advice due).

    Said for the budget, the daily limit, a store away and transport failures: the stops
    the caller did not ask for (``run.stop()`` and Ctrl-C are the caller's own).
    """
    advice = {
        **_ADVICE,
        STOP_CACHE_UNAVAILABLE: f"{report.stop_detail}.",
        STOP_TRANSPORT: f"{report.stop_detail}. Check the endpoint and the network, then run "
        "again: answered numbers come from the cache.",
    }
    if report.stop_reason not in advice:
        return None
    held = (
        f" {report.held_writes} answered calls are held by this client until Redis "
        "is back (keep it open, or they are not in the ledger)."
        if report.held_writes
        else ""
    )
    return (
        f"{api} run stopped early ({report.stop_reason}): "
        f"{report.not_checked} rows are 'not_checked'. {advice[report.stop_reason]}{held}"
    )
