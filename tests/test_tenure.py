"""Line tenure through the engine: df.mobile.tenure, client.tenure(_many), check, the ledger.

Against the real sandbox on loopback; every call is counted by the sandbox per action.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.sandbox.behaviour import TENURE_ACTION
from mobilestatus_pandas.service import tenure
from mobilestatus_pandas.service.result import TenureResult
from tests.conftest import allowed_refusals

pytestmark = pytest.mark.integration

STATUS_API = "MobileStatus"

#: Magic number -> (Result, status, band, months_min, months_max, billed)
CASES = {
    "13900000000": ("0", "known", "[0,3)", 0, 3, True),
    "13900000003": ("0", "known", "[3,6)", 3, 6, True),
    "13900000006": ("0", "known", "[6,12)", 6, 12, True),
    "13900000012": ("0", "known", "[12,24)", 12, 24, True),
    "13900000024": ("0", "known", "[24,+)", 24, None, True),
    "13900000025": ("0", "known", "[6,12)", 6, 12, True),  # (6,12] as older texts wrote it
    "13900000023": ("0", "known", None, 23, None, True),  # outside the usual bands
    "13900000102": ("-2", "not_found", None, None, None, True),
    "13900000103": ("-3", "no_duration", None, None, None, True),
    "13900000101": ("-1", "invalid", None, None, None, False),
    "13900000104": ("-4", "busy", None, None, None, False),
    "13900000105": ("-5", "daily_limit", None, None, None, False),
    "13900000113": ("-13", "unsupported", None, None, None, False),
    "13900000199": ("-99", "error", None, None, None, False),
}


@pytest.fixture
def client(sandbox: msp.Sandbox) -> msp.MobileStatusClient:
    return sandbox.client(backoff_seconds=0.0, price_per_call={"status": 0.01, "tenure": 0.02})


def test_each_result_code_and_band_through_the_engine(
    sandbox: msp.Sandbox, client: msp.MobileStatusClient
) -> None:
    df = pd.DataFrame({"phone": [*CASES, "12345", None]})
    out = df.mobile.tenure("phone", client=client, progress=False)
    assert out.columns.tolist() == [
        "phone", *(f"tenure_{c}" for c in msp.TENURE_COLUMNS), "tenure_key"
    ]  # fmt: skip
    for number, (result, status, band, low, high, billed) in CASES.items():
        row = out.loc[out["phone"] == number].iloc[0]
        assert row["tenure_result"] == result, number
        assert row["tenure_status"] == status, number
        assert (row["tenure_band"] if pd.notna(row["tenure_band"]) else None) == band, number
        assert (None if pd.isna(row["tenure_months_min"]) else row["tenure_months_min"]) == low
        assert (None if pd.isna(row["tenure_months_max"]) else row["tenure_months_max"]) == high
        assert bool(row["tenure_billed"]) is billed, number
    assert out["tenure_status"].tolist()[-2:] == ["invalid", "missing"]
    assert str(out["tenure_months_min"].dtype) == "Int64"
    assert out["tenure_band"].cat.ordered
    assert list(out["tenure_band"].cat.categories) == list(tenure.BANDS)
    assert list(out["tenure_status"].cat.categories) == list(tenure.TENURE_STATUSES)
    assert out.loc[out["phone"] == "13900000025", "tenure_range"].item() == "(6,12]"
    stats = sandbox.stats()
    assert stats["billed_by_action"] == {TENURE_ACTION: 9}
    assert int(out["tenure_billed"].sum()) == 9
    assert STATUS_API not in stats["requests_by_action"], "tenure never calls MobileStatus"


def test_billing_per_code_in_ledger_report_and_costs(
    sandbox: msp.Sandbox, client: msp.MobileStatusClient
) -> None:
    df = pd.DataFrame({"phone": ["13900000000", "13900000102", "13900000103", "13900000101"]})
    out = df.mobile.tenure("phone", client=client, progress=False)
    report = out.attrs["mobilestatus"]
    assert (report["billed_calls"], report["calls"]) == (3, 4)
    assert report["cost"] == pytest.approx(0.06)  # tenure's own price, 0.02 a call
    ledger = client.ledger()
    assert ledger["action"].tolist() == [TENURE_ACTION] * 4
    billed = dict(zip(ledger["result"], ledger["billed"], strict=True))
    assert billed == {"0": True, "-2": True, "-3": True, "-1": False}
    assert ledger["cost"].sum() == pytest.approx(0.06)
    day = client.billing()
    assert (int(day["billed"].sum()), round(float(day["cost"].sum()), 2)) == (3, 0.06)


def test_status_and_tenure_are_cached_apart(
    sandbox: msp.Sandbox, client: msp.MobileStatusClient
) -> None:
    df = pd.DataFrame({"phone": ["13800138000", "13900000003"]})
    first = df.mobile.status("phone", client=client, progress=False)
    assert not first["mobile_from_cache"].any()
    tenure_first = df.mobile.tenure("phone", client=client, progress=False)
    assert not tenure_first["tenure_from_cache"].any(), "a status answer is no tenure answer"
    assert tenure_first["tenure_band"].tolist() == ["[24,+)", "[3,6)"]
    again = df.mobile.tenure("phone", client=client, progress=False)
    assert again["tenure_from_cache"].all()
    assert again["tenure_band"].tolist() == ["[24,+)", "[3,6)"], "the band comes from the cache"
    assert not again["tenure_billed"].any()
    status_again = df.mobile.status("phone", client=client, progress=False)
    assert status_again["mobile_from_cache"].all()
    assert sandbox.stats()["requests_by_action"] == {STATUS_API: 2, TENURE_ACTION: 2}
    estimate = df.mobile.estimate("phone", client=client, action="tenure")
    assert (estimate["cached and fresh"], estimate["calls needed"]) == (2, 0)


def test_tenure_cache_survives_a_new_client_on_the_same_file(
    sandbox: msp.Sandbox, tmp_path: Path
) -> None:
    cache = tmp_path / "cache.sqlite3"
    df = pd.DataFrame({"phone": ["13900000012", "13900000102"]})
    sandbox.client(cache=cache).tenure_many(df["phone"], progress=False)
    again = sandbox.client(cache=cache).tenure_many(df["phone"], progress=False)
    assert again["from_cache"].all()
    assert again["band"].tolist()[0] == "[12,24)"
    assert again["status"].tolist() == ["known", "not_found"]
    assert sandbox.stats()["requests"] == 2


def test_client_tenure_and_tenure_many(sandbox: msp.Sandbox) -> None:
    client = sandbox.client()
    one = client.tenure("+86 139 0000 0006")
    assert isinstance(one, TenureResult)
    assert (one.status, one.band, one.months_min, one.months_max) == ("known", "[6,12)", 6, 12)
    many = client.tenure_many(["13900000024", "13900000024", "nope"], progress=False)
    assert many.columns.tolist() == [*msp.TENURE_COLUMNS, "key"]
    assert many["status"].tolist() == ["known", "known", "invalid"]
    assert many["billed"].tolist() == [True, False, False], "a repeated number is billed once"


def test_max_billed_counts_tenure_billing(
    sandbox: msp.Sandbox, client: msp.MobileStatusClient
) -> None:
    numbers = [f"139{i:08d}" for i in range(1000, 1020)]
    with pytest.warns(msp.RunStoppedWarning, match="max_billed"):
        out = pd.DataFrame({"phone": numbers}).mobile.tenure(
            "phone", client=client, progress=False, max_billed=5
        )
    assert int(out["tenure_billed"].sum()) <= 5
    assert sandbox.stats()["billed_by_action"][TENURE_ACTION] <= 5
    assert (out["tenure_status"] == "not_checked").any()


def test_status_and_tenure_in_one_run(sandbox: msp.Sandbox, client: msp.MobileStatusClient) -> None:
    df = pd.DataFrame(
        {"phone": ["13800138000", "13800000002", "13900000000", "bad"], "fraud": [1, 1, 0, 0]}
    )
    out = df.mobile.check("phone", client=client, progress=False)
    assert out.columns.tolist() == [
        "phone",
        "fraud",
        *(f"mobile_{c}" for c in msp.RESULT_COLUMNS),
        "mobile_key",
        *(f"tenure_{c}" for c in msp.TENURE_COLUMNS),
        "tenure_key",
    ]
    assert out["mobile_key"].equals(out["tenure_key"].rename("mobile_key"))  # one key per number
    assert out["mobile_status"].tolist() == ["out_of_service", "cancelled", "normal", "invalid"]
    assert out["tenure_band"].tolist()[0] == "[24,+)"
    assert out["tenure_status"].tolist()[-1] == "invalid"
    stats = sandbox.stats()
    assert stats["requests_by_action"] == {STATUS_API: 3, TENURE_ACTION: 3}
    assert set(out.attrs["mobilestatus"]) >= {"status", "tenure"}
    table = out.mobile.summary(by="tenure_band")
    assert "[24,+)" in {str(k) for k in table.index.get_level_values(0)}
    only_tenure = df.mobile.check("phone", client=client, actions=("tenure",), progress=False)
    assert "mobile_status" not in only_tenure.columns
    assert only_tenure["tenure_from_cache"].iloc[:3].all()
    with pytest.raises(msp.InputError, match="action must be one of"):
        df.mobile.check("phone", client=client, actions=("status", "age"))


@pytest.mark.serial
def test_each_action_keeps_its_own_rate_limit_and_together_they_use_both() -> None:
    numbers = [f"139{i:08d}" for i in range(2000, 2080)]
    with msp.Sandbox() as sb:
        client = sb.client(rate_limit=20)
        out = pd.DataFrame({"phone": numbers}).mobile.check("phone", client=client, progress=False)
        stats = sb.stats()
    # Refusals for the rate (a request that reaches the sandbox a second late on a busy
    # machine) are rare, retried and counted; a limiter shared by both actions would never
    # pass 20 together, one per action that goes too fast would be refused far more often.
    refused = stats["rate_limited"]
    assert refused <= allowed_refusals(stats["requests"]), stats
    assert stats["requests"] == 2 * len(numbers) + refused, stats
    per_action = stats["max_arrivals_in_any_second_by_action"]
    assert per_action[STATUS_API] <= 20 + refused
    assert per_action[TENURE_ACTION] <= 20 + refused
    # Both limits at once: more than one API's 20 calls reached the service in some second.
    assert stats["max_arrivals_in_any_second"] > 25
    assert (out["tenure_status"] != "not_checked").all()
    assert (out["mobile_status"] != "not_checked").all()


def test_cli_check_action_tenure_and_both(sandbox: msp.Sandbox, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    source = tmp_path / "in.csv"
    pd.DataFrame({"phone": ["13900000003", "13800138000", "junk"]}).to_csv(source, index=False)
    env = {
        **os.environ,
        "TENCENTCLOUD_SECRET_ID": sandbox.secret_id,
        "TENCENTCLOUD_SECRET_KEY": sandbox.secret_key,
    }
    cache = str(tmp_path / "c.sqlite3")
    base = [sys.executable, "-m", "mobilestatus_pandas.cli", "check", str(source), "-c", "phone",
            "--endpoint", sandbox.url, "--no-progress", "--cache", cache]  # fmt: skip
    done = subprocess.run(
        [*base, "-o", str(tmp_path / "t.csv"), "--action", "tenure"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(tmp_path / "t.csv")
    assert "tenure_number" not in written.columns, "numbers are written only when asked"
    assert "mobile_status" not in written.columns
    assert written["tenure_band"].tolist()[:2] == ["[3,6)", "[24,+)"]
    assert "3 rows, 2 distinct numbers: 2 calls, 2 billed" in done.stdout
    done = subprocess.run(
        [*base, "-o", str(tmp_path / "b.csv"), "--action", "both"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    both = pd.read_csv(tmp_path / "b.csv")
    assert both["mobile_status"].tolist() == ["normal", "out_of_service", "invalid"]
    assert both["tenure_status"].tolist() == ["known", "known", "invalid"]
    assert "status: 3 rows" in done.stdout
    assert "tenure: 3 rows" in done.stdout
    assert "0 calls" in done.stdout.split("tenure:")[1], "tenure came from the cache"
    assert sandbox.stats()["requests_by_action"] == {STATUS_API: 2, TENURE_ACTION: 2}


def test_summary_compare_and_plots_group_by_tenure_band() -> None:
    import matplotlib

    matplotlib.use("Agg")
    numbers = [f"139{i:08d}" for i in range(3000, 3300)]
    with msp.Sandbox(rate_limit=500) as sb:
        client = sb.client(rate_limit=500)
        out = pd.DataFrame(
            {"phone": numbers, "fraud": [i % 3 == 0 for i in range(300)]}
        ).mobile.check("phone", client=client, progress=False)
    table = out.mobile.summary(by="tenure_band")
    bands = {str(k) for k in table.index.get_level_values(0)}
    assert set(tenure.BANDS) <= bands
    compared = out.mobile.compare(by="tenure_band")
    assert set(tenure.BANDS) <= set(compared["group"].astype(str))
    ax = out.mobile.plot(kind="health", by="tenure_band")
    assert len(ax.get_yticklabels()) >= len(tenure.BANDS)
    ax = out.mobile.plot(kind="tenure", by="fraud")
    assert {t.get_text().split("  ")[0] for t in ax.get_yticklabels()} == {"True", "False"}
    # New lines as a second signal beside dead lines.
    new_line = out["tenure_months_max"].le(tenure.NEW_LINE_MONTHS).fillna(False)
    assert 0 < new_line.mean() < 0.3


def test_check_shares_one_budget_across_actions(sandbox: msp.Sandbox) -> None:
    client = sandbox.client()
    numbers = [f"139{i:08d}" for i in range(4000, 4030)]
    with pytest.warns(msp.RunStoppedWarning, match="max_billed"):
        out = pd.DataFrame({"phone": numbers}).mobile.check(
            "phone", client=client, progress=False, max_billed=8
        )
    billed = sandbox.stats()["billed_by_action"]
    assert sum(billed.values()) <= 8, billed
    assert int(out["mobile_billed"].sum()) + int(out["tenure_billed"].sum()) <= 8
    assert (out["mobile_status"] == "not_checked").any()
    assert (out["tenure_status"] == "not_checked").any()


def test_shared_gate_waits_for_calls_in_flight_and_stops_only_at_the_budget() -> None:
    from mobilestatus_pandas.engine.checks import WAIT, SharedGate

    gate = SharedGate(max_billed=3)
    assert [gate.try_reserve() for _ in range(3)] == [None, None, None]
    assert gate.try_reserve() == WAIT, "3 in flight may all be billed: wait, do not stop"
    gate.after_answer("-1", billed=False, error_code=None)  # an unbilled answer gives it back
    assert gate.try_reserve() is None
    gate.after_no_answer(possibly_billed=True)  # sent, no answer: counted as billed
    gate.after_answer("0", billed=True, error_code=None)
    assert (gate.committed, gate.reserved) == (2, 1)
    assert gate.try_reserve() == WAIT
    gate.after_answer("0", billed=True, error_code=None)
    assert gate.try_reserve() == "max_billed reached", "billed + possibly billed = budget"
    gate = SharedGate(max_billed=3)
    gate.stop("interrupted")
    assert gate.try_reserve() == "interrupted"
    assert SharedGate(max_billed=None).try_reserve() is None


def test_a_call_waiting_on_the_shared_budget_goes_when_one_in_flight_is_not_billed() -> None:
    import threading

    from mobilestatus_pandas.engine.checks import SharedGate

    gate, never = SharedGate(max_billed=1), threading.Event()
    assert gate.before_call(never) is None
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(gate.before_call(never)), daemon=True)
    waiter.start()
    assert got == [], "the budget is reserved by the call in flight"
    gate.after_answer("-1", billed=False, error_code=None)
    waiter.join(timeout=30)
    assert got == [None], "the unit came back: the waiting call goes"
    stopped = threading.Event()
    waiter = threading.Thread(target=lambda: got.append(gate.before_call(stopped)), daemon=True)
    waiter.start()
    stopped.set()  # its run was stopped while it waited
    waiter.join(timeout=30)
    assert got[1:] == ["interrupted"]
    assert gate.reason is None, "one run's stop is not the check's"


def test_check_bills_up_to_its_budget_with_calls_in_flight() -> None:
    """Issue 21: two actions, max_billed=40, 300 ms latency: the service bills 36 to 40 (the
    gate used to stop for good when billed + in flight reached 40: 22 to 32)."""
    from mobilestatus_pandas.datasets import random_numbers

    numbers = random_numbers(150, seed=21)
    with msp.Sandbox(latency_ms=300) as sb:
        client = sb.client(cache=None)
        with pytest.warns(msp.RunStoppedWarning, match="max_billed"):
            out = pd.DataFrame({"phone": numbers}).mobile.check(
                "phone", client=client, progress=False, max_billed=40
            )
        billed = sum(sb.stats()["billed_by_action"].values())
    assert 36 <= billed <= 40, billed
    ledger = client.ledger()
    assert int(ledger["billed"].fillna(True).sum()) >= billed, "billed + possibly billed"
    assert int(out["mobile_billed"].sum()) + int(out["tenure_billed"].sum()) == billed
    for action in ("status", "tenure"):
        assert out.attrs["mobilestatus"][action]["stop_reason"] == "max_billed reached"


def test_a_sampled_check_asks_every_action_about_the_same_numbers() -> None:
    from mobilestatus_pandas.datasets import random_numbers

    numbers = random_numbers(400, seed=22)
    with msp.Sandbox(rate_limit=500) as sb:
        client = sb.client(cache=None, rate_limit=500)
        out = pd.DataFrame({"phone": numbers}).mobile.check(
            "phone", client=client, progress=False, sample=60
        )
        requests_by_action = sb.stats()["requests_by_action"]
    asked_status = set(out.loc[out["mobile_status"] != "not_checked", "phone"])
    asked_tenure = set(out.loc[out["tenure_status"] != "not_checked", "phone"])
    assert len(asked_status) == 60
    assert asked_status == asked_tenure, "one draw for both actions"
    assert requests_by_action == {STATUS_API: 60, TENURE_ACTION: 60}
    seeds = {out.attrs["mobilestatus"][a]["sample"]["seed"] for a in ("status", "tenure")}
    assert len(seeds) == 1


def test_a_background_run_of_tenure_is_shaped_like_the_result() -> None:
    from mobilestatus_pandas.engine.options import RunOptions
    from mobilestatus_pandas.engine.run import start

    numbers = ["13900000003", "13900000024", "junk", None, "13900000102"]
    with msp.Sandbox(latency_ms=200) as sb:
        client = sb.client()
        run = start(client, pd.Series(numbers), RunOptions(action="tenure"))
        early = run.partial()
        out = run.result(timeout=60)
    assert early.columns.tolist() == [*msp.TENURE_COLUMNS, "key"]
    assert early.dtypes.to_dict() == out.dtypes.to_dict()
    assert early["status"].tolist()[2:4] == ["invalid", "missing"]
    assert out["status"].tolist() == ["known", "known", "invalid", "missing", "not_found"]
    assert out["band"].tolist()[:2] == ["[3,6)", "[24,+)"]
    assert run.report.status_counts == {"known": 2, "invalid": 1, "missing": 1, "not_found": 1}
    assert run.partial().equals(out)


def test_df_mobile_start_takes_the_tenure_action(sandbox: msp.Sandbox) -> None:
    df = pd.DataFrame({"phone": ["13900000012", "13900000105"]})
    run = df.mobile.start("phone", client=sandbox.client(), action="tenure", progress=False)
    out = run.result(timeout=60)
    assert out.columns.tolist() == [
        "phone", *(f"tenure_{c}" for c in msp.TENURE_COLUMNS), "tenure_key"
    ]  # fmt: skip
    assert out["tenure_status"].tolist() == ["known", "daily_limit"]
    assert out["tenure_band"].tolist()[0] == "[12,24)"
