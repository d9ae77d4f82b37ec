"""One call to the service: transport, error mapping and retries.

:class:`Caller` holds what a call needs: the endpoint, the credentials, the rate limiters,
the store. The run (:mod:`mobilestatus_pandas.engine.run`) uses it; it knows nothing of runs, and
the client users hold (:mod:`mobilestatus_pandas.client`) builds on it.

:meth:`Caller.call` is a single number's trip to the service: take a
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
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import requests
from urllib3 import connection as urllib3_connection
from urllib3 import connectionpool as urllib3_pools
from urllib3 import exceptions as urllib3_errors

from ..errors import (
    AuthenticationError,
    EncryptionKeyError,
    InputError,
    NoAnswerError,
    NotSentError,
    TransportError,
)
from ..service import codes
from ..service.actions import ACTIONS, ACTIONS_BY_API, STATUS, Action, get_action
from ..service.credentials import CredentialSource, resolve_credentials
from ..service.signing import JSON_CONTENT_TYPE, TC3Auth
from ..stores import DEFAULT_OUTAGE_TIMEOUT_SECONDS, Store, open_cache
from . import options
from .options import VALIDATE_MODES
from .ratelimit import DEFAULT_RATE_PER_SECOND, RateLimiter

if TYPE_CHECKING:
    from ..service.encryption import Encryption

logger = logging.getLogger(__name__)
#: The domain of the row keys (``mobile_key``): apart from every cache and ledger key.
ROW_KEY_TAG: Final = "row-key:"
#: A row key is the first 8 bytes of its digest (as an int64, less one bit).
ROW_KEY_BYTES: Final = 8

_Self = TypeVar("_Self", bound="Caller")

DEFAULT_ENDPOINT: Final = "https://faceid.intl.tencentcloudapi.com"
ENV_ENDPOINT: Final = "MOBILESTATUS_ENDPOINT"
DEFAULT_TIMEOUT_SECONDS: Final = 10.0
DEFAULT_MAX_RETRIES: Final = 4
DEFAULT_CACHE_TTL: Final = dt.timedelta(days=7)
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
#: The ledger's ``error`` for a 200 answer whose body is cut short or not JSON.
UNPARSABLE_BODY: Final = "UnparsableBody"
#: HTTP statuses from here up are a gateway's failure after the request arrived.
HTTP_SERVER_ERROR: Final = 500
#: Hosts whose answers are interchangeable in the cache (the real service's sites).
TENCENT_HOST_SUFFIX: Final = ".tencentcloudapi.com"
#: Tencent refuses a signature older than 300 s (``AuthFailure.SignatureExpire``). A request
#: is signed before it waits for its rate-limit slot; one that waited longer than this (a
#: Redis outage, many workers at a low rate) is signed again before it is sent.
RESIGN_AFTER_SECONDS: Final = 60.0
#: The timestamp header a signed request carries (see signing.py).
TIMESTAMP_HEADER: Final = "X-TC-Timestamp"
#: The header naming the API a signed request asks.
ACTION_HEADER: Final = "X-TC-Action"
#: What failed before a byte of the request left (urllib3's ``MaxRetryError.reason``):
#: connection refused, DNS failure (``NameResolutionError`` is a ``NewConnectionError``),
#: connect timeout. The service never saw such a call.
_NOT_SENT_CAUSES: Final = (urllib3_errors.NewConnectionError, urllib3_errors.ConnectTimeoutError)
#: requests' errors that are raised before the request is sent (the TLS handshake, the proxy,
#: the URL): never billed.
_NOT_SENT_ERRORS: Final = (
    requests.exceptions.ConnectTimeout,
    requests.exceptions.SSLError,
    requests.exceptions.ProxyError,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)


#: What this thread's request calls the moment it has been written to the socket.
_on_wire = threading.local()


def _stamp_on_wire() -> None:
    hook: Callable[[], None] | None = getattr(_on_wire, "hook", None)
    if hook is not None:
        hook()


class _StampingHTTPConnection(urllib3_connection.HTTPConnection):
    """urllib3's connection, telling the rate limiter when the request is on the wire."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)
        _stamp_on_wire()


