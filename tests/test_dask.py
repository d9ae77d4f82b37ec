"""Dask DataFrames in one process (threads scheduler) against the real sandbox on loopback.

The distributed cluster (worker processes, Redis, the sandbox in its own process) is in
``test_dask_cluster.py``; here: laziness, exact meta, secrets out of keys and reprs, the
lazy estimate and summary against the pandas path, and the cluster checks.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import random_numbers
from mobilestatus_pandas.engine import stops

dd = pytest.importorskip("dask.dataframe")
msd = pytest.importorskip("mobilestatus_pandas.dask")

pytestmark = pytest.mark.integration

#: Columns whose values do not depend on which run answered (billed/from_cache/time do).
ANSWER_COLUMNS = ["number", "valid", "result", "description", "status_code", "status", "error"]


def frame_with_repeats() -> pd.DataFrame:
    numbers = random_numbers(30, seed=5)
    phones = numbers + numbers[:10] + ["junk", None, "+86 " + numbers[3]]
    return pd.DataFrame({"phone": phones, "group": [i % 3 for i in range(len(phones))]})


def test_importing_the_package_does_not_import_dask() -> None:
    code = "import sys, mobilestatus_pandas; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("order", ["package first", "dask first"])
def test_the_accessor_is_on_dask_frames_whatever_the_import_order(order: str) -> None:
    imports = ["import mobilestatus_pandas", "import dask.dataframe as dd"]
    if order == "dask first":
        imports.reverse()
    check = "print(hasattr(dd.DataFrame, 'mobile'), hasattr(dd.Series, 'mobile'))"
    code = "; ".join([*imports, check])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True True"


def test_status_is_lazy_with_exact_meta_and_matches_pandas(sandbox: msp.Sandbox) -> None:
    pdf = frame_with_repeats()
    ddf = dd.from_pandas(pdf, npartitions=4)
    out = ddf.mobile.status("phone", client=sandbox.client(cache=None))
    assert out.npartitions == 4, "partitions kept as they are"
    assert sandbox.stats()["requests"] == 0, "nothing is sent before compute (no probe call)"
    expected = pdf.mobile.status("phone", client=sandbox.client(cache=None), progress=False)
    assert list(out.columns) == list(expected.columns)
    results = [c for c in expected.columns if c.startswith("mobile_")]
    # (dask reads the input column as its own string dtype; the result columns are ours)
    assert out._meta[results].dtypes.to_dict() == expected[results].dtypes.to_dict()
    sandbox.reset_stats()
    done = out.compute(scheduler="threads")
    assert done[results].dtypes.to_dict() == expected[results].dtypes.to_dict()
    columns = [f"mobile_{c}" for c in ANSWER_COLUMNS]
    pd.testing.assert_frame_equal(done[columns], expected[columns])
    assert sandbox.stats()["requests"] == 30, "one request per distinct number"
    assert sandbox.stats()["numbers_billed_more_than_once"] == 0
    billed = int(done["mobile_billed"].sum())
    assert billed == sandbox.stats()["billed"] == int(expected["mobile_billed"].sum())


def test_normalize_on_a_dask_series() -> None:
    pdf = frame_with_repeats()
    ds = dd.from_pandas(pdf, npartitions=3)["phone"]
    lazy = ds.mobile.normalize()
    pd.testing.assert_series_equal(lazy.compute(scheduler="sync"), pdf["phone"].mobile.normalize())
    assert lazy._meta.dtype == pdf["phone"].mobile.normalize().dtype


def test_a_secret_key_passed_explicitly_is_in_no_task_name_key_or_repr(
    sandbox: msp.Sandbox,
) -> None:
    ddf = dd.from_pandas(frame_with_repeats(), npartitions=3)
    key = sandbox.secret_key
    out = ddf.mobile.status("phone", client=sandbox.client(secret_key=key))
    pieces = {key[i : i + 6] for i in range(len(key) - 5)}
    shown = [repr(out), str(out.expr), *(str(k) for k in dict(out.__dask_graph__()))]
    shown += [str(k) for k in out.__dask_keys__()]
    assert all(k[0].startswith("mobilestatus-status-") for k in out.__dask_keys__())
    for text in shown:
        assert not any(piece in text for piece in pieces), text
    config = msd.WorkerConfig.from_client(sandbox.client())
    assert config.credentials is not None, "given explicitly: travels in the graph"
    assert not any(piece in repr(config) for piece in pieces)


def test_credentials_from_the_chain_stay_off_the_graph(
    sandbox: msp.Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", sandbox.secret_id)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", sandbox.secret_key)
    client = msp.MobileStatusClient(endpoint=sandbox.url, cache=None)
    config = msd.WorkerConfig.from_client(client)
    assert config.credentials is None
    assert config.credential is None
    assert config.build().secret_id == sandbox.secret_id, "the worker finds them itself"


def test_estimate_is_lazy_and_counts_numbers_once_across_partitions(
    sandbox: msp.Sandbox,
) -> None:
    pdf = frame_with_repeats()
    client = sandbox.client(price_per_call=0.5)
    client.lookup(pdf["phone"][0])  # one number in the cache already
    sandbox.reset_stats()
    lazy = dd.from_pandas(pdf, npartitions=5).mobile.estimate("phone", client=client)
    got = lazy.compute(scheduler="threads")
    expected = pdf.mobile.estimate("phone", client=client)
    pd.testing.assert_series_equal(got, expected)
    assert got["distinct numbers"] == 30
    assert got["cached and fresh"] == 1
    assert sandbox.stats()["requests"] == 0


@pytest.mark.parametrize("by", [None, "group"])
def test_summary_of_a_dask_result_equals_the_pandas_summary(
    sandbox: msp.Sandbox, by: str | None
) -> None:
    pdf = frame_with_repeats()
    out = dd.from_pandas(pdf, npartitions=4).mobile.status(
        "phone", client=sandbox.client(price_per_call=0.1)
    )
    out = out.persist(scheduler="threads")
    lazy = out.mobile.summary(by)
    expected = out.compute(scheduler="threads").mobile.summary(by)
    got = lazy.compute(scheduler="threads")
    pd.testing.assert_frame_equal(got, expected)
    assert "cost_usd" in got.columns, "the price travels with the result"
    wide = out.mobile.summary(by, wide=True, values="answered_share").compute(scheduler="threads")
    expected_wide = out.compute(scheduler="threads").mobile.summary(
        by, wide=True, values="answered_share"
    )
    pd.testing.assert_frame_equal(wide, expected_wide)


def test_cache_none_is_refused_with_several_worker_processes(
    sandbox: msp.Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    ddf = dd.from_pandas(frame_with_repeats(), npartitions=2)
    two = [{"host": "127.0.0.1"}, {"host": "127.0.0.1"}]
    monkeypatch.setattr(msd, "_cluster_workers", lambda: two)
    with pytest.raises(msp.InputError, match=r"cache=None .* 2 worker processes"):
        ddf.mobile.status("phone", client=sandbox.client(cache=None))
    assert sandbox.stats()["requests"] == 0


def test_a_cluster_on_several_hosts_needs_redis(
    sandbox: msp.Sandbox, monkeypatch: pytest.MonkeyPatch, cache_file: object
) -> None:
    ddf = dd.from_pandas(frame_with_repeats(), npartitions=2)
    hosts = [{"host": "10.0.0.1"}, {"host": "10.0.0.2"}]
    monkeypatch.setattr(msd, "_cluster_workers", lambda: hosts)
    with pytest.raises(msp.InputError, match=r"2 hosts .*redis://"):
        ddf.mobile.status("phone", client=sandbox.client(cache=cache_file))
    monkeypatch.setattr(msd, "_cluster_workers", lambda: hosts[:1] * 3)
    ddf.mobile.status("phone", client=sandbox.client(cache=cache_file))  # one machine: fine


def test_max_billed_holds_for_the_job_across_partitions(
    sandbox: msp.Sandbox, cache_file: object
) -> None:
    pdf = pd.DataFrame({"phone": random_numbers(60, seed=8)})
    out = dd.from_pandas(pdf, npartitions=6).mobile.status(
        "phone", client=sandbox.client(cache=cache_file), max_billed=25
    )
    done = out.compute(scheduler="threads")
    assert int(done["mobile_billed"].sum()) == 25
    assert sandbox.stats()["billed"] == 25
    assert (done["mobile_status"] == "not_checked").sum() == 35
    report = msd.job_report(done)
    assert report["stop_reason"] == "max_billed reached"
    assert out.mobile.report()["billed_budget_used"] == 25


def test_not_checked_rows_say_why(sandbox: msp.Sandbox) -> None:
    pdf = pd.DataFrame({"phone": random_numbers(20, seed=9)})
    done = (
        dd.from_pandas(pdf, npartitions=2)
        .mobile.status("phone", client=sandbox.client(), max_billed=5)
        .compute(scheduler="threads")
    )
    skipped = done[done["mobile_status"] == "not_checked"]
    assert len(skipped) == 15
    assert skipped["mobile_error"].str.contains("max_billed").all()


def test_a_daily_limit_streak_stops_the_whole_job() -> None:
    pdf = pd.DataFrame({"phone": random_numbers(240, seed=10)})
    with msp.Sandbox(daily_quota=0) as sb:
        out = dd.from_pandas(pdf, npartitions=4).mobile.status(
            "phone", client=sb.client(max_workers=2)
        )
        done = out.compute(scheduler="threads")
        requests = sb.stats()["requests"]
    assert msd.job_report(done)["stop_reason"] == "daily limit reached"
    per_partition = done.groupby(done.index // 60)["mobile_status"].apply(
        lambda s: (s == "not_checked").sum()
    )
    assert (per_partition > 0).all(), "every partition stopped"
    assert requests < 60, "stopped within a streak or two, not per partition"


def test_by_and_seed_without_sample_are_refused(sandbox: msp.Sandbox) -> None:
    ddf = dd.from_pandas(frame_with_repeats(), npartitions=2)
    with pytest.raises(msp.InputError, match="sample"):
        ddf.mobile.status("phone", client=sandbox.client(), by="group")


def test_progress_counts_the_calls_answered_for_the_job(sandbox: msp.Sandbox) -> None:
    import io
    from concurrent.futures import ThreadPoolExecutor

    pdf = frame_with_repeats()
    out = dd.from_pandas(pdf, npartitions=3).mobile.status("phone", client=sandbox.client())
    shown = io.StringIO()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(out.compute, scheduler="threads")
        answered = msd.progress(out, future, total=30, interval_seconds=0.05, stream=shown)
    assert future.result()["mobile_status"].notna().all()
    assert answered == 30 == sandbox.stats()["requests"]
    assert "30/30" in shown.getvalue().replace(" ", "")


# -- line tenure: the same job, tenure's own columns and code table --------------------------

#: Tenure magic numbers (sandbox/behaviour.py): one of each Result and band, billed and not.
TENURE_MAGIC = [
    "13800138000", "13900000000", "13900000003", "13900000006", "13900000012",
    "13900000024", "13900000025", "13900000023", "13900000020", "13900000101",
    "13900000102", "13900000103", "13900000105", "13900000113", "13900000199",
]  # fmt: skip
TENURE_ANSWER_COLUMNS = [
    "number", "valid", "result", "description", "range", "months_min", "months_max", "band",
    "status", "error",
]  # fmt: skip


def tenure_frame() -> pd.DataFrame:
    numbers = [*TENURE_MAGIC, *random_numbers(20, seed=11)]
    phones = numbers + numbers[:10] + ["junk", None, "+86 " + numbers[3]]
    return pd.DataFrame({"phone": phones, "group": [i % 3 for i in range(len(phones))]})


def test_tenure_is_lazy_with_exact_meta_and_matches_pandas(sandbox: msp.Sandbox) -> None:
    pdf = tenure_frame()
    ddf = dd.from_pandas(pdf, npartitions=4)
    out = ddf.mobile.tenure("phone", client=sandbox.client(cache=None, backoff_seconds=0.0))
    assert out.npartitions == 4, "partitions kept as they are"
    assert sandbox.stats()["requests"] == 0, "nothing is sent before compute (no probe call)"
    assert all(k[0].startswith("mobilestatus-tenure-") for k in out.__dask_keys__())
    expected = pdf.mobile.tenure(
        "phone", client=sandbox.client(cache=None, backoff_seconds=0.0), progress=False
    )
    assert list(out.columns) == list(expected.columns)
    results = [c for c in expected.columns if c.startswith("tenure_")]
    assert results == [*(f"tenure_{c}" for c in msp.TENURE_COLUMNS), "tenure_key"]
    assert out._meta[results].dtypes.to_dict() == expected[results].dtypes.to_dict()
    assert sandbox.stats()["requests_by_action"].get("MobileStatus", 0) == 0
    sandbox.reset_stats()
    done = out.compute(scheduler="threads")
    assert done[results].dtypes.to_dict() == expected[results].dtypes.to_dict()
    columns = [f"tenure_{c}" for c in TENURE_ANSWER_COLUMNS]
    pd.testing.assert_frame_equal(done[columns], expected[columns])
    assert set(done["tenure_result"].dropna()) >= {"0", "-1", "-2", "-3", "-5", "-13", "-99"}
    stats = sandbox.stats()
    assert stats["rate_limited"] == 0, stats
    assert stats["requests"] == 35 == stats["requests_by_action"]["MobileNetworkTimeVerification"]
    assert stats["numbers_billed_more_than_once"] == 0
    assert (
        int(done["tenure_billed"].sum()) == stats["billed"] == int(expected["tenure_billed"].sum())
    )
    assert msd.job_report(done)["stop_reason"] is None, "one -5 answer is not a streak"


def test_a_tenure_daily_limit_streak_stops_the_whole_job() -> None:
    pdf = pd.DataFrame({"phone": random_numbers(240, seed=12)})
    with msp.Sandbox(daily_quota=0) as sb:  # every tenure answer is Result -5
        out = dd.from_pandas(pdf, npartitions=4).mobile.tenure(
            "phone", client=sb.client(max_workers=2)
        )
        done = out.compute(scheduler="threads")
        requests = sb.stats()["requests"]
    assert msd.job_report(done)["stop_reason"] == "daily limit reached"
    answered = done[done["tenure_status"] != "not_checked"]
    assert (answered["tenure_result"] == "-5").all()
    assert (answered["tenure_status"] == "daily_limit").all()
    per_partition = done.groupby(done.index // 60)["tenure_status"].apply(
        lambda s: (s == "not_checked").sum()
    )
    assert (per_partition > 0).all(), "every partition stopped"
    assert requests < 60, "stopped within a streak or two, not per partition"


def test_tenure_busy_answers_are_not_its_daily_limit() -> None:
    # Tenure's Result -4 is "busy" (MobileStatus's -4 is its daily limit): no job stop.
    pdf = pd.DataFrame({"phone": random_numbers(40, seed=13)})
    with msp.Sandbox(fault_rate=1.0, faults=("busy",)) as sb:
        out = dd.from_pandas(pdf, npartitions=2).mobile.tenure(
            "phone", client=sb.client(max_retries=0, backoff_seconds=0.0)
        )
        done = out.compute(scheduler="threads")
    assert msd.job_report(done)["stop_reason"] is None
    assert (done["tenure_status"] == "busy").all()


def test_max_billed_holds_for_a_tenure_job_across_partitions(
    sandbox: msp.Sandbox, cache_file: object
) -> None:
    # Unbilled tenure answers (-1, -5, -13, -99) spend no budget; 0, -2 and -3 do.
    pdf = pd.DataFrame({"phone": [*TENURE_MAGIC, *random_numbers(45, seed=14)]})
    out = dd.from_pandas(pdf, npartitions=6).mobile.tenure(
        "phone", client=sandbox.client(cache=cache_file), max_billed=25
    )
    done = out.compute(scheduler="threads")
    billed = done["tenure_result"].isin(["0", "-2", "-3"])
    assert (done["tenure_billed"].fillna(False) == billed).all()
    assert int(done["tenure_billed"].sum()) == 25
    assert sandbox.stats()["billed"] == 25
    assert msd.job_report(done)["stop_reason"] == "max_billed reached"
    assert out.mobile.report()["billed_budget_used"] == 25
    skipped = done[done["tenure_status"] == "not_checked"]
    assert len(skipped) == 60 - int((done["tenure_status"] != "not_checked").sum())
    assert len(skipped) > 0
    assert skipped["tenure_error"].str.contains("max_billed").all()


@pytest.mark.parametrize(
    ("action", "daily", "other"), [("status", "-4", "-3"), ("tenure", "-5", "-4")]
)
def test_the_job_gate_reads_the_daily_limit_in_the_action_s_own_code_table(
    sandbox: msp.Sandbox, action: str, daily: str, other: str
) -> None:
    # Each action's daily limit is its own Result (status -4, tenure -5); the other one
    # (status -3, tenure -4: busy) never counts toward the streak.
    client = sandbox.client(cache=None)
    streak = stops.DAILY_LIMIT_STREAK
    calm = msd._JobGate(client, msd.JobSpec(f"calm-{action}", None, False, None, action))
    for _ in range(streak * 2):
        calm.after_answer(other, False, None)
    assert calm.stop_reason() is None
    gate = msd._JobGate(client, msd.JobSpec(f"daily-{action}", None, False, None, action))
    for _ in range(streak - 1):
        gate.after_answer(daily, False, None)
    assert gate.stop_reason() is None
    gate.after_answer(daily, False, None)
    assert gate.stop_reason() == "daily limit reached"
    assert sandbox.stats()["requests"] == 0


def test_prices_by_action_travel_to_the_workers(sandbox: msp.Sandbox) -> None:
    """Tenure is priced at tenure's price on a worker, not at MobileStatus's."""
    import pickle

    from mobilestatus_pandas.service.result import ATTRS_KEY

    prices = {"status": 0.01, "tenure": 0.05}
    client = sandbox.client(cache=None, price_per_call=prices)
    config = msd.WorkerConfig.from_client(client)
    built = pickle.loads(pickle.dumps(config)).build()  # noqa: S301 - as a worker builds it
    assert (built.price_for("status"), built.price_for("tenure")) == (0.01, 0.05)
    assert built.price_setting == prices, "a dict by action stays one (the ledger's prices)"
    ddf = dd.from_pandas(tenure_frame(), npartitions=2)
    tenure = ddf.mobile.tenure("phone", client=client)
    assert tenure._meta.attrs[ATTRS_KEY]["price_per_call"] == 0.05
    status = ddf.mobile.status("phone", client=client)
    assert status._meta.attrs[ATTRS_KEY]["price_per_call"] == 0.01
    one_price = msd.WorkerConfig.from_client(sandbox.client(cache=None, price_per_call=0.02))
    assert one_price.build().price_for("tenure") == 0.02 == one_price.price_for("tenure")


def test_a_redis_url_from_the_environment_stays_off_the_graph(
    sandbox: msp.Sandbox, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$MOBILESTATUS_CACHE on every worker is the documented way for teams: the URL and its
    password are read there, never pickled into the task graph; cache= given explicitly is."""
    import pickle

    import cloudpickle

    monkeypatch.setenv("MOBILESTATUS_CACHE_KEY", "ab" * 32)
    # Redis's default user has no password: it accepts any, so this URL connects.
    password = "hunter2-from-env"
    secret_url = redis_url.replace("redis://", f"redis://default:{password}@")
    monkeypatch.setenv("MOBILESTATUS_CACHE", secret_url)
    client = sandbox.client()  # cache="default": the environment's Redis
    assert client.cache_location == redis_url.replace("redis://", "redis://default:***@")
    pdf = frame_with_repeats()
    out = dd.from_pandas(pdf, npartitions=3).mobile.status("phone", client=client)
    config = msd.WorkerConfig.from_client(client)
    assert config.is_redis
    assert password.encode() not in pickle.dumps(config)
    assert password.encode() not in cloudpickle.dumps(dict(out.__dask_graph__()))
    # Worker processes read their own $MOBILESTATUS_CACHE (inherited here, as set on a team's
    # machines) and pay once per number with the client's cache.
    done = out.compute(scheduler="processes", num_workers=2)
    assert done["mobile_status"].notna().all()
    assert sandbox.stats()["numbers_billed_more_than_once"] == 0
    assert sandbox.stats()["requests"] == 30
    assert client.lookup(pdf["phone"][0]).from_cache, "the workers wrote to the same Redis"
    # A worker whose variable names another cache refuses, before anything is sent.
    monkeypatch.setenv("MOBILESTATUS_CACHE", redis_url.replace("/0", "/1"))
    with pytest.raises(msp.InputError, match=r"set the same \$MOBILESTATUS_CACHE on every"):
        config.build()
    # Given explicitly, the URL has no other way to the workers: it is in the graph.
    explicit = msd.WorkerConfig.from_client(sandbox.client(cache=secret_url))
    assert explicit.cache == secret_url
    assert password not in repr(explicit)


