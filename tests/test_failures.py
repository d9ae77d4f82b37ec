"""What is billed when things fail, and giving up fast: against the sandbox on loopback.

The sandbox's ``billed_drop`` and ``billed_stall`` faults bill a lookup and then lose its
answer, as a network can; its counters are the service's side of the bill, the ledger ours.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from urllib3 import exceptions as urllib3_errors

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import random_numbers
from mobilestatus_pandas.engine.calls import RESIGN_AFTER_SECONDS, was_sent
from mobilestatus_pandas.engine.stops import (
    TRANSPORT_FAILED_ATTEMPTS,
    TRANSPORT_FAILURE_STREAK,
    RunStoppedWarning,
)
from mobilestatus_pandas.stores import SCHEMA_VERSION, CachedAnswer, LedgerEntry, SQLiteStore
from tests.conftest import FakeClock

pytestmark = pytest.mark.integration

#: Fast enough for tests; the sandbox allows as much.
RATE: dict[str, Any] = {"rate_limit": 200.0}
#: Short pauses between retries keep the tests quick (the count of attempts is unchanged).
QUICK: dict[str, Any] = {"backoff_seconds": 0.001, **RATE}


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def possibly_billed(ledger: pd.DataFrame) -> int:
    return int(ledger["billed"].isna().sum())


def billed(ledger: pd.DataFrame) -> int:
    return int(ledger["billed"].fillna(False).sum())


# -- not sent / sent without an answer --------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "sent"),
    [
        (requests.exceptions.ConnectTimeout("connect timed out"), False),
        (
            requests.exceptions.ConnectionError(
                urllib3_errors.MaxRetryError(
                    None,  # type: ignore[arg-type]
                    "/",
                    urllib3_errors.NewConnectionError(None, "refused"),  # type: ignore[arg-type]
                )
            ),
            False,
        ),
        (
            requests.exceptions.ConnectionError(
                urllib3_errors.MaxRetryError(
                    None,  # type: ignore[arg-type]
                    "/",
                    urllib3_errors.NameResolutionError("x.invalid", None, OSError("dns")),  # type: ignore[arg-type]
                )
            ),
            False,
        ),
        (requests.exceptions.SSLError("certificate verify failed"), False),
        (requests.exceptions.ReadTimeout("read timed out"), True),
        (
            requests.exceptions.ConnectionError(
                urllib3_errors.ProtocolError("Connection aborted.", ConnectionResetError())
            ),
            True,
        ),
        (requests.exceptions.ChunkedEncodingError("IncompleteRead"), True),
    ],
)
def test_what_counts_as_sent(error: requests.RequestException, sent: bool) -> None:
    assert was_sent(error) is sent


def test_a_closed_port_is_not_sent() -> None:
    client = msp.MobileStatusClient(
        f"http://127.0.0.1:{closed_port()}", "AKIDtest", "key", cache=None
    )
    with pytest.raises(msp.NotSentError) as info:
        client._send(client._prepare("13800000000"))
    assert not info.value.possibly_billed
    assert isinstance(info.value, msp.TransportError)


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("drop", "RemoteDisconnected"),
        ("billed_drop", "RemoteDisconnected"),
        ("billed_stall", "ReadTimeoutError"),
        ("http_502", "HTTP 502"),
        ("truncated", "UnparsableBody"),
    ],
)
def test_sent_without_an_answer_is_possibly_billed(fault: str, code: str) -> None:
    with msp.Sandbox(fault_rate=1.0, faults=(fault,), stall_seconds=5) as sb:
        client = sb.client(timeout=0.3)
        with pytest.raises(msp.NoAnswerError) as info:
            client._send(client._prepare("13800000000"))
        assert info.value.possibly_billed
        assert info.value.code == code
        assert sb.url in str(info.value)
        assert sb.stats()["billed"] == (1 if fault.startswith("billed_") else 0)


class _Forbidden(BaseHTTPRequestHandler):
    """A gateway that refuses every call with 403 (it never passes one on)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def forbidding_gateway() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Forbidden)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_gateways_4xx_is_an_unbilled_answer(forbidding_gateway: str) -> None:
    client = msp.MobileStatusClient(
        forbidding_gateway, "AKIDtest", "key", cache=None, backoff_seconds=0.001
    )
    with pytest.raises(msp.TransportError) as info:
        client._send(client._prepare("13800000000"))
    assert type(info.value) is msp.TransportError
    assert (info.value.status, info.value.possibly_billed) == (403, False)
    with pytest.raises(msp.TransportError, match="HTTP 403"):
        client.lookup_many(["13800000000", "13800000001"], progress=False)
    ledger = client.ledger()
    assert len(ledger) == client.max_retries + 1, "each refusal reached the gateway"
    assert ledger["billed"].eq(False).all(), "a refusal is an unbilled answer"
    assert ledger["error"].eq("HTTP 403").all()


