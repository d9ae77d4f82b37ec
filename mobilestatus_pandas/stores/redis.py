"""The team backend: cache, ledger and rate limit in one Redis, shared across machines.

``MobileStatusClient(cache="redis://host:6379/0")`` (or ``$MOBILESTATUS_CACHE``) uses this
module instead of the embedded SQLite file. It needs the ``redis`` package, an optional
extra (``pip install 'mobilestatus-pandas[redis]'``), imported only here.

What lives in Redis, under the prefix ``mobilestatus:``:

* ``answer:<key>``: one final answer per number, a JSON string with a TTL (the writing
  client's ``cache_ttl``). ``<key>`` is the same keyed hash (HMAC-SHA256) as on disk, so a
  team must share the hashing key (``$MOBILESTATUS_CACHE_KEY``); ``meta`` holds a
  fingerprint of it, and a client with another key is refused instead of paying again.
* ``ledger``: a stream, one entry per call that reached the service, never trimmed; its
  ``billed`` field is ``1`` (billed answer), ``0`` (unbilled answer) or ``unknown`` (sent,
  no answer: possibly billed).
* ``rate:<SecretId>``: the account's sliding-window log of send times, a sorted set kept by a
  Lua script that runs atomically on the server with the server's clock, so any number of
  processes on any number of machines stay under the limit together.
* ``claim:<key>``: which run is calling a number right now, so that two runs given the same
  number at the same time pay once: the second waits for the first's answer;
* ``written:<id>``: short-lived markers that make a ledger write idempotent when it is
  retried after a lost reply;
* ``sent``: a hash, per number whose call is in flight, the ledger entry that call becomes
  if its caller dies before recording it (possibly billed). The record script removes it
  and ends the claim in the same script as it writes the answer and the ledger entry.

When Redis stops answering mid-run, or refuses writes (``OOM`` under ``maxmemory`` with
``noeviction``, ``READONLY`` from a replica after a failover), it is an outage: nothing is
sent unpaced (the rate limiter pauses every call, see
:class:`~mobilestatus_pandas.engine.ratelimit.RateLimiter`), no number is claimed and so none is
called, answers already received are held in memory and written when Redis takes them, and
after ``outage_timeout`` seconds the run ends with ``not_checked`` rows and the reason in
its report.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from itertools import chain, compress
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import unquote_plus, urlsplit

from ..errors import CacheUnavailableError, InputError, MissingDependencyError
from .base import (
    CHECKED_AT_INDEX,
    DEFAULT_ACTION,
    CachedAnswer,
    LedgerEntry,
    NumberHasher,
)

if TYPE_CHECKING:
    import redis

logger = logging.getLogger(__name__)

#: A write Redis has not taken yet: (marker id, entry, answer, the owner whose call it
#: settles, whether its claim ends with it).
HeldWrite = tuple[str, LedgerEntry, "CachedAnswer | None", "str | None", bool]

REDIS_SCHEMES: Final = ("redis", "rediss", "unix")
#: Query parameters of a Redis URL whose names contain one of these are shown as ``***``.
SECRET_QUERY_WORDS: Final = ("pass", "secret", "token", "auth", "credential")
DEFAULT_PREFIX: Final = "mobilestatus"
#: A command that gets no answer within this long counts as Redis being away.
SOCKET_TIMEOUT_SECONDS: Final = 5.0
CONNECT_TIMEOUT_SECONDS: Final = 2.0
#: How often a read waits and tries again while Redis is away.
RETRY_SECONDS: Final = 0.25
#: Keys per MGET: large lookups go in one pipelined round trip, in slices Redis serves fast.
MGET_CHUNK: Final = 1000
#: How many claims one pipeline takes or renews (``RedisStore.claim_many``).
CLAIM_CHUNK: Final = 500
#: Answers decoded at a time in a batched read: small enough that a chunk's decoded lists
#: are freed before the garbage collector counts them twice (measured: 250 of them).
DECODE_CHUNK: Final = 250
#: Entries per XRANGE page when reading the ledger.
LEDGER_PAGE: Final = 10_000
#: How long the marker of a ledger write is kept (a retry after a lost reply finds it).
WRITE_MARKER_SECONDS: Final = 3600
#: The ledger stream's ``billed`` field: a billed answer, an unbilled one, no answer.
BILLED_FIELD: Final[dict[bool | None, str]] = {True: "1", False: "0", None: "unknown"}
_BILLED_FROM_FIELD: Final[dict[str, bool | None]] = {v: k for k, v in BILLED_FIELD.items()}
#: What the hashing key's fingerprint is an HMAC of (reveals nothing of the key).
FINGERPRINT_MESSAGE: Final = "mobilestatus-pandas cache key check"

T = TypeVar("T")

#: Atomic sliding-window log: the same rule as ``ratelog._wait_for``, on the server; sends
#: are kept two windows (``ratelog.HISTORY_WINDOWS``), so a window that widens counts them.
#: KEYS[1] the bucket's sorted set; ARGV: now, limit, window, use server time, member, spacing
#: between sends ('': window / limit).
#: Returns "0" when the send was recorded, else the seconds to wait (as a string: Lua
#: numbers would be truncated to integers on the way back).
RATE_SCRIPT: Final = """
local now = tonumber(ARGV[1])
if ARGV[4] == '1' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 2 * window)
local total = redis.call('ZCARD', KEYS[1])
local count = redis.call('ZCOUNT', KEYS[1], '(' .. tostring(now - window), '+inf')
local wait = 0
if total > 0 then
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  local spacing = window / limit
  if ARGV[6] ~= nil and ARGV[6] ~= '' then
    spacing = tonumber(ARGV[6])
  end
  wait = math.max(wait, tonumber(last[2]) + spacing - now)