# -- the store first: cached numbers need no run, no thread, one batched read ----------------


@pytest.mark.parametrize("action", ["status", "tenure"])
def test_a_cached_job_gives_the_pandas_frame_exactly_and_sends_nothing(
    sandbox: msp.Sandbox, cache_file: object, action: str
) -> None:
    pdf = tenure_frame()
    client = sandbox.client(cache=cache_file, backoff_seconds=0.0)
    lookup = getattr(pdf.mobile, action)
    lookup("phone", client=client, progress=False)  # every final answer in the cache now
    expected = lookup("phone", client=client, progress=False)  # pandas, from the cache
    prefix = "mobile_" if action == "status" else "tenure_"
    # Answers that are not final (busy, daily limit) are never cached: sent again.
    again = expected[f"{prefix}valid"].fillna(False) & ~expected[f"{prefix}from_cache"]
    sandbox.reset_stats()
    out = getattr(dd.from_pandas(pdf, npartitions=4).mobile, action)("phone", client=client)
    done = out.compute(scheduler="threads")
    assert sandbox.stats()["requests"] == expected.loc[again, "phone"].nunique()
    assert (~again).sum() > 30
    results = [c for c in expected.columns if c not in pdf.columns]
    pd.testing.assert_frame_equal(done.loc[~again, results], expected.loc[~again, results])