# -- every possible charge is in the ledger ---------------------------------------------------


def test_every_billed_answer_lost_on_the_way_is_in_the_ledger() -> None:
    numbers = random_numbers(120, seed=21)
    with msp.Sandbox(fault_rate=0.3, faults=("billed_drop",), seed=5, **RATE) as sb:
        client = sb.client(price_per_call=0.5, max_retries=6, **QUICK)
        out = client.lookup_many(numbers, progress=False)
        stats = sb.stats()
    ledger = client.ledger()
    lost = stats["faults"]["billed_drop"]
    assert lost > 10
    assert possibly_billed(ledger) == lost, "each lost answer is one possibly billed row"
    assert billed(ledger) + possibly_billed(ledger) >= stats["billed"]
    assert billed(ledger) + possibly_billed(ledger) == stats["billed"], "and nothing more"
    assert len(ledger) == stats["requests"]
    unanswered = ledger[ledger["billed"].isna()]
    assert unanswered["error"].eq("RemoteDisconnected").all()
    assert unanswered["request_id"].isna().all()
    assert unanswered["result"].isna().all()
    assert unanswered["cost"].isna().all(), "cost unknown: at most one price"

    report = out.attrs["mobilestatus"]
    assert report["possibly_billed"] == lost
    assert report["billed_calls"] == billed(ledger)
    assert report["worst_case_cost"] == pytest.approx(0.5 * (billed(ledger) + lost))
    assert report["calls"] == len(ledger)
    # retried (retry_ambiguous=True): every row has its answer
    assert not out["status"].isin(["error", "not_checked"]).any()
    assert stats["numbers_billed_more_than_once"] > 0, "the price of retrying: paid twice"

    table = client.billing()
    assert table["possibly_billed"].sum() == lost
    assert table["billed"].sum() == billed(ledger)
    assert table["calls"].sum() == len(ledger)
    assert table["worst_case_cost"].sum() == pytest.approx(table["cost"].sum() + 0.5 * lost)


def test_without_retry_ambiguous_the_row_stays_an_error_possibly_billed() -> None:
    numbers = random_numbers(60, seed=22)
    with msp.Sandbox(fault_rate=0.4, faults=("billed_drop",), seed=6, **RATE) as sb:
        client = sb.client(retry_ambiguous=False, **QUICK)
        out = client.lookup_many(numbers, progress=False)
        stats = sb.stats()
    lost = stats["faults"]["billed_drop"]
    assert lost > 5
    assert stats["requests"] == len(numbers), "no call was sent twice"
    assert stats["numbers_billed_more_than_once"] == 0
    errors = out[out["status"] == "error"]
    assert len(errors) == lost
    assert errors["billed"].isna().all(), "the row says: possibly billed"
    assert errors["error"].eq("RemoteDisconnected").all()
    assert possibly_billed(client.ledger()) == lost
    assert out.attrs["mobilestatus"]["possibly_billed"] == lost


def test_read_timeouts_after_billing_are_possibly_billed() -> None:
    numbers = random_numbers(40, seed=23)
    with msp.Sandbox(
        fault_rate=0.25, faults=("billed_stall",), stall_seconds=5, seed=7, **RATE
    ) as sb:
        client = sb.client(timeout=0.3, **QUICK)
        out = client.lookup_many(numbers, progress=False)
        stats = sb.stats()
    ledger = client.ledger()
    stalled = stats["faults"]["billed_stall"]
    assert stalled > 3
    assert possibly_billed(ledger) == stalled
    assert ledger.loc[ledger["billed"].isna(), "error"].eq("ReadTimeoutError").all()
    assert billed(ledger) + possibly_billed(ledger) >= stats["billed"]
    assert out.attrs["mobilestatus"]["possibly_billed"] == stalled


