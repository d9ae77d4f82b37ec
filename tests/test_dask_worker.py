"""Clients built on Dask workers close when their worker closes (``_dask_worker``,
``dask.close_built_clients``): nothing paid for is lost at a worker's shutdown.

The unit tests use the registry with stand-in clients (no waiting). The integration tests use
a real ``distributed.LocalCluster`` of worker processes, a real ``redis-server`` and the
sandbox in its own process; each closes its own cluster (closing it is what they test).
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import random_numbers
from tests.conftest import skip_without_redis

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
msd = pytest.importorskip("mobilestatus_pandas.dask")

TEAM_KEY = "ef" * 32
#: How long an integration test waits for a real event (a cluster's job, a child process).
EVENT_TIMEOUT_SECONDS = 120.0


# -- the registry ------------------------------------------------------------------------------


class StandInClient:
    """What ``close_built_clients`` uses of a client, with a close that may wait or fail."""

    def __init__(self, *, timeout: float = 0.0, fails: bool = False) -> None:
        self.timeout = timeout
        self.fails = fails
        self.cache_location = "redis://127.0.0.1:6379/0"
        self.release = threading.Event()
        self.waits = False
        self.closed = False

    @property
    def store(self) -> object:
        return type("Held", (), {"held_writes": 3})()

    def close(self) -> None:
        if self.fails:
            raise RuntimeError("secret-in-the-message 13800138000")
        if self.waits:
            self.release.wait()
        self.closed = True


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """The process's built clients, empty for the test and put back after it."""
    built: dict[str, object] = {}
    monkeypatch.setattr(msd, "_built_clients", built)
    return built