def test_a_partly_cached_job_calls_only_what_the_store_lacks(
    sandbox: msp.Sandbox, cache_file: object
) -> None:
    pdf = frame_with_repeats().sort_values("phone").reset_index(drop=True)  # rows together
    client = sandbox.client(cache=cache_file)
    pdf.iloc[::3].mobile.status("phone", client=client, progress=False)
    before = sandbox.stats()["requests"]
    sandbox.reset_stats()
    done = (
        dd.from_pandas(pdf, npartitions=4)
        .mobile.status("phone", client=client)
        .compute(scheduler="threads")
    )
    assert sandbox.stats()["requests"] == 30 - before, "only numbers the cache lacks are sent"
    assert sandbox.stats()["numbers_billed_more_than_once"] == 0
    with msp.Sandbox() as fresh:
        expected = pdf.mobile.status("phone", client=fresh.client(cache=None), progress=False)
    columns = [f"mobile_{c}" for c in ANSWER_COLUMNS]
    pd.testing.assert_frame_equal(done[columns], expected[columns])
    first_call = ~done["mobile_from_cache"].astype(bool) & done["mobile_billed"].astype(bool)
    assert int(first_call.sum()) == sandbox.stats()["billed"], "billed once, on its first row"


# -- several actions in one job: check ----------------------------------------------------------


