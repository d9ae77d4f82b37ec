"""A real ``distributed.LocalCluster``: 3 worker processes x 2 threads, a real redis-server,
and the sandbox in its own process at 150 ms, as a team's cluster against Tencent.

One cluster serves the module (it takes a few seconds to start). Its workers get their own
cache directory and the team's hashing key through their environment, as on real machines.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.analysis import sampling
from mobilestatus_pandas.datasets import random_numbers
from mobilestatus_pandas.service.codes import STATUSES
from mobilestatus_pandas.service.tenure import BANDS
from tests.conftest import allowed_refusals

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
msd = pytest.importorskip("mobilestatus_pandas.dask")

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.serial]

TEAM_KEY = "ab" * 32
ANSWER_COLUMNS = ["number", "valid", "result", "description", "status_code", "status", "error"]


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[msp.Sandbox]:
    with msp.Sandbox(latency_ms=150, own_process=True) as sb:
        yield sb


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[distributed.Client]:
    home = tmp_path_factory.mktemp("workers")
    env = {
        "HOME": str(home),
        "MOBILESTATUS_CACHE_DIR": str(home / "cache"),
        "MOBILESTATUS_CACHE_KEY": TEAM_KEY,
    }
    with (
        distributed.LocalCluster(
            n_workers=3,
            threads_per_worker=2,
            processes=True,
            dashboard_address=":0",
            env=env,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture
def team_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOBILESTATUS_CACHE_KEY", TEAM_KEY)


def rows_with_repeats(distinct: int, rows: int, seed: int) -> pd.DataFrame:
    """``rows`` rows over ``distinct`` numbers; the repeats land in other partitions."""
    numbers = random_numbers(distinct, seed=seed)
    extra = rows - distinct
    phones = numbers + numbers[::-1][:extra]
    return pd.DataFrame({"phone": phones})


def test_a_cluster_shares_the_limit_and_pays_once_per_number(
    cluster: distributed.Client, slow_sandbox: msp.Sandbox, redis_url: str, team_key: None
) -> None:
    pdf = rows_with_repeats(500, 600, seed=41)
    assert len(cluster.scheduler_info()["workers"]) == 3
    slow_sandbox.reset_stats()
    ddf = dd.from_pandas(pdf, npartitions=6)
    out = ddf.mobile.status("phone", client=slow_sandbox.client(cache=redis_url))
    done = out.compute()
    stats = slow_sandbox.stats()
    refused = stats["rate_limited"]  # rare, retried: not a second call for a number
    assert refused <= allowed_refusals(stats["requests"]), stats
    assert stats["requests"] == 500 + refused, "exactly one call per distinct number"
    assert stats["numbers_billed_more_than_once"] == 0
    assert stats["max_calls_in_any_second"] <= 20
    sent = pd.to_datetime(
        done.loc[~done["mobile_from_cache"].astype(bool), "mobile_checked_at"]
    ).sort_values()
    span = (sent.iloc[-1] - sent.iloc[0]).total_seconds()
    assert len(sent) == 500
    assert span > 0
    # The workers do not hold each other back: in some second the service took the full
    # limit (how close to 20 calls/s the cluster runs is benchmarks/dask_scale.py's to say).
    assert stats["max_calls_in_any_second"] >= 18, stats
    with msp.Sandbox() as fresh:  # the pandas path, on a sandbox of its own
        expected = pdf.mobile.status("phone", client=fresh.client(), progress=False)
    columns = [f"mobile_{c}" for c in ANSWER_COLUMNS]
    pd.testing.assert_frame_equal(done[columns], expected[columns])
    report = msd.job_report(done)
    assert report["stop_reason"] is None
    assert report["calls"] == 500, "calls answered across the cluster, from the shared store"


def test_max_billed_holds_across_workers(
    cluster: distributed.Client, slow_sandbox: msp.Sandbox, redis_url: str, team_key: None
) -> None:
    pdf = rows_with_repeats(90, 120, seed=42)
    slow_sandbox.reset_stats()
    out = dd.from_pandas(pdf, npartitions=6).mobile.status(
        "phone", client=slow_sandbox.client(cache=redis_url), max_billed=30
    )
    done = out.compute()
    assert slow_sandbox.stats()["billed"] == 30
    assert int(done["mobile_billed"].sum()) == 30
    assert (done["mobile_status"] == "not_checked").sum() > 0
    assert msd.job_report(done)["stop_reason"] == "max_billed reached"


def test_the_sqlite_default_is_shared_by_workers_on_one_machine(
    cluster: distributed.Client, slow_sandbox: msp.Sandbox, tmp_path: Path, team_key: None
) -> None:
    pdf = rows_with_repeats(60, 90, seed=43)
    slow_sandbox.reset_stats()
    client = slow_sandbox.client(cache=tmp_path / "shared" / "mobilestatus.sqlite3")
    done = dd.from_pandas(pdf, npartitions=6).mobile.status("phone", client=client).compute()
    stats = slow_sandbox.stats()
    assert stats["rate_limited"] <= allowed_refusals(stats["requests"]), stats
    assert stats["requests"] == 60 + stats["rate_limited"], stats
    assert not done["mobile_status"].isin(["error", "not_checked"]).any()


def test_cache_none_is_refused_on_worker_processes(
    cluster: distributed.Client, slow_sandbox: msp.Sandbox
) -> None:
    ddf = dd.from_pandas(rows_with_repeats(10, 12, seed=44), npartitions=2)
    with pytest.raises(msp.InputError, match="3 worker processes"):
        ddf.mobile.status("phone", client=slow_sandbox.client(cache=None))


def test_an_authentication_failure_stops_every_partition(
    cluster: distributed.Client, slow_sandbox: msp.Sandbox, redis_url: str, team_key: None
) -> None:
    pdf = rows_with_repeats(120, 120, seed=45)
    slow_sandbox.reset_stats()
    wrong = slow_sandbox.client(cache=redis_url, secret_key="not-the-key-" + "x" * 20)
    out = dd.from_pandas(pdf, npartitions=6).mobile.status("phone", client=wrong)
    with pytest.raises(msp.AuthenticationError):
        out.compute()
    assert slow_sandbox.stats()["requests"] == 1, "the job's first call goes alone"
    assert msd.job_report(out)["stop_reason"].startswith("authentication failed")


def sampled_result(seed: int) -> pd.DataFrame:
    """A sampled check's result without the calls: 2,400 rows over 300 numbers (each in
    rows of every partition and both groups), 120 numbers drawn by fraud, rows without a
    number (``missing``, and ``invalid``: weight 1), line status and tenure."""
    rng = np.random.default_rng(seed)
    numbers = np.array(random_numbers(300, seed=seed), dtype=object)
    which = rng.integers(0, 300, 2400)
    fraud = rng.random(2400) < 0.3
    request = sampling.SampleRequest(120, fraud, "fraud", seed)
    distinct = [str(n) for n in numbers]
    _, design = sampling.draw(distinct, distinct, which, request)
    weight = design.row_weights(which)
    status = rng.choice(["normal", "cancelled", "offline", "not_found"], 300)[which]
    band = rng.choice([*BANDS, None], 300)[which]
    lonely = rng.random(2400) < 0.05
    lonely_status = rng.choice(["missing", "invalid"], 2400)
    status = np.where(lonely, lonely_status, np.where(np.isnan(weight), "not_checked", status))
    weight = np.where(lonely, 1.0, weight)
    number = pd.array(np.where(lonely, None, numbers[which]), dtype="string")
    band = np.where(lonely | np.isnan(weight), None, band)
    frame = pd.DataFrame({"fraud": fraud, "amount": rng.gamma(2.0, 30.0, 2400)})
    for prefix in ["mobile_", "tenure_"]:
        frame[f"{prefix}number"] = number
        frame[f"{prefix}status"] = pd.Categorical(status, categories=list(STATUSES))
        frame[f"{prefix}sample_weight"] = weight
    frame["tenure_band"] = pd.Categorical(band, categories=list(BANDS), ordered=True)
    return frame


@pytest.mark.parametrize("outcome", ["status", "tenure"])
def test_compare_on_the_cluster_is_pandas_compare_from_counts(
    cluster: distributed.Client, outcome: str
) -> None:
    pdf = sampled_result(46)
    ddf = dd.from_pandas(pdf, npartitions=12)  # counts summed in a tree (8 at a time)
    for population in ["process", "table"]:
        got = ddf.mobile.compare("fraud", outcome=outcome, population=population).compute()
        expected = pdf.mobile.compare("fraud", outcome=outcome, population=population)
        pd.testing.assert_frame_equal(got, expected)
        assert got.attrs["compare"] == expected.attrs["compare"]
    got = ddf.mobile.compare(ddf["amount"] > 60, outcome=outcome).compute()
    pd.testing.assert_frame_equal(got, pdf.mobile.compare(pdf["amount"] > 60, outcome=outcome))
