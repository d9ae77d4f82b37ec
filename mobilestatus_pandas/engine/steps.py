"""A run's steps in order, in the run's own thread: plan, dispatch, join, report.

:func:`run_steps` is the body of every run (``Run`` starts it in a thread): it plans
(:mod:`.plan`), sends what the store could not answer (:mod:`.dispatch`), writes any answers
held while a shared store was away, joins the answers back to the rows (:mod:`.answers`),
and completes the :class:`~mobilestatus_pandas.engine.run_report.RunReport` that goes to
``out.attrs["mobilestatus"]``; a run that stopped early warns (:func:`.stops.stop_warning`).
"""

from __future__ import annotations

import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import pandas as pd

from ..analysis import sampling
from ..service.result import ATTRS_KEY, round_cost
from .answers import join
from .dispatch import Calls, ResultSink, dispatch
from .display import RunDisplay
from .display import current as current_display
from .options import RunOptions
from .plan import Plan, make_plan
from .run_report import RunReport
from .stops import (
    STOP_CACHE_UNAVAILABLE,
    STOP_INTERRUPTED,
    JobGate,
    RunStoppedWarning,
    stop_warning,
)

if TYPE_CHECKING:
    from .calls import Caller


#: Told the plan and the report of a run once it is planned, before anything is sent.
PlanSink = Callable[["Plan", "RunReport"], None]


def run_steps(
    client: Caller,
    values: Iterable[object] | pd.Series,
    run_options: RunOptions,
    sample: sampling.SampleRequest | None = None,
    *,
    gate: JobGate | None = None,
    stop: threading.Event | None = None,
    on_plan: PlanSink | None = None,
    on_result: ResultSink | None = None,
    on_warning: Callable[[str], None] | None = None,
    display: RunDisplay | None = None,
) -> tuple[pd.DataFrame, RunReport]:
    """Run every step of one run in this thread; the result frame and the report.

    ``run_options`` were checked when they were made; ``sample`` is their sample checked
    against the rows. ``display`` draws the progress bar (with ``run_options.progress``): the
    one installed by the package (:func:`.display.current`) unless another is given.
    """
    action = run_options.action
    started = time.monotonic()
    client.settle_interrupted_runs()
    plan = make_plan(client, values, run_options, sample)
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

    run = Calls(client, report, run_options, gate, stop, on_result)
    try:
        if pending:
            shown = display if display is not None else current_display()
            bar = shown.progress_bar(
                len(pending), run_options.progress, label=run_options.action.api
            )
            results.update(dispatch(run, pending, bar))
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
    frame = join(per_number, plan.row_codes, plan.row_reasons, plan.series.index, action)
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
    message = stop_warning(report, action.api)
    if message is not None:
        if on_warning is not None:  # said by the thread that waits for the result
            on_warning(message)
        else:
            warnings.warn(message, RunStoppedWarning, stacklevel=4)
    return frame, report
