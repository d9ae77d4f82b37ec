"""Dask DataFrames: ``ddf.mobile.status("phone")`` on a cluster, one limit and one bill.

With ``pip install 'mobilestatus-pandas[dask]'`` the ``.mobile`` accessor is on
``dask.dataframe.DataFrame`` and ``Series`` too (registered the moment both this package and
``dask.dataframe`` are imported, in either order):

>>> import dask.dataframe as dd, pandas as pd
>>> import mobilestatus_pandas as msp
>>> ddf = dd.from_pandas(pd.DataFrame({"phone": ["13800000000", "junk"]}), npartitions=2)
>>> with msp.Sandbox() as sb:
...     out = ddf.mobile.status("phone", client=sb.client())    # lazy: nothing sent yet
...     done = out.compute(scheduler="threads")
>>> done["mobile_status"].tolist()
['normal', 'invalid']

``ddf.mobile.tenure("phone", ...)`` is the same for line tenure (MobileNetworkTimeVerification):
the ``tenure_*`` columns, the same options and job, tenure's own code table (its daily limit is
Result ``-5``, its billed Results 0, -2 and -3).

How it holds together on many machines:

* **Configuration, not connections.** The client travels to the workers as a
  :class:`WorkerConfig` (endpoint, rate limit, cache location, prices by action, options);
  each worker process builds its own :class:`~mobilestatus_pandas.MobileStatusClient` from
  it once and reuses it, and closes it when the worker closes or the process ends
  (:func:`close_built_clients`): answers held for a Redis that was away are written then.
* **Secrets from the workers' own environment** (the way for teams): credentials follow
  Tencent's chain on each worker (``TENCENTCLOUD_SECRET_ID``/``_KEY``, profile file, CVM
  role), and a cache named by ``$MOBILESTATUS_CACHE`` (``cache="default"``) is a Redis URL
  each worker reads from its own ``$MOBILESTATUS_CACHE``: neither is in the task graph. A
  worker whose variable names another cache than the client's refuses to run (each would
  pace itself and pay again). What the user passes *explicitly* (``secret_key=``, a client
  made with one, ``cache="redis://:password@host"``) the workers cannot find otherwise: it
  is put into the task graph, pickled, and so reaches the scheduler and every worker. It
  never appears in task names, keys or reprs.
* **One limit, one bill.** Every worker paces through the shared rate limiter and reads
  and writes the shared cache, claims and ledger, so a cluster stays under the account's
  limit and a number in several partitions is paid for once. That needs a store every
  worker reaches: Redis anywhere, the SQLite default only when all workers are on one
  machine. A cluster of several hosts without Redis, or ``cache=None`` with more than one
  worker process, is refused before anything is sent.
* **Job-wide budget and stops.** The partitions of one ``.mobile.status(...)`` share a
  job in the store: ``max_billed`` counts billed and possibly-billed calls of every
  partition; the job's first call goes alone (a wrong key costs one request), an
  authentication failure stops every partition, and a daily-limit streak in one partition
  stops them all (the daily limit as the job's action's code table says: ``daily_limit``).
  Rows not looked up are ``not_checked``; :func:`job_report` says why.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing.util
import os
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from itertools import compress, repeat
from operator import attrgetter
from pathlib import Path
from typing import Any, Final, TextIO

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from dask.delayed import Delayed, delayed

from .accessor import DEFAULT_PREFIX, _check_prefix, _check_prefixes, _clashes, resolve_client
from .analysis.report import combine_parts, summary_from_parts, summary_parts
from .client import MobileStatusClient
from .engine import answers, dispatch, options, stops
from .engine.options import RunOptions
from .engine.plan import ESTIMATE_LABELS
from .engine.run import run_lookups
from .engine.timing import expected_minutes
from .errors import AuthenticationError, InputError
from .service import codes, numbers
from .service.actions import ACTIONS, STATUS, TENURE, Action, get_action, get_actions
from .service.credentials import Credentials, mask
from .service.result import ATTRS_KEY, KEY_COLUMN
from .stores import ENV_CACHE

logger = logging.getLogger(__name__)

#: Task names on the dashboard: ``mobilestatus-status-<token>`` and so on.
TASK_PREFIX: Final = "mobilestatus"
#: How long a job's shared state (budget, stop, first call) lives in the store.
JOB_STATE_SECONDS: Final = 24 * 3600.0
#: How often a partition waiting for the job's first answer looks again.
JOB_POLL_SECONDS: Final = 0.05
#: How much longer than the client's timeout a partition waits for budget that calls in
#: flight elsewhere may give back.
BUDGET_WAIT_MARGIN_SECONDS: Final = 5.0
STOP_AUTHENTICATION: Final = "authentication failed"
#: The names of the actions (keys of a check's ``attrs``).
ACTION_NAMES: Final = frozenset(ACTIONS)
#: The status label of a daily-limit answer, in every action's code table (its Result
#: differs: ``-4`` for MobileStatus, ``-5`` for tenure).
DAILY_LIMIT_STATUS: Final = "daily_limit"
#: ``WorkerConfig.cache`` when the client's Redis URL came from ``$MOBILESTATUS_CACHE``:
#: each worker reads its own, so the URL and its password stay off the task graph.
CACHE_FROM_ENVIRONMENT: Final = "default"


# -- the client as configuration ------------------------------------------------------------


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs to build the same client: picklable, no connections.

    ``credentials`` (or ``credential``, a provider object) is set only when the user gave
    them explicitly; otherwise each worker walks Tencent's credential chain itself. A Redis
    cache named by ``$MOBILESTATUS_CACHE`` travels as ``cache="default"``
    (:data:`CACHE_FROM_ENVIRONMENT`): each worker reads its own variable, and the URL (and
    its password) stays off the graph. The repr and the Dask token never show a secret
    (nor a Redis password).
    """

    token: str  # names this client; the same process reuses the user's own object
    endpoint: str
    cache: str | None  # a Redis URL or a SQLite file, as resolved on the user's machine
    cache_location: str  # the same, fit to show (no password)
    rate_limit: float
    max_workers: int
    timeout: float
    max_retries: int
    cache_ttl_seconds: float
    price_per_call: float | dict[str, float] | None  # as set: one price, or one per action
    validate: str
    backoff_seconds: float
    outage_timeout: float
    region: str | None = None
    retry_ambiguous: bool = True
    realm: str | None = None  # whose answers the cache holds (the sandbox's, Tencent's, ...)
    encryption: tuple[str, bytes] | None = None  # (algorithm, public key PEM)
    credentials: Credentials | None = field(default=None, repr=False)
    credential: object | None = field(default=None, repr=False)
    redis_cache: bool = False  # whether the cache is a Redis server, wherever its URL is

    def __repr__(self) -> str:
        creds = (
            f"explicit ({self.credentials.secret_id}, key {mask(self.credentials.secret_key)})"
            if self.credentials is not None
            else "provider"
            if self.credential is not None
            else "credential chain on each worker"
        )
        return (
            f"WorkerConfig(endpoint={self.endpoint!r}, cache={self.cache_location!r}, "
            f"rate_limit={self.rate_limit:g}, credentials={creds})"
        )

    def __dask_tokenize__(self) -> str:
        return self.token  # hashes nothing secret into task keys

    @classmethod
    def from_client(cls, client: MobileStatusClient) -> WorkerConfig:
        """The configuration of ``client`` (and remember ``client`` for this process)."""
        token = _token_for(client)
        source = client._credentials
        fixed, provider = source._fixed, source._provider
        target = client._cache_target
        redis_cache = isinstance(target, str)  # a Redis URL; a SQLite file is a Path
        cache = None if target is None else str(target)
        if redis_cache and client._cache_from_environment:
            cache = CACHE_FROM_ENVIRONMENT  # each worker reads its own $MOBILESTATUS_CACHE
        encryption = None
        if client.encryption is not None:
            from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

            pem = client.encryption._public_key.public_bytes(
                Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
            )
            encryption = (client.encryption.algorithm, pem)
        return cls(
            token=token,
            endpoint=client.url,
            cache=cache,
            cache_location=client.cache_location,
            rate_limit=client.rate_limit,
            max_workers=client.max_workers,
            timeout=client.timeout,
            max_retries=client.max_retries,
            cache_ttl_seconds=client.cache_ttl.total_seconds(),
            price_per_call=client.price_setting,
            validate=client.validate,
            backoff_seconds=client.backoff_seconds,
            outage_timeout=client.outage_timeout,
            region=client.region,
            retry_ambiguous=client.retry_ambiguous,
            realm=client.realm,
            encryption=encryption,
            credentials=fixed if fixed is not None and fixed.source == "arguments" else None,
            credential=provider,
            redis_cache=redis_cache,
        )

    @property
    def is_redis(self) -> bool:
        """Whether the cache is a Redis server (shared by every machine)."""
        return self.redis_cache or (self.cache is not None and "://" in self.cache)

    def price_for(self, action: str) -> float | None:
        """The price of one billed call of ``action`` (its name: ``"status"``, ``"tenure"``)."""
        if isinstance(self.price_per_call, dict):
            return self.price_per_call.get(get_action(action).name)
        return self.price_per_call

    def build(self) -> MobileStatusClient:
        """A new client from this configuration (on a worker)."""
        import datetime as dt

        encryption = None
        if self.encryption is not None:
            from .service.encryption import Encryption

            algorithm, pem = self.encryption
            encryption = Encryption(public_key=pem, algorithm=algorithm)
        creds = self.credentials
        cache: str | Path | None = self.cache
        if cache is not None and not self.is_redis:
            cache = Path(cache)
        client = MobileStatusClient(
            endpoint=self.endpoint,
            secret_id=creds.secret_id if creds else None,
            secret_key=creds.secret_key if creds else None,
            token=creds.token if creds else None,
            credential=self.credential,
            region=self.region,
            rate_limit=self.rate_limit,
            max_workers=self.max_workers,
            timeout=self.timeout,
            max_retries=self.max_retries,
            cache=cache,
            cache_ttl=dt.timedelta(seconds=self.cache_ttl_seconds),
            encryption=encryption,
            price_per_call=self.price_per_call,
            validate=self.validate,
            backoff_seconds=self.backoff_seconds,
            outage_timeout=self.outage_timeout,
            retry_ambiguous=self.retry_ambiguous,
            realm=self.realm,
        )
        if self.cache == CACHE_FROM_ENVIRONMENT and client.cache_location != self.cache_location:
            client.close()
            raise InputError(
                f"this worker's ${ENV_CACHE} names the cache {client.cache_location!r}, the "
                f"client's {self.cache_location!r}: set the same ${ENV_CACHE} on every "
                "worker (else each would pace itself and pay again for numbers others paid "
                "for), or pass cache='redis://...' explicitly (then it is pickled into the "
                "task graph)"
            )
        return client


