"""A cluster as a team runs one: ``dask scheduler`` and two ``dask worker`` processes started
from the command line, not a LocalCluster.

The workers know nothing but their own environment, as on a team's machines: the Tencent
credentials (``TENCENTCLOUD_SECRET_ID``/``_KEY``), the endpoint, the Redis URL
(``MOBILESTATUS_CACHE``) and the team's hashing key. The notebook's client is made from the
same environment, so neither the SecretKey nor the Redis URL is in the task graph.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import random_numbers

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
msd = pytest.importorskip("mobilestatus_pandas.dask")

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
TEAM_KEY = "cd" * 32
START_TIMEOUT_SECONDS = 60.0
ANSWER_COLUMNS = ["number", "valid", "result", "description", "status_code", "status", "error"]


def dask_command() -> list[str]:
    """The ``dask`` command of this environment (beside its Python, else on PATH)."""
    beside = Path(sys.executable).with_name("dask")
    found = str(beside) if beside.exists() else shutil.which("dask")
    if found is None:
        pytest.skip("the dask command is not installed")
    return [found]


@pytest.fixture(scope="module")
def team_sandbox() -> Iterator[msp.Sandbox]:
    with msp.Sandbox(latency_ms=50, own_process=True) as sb:
        yield sb


@pytest.fixture
def team_env(
    team_sandbox: msp.Sandbox, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The team's environment: set on every worker and in the notebook alike."""
    env = {
        "TENCENTCLOUD_SECRET_ID": team_sandbox.secret_id,
        "TENCENTCLOUD_SECRET_KEY": team_sandbox.secret_key,
        "MOBILESTATUS_ENDPOINT": team_sandbox.url,
        "MOBILESTATUS_CACHE": redis_url,
        "MOBILESTATUS_CACHE_KEY": TEAM_KEY,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def cli_cluster(tmp_path: Path, team_env: dict[str, str]) -> Iterator[distributed.Client]:
    """``dask scheduler`` and two ``dask worker`` processes, each with its own home."""
    scheduler_file = tmp_path / "scheduler.json"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD", "MOBILE"))}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")]))
    processes: list[subprocess.Popen[bytes]] = []
    logs = []

    def start(name: str, args: list[str], env: dict[str, str]) -> None:
        log = (tmp_path / f"{name}.log").open("wb")
        logs.append(log)
        processes.append(
            subprocess.Popen([*dask_command(), *args], env=env, stdout=log, stderr=log)
        )

    start(
        "scheduler",
        ["scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address", ":0",
         "--scheduler-file", str(scheduler_file)],
        base,
    )  # fmt: skip
    for i in range(2):
        home = tmp_path / f"worker{i}"
        worker_env = {**base, **team_env, "HOME": str(home),
                      "MOBILESTATUS_CACHE_DIR": str(home / "cache")}  # fmt: skip
        start(
            f"worker{i}",
            ["worker", "--scheduler-file", str(scheduler_file), "--nworkers", "1",
             "--nthreads", "2", "--memory-limit", "1GiB", "--host", "127.0.0.1",
             "--dashboard-address", ":0", "--name", f"team-worker-{i}"],
            worker_env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not scheduler_file.exists():
            if time.monotonic() > deadline:
                pytest.fail("dask scheduler did not start: " + _tail(tmp_path / "scheduler.log"))
            time.sleep(0.1)
        with distributed.Client(scheduler_file=str(scheduler_file)) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT_SECONDS)
            yield client
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"


def test_a_job_runs_through_workers_started_from_the_command_line(
    cli_cluster: distributed.Client, team_sandbox: msp.Sandbox, team_env: dict[str, str]
) -> None:
    workers = cli_cluster.scheduler_info(n_workers=-1)["workers"]
    assert sorted(w["name"] for w in workers.values()) == ["team-worker-0", "team-worker-1"]
    numbers = random_numbers(200, seed=61)
    pdf = pd.DataFrame({"phone": numbers + numbers[:100]})
    team_sandbox.reset_stats()
    client = msp.MobileStatusClient()  # everything from the environment, as on the workers
    config = msd.WorkerConfig.from_client(client)
    assert config.credentials is None, "the SecretKey stays off the graph"
    assert team_env["MOBILESTATUS_CACHE"] not in repr(config.cache)
    out = dd.from_pandas(pdf, npartitions=6).mobile.status("phone", client=client)
    done = out.compute()
    stats = team_sandbox.stats()
    # The rate limit is the limiter's to hold (test_ratelimit, test_dask_cluster); a refusal
    # here is free and retried, and still one answer per number.
    assert stats["requests"] - stats["rate_limited"] == 200, stats
    assert stats["numbers_billed_more_than_once"] == 0
    assert sum(stats["answered"].values()) == 200, "one answer per distinct number"
    ran_on = cli_cluster.run(os.getpid)
    assert len(set(ran_on.values())) == 2, "two worker processes of their own"
    with msp.Sandbox() as fresh:
        expected = pdf.mobile.status("phone", client=fresh.client(cache=None), progress=False)
    columns = [f"mobile_{c}" for c in ANSWER_COLUMNS]
    pd.testing.assert_frame_equal(done[columns], expected[columns])
    assert msd.job_report(done)["calls"] == stats["requests"], "every answer, both workers"
    # A second job is answered by the workers from the team's Redis: nothing sent.
    team_sandbox.reset_stats()
    again = dd.from_pandas(pdf, npartitions=6).mobile.status("phone", client=client).compute()
    assert team_sandbox.stats()["requests"] == 0
    assert again["mobile_from_cache"].all()
