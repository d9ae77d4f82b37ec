"""Several actions over one column in one pass: line status and line tenure side by side.

``df.mobile.check("phone", actions=("status", "tenure"))`` runs one run per action at the
same time, each through the whole engine (its own code table, cache entries, ledger rows and
rate limit: each API has its own 20 calls a second, so together they may use both). The runs
share one budget (``max_billed`` counts the billed and possibly billed calls of all of them)
and one stop: Ctrl-C, an account refused, or the budget spent ends every one of them, with
what was answered kept. The budget holds as a single run's does: a call in flight reserves
one unit, given back if its answer is not billed, and the check stops only when billed and
possibly billed calls reach ``max_billed``. With ``sample=N`` one seed is drawn for all the
actions, so each asks about the same numbers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

import pandas as pd

from ..analysis import sampling
from ..service.actions import Action
from . import stops
from .options import RunOptions
from .run import run_lookups

if TYPE_CHECKING:
    from .calls import Caller

#: How often the caller's thread looks up from waiting (to see Ctrl-C at once).
JOIN_POLL_SECONDS: Final = 0.1


#: Whether :meth:`SharedGate.try_reserve` granted a call, or it must wait for calls in flight.
WAIT: Final = "wait"


class SharedGate:
    """A :class:`~mobilestatus_pandas.engine.stops.JobGate` shared by the runs of one check:
    one budget of billed calls, one stop.

    Each attempt reserves one unit of ``max_billed`` before it is sent (any attempt may be
    billed) and settles it when it ends: kept when billed or possibly billed, given back
    otherwise. When billed + possibly billed + reserved reach the budget, the next attempt
    waits for calls in flight to settle; the check stops only when billed + possibly billed
    reach it (or nothing is in flight to give a unit back), as a single run does.
    """

    def __init__(self, max_billed: int | None) -> None:
        self.max_billed = max_billed
        self.lock = threading.Lock()
        self.settled = threading.Condition(self.lock)
        #: Billed and possibly billed calls of every run, and attempts let through, unsettled.
        self.committed = 0
        self.reserved = 0
        self.reason: str | None = None

    def stop(self, reason: str) -> None:
        """Stop every run of the check at its next call (the first reason stays)."""
        with self.settled:
            if self.reason is None:
                self.reason = reason
            self.settled.notify_all()

    def try_reserve(self) -> str | None:
        """One attempt's unit without waiting: None when reserved, :data:`WAIT` while calls
        in flight may give units back, else why the check stopped."""
        with self.lock:
            if self.reason is not None:
                return self.reason
            if self.max_billed is None or self.committed + self.reserved < self.max_billed:
                self.reserved += 1
                return None
            if self.reserved > 0:
                return WAIT
            self.reason = stops.STOP_BUDGET  # billed + possibly billed reached the budget
            self.settled.notify_all()
            return self.reason

    def before_call(self, stop: threading.Event) -> str | None:
        while True:
            outcome = self.try_reserve()
            if outcome != WAIT:
                return outcome
            if stop.is_set():  # this run was stopped while it waited: not the check
                return stops.STOP_INTERRUPTED
            with self.settled:  # woken when a call settles (the timeout: to see ``stop``)
                self.settled.wait(JOIN_POLL_SECONDS)

    def _settle(self, keep: bool) -> None:
        with self.settled:
            self.reserved = max(0, self.reserved - 1)
            self.committed += int(keep)
            self.settled.notify_all()

    def after_answer(self, result: str | None, billed: bool, error_code: str | None) -> None:
        self._settle(keep=billed)

    def after_no_answer(self, possibly_billed: bool) -> None:
        self._settle(keep=possibly_billed)


def run_actions(
    client: Caller,
    values: Iterable[object] | pd.Series,
    actions: tuple[Action, ...],
    run_options: RunOptions | None = None,
) -> dict[str, pd.DataFrame]:
    """Run every action over ``values`` at once; each action's result frame by its name.

    ``run_options`` are every run's (:class:`~.options.RunOptions`), each run with its own
    action; ``max_billed`` among them is one budget for all. With ``sample``, every action
    checks the same numbers (the draw depends on the numbers and ``seed`` only, and without
    ``seed`` one is drawn here for all the actions).
    """
    asked = run_options if run_options is not None else RunOptions()
    if len(actions) == 1:  # one action: the plain run, its budget its own
        only = actions[0]
        return {only.name: run_lookups(client, values, asked.replace(action=only))}
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if asked.sample is not None and asked.seed is None:
        # One draw for every action: each run draws from the same numbers with this seed,
        # so all of them ask about the same sample (a seed each would pay for two samples).
        asked = asked.replace(seed=sampling.fresh_seed())
    gate = SharedGate(asked.max_billed)
    # The gate holds the budget for every run: each run's own would stop it alone.
    each = asked.replace(max_billed=None)
    frames: dict[str, pd.DataFrame] = {}
    failures: list[BaseException] = []

    def work(action: Action) -> None:
        try:
            frames[action.name] = run_lookups(
                client, series, each.replace(action=action), gate=gate
            )
        except BaseException as exc:  # raised in the caller's thread below
            gate.stop(f"{action.name}: {type(exc).__name__}")
            failures.append(exc)

    threads = [
        threading.Thread(target=work, args=(a,), name=f"mobilestatus-{a.name}", daemon=True)
        for a in actions
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(JOIN_POLL_SECONDS)
    except KeyboardInterrupt:
        gate.stop(stops.STOP_INTERRUPTED)
        for thread in threads:  # each run ends its calls and records its answers
            thread.join()
        raise
    if failures:
        raise failures[0]
    return {action.name: frames[action.name] for action in actions}