_registry_lock = threading.Lock()
#: The user's own clients in this process, by token (a threaded scheduler uses them as they are).
_own_clients: weakref.WeakValueDictionary[str, MobileStatusClient] = weakref.WeakValueDictionary()
_tokens: weakref.WeakKeyDictionary[MobileStatusClient, str] = weakref.WeakKeyDictionary()
#: Clients this (worker) process built from configurations, reused by every task.
_built_clients: dict[str, MobileStatusClient] = {}


def _token_for(client: MobileStatusClient) -> str:
    with _registry_lock:
        token = _tokens.get(client)
        if token is None:
            token = uuid.uuid4().hex[:16]
            _tokens[client] = token
            _own_clients[token] = client
        return token


def client_for(config: WorkerConfig) -> MobileStatusClient:
    """The client for ``config`` in this process: the user's own object where it lives,
    else one built on first use and reused by every later task of this process (and closed
    when the process's worker closes, or the process ends: :func:`close_built_clients`)."""
    global _close_at_exit
    with _registry_lock:
        found = _own_clients.get(config.token) or _built_clients.get(config.token)
        if found is None:
            found = config.build()
            _built_clients[config.token] = found
            if _close_at_exit is None:
                # multiprocessing's children end with os._exit, where atexit does not run,
                # but they run these finalizers first; the main process runs them at exit.
                _close_at_exit = multiprocessing.util.Finalize(
                    None, close_built_clients, exitpriority=CLOSE_AT_EXIT_PRIORITY
                )
        return found


# -- closing what a worker built ---------------------------------------------------------------

#: How much longer than a built client's timeout its close may take (its calls in flight
#: end within the timeout; then its writes) before the worker's shutdown goes on without it.
CLOSE_MARGIN_SECONDS: Final = 5.0
#: The built clients close among multiprocessing's exit finalizers of this priority (higher
#: first), before the process's children are ended.
CLOSE_AT_EXIT_PRIORITY: Final = 10
#: This process's exit finalizer, made with its first built client.
_close_at_exit: multiprocessing.util.Finalize | None = None


def _forget_inherited_clients() -> None:
    """In a forked child: the parent's built clients (and lock) are the parent's to close."""
    global _registry_lock, _close_at_exit
    _registry_lock = threading.Lock()
    _built_clients.clear()
    _close_at_exit = None


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_forget_inherited_clients)


def _close_one(client: MobileStatusClient) -> None:
    try:
        client.close()
    except Exception as exc:  # one client's failure must not keep the others open
        logger.warning(
            "closing the client of cache %s on this worker failed (%s): answers it held may "
            "not be in the cache", client.cache_location, type(exc).__name__,
        )  # fmt: skip


def _held_writes(client: MobileStatusClient) -> int:
    """How many answered calls ``client``'s store holds for a cache that was away."""
    try:
        return int(getattr(client.store, "held_writes", 0))
    except InputError:  # closed meanwhile
        return 0