@pytest.mark.parametrize("retry_ambiguous", [True, False])
def test_max_billed_holds_when_answers_are_lost(retry_ambiguous: bool) -> None:
    budget = 30
    numbers = random_numbers(150, seed=24)
    with msp.Sandbox(fault_rate=0.5, faults=("billed_drop",), seed=8, **RATE) as sb:
        client = sb.client(retry_ambiguous=retry_ambiguous, max_retries=6, **QUICK)
        with pytest.warns(RunStoppedWarning, match="max_billed"):
            out = client.lookup_many(numbers, progress=False, max_billed=budget)
        stats = sb.stats()
    ledger = client.ledger()
    assert stats["billed"] <= budget, "the service never bills more than the budget"
    assert billed(ledger) + possibly_billed(ledger) <= budget
    assert billed(ledger) + possibly_billed(ledger) >= stats["billed"]
    assert billed(ledger) + possibly_billed(ledger) >= budget - 2, "the budget is used"
    report = out.attrs["mobilestatus"]
    assert report["stop_reason"] == "max_billed reached"
    assert report["billed_calls"] + report["possibly_billed"] <= budget
    assert out.loc[out["status"] == "not_checked", "error"].eq("max_billed reached").all()


# -- giving up fast ---------------------------------------------------------------------------


def test_a_closed_port_raises_at_the_first_call_naming_the_endpoint() -> None:
    port = closed_port()
    secret = "sEcReTkEy-not-to-be-shown"
    client = msp.MobileStatusClient(
        f"http://127.0.0.1:{port}", "AKIDtest", secret, cache=None, **QUICK
    )
    with pytest.raises(msp.NotSentError) as info:
        client.lookup_many(random_numbers(200, seed=25), progress=False)
    message = str(info.value)
    assert f"http://127.0.0.1:{port}/" in message
    assert "nothing was billed" in message
    assert secret not in message
    assert secret not in repr(info.value)
    report = client.last_run
    assert report is not None
    assert report.not_sent == client.max_retries + 1, "one number's attempts, no more"
    assert client.ledger().empty, "nothing reached a service"


def test_a_service_dropping_every_connection_costs_one_calls_attempts() -> None:
    with msp.Sandbox(fault_rate=1.0, faults=("drop",), **RATE) as sb:
        client = sb.client(**QUICK)
        with pytest.raises(msp.NoAnswerError, match="first call of the run") as info:
            client.lookup_many(random_numbers(200, seed=26), progress=False)
        requests_made = sb.stats()["requests"]
        assert sb.url in str(info.value)
    assert requests_made == client.max_retries + 1 < 30
    assert "may have been billed" in str(info.value)
    ledger = client.ledger()
    assert possibly_billed(ledger) == requests_made, "each was sent: possibly billed"


def test_without_retries_a_dead_service_stops_the_run_after_the_streak() -> None:
    # Ambiguous calls are not retried: one lost answer proves little, so numbers go one at a
    # time until one is answered, and the streak stops the run.
    with msp.Sandbox(fault_rate=1.0, faults=("drop",), **RATE) as sb:
        client = sb.client(retry_ambiguous=False, **QUICK)
        with pytest.warns(RunStoppedWarning, match="transport failures"):
            out = client.lookup_many(random_numbers(200, seed=29), progress=False)
        assert sb.stats()["requests"] == TRANSPORT_FAILURE_STREAK < 30
    assert out.attrs["mobilestatus"]["possibly_billed"] == TRANSPORT_FAILURE_STREAK
    assert (out["status"] == "not_checked").sum() == 200 - TRANSPORT_FAILURE_STREAK


@pytest.mark.parametrize("max_workers", [4, 16, None])
def test_a_streak_of_transport_failures_mid_run_stops_it(max_workers: int | None) -> None:
    numbers = random_numbers(200, seed=27)
    with msp.Sandbox(**RATE) as sb:
        url = sb.url
        client = sb.client(max_workers=max_workers, **QUICK)
        send = client._send

        def then_the_line_goes_dead(prepared: requests.PreparedRequest) -> Any:
            answer = send(prepared)  # the first call is answered; then every connection drops
            sb.config.faults, sb.config.fault_rate = ("drop",), 1.0
            return answer

        client._send = then_the_line_goes_dead  # type: ignore[method-assign]
        with pytest.warns(RunStoppedWarning, match="transport failures") as caught:
            out = client.lookup_many(numbers, progress=False)
        stats = sb.stats()
    report = out.attrs["mobilestatus"]
    assert report["stop_reason"] == "transport failures"
    assert url in report["stop_detail"]
    assert url in str(caught[0].message)
    # Stopped after TRANSPORT_FAILED_ATTEMPTS attempts in a row without an answer, or a
    # streak of numbers, whichever came first; the attempts already sent end on their own.
    most = 1 + min(TRANSPORT_FAILED_ATTEMPTS, TRANSPORT_FAILURE_STREAK * (client.max_retries + 1))
    assert stats["requests"] <= most + client.max_workers, "stopped early, not at the end"
    if max_workers == 16:  # many numbers in flight: their attempts count together
        assert stats["requests"] <= 1 + 30 + 16, "30 attempts in a row without an answer"
    assert possibly_billed(client.ledger()) == stats["requests"] - 1, "each is in the ledger"
    not_checked = out["status"] == "not_checked"
    assert not_checked.sum() >= len(numbers) - most - client.max_workers
    assert out.loc[not_checked, "error"].str.contains("in a row").all()


