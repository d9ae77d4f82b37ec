"""The batch engine against the real sandbox on loopback."""

from __future__ import annotations

import _thread
import threading
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import random_numbers
from mobilestatus_pandas.engine.stops import DAILY_LIMIT_STREAK, RunStoppedWarning
from mobilestatus_pandas.stores import CachedAnswer, LedgerEntry
from tests.conftest import FastSandbox, allowed_refusals

pytestmark = pytest.mark.integration


def test_one_row_per_input_in_order_each_number_called_once(sandbox: msp.Sandbox) -> None:
    client = sandbox.client()
    numbers = random_numbers(10, seed=1)
    values = [numbers[i % 10] for i in range(50)] + ["junk", None, "+86 " + numbers[0]]
    out = client.lookup_many(values, progress=False)
    assert len(out) == 53
    assert list(out.columns) == [*msp.RESULT_COLUMNS, "key"]
    assert out["number"].tolist()[:10] == numbers
    assert out["number"].tolist()[52] == numbers[0]
    assert out["status"].tolist()[50:52] == ["invalid", "missing"]
    assert out["description"].tolist()[50:52] == ["letters", "no number given"]
    stats = sandbox.stats()
    assert stats["requests"] == 10
    assert sorted(sandbox.stats(numbers=True)["billed_per_number"]) == sorted(
        n for n in numbers if out.loc[out["number"] == n, "result"].iloc[0] == "0"
    )
    # a number in several rows is billed once, on its first row
    assert int(out["billed"].sum()) == stats["billed"]
    first_rows = out.drop_duplicates("number")
    assert first_rows["billed"].sum() == stats["billed"]
    report = out.attrs["mobilestatus"]
    assert report["rows"] == 53
    assert (report["invalid"], report["missing"]) == (1, 1)
    assert report["distinct_numbers"] == 10
    assert report["calls"] == 10
    assert report["billed_calls"] == stats["billed"]
    assert client.last_run is not None
    assert client.last_run.billed_calls == stats["billed"]


@pytest.mark.serial
def test_second_run_is_served_from_the_cache(sandbox: msp.Sandbox, cache_file: Path) -> None:
    numbers = random_numbers(40, seed=2)
    first = sandbox.client(cache=cache_file).lookup_many(numbers, progress=False)
    requests_before = sandbox.stats()["requests"]
    started = time.monotonic()
    again = sandbox.client(cache=cache_file).lookup_many(numbers, progress=False)
    assert time.monotonic() - started < 2
    assert sandbox.stats()["requests"] == requests_before
    assert again["from_cache"].all()
    assert not again["billed"].any()
    assert again["status"].tolist() == first["status"].tolist()
    assert again["request_id"].tolist() == first["request_id"].tolist()
    assert again.attrs["mobilestatus"]["cache_hits"] == 40


def test_refresh_ignores_the_cache(sandbox: msp.Sandbox, cache_file: Path) -> None:
    client = sandbox.client(cache=cache_file)
    client.lookup_many(["13800000000"], progress=False)
    out = client.lookup_many(["13800000000"], progress=False, refresh=True)
    assert not out["from_cache"].any()
    assert sandbox.stats(numbers=True)["billed_per_number"]["13800000000"] == 2


def test_stale_answers_are_not_reused(sandbox: msp.Sandbox, cache_file: Path) -> None:
    client = sandbox.client(cache=cache_file)
    key = client.number_key("13800000001")
    long_ago = time.time() - 8 * 86400
    client.store.record(
        LedgerEntry(long_ago, key, "0", 0, True, "old", None, "r", "id"),
        CachedAnswer("0", "old", 0, "old", long_ago),
    )
    out = client.lookup_many(["13800000001"], progress=False)
    assert out["status"].tolist() == ["out_of_service"]
    assert not out["from_cache"].any()