def close_built_clients() -> int:
    """Close every client this process built (:func:`client_for`) and forget them.

    Each client's close stops its run, waits for its calls in flight (each within the
    client's timeout), writes what it holds (answers held while Redis was away, drained by
    the store's own close) and closes its store (the SQLite connection, the Redis pool). The
    clients close at once, each in a thread of its own, and this returns after the longest
    timeout among them plus :data:`CLOSE_MARGIN_SECONDS` at most (a worker's shutdown is
    never held longer); a client still closing then is logged. Returns how many closed.
    Called when a Dask worker closes (the plugin in ``_dask_worker``) and when the process
    ends; a later task builds a new client.
    """
    with _registry_lock:
        built = list(_built_clients.values())
        _built_clients.clear()
    if not built:
        return 0
    held = sum(_held_writes(client) for client in built)
    if held:
        logger.info("writing %d answered calls held for the cache before closing", held)
    threads = [
        threading.Thread(target=_close_one, args=(client,), name="mobilestatus-close", daemon=True)
        for client in built
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + max(c.timeout for c in built) + CLOSE_MARGIN_SECONDS
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    still = sum(thread.is_alive() for thread in threads)
    if still:
        logger.warning(
            "%d of %d clients were still closing after %.0f s; going on without them (answers "
            "they hold may not reach the cache)", still, len(built),
            max(c.timeout for c in built) + CLOSE_MARGIN_SECONDS,
        )  # fmt: skip
    return len(built) - still


def _close_clients_on_worker_close() -> None:
    """Have the current distributed cluster's workers close their built clients when they
    close (a worker plugin, registered once per cluster: idempotent by name)."""
    try:
        from distributed import default_client
    except ImportError:
        return
    try:
        cluster = default_client()
    except ValueError:
        return  # no distributed client: the process-exit finalizer is what closes
    if getattr(cluster, "asynchronous", False):
        return  # register_plugin would be a coroutine here; the exit finalizer remains
    from ._dask_worker import PLUGIN_NAME, CloseClientsPlugin

    try:
        cluster.register_plugin(CloseClientsPlugin(close_built_clients), name=PLUGIN_NAME)
    except Exception as exc:  # the job runs all the same; its clients close at process exit
        logger.warning(
            "could not ask the workers to close their clients when they close (%s); they "
            "close when their processes end", type(exc).__name__,
        )  # fmt: skip


# -- the job: budget and stops shared by every partition -------------------------------------


@dataclass(frozen=True)
class JobSpec:
    """One ``.mobile.status(...)`` (or ``.tenure(...)``) call: what every partition of it
    shares."""

    job_id: str
    max_billed: int | None
    refresh: bool
    validate: str | None
    action: str = STATUS.name  # the action's name (``"status"``, ``"tenure"``)
    #: The budget and stop this job shares with others (``check``: one for every action).
    shared_id: str | None = None

    def name(self, what: str) -> str:
        """The store name of one piece of this job's state."""
        return f"{self.job_id}:{what}"

    def shared(self, what: str) -> str:
        """The store name of the budget or stop this job shares (its own without others)."""
        return f"{self.shared_id or self.job_id}:{what}"


class _JobGate:
    """The :class:`~mobilestatus_pandas.engine.JobGate` of one partition's run."""

    def __init__(self, client: MobileStatusClient, job: JobSpec) -> None:
        self.client = client
        self.job = job
        self.store = client.store
        self.owner = f"{client.claim_owner}:{uuid.uuid4().hex[:8]}"
        self.opened = False
        self.daily_streak = 0
        self.action = get_action(job.action)

    def is_daily_limit(self, result: str | None) -> bool:
        """Whether ``result`` is the daily limit in this job's action's own code table."""
        return self.action.result_code(result).status == DAILY_LIMIT_STATUS

    def stop_reason(self) -> str | None:
        """Why the job stopped, when it did (read from the shared store)."""
        return self.store.get_flag(self.job.shared("stop"), self.client.now())

    def stop_job(self, reason: str) -> None:
        """Stop every partition of the job (the first reason given stays)."""
        self.store.set_flag(self.job.shared("stop"), reason, self.client.now(), JOB_STATE_SECONDS)

    def before_call(self, stop: threading.Event) -> str | None:
        now = self.client.now
        waiting_since: float | None = None
        while True:
            reason = self.stop_reason()
            if reason is not None:
                return reason
            if self._may_send(now()):
                budget = self._take_budget(now())
                if budget is None:
                    return None
                # Spent: wait while calls in flight may give some back (each ends within
                # the client's timeout; a worker that died mid-call holds its unit).
                waiting_since = now() if waiting_since is None else waiting_since
                waited = now() - waiting_since
                if not budget or waited > self.client.timeout + BUDGET_WAIT_MARGIN_SECONDS:
                    self.store.set_flag(
                        self.job.shared("budget"), stops.STOP_BUDGET, now(), JOB_STATE_SECONDS
                    )
                    return stops.STOP_BUDGET
            if stop.wait(JOB_POLL_SECONDS):
                return stops.STOP_INTERRUPTED

    def _may_send(self, now: float) -> bool:
        """Whether the job has had its first answer, or this is its first call."""
        if self.opened or self.store.get_flag(self.job.name("opened"), now) is not None:
            self.opened = True
            return True
        # The job's first call goes alone, cluster-wide: a wrong key costs one request.
        first = self.job.name("first-call")
        return self.store.claim(first, self.owner, now, dispatch.CLAIM_SECONDS)

    def _take_budget(self, now: float) -> bool | None:
        """None: taken (or no budget); False: spent; True: spent, but calls in flight may
        give some back (wait and ask again)."""
        if self.job.max_billed is None:
            return None
        spent = self.store.add_count(self.job.shared("billed"), 1, now, JOB_STATE_SECONDS)
        if spent <= self.job.max_billed:
            self.store.add_count(self.job.shared("in-flight"), 1, now, JOB_STATE_SECONDS)
            return None
        self.store.add_count(self.job.shared("billed"), -1, now, JOB_STATE_SECONDS)
        return self.store.add_count(self.job.shared("in-flight"), 0, now, JOB_STATE_SECONDS) > 0

    def _settle(self, keep_budget: bool) -> None:
        if self.job.max_billed is None:
            return
        now = self.client.now()
        self.store.add_count(self.job.shared("in-flight"), -1, now, JOB_STATE_SECONDS)
        if not keep_budget:  # the unit taken comes back
            self.store.add_count(self.job.shared("billed"), -1, now, JOB_STATE_SECONDS)

    def after_answer(self, result: str | None, billed: bool, error_code: str | None) -> None:
        now = self.client.now()
        if error_code is not None and codes.error_kind(error_code) is codes.ErrorKind.ACCOUNT:
            self.stop_job(f"{STOP_AUTHENTICATION}: {error_code}")
        elif not self.opened:
            self.opened = True
            self.store.set_flag(self.job.name("opened"), "1", now, JOB_STATE_SECONDS)
        self._count_daily_limit(self.is_daily_limit(result), now)
        self._settle(keep_budget=billed)
        self.store.add_count(self.job.name("answers"), 1, now, JOB_STATE_SECONDS)

    def _count_daily_limit(self, daily: bool, now: float) -> None:
        """The job's streak of daily-limit answers, counted across every partition in the
        shared store; any other answer ends it. A streak stops the whole job at once."""
        streak = self.job.name("daily-streak")
        if daily:
            self.daily_streak = self.store.add_count(streak, 1, now, JOB_STATE_SECONDS)
            if self.daily_streak >= stops.DAILY_LIMIT_STREAK:
                self.stop_job(stops.STOP_DAILY_LIMIT)
            return
        current = self.store.add_count(streak, 0, now, JOB_STATE_SECONDS)
        if current > 0:  # (another partition's answer may land between: a streak is a hint)
            self.store.add_count(streak, -current, now, JOB_STATE_SECONDS)
        self.daily_streak = 0

    def after_no_answer(self, possibly_billed: bool) -> None:
        self._settle(keep_budget=possibly_billed)


def _job_attrs(
    job: JobSpec, config: WorkerConfig, before: Mapping[Any, Any] | None = None
) -> dict[str, Any]:
    """What every partition's frame (and so the computed frame) carries in ``attrs``: the
    job, and each action's job by its name (a ``check`` adds one per action)."""
    mine = {"job_id": job.job_id, "price_per_call": config.price_for(job.action)}
    earlier = (before or {}).get(ATTRS_KEY, {}) if job.shared_id else {}
    jobs = {k: v for k, v in earlier.items() if k in ACTION_NAMES}
    return {ATTRS_KEY: {**mine, **jobs, job.action: dict(mine)}}


@dataclass
class _PartitionPlan:
    """One partition's column, worked out before anything is sent: its distinct numbers,
    which of them the store answered (in one batched read), and which are left to call.

    The store's answers are held column-wise, one slot per distinct number: ``template``
    (the job's record of that answer's Result, Description and fields; -1: no answer),
    ``request_id`` and ``checked_at``.
    """

    series: pd.Series
    row_codes: np.ndarray  # per row: position in ``distinct``, -1 when not a number
    row_reasons: np.ndarray  # per row: index in numbers.REASONS where row_codes is -1
    distinct: pd.Series  # the distinct normalised numbers (string dtype)
    checked: np.ndarray  # per distinct number: sent (valid, or validate="server")
    template: np.ndarray  # per distinct number: its answer's record in the job, -1: none
    request_id: pa.Array  # per distinct number: the answer's RequestId (null: none)
    checked_at: np.ndarray  # per distinct number: when it was answered (Unix seconds)
    row_key: np.ndarray  # per distinct number: its row key (the ``key`` column)
    records: pd.DataFrame  # the job's answer records, typed (row i: template i)
    sampled_out: np.ndarray  # per distinct number: checked, but not in the job's sample

    @property
    def pending(self) -> pd.Series:
        """The numbers to call: checked, in the sample, and not answered by the store."""
        missing = self.template < 0
        return self.distinct[self.checked & missing & ~self.sampled_out].reset_index(drop=True)

    @property
    def left_out(self) -> list[str]:
        """The numbers a full run would send that the job's sample left out."""
        return self.distinct[self.sampled_out].tolist()


def _plan_partition(
    client: MobileStatusClient,
    series: pd.Series,
    job: JobSpec,
    action: Action,
    drawn: dict[str, float] | None = None,
) -> _PartitionPlan:
    """Classify and de-duplicate the partition's values, and read every number the store
    holds in one batched query (keyed hashes only; one round trip for the partition, none
    when the worker read every number before in this job)."""
    mode = options.choice("validate", job.validate or client.validate, options.VALIDATE_MODES)
    rows, values = numbers.distinct_values(series)
    fresh_after = client.now() - client.cache_ttl.total_seconds()
    table = _seen.table(job, action)
    known = table.look_up(
        client, action, values, local=mode == "local", drawn=drawn, fresh_after=fresh_after,
        read=not job.refresh,
    )  # fmt: skip
    template = known.template
    if job.refresh:
        template = np.full(len(known.distinct), -1, dtype=np.intp)
    asked = known.checked & ~known.sampled_out
    return _PartitionPlan(
        series, np.append(known.value_code, -1)[rows], numbers.row_reasons(rows, known.reason),
        known.distinct, known.checked, np.where(asked, template, -1), known.request_id,
        known.checked_at, known.row_key, known.records, known.sampled_out,
    )  # fmt: skip


#: How many numbers (and distinct text values) a worker process keeps for the jobs it serves
#: (then it starts again: a bound on memory, not on correctness).
SEEN_MAX_NUMBERS: Final = 400_000
#: Up to this many text values, a partition's values are found among those a worker has
#: classified with one Arrow hash set built from all of them (fast while it is small); past
#: it, one dict lookup per value (a cost that follows the partition, not the table).
TEXT_INDEX_MAX: Final = 65_536
#: How many jobs' tables a worker process keeps at once (``check`` runs two actions).
SEEN_MAX_JOBS: Final = 2


@dataclass
class _Known:
    """One partition's distinct values as its worker's :class:`_JobTable` knows them: each
    value's number (``value_code``, a position in ``distinct``; -1 with a ``reason``), and
    per distinct number what the plan needs (see :class:`_PartitionPlan`)."""

    value_code: np.ndarray
    reason: np.ndarray
    distinct: pd.Series
    checked: np.ndarray
    sampled_out: np.ndarray
    template: np.ndarray
    request_id: pa.Array
    checked_at: np.ndarray
    row_key: np.ndarray
    records: pd.DataFrame


class _JobTable:
    """What a worker process has learnt in one job, column-wise, one slot per number it has
    seen: the number, whether it is in a CN mobile range, its row key, and the store's answer
    (as a record of the job's answer records, its RequestId and time); and, for text
    columns, each distinct value it has classified and its number's slot (or its reason).

    A team's table repeats its numbers across partitions; a worker classifies and hashes a
    value once per job, takes a number's answer from here (still fresh: checked at each
    use), and asks the store, in one batched read per partition, only for numbers it holds
    no answer for (another partition may have called them since). Held in the worker's
    memory only, as the partition's own rows are; gone with the job. Values written as
    plain digits are found by their integer in a hash index (``pd.Index.get_indexer``), not
    a Python loop per value; other spellings with an Arrow hash set or a dict (see
    :meth:`_find`). A partition reads and learns under the table's lock, so its threads
    share one worker's work.
    """

    def __init__(self, action: Action) -> None:
        self.action = action
        self.lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        action = self.action
        #: Each slot's number, and each number's slot.
        self.numbers = pa.array([], type=pa.string())
        self.slot_of: dict[str, int] = {}
        self.in_range = np.zeros(0, dtype=bool)
        self.template = np.zeros(0, dtype=np.intp)
        #: The RequestIds read (append-only), and each slot's position in them (-1: none).
        self.request_ids = pa.array([], type=pa.string())
        self.request_at = np.zeros(0, dtype=np.intp)
        self.checked_at = np.zeros(0, dtype=float)
        self.row_key = np.zeros(0, dtype=np.int64)
        #: Text values classified before (a text column's distinct values), each at a
        #: position: its number's slot there in ``value_slot`` (-1: none), its reason in
        #: ``value_reason``. Plain digits (``numbers.digit_keys``, most columns) are found by
        #: their integer: ``digit_keys``, their positions, and a hash index of them (built
        #: when used); other spellings as text: ``spelt`` (an Arrow array, searched with one
        #: hash set while few), their positions, and ``spelt_of`` (a dict, past that).
        self.digit_keys = np.zeros(0, dtype=np.int64)
        self.digit_at = np.zeros(0, dtype=np.intp)
        self._digit_index: pd.Index | None = None
        self.spelt = pa.array([], type=pa.string())
        self.spelt_at = np.zeros(0, dtype=np.intp)
        self.spelt_of: dict[str, int] = {}
        self.value_slot = np.zeros(0, dtype=np.intp)
        self.value_reason = np.zeros(0, dtype=np.int8)
        self.shapes: dict[tuple[Any, ...], int] = {}
        # Record 0: a number not sent, outside the CN mobile ranges (its number set per row).
        self.record_list: list[Any] = [action.invalid("")]
        self.records = action.to_frame(self.record_list)

    def __len__(self) -> int:
        return len(self.slot_of)

    def look_up(
        self,
        client: MobileStatusClient,
        action: Action,
        values: pd.Series,
        *,
        local: bool,
        drawn: Mapping[str, float] | None,
        fresh_after: float,
        read: bool = True,
    ) -> _Known:
        """The numbers of a partition's distinct ``values`` (``numbers.distinct_values``),
        each checked (``local``: in a CN mobile range) and, with ``drawn``, in the sample
        or not; for each, its answer's record (-1: none), RequestId, time and row key.
        Numbers asked for without a fresh answer here are read from the store in one batch
        (unless not ``read``)."""
        with self.lock:
            slot, reason = self._slots(client, values)
            value_code = np.full(len(values), -1, dtype=np.intp)
            present = np.flatnonzero(slot >= 0)
            codes, uniques = pd.factorize(slot[present])
            value_code[present] = codes
            mine = np.asarray(uniques, dtype=np.intp)  # the partition's numbers' slots
            taken = self.numbers.take(pa.array(mine))
            distinct = pd.Series(pd.arrays.ArrowStringArray(taken), copy=False)
            checked = self.in_range[mine] if local else np.ones(len(mine), dtype=bool)
            sampled_out = np.zeros(len(mine), dtype=bool)
            if drawn is not None:  # only the job's drawn numbers are looked up
                in_sample = np.fromiter((n in drawn for n in distinct.tolist()), bool, len(mine))
                sampled_out = checked & ~in_sample
            asked = checked & ~sampled_out
            fresh = (self.template[mine] >= 0) & (self.checked_at[mine] > fresh_after)
            ask = mine[asked & ~fresh]
            if read and len(ask):
                self._read(client, action, ask, fresh_after)
            return _Known(
                value_code, reason, distinct, checked, sampled_out, self.template[mine],
                self._request_ids(mine), self.checked_at[mine], self.row_key[mine], self.records,
            )  # fmt: skip

    def _request_ids(self, slots: np.ndarray) -> pa.Array:
        """The RequestIds of the numbers in ``slots`` (null where none was read)."""
        at = self.request_at[slots]
        return self.request_ids.take(pa.array(at, mask=at < 0))

    def _slots(
        self, client: MobileStatusClient, values: pd.Series
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per distinct value: its number's slot (learnt now if new) or -1, and its reason
        (an index in ``numbers.REASONS``; -1 for numbers). Text values are classified once
        per job; others (numbers as floats, objects) each time, as they are few. Values and
        numbers are found in dicts: the cost follows the partition, not the table."""
        text = numbers.arrow_text(values)
        slot = np.full(len(values), -1, dtype=np.intp)
        reason = np.full(len(values), -1, dtype=np.int8)
        at = slot.copy()
        keys = None if text is None else numbers.digit_keys(text)
        if keys is not None and text is not None and len(self.value_slot):
            at = self._find(text, keys)
        known = at >= 0
        slot[known] = self.value_slot[at[known]]
        reason[known] = self.value_reason[at[known]]
        new = np.flatnonzero(~known)
        if not len(new):
            return slot, reason
        fresh = values.iloc[new].reset_index(drop=True)
        national, why = numbers.classify_distinct(fresh)
        is_number = np.flatnonzero(why < 0)
        found: list[str] = pc.take(national, pa.array(is_number)).to_pylist()
        unseen = [n for n in dict.fromkeys(found) if n not in self.slot_of]
        kept = max(len(self.slot_of) + len(unseen), len(self.value_slot) + len(new))
        if (self.slot_of or len(self.value_slot)) and kept > SEEN_MAX_NUMBERS:
            # Start again: bounded memory (a partition's own values and numbers stay).
            self._reset()
            return self._slots(client, values)
        if unseen:
            self._add_numbers(client, unseen)
        new_slot = np.full(len(new), -1, dtype=np.intp)
        new_slot[is_number] = [self.slot_of[n] for n in found]
        slot[new] = new_slot
        reason[new] = why
        if text is not None and keys is not None:
            # The values first, then the indexes that point at them: an index never holds
            # a position past ``value_slot``, whatever stops this half-way.
            start = len(self.value_slot)
            self.value_slot = np.concatenate([self.value_slot, new_slot])
            self.value_reason = np.concatenate([self.value_reason, why.astype(np.int8)])
            positions = np.arange(start, start + len(new), dtype=np.intp)
            digits = keys[new] >= 0
            if digits.any():
                self.digit_keys = np.concatenate([self.digit_keys, keys[new][digits]])
                self.digit_at = np.concatenate([self.digit_at, positions[digits]])
                self._digit_index = None  # built again when next used
            if not digits.all():
                other = new[~digits]
                spelt = text.take(pa.array(other))
                self.spelt = pa.concat_arrays([self.spelt, spelt])
                self.spelt_at = np.concatenate([self.spelt_at, positions[~digits]])
                self.spelt_of.update(
                    zip(spelt.to_pylist(), positions[~digits].tolist(), strict=True)
                )
        return slot, reason

    def _find(self, text: pa.Array, keys: np.ndarray) -> np.ndarray:
        """Each of a partition's distinct text values' position among those classified
        before (-1: new). Plain digits (``keys`` >= 0) are found by their integer in a hash
        index built once per growth of the table; other spellings with one Arrow hash set of
        those classified while they are few, then one dict lookup each: either way the cost
        follows the partition, not the table."""
        at = np.full(len(text), -1, dtype=np.intp)
        digits = keys >= 0
        if digits.any() and len(self.digit_keys):
            if self._digit_index is None:
                self._digit_index = pd.Index(self.digit_keys, copy=False)
            found = self._digit_index.get_indexer(pd.Index(keys[digits], copy=False))
            at[digits] = np.where(found >= 0, self.digit_at[found], -1)
        other = np.flatnonzero(~digits)
        if not len(other) or not len(self.spelt):
            return at
        spelt = text.take(pa.array(other))
        if len(self.spelt) > TEXT_INDEX_MAX:  # a lookup per value
            looked = map(self.spelt_of.get, spelt.to_pylist(), repeat(-1))
            at[other] = np.fromiter(looked, np.intp, len(other))
        else:  # one hash set, built from the spellings classified
            found_at = pc.index_in(spelt, value_set=self.spelt)
            found = pc.fill_null(found_at, -1).to_numpy(zero_copy_only=False)
            at[other] = np.where(found >= 0, self.spelt_at[found], -1)
        return at

    def _add_numbers(self, client: MobileStatusClient, unseen: list[str]) -> None:
        """Give each of the numbers ``unseen`` a slot: its row key, its range check, no answer."""
        start, extra = len(self.slot_of), len(unseen)
        self.slot_of.update(zip(unseen, range(start, start + extra), strict=True))
        added = pa.array(unseen, type=pa.string())
        self.numbers = pa.concat_arrays([self.numbers, added])
        self.in_range = np.concatenate([self.in_range, numbers.in_mobile_range(added)])
        self.template = np.concatenate([self.template, np.full(extra, -1, np.intp)])
        self.request_at = np.concatenate([self.request_at, np.full(extra, -1, np.intp)])
        self.checked_at = np.concatenate([self.checked_at, np.full(extra, np.nan)])
        keys = np.asarray(client.row_keys(unseen), np.int64)
        self.row_key = np.concatenate([self.row_key, keys])

    def _read(
        self, client: MobileStatusClient, action: Action, ask: np.ndarray, fresh_after: float
    ) -> None:
        """Read the numbers in slots ``ask`` from the store in one batch; keep their answers."""
        asked = self.numbers.take(pa.array(ask)).to_pylist()
        keys = client.number_keys(asked, action)
        found = client.store.get_many(keys, fresh_after)
        held = [key in found for key in keys]
        if not any(held):
            return
        slots = ask[np.asarray(held, dtype=bool)]
        got = [found[key] for key in compress(keys, held)]
        before = len(self.record_list)
        records: list[int] = []
        for answer, shape in zip(got, map(_ANSWER_SHAPE, got), strict=True):
            record = self.shapes.get(shape)
            if record is None:
                record = self.shapes[shape] = len(self.record_list)
                self.record_list.append(
                    answers.cached_result("", replace(answer, request_id=None), action)
                )
            records.append(record)
        self.template[slots] = records
        start = len(self.request_ids)
        self.request_at[slots] = np.arange(start, start + len(got), dtype=np.intp)
        self.checked_at[slots] = [answer.checked_at for answer in got]
        ids = pa.array([answer.request_id for answer in got], pa.string())
        self.request_ids = pa.concat_arrays([self.request_ids, ids])
        if len(self.record_list) > before:
            self.records = action.to_frame(self.record_list)


#: What makes two stored answers one record of a job: all but the number's RequestId and time.
_ANSWER_SHAPE: Final = attrgetter("result", "description", "status_code", "detail")


class _SeenAnswers:
    """A worker process's :class:`_JobTable` of each job it serves (the last few jobs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, _JobTable] = {}

    def table(self, job: JobSpec, action: Action) -> _JobTable:
        """The table of ``job`` in this process (a new one on the job's first partition)."""
        with self._lock:
            found = self._jobs.pop(job.job_id, None)
            if found is None:
                found = _JobTable(action)
            self._jobs[job.job_id] = found  # the most recent last
            while len(self._jobs) > SEEN_MAX_JOBS:
                del self._jobs[next(iter(self._jobs))]
            return found


_seen = _SeenAnswers()


#: The result columns that differ between numbers sharing one answer: made per number.
_PER_NUMBER: Final = ("number", "request_id", "checked_at")


def _answer_stamps(plan: _PartitionPlan) -> np.ndarray:
    """When each distinct number's stored answer came (int64 nanoseconds; NaT: none), in
    microseconds as ``datetime.fromtimestamp`` rounds them (the cached path of pandas' run):
    the whole seconds, then the fraction rounded half to even."""
    answered = plan.template >= 0
    checked_at = np.where(answered, plan.checked_at, 0.0).astype(float)
    seconds = np.trunc(checked_at)
    micros = seconds * 1e6 + np.round((checked_at - seconds) * 1e6)
    stamps = micros.astype(np.int64) * 1000
    stamps[~answered] = np.iinfo(np.int64).min  # NaT
    return stamps


def _per_number_columns(
    plan: _PartitionPlan, codes: np.ndarray, like: pd.DataFrame
) -> dict[str, Any]:
    """``number``, ``request_id`` and ``checked_at`` of rows whose numbers' answers are
    records of the job (``codes``: each row's distinct number, -1 for rows taking none),
    typed as ``like``'s columns: taken per row straight from the plan's per-number arrays."""
    index = pa.array(codes, mask=codes < 0)
    answered = plan.template >= 0
    request_ids = pc.if_else(pa.array(answered), plan.request_id, pa.scalar(None, pa.string()))
    number = pa.array(plan.distinct.array).take(index)
    stamps = np.append(_answer_stamps(plan), np.iinfo(np.int64).min)[codes]
    checked_at = pd.Series(stamps.view("datetime64[ns]")).dt.tz_localize("UTC")
    return {
        "number": pd.arrays.ArrowStringArray(number),
        "request_id": pd.arrays.ArrowStringArray(request_ids.take(index)),
        "checked_at": checked_at.astype(like["checked_at"].dtype).array,
    }


@functools.cache
def _refusals(name: str) -> pd.DataFrame:
    """The rows of values refused before any call, one per reason (``numbers.REASONS``), in
    the columns of the action named ``name``."""
    action = get_action(name)
    return action.to_frame([action.refused(None, reason) for reason in numbers.REASONS])


# -- sample=: one draw for the whole job, from every partition's distinct numbers -------------


def _sample_partition(
    part: pd.DataFrame, column: object, by: list[Any], by_name: Any, validate: str, config: Any
) -> pd.DataFrame:
    """One partition's distinct numbers in order of first appearance: each one's ``by``
    label on its first row, and whether a run would send it (``checked``)."""
    from .accessor import group_values

    client = client_for(config)
    mode = options.choice("validate", validate or client.validate, options.VALIDATE_MODES)
    found = numbers.classify_values(part[column])
    codes, uniques = pd.factorize(
        pd.Series(pd.arrays.ArrowStringArray(found.national), copy=False), use_na_sentinel=True
    )
    row_codes = np.append(codes, -1)[found.rows]
    distinct = pd.Series(uniques, dtype=numbers.string_dtype())
    first_row = np.full(len(distinct), -1, dtype=np.int64)
    rows = np.flatnonzero(row_codes >= 0)
    first_row[row_codes[rows[::-1]]] = rows[::-1]  # the last write is the first row
    if mode == "local":
        checked = numbers.is_valid(distinct).to_numpy(dtype=bool)
    else:
        checked = np.ones(len(distinct), dtype=bool)
    out = pd.DataFrame({"number": distinct, "checked": checked})
    if by:
        labels = group_values(part.reset_index(drop=True), by if len(by) > 1 else by[0])
        assert labels is not None
        out["by"] = pd.Series(labels.to_numpy(dtype=object)[first_row], dtype=object)
    return out


def _sample_design(
    parts: list[pd.DataFrame], size: int, by_name: Any, seed: int | None
) -> dict[str, Any]:
    """The job's one draw, as pandas draws it (:func:`~.analysis.sampling.draw`: the same
    numbers, strata and seed give the same sample): the drawn numbers' weights and the
    design for ``attrs``."""
    from .analysis import sampling

    found = pd.concat(parts, ignore_index=True).drop_duplicates("number", keep="first")
    distinct = found["number"].tolist()
    to_check = found.loc[found["checked"].to_numpy(dtype=bool), "number"].tolist()
    by = found["by"].to_numpy(dtype=object) if "by" in found.columns else None
    request = sampling.SampleRequest(size, by, by_name, seed)
    chosen, design = sampling.draw(
        distinct, to_check, np.arange(len(distinct), dtype=np.int64), request
    )
    weight = dict(zip(distinct, design.number_weight.tolist(), strict=True))
    return {"weights": {n: weight[n] for n in chosen}, "design": design.to_dict()}


def _partition_results(
    client: MobileStatusClient,
    series: pd.Series,
    job: JobSpec,
    gate: _JobGate,
    sample: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, str | None]:
    """The result columns of one partition's rows, and why its calls stopped (if they did).

    The store answers what it holds in one query; only the numbers it does not hold go to
    a run (claims make a number in several partitions one call, the shared limiter paces
    the job, the gate holds its budget and stops). Nothing to call: no run, no thread.
    """
    action = get_action(job.action)
    drawn = None if sample is None else sample["weights"]
    plan = _plan_partition(client, series, job, action, drawn)
    count = len(plan.distinct)
    slots = pd.Index(plan.distinct.reset_index(drop=True))
    # Each distinct number's row is a record: one of the job's answer records (record 0: not
    # sent), or a row made here for it (left out of the sample, or called); a row without a
    # number takes its reason's row of the refusals.
    frames = [plan.records, _refusals(action.name)]
    record = np.maximum(plan.template, 0)
    own = np.zeros(count, dtype=bool)  # numbers with a row of their own (below)

    def add_rows(numbers_: list[str] | pd.Series, made: pd.DataFrame) -> None:
        where = slots.get_indexer(numbers_)
        record[where] = sum(len(f) for f in frames) + np.arange(len(where), dtype=np.intp)
        own[where] = True
        frames.append(made)

    left_out = plan.left_out
    if len(left_out):  # checked but not drawn: not_checked, as in pandas
        from .analysis import sampling

        add_rows(
            left_out,
            action.to_frame([action.unchecked(n, True, sampling.NOT_SAMPLED) for n in left_out]),
        )
    stopped: str | None = None
    pending = plan.pending
    if len(pending):
        # pending numbers passed the partition's own check: the run sends them all
        asked = RunOptions(refresh=job.refresh, validate="server", action=action)
        called = run_lookups(client, pending, asked, gate=gate)
        stopped = called.attrs.get(ATTRS_KEY, {}).get("stop_reason")
        add_rows(pending, called[list(action.columns)].reset_index(drop=True))
    table = pd.concat(frames, ignore_index=True)
    codes = plan.row_codes
    refused = len(plan.records) + plan.row_reasons.astype(np.intp)
    take = np.where(codes < 0, refused, np.append(record, 0)[codes])
    if own.any():  # rows of their own keep their number, RequestId and time
        out = table.take(take).reset_index(drop=True)
        shared = np.where((codes >= 0) & ~np.append(own, False)[codes], codes, -1)
        made = _per_number_columns(plan, shared, table)
        for name in _PER_NUMBER:
            out[name] = out[name].where(pd.Series(shared < 0), pd.Series(made[name]))
    else:  # every number's row is a record of the job: those columns made per number
        out = table.drop(columns=list(_PER_NUMBER)).take(take).reset_index(drop=True)
        out = out.assign(**_per_number_columns(plan, codes, table))[list(table.columns)]
    # A number in several rows is billed once: on its first row (as pandas' join does).
    present = np.flatnonzero(codes >= 0)
    first_row = np.full(count, -1, dtype=np.int64)
    first_row[codes[present[::-1]]] = present[::-1]
    first = np.zeros(len(codes), dtype=bool)
    first[first_row[first_row >= 0]] = True
    out["billed"] = out["billed"].to_numpy(dtype=bool, na_value=False) & first
    out["billed"] = out["billed"].astype("boolean")
    if drawn is not None:  # each row weighs its number's weight (pandas' row_weights)
        from .analysis import sampling

        per_number = np.ones(len(plan.distinct) + 1)
        per_number[: len(plan.distinct)][plan.checked] = np.nan
        for i, number in enumerate(plan.distinct.tolist()):
            if number in drawn:
                per_number[i] = drawn[number]
        codes = np.where(plan.row_codes < 0, len(plan.distinct), plan.row_codes)
        out[sampling.WEIGHT_COLUMN] = per_number[codes]
    keys = np.append(plan.row_key, 0)
    missing = plan.row_codes < 0
    out[KEY_COLUMN] = pd.arrays.IntegerArray(
        keys[np.where(missing, len(keys) - 1, plan.row_codes)], missing
    )
    out.index = series.index
    return out, stopped


def _status_partition(
    part: pd.DataFrame,
    column: object,
    config: WorkerConfig,
    job: JobSpec,
    prefix: str,
    clash: list[str],
    sample: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """One partition's lookups of the job's action, on a worker (the task named
    ``mobilestatus-status-...`` or ``mobilestatus-tenure-...``); ``sample``: the job's
    draw (the drawn numbers' weights and the design), with ``sample=``."""
    client = client_for(config)
    gate = _JobGate(client, job)
    # (A stopped partition warns as a pandas run does, in the worker's log: warning filters
    # are process-wide, so changing them here would race with the other tasks' threads.)
    results, stopped = _partition_results(client, part[column], job, gate, sample)
    if stopped is not None:
        if stopped == stops.STOP_DAILY_LIMIT:
            gate.stop_job(stops.STOP_DAILY_LIMIT)
        reason = gate.stop_reason()
        if reason is not None and reason.startswith(STOP_AUTHENTICATION):
            code = reason.split(": ", 1)[-1]
            raise AuthenticationError(code, "another partition of this job was refused")
    out = part.drop(columns=clash) if clash else part.copy(deep=False)
    out = pd.concat([out, results.add_prefix(prefix)], axis=1)
    out.attrs = _job_attrs(job, config, part.attrs)
    if sample is not None:
        from .analysis import sampling

        out.attrs[ATTRS_KEY][sampling.SAMPLE_KEY] = dict(sample["design"])
    return out


# -- cluster checks ---------------------------------------------------------------------------


def _cluster_workers() -> list[dict[str, Any]] | None:
    """The workers of the current distributed client, or None without one."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        client = default_client()
    except ValueError:
        return None
    try:  # newer distributed lists only the first few workers unless asked for all
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # distributed < 2025: every worker, always
        info = client.scheduler_info()
    return list(info.get("workers", {}).values())


def check_cluster(config: WorkerConfig) -> None:
    """Refuse, before anything is sent, a cluster whose workers cannot share the store.

    Workers on several hosts share a rate limit, cache and ledger only through Redis;
    ``cache=None`` lives in one process's memory, so it needs a single worker process.
    """
    workers = _cluster_workers()
    if workers is None:
        processes = 1 if dask.config.get("scheduler", None) != "processes" else 2
        hosts: set[str] = set()
    else:
        processes = len(workers)
        hosts = {str(w.get("host")) for w in workers}
    if config.cache is None and processes > 1:
        raise InputError(
            f"cache=None keeps answers, claims and the rate limit in one process's memory, "
            f"but this cluster has {processes} worker processes: they would each pace and pay "
            "on their own. Use a Redis cache (cache='redis://host:6379/0'), the default "
            "SQLite cache (workers on this machine), or a single worker process."
        )
    if len(hosts) > 1 and not config.is_redis:
        raise InputError(
            f"the cluster's workers are on {len(hosts)} hosts ({', '.join(sorted(hosts))}) "
            f"but the cache is {config.cache_location!r}, which only one machine can share: "
            "each host would pace itself and pay again for numbers other hosts looked up. "
            "Use a Redis cache every worker reaches: cache='redis://host:6379/0' "
            "(pip install 'mobilestatus-pandas[redis]')."
        )


# -- what the accessor builds -----------------------------------------------------------------


def _job_for(
    client: MobileStatusClient | None, options: dict[str, Any]
) -> tuple[MobileStatusClient, WorkerConfig]:
    resolved = resolve_client(client, options)
    config = WorkerConfig.from_client(resolved)
    check_cluster(config)
    _close_clients_on_worker_close()
    return resolved, config


#: The client-side record of each job made in this process, for :func:`job_report`.
_jobs: dict[str, tuple[JobSpec, WorkerConfig]] = {}


def _lookup(
    frame: dd.DataFrame,
    column: object,
    action: Action,
    *,
    client: MobileStatusClient | None,
    prefix: str,
    max_billed: int | None,
    refresh: bool,
    validate: str | None,
    overwrite: bool,
    client_options: dict[str, Any],
    shared_id: str | None = None,
    sample: Delayed | None = None,
) -> dd.DataFrame:
    """The lazy frame of ``frame`` plus ``action``'s prefixed result columns (and the
    sample's weights, given the job's draw ``sample``: see :func:`_sampled`)."""
    meta = frame._meta
    if column not in meta.columns:
        raise KeyError(f"column {column!r} is not in the frame (columns: {list(meta.columns)})")
    numbers.check_dtype(meta[column])
    options.check_run_options(max_billed=max_billed, refresh=refresh, validate=validate)
    clash = _clashes(meta, column, _check_prefix(prefix), overwrite, action)
    results_meta = answers.empty_results(meta.index, action)
    if sample is not None:
        from .analysis import sampling

        results_meta[sampling.WEIGHT_COLUMN] = pd.Series(index=meta.index, dtype=float)
    results_meta[KEY_COLUMN] = pd.Series(index=meta.index, dtype="Int64")
    results_meta = results_meta.add_prefix(prefix)
    _, config = _job_for(client, client_options)
    job = JobSpec(uuid.uuid4().hex[:16], max_billed, refresh, validate, action.name, shared_id)
    _jobs[job.job_id] = (job, config)
    out_meta = pd.concat([meta.drop(columns=clash), results_meta], axis=1)
    out_meta.attrs = _job_attrs(job, config, meta.attrs)
    return frame.map_partitions(
        _status_partition,
        column,
        config,
        job,
        prefix,
        clash,
        sample,
        meta=out_meta,
        token=f"{TASK_PREFIX}-{action.name}",
        align_dataframes=False,
    )


def _sampled(
    frame: dd.DataFrame,
    column: object,
    client: MobileStatusClient | None,
    client_options: dict[str, Any],
    sample: object,
    by: object,
    seed: object,
    validate: str | None,
) -> Delayed | None:
    """The job's draw as one lazy task (None without ``sample``): every partition's distinct
    numbers (with ``by``'s label on each number's first row), then one draw on them as
    pandas makes it, so the same data and seed give the same sample and weights."""
    from .analysis import sampling

    if sample is None:
        sampling.check_request(None, by, seed, 0)  # by=/seed= without sample=: refused
        return None
    names = _by_names(by)
    framed, keys = _with_by(frame, by)
    by_name = None if not names else names[0] if len(names) == 1 else ", ".join(map(str, names))
    request = sampling.check_request(sample, None, seed, 0, by_name)
    assert request is not None
    _, config = _job_for(client, client_options)
    token = uuid.uuid4().hex[:8]
    columns = list(dict.fromkeys([column, *keys]))
    parts = [
        delayed(_sample_partition, pure=True)(
            p,
            column,
            keys,
            by_name,
            validate,
            config,
            dask_key_name=(f"{TASK_PREFIX}-sample-{token}", i),
        )
        for i, p in enumerate(framed[columns].to_delayed())
    ]
    design: Delayed = delayed(_sample_design, pure=True)(
        parts, request.size, by_name, request.seed,
        dask_key_name=f"{TASK_PREFIX}-sample-draw-{token}",
    )  # fmt: skip
    return design


def status(
    frame: dd.DataFrame,
    column: object,
    *,
    client: MobileStatusClient | None = None,
    prefix: str = DEFAULT_PREFIX,
    max_billed: int | None = None,
    refresh: bool = False,
    validate: str | None = None,
    overwrite: bool = False,
    sample: int | None = None,
    by: object = None,
    seed: int | None = None,
    **client_options: Any,
) -> dd.DataFrame:
    """The lazy frame of ``frame`` plus the ``mobile_*`` columns (see the module docstring)."""
    if client is None:  # one client for the draw and the lookups
        client, client_options = resolve_client(None, client_options), {}
    drawn = _sampled(frame, column, client, client_options, sample, by, seed, validate)
    return _lookup(
        frame, column, STATUS, client=client, prefix=prefix, max_billed=max_billed,
        refresh=refresh, validate=validate, overwrite=overwrite, client_options=client_options,
        sample=drawn,
    )  # fmt: skip


def tenure(
    frame: dd.DataFrame,
    column: object,
    *,
    client: MobileStatusClient | None = None,
    prefix: str = TENURE.default_prefix,
    max_billed: int | None = None,
    refresh: bool = False,
    validate: str | None = None,
    overwrite: bool = False,
    sample: int | None = None,
    by: object = None,
    seed: int | None = None,
    **client_options: Any,
) -> dd.DataFrame:
    """The lazy frame of ``frame`` plus the ``tenure_*`` columns (line tenure, from
    MobileNetworkTimeVerification): as :func:`status`, with tenure's own code table (its
    daily limit is Result ``-5``; Results 0, -2 and -3 count against ``max_billed``)."""
    if client is None:  # one client for the draw and the lookups
        client, client_options = resolve_client(None, client_options), {}
    drawn = _sampled(frame, column, client, client_options, sample, by, seed, validate)
    return _lookup(
        frame, column, TENURE, client=client, prefix=prefix, max_billed=max_billed,
        refresh=refresh, validate=validate, overwrite=overwrite, client_options=client_options,
        sample=drawn,
    )  # fmt: skip


def check(
    frame: dd.DataFrame,
    column: object,
    actions: str | tuple[str, ...] | list[str] = ("status", "tenure"),
    *,
    client: MobileStatusClient | None = None,
    prefixes: dict[str, str] | None = None,
    max_billed: int | None = None,
    refresh: bool = False,
    validate: str | None = None,
    overwrite: bool = False,
    sample: int | None = None,
    by: object = None,
    seed: int | None = None,
    **client_options: Any,
) -> dd.DataFrame:
    """The lazy frame of ``frame`` plus each action's columns (``mobile_*``, ``tenure_*``, or
    ``prefixes={"tenure": ...}``): one job per action over the same partitions, sharing one
    ``max_billed`` budget and one stop across every action, partition and worker.

    Each partition looks its numbers up for each action in turn (the cluster runs the
    partitions at once, each action paced at its own rate limit). ``attrs["mobilestatus"]``
    holds each action's job under its name; :func:`job_report` takes the frame (the last
    action's job) or an action's ``job_id``.
    """
    chosen = get_actions(actions)
    prefix_of = _check_prefixes(prefixes, chosen)
    if client is None:  # one client for every action (and one WorkerConfig token)
        client = resolve_client(None, client_options)
        client_options = {}
    shared_id = uuid.uuid4().hex[:16]
    # One draw for every action: they check the same numbers (as pandas' check does).
    drawn = _sampled(frame, column, client, client_options, sample, by, seed, validate)
    out = frame
    for action in chosen:
        out = _lookup(
            out, column, action, client=client, prefix=prefix_of[action.name],
            max_billed=max_billed, refresh=refresh, validate=validate, overwrite=overwrite,
            client_options=client_options, shared_id=shared_id, sample=drawn,
        )  # fmt: skip
    return out


def _job_id(result: Any) -> str:
    if isinstance(result, str):
        job_id = result
    else:
        attrs = result._meta.attrs if isinstance(result, dd.DataFrame) else result.attrs
        job_id = attrs.get(ATTRS_KEY, {}).get("job_id")
    if not isinstance(job_id, str) or job_id not in _jobs:
        raise InputError(
            "not the result of ddf.mobile.status(...) or .tenure(...) made in this process"
        )
    return job_id


def job_report(result: Any) -> dict[str, Any]:
    """What a job did, from the shared store: ``job_id``, ``stop_reason`` (None when every
    row was looked up), ``calls`` answered and ``billed_budget_used`` (billed and
    possibly-billed calls, counted when ``max_billed`` was set).

    ``result`` is the dask frame ``.mobile.status`` returned, the computed pandas frame, or
    a job id. Works in the process that made the job.
    """
    job_id = _job_id(result)
    job, config = _jobs[job_id]
    client = client_for(config)
    store, now = client.store, client.now()
    return {
        "job_id": job_id,
        "stop_reason": store.get_flag(job.shared("stop"), now)
        or store.get_flag(job.shared("budget"), now),
        "calls": store.add_count(job.name("answers"), 0, now, JOB_STATE_SECONDS),
        "billed_budget_used": store.add_count(job.shared("billed"), 0, now, JOB_STATE_SECONDS),
        "max_billed": job.max_billed,
    }


#: How often :func:`progress` reads the job's count of calls answered.
PROGRESS_INTERVAL_SECONDS: Final = 0.5


def progress(
    result: Any,
    until: Any,
    *,
    total: int | None = None,
    interval_seconds: float = PROGRESS_INTERVAL_SECONDS,
    stream: TextIO | None = None,
) -> int:
    """Show the calls answered across the whole cluster, until ``until`` is done.

    ``result`` is what ``.mobile.status`` returned; ``until`` anything with ``done()``: the
    future of ``client.compute(result)``, or of a thread computing it. ``total`` is what to
    count to (``estimate(...)["calls needed"]``). The count comes from the shared store, so
    it includes every worker's calls. Returns the calls answered at the end.

    >>> fut = client.compute(out)                                    # doctest: +SKIP
    >>> progress(out, fut, total=est["calls needed"])                # doctest: +SKIP
    """
    from .views.progress import progress_bar

    job_id = _job_id(result)
    job, config = _jobs[job_id]
    client = client_for(config)
    bar: Any = progress_bar(total, True, stream=stream) if total else None
    if bar is None:
        from tqdm.auto import tqdm

        bar = tqdm(desc="MobileStatus", unit="call", file=stream)
    shown = 0
    try:
        while True:
            finished = until.done()
            now = client.now()
            answered = client.store.add_count(job.name("answers"), 0, now, JOB_STATE_SECONDS)
            if answered > shown:
                bar.update(answered - shown)
                shown = answered
            if finished:
                return shown
            time.sleep(interval_seconds)
    finally:
        bar.close()


# -- estimate and summary: per partition, then combined ----------------------------------------


def _estimate_partition(
    part: pd.Series, config: WorkerConfig, validate: str | None
) -> dict[str, Any]:
    """Counts and the keyed hashes (never the numbers) of one partition's distinct numbers."""
    client = client_for(config)
    mode = validate or client.validate
    found = numbers.classify(part)
    national = found["number"]
    missing = int((found["reason"] == numbers.NO_NUMBER).sum())
    distinct = pd.Series(national.dropna().unique(), dtype=numbers.string_dtype())
    valid = numbers.is_valid(distinct).to_numpy(dtype=bool)
    sent = valid if mode == "local" else [True] * len(distinct)
    checked = {str(n) for n, go in zip(distinct, sent, strict=True) if go}
    return {
        "rows": len(part),
        "invalid rows": int((~national.isin(list(checked)).fillna(False).astype(bool)).sum())
        - missing,
        "missing rows": missing,
        "keys": {client.number_key(str(n)) for n in distinct},
        "to_check": {client.number_key(n) for n in checked},
    }