def test_closing_closes_and_forgets_every_built_client(
    registry: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    clients = [StandInClient(), StandInClient()]
    registry.update(a=clients[0], b=clients[1])
    with caplog.at_level(logging.INFO, logger="mobilestatus_pandas.dask"):
        assert msd.close_built_clients() == 2
    assert all(client.closed for client in clients)
    assert registry == {}, "a later task builds a new client rather than use a closed one"
    assert "writing 6 answered calls held" in caplog.text
    assert msd.close_built_clients() == 0


def test_a_client_that_fails_to_close_leaves_the_others_closed_and_no_secret_logged(
    registry: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    failing, fine = StandInClient(fails=True), StandInClient()
    registry.update(a=failing, b=fine)
    with caplog.at_level(logging.WARNING, logger="mobilestatus_pandas.dask"):
        msd.close_built_clients()
    assert fine.closed
    assert "RuntimeError" in caplog.text
    assert "secret" not in caplog.text
    assert "13800138000" not in caplog.text


def test_closing_is_bounded_by_the_clients_timeout(
    registry: dict[str, object], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(msd, "CLOSE_MARGIN_SECONDS", 0.0)
    stuck = StandInClient(timeout=0.0)
    stuck.waits = True
    registry.update(a=stuck)
    try:
        with caplog.at_level(logging.WARNING, logger="mobilestatus_pandas.dask"):
            assert msd.close_built_clients() == 0  # returns although the close goes on
        assert not stuck.closed
        assert "1 of 1 clients were still closing" in caplog.text
    finally:
        stuck.release.set()


def test_the_plugin_closes_when_the_last_worker_of_its_process_closes() -> None:
    import asyncio

    from mobilestatus_pandas._dask_worker import CloseClientsPlugin

    calls: list[int] = []
    first, second = CloseClientsPlugin(lambda: calls.append(1)), CloseClientsPlugin(lambda: None)
    first.setup(worker=None)  # type: ignore[arg-type]
    second.setup(worker=None)  # type: ignore[arg-type]
    asyncio.run(second.teardown(worker=None))  # type: ignore[arg-type]
    assert calls == [], "another worker of this process still uses the clients"
    asyncio.run(first.teardown(worker=None))  # type: ignore[arg-type]
    assert calls == [1]


# -- a process's end ---------------------------------------------------------------------------


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _look_up_in_a_child(config: object, numbers: list[str]) -> None:
    """A forked multiprocessing child: look numbers up with the built client, then return
    (the child then ends with ``os._exit``: no ``atexit``, no garbage collection)."""
    client = msd.client_for(config)
    client.lookup_many(numbers, progress=False)


@pytest.mark.integration
@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform"
)
def test_a_child_process_closes_its_built_client_when_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite writes a WAL beside the file and folds it back in (and removes it) when the
    last connection closes: a child that never closed its client leaves it behind. (A
    spawned child ends with ``sys.exit``, whose garbage collection closes the connection
    but writes nothing held for Redis; a forked one ends with ``os._exit``.)"""
    monkeypatch.setenv("MOBILESTATUS_CACHE_KEY", TEAM_KEY)
    monkeypatch.setenv("MOBILESTATUS_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "answers.sqlite3"
    with msp.Sandbox() as sb:
        with sb.client(cache=path) as own:
            config = dataclasses.replace(msd.WorkerConfig.from_client(own), token="child")
        assert not _wal(path).exists()
        child = multiprocessing.get_context("fork").Process(
            target=_look_up_in_a_child, args=(config, random_numbers(20, seed=5))
        )
        child.start()
        child.join(EVENT_TIMEOUT_SECONDS)
        assert child.exitcode == 0
        assert sb.stats()["requests"] == 20
        assert not _wal(path).exists(), "the child's SQLite connection was closed"
        with sb.client(cache=path) as reader:
            assert len(reader.ledger()) == 20


# -- a cluster's workers -----------------------------------------------------------------------


def _cluster(tmp_path: Path, n_workers: int = 2) -> distributed.LocalCluster:
    home = tmp_path / "workers"
    env = {
        "HOME": str(home),
        "MOBILESTATUS_CACHE_DIR": str(home / "cache"),
        "MOBILESTATUS_CACHE_KEY": TEAM_KEY,
    }
    return distributed.LocalCluster(
        n_workers=n_workers,
        threads_per_worker=2,
        processes=True,
        dashboard_address=":0",
        env=env,
    )


def _built_on_workers(dask_client: distributed.Client) -> int:
    counts = dask_client.run(lambda: len(msd._built_clients))
    return int(sum(counts.values()))


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.serial
def test_workers_close_their_sqlite_store_when_they_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mobilestatus_pandas._dask_worker import PLUGIN_NAME

    monkeypatch.setenv("MOBILESTATUS_CACHE_KEY", TEAM_KEY)
    monkeypatch.setenv("MOBILESTATUS_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "answers.sqlite3"
    ddf = dd.from_pandas(pd.DataFrame({"phone": random_numbers(60, seed=6)}), npartitions=4)
    with msp.Sandbox(own_process=True) as sb:
        with _cluster(tmp_path) as cluster, distributed.Client(cluster) as dask_client:
            with sb.client(cache=path) as own:
                done = ddf.mobile.status("phone", client=own).compute()
            assert (done["mobile_status"] != "not_checked").all()
            assert _built_on_workers(dask_client) >= 1, "the workers built their clients"
            pids = list(dask_client.run(os.getpid).values())
            assert any(_has_open(pid, path) for pid in pids), "the workers' connections"
            # Removing the plugin is a worker's close as the plugin sees it (the processes
            # live on): the plugin's own path, apart from the process's end.
            dask_client.unregister_worker_plugin(PLUGIN_NAME)
            assert _built_on_workers(dask_client) == 0
            assert not any(_has_open(pid, path) for pid in pids), "every connection closed"

            with sb.client(cache=path) as own:  # a second job registers the plugin again
                again = ddf.mobile.status("phone", client=own, refresh=True).compute()
            assert (again["mobile_status"] != "not_checked").all()
            # Retiring a worker closes its client: the others' closed first, so that its
            # connection is the file's last one (two closing at once may each leave the WAL
            # to the other).
            built = dask_client.run(lambda: len(msd._built_clients))
            retired = next(address for address, count in built.items() if count)
            others = [address for address in built if address != retired]
            dask_client.run(msd.close_built_clients, workers=others)
            assert _wal(path).exists(), "the retiring worker's connection is open"
            dask_client.retire_workers([retired])
            deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
            while _wal(path).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _wal(path).exists(), "the retired worker closed its store"

            with sb.client(cache=path) as own:  # a third job, on the one worker left
                third = ddf.mobile.status("phone", client=own, refresh=True).compute()
            assert (third["mobile_status"] != "not_checked").all()
            assert _wal(path).exists()
        assert not _wal(path).exists(), "the workers closed their stores as the cluster closed"
        with sb.client(cache=path) as reader:
            assert len(reader.ledger()) == 180


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.serial
@pytest.mark.parametrize("ending", ["cluster closed", "workers retired"])
def test_answers_held_while_redis_was_away_are_written_when_the_workers_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    """Redis stops while calls are in flight on the workers: their answers (paid for) are
    held in the workers' memory. Redis comes back, nothing more is written, the cluster
    closes (or its workers are retired): every call the service saw is in the ledger."""
    from tests.redis_server import RedisServer

    skip_without_redis()
    monkeypatch.setenv("MOBILESTATUS_CACHE_KEY", TEAM_KEY)
    monkeypatch.setenv("MOBILESTATUS_CACHE_DIR", str(tmp_path / "cache"))
    ddf = dd.from_pandas(pd.DataFrame({"phone": random_numbers(300, seed=7)}), npartitions=4)
    with (
        RedisServer(tmp_path / "redis") as redis_server,
        # 400 ms: at 20 calls/s about eight calls are in flight when Redis stops.
        msp.Sandbox(latency_ms=400, own_process=True) as sb,
    ):
        with _cluster(tmp_path) as cluster, distributed.Client(cluster) as dask_client:
            own = sb.client(cache=redis_server.url, outage_timeout=2.0)
            future = dask_client.compute(ddf.mobile.status("phone", client=own))
            deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
            while sb.stats()["requests"] < 10 and time.monotonic() < deadline:
                time.sleep(0.05)
            redis_server.stop()  # answers now arrive with nowhere to go
            distributed.wait(future, timeout=EVENT_TIMEOUT_SECONDS)
            assert future.done()
            held = dask_client.run(lambda: sum(map(msd._held_writes, msd._built_clients.values())))
            assert sum(held.values()) > 0, "answers were held on the workers"
            future.release()  # nothing to move or compute again when workers leave
            redis_server.start()  # back: nothing more is written until the workers close
            own.close()
            if ending == "workers retired":
                pids = list(dask_client.run(os.getpid).values())
                dask_client.retire_workers(list(held))
                deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
                while any(map(_running, pids)) and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert not any(map(_running, pids)), "the retired workers' processes ended"
                ledger = _ledger(sb, redis_server.url)  # before the cluster closes
        if ending == "cluster closed":
            ledger = _ledger(sb, redis_server.url)
        stats = sb.stats()
    assert len(ledger) == stats["requests"], "every call the service saw is in the ledger"
    assert int(ledger["billed"].fillna(True).sum()) == stats["billed"]


def _has_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has the file ``path`` open."""
    import psutil

    return any(Path(opened.path) == path.resolve() for opened in psutil.Process(pid).open_files())


def _running(pid: int) -> bool:
    """Whether process ``pid`` is still running (an ended child not yet reaped is not)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _ledger(sb: msp.Sandbox, cache: str) -> pd.DataFrame:
    with sb.client(cache=cache) as reader:
        return reader.ledger()