class _StampingHTTPSConnection(urllib3_connection.HTTPSConnection):
    """As :class:`_StampingHTTPConnection`, over TLS."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)
        _stamp_on_wire()


class _StampingHTTPPool(urllib3_pools.HTTPConnectionPool):
    ConnectionCls = _StampingHTTPConnection


class _StampingHTTPSPool(urllib3_pools.HTTPSConnectionPool):
    ConnectionCls = _StampingHTTPSConnection


class _StampingAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connections stamp the moment a request is written out: the
    rate limiter counts this process's sends from then (see ``RateLimiter.sent``). Behind a
    proxy the stamp is the slot's time, as before."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _StampingHTTPPool,
            "https": _StampingHTTPSPool,
        }


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


def public_url(url: str) -> str:
    """``url`` without any user or password: what messages may show of the endpoint."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def was_sent(exc: requests.RequestException) -> bool:
    """Whether the request behind ``exc`` may have reached the service.

    ``False`` only when it provably did not: connection refused, DNS failure, connect
    timeout, TLS handshake, proxy, bad URL. Everything else (read timeout, connection reset
    or closed after sending, a body cut short) happened after the request left.
    """
    if isinstance(exc, _NOT_SENT_ERRORS):
        return False
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, urllib3_errors.MaxRetryError):
        cause = cause.reason
    return not isinstance(cause, _NOT_SENT_CAUSES)


def failure_reason(exc: requests.RequestException) -> str:
    """What failed, in one word: the innermost named cause (``ReadTimeoutError``,
    ``NewConnectionError``, ``RemoteDisconnected``, ...), else requests' class name."""
    reason = type(exc).__name__
    cause: object = exc.args[0] if exc.args else None
    for _ in range(3):  # requests -> urllib3 MaxRetryError -> its reason -> socket error
        if isinstance(cause, urllib3_errors.MaxRetryError):
            cause = cause.reason
        if not isinstance(cause, BaseException):
            break
        reason = type(cause).__name__
        inner = cause.args[1] if len(cause.args) > 1 else None  # ProtocolError(msg, cause)
        if not isinstance(inner, BaseException):
            break
        cause = inner
    return reason


def cache_realm(url: str) -> str:
    """Which service's answers a cache entry holds: Tencent's sites share, others do not.

    Keeps a local sandbox's made-up answers out of the real service's cache entries.
    """
    host = (urlsplit(url).hostname or "").lower()
    if host.endswith(TENCENT_HOST_SUFFIX):
        return "tencentcloud"
    return urlsplit(url).netloc.lower()


@dataclass(frozen=True)
class Answer:
    """One parsed answer from the service (an error answer or a result).

    ``fields`` holds the answer's own fields for its action (``StatusCode`` for MobileStatus,
    ``Range`` for MobileNetworkTimeVerification: see :mod:`mobilestatus_pandas.service.actions`).
    """

    result: str | None
    description: str | None
    status_code: int | None
    request_id: str | None
    error_code: str | None = None
    error_message: str | None = None
    fields: dict[str, Any] = field(default_factory=dict, compare=False)
    action: Action = field(default=STATUS, compare=False, repr=False)

    @classmethod
    def from_response(cls, response: dict[str, Any], action: Action = STATUS) -> Answer:
        """Read the ``Response`` object of a TencentCloud API 3.0 answer to ``action``."""
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
                action=action,
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
            fields=action.keep(response),
            action=action,
        )

    @property
    def meaning(self) -> codes.ResultCode:
        """What this answer's Result means in its action's own code table."""
        return self.action.result_code(self.result)

    def to_result(self, number: str, checked_at: dt.datetime, *, billed: bool = True) -> Any:
        """The record this answer gives ``number`` (a :class:`LookupResult` for MobileStatus,
        a :class:`~mobilestatus_pandas.service.result.TenureResult` for tenure)."""
        if self.error_code is not None:
            return self.action.failure(
                number,
                self.error_message,
                self.error_code,
                request_id=self.request_id,
                checked_at=checked_at,
            )
        fields = self.fields
        if self.action is STATUS and "StatusCode" not in fields:  # made by hand, not read
            fields = {**fields, "StatusCode": self.status_code}
        return self.action.from_answer(
            number,
            self.result,
            self.description,
            fields,
            self.request_id,
            checked_at,
            billed=billed,
        )


