"""What one run did: :class:`RunReport`, live while the run goes on, then in the result.

The run's :class:`~mobilestatus_pandas.engine.dispatch.Calls` counts into it as answers
arrive; ``run.report`` refreshes its rates, ETA and cost; the finished report goes to
``out.attrs["mobilestatus"]`` (as a plain dict) and ``client.last_run``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
    #: ``RequestLimitExceeded`` answers: requests the service refused for the rate (never
    #: billed; the network's jitter, or someone else using the account's limit) ...
    rate_limited: int = 0
    #: ... and how many of them were sent again (all, unless a number stayed refused
    #: ``RATE_LIMITED_RETRIES`` times). Not in ``retries``, which counts failures.
    rate_limited_retries: int = 0
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