def test_only_final_answers_are_cached(sandbox: msp.Sandbox, cache_file: Path) -> None:
    final = ["13800000000", "13800000101", "13800000102", "13800000113"]
    passing = ["13800000103", "13800000104", "13800000500", "13800000400", "13800000199"]
    client = sandbox.client(cache=cache_file, max_retries=1, backoff_seconds=0.001)
    client.lookup_many(final + passing, progress=False)
    again = client.lookup_many(final + passing, progress=False)
    assert again["from_cache"].tolist() == [True] * 4 + [False] * 5
    assert client.store.count_answers() == 4


def test_max_billed_is_never_exceeded(sandbox: msp.Sandbox) -> None:
    client = sandbox.client()
    numbers = random_numbers(60, seed=4)
    with pytest.warns(RunStoppedWarning, match="max_billed"):
        out = client.lookup_many(numbers, progress=False, max_billed=25)
    assert sandbox.stats()["billed"] <= 25
    assert out["billed"].sum() == sandbox.stats()["billed"]
    assert out["billed"].sum() >= 20, "the budget is used, not wasted"
    assert (out["status"] == "not_checked").sum() >= 60 - 30
    assert out.attrs["mobilestatus"]["stop_reason"] == "max_billed reached"
    unchecked = out[out["status"] == "not_checked"]
    assert unchecked["error"].eq("max_billed reached").all()


def test_max_billed_zero_makes_no_call(sandbox: msp.Sandbox) -> None:
    with pytest.warns(RunStoppedWarning):
        out = sandbox.client().lookup_many(["13800000000"], progress=False, max_billed=0)
    assert out["status"].tolist() == ["not_checked"]
    assert sandbox.stats()["requests"] == 0


def test_daily_limit_streak_stops_the_run() -> None:
    with msp.Sandbox(daily_quota=5) as sb:
        numbers = random_numbers(120, seed=5)
        with pytest.warns(RunStoppedWarning, match="daily limit"):
            out = sb.client().lookup_many(numbers, progress=False)
        counts = out["status"].value_counts()
        assert counts["daily_limit"] >= DAILY_LIMIT_STREAK
        assert counts["not_checked"] >= 50
        assert sb.stats()["requests"] < 80, "queued calls were not sent"
        assert out.attrs["mobilestatus"]["stop_reason"] == "daily limit reached"


def test_wrong_key_stops_after_one_request(sandbox: msp.Sandbox) -> None:
    client = msp.MobileStatusClient(sandbox.url, sandbox.secret_id, "wrong-key-xyz", cache=None)
    with pytest.raises(msp.AuthenticationError, match="SignatureFailure"):
        client.lookup_many(random_numbers(100, seed=6), progress=False)
    assert sandbox.stats()["requests"] == 1


def test_account_failure_stops_the_run() -> None:
    with msp.Sandbox(account_error="UnauthorizedOperation.Arrears") as sb:
        with pytest.raises(msp.AuthenticationError) as info:
            sb.client().lookup_many(random_numbers(50, seed=7), progress=False)
        assert info.value.code == "UnauthorizedOperation.Arrears"
        assert info.value.request_id
        assert sb.stats()["requests"] == 1


def test_faults_on_a_fifth_of_attempts_end_with_every_row_final() -> None:
    with FastSandbox(fault_rate=0.2, seed=3, latency_ms=5) as sb:
        client = sb.client(max_retries=6, backoff_seconds=0.01, seed=2)
        numbers = random_numbers(200, seed=8)
        out = client.lookup_many(numbers, progress=False)
        stats = sb.stats()
    assert not out["status"].isin(["error", "busy", "not_checked"]).any()
    assert sum(stats["faults"].values()) > 30
    assert set(stats["faults"]) == {"drop", "http_502", "truncated", "busy", "internal_error"}
    assert stats["numbers_billed_more_than_once"] == 0
    assert stats["billed"] == int((out["result"] == "0").sum())
    assert out.attrs["mobilestatus"]["retries"] > 0