def test_check_gives_both_actions_columns_as_pandas_does(sandbox: msp.Sandbox) -> None:
    pdf = tenure_frame()
    client = sandbox.client(cache=None, backoff_seconds=0.0)
    out = dd.from_pandas(pdf, npartitions=4).mobile.check("phone", client=client)
    assert sandbox.stats()["requests"] == 0, "lazy: nothing sent before compute"
    with msp.Sandbox() as fresh:
        expected = pdf.mobile.check(
            "phone", client=fresh.client(cache=None, backoff_seconds=0.0), progress=False
        )
    assert list(out.columns) == list(expected.columns)
    done = out.compute(scheduler="threads")
    assert done.dtypes.drop("phone").to_dict() == expected.dtypes.drop("phone").to_dict()
    columns = [f"mobile_{c}" for c in ANSWER_COLUMNS] + [
        f"tenure_{c}" for c in TENURE_ANSWER_COLUMNS
    ]
    pd.testing.assert_frame_equal(done[columns], expected[columns])
    by_api = sandbox.stats()["requests_by_action"]
    assert by_api["MobileStatus"] == 35
    attrs = done.attrs["mobilestatus"]
    assert {"status", "tenure"} <= attrs.keys()
    assert msd.job_report(attrs["status"]["job_id"])["calls"] == 35


