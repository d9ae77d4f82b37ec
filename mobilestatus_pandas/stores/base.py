"""The storage contract: what every store keeps, and how numbers become keys.

The storage layer knows nothing of pandas or HTTP. It stores rows keyed by a *keyed hash* of
the number (:class:`NumberHasher`): the numbers themselves never reach the disk.

Besides answers and the ledger, a store keeps short-lived *claims*: which run is calling a
number right now, so that two runs given the same number at once pay for it once. A claim
ends in the same step as the write of the answer and ledger row (``record(...,
release=True)``), so the next claimer finds the answer; a call is marked on its claim just
before it is sent (``mark_sent``), so a caller killed mid-call leaves a possibly billed
call in the ledger rather than nothing.

:class:`Store` is the interface every backend implements (a contract test in
``tests/test_store_contract.py`` holds each one to it): :mod:`.sqlite` (the embedded default)
and :mod:`.redis` (a team's). Here too: the per-user folder, private files and folders.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from ..errors import InputError

logger = logging.getLogger(__name__)

ENV_CACHE_DIR: Final = "MOBILESTATUS_CACHE_DIR"
ENV_CACHE_KEY: Final = "MOBILESTATUS_CACHE_KEY"
CACHE_FILE_NAME: Final = "mobilestatus.sqlite3"
#: The shared rate-limit log, always in the per-user cache directory (see ratelimit.py).
RATE_FILE_NAME: Final = "ratelimit.sqlite3"
KEY_FILE_NAME: Final = "cache.key"
KEY_BYTES: Final = 32
#: 2: the ledger's ``billed`` may be NULL (sent, no answer: possibly billed). Files of
#: version 1 (``billed INTEGER NOT NULL``) are rebuilt when opened (:func:`migrate_ledger`).
#: 3: the ledger's ``action`` (which API a call was) and the answers' ``detail`` (an
#: action's own answer fields, JSON); older files gain them when opened (:func:`add_columns`).
#: 4: the claims' ``sent`` (a call marked sent, not recorded yet), added the same way.
SCHEMA_VERSION: Final = 4
#: The action of ledger rows written before there was more than one (schema version < 3).
DEFAULT_ACTION: Final = "MobileStatus"
PRIVATE_DIR_MODE: Final = 0o700
PRIVATE_FILE_MODE: Final = 0o600
#: Permission bits of an existing cache folder that earn a warning: group or others may
#: read (list) or write it.
SHARED_DIR_BITS: Final = stat.S_IRGRP | stat.S_IWGRP | stat.S_IROTH | stat.S_IWOTH

#: SHA-256's block and digest sizes: HMAC pads its secret to a block (RFC 2104).
SHA256_BLOCK_BYTES: Final = 64
DIGEST_BYTES: Final = 32
#: Each byte of the padded secret XOR 0x36 (inner pad) and 0x5C (outer pad), as tables.
_INNER_PAD: Final = bytes(byte ^ 0x36 for byte in range(256))
_OUTER_PAD: Final = bytes(byte ^ 0x5C for byte in range(256))

_warned_folders: set[str] = set()


def default_cache_dir() -> Path:
    """``$MOBILESTATUS_CACHE_DIR``, else the per-user cache directory (platformdirs)."""
    configured = os.environ.get(ENV_CACHE_DIR)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("mobilestatus-pandas", appauthor=False))


def ensure_private_dir(path: Path) -> Path:
    """Make sure ``path`` exists; return it.

    Folders created here (``path`` and any missing parents) are made readable by this user
    only (0700). A folder that exists already keeps its mode, whatever it is: the library
    never changes the permissions of a folder it did not make (``cache="/tmp/x.sqlite3"``
    leaves ``/tmp`` alone), and warns when other users can list or write to it (the files it
    writes there are private all the same).
    """
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:  # made meanwhile by another process: not ours to change
            continue
        folder.chmod(PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask
    if not missing:
        _warn_if_shared(path)
    return path


def _warn_if_shared(folder: Path) -> None:
    """Warn (once per folder) when users other than this one can read or write ``folder``."""
    try:
        mode = stat.S_IMODE(folder.stat().st_mode)
    except OSError:
        return
    if not mode & SHARED_DIR_BITS or str(folder) in _warned_folders:
        return
    _warned_folders.add(str(folder))
    warnings.warn(
        f"the cache folder {folder} is open to other users (mode {mode:04o}); the files "
        "written there are readable by you only (0600), but others can see their names and "
        f"sizes: keep the cache in a folder of your own, or `chmod 700 {folder}`",
        UserWarning,
        stacklevel=2,
    )


def _create_private_file(path: Path) -> None:
    """Create an empty file with user-only permissions, if it does not exist yet."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