def test_ledger_records_every_call_without_numbers(sandbox: msp.Sandbox) -> None:
    client = sandbox.client(price_per_call=0.5)
    numbers = ["13800000000", "13800000101", "13800000002"]
    out = client.lookup_many(numbers, progress=False)
    ledger = client.ledger()
    assert len(ledger) == 3
    assert ledger["billed"].sum() == 2
    assert ledger["cost"].sum() == 1.0
    assert out.attrs["mobilestatus"]["cost"] == 1.0
    assert set(ledger["request_id"]) == set(out["request_id"])
    assert str(ledger["called_at"].dtype) == "datetime64[ns, UTC]"
    flat = ledger.astype(str).to_string()
    assert not any(n in flat for n in numbers)


@pytest.mark.serial
@pytest.mark.usefixtures("ctrl_c_raises")
def test_interrupt_stops_quickly_keeps_answers_and_resumes(cache_file: Path) -> None:
    with msp.Sandbox(latency_ms=300, latency_spread_ms=50) as sb:
        client = sb.client(cache=cache_file)
        numbers = random_numbers(200, seed=9)
        pressed: list[float] = []

        def press_ctrl_c() -> None:
            pressed.append(time.monotonic())
            _thread.interrupt_main()

        threading.Timer(1.5, press_ctrl_c).start()
        with pytest.raises(KeyboardInterrupt):
            client.lookup_many(numbers, progress=False)
        assert time.monotonic() - pressed[0] < 2.0
        assert client.last_run is not None
        assert client.last_run.stop_reason == "interrupted"
        resumed = client.lookup_many(numbers, progress=False)
        stats = sb.stats()
    assert stats["numbers_billed_more_than_once"] == 0
    assert resumed["from_cache"].sum() >= 10
    assert not resumed["status"].isin(["not_checked", "error"]).any()
    assert stats["billed"] == int((resumed["result"] == "0").sum())