def _estimate_combine(
    parts: list[dict[str, Any]], config: WorkerConfig, refresh: bool
) -> pd.Series:
    client = client_for(config)
    to_check: set[str] = set().union(*(p["to_check"] for p in parts))
    cached = 0
    if to_check and not refresh:
        fresh_after = client.now() - client.cache_ttl.total_seconds()
        cached = len(client.store.get_many(sorted(to_check), fresh_after))
    calls = len(to_check) - cached
    price = client.price_per_call
    return pd.Series(
        [
            sum(p["rows"] for p in parts),
            len(set().union(*(p["keys"] for p in parts))),
            sum(p["invalid rows"] for p in parts),
            sum(p["missing rows"] for p in parts),
            cached,
            calls,
            calls,
            calls * price if price is not None else float("nan"),
            expected_minutes(calls, client.rate_limit),
        ],
        index=list(ESTIMATE_LABELS),
        dtype=object,
        name="mobilestatus estimate",
    )


def estimate(
    frame: dd.DataFrame,
    column: object,
    *,
    client: MobileStatusClient | None = None,
    validate: str | None = None,
    refresh: bool = False,
    **client_options: Any,
) -> Delayed:
    """Lazily, what ``status`` would do: ``.compute()`` gives the Series pandas' ``estimate``
    gives. No call is made; distinct numbers are counted once across partitions."""
    meta = frame._meta
    if column not in meta.columns:
        raise KeyError(f"column {column!r} is not in the frame (columns: {list(meta.columns)})")
    numbers.check_dtype(meta[column])
    _, config = _job_for(client, client_options)
    token = uuid.uuid4().hex[:8]
    parts = [
        delayed(_estimate_partition, pure=False)(
            p, config, validate, dask_key_name=(f"{TASK_PREFIX}-estimate-{token}", i)
        )
        for i, p in enumerate(frame[column].to_delayed())
    ]
    combined: Delayed = delayed(_estimate_combine, pure=False)(
        parts, config, refresh, dask_key_name=f"{TASK_PREFIX}-estimate-total-{token}"
    )
    return combined


