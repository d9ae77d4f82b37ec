"""Several actions over one column in one pass: line status and line tenure side by side.

``df.mobile.check("phone", actions=("status", "tenure"))`` runs one run per action at the
same time, each through the whole engine (its own code table, cache entries, ledger rows and
rate limit: each API has its own 20 calls a second, so together they may use both). The runs
share one budget (``max_billed`` counts the billed and possibly billed calls of all of them)
and one stop: Ctrl-C, an account refused, or the budget spent ends every one of them, with
what was answered kept.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from ..service.actions import Action
from . import stops
from .run import run_lookups

if TYPE_CHECKING:
    from .calls import Caller

#: How often the caller's thread looks up from waiting (to see Ctrl-C at once).
JOIN_POLL_SECONDS: Final = 0.1


class SharedGate:
    """A :class:`~mobilestatus_pandas.engine.stops.JobGate` shared by the runs of one check:
    one budget of billed calls, one stop."""

    def __init__(self, max_billed: int | None) -> None:
        self.max_billed = max_billed
        self.lock = threading.Lock()
        #: Billed and possibly billed calls of every run, and attempts let through, unsettled.
        self.committed = 0
        self.reserved = 0
        self.reason: str | None = None

    def stop(self, reason: str) -> None:
        """Stop every run of the check at its next call (the first reason stays)."""
        with self.lock:
            if self.reason is None:
                self.reason = reason

    def before_call(self, stop: threading.Event) -> str | None:
        with self.lock:
            if self.reason is not None:
                return self.reason
            if self.max_billed is not None and self.committed + self.reserved >= self.max_billed:
                self.reason = stops.STOP_BUDGET
                return self.reason
            self.reserved += 1
            return None

    def after_answer(self, result: str | None, billed: bool, error_code: str | None) -> None:
        with self.lock:
            self.reserved = max(0, self.reserved - 1)
            self.committed += int(billed)

    def after_no_answer(self, possibly_billed: bool) -> None:
        with self.lock:
            self.reserved = max(0, self.reserved - 1)
            self.committed += int(possibly_billed)


def run_actions(
    client: Caller,
    values: Iterable[object] | pd.Series,
    actions: tuple[Action, ...],
    *,
    progress: bool = True,
    max_billed: int | None = None,
    **options: Any,
) -> dict[str, pd.DataFrame]:
    """Run every action over ``values`` at once; each action's result frame by its name.

    ``options`` are those of :func:`~mobilestatus_pandas.engine.run.run_lookups` (``refresh``,
    ``validate``, ``sample``, ``by``, ``seed``); with ``sample``, every action checks the
    same numbers (the draw depends on the numbers and ``seed`` only).
    """
    if len(actions) == 1:  # one action: the plain run, its budget its own
        only = actions[0]
        frame = run_lookups(
            client, values, progress=progress, max_billed=max_billed, action=only, **options
        )
        return {only.name: frame}
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    gate = SharedGate(max_billed)
    frames: dict[str, pd.DataFrame] = {}
    failures: list[BaseException] = []

    def work(action: Action) -> None:
        try:
            frames[action.name] = run_lookups(
                client, series, progress=progress, action=action, gate=gate, **options
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
