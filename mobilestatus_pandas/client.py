"""One MobileStatus call: transport, error mapping and retries; and the client users hold.

:class:`MobileStatusClient` is the object a notebook keeps: it knows the endpoint, the
credentials, the rate limiter, the cache and ledger. ``client.lookup(number)`` checks one
number, ``client.lookup_many(numbers)`` a whole column (see :mod:`mobilestatus_pandas.batch`).

Below it, :meth:`MobileStatusClient.call` is a single number's trip to the service: take a
slot from the rate limiter, sign, send, read the answer, and retry what is worth retrying
with exponential backoff and full jitter. Third-party errors are translated here, at one
boundary, into the exceptions of :mod:`mobilestatus_pandas.errors`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import random
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

import requests

from . import codes, options
from .cache import (
    CACHE_FILE_NAME,
    RATE_FILE_NAME,
    NumberHasher,
    SQLiteStore,
    Store,
    default_cache_dir,
)
from .credentials import CredentialSource, resolve_credentials
from .errors import AuthenticationError, InputError, TransportError
from .options import VALIDATE_MODES
from .ratelimit import (
    DEFAULT_OUTAGE_TIMEOUT_SECONDS,
    DEFAULT_RATE_PER_SECOND,
    LocalWindowLog,
    RateLimiter,
    SQLiteWindowLog,
    WindowLog,
)
from .result import LookupResult
from .signing import JSON_CONTENT_TYPE, TC3Auth

if TYPE_CHECKING:
    import pandas as pd

    from .batch import RunReport
    from .encryption import Encryption

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT: Final = "https://faceid.intl.tencentcloudapi.com"
ENV_ENDPOINT: Final = "MOBILESTATUS_ENDPOINT"
DEFAULT_TIMEOUT_SECONDS: Final = 10.0
DEFAULT_MAX_RETRIES: Final = 4
DEFAULT_CACHE_TTL: Final = dt.timedelta(days=7)
#: Where the cache is when ``cache="default"``: this variable (a path or a Redis URL), else
#: the per-user cache directory.
ENV_CACHE: Final = "MOBILESTATUS_CACHE"
#: Backoff before retry n is uniform in [0, min(CAP, BASE * 2**n)] ("full jitter").
BACKOFF_BASE_SECONDS: Final = 0.2
BACKOFF_CAP_SECONDS: Final = 8.0
#: RequestLimitExceeded is retried on its own, larger budget: it is never a row error unless
#: the account stays throttled this many times in a row for one number.
RATE_LIMITED_RETRIES: Final = 20
#: The default thread bound lets the rate limit be reached at mean latencies up to about
#: this long (calls in flight follow the latency observed, see concurrency.py) ...
WORKERS_LATENCY_SECONDS: Final = 3.0
#: ... but never more threads than this: threads are for waiting on the network, and past a
#: few dozen they contend for the GIL (1,500 threads reached 200 calls/s where 64 reach 450).
MAX_DEFAULT_WORKERS: Final = 64
#: Hosts whose answers are interchangeable in the cache (the real service's sites).
TENCENT_HOST_SUFFIX: Final = ".tencentcloudapi.com"


def normalize_endpoint(endpoint: str | None) -> str:
    """The endpoint URL to POST to: argument, else ``$MOBILESTATUS_ENDPOINT``, else Tencent's.

    A bare host means https; a URL may carry http and a port.
    """
    raw = (endpoint or os.environ.get(ENV_ENDPOINT) or DEFAULT_ENDPOINT).strip()
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"endpoint {endpoint!r} is not a host or an http(s) URL; "
            "use e.g. 'faceid.tencentcloudapi.com' or 'http://127.0.0.1:8080'"
        )
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise InputError(f"endpoint {endpoint!r} has a bad port") from exc
    return urlunsplit((parts.scheme, parts.netloc, "/", "", ""))


def default_max_workers(rate_limit: float) -> int:
    """The default thread bound for ``rate_limit`` calls/s: enough threads to reach it at
    mean latencies up to ``WORKERS_LATENCY_SECONDS``, at most ``MAX_DEFAULT_WORKERS``.

    >>> default_max_workers(20), default_max_workers(1000)
    (60, 64)
    """
    return max(1, min(MAX_DEFAULT_WORKERS, math.ceil(rate_limit * WORKERS_LATENCY_SECONDS)))


def cache_realm(url: str) -> str:
    """Which service's answers a cache entry holds: Tencent's sites share, others do not.

    Keeps a local sandbox's made-up answers out of the real service's cache entries.
    """
    host = (urlsplit(url).hostname or "").lower()
    if host.endswith(TENCENT_HOST_SUFFIX):
        return "tencentcloud"
    return urlsplit(url).netloc.lower()


def _shared_window_log() -> WindowLog:
    """The rate-limit log every process of this user shares, or this process's own when the
    per-user cache directory cannot be written (then only this process is paced)."""
    path = default_cache_dir() / RATE_FILE_NAME
    try:
        return SQLiteWindowLog(path)
    except (OSError, sqlite3.Error) as exc:
        logger.warning(
            "cannot open the shared rate-limit log in %s (%s); pacing this process only",
            path.parent, exc,
        )  # fmt: skip
        return LocalWindowLog()


@dataclass(frozen=True)
class CacheBackend:
    """Where a client keeps answers, calls and its rate-limit log."""

    location: str  # for people: a path, a Redis URL without its password, or "memory"
    path: Path | None  # the SQLite file, when the cache is one
    store: Store
    hasher: NumberHasher
    window_log: WindowLog
    #: What ``cache=`` named, resolved: None, a Redis URL (it may hold a password: never
    #: show it), or the SQLite file. Other processes open the same cache from it (Dask).
    target: str | Path | None = None


def resolve_cache(cache: str | os.PathLike[str] | None) -> str | Path | None:
    """What ``cache=`` names: ``None`` (this client's memory), a Redis URL, or a SQLite file.

    ``"default"`` is ``$MOBILESTATUS_CACHE`` when set, else the per-user cache file; a
    directory means the cache file in it.
    """
    if isinstance(cache, str) and cache == "default":
        cache = os.environ.get(ENV_CACHE) or default_cache_dir() / CACHE_FILE_NAME
    if cache is None:
        return None
    if isinstance(cache, str) and "://" in cache:
        from .redis_backend import is_redis_url

        if not is_redis_url(cache):
            raise InputError(
                f"cache URLs are redis://, rediss:// or unix:// (Redis), got {cache.split('://')[0]}://"
            )
        return cache
    if not isinstance(cache, (str, os.PathLike)):
        raise InputError(
            f"cache must be 'default', a file path, a redis:// URL or None, got {cache!r}"
        )
    path = Path(cache).expanduser()
    return path / CACHE_FILE_NAME if path.is_dir() else path


def open_cache(
    cache: str | os.PathLike[str] | None,
    *,
    ttl_seconds: float,
    outage_timeout: float = DEFAULT_OUTAGE_TIMEOUT_SECONDS,
) -> CacheBackend:
    """Open the backend ``cache`` names (see :func:`resolve_cache`)."""
    target = resolve_cache(cache)
    if target is None:
        # Nothing on disk at all: the rate-limit log too lives in this client's memory, so
        # it paces this client only (not other processes or clients of the same account).
        return CacheBackend(
            "memory",
            None,
            SQLiteStore(":memory:"),
            NumberHasher.ephemeral(),
            LocalWindowLog(),
            None,
        )
    if isinstance(target, str):  # a Redis URL
        from . import redis_backend

        connection = redis_backend.connect(target)
        location = redis_backend.mask_url(target)
        store = redis_backend.RedisStore(
            connection, ttl_seconds=ttl_seconds, location=location, outage_timeout=outage_timeout
        )
        hasher = NumberHasher.for_directory(default_cache_dir())
        store.check_hasher(hasher)
        window_log = redis_backend.RedisWindowLog(connection, location=location)
        return CacheBackend(location, None, store, hasher, window_log, target)
    return CacheBackend(
        str(target),
        target,
        SQLiteStore(target),
        NumberHasher.for_directory(target.parent),
        _shared_window_log(),
        target,
    )


@dataclass(frozen=True)
class Answer:
    """One parsed answer from the service (an error answer or a result)."""

    result: str | None
    description: str | None
    status_code: int | None
    request_id: str | None
    error_code: str | None = None
    error_message: str | None = None

    @classmethod
    def from_response(cls, response: dict[str, Any]) -> Answer:
        """Read the ``Response`` object of a TencentCloud API 3.0 answer."""
        request_id = response.get("RequestId")
        error = response.get("Error")
        if isinstance(error, dict):
            return cls(
                None,
                None,
                None,
                request_id,
                str(error.get("Code") or "UnknownError"),
                str(error.get("Message") or ""),
            )
        raw_code = response.get("StatusCode")
        try:
            status_code = None if raw_code is None else int(raw_code)
        except (TypeError, ValueError):
            status_code = None
        result = response.get("Result")
        return cls(
            None if result is None else str(result),
            response.get("Description"),
            status_code,
            request_id,
        )

    def to_result(self, number: str, checked_at: dt.datetime, *, billed: bool) -> LookupResult:
        """The :class:`LookupResult` this answer gives ``number``."""
        if self.error_code is not None:
            return LookupResult(
                number,
                True,
                None,
                self.error_message,
                None,
                "error",
                False,
                False,
                checked_at,
                self.request_id,
                self.error_code,
            )
        meaning = codes.result_code(self.result)
        status = codes.status_for(self.result, self.status_code)
        if meaning.status == "error":
            error: str | None = f"unknown Result {self.result!r}"
        elif not meaning.final:  # busy after retries, daily limit: say which code it was
            error = f"Result {self.result}"
        else:
            error = None
        return LookupResult(
            number,
            status != "invalid",
            self.result,
            self.description,
            self.status_code,
            status,
            billed and meaning.billed,
            False,
            checked_at,
            self.request_id,
            error,
        )


@dataclass(frozen=True)
class CallOutcome:
    """What one number's trip to the service came to."""

    result: LookupResult
    attempts: int
    retries: int


#: Called with every answer that reached the service, and whether it is the final one.
AnswerHook = Callable[[str, Answer, float, bool], None]


def full_jitter(
    attempt: int, rng: random.Random, base_seconds: float = BACKOFF_BASE_SECONDS
) -> float:
    """Pause before retry ``attempt``: uniform in ``[0, min(cap, base * 2**attempt)]``."""
    return rng.uniform(0.0, min(BACKOFF_CAP_SECONDS, base_seconds * 2**attempt))


class MobileStatusClient:
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
            ``rate_limit x mean latency x 1.5`` calls in flight, following the latency it
            observes; the default (``rate_limit x 3`` threads, at most 64) reaches
            ``rate_limit`` at mean latencies up to 2 s.
        timeout: seconds to wait for one answer.
        max_retries: retries of a transient failure (network, HTTP 5xx, bad JSON,
            ``InternalError``, ``Result -3``) before the row gets ``busy``/``error``.
        cache: ``"default"`` (``$MOBILESTATUS_CACHE`` if set, else the per-user cache
            dir), a path to a SQLite file, a Redis URL (``"redis://host:6379/0"``: cache,
            ledger and rate limit shared by a team; ``pip install
            'mobilestatus-pandas[redis]'``), or ``None`` (this client's memory only).
        cache_ttl: how long a cached answer is reused (in Redis, also its TTL).
        encryption: ``msp.Encryption(...)`` sends the number encrypted (Tencent's
            ``Encryption`` parameter, a fresh key and IV per request).
        price_per_call: price of one billed call, for cost figures.
        backoff_seconds: the first retry waits up to twice this, each next one doubles
            (capped at 8 s), with full jitter.
        validate: ``"local"`` marks numbers that fail libphonenumber's CN mobile pattern
            ``invalid`` without a call; ``"server"`` sends every 11-digit number.
        outage_timeout: seconds a run waits, calls paused, for a Redis cache that stopped
            answering; then the run stops with ``not_checked`` rows.

    Example:
        >>> import mobilestatus_pandas as msp
        >>> with msp.Sandbox() as sb:
        ...     client = sb.client()
        ...     client.lookup("+86 138 0013 8000").status
        'out_of_service'
    """

    def __init__(
        self,
        endpoint: str | None = None,
        secret_id: str | None = None,
        secret_key: str | None = None,
        token: str | None = None,
        region: str | None = None,
        rate_limit: float = DEFAULT_RATE_PER_SECOND,
        max_workers: int | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_retries: int = DEFAULT_MAX_RETRIES,
        cache: str | os.PathLike[str] | None = "default",
        cache_ttl: dt.timedelta = DEFAULT_CACHE_TTL,
        encryption: Encryption | None = None,
        price_per_call: float | None = None,
        *,
        credential: object | None = None,
        validate: str = "local",
        language: str | None = None,
        backoff_seconds: float = BACKOFF_BASE_SECONDS,
        outage_timeout: float = DEFAULT_OUTAGE_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        if encryption is not None and not hasattr(encryption, "encrypt"):
            raise InputError("encryption= takes msp.Encryption(public_key=..., algorithm=...)")
        self.encryption = encryption
        # Every option is checked before anything is opened or sent (see options.py).
        validate = options.choice("validate", validate, VALIDATE_MODES)
        timeout = options.number("timeout", timeout, above=True, unit="seconds")
        max_retries = options.whole("max_retries", max_retries)
        price_per_call = options.optional_number("price_per_call", price_per_call)
        cache_ttl = options.duration("cache_ttl", cache_ttl)
        outage_timeout = options.number("outage_timeout", outage_timeout, unit="seconds")
        backoff_seconds = options.number("backoff_seconds", backoff_seconds, unit="seconds")
        rate_limit = options.number("rate_limit", rate_limit, above=True, unit="calls per second")
        max_workers = options.optional_whole("max_workers", max_workers, minimum=1)

        self.url = normalize_endpoint(endpoint)
        self._credentials: CredentialSource = resolve_credentials(
            secret_id, secret_key, token, credential
        )
        self.region = region
        self.rate_limit = float(rate_limit)
        self.max_workers = max_workers if max_workers is not None else default_max_workers(
            self.rate_limit
        )  # fmt: skip
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.cache_ttl = cache_ttl
        self.price_per_call = price_per_call
        self.validate = validate
        self.backoff_seconds = float(backoff_seconds)
        self._clock = clock
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()

        self.outage_timeout = float(outage_timeout)
        backend = open_cache(
            cache, ttl_seconds=cache_ttl.total_seconds(), outage_timeout=self.outage_timeout
        )
        self.cache_location = backend.location
        self.cache_path = backend.path
        self._cache_target = backend.target
        self._store, self._hasher = backend.store, backend.hasher
        self.limiter = RateLimiter(
            self.rate_limit,
            backend.window_log,
            self._credentials.secret_id,
            clock=clock,
            sleep=sleep,
            outage_timeout_seconds=self.outage_timeout,
        )
        self._realm = cache_realm(self.url)
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=1, pool_maxsize=self.max_workers, max_retries=0
        )
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._auth = TC3Auth(self._credentials.get, clock=clock, region=region, language=language)
        self.last_run: RunReport | None = None
        #: Who holds this client's claims on numbers being looked up (see batch.py).
        self.claim_owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        # Worker pools of interrupted runs whose calls may still be in flight: the next run
        # waits for them, so an answer already paid for is in the cache before it looks.
        self._abandoned_pools: list[Any] = []

    # -- set-up ---------------------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"MobileStatusClient(endpoint={self.url!r}, secret_id={self.secret_id!r}, "
            f"rate_limit={self.rate_limit:g}, cache={self.cache_location!r})"
        )

    def close(self) -> None:
        """Close the HTTP session and the cache."""
        self._session.close()
        self._store.close()

    def __enter__(self) -> MobileStatusClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what the engine uses ---------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The cache and ledger backend."""
        return self._store

    def now(self) -> float:
        """The client's clock, Unix seconds (injectable for tests)."""
        return self._clock()

    def settle_interrupted_runs(self) -> None:
        """Wait for calls still in flight from interrupted runs (each ends within ``timeout``)."""
        while self._abandoned_pools:
            self._abandoned_pools.pop().shutdown(wait=True)

    def abandon_pool(self, pool: Any) -> None:
        """Remember an interrupted run's worker pool (see :meth:`settle_interrupted_runs`)."""
        self._abandoned_pools.append(pool)

    @property
    def secret_id(self) -> str:
        """The SecretId calls are signed with (never the key)."""
        return self._credentials.secret_id

    def number_key(self, number: str) -> str:
        """The cache/ledger key of a normalised number (a keyed hash, never the number)."""
        return self._hasher.key(f"{self._realm}:{number}")

    def _prepare(self, number: str) -> requests.PreparedRequest:
        """Build and sign the request for one number, ready to go out the moment it may."""
        params: dict[str, Any] = {"Mobile": number}
        if self.encryption is not None:
            params = self.encryption.encrypt(params)
        body = json.dumps(params).encode("utf-8")
        request = requests.Request(
            "POST",
            self.url,
            data=body,
            headers={"Content-Type": JSON_CONTENT_TYPE},
            auth=self._auth,
        )
        return self._session.prepare_request(request)

    def _send(self, prepared: requests.PreparedRequest) -> Answer:
        """Send one prepared request; translate every transport failure."""
        try:
            response = self._session.send(prepared, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransportError(f"{type(exc).__name__} calling {self.url}") from exc
        if response.status_code != requests.codes.ok:
            raise TransportError(
                f"HTTP {response.status_code} from {self.url}", status=response.status_code
            )
        try:
            payload = response.json()["Response"]
            if not isinstance(payload, dict):
                raise TypeError("Response is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            raise TransportError(f"unparsable answer from {self.url}: {exc}") from exc
        return Answer.from_response(payload)

    def _backoff(self, attempt: int) -> float:
        with self._rng_lock:
            return full_jitter(attempt, self._rng, self.backoff_seconds)

    def call(
        self,
        number: str,
        *,
        acquire: Callable[[], bool] | None = None,
        sleep: Callable[[float], None] | None = None,
        on_answer: AnswerHook | None = None,
    ) -> CallOutcome:
        """Look one normalised number up at the service, retrying what is worth retrying.

        ``acquire`` takes a rate-limit slot before every attempt (``False`` ends the call
        unchecked); ``on_answer(number, answer, sent_at, final)`` sees every answer that
        reached the service, for the ledger. Raises :class:`AuthenticationError` when the
        account is refused; everything else ends as a row.
        """
        take_slot = acquire if acquire is not None else self.limiter.acquire
        pause = sleep if sleep is not None else self._sleep
        attempts = retries = rate_limited = 0
        last: LookupResult | None = None
        while True:
            # Signed before the slot is taken, so the request leaves as soon as it is granted:
            # the less time between the two, the less the service's clock can disagree with
            # ours about which second a call fell in.
            prepared = self._prepare(number)
            if not take_slot():
                result = (
                    last
                    if last is not None
                    else LookupResult.unchecked(number, True, "run stopped")
                )
                return CallOutcome(result, attempts, retries)
            attempts += 1
            sent_at = self._clock()
            checked_at = dt.datetime.fromtimestamp(sent_at, tz=dt.timezone.utc)
            try:
                answer = self._send(prepared)
            except TransportError as exc:
                last = LookupResult(
                    number,
                    True,
                    None,
                    str(exc),
                    None,
                    "error",
                    False,
                    False,
                    None,
                    None,
                    f"HTTP {exc.status}" if exc.status else "TransportError",
                )
            else:
                kind = codes.error_kind(answer.error_code) if answer.error_code else None
                retryable = kind is codes.ErrorKind.RETRY or (
                    kind is None and codes.result_code(answer.result).retryable
                )
                will_retry = (retryable and retries < self.max_retries) or (
                    kind is codes.ErrorKind.RATE_LIMITED and rate_limited < RATE_LIMITED_RETRIES
                )
                if on_answer is not None:
                    on_answer(number, answer, sent_at, not will_retry)
                if kind is codes.ErrorKind.ACCOUNT:
                    raise AuthenticationError(
                        answer.error_code or "", answer.error_message or "", answer.request_id
                    )
                last = answer.to_result(number, checked_at, billed=True)
                if kind is codes.ErrorKind.RATE_LIMITED:
                    self.limiter.penalize()
                    if not will_retry:
                        return CallOutcome(last, attempts, retries)
                    rate_limited += 1
                    pause(self._backoff(min(rate_limited, 3)))
                    continue
                if not retryable:
                    return CallOutcome(last, attempts, retries)
            if retries >= self.max_retries:
                return CallOutcome(last, attempts, retries)
            retries += 1
            pause(self._backoff(retries))

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
        from .batch import run_lookups

        frame = run_lookups(self, [number], progress=False, refresh=refresh, validate=validate)
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
        ``seed``): see :mod:`mobilestatus_pandas.sampling`.
        """
        from .batch import run_lookups

        return run_lookups(
            self,
            numbers,
            progress=progress,
            max_billed=max_billed,
            refresh=refresh,
            validate=validate,
            sample=sample,
            by=by,
            seed=seed,
        )

    def billing(self, period: str = "D") -> pd.DataFrame:
        """The ledger per day (``"D"``) or month (``"M"``): calls, billed, unbilled, cost, and
        ``billed_without_request_id`` (0 when every billed call can be reconciled)."""
        from .report import billing_by_period

        return billing_by_period(self.ledger(), period, price_per_call=self.price_per_call)

    def ledger(self) -> pd.DataFrame:
        """Every call that reached the service: time, key hash, Result, billed, RequestId.

        Numbers are not stored; ``number_key`` is the keyed hash used by the cache.
        """
        from .batch import ledger_frame

        return ledger_frame(self._store.ledger(), self.price_per_call)
