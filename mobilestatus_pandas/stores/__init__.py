"""Where a client keeps answers, calls and its rate-limit log: the stores, and the choice of one.

* :mod:`.base`: the contract every store implements (:class:`Store`), the rows it keeps
  (:class:`CachedAnswer`, :class:`LedgerEntry`), the keyed hash that replaces numbers
  (:class:`NumberHasher`), the per-user folder and private files;
* :mod:`.sqlite`: :class:`SQLiteStore`, the embedded default (one file; ``":memory:"`` for
  ``cache=None``);
* :mod:`.redis`: ``RedisStore`` and ``RedisWindowLog``, a team's (the optional extra,
  imported only when a Redis URL is given);
* :mod:`.ratelog`: the rate limit's log in memory or in a shared SQLite file.

Here, the factory: :func:`resolve_cache` says what ``cache=`` names, :func:`open_cache`
opens it as a :class:`CacheBackend` (store, hasher, rate-limit log).
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..errors import InputError
from .base import (
    CACHE_FILE_NAME,
    DEFAULT_ACTION,
    ENV_CACHE_DIR,
    ENV_CACHE_KEY,
    KEY_FILE_NAME,
    LEDGER_FIELDS,
    NOT_RECORDED,
    PRIVATE_DIR_MODE,
    PRIVATE_FILE_MODE,
    RATE_FILE_NAME,
    SCHEMA_VERSION,
    CachedAnswer,
    LedgerEntry,
    NumberHasher,
    Store,
    default_cache_dir,
    ensure_private_dir,
)
from .ratelog import DEFAULT_OUTAGE_TIMEOUT_SECONDS, LocalWindowLog, SQLiteWindowLog, WindowLog
from .sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, SQLiteStore, connect, errors_translated

logger = logging.getLogger(__name__)

#: Where the cache is when ``cache="default"``: this variable (a path or a Redis URL), else
#: the per-user cache directory.
ENV_CACHE: Final = "MOBILESTATUS_CACHE"

#: A ``cache=`` text that starts like a Redis URL but lost part of its ``://``
#: (``redis:/host``, ``redis//host``, ``rediss:host``, ``unix:/path.sock``): a typo, refused,
#: never a SQLite file in a folder of that name. ``redis/cache.sqlite`` (one slash, no
#: colon) stays a path.
_REDIS_URL_TYPO: Final = re.compile(r"^\s*(rediss?|unix)\s*(:|//)", re.IGNORECASE)

__all__ = [
    "CACHE_FILE_NAME",
    "DEFAULT_ACTION",
    "DEFAULT_OUTAGE_TIMEOUT_SECONDS",
    "ENV_CACHE",
    "ENV_CACHE_DIR",
    "ENV_CACHE_KEY",
    "KEY_FILE_NAME",
    "LEDGER_FIELDS",
    "NOT_RECORDED",
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "RATE_FILE_NAME",
    "SCHEMA_VERSION",
    "SQLITE_BUSY_TIMEOUT_SECONDS",
    "CacheBackend",
    "CachedAnswer",
    "LedgerEntry",
    "LocalWindowLog",
    "NumberHasher",
    "SQLiteStore",
    "SQLiteWindowLog",
    "Store",
    "WindowLog",
    "connect",
    "default_cache_dir",
    "ensure_private_dir",
    "errors_translated",
    "open_cache",
    "resolve_cache",
]


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
    #: Whether ``target`` came from ``$MOBILESTATUS_CACHE`` (``cache="default"``): then
    #: other processes with the same environment find it themselves (Dask workers).
    from_environment: bool = False


def resolve_cache(cache: str | os.PathLike[str] | None) -> str | Path | None:
    """What ``cache=`` names: ``None`` (this client's memory), a Redis URL, or a SQLite file.

    ``"default"`` is ``$MOBILESTATUS_CACHE`` when set, else the per-user cache file; a
    directory means the cache file in it.
    """
    option = "cache"
    if isinstance(cache, str) and cache == "default":
        if os.environ.get(ENV_CACHE):
            option = f"${ENV_CACHE}"
        cache = os.environ.get(ENV_CACHE) or default_cache_dir() / CACHE_FILE_NAME
    if cache is None:
        return None
    if isinstance(cache, str) and "://" in cache:
        from .redis import is_redis_url

        if not is_redis_url(cache):
            raise InputError(
                f"{option}: cache URLs are redis://, rediss:// or unix:// (Redis), "
                f"got {cache.split('://')[0]}://"
            )
        return cache
    typo = _REDIS_URL_TYPO.match(cache) if isinstance(cache, str) else None
    if isinstance(cache, str) and typo:
        from .redis import mask_url

        shown = _mask_typo(cache)
        scheme, rest = typo.group(1).lower(), shown[typo.end() :].lstrip(":/")
        meant = mask_url(f"{scheme}:///{rest}" if scheme == "unix" else f"{scheme}://{rest}")
        raise InputError(
            f"{option}={shown!r} looks like a Redis URL but is not one (a Redis "
            f"URL starts with redis://, rediss:// or unix://): did you mean {meant!r}? "
            "A path for a SQLite cache must not start with 'redis:' or 'redis//'."
        )
    if not isinstance(cache, (str, os.PathLike)):
        raise InputError(
            f"cache must be 'default', a file path, a redis:// URL or None, got {cache!r}"
        )
    path = Path(cache).expanduser()
    return path / CACHE_FILE_NAME if path.is_dir() else path


def _mask_typo(text: str) -> str:
    """A mistyped Redis URL for a message: whatever sits before an ``@`` (a password, maybe)
    and the value of any query parameter that names a secret shown as ``***``."""
    from .redis import _mask_query_item

    base, question, query = text.partition("?")
    head, at, host = base.rpartition("@")
    if at:
        prefix = _REDIS_URL_TYPO.match(head)
        base = (head[: prefix.end()] if prefix else "") + "***@" + host
    if not question:
        return base
    return f"{base}?{'&'.join(_mask_query_item(item) for item in query.split('&'))}"


def open_cache(
    cache: str | os.PathLike[str] | None,
    *,
    ttl_seconds: float,
    outage_timeout: float = DEFAULT_OUTAGE_TIMEOUT_SECONDS,
) -> CacheBackend:
    """Open the backend ``cache`` names (see :func:`resolve_cache`)."""
    from_environment = (
        isinstance(cache, str) and cache == "default" and bool(os.environ.get(ENV_CACHE))
    )
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
        from . import redis as redis_backend

        connection = redis_backend.connect(target)
        location = redis_backend.mask_url(target)
        store = redis_backend.RedisStore(
            connection, ttl_seconds=ttl_seconds, location=location, outage_timeout=outage_timeout
        )
        hasher = NumberHasher.for_directory(default_cache_dir())
        store.check_hasher(hasher)
        window_log = redis_backend.RedisWindowLog(connection, location=location)
        return CacheBackend(location, None, store, hasher, window_log, target, from_environment)
    return CacheBackend(
        str(target),
        target,
        SQLiteStore(target),
        NumberHasher.for_directory(target.parent),
        _shared_window_log(),
        target,
        from_environment,
    )