end
if count >= limit then
  local first = redis.call('ZRANGE', KEYS[1], total - limit, total - limit, 'WITHSCORES')
  wait = math.max(wait, tonumber(first[2]) + window - now)
end
if wait <= 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], math.ceil(2 * window * 1000) + 1000)
  return '0'
end
return tostring(math.max(wait, 0.000001))
"""

#: One call's record, atomically and at most once: the ledger entry, the answer when there
#: is one, and the end of the caller's mark (and claim, when it is its last attempt): the
#: claim ends only when the answer is where the next claimer looks. KEYS: ledger stream,
#: answer key, write marker, claim, sent marks. ARGV: marker seconds, answer JSON ('' for
#: none), answer TTL in ms, owner ('' for none), release ('1' or '0'), the number's key,
#: then the ledger fields as name, value pairs.
RECORD_SCRIPT: Final = """
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 7))
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
end
if ARGV[4] ~= '' then
  local mark = redis.call('HGET', KEYS[5], ARGV[6])
  if mark and cjson.decode(mark)['owner'] == ARGV[4] then
    redis.call('HDEL', KEYS[5], ARGV[6])
  end
  if ARGV[5] == '1' and redis.call('GET', KEYS[4]) == ARGV[4] then
    redis.call('DEL', KEYS[4])
  end
end
return 1
"""

#: A sent mark of another owner, whose claim is gone, becomes a possibly billed ledger row
#: (Lua shared by the scripts below). KEYS[2] the marks, KEYS[3] the ledger; ARGV[3] the
#: number's key.
_SETTLE_LAPSED_MARK: Final = """
local function settle_lapsed_mark(owner)
  local mark = redis.call('HGET', KEYS[2], ARGV[3])
  if mark then
    local m = cjson.decode(mark)
    if m['owner'] ~= owner then
      redis.call('XADD', KEYS[3], '*', unpack(m['fields']))
      redis.call('HDEL', KEYS[2], ARGV[3])
    end
  end
end
"""

#: Take or renew a claim: KEYS: the claim, the sent marks, the ledger; ARGV: owner,
#: milliseconds, the number's key. 1 when owner holds it.
CLAIM_SCRIPT: Final = (
    _SETTLE_LAPSED_MARK
    + """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  return 0
end
if not holder then
  settle_lapsed_mark(ARGV[1])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
)