#: Where :func:`write_private` writes before the file replaces its target.
PARTIAL_SUFFIX: Final = ".partial"


def write_private(path: Path, write: Callable[[Path], object]) -> Path:
    """Write a file readable by this user only (0600), whatever the umask, in one step.

    ``write(partial)`` fills a file created 0600 beside ``path`` (``pandas`` ``to_csv``,
    ``to_parquet``, matplotlib's ``savefig`` keep the mode of a file they write over), which
    then replaces ``path``: a failure never leaves half a file there, and a file that was
    there with wider permissions is replaced by a private one.
    """
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    partial.unlink(missing_ok=True)  # a stale one, maybe another user's mode
    try:
        os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE))
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


class NumberHasher:
    """Keys for the cache and ledger: HMAC-SHA256 of the number under a per-user secret.

    The secret comes from ``$MOBILESTATUS_CACHE_KEY`` (hex or any text) or from a file beside
    the cache, created once with user-only permissions. Without the secret a key cannot be
    turned back into a number by hashing every possible number.
    """

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise InputError("the cache key must be at least 16 bytes long")
        self._secret = secret

    @classmethod
    def for_directory(cls, directory: Path) -> NumberHasher:
        """The hasher for a cache directory: env var first, else its key file (made if absent)."""
        configured = os.environ.get(ENV_CACHE_KEY)
        if configured:
            return cls(_key_bytes(configured))
        key_path = ensure_private_dir(directory) / KEY_FILE_NAME
        if not key_path.exists():
            # Written whole under a name of this process's own, then linked into place:
            # atomic, so of processes racing here the first wins and all read its key.
            tmp = key_path.with_name(f".{KEY_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
            _create_private_file(tmp)
            try:
                tmp.write_text(secrets.token_hex(KEY_BYTES), encoding="ascii")
                os.link(tmp, key_path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        return cls(_key_bytes(key_path.read_text(encoding="ascii").strip()))

    @classmethod
    def ephemeral(cls) -> NumberHasher:
        """A hasher with a random secret, for in-memory stores."""
        return cls(secrets.token_bytes(KEY_BYTES))

    def key(self, number: str) -> str:
        """The hex key for one normalised number."""
        return hmac.digest(self._secret, number.encode("ascii"), "sha256").hex()

    def keys(self, numbers: Iterable[str], prefix: str = "") -> list[str]:
        """The hex keys of many numbers, each after ``prefix``: ``[key(prefix + n) ...]``.

        >>> hasher = NumberHasher(b"a secret of 16 bytes or more")
        >>> hasher.keys(["13800138000"], "realm:") == [hasher.key("realm:13800138000")]
        True
        """
        try:
            inner, outer = self._keyed(prefix)
        except UnicodeEncodeError:  # fails as key() does: on a number, not before one
            return [self.key(prefix + n) for n in numbers]
        # The HMAC's two SHA-256 states after the padded secret and the prefix are made
        # once and copied per number: about 2.7x the speed of hmac.digest per number.
        copy_inner, copy_outer = inner.copy, outer.copy
        found: list[str] = []
        for number in numbers:
            hashed = copy_inner()
            hashed.update(number.encode("ascii"))
            signed = copy_outer()
            signed.update(hashed.digest())
            found.append(signed.hexdigest())
        return found

    def heads(self, numbers: Iterable[str], prefix: str = "", head_bytes: int = 8) -> bytes:
        """The first ``head_bytes`` bytes of each key's digest, one number after another:
        ``bytes.fromhex(key(prefix + n))[:head_bytes]`` of each, joined. For short keys read
        as integers (a frame's ``mobile_key``), without the hex between."""
        if head_bytes < 1 or head_bytes > DIGEST_BYTES:
            raise ValueError(f"head_bytes must be within 1..{DIGEST_BYTES}, got {head_bytes}")
        try:
            inner, outer = self._keyed(prefix)
        except UnicodeEncodeError:  # fails as key() does: on a number, not before one
            return b"".join([bytes.fromhex(self.key(prefix + n))[:head_bytes] for n in numbers])
        copy_inner, copy_outer = inner.copy, outer.copy
        found = bytearray()
        for number in numbers:
            hashed = copy_inner()
            hashed.update(number.encode("ascii"))
            signed = copy_outer()
            signed.update(hashed.digest())
            found += signed.digest()[:head_bytes]
        return bytes(found)

    def _keyed(self, prefix: str) -> tuple[Any, Any]:
        """HMAC-SHA256 (RFC 2104, as the standard library's ``hmac``) of the secret, split:
        the inner hash after the secret's inner pad and ``prefix``, the outer hash after the
        secret's outer pad. A key is the outer hash of the inner hash of the number."""
        head = prefix.encode("ascii")
        secret = self._secret
        if len(secret) > SHA256_BLOCK_BYTES:
            secret = hashlib.sha256(secret).digest()
        secret = secret.ljust(SHA256_BLOCK_BYTES, b"\0")
        inner = hashlib.sha256(secret.translate(_INNER_PAD))
        inner.update(head)
        return inner, hashlib.sha256(secret.translate(_OUTER_PAD))

    def fingerprint(self, message: str) -> str:
        """An HMAC of a fixed ``message``: tells two keys apart without revealing either."""
        tagged = b"fingerprint:" + message.encode("utf-8")
        return hmac.new(self._secret, tagged, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "NumberHasher(secret=****)"


def _key_bytes(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        return text.encode("utf-8")


@dataclass(frozen=True)
class CachedAnswer:
    """A final answer from the service, as stored (no number: the key stands for it)."""

    result: str
    description: str | None
    status_code: int | None
    request_id: str | None
    checked_at: float  # Unix seconds, UTC
    #: The answer's own fields for its action (a JSON object, e.g. ``{"Range": "[6,12)"}``):
    #: opaque to the store.
    detail: str | None = None


#: A stored answer's values, in the order the stores keep them (Redis's JSON list, SQLite's
#: columns): ``CachedAnswer``'s fields.
ANSWER_FIELDS: Final[tuple[str, ...]] = tuple(CachedAnswer.__dataclass_fields__)
#: Where ``checked_at`` is among them: the freshness test, before an answer is made.
CHECKED_AT_INDEX: Final = ANSWER_FIELDS.index("checked_at")


@dataclass(frozen=True)
class LedgerEntry:
    """One call that reached the service.

    ``billed`` is ``True`` for a billed answer, ``False`` for an unbilled one, and ``None``
    for a call that was sent but got no answer: Tencent bills on its side, so it is
    *possibly billed* (``error`` says what happened: a read timeout, a reset, ...).
    """

    called_at: float  # Unix seconds, UTC
    key: str
    result: str | None
    status_code: int | None
    billed: bool | None
    request_id: str | None
    error: str | None
    run_id: str
    secret_id: str
    #: Which API the call was (its ``X-TC-Action``): each is billed by its own codes.
    action: str = DEFAULT_ACTION


LEDGER_FIELDS: Final[tuple[str, ...]] = tuple(LedgerEntry.__dataclass_fields__)
#: The ``error`` of a call marked sent whose caller ended without recording what it got
#: (a killed process): possibly billed.
NOT_RECORDED: Final = "NotRecorded"


def entry_to_json(entry: LedgerEntry) -> str:
    """A ledger entry as a JSON object (a sent mark, kept beside its claim)."""
    return json.dumps({name: getattr(entry, name) for name in LEDGER_FIELDS})


def entry_from_json(text: str) -> LedgerEntry:
    """The entry :func:`entry_to_json` wrote."""
    fields = json.loads(text)
    return LedgerEntry(**{name: fields[name] for name in LEDGER_FIELDS if name in fields})


class Store(Protocol):
    """What the engine needs from a cache/ledger backend."""

    def get_many(self, keys: Sequence[str], fresh_after: float) -> dict[str, CachedAnswer]:
        """Answers for ``keys`` checked after ``fresh_after`` (Unix seconds), in one query."""
        ...

    def record(
        self,
        entry: LedgerEntry,
        answer: CachedAnswer | None,
        *,
        owner: str | None = None,
        release: bool = False,
    ) -> None:
        """Append ``entry`` to the ledger and, when given, cache ``answer`` under its key.

        With ``owner``, the same step settles that owner's call on ``entry.key``: its mark
        (:meth:`mark_sent`) goes, and with ``release`` its claim ends too. One step (a
        transaction, a script): a claim ends only when the answer and the ledger row are
        where the next claimer looks. When the write fails it is held (counted by
        :meth:`flush`, written later, the claim ended then) and the claim stays until it
        lapses.
        """
        ...

    def ledger(self) -> list[LedgerEntry]:
        """Every call recorded, oldest first; then the calls held in memory and those
        marked sent whose claim lapsed without a record (possibly billed)."""
        ...

    def count_answers(self) -> int:
        """How many answers are cached."""
        ...

    def clear(self, *, ledger: bool = False) -> int:
        """Forget cached answers (and the ledger when asked); return how many answers went."""
        ...

    def flush(self, timeout_seconds: float = 0.0) -> int:
        """Write anything held back (a server that was away), waiting up to
        ``timeout_seconds``; return how many writes are still held."""
        ...

    def claim(self, key: str, owner: str, now: float, seconds: float) -> bool:
        """Mark ``key`` as being looked up by ``owner`` until ``now + seconds``.

        True when ``owner`` holds the claim (taken, or renewed); False while another owner's
        claim lasts: that run is calling the number, and its answer will be in the cache.
        Raises :class:`~mobilestatus_pandas.errors.CacheUnavailableError` when the store
        cannot grant claims now (never True without a claim held: claims fail closed).
        Taking over a lapsed claim whose owner marked a call sent and never recorded it
        writes that call to the ledger as possibly billed, in the same step.
        """
        ...

    def claim_many(self, keys: Sequence[str], owner: str, now: float, seconds: float) -> list[bool]:
        """:meth:`claim` of each of ``keys`` (in order), in one step: one round trip to a
        remote store, one transaction in a file. A run renews every claim it holds this way
        (a claim renewed one round trip at a time could lapse behind the others when the
        store is far away). Raises as :meth:`claim` does."""
        ...

    def release(self, key: str, owner: str) -> None:
        """Give up ``owner``'s claim on ``key`` (nothing when another owner holds it).

        A call marked sent (:meth:`mark_sent`) and not recorded since goes to the ledger
        as possibly billed in the same step: the claim ends, the call is not forgotten.
        """
        ...

    def mark_sent(self, entry: LedgerEntry, owner: str, now: float, seconds: float) -> bool:
        """Just before a call leaves: renew ``owner``'s claim on ``entry.key`` and note the
        call (``entry``: no answer yet, ``billed`` None, ``error`` :data:`NOT_RECORDED`).

        Returns False, marking nothing, when ``owner`` no longer holds the claim (it
        lapsed, and another run may be calling the number: do not send). A mark that
        :meth:`record` does not settle (the process was killed) is in :meth:`ledger` as
        possibly billed once the claim lapses, and becomes a ledger row when another owner
        takes the claim over. Raises
        :class:`~mobilestatus_pandas.errors.CacheUnavailableError` when the store cannot
        say (then do not send either).
        """
        ...

    def unmark(self, key: str, owner: str) -> None:
        """The call ``owner`` marked sent on ``key`` never left (not sent: never billed):
        forget its mark; the claim stays."""
        ...

    def add_count(self, name: str, amount: int, now: float, seconds: float) -> int:
        """Add ``amount`` (may be negative or 0) to the shared counter ``name`` at once and
        return its new value; the counter lasts ``seconds`` from its last change.

        Runs that make one job (the partitions of a Dask frame) keep their shared budget
        here: every process of the job sees the same count.
        """
        ...

    def set_flag(self, name: str, value: str, now: float, seconds: float) -> bool:
        """Set ``name`` to ``value`` for ``seconds`` unless it is set: True when this call set
        it (the first writer wins; a job's first stop reason stays its reason)."""
        ...

    def get_flag(self, name: str, now: float) -> str | None:
        """The value of flag ``name``, or None when it is not set (or has lapsed)."""
        ...

    def close(self) -> None:
        """Release the backend's resources."""
        ...
