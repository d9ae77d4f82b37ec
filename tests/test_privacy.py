"""No part of a secret shows anywhere; nothing is written for cache=None; folders keep modes.

The secrets here are fixed strings, and a "part" is any 4 characters of one: a repr that
showed a key's first or last four characters (as ``AKID****1234`` masking does) fails.
"""

from __future__ import annotations

import logging
import stat
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import random_numbers
from mobilestatus_pandas.service.credentials import Credentials, mask
from mobilestatus_pandas.stores import redis as redis_backend
from tests.conftest import skip_without_redis

SECRET_ID = "AKIDprivacyVisible01"
SECRET_KEY = "Zq7xW3vKp9TgB2mYc6RhJ4nF"
WRONG_KEY = "Lm5Pq8Rs2Tu6Vw9Xy3Za7Bc"
TOKEN = "tKn8Qw2Ez5Ru7Ty1Ui3OpAs"
CACHE_KEY = "Hx4Lc9Vb2Nm7Qa5Sd1Fg8Jk"
REDIS_PASSWORD = "Rp3Wd6Xs9Ce2Vf5BgYh"
PIECE = 4


def pieces(*secrets: str) -> set[str]:
    """Every run of PIECE characters of the secrets."""
    return {s[i : i + PIECE] for s in secrets for i in range(len(s) - PIECE + 1)}


def leaks(texts: Iterable[str], *secrets: str) -> list[tuple[str, str]]:
    """(piece, where) for every piece of a secret found in the texts."""
    found = []
    for text in texts:
        for piece in pieces(*secrets):
            if piece in text:
                start = text.index(piece)
                found.append((piece, text[max(0, start - 60) : start + 60]))
    return found


def displays(root: object) -> Iterator[str]:
    """repr() and str() of ``root`` and, recursively, of everything it holds.

    Walks the attributes of the library's own objects and the items of containers; other
    objects (a requests session, a redis-py client) count by their repr, as that is what a
    notebook shows of them. Public string attributes are included (``cache_location``), except
    the fields of :class:`Credentials`, whose one job is to hold the key for signing.
    """
    seen: set[int] = set()
    todo: deque[object] = deque([root])
    while todo:
        obj = todo.popleft()
        if isinstance(obj, (str, bytes, int, float, bool, type(None))) or id(obj) in seen:
            continue
        seen.add(id(obj))
        yield repr(obj)
        yield str(obj)
        if isinstance(obj, dict):
            todo.extend(obj.keys())
            todo.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset, deque)):
            todo.extend(obj)
        elif type(obj).__module__.startswith("mobilestatus_pandas"):
            attributes = dict(getattr(obj, "__dict__", {}))
            for name in getattr(type(obj), "__slots__", ()):
                if hasattr(obj, name):
                    attributes[name] = getattr(obj, name)
            for name, value in attributes.items():
                if isinstance(value, str) and not name.startswith("_"):
                    if not isinstance(obj, Credentials):
                        yield value
                else:
                    todo.append(value)


def exception_texts(exc: BaseException | None) -> Iterator[str]:
    """str and repr of an exception and of every exception it was raised from."""
    while exc is not None:
        yield str(exc)
        yield repr(exc)
        exc = exc.__cause__ or exc.__context__


def test_mask_shows_nothing_of_a_secret() -> None:
    assert mask(SECRET_KEY) == "<set>"
    assert mask(None) == mask("") == "<none>"
    text = repr(Credentials(SECRET_ID, SECRET_KEY, TOKEN))
    assert text == (
        f"Credentials(secret_id={SECRET_ID!r}, secret_key=<set>, token=<set>, source='arguments')"
    )


def test_no_piece_of_a_secret_in_reprs_logs_errors_progress_or_attrs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MOBILESTATUS_CACHE_KEY", CACHE_KEY)
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    numbers = random_numbers(30, seed=5)
    with (
        msp.Sandbox(secret_id=SECRET_ID, secret_key=SECRET_KEY, token=TOKEN) as sb,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        texts += [repr(sb), str(sb), repr(sb.config)]
        client = msp.MobileStatusClient(
            sb.url, SECRET_ID, SECRET_KEY, TOKEN, cache=tmp_path / "cache.sqlite3"
        )
        out = client.lookup_many(numbers, progress=True, max_billed=5)
        texts += [repr(out.attrs), repr(client.last_run), repr(client.ledger())]
        texts += list(displays(client))

        wrong = msp.MobileStatusClient(
            sb.url, SECRET_ID, WRONG_KEY, TOKEN, cache=tmp_path / "cache.sqlite3"
        )
        with pytest.raises(msp.AuthenticationError) as refused:
            wrong.lookup_many(random_numbers(3, seed=6), progress=True)
        texts += list(exception_texts(refused.value))
        texts += list(displays(wrong))
        client.close()
        wrong.close()
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(w.message) for w in caught]
    captured = capsys.readouterr()
    texts += [captured.out, captured.err]

    assert "AuthFailure.SignatureFailure" in str(refused.value), "the run did reach the sandbox"
    assert "MobileStatus" in captured.err, "the progress bar was drawn"
    assert any(SECRET_ID in text for text in texts), "the walk saw the credentials"
    assert leaks(texts, SECRET_KEY, WRONG_KEY, TOKEN, CACHE_KEY) == []