#: Give up a claim if it is still the owner's, its unrecorded call (if any) to the ledger:
#: KEYS: the claim, the sent marks, the ledger; ARGV: owner, unused, the number's key.
RELEASE_SCRIPT: Final = (
    _SETTLE_LAPSED_MARK
    + """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  settle_lapsed_mark('')
  return redis.call('DEL', KEYS[1])
end
return 0
"""
)

#: Forget the owner's mark of a call that never left: KEYS[1] the sent marks; ARGV: owner,
#: the number's key.
UNMARK_SCRIPT: Final = """
local mark = redis.call('HGET', KEYS[1], ARGV[2])
if mark and cjson.decode(mark)['owner'] == ARGV[1] then
  return redis.call('HDEL', KEYS[1], ARGV[2])
end
return 0
"""

#: Mark a call sent under its owner's claim, renewing it: KEYS: the claim, the sent marks;
#: ARGV: owner, milliseconds, the number's key, the mark (JSON: owner, ledger fields).
MARK_SCRIPT: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
return 1
"""


def is_redis_url(value: object) -> bool:
    """Whether ``value`` names a Redis server (``redis://``, ``rediss://``, ``unix://``)."""
    if not isinstance(value, str) or "://" not in value:
        return False
    return value.split("://", 1)[0].lower() in REDIS_SCHEMES


def mask_url(url: str) -> str:
    """``url`` with every credential in it replaced by ``***`` (for reprs, logs, messages).

    Covers what redis-py's ``from_url`` accepts: a password in the user part
    (``redis://user:pw@h``, ``redis://:pw@h``, ``unix://:pw@/path.sock``) and any query
    parameter that carries one (``?password=``, ``?username=u&password=``,
    ``ssl_password=``: redis-py passes every query parameter on to the connection). A user
    part without ``:`` is masked whole, as some tools read ``redis://pw@h`` as a password.
    A URL too malformed to take apart shows its scheme only.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            user, has_password, _ = userinfo.partition(":")
            netloc = f"{user}:***@{host}" if has_password else f"***@{host}"
        query = "&".join(_mask_query_item(item) for item in parts.query.split("&"))
        # Put together by hand: urlunsplit drops the "//" of "unix:///path.sock". A fragment
        # is never read by redis-py; it goes, in case someone put a secret there.
        return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
    except ValueError:
        scheme = url.split("://", 1)[0] if "://" in url else "redis"
        return f"{scheme}://***"


def _mask_query_item(item: str) -> str:
    """One ``name=value`` of a URL's query, its value masked when the name is a secret's."""
    name, has_value, _ = item.partition("=")
    decoded = unquote_plus(name).lower()
    if has_value and any(word in decoded for word in SECRET_QUERY_WORDS):
        return f"{name}=***"
    return item


def _import_redis() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise MissingDependencyError(
            "cache='redis://...' needs the redis package: pip install 'mobilestatus-pandas[redis]'"
        ) from exc
    return redis


def connect(url: str) -> redis.Redis:
    """A Redis client for ``url`` that fails fast when the server is away.

    A command gets one quick retry on a fresh connection (a pooled connection goes stale
    when the server restarts); everything longer is the caller's to wait out.
    """
    redis = _import_redis()
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    try:
        return redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), 1),
            client_name="mobilestatus-pandas",
        )
    except ValueError as exc:
        raise InputError(f"cache={mask_url(url)!r} is not a Redis URL: {exc}") from exc


def unavailable_errors() -> tuple[type[BaseException], ...]:
    """The redis-py exceptions that mean "the server cannot be used now", treated alike:
    away (connection refused, timeout), out of memory (``maxmemory`` with ``noeviction``
    refuses writes with ``OOM``), or a read-only replica (``READONLY``, after a failover)."""
    redis = _import_redis()
    return (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        redis.exceptions.OutOfMemoryError,
        redis.exceptions.ReadOnlyError,
    )


def describe_failure(location: str, exc: BaseException) -> str:
    """What is wrong with the Redis at ``location``, in words, with what to do about it."""
    redis = _import_redis()
    detail = f"({type(exc).__name__}: {exc})"
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        return (
            f"Redis at {location} is out of memory and refuses writes {detail}; raise its "
            "maxmemory or free memory (answers are held by this client until it accepts them)"
        )
    if isinstance(exc, redis.exceptions.ReadOnlyError):
        return (
            f"Redis at {location} is a read-only replica {detail}, as after a failover; point "
            "cache= at the primary (answers are held by this client until it accepts them)"
        )
    return f"Redis at {location} is not answering {detail}"


class RedisStore:
    """Cache and ledger in Redis (the :class:`~mobilestatus_pandas.stores.Store` contract).

    Args:
        client: a redis-py client (see :func:`connect`), with ``decode_responses=True``.
        ttl_seconds: how long a cached answer lives in Redis.
        location: what to call the server in messages (a URL without its password).
        outage_timeout: how long reads wait for a server that does not answer.
        prefix: the namespace of every key.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        ttl_seconds: float,
        location: str = "Redis",
        outage_timeout: float = 60.0,
        prefix: str = DEFAULT_PREFIX,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._redis = client
        self.location = location
        self.prefix = prefix
        self.ttl_ms = max(1, round(ttl_seconds * 1000))
        self.outage_timeout = outage_timeout
        self._sleep = sleep
        self._unavailable = unavailable_errors()
        self._record = client.register_script(RECORD_SCRIPT)
        self._claim = client.register_script(CLAIM_SCRIPT)
        self._release = client.register_script(RELEASE_SCRIPT)
        self._mark = client.register_script(MARK_SCRIPT)
        self._unmark = client.register_script(UNMARK_SCRIPT)
        # Writes that found Redis away, written when it is back: (marker id, entry, answer,
        # the owner whose call it settles, whether its claim ends with it).
        self._held: deque[HeldWrite] = deque()
        self._held_lock = threading.Lock()
        self._drain_lock = threading.Lock()
        #: Writes that found Redis away (and were held, then tried again).
        self.failed_writes = 0

    def __repr__(self) -> str:
        return f"RedisStore({self.location!r}, prefix={self.prefix!r})"

    # -- keys -----------------------------------------------------------------------------

    def _answer_key(self, key: str) -> str:
        return f"{self.prefix}:answer:{key}"

    @property
    def ledger_key(self) -> str:
        """The stream holding the ledger."""
        return f"{self.prefix}:ledger"

    @property
    def sent_key(self) -> str:
        """The hash of calls marked sent and not recorded yet."""
        return f"{self.prefix}:sent"

    def _claim_key(self, key: str) -> str:
        return f"{self.prefix}:claim:{key}"

    @property
    def meta_key(self) -> str:
        """The hash holding the backend's settings (the hashing key's fingerprint)."""
        return f"{self.prefix}:meta"

    # -- outages --------------------------------------------------------------------------

    def _unavailable_error(self, exc: BaseException, waited: float) -> CacheUnavailableError:
        if isinstance(exc, _import_redis().exceptions.ConnectionError):
            return CacheUnavailableError(
                f"Redis at {self.location} did not answer for {waited:.0f} s "
                f"({type(exc).__name__}: {exc}); check that it is running and reachable, "
                "then run again (nothing was lost: answers come from the cache)"
            )
        return CacheUnavailableError(
            f"{describe_failure(self.location, exc)}; waited {waited:.0f} s (outage_timeout)"
        )

    def _retrying(self, operation: Callable[[], T]) -> T:
        """Run a read, waiting up to ``outage_timeout`` for a server that is away."""
        started = time.monotonic()
        warned = False
        while True:
            try:
                return operation()
            except self._unavailable as exc:
                waited = time.monotonic() - started
                if waited >= self.outage_timeout:
                    raise self._unavailable_error(exc, waited) from exc
                if not warned:
                    logger.warning("Redis at %s is not answering; waiting", self.location)
                    warned = True
                self._sleep(min(RETRY_SECONDS, self.outage_timeout - waited))

    # -- the Store contract ---------------------------------------------------------------

    def check_hasher(self, hasher: NumberHasher) -> None:
        """Refuse a hashing key other than the one this Redis's cache was written with.

        The first client to use a Redis leaves the fingerprint of its key there (an HMAC of
        a fixed message: it reveals nothing of the key); a client whose key differs would
        find none of the team's answers and pay again for each, so it is stopped instead.
        """
        mine = hasher.fingerprint(FINGERPRINT_MESSAGE)

        def exchange() -> Any:
            self._redis.hsetnx(self.meta_key, "key_fingerprint", mine)
            return self._redis.hget(self.meta_key, "key_fingerprint")

        try:
            theirs = exchange()
        except _import_redis().exceptions.RedisError as exc:  # away, or refused us (auth)
            raise CacheUnavailableError(
                f"cannot use Redis at {self.location} ({type(exc).__name__}: {exc}); "
                "start it or check the URL, or use cache='default' for this machine only"
            ) from exc
        if theirs != mine:
            raise InputError(
                f"the cache in Redis at {self.location} was written with another hashing key: "
                "set MOBILESTATUS_CACHE_KEY to your team's shared key on every machine "
                "(user guide, 'Teams on Redis': sharing the hashing key)"
            )

    def get_many(self, keys: Sequence[str], fresh_after: float) -> dict[str, CachedAnswer]:
        if not keys:
            return {}
        self._drain()
        prefix = self._answer_key("")

        def read() -> list[list[Any]]:
            pipe = self._redis.pipeline(transaction=False)
            for start in range(0, len(keys), MGET_CHUNK):
                pipe.mget([prefix + key for key in keys[start : start + MGET_CHUNK]])
            return pipe.execute()

        raws = list(chain.from_iterable(self._retrying(read)))
        found: dict[str, CachedAnswer] = {}
        for start in range(0, len(raws), DECODE_CHUNK):
            chunk = raws[start : start + DECODE_CHUNK]
            present = [raw is not None for raw in chunk]
            # One JSON document per chunk: a C loop, not one json.loads per answer, whose
            # lists are freed before the next chunk's (fewer garbage collections); an
            # answer is made only when fresh, its time read from the decoded list first.
            decoded = json.loads("[" + ",".join(compress(chunk, present)) + "]")
            found.update(
                {
                    key: CachedAnswer(*values)
                    for key, values in zip(
                        compress(keys[start : start + DECODE_CHUNK], present), decoded, strict=True
                    )
                    if values[CHECKED_AT_INDEX] > fresh_after
                }
            )
        with self._held_lock:  # answers received while Redis was away count as cached
            if self._held:
                wanted = set(keys)
                for _, entry, held, _, _ in self._held:
                    if held is not None and entry.key in wanted and held.checked_at > fresh_after:
                        found[entry.key] = held
        return found

    def record(
        self,
        entry: LedgerEntry,
        answer: CachedAnswer | None,
        *,
        owner: str | None = None,
        release: bool = False,
    ) -> None:
        """Write now, in this thread, in one script with the end of ``owner``'s mark and
        claim: when it returns, the answer is in Redis. When Redis is away the write is
        held (sent when it is back) and the claim stays until it lapses."""
        item: HeldWrite = (uuid.uuid4().hex, entry, answer, owner, release)
        try:
            self._write(*item)
        except self._unavailable:
            with self._held_lock:
                self._held.append(item)
            self.failed_writes += 1
            return
        if self.held_writes:
            self._drain()

    def _write(
        self,
        marker: str,
        entry: LedgerEntry,
        answer: CachedAnswer | None,
        owner: str | None = None,
        release: bool = False,
    ) -> None:
        cached = "" if answer is None else json.dumps(list(_answer_tuple(answer)))
        self._record(
            keys=[
                self.ledger_key,
                self._answer_key(entry.key),
                f"{self.prefix}:written:{marker}",
                self._claim_key(entry.key),
                self.sent_key,
            ],
            args=[
                WRITE_MARKER_SECONDS,
                cached,
                self.ttl_ms,
                owner or "",
                "1" if release else "0",
                entry.key,
                *_ledger_fields(entry),
            ],
        )

    def _drain(self) -> bool:
        """Write held writes, oldest first, from one thread at a time.

        Returns True when nothing is held any more; False when Redis is away or another
        thread is writing (it writes ours too: it looks again after letting go).
        """
        while True:
            if not self._drain_lock.acquire(blocking=False):
                return False
            try:
                while True:
                    with self._held_lock:
                        if not self._held:
                            break
                        item = self._held[0]
                    self._write(*item)
                    with self._held_lock:
                        if self._held and self._held[0] is item:
                            self._held.popleft()
            except self._unavailable:
                self.failed_writes += 1
                return False
            finally:
                self._drain_lock.release()
            with self._held_lock:
                if not self._held:
                    return True

    def flush(self, timeout_seconds: float = 0.0) -> int:
        """Write what is held; return how many writes are still held after waiting up to
        ``timeout_seconds`` for Redis to come back."""
        deadline = time.monotonic() + timeout_seconds
        while not self._drain():
            if time.monotonic() >= deadline:
                held = self.held_writes
                if held:
                    logger.warning(
                        "Redis at %s is away: %d calls held in memory, written when it is back",
                        self.location, held,
                    )  # fmt: skip
                return held
            self._sleep(RETRY_SECONDS)
        return 0

    @property
    def held_writes(self) -> int:
        """How many writes wait in memory for Redis to come back."""
        with self._held_lock:
            return len(self._held)

    def ledger(self) -> list[LedgerEntry]:
        self._drain()

        def read() -> list[LedgerEntry]:
            entries: list[LedgerEntry] = []
            start = "-"
            while True:
                page: list[tuple[str, dict[str, str]]] = self._redis.xrange(  # type: ignore[assignment]
                    self.ledger_key, min=start, count=LEDGER_PAGE
                )
                entries += [_ledger_entry(fields) for _, fields in page]
                if len(page) < LEDGER_PAGE:
                    return entries
                start = "(" + page[-1][0]

        entries = self._retrying(read)
        lapsed = self._retrying(self._lapsed_marks)
        with self._held_lock:
            held = [entry for _, entry, _, _, _ in self._held]
            settling = {(entry.key, owner) for _, entry, _, owner, _ in self._held}
        return entries + held + [e for e, owner in lapsed if (e.key, owner) not in settling]

    def _lapsed_marks(self) -> list[tuple[LedgerEntry, str]]:
        """Calls marked sent whose claim is no longer their owner's, never recorded (their
        caller died): possibly billed, with their owner."""
        marks: dict[str, str] = self._redis.hgetall(self.sent_key)  # type: ignore[assignment]
        if not marks:
            return []
        keys = list(marks)
        holders = self._redis.mget([self._claim_key(k) for k in keys])
        lapsed = []
        for key, holder in zip(keys, holders, strict=True):
            mark = json.loads(marks[key])
            if holder != mark["owner"]:
                lapsed.append((_ledger_entry(_pairs(mark["fields"])), str(mark["owner"])))
        return lapsed

    def count_answers(self) -> int:
        def count() -> int:
            pattern = self._answer_key("*")
            return sum(1 for _ in self._redis.scan_iter(match=pattern, count=1000))

        return self._retrying(count)

    def clear(self, *, ledger: bool = False) -> int:
        def clear() -> int:
            removed = 0
            batch: list[str] = []
            for name in self._redis.scan_iter(match=self._answer_key("*"), count=1000):
                batch.append(name)
                if len(batch) >= MGET_CHUNK:
                    removed += int(self._redis.unlink(*batch))
                    batch.clear()
            if batch:
                removed += int(self._redis.unlink(*batch))
            if ledger:
                self._redis.unlink(self.ledger_key, self.sent_key)
            return removed

        with self._held_lock:
            if ledger:
                self._held.clear()
            else:  # keep the ledger entries, forget the answers
                kept = [(m, e, None, o, r) for m, e, _, o, r in self._held]
                self._held.clear()
                self._held.extend(kept)
        return self._retrying(clear)

    def claim(self, key: str, owner: str, now: float, seconds: float) -> bool:
        """Claims expire on the server's clock (``now`` is not needed).

        Fails closed: while Redis is away (or refuses writes) no claim is granted, and
        :class:`~mobilestatus_pandas.errors.CacheUnavailableError` says so; the engine waits
        (no call without a claim, or two machines could both pay for the number once Redis
        is back) and ends the run after ``outage_timeout``.
        """
        try:
            return bool(self._claim_step(key, owner, seconds))
        except self._unavailable as exc:
            raise CacheUnavailableError(
                f"{describe_failure(self.location, exc)}: no number can be claimed"
            ) from exc

    def _claim_step(self, key: str, owner: str, seconds: float, client: Any = None) -> Any:
        """The claim script on ``key`` (sent now, or queued on the pipeline ``client``)."""
        return self._claim(
            keys=[self._claim_key(key), self.sent_key, self.ledger_key],
            args=[owner, max(1, round(seconds * 1000)), key],
            client=client,
        )

    def claim_many(self, keys: Sequence[str], owner: str, now: float, seconds: float) -> list[bool]:
        """:meth:`claim` of each key, the scripts pipelined: one round trip per
        :data:`CLAIM_CHUNK` keys (not one each), so a run far from Redis renews all its
        claims well within their life."""
        if not keys:
            return []
        found: list[bool] = []
        try:
            for start in range(0, len(keys), CLAIM_CHUNK):
                pipe = self._redis.pipeline(transaction=False)
                for key in keys[start : start + CLAIM_CHUNK]:
                    self._claim_step(key, owner, seconds, pipe)
                found.extend(bool(taken) for taken in pipe.execute())
        except self._unavailable as exc:
            raise CacheUnavailableError(
                f"{describe_failure(self.location, exc)}: no number can be claimed"
            ) from exc
        return found

    def release(self, key: str, owner: str) -> None:
        with contextlib.suppress(*self._unavailable):  # away: the claim expires on its own
            self._release(
                keys=[self._claim_key(key), self.sent_key, self.ledger_key],
                args=[owner, 0, key],
            )

    def mark_sent(self, entry: LedgerEntry, owner: str, now: float, seconds: float) -> bool:
        """Fails closed like :meth:`claim`: while Redis cannot take the mark, nothing is
        sent."""
        mark = json.dumps({"owner": owner, "fields": _ledger_fields(entry)})
        try:
            return bool(
                self._mark(
                    keys=[self._claim_key(entry.key), self.sent_key],
                    args=[owner, max(1, round(seconds * 1000)), entry.key, mark],
                )
            )
        except self._unavailable as exc:
            raise CacheUnavailableError(
                f"{describe_failure(self.location, exc)}: no call can be marked sent"
            ) from exc

    def unmark(self, key: str, owner: str) -> None:
        """Away: the mark stays, and may be counted possibly billed (the safe side)."""
        with contextlib.suppress(*self._unavailable):
            self._unmark(keys=[self.sent_key], args=[owner, key])

    def _job_key(self, name: str) -> str:
        return f"{self.prefix}:job:{name}"

    def add_count(self, name: str, amount: int, now: float, seconds: float) -> int:
        """Counters expire on the server's clock (``now`` is not needed)."""

        def add() -> int:
            pipe = self._redis.pipeline(transaction=True)
            pipe.incrby(self._job_key(name), int(amount))
            pipe.pexpire(self._job_key(name), max(1, round(seconds * 1000)))
            value, _ = pipe.execute()
            return int(value)

        return self._retrying(add)

    def set_flag(self, name: str, value: str, now: float, seconds: float) -> bool:
        def put() -> bool:
            return bool(
                self._redis.set(
                    self._job_key(name), value, nx=True, px=max(1, round(seconds * 1000))
                )
            )

        return self._retrying(put)

    def get_flag(self, name: str, now: float) -> str | None:
        def read() -> str | None:
            value = self._redis.get(self._job_key(name))
            return None if value is None else str(value)

        return self._retrying(read)

    def close(self) -> None:
        held = self.flush()
        if held:
            logger.error(
                "closing with %d calls not written to Redis at %s: they are not in the "
                "ledger or cache", held, self.location,
            )  # fmt: skip
        self._redis.close()


def _answer_tuple(answer: CachedAnswer) -> tuple[object, ...]:
    return (
        answer.result,
        answer.description,
        answer.status_code,
        answer.request_id,
        answer.checked_at,
        answer.detail,
    )


def _ledger_fields(entry: LedgerEntry) -> list[str]:
    """A ledger entry as the stream's name, value pairs (absent values left out)."""
    fields: list[str] = []
    for name, value in (
        ("called_at", repr(entry.called_at)),
        ("key", entry.key),
        ("result", entry.result),
        ("status_code", None if entry.status_code is None else str(entry.status_code)),
        ("billed", BILLED_FIELD[entry.billed]),
        ("request_id", entry.request_id),
        ("error", entry.error),
        ("run_id", entry.run_id),
        ("secret_id", entry.secret_id),
        ("action", entry.action),
    ):
        if value is not None:
            fields += [name, value]
    return fields


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _ledger_entry(fields: dict[str, str]) -> LedgerEntry:
    status = fields.get("status_code")
    return LedgerEntry(
        called_at=float(fields["called_at"]),
        key=fields["key"],
        result=fields.get("result"),
        status_code=None if status is None else int(status),
        billed=_BILLED_FROM_FIELD.get(fields.get("billed", ""), None),
        request_id=fields.get("request_id"),
        error=fields.get("error"),
        run_id=fields.get("run_id", ""),
        secret_id=fields.get("secret_id", ""),
        action=fields.get("action", DEFAULT_ACTION),
    )


class RedisWindowLog:
    """The rate limiter's window log in Redis, kept by an atomic Lua script.

    With ``server_time`` (the default) send times are the Redis server's clock, so machines
    whose clocks disagree still share one window; ``server_time=False`` uses the caller's
    ``now`` (for tests with a frozen clock).
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        location: str = "Redis",
        prefix: str = DEFAULT_PREFIX,
        server_time: bool = True,
    ) -> None:
        self._script = client.register_script(RATE_SCRIPT)
        self._client = client
        # Each thread's latest send (bucket, time, member), for restamp.
        self._latest = threading.local()
        self.location = location
        self.prefix = prefix
        self.server_time = server_time
        self._unavailable = unavailable_errors()

    def __repr__(self) -> str:
        return f"RedisWindowLog({self.location!r}, prefix={self.prefix!r})"

    def try_acquire(
        self,
        bucket: str,
        now: float,
        limit: int,
        window_seconds: float,
        spacing_seconds: float | None = None,
    ) -> float:
        member = uuid.uuid4().hex
        try:
            wait = self._script(
                keys=[f"{self.prefix}:rate:{bucket}"],
                args=[
                    repr(now),
                    limit,
                    repr(window_seconds),
                    "1" if self.server_time else "0",
                    member,
                    "" if spacing_seconds is None else repr(spacing_seconds),
                ],
            )
        except self._unavailable as exc:
            raise CacheUnavailableError(describe_failure(self.location, exc)) from exc
        if float(wait) <= 0:
            self._latest.member = (bucket, now, member)
        return float(wait)

    def restamp(self, bucket: str, sent_at: float, later_by_seconds: float) -> None:
        """The send this thread recorded at ``sent_at`` left ``later_by_seconds`` later: move
        it (by the difference, so the server's clock stays the judge)."""
        latest = getattr(self._latest, "member", None)
        if latest is None or latest[:2] != (bucket, sent_at):
            return
        self._latest.member = None
        try:
            self._client.zincrby(f"{self.prefix}:rate:{bucket}", later_by_seconds, latest[2])
        except self._unavailable as exc:
            raise CacheUnavailableError(describe_failure(self.location, exc)) from exc