def _summary_partition(part: pd.DataFrame, keys: list[str], prefix: str, salt: str) -> pd.DataFrame:
    """The partition's summary parts (per group, status and number hash; see
    :func:`~mobilestatus_pandas.analysis.report.summary_parts`)."""
    parts, _ = summary_parts(part, keys or None, prefix=prefix, hash_key=salt)
    return parts


def _summary_combine(
    parts: list[pd.DataFrame],
    keys: list[str],
    price: float | None,
    options: dict[str, Any],
    renamed: dict[Any, Any],
) -> pd.DataFrame:
    table = summary_from_parts(combine_parts(parts), keys, price=price, **options)
    if renamed:  # a dask Series' own name, as pandas shows a Series grouping
        table = table.rename(columns=renamed)
        table.index = table.index.rename([renamed.get(n, n) for n in table.index.names])
    return table


def summary(
    frame: dd.DataFrame,
    by: str | list[str] | dd.Series | None = None,
    *,
    prefix: str = DEFAULT_PREFIX,
    price_per_call: float | None = None,
    currency: str | None = None,
    all_statuses: bool = False,
    wide: bool = False,
    values: str = "rows",
) -> Delayed:
    """Lazily, the table ``out.mobile.summary(by, ...)`` gives for the computed frame, made
    from per-partition parts (counts per group, status and number hash, summed in a tree on
    the workers; no rows are collected); ``.compute()`` it. ``by`` is a column name, a list
    of them, or a dask Series partitioned like the frame (a derived grouping); the options
    are pandas'."""
    options: dict[str, Any] = {
        "currency": currency, "all_statuses": all_statuses, "wide": wide, "values": values,
    }  # fmt: skip
    shown = _by_names(by)
    frame, keys = _with_by(frame, by)
    meta = frame._meta
    for name in ["status", "number", "billed", "from_cache"]:
        if f"{prefix}{name}" not in meta.columns:
            raise InputError(
                f"{prefix}{name!r} is not in the frame: summarise the output of "
                "ddf.mobile.status(...) (or pass the prefix= it was made with)"
            )
    price = price_per_call
    if price is None:
        price = meta.attrs.get(ATTRS_KEY, {}).get("price_per_call")
    token = uuid.uuid4().hex[:8]
    salt = uuid.uuid4().hex[:16]  # hash_pandas_object takes a 16-character key
    columns = [*keys, *(f"{prefix}{n}" for n in ("status", "number", "billed", "from_cache"))]
    parts = [
        delayed(_summary_partition, pure=False)(
            p, keys, prefix, salt, dask_key_name=(f"{TASK_PREFIX}-summary-{token}", i)
        )
        for i, p in enumerate(frame[list(dict.fromkeys(columns))].to_delayed())
    ]
    parts = _sum_in_tree(parts, combine_parts, (), f"{TASK_PREFIX}-summary-sum-{token}", pure=False)
    renamed = {k: n for k, n in zip(keys, shown, strict=True) if k != n}
    combined: Delayed = delayed(_summary_combine, pure=False)(
        parts, keys, price, options, renamed,
        dask_key_name=f"{TASK_PREFIX}-summary-total-{token}",
    )  # fmt: skip
    return combined


