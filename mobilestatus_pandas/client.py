"""The client users hold: :class:`MobileStatusClient`.

It is a :class:`~mobilestatus_pandas.engine.calls.Caller` (the endpoint, the credentials, the rate
limiter, the cache and ledger, one call at a time) with what a notebook asks of it on top:
``client.lookup(number)`` checks one number, ``client.lookup_many(numbers)`` a whole column
(a run: :mod:`mobilestatus_pandas.engine.run`), ``client.ledger()`` and ``client.billing()`` read
what was paid for. The flow is one way: the client starts runs, a run makes calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .analysis.report import BILLING_TIMEZONE
from .engine.answers import ledger_frame
from .engine.calls import Caller
from .engine.options import RunOptions
from .engine.run import Run, active_run, run_lookups
from .engine.run_report import RunReport
from .service.actions import ACTIONS, TENURE
from .service.result import LookupResult, TenureResult

if TYPE_CHECKING:
    import pandas as pd


class MobileStatusClient(Caller):
    """A client for Tencent Cloud eKYC's ``MobileStatus``: signed, rate-limited, cached.

    Every argument is optional; credentials come from Tencent's chain (arguments, environment,
    ``~/.tencentcloud/credentials``), the endpoint from ``$MOBILESTATUS_ENDPOINT`` or Tencent's
    international site.

    Args:
        endpoint: host or URL of the service.
        secret_id, secret_key, token: explicit credentials (token for STS credentials).
        credential: an object with ``get_credential_info()`` (the official SDK's providers).
        region: sent as ``X-TC-Region`` (not required by this API).
        rate_limit: calls per second, shared by every process of this user on this machine
            that uses the same SecretId (the log lives in the per-user cache directory), or
            by every process on every machine that uses the same Redis cache.
        max_workers: the most calls in flight (worker threads). Within it, a run keeps
            ``rate_limit x mean latency x 2`` calls in flight, following the latency it
            observes; the default (``rate_limit x 3`` threads, at most 64) reaches
            ``rate_limit`` at mean latencies up to 2 s.
        timeout: seconds to wait for one answer.
        max_retries: retries of a transient failure (network, HTTP 5xx, bad JSON,
            ``InternalError``, ``Result -3``) before the row gets ``busy``/``error``.
        retry_ambiguous: retry a call that was sent but got no answer (read timeout,
            connection reset, truncated body, HTTP 5xx). Tencent may have billed it, so a
            retry may pay twice; without retries the row stays ``error``. Either way the
            attempt is in the ledger as possibly billed and counts against ``max_billed``.
            Calls that were never sent (connection refused, DNS) are always retried.
        cache: ``"default"`` (``$MOBILESTATUS_CACHE`` if set, else the per-user cache
            dir), a path to a SQLite file, a Redis URL (``"redis://host:6379/0"``: cache,
            ledger and rate limit shared by a team; ``pip install
            'mobilestatus-pandas[redis]'``), or ``None`` (this client's memory only).
        cache_ttl: how long a cached answer is reused (in Redis, also its TTL).
        encryption: ``msp.Encryption(...)`` sends the number encrypted (Tencent's
            ``Encryption`` parameter, a fresh key and IV per request).
        price_per_call: price of one billed call, for cost figures; or a dict by action
            (``{"status": 0.01, "tenure": 0.02}``), as each API has its own price.
        backoff_seconds: the first retry waits up to twice this, each next one doubles
            (capped at 8 s), with full jitter.
        validate: ``"local"`` marks numbers that fail libphonenumber's CN mobile pattern
            ``invalid`` without a call; ``"server"`` sends every 11-digit number.
        outage_timeout: seconds a run waits, calls paused, for a Redis cache that stopped
            answering; then the run stops with ``not_checked`` rows.
        realm: whose answers the cache holds for this client. By default the endpoint's:
            Tencent's sites share one, any other host and port has its own, so a test
            server's answers never mix with the real service's. ``Sandbox.client()`` passes
            the sandbox's own realm (its answers are the same on every port).

    Example:
        >>> import mobilestatus_pandas as msp
        >>> with msp.Sandbox() as sb:
        ...     client = sb.client()
        ...     client.lookup("+86 138 0013 8000").status
        'out_of_service'
    """

    #: The report of the client's latest run (also in ``out.attrs["mobilestatus"]``).
    last_run: RunReport | None

    # -- runs going on ----------------------------------------------------------------------

    @property
    def active_run(self) -> Run | None:
        """The run going on with this client (``df.mobile.start``, or a ``status`` waited
        for in another thread), or None: its handle even when yours was dropped, to
        ``result()``, ``partial()`` or ``stop()`` it. One run at a time per client.

        >>> import pandas as pd, mobilestatus_pandas as msp
        >>> from mobilestatus_pandas.datasets import random_numbers
        >>> frame = pd.DataFrame({"phone": random_numbers(200, seed=1)})
        >>> with msp.Sandbox() as sb:
        ...     client = sb.client(cache=None)
        ...     _ = frame.mobile.start("phone", client=client)  # the handle dropped
        ...     run = client.stop_run()  # found again, and stopped
        ...     out = run.result(timeout=30)
        >>> run.report.stop_reason, client.active_run is None
        ('stopped', True)
        """
        return active_run(self)

    def stop_run(self) -> Run | None:
        """Stop the run going on with this client, if any (as ``run.stop()``: nothing more
        is sent, answers so far are kept and cached); return it, to ``result()`` it."""
        run = active_run(self)
        if run is not None:
            run.stop()
        return run

    # -- the public surface ---------------------------------------------------------------

    def lookup(
        self, number: object, *, refresh: bool = False, validate: str | None = None
    ) -> LookupResult:
        """Check one number (any format); cached, rate-limited and recorded like a batch.

        >>> import mobilestatus_pandas as msp
        >>> with msp.Sandbox() as sb:
        ...     sb.client().lookup("not a number").status
        'invalid'
        """
        frame = run_lookups(self, [number], RunOptions(refresh=refresh, validate=validate))
        return LookupResult.from_row(frame.iloc[0].to_dict())

    def lookup_many(
        self,
        numbers: Sequence[object] | pd.Series,
        progress: bool = True,
        max_billed: int | None = None,
        refresh: bool = False,
        *,
        validate: str | None = None,
        sample: int | None = None,
        by: object = None,
        seed: int | None = None,
    ) -> pd.DataFrame:
        """Check many numbers: a DataFrame with one row per input, in input order.

        A bare string (or bytes) is one number, never a sequence of characters.

        Each distinct number is looked up once; fresh cached answers cost nothing; calls go
        through the shared rate limit; every answer is written to the cache and ledger as it
        arrives, so an interrupted run resumes where it stopped. The run report is in
        ``out.attrs["mobilestatus"]`` and :attr:`last_run`. ``sample=N`` looks up only N
        distinct numbers drawn at random (stratified by ``by``, one value per input, with
        ``seed``): see :mod:`mobilestatus_pandas.analysis.sampling`.

        Raises :class:`AuthenticationError` or :class:`EncryptionKeyError` at the first
        answer that says every call would fail alike, and :class:`TransportError` (naming
        the endpoint) when the run's first call gets no answer after its retries; any later
        failure is a row.
        """
        asked = RunOptions(
            progress=progress, max_billed=max_billed, refresh=refresh, validate=validate,
            sample=sample, by=by, seed=seed,
        )  # fmt: skip
        return run_lookups(self, numbers, asked)

    def tenure(
        self, number: object, *, refresh: bool = False, validate: str | None = None
    ) -> TenureResult:
        """How long one number (any format) has been on the network
        (MobileNetworkTimeVerification); cached, rate-limited and recorded like a batch.

        >>> import mobilestatus_pandas as msp
        >>> with msp.Sandbox() as sb:
        ...     sb.client(cache=None).tenure("139 0000 0003").band
        '[3,6)'
        """
        frame = run_lookups(
            self, [number], RunOptions(refresh=refresh, validate=validate, action=TENURE)
        )
        return TenureResult.from_row(frame.iloc[0].to_dict())

    def tenure_many(
        self,
        numbers: Sequence[object] | pd.Series,
        progress: bool = True,
        max_billed: int | None = None,
        refresh: bool = False,
        *,
        validate: str | None = None,
        sample: int | None = None,
        by: object = None,
        seed: int | None = None,
    ) -> pd.DataFrame:
        """Line tenure of many numbers, as :meth:`lookup_many` does line status: a DataFrame
        of the tenure columns (:data:`mobilestatus_pandas.TENURE_COLUMNS`), one row per input.

        Results 0, -2 and -3 are billed (the tenure, a number that does not exist, a number
        without a known tenure); tenure has its own rate limit, cache entries and price.
        """
        asked = RunOptions(
            progress=progress, max_billed=max_billed, refresh=refresh, validate=validate,
            sample=sample, by=by, seed=seed, action=TENURE,
        )  # fmt: skip
        return run_lookups(self, numbers, asked)

    def billing(
        self, period: str = "D", tz: str | None = BILLING_TIMEZONE, *, by_action: bool = False
    ) -> pd.DataFrame:
        """The ledger per day (``"D"``) or month (``"M"``): calls, billed, possibly billed
        (sent, no answer), unbilled, cost (and the worst case, with the possibly billed
        calls), and ``billed_without_request_id`` (0 when every billed call can be
        reconciled).

        Days and months are those of ``tz``: by default ``"Asia/Shanghai"`` (UTC+8), the time
        Tencent's bills are stated in, so a day here is a day on the bill. ``tz=None`` or
        ``"UTC"`` groups by UTC day. Each call is priced at its action's price
        (``price_per_call`` may be a dict by action); ``by_action=True`` gives a row per
        period and action.
        """
        from .analysis.report import billing_by_period

        return billing_by_period(
            self.ledger(), period, price_per_call=self.price_per_call, tz=tz, by_action=by_action
        )

    def ledger(self) -> pd.DataFrame:
        """Every call that reached the service: time, key hash, Result, billed, RequestId.

        ``billed`` is a nullable boolean: ``True`` a billed answer, ``False`` an unbilled one,
        ``<NA>`` a call that was sent but got no answer (possibly billed: Tencent bills on
        its side; its ``error`` says what happened). Numbers are not stored; ``number_key``
        is the keyed hash used by the cache. ``action`` is the API each call asked
        (``MobileStatus``, ``MobileNetworkTimeVerification``); with ``price_per_call`` a dict
        by action, ``price`` is each call's and ``cost`` follows it.
        """
        prices = {ACTIONS[name].api: price for name, price in self._prices.items()}
        return ledger_frame(
            self.store.ledger(), prices if self._is_priced_per_action else self.price_per_call
        )