def test_progress_bar_counts_numbers_and_shows_billing(
    sandbox: msp.Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    client = sandbox.client()
    client.lookup_many(random_numbers(5, seed=10), progress=True)
    err = capsys.readouterr().err  # not a terminal: plain lines (see test_progress.py)
    assert "MobileStatus: 5/5 (100%)" in err
    assert ", billed " in err
    client.lookup_many(random_numbers(5, seed=10), progress=True)
    assert capsys.readouterr().err == "", "no bar when everything comes from the cache"


def test_frame_and_series_accessors(sandbox: msp.Sandbox) -> None:
    client = sandbox.client()
    df = pd.DataFrame(
        {"phone": ["13800000002", "x", "+8613800000000"], "segment": ["a", "b", "a"]},
        index=pd.Index([5, 5, 1], name="row"),
    )
    out = df.mobile.status("phone", client=client, progress=False)
    assert out.index.equals(df.index)
    assert list(out.columns[:2]) == ["phone", "segment"]
    assert out["mobile_status"].tolist() == ["cancelled", "invalid", "normal"]
    assert "mobile_status" not in df.columns, "the input is never mutated"
    assert out.attrs["mobilestatus"]["rows"] == 3
    cols = df["phone"].mobile.status(client=client, progress=False)
    assert cols.index.equals(df.index)
    assert cols["mobile_from_cache"].tolist() == [True, False, True]
    with pytest.raises(msp.InputError, match="overwrite"):
        out.mobile.status("phone", client=client, progress=False)
    again = out.mobile.status("phone", client=client, progress=False, overwrite=True)
    assert again.shape == out.shape
    with pytest.raises(KeyError, match="phone"):
        df.mobile.status("phnoe", client=client)


def test_result_dtypes(sandbox: msp.Sandbox) -> None:
    out = sandbox.client().lookup_many(["13800000000", "x"], progress=False)
    dtypes = {name: str(dtype) for name, dtype in out.dtypes.items()}
    assert dtypes["valid"] == dtypes["billed"] == dtypes["from_cache"] == "boolean"
    assert dtypes["status_code"] == "Int64"
    assert dtypes["status"] == "category"
    assert list(out["status"].cat.categories) == list(msp.STATUSES)
    assert dtypes["checked_at"] == "datetime64[ns, UTC]"
    for name in ("number", "result", "description", "request_id", "error"):
        assert isinstance(out[name].dtype, pd.StringDtype), name


def run_concurrently(
    clients: list[msp.MobileStatusClient], count: int, seed: int
) -> list[pd.DataFrame]:
    """Each client looks up its own ``count`` numbers, all at the same time, in threads."""
    outs: dict[int, pd.DataFrame] = {}

    def run(i: int) -> None:
        outs[i] = clients[i].lookup_many(random_numbers(count, seed=seed + i), progress=False)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return [outs[i] for i in range(len(clients))]


@pytest.mark.serial
def test_clients_of_one_user_share_the_limit_whatever_their_cache(tmp_path: Path) -> None:
    with msp.Sandbox(own_process=True) as sandbox:
        # Two cache files, one rate-limit log (in the per-user folder). A client with
        # cache=None keeps its log in memory and paces itself only: not one of these.
        clients = [
            sandbox.client(cache=tmp_path / "one.sqlite3"),
            sandbox.client(cache=tmp_path / "other.sqlite3"),
        ]
        outs = run_concurrently(clients, 60, seed=60)
        stats = sandbox.stats()
    # One limit for both: refused requests are rare (two limits would be refused every
    # second), retried and counted as arrivals.
    assert stats["rate_limited"] <= allowed_refusals(stats["requests"]), stats
    assert stats["max_arrivals_in_any_second"] <= 20 + stats["rate_limited"], stats
    assert all(not out["status"].isin(["error", "not_checked"]).any() for out in outs)


def test_no_numbers_or_keys_in_logs(sandbox: msp.Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sandbox.client().lookup_many(["13800000000", "13800000104"], progress=False)
    text = caplog.text
    assert "13800000000" not in text
    assert sandbox.secret_key not in text


@pytest.mark.serial
def test_throttling_by_another_client_is_absorbed_not_shown(
    sandbox: msp.Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two clients that do not share a limiter (as on two machines) use one account's 20/s:
    # the service answers RequestLimitExceeded, both slow down, every row gets its answer.
    clients = []
    for name in ("machine-a", "machine-b"):
        monkeypatch.setenv("MOBILESTATUS_CACHE_DIR", str(tmp_path / name))
        clients.append(sandbox.client(backoff_seconds=0.05))
    outs = run_concurrently(clients, 120, seed=50)
    stats = sandbox.stats()
    assert stats["rate_limited"] > 0
    assert sum(c.limiter.penalties for c in clients) > 0
    for out in outs:
        assert not out["status"].isin(["error", "busy", "not_checked"]).any()
        assert not out["error"].fillna("").str.contains("RequestLimitExceeded").any()
    assert stats["numbers_billed_more_than_once"] == 0


@pytest.mark.serial
def test_two_runs_at_once_on_one_cache_pay_once_per_number(
    sandbox: msp.Sandbox, cache_file: Path
) -> None:
    """Two notebooks given the same numbers at the same time: one call per number."""
    numbers = random_numbers(30, seed=77)
    outs: dict[str, pd.DataFrame] = {}

    def run(name: str, order: list[str]) -> None:
        outs[name] = sandbox.client(cache=cache_file).lookup_many(order, progress=False)

    threads = [
        threading.Thread(target=run, args=("a", numbers)),
        threading.Thread(target=run, args=("b", numbers[::-1])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    stats = sandbox.stats()
    assert stats["numbers_billed_more_than_once"] == 0
    assert stats["requests"] - stats["rate_limited"] == 30, "one answered call per number"
    assert outs["a"]["from_cache"].sum() + outs["b"]["from_cache"].sum() == 30
    assert outs["a"]["billed"].sum() + outs["b"]["billed"].sum() == stats["billed"]