#: The column a dask Series given as ``by=`` becomes while a table is reduced.
BY_COLUMN: Final = "__mobilestatus_by__"
#: The count of rows of one cell in a partition's reduction.
ROWS_COLUMN: Final = "__mobilestatus_rows__"
#: How many partitions' counts one task of compare or summary sums: a tree, so that no task
#: (the last included) holds more than this many tables of counts, each at most groups x
#: statuses x distinct numbers, however many partitions the frame has.
SPLIT_EVERY: Final = 8


def _sum_in_tree(
    parts: list[Delayed], combine: Any, args: tuple[Any, ...], name: str, *, pure: bool
) -> list[Delayed]:
    """``parts`` summed :data:`SPLIT_EVERY` at a time on the workers (``combine(some,
    *args)``, which gives a part of the same form) until at most that many are left."""
    depth, every = 0, SPLIT_EVERY
    while len(parts) > every:
        parts = [
            delayed(combine, pure=pure)(
                parts[i : i + every], *args, dask_key_name=(name, depth, i // every)
            )
            for i in range(0, len(parts), every)
        ]
        depth += 1
    return parts


def _with_by(frame: dd.DataFrame, by: object) -> tuple[dd.DataFrame, list[Any]]:
    """``by`` as columns of ``frame``: names stay names; a dask Series (partitioned like the
    frame, as ``ddf["amount"] > 100``) is put in as a column of its own."""
    if by is None:
        return frame, []
    items = list(by) if isinstance(by, (list, tuple)) else [by]
    keys: list[Any] = []
    for i, item in enumerate(items):
        if isinstance(item, dd.Series):
            name = f"{BY_COLUMN}{i}"
            frame = frame.assign(**{name: item})
            keys.append(name)
        elif item in frame._meta.columns:
            keys.append(item)
        else:
            raise InputError(
                f"cannot group by {item!r}: on a dask frame, by= is a column name, a list of "
                "them, or a dask Series partitioned like the frame"
            )
    return frame, keys


def _by_names(by: object) -> list[Any]:
    """What pandas calls each grouping key of ``by``: a column's name, a Series' own."""
    if by is None:
        return []
    items = list(by) if isinstance(by, (list, tuple)) else [by]
    return [item.name if isinstance(item, dd.Series) else item for item in items]


def _compare_cells(part: pd.DataFrame, columns: list[Any]) -> pd.DataFrame:
    """One partition reduced to its counted form: the rows of each (group, status, number,
    weight)."""
    grouped = part[columns].groupby(columns, dropna=False, observed=True, sort=False)
    return grouped.size().rename(ROWS_COLUMN).reset_index()


def _compare_counts(
    parts: list[pd.DataFrame], columns: list[Any], dtypes: dict[Any, Any]
) -> pd.DataFrame:
    """The partitions' counted forms summed into the table's: one row per (group, status,
    number, weight), whatever the partitions a number's rows were in."""
    grouped = pd.concat(parts, ignore_index=True).groupby(
        columns, dropna=False, observed=True, sort=False
    )
    counts = grouped[ROWS_COLUMN].sum().reset_index()
    for name, dtype in dtypes.items():
        counts[name] = counts[name].astype(dtype)
    return counts


def _compare_total(
    parts: list[pd.DataFrame],
    columns: list[Any],
    dtypes: dict[Any, Any],
    by: list[Any],
    names: list[Any],
    options: dict[str, Any],
) -> pd.DataFrame:
    """The table's counted form and pandas' own
    :func:`~mobilestatus_pandas.analysis.stats.compare` over it (``rows=``): the same
    figures as on the rows, from counts only."""
    from .analysis.stats import compare as compare_counts

    counts = _compare_counts(parts, columns, dtypes)
    keys = [counts[k].rename(n) if k != n else k for k, n in zip(by, names, strict=True)]
    return compare_counts(counts, keys[0] if len(keys) == 1 else keys, rows=ROWS_COLUMN, **options)


def _compare_columns(meta: pd.DataFrame, keys: list[Any], outcome: str, prefix: str) -> list[Any]:
    """The columns compare reads: the groups, the outcome (and the status when the frame is
    sampled: it says which rows have a weight), the number's identity, the weight."""
    from .analysis import sampling
    from .analysis.stats import OUTCOME_TENURE

    outcome_column = f"{prefix}band" if outcome == OUTCOME_TENURE else f"{prefix}status"
    if outcome_column not in meta.columns:
        made_by = "tenure" if outcome == OUTCOME_TENURE else "status"
        raise InputError(
            f"{outcome_column!r} is not in the frame: compare the output of "
            f"ddf.mobile.{made_by}(...) (or pass the prefix= it was made with)"
        )
    weight = f"{prefix}{sampling.WEIGHT_COLUMN}"
    status = f"{prefix}status" if weight in meta.columns else None
    number = next((c for c in (f"{prefix}{KEY_COLUMN}", f"{prefix}number") if c in meta), None)
    columns = list(dict.fromkeys([*keys, outcome_column, status, number, weight]))
    return [c for c in columns if c is not None and c in meta.columns]


def compare(
    frame: dd.DataFrame,
    by: object,
    *,
    reference: object = None,
    statuses: Any = None,
    level: float = 0.95,
    population: str = "process",
    outcome: str = "status",
    prefix: str | None = None,
) -> Delayed:
    """Lazily, the table ``out.mobile.compare(by, ...)`` gives for the computed frame (the
    same figures): each partition is reduced on its worker to its counted form, the rows of
    each (group, status, number, weight); the counts are summed in a tree
    (:data:`SPLIT_EVERY` at a time), and the last task computes the statistics from
    the table's counts (groups x statuses x distinct numbers, never the rows) with pandas'
    :func:`~mobilestatus_pandas.analysis.stats.compare` (``rows=``), numbers as clusters.
    ``.compute()`` it. ``by`` is a column name, a list of them, or a dask Series partitioned
    like the frame; ``outcome="tenure"`` compares line tenure's bands.
    """
    from .analysis.stats import OUTCOME_TENURE, OUTCOMES, STATUS_PREFIX, TENURE_PREFIX

    if outcome not in OUTCOMES:
        raise InputError(
            f"outcome must be one of {list(OUTCOMES)} (line status, or line tenure's bands), "
            f"got {outcome!r}"
        )
    if prefix is None:
        prefix = TENURE_PREFIX if outcome == OUTCOME_TENURE else STATUS_PREFIX
    names = _by_names(by)
    frame, keys = _with_by(frame, by)
    columns = _compare_columns(frame._meta, keys, outcome, prefix)
    if not keys:
        raise InputError("compare needs by=: the grouping to compare (e.g. a fraud label)")
    meta = frame._meta
    dtypes = {c: meta[c].dtype for c in columns}
    options: dict[str, Any] = {
        "reference": reference, "statuses": statuses, "level": level,
        "population": population, "outcome": outcome, "prefix": prefix,
    }  # fmt: skip
    token = uuid.uuid4().hex[:8]
    parts = [
        delayed(_compare_cells, pure=True)(
            p, columns, dask_key_name=(f"{TASK_PREFIX}-compare-{token}", i)
        )
        for i, p in enumerate(frame[columns].to_delayed())
    ]
    parts = _sum_in_tree(
        parts, _compare_counts, (columns, dtypes), f"{TASK_PREFIX}-compare-sum-{token}", pure=True
    )
    total: Delayed = delayed(_compare_total, pure=True)(
        parts, columns, dtypes, keys, names, options,
        dask_key_name=f"{TASK_PREFIX}-compare-total-{token}",
    )  # fmt: skip
    return total


# -- the accessors ------------------------------------------------------------------------------


class DaskFrameAccessor:
    """``ddf.mobile`` on a dask DataFrame: lazy lookups, estimates and summaries."""

    def __init__(self, frame: dd.DataFrame) -> None:
        self._frame = frame

    def status(self, column: object, **options: Any) -> dd.DataFrame:
        """A lazy dask DataFrame: this frame plus the ``mobile_*`` columns, partitions kept.

        Options as for pandas (``client=``, ``prefix=``, ``max_billed=``, ``refresh=``,
        ``validate=``, ``overwrite=``, or client options). ``max_billed`` holds for the
        whole job, across partitions and workers. Nothing is sent before ``compute()``.
        """
        options.pop("progress", None)  # the dashboard (and job_report) show progress
        return status(self._frame, column, **options)

    def tenure(self, column: object, **options: Any) -> dd.DataFrame:
        """A lazy dask DataFrame: this frame plus the ``tenure_*`` columns (line tenure),
        partitions kept. Options as for :meth:`status` (``prefix`` defaults to
        ``"tenure_"``); ``max_billed`` holds for the whole job, and a streak of tenure's
        daily-limit answers (Result ``-5``) stops every partition. Nothing is sent before
        ``compute()``."""
        options.pop("progress", None)
        return tenure(self._frame, column, **options)

    def check(
        self,
        column: object,
        actions: str | tuple[str, ...] | list[str] = ("status", "tenure"),
        **options: Any,
    ) -> dd.DataFrame:
        """A lazy dask DataFrame: this frame plus each action's columns (status and line
        tenure by default), partitions kept; one ``max_billed`` budget and one stop for
        every action of the job. Options as for :meth:`status` (``prefixes=`` instead of
        ``prefix=``). Nothing is sent before ``compute()``."""
        options.pop("progress", None)
        return check(self._frame, column, actions, **options)

    def estimate(self, column: object, **options: Any) -> Delayed:
        """Lazily, rows, distinct, invalid, cached, calls needed, worst-case cost, time."""
        return estimate(self._frame, column, **options)

    def summary(
        self, by: str | list[str] | None = None, *, prefix: str = DEFAULT_PREFIX, **options: Any
    ) -> Delayed:
        """Lazily, the line-health table of a result (``.compute()`` it); options as for
        pandas (``price_per_call``, ``currency``, ``all_statuses``, ``wide``, ``values``)."""
        return summary(self._frame, by, prefix=prefix, **options)

    def compare(self, by: object, **options: Any) -> Delayed:
        """Lazily, the comparison table pandas' ``out.mobile.compare(by, ...)`` gives for the
        computed frame (``.compute()`` it): shares per group with intervals, lift and
        p-values, numbers as clusters; counts reduced on the workers, statistics on the
        client from the counts (never the rows). Options as for pandas (``reference``,
        ``statuses``, ``level``, ``population``, ``outcome``, ``prefix``)."""
        return compare(self._frame, by, **options)

    def report(self) -> dict[str, Any]:
        """The job's shared state now: stop reason, calls, budget used (see
        :func:`~mobilestatus_pandas.dask.job_report`)."""
        return job_report(self._frame)


class DaskSeriesAccessor:
    """``ds.mobile`` on a dask Series."""

    def __init__(self, series: dd.Series) -> None:
        self._series = series

    def normalize(self) -> dd.Series:
        """Lazily, the 11-digit national numbers (string dtype), ``<NA>`` where not one."""
        meta = self._series._meta
        numbers.check_dtype(meta)
        out_meta = pd.Series([], dtype=numbers.string_dtype(), name=meta.name, index=meta.index)
        return self._series.map_partitions(
            numbers.normalize, meta=out_meta, token=f"{TASK_PREFIX}-normalize"
        )


def register() -> None:
    """Put ``.mobile`` on dask's DataFrame and Series (done on import of this module)."""
    from dask.dataframe.extensions import (
        register_dataframe_accessor,
        register_series_accessor,
    )

    with warnings.catch_warnings():  # registering twice (a reload) is not news
        warnings.simplefilter("ignore", UserWarning)
        register_dataframe_accessor("mobile")(DaskFrameAccessor)
        register_series_accessor("mobile")(DaskSeriesAccessor)


register()

__all__ = [
    "DaskFrameAccessor",
    "DaskSeriesAccessor",
    "JobSpec",
    "WorkerConfig",
    "check",
    "check_cluster",
    "client_for",
    "close_built_clients",
    "compare",
    "estimate",
    "job_report",
    "progress",
    "status",
    "summary",
    "tenure",
]