def test_answers_between_failures_break_the_streak() -> None:
    # A fifth of attempts fail, but never ten numbers in a row after retries: no stop.
    with msp.Sandbox(fault_rate=0.2, faults=("drop",), seed=9, **RATE) as sb:
        client = sb.client(max_retries=1, **QUICK)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RunStoppedWarning)
            out = client.lookup_many(random_numbers(100, seed=28), progress=False)
    assert out.attrs["mobilestatus"]["stop_reason"] is None
    assert (out["status"] == "error").sum() >= 1, "some numbers failed after one retry"


# -- stale signatures --------------------------------------------------------------------------


def test_a_call_that_waited_long_for_its_slot_is_signed_again(clock: FakeClock) -> None:
    with msp.Sandbox(clock=clock) as sb:  # the service and the client share one fake time
        client = sb.client(clock=clock, sleep=clock.sleep)
        stamps: list[int] = []
        send = client._send

        def record(prepared: requests.PreparedRequest) -> Any:
            stamps.append(int(prepared.headers["X-TC-Timestamp"]))
            return send(prepared)

        client._send = record  # type: ignore[method-assign]

        def slot_after(seconds: float) -> Any:
            def acquire() -> bool:
                clock.advance(seconds)
                return True

            return acquire

        # A long wait (a Redis outage, many workers at a low rate): more than the 300 s
        # a signature lives. Sent as signed, it would be refused as expired.
        started = clock()
        outcome = client.call("13800000000", acquire=slot_after(400))
        assert outcome.result.status == "normal"
        assert stamps == [int(started + 400)], "signed when sent, not when prepared"

        # A short wait keeps the signature made before it.
        stamps.clear()
        started = clock()
        assert client.call("13800000001", acquire=slot_after(RESIGN_AFTER_SECONDS / 2))
        assert stamps == [int(started)]


# -- billing days and the ledger file ---------------------------------------------------------


def test_billing_days_are_tencents_utc_plus_8(clock: FakeClock) -> None:
    client = msp.MobileStatusClient("http://127.0.0.1:1", "AKIDx", "k", cache=None)
    evening_utc = pd.Timestamp("2026-01-01 17:30", tz="UTC").timestamp()  # 01:30 on the 2nd
    morning_utc = pd.Timestamp("2026-01-01 03:00", tz="UTC").timestamp()  # 11:00 on the 1st
    for at, was_billed in ((morning_utc, True), (evening_utc, True), (evening_utc + 1, None)):
        client.store.record(
            LedgerEntry(at, "k", None, None, was_billed, None, None, "run", "AKIDx"), None
        )
    beijing = client.billing()
    assert [str(p) for p in beijing.index] == ["2026-01-01", "2026-01-02"]
    assert beijing["billed"].tolist() == [1, 1]
    assert beijing["possibly_billed"].tolist() == [0, 1]
    utc = client.billing(tz="UTC")
    assert [str(p) for p in utc.index] == ["2026-01-01"]
    assert utc["billed"].tolist() == [2]
    with pytest.raises(msp.InputError, match="tz="):
        client.billing(tz="Mars/Olympus")


OLD_LEDGER = """
CREATE TABLE answers (
    key TEXT PRIMARY KEY, result TEXT NOT NULL, description TEXT, status_code INTEGER,
    request_id TEXT, checked_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT, called_at REAL NOT NULL, key TEXT NOT NULL,
    result TEXT, status_code INTEGER, billed INTEGER NOT NULL, request_id TEXT, error TEXT,
    run_id TEXT NOT NULL, secret_id TEXT NOT NULL
);
CREATE TABLE claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, until REAL NOT NULL) WITHOUT ROWID;
INSERT INTO ledger VALUES (7, 100.0, 'k1', '0', 0, 1, 'req-1', NULL, 'run', 'AKID');
INSERT INTO ledger VALUES (9, 101.0, 'k2', '-1', 99, 0, 'req-2', NULL, 'run', 'AKID');
INSERT INTO answers VALUES ('k1', '0', 'ok', 0, 'req-1', 100.0);
PRAGMA user_version=1;
"""