REDIS_FORMS = [
    "redis://:{pw}@{host}/0",
    "redis://default:{pw}@{host}/0",
    "redis://{host}/0?password={pw}",
    "redis://{host}/0?username=default&password={pw}",
    "redis://{host}/0?db=0&password={pw}&socket_keepalive=true",
]


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://user:pw0rd@h:6379/0", "redis://user:***@h:6379/0"),
        ("redis://:pw0rd@h", "redis://:***@h"),
        ("rediss://:pw0rd@h:6380/1", "rediss://:***@h:6380/1"),
        ("redis://h/0?password=pw0rd", "redis://h/0?password=***"),
        ("redis://h/0?username=u&password=pw0rd&db=2", "redis://h/0?username=u&password=***&db=2"),
        ("rediss://h?ssl_password=pw0rd", "rediss://h?ssl_password=***"),
        ("redis://h/0?pass%77ord=pw0rd", "redis://h/0?pass%77ord=***"),
        ("unix://:pw0rd@/run/redis.sock", "unix://:***@/run/redis.sock"),
        ("unix:///run/redis.sock?password=pw0rd&db=1", "unix:///run/redis.sock?password=***&db=1"),
        ("redis://pw0rd@h", "redis://***@h"),
        ("redis://:pw@0rd@h", "redis://:***@h"),
        ("redis://:pw0rd@[::1", "redis://***"),
        ("redis://h/0#password=pw0rd", "redis://h/0"),
        ("redis://h:6379/0", "redis://h:6379/0"),
    ],
)
def test_every_credential_form_of_a_redis_url_is_masked(url: str, masked: str) -> None:
    assert redis_backend.mask_url(url) == masked


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[str]:
    """A redis-server of this test's own that asks for REDIS_PASSWORD; yields host:port."""
    skip_without_redis()
    import redis

    from tests.redis_server import RedisServer

    with RedisServer(tmp_path / "redis") as server:
        with redis.Redis(port=server.port) as connection:
            connection.config_set("requirepass", REDIS_PASSWORD)
        yield f"127.0.0.1:{server.port}"


def test_redis_password_shows_in_no_form(
    redis_with_password: str,
    sandbox: msp.Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.redis_server import free_port

    monkeypatch.setenv("MOBILESTATUS_CACHE_KEY", CACHE_KEY)
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    for form in REDIS_FORMS:
        url = form.format(pw=REDIS_PASSWORD, host=redis_with_password)
        client = sandbox.client(cache=url)
        client.lookup_many(["13800138000", "13800000000"], progress=False)
        assert "***" in client.cache_location
        texts += list(displays(client))
        client.close()
        away = form.format(pw=REDIS_PASSWORD, host=f"127.0.0.1:{free_port()}")
        with pytest.raises(msp.CacheUnavailableError) as caught:
            sandbox.client(cache=away)
        assert "***" in str(caught.value)
        texts += list(exception_texts(caught.value))
    for url in (
        f"unix://:{REDIS_PASSWORD}@/nonexistent/redis.sock",
        f"unix:///nonexistent/redis.sock?password={REDIS_PASSWORD}",
    ):
        with pytest.raises(msp.CacheUnavailableError) as caught:
            sandbox.client(cache=url)
        assert "/nonexistent/redis.sock" in str(caught.value)
        texts += list(exception_texts(caught.value))
    texts += [record.getMessage() for record in caplog.records]
    assert leaks(texts, REDIS_PASSWORD, CACHE_KEY) == []


@pytest.mark.parametrize("cache_dir_variable", [True, False])
def test_cache_none_writes_nothing_to_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_dir_variable: bool
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("HOME", str(empty))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    if cache_dir_variable:
        monkeypatch.setenv("MOBILESTATUS_CACHE_DIR", str(empty))
    else:  # the per-user folder platformdirs finds under HOME
        monkeypatch.delenv("MOBILESTATUS_CACHE_DIR", raising=False)
    with msp.Sandbox() as sb:
        client = sb.client(cache=None)
        out = client.lookup_many(random_numbers(25, seed=9), progress=False)
        client.lookup("13800138000")
        client.billing()
        explicit = msp.MobileStatusClient(sb.url, sb.secret_id, sb.secret_key, cache=None)
        explicit.lookup("13800000000")
        explicit.close()
        client.close()
    assert out["status"].notna().all()
    assert client.cache_location == "memory"
    assert sorted(empty.rglob("*")) == []


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_existing_folder_keeps_its_mode_and_a_warning_says_it_is_open(
    tmp_path: Path, sandbox: msp.Sandbox
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    with pytest.warns(UserWarning, match="open to other users"):
        client = sandbox.client(cache=shared / "x.sqlite3")
    client.lookup_many(random_numbers(5, seed=3), progress=False)
    written = {p.name: mode(p) for p in shared.iterdir()}  # with the -wal and -shm files
    client.close()
    assert mode(shared) == 0o755, "a folder the library did not make keeps its mode"
    assert set(written) >= {"x.sqlite3", "x.sqlite3-wal", "cache.key"}
    assert written == dict.fromkeys(written, 0o600)


def test_folders_the_library_makes_are_private(tmp_path: Path, sandbox: msp.Sandbox) -> None:
    base = tmp_path / "base"
    base.mkdir()
    base.chmod(0o711)  # others may pass through, not list: no warning, and left as it is
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client = sandbox.client(cache=base / "new" / "deeper" / "x.sqlite3")
    client.close()
    assert mode(base) == 0o711
    assert mode(base / "new") == mode(base / "new" / "deeper") == 0o700
    assert mode(base / "new" / "deeper" / "x.sqlite3") == 0o600