def test_check_shares_one_budget_across_actions_and_partitions(
    sandbox: msp.Sandbox, cache_file: object
) -> None:
    pdf = pd.DataFrame({"phone": random_numbers(40, seed=15)})
    out = dd.from_pandas(pdf, npartitions=4).mobile.check(
        "phone", client=sandbox.client(cache=cache_file), max_billed=30
    )
    done = out.compute(scheduler="threads")
    billed = int(done["mobile_billed"].sum()) + int(done["tenure_billed"].sum())
    assert billed == 30 == sandbox.stats()["billed"], "one budget for both actions"
    skipped = (done["tenure_status"] == "not_checked").sum() + (
        done["mobile_status"] == "not_checked"
    ).sum()
    assert 0 < skipped <= 80 - 30, "unbilled answers cost no budget"
    assert msd.job_report(done)["stop_reason"] == "max_billed reached"


# -- the study on a cluster: compare and summary, reduced on the workers ----------------------


def study_frame() -> pd.DataFrame:
    """A study's frame: numbers shared by several rows (some across groups), junk and
    missing values, a fraud label and an amount."""
    numbers = random_numbers(120, seed=21)
    rng = np.random.default_rng(21)
    phones = [numbers[i] for i in rng.integers(0, len(numbers), 400)] + ["junk", None] * 5
    return pd.DataFrame(
        {
            "phone": phones,
            "fraud": rng.random(len(phones)) < 0.3,
            "amount": rng.gamma(2.0, 30.0, len(phones)),
        }
    )