def old_cache_file(path: Path) -> Path:
    """A cache file as version 1 of the library wrote it (``billed INTEGER NOT NULL``)."""
    conn = sqlite3.connect(path)
    conn.executescript(OLD_LEDGER)
    conn.close()
    return path


def test_an_old_cache_file_is_migrated_on_open(tmp_path: Path) -> None:
    path = old_cache_file(tmp_path / "old.sqlite3")
    store = SQLiteStore(path)
    assert [(e.key, e.billed) for e in store.ledger()] == [("k1", True), ("k2", False)]
    assert store.get_many(["k1"], 0)["k1"].request_id == "req-1", "the cache survives"
    lost = LedgerEntry(102.0, "k3", None, None, None, None, "ReadTimeoutError", "r", "A")
    store.record(lost, None)
    assert [e.billed for e in store.ledger()] == [True, False, None]
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [r[0] for r in conn.execute("SELECT id FROM ledger ORDER BY id")] == [7, 9, 10]
    conn.close()


VERSION_2 = OLD_LEDGER.replace("billed INTEGER NOT NULL", "billed INTEGER").replace(
    "user_version=1", "user_version=2"
)


def test_a_version_2_file_gains_the_action_and_detail_columns(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(VERSION_2)
    conn.close()
    store = SQLiteStore(path)
    old = store.ledger()
    assert [(e.key, e.action) for e in old] == [("k1", "MobileStatus"), ("k2", "MobileStatus")]
    assert store.get_many(["k1"], 0)["k1"].detail is None, "the cache survives"
    tenure = LedgerEntry(102.0, "k3", "-3", None, True, "req-3", None, "r", "A",
                         action="MobileNetworkTimeVerification")  # fmt: skip
    store.record(tenure, CachedAnswer("-3", "no", None, "req-3", 102.0, detail="{}"))
    assert store.ledger()[-1] == tenure
    assert store.get_many(["k3"], 0)["k3"].detail == "{}"
    store.close()
    again = SQLiteStore(path)  # opening it again changes nothing
    assert [e.action for e in again.ledger()] == ["MobileStatus"] * 2 + [tenure.action]
    again.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    conn.close()


def test_many_processes_opening_an_old_file_migrate_it_once(tmp_path: Path) -> None:
    path = old_cache_file(tmp_path / "old.sqlite3")
    script = (
        "import sys; from mobilestatus_pandas.stores import SQLiteStore, LedgerEntry;"
        "s = SQLiteStore(sys.argv[1]);"
        "s.record(LedgerEntry(200.0, sys.argv[2], None, None, None, None, 'x', 'r', 'A'), None)"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), f"p{i}"]) for i in range(6)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 6
    store = SQLiteStore(path)
    entries = store.ledger()
    store.close()
    assert [e.key for e in entries[:2]] == ["k1", "k2"], "the old rows are kept, once"
    assert sorted(e.key for e in entries[2:]) == [f"p{i}" for i in range(6)]
    assert all(e.billed is None for e in entries[2:])


def test_a_client_on_an_old_file_reads_its_ledger(tmp_path: Path) -> None:
    path = old_cache_file(tmp_path / "old.sqlite3")
    client = msp.MobileStatusClient("http://127.0.0.1:1", "AKIDx", "k", cache=path)
    ledger = client.ledger()
    assert str(ledger["billed"].dtype) == "boolean"
    assert ledger["billed"].tolist() == [True, False]
    client.close()


def test_plots_show_possibly_billed_calls() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    with msp.Sandbox(fault_rate=0.3, faults=("billed_drop",), seed=5, **RATE) as sb:
        client = sb.client(retry_ambiguous=False, **QUICK)
        out = client.lookup_many(random_numbers(40, seed=30), progress=False)
    lost = out.attrs["mobilestatus"]["possibly_billed"]
    assert lost > 0
    run_bars = out.mobile.plot(kind="billing")
    labels = [t.get_text() for t in run_bars.get_xticklabels()]
    assert "possibly billed" in labels
    assert run_bars.patches[labels.index("possibly billed")].get_height() == lost
    over_time = client.ledger().mobile.plot(kind="billing")
    _, names = over_time.get_legend_handles_labels()
    assert "possibly billed" in names
    assert "Beijing time" in over_time.get_title()
    assert sum(p.get_height() for p in over_time.patches) == len(client.ledger())


def test_retry_ambiguous_travels_to_dask_workers() -> None:
    msd = pytest.importorskip("mobilestatus_pandas.dask")
    with msp.Sandbox() as sb:
        for choice in (True, False):
            config = msd.WorkerConfig.from_client(sb.client(retry_ambiguous=choice))
            assert config.build().retry_ambiguous is choice