@dataclass(frozen=True)
class CallOutcome:
    """What one number's trip to the service came to."""

    result: Any  # the action's record: LookupResult, TenureResult
    attempts: int
    retries: int
    #: The transport failure the call ended on (after its retries), if it did.
    transport_error: TransportError | None = None


#: Called with every answer that reached the service, and whether it is the final one.
AnswerHook = Callable[[str, Answer, float, bool], None]
#: Called with every attempt that got no answer (:class:`NotSentError`: never billed;
#: :class:`NoAnswerError`: possibly billed), its send time, and whether it is the final one.
TransportErrorHook = Callable[[str, TransportError, float, bool], None]


def full_jitter(
    attempt: int, rng: random.Random, base_seconds: float = BACKOFF_BASE_SECONDS
) -> float:
    """Pause before retry ``attempt``: uniform in ``[0, min(cap, base * 2**attempt)]``."""
    return rng.uniform(0.0, min(BACKOFF_CAP_SECONDS, base_seconds * 2**attempt))


def _prices_by_action(price_per_call: object) -> dict[str, float]:
    """``price_per_call`` as a price per action name: one number is every action's price."""
    if isinstance(price_per_call, dict):
        prices: dict[str, float] = {}
        for name, price in price_per_call.items():
            action = get_action(name)
            value = options.optional_number(f"price_per_call[{name!r}]", price)
            if value is not None:
                prices[action.name] = value
        return prices
    value = options.optional_number("price_per_call", price_per_call)
    return {} if value is None else dict.fromkeys(ACTIONS, value)


class BackgroundWork(Protocol):
    """Work going on with a client in the background (a run, see ``engine/run.py``): what
    :meth:`Caller.close` ends before it closes the cache."""

    def stop_for_close(self) -> None:
        """Stop sending because the client closes (returns at once)."""
        ...

    def wait_ended(self) -> None:
        """Wait until every call in flight has ended and its answer is recorded."""
        ...