@pytest.mark.parametrize("by", ["fraud", ["fraud", "big"], "series"])
def test_compare_on_a_dask_result_equals_pandas_compare(sandbox: msp.Sandbox, by: object) -> None:
    pdf = study_frame()
    pdf["big"] = pdf["amount"] > 60
    out = dd.from_pandas(pdf, npartitions=5).mobile.status("phone", client=sandbox.client())
    out = out.persist(scheduler="threads")
    done = out.compute(scheduler="threads")
    if by == "series":
        lazy = out.mobile.compare(out["amount"] > 60)
        expected = done.mobile.compare(done["amount"] > 60)
    else:
        lazy = out.mobile.compare(by)
        expected = done.mobile.compare(by)
    got = lazy.compute(scheduler="threads")
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs["compare"] == expected.attrs["compare"]
    assert got["numbers"].max() < got["n"].max(), "rows that share a number are one cluster"


@pytest.mark.parametrize("outcome", ["status", "tenure"])
def test_compare_sends_counts_and_equals_pandas_on_a_sampled_check(
    sandbox: msp.Sandbox, monkeypatch: pytest.MonkeyPatch, outcome: str
) -> None:
    # Numbers repeated across partitions and groups, missing and junk rows, a sample drawn
    # by fraud (weights), status and tenure: the client gets counts, and pandas' figures.
    from mobilestatus_pandas.analysis import stats

    monkeypatch.setattr(msd, "SPLIT_EVERY", 2)  # a tree of sums three levels deep
    pdf = study_frame()
    ddf = dd.from_pandas(pdf, npartitions=5)
    out = ddf.mobile.check(
        "phone", client=sandbox.client(cache=None), sample=60, by="fraud", seed=3
    )
    out = out.persist(scheduler="threads")
    done = out.compute(scheduler="threads")
    prefix = "tenure_" if outcome == "tenure" else "mobile_"
    assert done[f"{prefix}sample_weight"].gt(1).any()
    assert (done["mobile_status"] == "missing").any()
    numbers = done[f"{prefix}number"]
    partition = np.repeat(np.arange(5), [len(p) for p in ddf.partitions])
    assert (pd.Series(partition).groupby(numbers.to_numpy()).nunique() > 1).any()
    seen: list[tuple[int, object]] = []
    counted = stats.compare

    def spy(frame: pd.DataFrame, *args: object, **options: object) -> pd.DataFrame:
        seen.append((len(frame), options.get("rows")))
        return counted(frame, *args, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(stats, "compare", spy)
    for population in ["process", "table"]:
        lazy = out.mobile.compare("fraud", outcome=outcome, population=population)
        sums = [k for k in lazy.dask if isinstance(k, tuple) and "compare-sum" in k[0]]
        assert sorted(k[1:] for k in sums) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
        got = lazy.compute(scheduler="threads")
        expected = counted(done, "fraud", outcome=outcome, population=population)
        pd.testing.assert_frame_equal(got, expected)
        assert got.attrs["compare"] == expected.attrs["compare"]
        assert got.attrs["compare"]["sampled"]
    # at most a row per (group, status, number, weight), never one per row
    cells = done.groupby(["fraud", f"{prefix}status", f"{prefix}number"], dropna=False)
    assert len(seen) == 2
    assert all(rows == msd.ROWS_COLUMN and size <= cells.ngroups for size, rows in seen)
    assert all(size < len(pdf) / 2 for size, _ in seen)


def test_summary_by_a_dask_series_equals_pandas(
    sandbox: msp.Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    pdf = study_frame()
    out = dd.from_pandas(pdf, npartitions=5).mobile.status("phone", client=sandbox.client())
    out = out.persist(scheduler="threads")
    done = out.compute(scheduler="threads")
    expected = done.mobile.summary(done["amount"] > 60)
    for every in [8, 2]:  # the partitions' parts summed in one task, or in a tree
        monkeypatch.setattr(msd, "SPLIT_EVERY", every)
        lazy = out.mobile.summary(out["amount"] > 60)
        sums = [k for k in lazy.dask if isinstance(k, tuple) and "summary-sum" in k[0]]
        assert len(sums) == (0 if every == 8 else 5)
        pd.testing.assert_frame_equal(lazy.compute(scheduler="threads"), expected)


# -- sample=: the same draw, weights and figures as pandas ---------------------------------


@pytest.mark.parametrize("by", [None, "fraud", "series"])
def test_a_sample_on_dask_is_pandas_sample(sandbox: msp.Sandbox, by: object) -> None:
    pdf = study_frame()
    ddf = dd.from_pandas(pdf, npartitions=5)
    client = sandbox.client(cache=None)
    if by == "series":
        dask_by, pandas_by = ddf["amount"] > 60, pdf["amount"] > 60
    else:
        dask_by, pandas_by = by, by
    out = ddf.mobile.status("phone", client=client, sample=40, by=dask_by, seed=7)
    assert sandbox.stats()["requests"] == 0, "lazy: the draw and the calls wait for compute"
    done = out.compute(scheduler="threads")
    with msp.Sandbox() as fresh:
        expected = pdf.mobile.status(
            "phone", client=fresh.client(cache=None), sample=40, by=pandas_by, seed=7,
            progress=False,
        )  # fmt: skip
    assert list(done.columns) == list(expected.columns)
    columns = [f"mobile_{c}" for c in [*ANSWER_COLUMNS, "sample_weight"]]
    pd.testing.assert_frame_equal(done[columns], expected[columns])
    assert sandbox.stats()["requests"] == 40, "only the drawn numbers are sent"
    design = done.attrs["mobilestatus"]["sample"]
    assert design == expected.attrs["mobilestatus"]["sample"]
    if by is not None:
        key = "fraud" if by == "fraud" else pandas_by
        got = done.mobile.compare(key if by == "fraud" else done["amount"] > 60)
        pd.testing.assert_frame_equal(got, expected.mobile.compare(key))
        lazy = out.persist(scheduler="threads").mobile.compare(dask_by)
        pd.testing.assert_frame_equal(lazy.compute(scheduler="threads"), got)


def test_the_daily_limit_streak_is_counted_across_partitions(sandbox: msp.Sandbox) -> None:
    # Two partitions' gates of one job, each seeing half a streak: the job stops; any
    # other answer in either partition ends the streak for both.
    client = sandbox.client(cache=None)
    streak = stops.DAILY_LIMIT_STREAK
    job = msd.JobSpec("streak-job", None, False, None, "status")
    first, second = msd._JobGate(client, job), msd._JobGate(client, job)
    for _ in range(streak // 2):
        first.after_answer("-4", False, None)
    second.after_answer("0", True, None)  # an answer: the streak starts again
    for gate in [first, second] * (streak // 2 - 1):
        gate.after_answer("-4", False, None)
    assert first.stop_reason() is None
    first.after_answer("-4", False, None)
    second.after_answer("-4", False, None)
    assert second.stop_reason() == "daily limit reached"


def test_a_worker_s_table_that_starts_again_keeps_every_answer_right(
    sandbox: msp.Sandbox, cache_file: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bound on what a worker keeps per job, far below the partitions' numbers: the
    # table starts again over and over, and every row still gets its own number's answer.
    monkeypatch.setattr(msd, "SEEN_MAX_NUMBERS", 7)
    pdf = study_frame()
    client = sandbox.client(cache=cache_file)
    pdf.mobile.status("phone", client=client, progress=False)
    expected = pdf.mobile.status("phone", client=client, progress=False)
    sandbox.reset_stats()
    done = (
        dd.from_pandas(pdf, npartitions=6)
        .mobile.status("phone", client=client)
        .compute(scheduler="threads")
    )
    assert sandbox.stats()["requests"] == 0
    results = [c for c in expected.columns if c not in pdf.columns]
    pd.testing.assert_frame_equal(done[results], expected[results])


def test_numbers_outside_the_mobile_ranges_are_described_as_pandas_describes_them(
    fast_sandbox: msp.Sandbox, cache_file: object
) -> None:
    # Eleven digits but no CN mobile range: not sent, and "not a CN mobile range" (not "not
    # a phone number") as in pandas; written as digits or with separators, in any partition.
    phones = ["10000000000", "13179542404", "100 0000 0000", "12345678901", "junk", None] * 2
    pdf = pd.DataFrame({"phone": pd.Series(phones, dtype="string")})
    client = fast_sandbox.client(cache=cache_file)
    pdf.mobile.status("phone", client=client, progress=False)  # pays; then all cached
    expected = pdf.mobile.status("phone", client=client, progress=False)
    done = (
        dd.from_pandas(pdf, npartitions=3, sort=False)
        .mobile.status("phone", client=client)
        .compute(scheduler="sync")
    )
    results = [c for c in expected.columns if c not in pdf.columns]
    pd.testing.assert_frame_equal(done[results], expected[results])
    assert done["mobile_description"].iloc[0] == "not a CN mobile range"


@pytest.mark.parametrize("hash_set_up_to", [0, 65_536])
def test_a_worker_s_table_finds_values_learnt_in_any_earlier_partition(
    sandbox: msp.Sandbox,
    cache_file: object,
    monkeypatch: pytest.MonkeyPatch,
    hash_set_up_to: int,
) -> None:
    # Values first met in the second partition are found in the third (the indexes follow
    # the table as it grows): each distinct value is classified once, and spellings of one
    # number (plain digits, with the country code, with spaces) share its slot.
    from mobilestatus_pandas.service.actions import get_action

    monkeypatch.setattr(msd, "TEXT_INDEX_MAX", hash_set_up_to)
    classified: list[list[str]] = []
    classify = msd.numbers.classify_distinct

    def counted(values: pd.Series) -> object:
        classified.append(values.tolist())
        return classify(values)

    monkeypatch.setattr(msd.numbers, "classify_distinct", counted)
    client = sandbox.client(cache=cache_file)
    table = msd._JobTable(get_action("status"))
    partitions = [
        ["13800138000", "138 0013 8000"],
        ["13900139000", "139 0013 9000", "13800138000", "junk"],
        ["8613900139000", "13900139000", "139 0013 9000", "junk", "138 0013 8000"],
        ["8613900139000", "junk", "13900139000"],
    ]
    slots = []
    for values in partitions:
        slot, _ = table._slots(client, pd.Series(values, dtype="string[pyarrow]"))
        slots.append(dict(zip(values, slot.tolist(), strict=True)))
    assert classified == [
        ["13800138000", "138 0013 8000"],
        ["13900139000", "139 0013 9000", "junk"],
        ["8613900139000"],
    ]
    assert slots[0]["13800138000"] == slots[0]["138 0013 8000"] == slots[2]["138 0013 8000"]
    nine = slots[1]["13900139000"]
    assert nine != slots[0]["13800138000"]
    assert slots[2]["8613900139000"] == slots[2]["13900139000"] == nine
    assert slots[3] == {"8613900139000": nine, "junk": -1, "13900139000": nine}


def test_a_worker_s_table_keeps_at_most_its_bound_of_text_values(
    sandbox: msp.Sandbox, cache_file: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Values that are not numbers (junk, plain digits of the wrong length) take room too:
    # past the bound the table starts again, whatever the values are, and answers stay right.
    from mobilestatus_pandas.service.actions import get_action

    monkeypatch.setattr(msd, "SEEN_MAX_NUMBERS", 10)
    client = sandbox.client(cache=cache_file)
    table = msd._JobTable(get_action("status"))
    for start in range(0, 60, 6):
        junk = [f"junk {i}" for i in range(start, start + 3)]
        digits = [str(10**6 + i) for i in range(start, start + 3)]
        values = pd.Series(junk + digits, dtype="string[pyarrow]")
        slot, reason = table._slots(client, values)
        assert (slot == -1).all()
        assert (reason >= 0).all()
        assert len(table.value_slot) <= 10
        assert len(table.digit_keys) + len(table.spelt) == len(table.value_slot)
    done = (
        dd.from_pandas(pd.DataFrame({"phone": values}), npartitions=2)
        .mobile.status("phone", client=client)
        .compute(scheduler="sync")
    )
    assert done["mobile_status"].eq("invalid").all()


def _spellings(number: str) -> list[str]:
    """Ways a person writes one CN mobile number (each normalises to ``number``)."""
    wide = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    return [
        number,
        f"+86 {number[:3]} {number[3:7]} {number[7:]}",
        f"0086{number}",
        f"{number}；",
        wide,
        f"86{number}",
        f"+86{number}",
    ]


POOL = random_numbers(4, seed=77)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    picks=st.lists(
        st.one_of(
            st.tuples(st.integers(0, len(POOL) - 1), st.integers(0, 6)).map(
                lambda p: _spellings(POOL[p[0]])[p[1]]
            ),
            st.sampled_from(
                ["junk", "", "+1 415 555 0100", "010 6552 9988", "1.38001E+10", "0", "10086"]
            ),
            st.from_regex(r"[0-9]{1,20}", fullmatch=True),  # plain digits, found by integer
            st.none(),
        ),
        min_size=8,
        max_size=40,
    ),
    partitions=st.integers(2, 4),
    dtype=st.sampled_from(["string", object]),
    bound=st.sampled_from([3, 400_000]),
    hash_set_up_to=st.sampled_from([0, 65_536]),
)
def test_a_worker_classifies_each_text_value_once_and_every_row_gets_pandas_answer(
    fast_sandbox: msp.Sandbox,
    cache_file: object,
    monkeypatch: pytest.MonkeyPatch,
    picks: list[str | None],
    partitions: int,
    dtype: object,
    bound: int,
    hash_set_up_to: int,
) -> None:
    # The same numbers spelt several ways, junk and gaps, spread over partitions that a
    # worker serves one after another: what the worker learnt from a value in one partition
    # (its number, its reason, its answer) gives every later row the answer pandas gives it,
    # with the table's bound (``bound``) far below and above the numbers seen, values found
    # with Arrow's hash set or with a dict (``hash_set_up_to``); plain digit text (with or
    # without a leading zero, past 18 digits) by its integer.
    monkeypatch.setattr(msd, "SEEN_MAX_NUMBERS", bound)
    monkeypatch.setattr(msd, "TEXT_INDEX_MAX", hash_set_up_to)
    pdf = pd.DataFrame({"phone": pd.Series(picks, dtype=dtype)})
    client = fast_sandbox.client(cache=cache_file)
    pdf.mobile.status("phone", client=client, progress=False)  # pays; then all cached
    expected = pdf.mobile.status("phone", client=client, progress=False)
    fast_sandbox.reset_stats()
    classified: list[int] = []
    classify = msd.numbers.classify_distinct

    def counted(values: pd.Series) -> object:
        classified.append(len(values))
        return classify(values)

    monkeypatch.setattr(msd.numbers, "classify_distinct", counted)
    done = (
        dd.from_pandas(pdf, npartitions=partitions, sort=False)
        .mobile.status("phone", client=client)
        .compute(scheduler="sync")
    )
    assert fast_sandbox.stats()["requests"] == 0
    results = [c for c in expected.columns if c not in pdf.columns]
    pd.testing.assert_frame_equal(done[results], expected[results])
    if bound > len(picks):  # one worker, a table that never starts again: each value once
        assert sum(classified) == pdf["phone"].dropna().nunique()