class Caller:
    """What a client calls the service with: the endpoint, the credentials, the rate
    limiters, the store and hasher, and :meth:`call`, one number's trip to the service.

    Users hold its subclass :class:`~mobilestatus_pandas.client.MobileStatusClient`, which
    adds lookups, the ledger and billing on top; its arguments are documented there.
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
        price_per_call: float | dict[str, float] | None = None,
        *,
        credential: object | None = None,
        validate: str = "local",
        language: str | None = None,
        backoff_seconds: float = BACKOFF_BASE_SECONDS,
        outage_timeout: float = DEFAULT_OUTAGE_TIMEOUT_SECONDS,
        retry_ambiguous: bool = True,
        realm: str | None = None,
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
        prices = _prices_by_action(price_per_call)
        cache_ttl = options.duration("cache_ttl", cache_ttl)
        outage_timeout = options.number("outage_timeout", outage_timeout, unit="seconds")
        backoff_seconds = options.number("backoff_seconds", backoff_seconds, unit="seconds")
        rate_limit = options.number("rate_limit", rate_limit, above=True, unit="calls per second")
        max_workers = options.optional_whole("max_workers", max_workers, minimum=1)

        self.url = normalize_endpoint(endpoint)
        #: The endpoint as messages show it (no user or password).
        self.endpoint = public_url(self.url)
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
        self.retry_ambiguous = options.flag("retry_ambiguous", retry_ambiguous)
        self.cache_ttl = cache_ttl
        #: MobileStatus's price (the only one before actions); :meth:`price_for` has each.
        self.price_per_call = prices.get(STATUS.name)
        self._prices = prices
        self._is_priced_per_action = isinstance(price_per_call, dict)
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
        self._cache_from_environment = backend.from_environment
        self._store, self._hasher = backend.store, backend.hasher
        self._window_log = backend.window_log
        #: MobileStatus's rate limiter; each action has its own (:meth:`limiter_for`).
        self.limiter = self._new_limiter(STATUS)
        self._limiters: dict[str, RateLimiter] = {STATUS.api: self.limiter}
        self._limiters_lock = threading.Lock()
        if realm is not None and (not isinstance(realm, str) or not realm):
            raise InputError(f"realm must be a non-empty string or None, got {realm!r}")
        #: Whose answers the cache holds for this client (see ``cache_realm``).
        self.realm = realm if realm is not None else cache_realm(self.url)
        self._session = requests.Session()
        adapter = _StampingAdapter(pool_connections=1, pool_maxsize=self.max_workers, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        # The proxies the environment names for the endpoint, read once: requests reads the
        # whole environment on every send otherwise (a tenth of a call's CPU at 1000/s).
        self._proxies = requests.utils.resolve_proxies(
            requests.Request("POST", self.url), dict(self._session.proxies), self._session.trust_env
        )
        self._auths = {
            api: TC3Auth(
                self._credentials.get, clock=clock, action=api, region=region, language=language
            )
            for api in (a.api for a in ACTIONS.values())
        }
        #: The report of this client's latest run (set by the run; see ``engine/steps.py``).
        self.last_run: Any = None
        #: Who holds this client's claims on numbers being looked up (see ``engine/dispatch.py``).
        self.claim_owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        # Worker pools of interrupted runs whose calls may still be in flight: the next run
        # waits for them, so an answer already paid for is in the cache before it looks.
        self._abandoned_pools: list[Any] = []
        # Work going on in the background with this client (runs): close() ends it first.
        self._background: set[BackgroundWork] = set()
        self._background_lock = threading.Lock()
        self._closing = False
        self._closed = False

    # -- set-up ---------------------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"MobileStatusClient(endpoint={self.endpoint!r}, secret_id={self.secret_id!r}, "
            f"rate_limit={self.rate_limit:g}, cache={self.cache_location!r})"
        )

    def close(self) -> None:
        """Close the HTTP session and the cache, after the work going on with this client.

        A run going on in the background (``df.mobile.start``, or a ``status`` waited for in
        another thread) is stopped first: nothing more is sent, its calls in flight end
        (each within ``timeout``) and every answer is written to the ledger and cache; only
        then does the cache close. The run's ``result()`` gives the frame so far, the rest
        ``not_checked``, with the usual :class:`RunStoppedWarning`. A closed client starts
        nothing more (:class:`InputError`). Closing twice is harmless.
        """
        with self._background_lock:
            if self._closed:
                return
            self._closing = True
            going = list(self._background)
        for work in going:
            work.stop_for_close()
        for work in going:
            work.wait_ended()
        self.settle_interrupted_runs()  # calls of interrupted runs, still in flight
        self._session.close()
        self._store.close()
        with self._background_lock:
            self._closed = True

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called (a ``with`` block ended)."""
        return self._closing

    def track(self, work: BackgroundWork) -> None:
        """Register ``work`` going on with this client, for :meth:`close` to end first;
        :class:`InputError` when the client is closed (or closing)."""
        with self._background_lock:
            if self._closing:
                raise InputError(
                    "this client is closed (close() was called, or its with block ended): "
                    "make a new MobileStatusClient; answers so far are in its cache"
                )
            self._background.add(work)

    def untrack(self, work: BackgroundWork) -> None:
        """``work`` has ended (see :meth:`track`)."""
        with self._background_lock:
            self._background.discard(work)

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what the engine uses ---------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The cache and ledger backend (:class:`InputError` once the client is closed)."""
        if self._closed:
            raise InputError(
                f"this client is closed, and its cache {self.cache_location!r} with it: make a "
                "new MobileStatusClient to read the ledger or look numbers up"
            )
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

    def number_key(self, number: str, action: Action | str = STATUS) -> str:
        """The cache/ledger key of a normalised number for ``action`` (a keyed hash, never
        the number). A number's status and its tenure are cached apart: their keys differ."""
        found = get_action(action)
        if found is STATUS:
            return self._hasher.key(f"{self.realm}:{number}")
        return self._hasher.key(f"{self.realm}:{found.api}:{number}")

    def row_keys(self, numbers: Iterable[str]) -> np.ndarray:
        """The ``mobile_key`` of normalised numbers (int64): 63 bits of HMAC-SHA256 under the
        store's secret, in a domain of its own (never a cache or ledger key), the same for
        every action and every run sharing the store's secret (so frames of a user join on
        it). It stands for the number in statistics when the number is dropped; without the
        secret it cannot be turned back into a number."""
        heads = self._hasher.heads(numbers, ROW_KEY_TAG, ROW_KEY_BYTES)
        # The digest's first 8 bytes, big-endian, less the lowest bit: below 2**63.
        return (np.frombuffer(heads, ">u8") >> np.uint64(1)).astype(np.int64)

    def number_keys(self, numbers: Iterable[str], action: Action | str = STATUS) -> list[str]:
        """:meth:`number_key` of many numbers at once, in order."""
        found = get_action(action)
        tag = f"{self.realm}:" if found is STATUS else f"{self.realm}:{found.api}:"
        return self._hasher.keys(numbers, tag)

    def _new_limiter(self, action: Action) -> RateLimiter:
        # MobileStatus keeps the SecretId as its bucket (as before actions); another API
        # has its own 20/s, in a bucket named after it, shared the same way.
        bucket = self._credentials.secret_id
        return RateLimiter(
            self.rate_limit,
            self._window_log,
            bucket if action is STATUS else f"{bucket}:{action.api}",
            clock=self._clock,
            sleep=self._sleep,
            outage_timeout_seconds=self.outage_timeout,
        )

    def limiter_for(self, action: Action | str = STATUS) -> RateLimiter:
        """The rate limiter of ``action``: each API has its own limit (``rate_limit`` each),
        shared by every process and machine that shares this one's."""
        found = get_action(action)
        with self._limiters_lock:
            limiter = self._limiters.get(found.api)
            if limiter is None:
                limiter = self._limiters[found.api] = self._new_limiter(found)
            return limiter

    @property
    def price_setting(self) -> float | dict[str, float] | None:
        """``price_per_call`` as the user set it, checked: one price, a dict by action name
        (``{"status": 0.01, "tenure": 0.02}``), or None; another client built from it
        prices every action alike."""
        return dict(self._prices) if self._is_priced_per_action else self.price_per_call

    def price_for(self, action: Action | str = STATUS) -> float | None:
        """The price of one billed call of ``action`` (``price_per_call`` may be a dict by
        action name), or None when not known."""
        return self._prices.get(get_action(action).name)

    def _prepare(self, number: str, action: Action = STATUS) -> requests.PreparedRequest:
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
            auth=self._auths[action.api],
        )
        return self._session.prepare_request(request)

    def _send(self, prepared: requests.PreparedRequest) -> Answer:
        """Send one prepared request; translate every transport failure, at this one place.

        :class:`NotSentError`: the request never left (connection refused, DNS, connect
        timeout, TLS handshake): never billed. :class:`NoAnswerError`: it was sent and no
        usable answer came back (read timeout, connection reset or closed, a body cut short
        or unparsable, HTTP 5xx: a gateway's 502/504 may come after the service did the
        work): possibly billed. Any other HTTP status is a gateway's refusal: a plain
        :class:`TransportError`, not billed.
        """
        where = self.endpoint
        try:
            response = self._session.send(prepared, timeout=self.timeout, proxies=self._proxies)
        except requests.RequestException as exc:
            reason = failure_reason(exc)
            if was_sent(exc):
                raise NoAnswerError(
                    f"sent, no answer ({reason}) from {where}", endpoint=where, reason=reason
                ) from exc
            raise NotSentError(
                f"could not send ({reason}) to {where}", endpoint=where, reason=reason
            ) from exc
        status = response.status_code
        if status >= HTTP_SERVER_ERROR:
            raise NoAnswerError(f"HTTP {status} from {where}", status=status, endpoint=where)
        if status != requests.codes.ok:
            raise TransportError(f"HTTP {status} from {where}", status=status, endpoint=where)
        try:
            payload = response.json()["Response"]
            if not isinstance(payload, dict):
                raise TypeError("Response is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            raise NoAnswerError(
                f"unparsable answer from {where} ({type(exc).__name__})",
                endpoint=where,
                reason=UNPARSABLE_BODY,
            ) from exc
        # The request says which API it asked: its answer is read in that API's terms.
        action = ACTIONS_BY_API.get(prepared.headers.get(ACTION_HEADER, ""), STATUS)
        return Answer.from_response(payload, action)

    def _send_stamped(self, prepared: requests.PreparedRequest, limiter: RateLimiter) -> Answer:
        """:meth:`_send`, telling ``limiter`` when the request is written to the socket."""
        _on_wire.hook = lambda: limiter.sent(self._clock())
        try:
            return self._send(prepared)
        finally:
            _on_wire.hook = None

    def _signature_age(self, prepared: requests.PreparedRequest) -> float:
        """Seconds since ``prepared`` was signed (by the client's clock)."""
        try:
            signed_at = int(prepared.headers[TIMESTAMP_HEADER])
        except (KeyError, ValueError):
            return math.inf
        return self._clock() - signed_at

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
        on_transport_error: TransportErrorHook | None = None,
        action: Action | str = STATUS,
    ) -> CallOutcome:
        """Look one normalised number up at the service, retrying what is worth retrying.

        ``action`` is the API asked (``"status"``: MobileStatus, ``"tenure"``:
        MobileNetworkTimeVerification); its own code table says what is retried and billed.

        ``acquire`` takes a rate-limit slot before every attempt (``False`` ends the call
        unchecked); ``on_answer(number, answer, sent_at, final)`` sees every answer that
        reached the service, and ``on_transport_error(number, error, sent_at, final)`` every
        attempt without one, for the ledger. A call that was sent but got no answer is
        retried only with ``retry_ambiguous`` (it may have been billed); one that was never
        sent is always retried. Raises :class:`AuthenticationError` when the account is
        refused and :class:`EncryptionKeyError` when the service cannot decrypt the request;
        everything else ends as a row.
        """
        act = get_action(action)
        limiter = self.limiter_for(act)
        take_slot = acquire if acquire is not None else limiter.acquire
        pause = sleep if sleep is not None else self._sleep
        attempts = retries = rate_limited = 0
        last: Any = None  # the action's record of the latest attempt
        possibly_billed = False  # an attempt was sent and got no answer

        def outcome(error: TransportError | None = None) -> CallOutcome:
            assert last is not None
            result = last
            if possibly_billed and not result.billed:
                result = replace(result, billed=None)
            return CallOutcome(result, attempts, retries, error)

        while True:
            # Signed before the slot is taken, so the request leaves as soon as it is granted:
            # the less time between the two, the less the service's clock can disagree with
            # ours about which second a call fell in.
            prepared = self._prepare(number, act)
            if not take_slot():
                if last is None:
                    return CallOutcome(
                        act.unchecked(number, True, "run stopped"), attempts, retries
                    )
                return outcome()
            if self._signature_age(prepared) > RESIGN_AFTER_SECONDS:
                prepared = self._prepare(number, act)  # the slot took long: sign it again
            attempts += 1
            sent_at = self._clock()
            checked_at = dt.datetime.fromtimestamp(sent_at, tz=dt.timezone.utc)
            try:
                answer = self._send_stamped(prepared, limiter)
            except TransportError as exc:
                possibly_billed = possibly_billed or exc.possibly_billed
                will_retry = retries < self.max_retries and (
                    self.retry_ambiguous or not exc.possibly_billed
                )
                if on_transport_error is not None:
                    on_transport_error(number, exc, sent_at, not will_retry)
                last = act.failure(number, str(exc), exc.code)
                if not will_retry:
                    return outcome(exc)
            else:
                kind = codes.error_kind(answer.error_code) if answer.error_code else None
                retryable = kind is codes.ErrorKind.RETRY or (
                    kind is None and answer.meaning.retryable
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
                if kind is codes.ErrorKind.CONFIGURATION:
                    raise EncryptionKeyError(
                        answer.error_code or "", answer.error_message or "", answer.request_id
                    )
                last = answer.to_result(number, checked_at)
                if kind is codes.ErrorKind.RATE_LIMITED:
                    # Jitter (the margin widens) or someone else's calls (the rate is cut):
                    # the limiter weighs the evidence.
                    limiter.refused(sent_at)
                    if not will_retry:
                        return outcome()
                    rate_limited += 1
                    pause(self._backoff(min(rate_limited, 3)))
                    continue
                if not retryable:
                    return outcome()
                if retries >= self.max_retries:
                    return outcome()
            retries += 1
            pause(self._backoff(retries))
