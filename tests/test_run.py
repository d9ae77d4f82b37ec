"""Runs in the background (``df.mobile.start``): against the real sandbox on loopback.

The waits here are for a real server's answers (a condition polled with a deadline), not
sleeps standing in for a clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import signups
from mobilestatus_pandas.engine import answers, display, stops
from mobilestatus_pandas.engine import run as run_module
from mobilestatus_pandas.engine.options import RunOptions
from mobilestatus_pandas.views import run_view
from tests.conftest import FastSandbox

#: How long a test waits for a condition on a real server before failing.
DEADLINE_SECONDS = 30.0


def wait_for(condition: Callable[[], bool], seconds: float = DEADLINE_SECONDS) -> None:
    """Poll ``condition`` until it holds (the sandbox is a real server: answers take time)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def answered(run: msp.Run) -> int:
    return run.progress()[0]


@pytest.fixture
def slow_sandbox() -> msp.Sandbox:
    """A sandbox that answers in about 50 ms at 20 calls/s: a run of 300 numbers takes 15 s."""
    with msp.Sandbox(latency_ms=50) as sb:
        yield sb


@pytest.fixture
def frame() -> pd.DataFrame:
    """Sign-ups with messy numbers, repeats, invalid and missing values; a string index."""
    df = signups(rows=600, distinct=300, seed=3)
    df.index = [f"row{i}" for i in range(len(df))]
    return df


@pytest.mark.serial
def test_start_returns_at_once_and_the_run_goes_on(
    slow_sandbox: msp.Sandbox, frame: pd.DataFrame
) -> None:
    client = slow_sandbox.client(cache=None)
    began = time.monotonic()
    run = frame.mobile.start("phone", client=client)
    assert time.monotonic() - began < 1.0
    assert not run.done()
    wait_for(lambda: answered(run) >= 5)
    assert not run.done()
    run.stop()
    run.result(timeout=DEADLINE_SECONDS)


def test_partial_grows_and_keeps_the_shape_of_status(
    slow_sandbox: msp.Sandbox, frame: pd.DataFrame
) -> None:
    client = slow_sandbox.client(cache=None, price_per_call=0.05)
    run = frame.mobile.start("phone", client=client)
    wait_for(lambda: answered(run) >= 3)
    early = run.partial()
    wait_for(lambda: answered(run) >= 15)
    later = run.partial()
    run.stop()
    final = run.result(timeout=DEADLINE_SECONDS)
    with pytest.warns(msp.RunStoppedWarning):
        reference = frame.mobile.status(
            "phone", client=slow_sandbox.client(cache=None), max_billed=1, progress=False
        )
    for partial in (early, later):
        assert partial.index.equals(frame.index)
        assert list(partial.columns) == list(reference.columns)
        pd.testing.assert_series_equal(partial.dtypes, reference.dtypes)
        pending = partial["mobile_error"] == answers.NOT_ANSWERED_YET
        assert (partial.loc[pending, "mobile_status"] == "not_checked").all()
        assert partial["phone"].equals(frame["phone"])
    answered_early = (early["mobile_checked_at"].notna()).sum()
    answered_later = (later["mobile_checked_at"].notna()).sum()
    assert 0 < answered_early < answered_later
    # every answer a partial frame showed is in the final frame, unchanged
    shown = later["mobile_checked_at"].notna()
    pd.testing.assert_frame_equal(later[shown], final[shown], check_like=False)
    # refusals need no call: they are there from the start
    assert (early["mobile_status"] == "missing").sum() == (
        final["mobile_status"] == "missing"
    ).sum()


def test_answer_table_equals_the_engine_result(
    fast_sandbox: FastSandbox, frame: pd.DataFrame
) -> None:
    client = fast_sandbox.client(cache=None, validate="local")
    warm = frame["phone"].iloc[:100]
    run_module.start(client, warm).result(timeout=DEADLINE_SECONDS)  # some answers cached
    run = run_module.start(client, frame["phone"].iloc[:200])
    out = run.result(timeout=DEADLINE_SECONDS)
    assert run._table is not None
    table = run._table.frame(frame.index[:200])
    pd.testing.assert_frame_equal(table, out[table.columns], check_exact=True)
    assert out["from_cache"].any()
    assert out["billed"].any()
    assert out["billed"].isna().sum() == 0


@pytest.mark.serial
def test_stop_ends_sending_within_two_seconds_and_keeps_every_answer(
    slow_sandbox: msp.Sandbox, frame: pd.DataFrame, tmp_path: object
) -> None:
    client = slow_sandbox.client(price_per_call=0.05)  # the default cache
    run = frame.mobile.start("phone", client=client)
    wait_for(lambda: answered(run) >= 20)
    stopped_at = time.monotonic()
    run.stop()
    out = run.result(timeout=DEADLINE_SECONDS)
    assert time.monotonic() - stopped_at < 2.0
    report = out.attrs["mobilestatus"]
    assert report["stop_reason"] == "stopped" == run.report.stop_reason
    sent = slow_sandbox.stats()["requests"]
    assert 20 <= sent < 150  # far from the 265 numbers of a full run
    unanswered = out["mobile_status"] == "not_checked"
    assert unanswered.sum() > 100
    assert (out.loc[unanswered, "mobile_error"] == stops.STOPPED_DETAIL).all()
    # every billed answer is in the frame, the ledger and the cache
    billed = slow_sandbox.stats()["billed"]
    assert int(out["mobile_billed"].fillna(False).sum()) == billed == report["billed_calls"]
    assert int(client.ledger()["billed"].fillna(False).sum()) == billed
    assert (
        run_module.start(client, out.loc[~unanswered, "phone"])
        .result(timeout=DEADLINE_SECONDS)
        .attrs["mobilestatus"]["calls"]
        == 0
    )
    assert slow_sandbox.stats()["requests"] == sent  # nothing sent after the stop


def test_resume_after_stop_on_a_new_sandbox_bills_nothing_twice(frame: pd.DataFrame) -> None:
    """As after a kernel restart: a new Sandbox (another port), a new client, the default
    cache; only what was not answered is called."""
    with msp.Sandbox(latency_ms=50) as first:
        run = frame.mobile.start("phone", client=first.client())
        wait_for(lambda: answered(run) >= 20)
        run.stop()
        stopped = run.result(timeout=DEADLINE_SECONDS)
        billed_first = first.stats()["billed_numbers"]
    assert billed_first >= 20
    with FastSandbox() as second:  # at its own pace: what is resumed is the point here
        resumed = frame.mobile.start("phone", client=second.client()).result(
            timeout=DEADLINE_SECONDS
        )
        billed_second = second.stats()["billed_numbers"]
        assert second.stats()["numbers_billed_more_than_once"] == 0
    report = resumed.attrs["mobilestatus"]
    assert report["stop_reason"] is None
    assert (resumed["mobile_status"] != "not_checked").all()
    assert report["cache_hits"] >= billed_first
    # every billable number paid for exactly once over the two sandboxes
    billable = resumed["mobile_result"].eq("0") & resumed["mobile_billed"].fillna(True)
    answered_before = stopped["mobile_result"].eq("0")
    assert (
        billed_first + billed_second
        == resumed.loc[resumed["mobile_result"].eq("0"), "mobile_number"].nunique()
    )
    assert not (billable & answered_before).any()  # nothing answered before was billed again


def test_authentication_failure_is_raised_by_result() -> None:
    with msp.Sandbox(account_error="AuthFailure.SecretIdNotFound") as sb:
        run = pd.DataFrame({"phone": ["13800000000", "13800000002"]}).mobile.start(
            "phone", client=sb.client(cache=None)
        )
        with pytest.raises(msp.AuthenticationError):
            run.result(timeout=DEADLINE_SECONDS)
    assert run.done()
    assert run.state == "failed"
    assert isinstance(run.error, msp.AuthenticationError)
    assert repr(run).startswith("<msp.Run failed: AuthenticationError")
    bundle = run._repr_mimebundle_()
    assert "AuthenticationError" in bundle["text/html"]


def test_an_unreachable_endpoint_is_raised_by_result() -> None:
    client = msp.MobileStatusClient(
        endpoint="http://127.0.0.1:9", secret_id="AKIDx", secret_key="k" * 16, cache=None,
        backoff_seconds=0.001,
    )  # fmt: skip
    run = pd.Series(["13800000000"]).mobile.start(client=client)
    with pytest.raises(msp.TransportError, match=r"127\.0\.0\.1:9"):
        run.result(timeout=DEADLINE_SECONDS)


def test_two_runs_on_one_client_are_refused_and_runs_on_two_clients_go_together(
    slow_sandbox: msp.Sandbox, frame: pd.DataFrame
) -> None:
    client = slow_sandbox.client(cache=None)
    first = frame.mobile.start("phone", client=client)
    with pytest.raises(msp.RunInProgressError, match="another client"):
        frame.mobile.start("phone", client=client)
    small = frame.iloc[:40]
    with msp.Sandbox() as other:
        second = small.mobile.start("phone", client=other.client(cache=None))
        assert not first.done()
        out = second.result(timeout=DEADLINE_SECONDS)
    assert (out["mobile_status"] != "not_checked").all()
    first.stop()
    first.result(timeout=DEADLINE_SECONDS)
    # once the first has ended, the client takes another run
    again = small.mobile.start("phone", client=client)
    again.result(timeout=DEADLINE_SECONDS)


def test_result_timeout_says_what_to_do(slow_sandbox: msp.Sandbox, frame: pd.DataFrame) -> None:
    run = frame.mobile.start("phone", client=slow_sandbox.client(cache=None))
    with pytest.raises(TimeoutError, match=r"run.stop\(\)"):
        run.result(timeout=0.01)
    run.stop()
    run.result(timeout=DEADLINE_SECONDS)


def test_options_are_checked_before_the_run_starts(frame: pd.DataFrame) -> None:
    with msp.Sandbox() as sb:
        with pytest.raises(msp.InputError, match="max_billed"):
            frame.mobile.start("phone", client=sb.client(cache=None), max_billed=-1)
        assert sb.stats()["requests"] == 0


def test_text_fallback_and_static_picture(fast_sandbox: FastSandbox, frame: pd.DataFrame) -> None:
    run = frame.iloc[:80].mobile.start(
        "phone", client=fast_sandbox.client(cache=None, price_per_call=0.05)
    )
    line = repr(run)  # at any moment: never a traceback
    assert line.startswith("<msp.Run ")
    run.result(timeout=DEADLINE_SECONDS)
    line = repr(run)
    called = run.progress()[1]
    assert called > 20
    assert f"done: {called} / {called} (100%) numbers called" in line
    assert "billed " in line
    assert "cost " in line
    assert "normal " in line
    bundle = run._repr_mimebundle_()
    assert bundle["image/png"]
    assert "data:image/png;base64," in bundle["text/html"]
    assert "<table" in bundle["text/html"]
    assert "normal" in bundle["text/html"]
    # IPython outside Jupyter: the display is the line of text
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    formatted, _ = shell.display_formatter.format(run)
    assert not formatted or "Traceback" not in str(formatted)


def test_run_widget_shows_progress_and_errors(
    fast_sandbox: FastSandbox, frame: pd.DataFrame
) -> None:
    from mobilestatus_pandas.views.plots import STATUS_COLORS
    from mobilestatus_pandas.views.widgets import RunWidget

    run = frame.iloc[:80].mobile.start(
        "phone", client=fast_sandbox.client(cache=None, price_per_call=0.05)
    )
    widget = RunWidget()
    run_view.refresh(widget, run)  # while it runs: no exception whatever the moment
    run.result(timeout=DEADLINE_SECONDS)
    run_view.refresh(widget, run)
    assert widget.progress.value == widget.progress.max == run.progress()[1] > 20
    assert widget.state == "done"
    assert widget.progress.bar_style == "success"
    assert "billed" in widget.figures.value
    assert "calls/s" in widget.figures.value
    assert STATUS_COLORS["normal"] in widget.statuses.value
    with msp.Sandbox(account_error="AuthFailure.SecretIdNotFound") as bad:
        failed = frame.mobile.start("phone", client=bad.client(cache=None))
        with pytest.raises(msp.AuthenticationError):
            failed.result(timeout=DEADLINE_SECONDS)
    run_view.refresh(widget, failed)
    assert "AuthenticationError" in widget.error.value
    assert widget.state == "failed"


class RecordingHandle:
    """A stand-in for IPython's DisplayHandle: the bundles it was updated with."""

    def __init__(self) -> None:
        self.bundles: list[dict[str, object]] = []

    def update(self, bundle: dict[str, object], raw: bool = False) -> None:
        self.bundles.append(bundle)


@pytest.mark.parametrize("action", ["status", "tenure"])
def test_a_shown_run_shows_its_final_state_when_its_waiter_returns(
    sandbox: msp.Sandbox, frame: pd.DataFrame, action: str
) -> None:
    """What a saved notebook keeps: by the time ``result()`` returns (inside the cell that
    waits) every display of the run shows the end, as static HTML without the widget (so
    exported HTML shows it with or without widget state); a tenure run is titled as one."""
    run = frame.iloc[:120].mobile.start("phone", client=sandbox.client(cache=None), action=action)
    view = run_view._live_view(run)
    shown = RecordingHandle()
    view.add(shown)
    run.result(timeout=DEADLINE_SECONDS)
    assert shown.bundles, "updated before result() returned, not later by a thread"
    final = shown.bundles[-1]
    assert "application/vnd.jupyter.widget-view+json" not in final
    title = (
        "MobileNetworkTimeVerification run (line tenure)"
        if action == "tenure"
        else ("MobileStatus run")
    )
    assert f"{title}: done" in str(final["text/html"])
    answered, total = run.progress()
    assert f"{answered:,} / {total:,} (100%)" in str(final["text/html"])
    assert total > 50
    assert title in view.widget.title.value
    late = RecordingHandle()  # displayed again after the end: the final state at once
    view.add(late)
    assert late.bundles == [final] or "done" in str(late.bundles[-1]["text/html"])
    run_view.settle(run)  # once: a second waiter changes nothing
    assert len(shown.bundles) == 1


@pytest.mark.serial
def test_report_is_live(slow_sandbox: msp.Sandbox, frame: pd.DataFrame) -> None:
    run = frame.mobile.start("phone", client=slow_sandbox.client(cache=None, price_per_call=0.5))
    wait_for(lambda: answered(run) >= 10)
    report = run.report
    assert report.calls >= 10
    assert report.calls_per_second > 0
    assert report.eta_seconds is not None
    assert report.eta_seconds > 0
    assert report.cost == round(report.billed_calls * 0.5, 2)
    assert sum(report.status_counts.values()) == len(frame)
    run.stop()
    run.result(timeout=DEADLINE_SECONDS)


def test_partial_is_vectorised_on_many_rows() -> None:
    """A run's table over 200,000 rows gives its frame without a loop over the rows."""
    rng = np.random.default_rng(0)
    distinct = [f"138{n:08d}" for n in rng.choice(10**8, 50_000, replace=False)]
    row_codes = rng.integers(-1, len(distinct), 200_000)
    row_reasons = np.zeros(len(row_codes), dtype=np.int8)
    table = answers.AnswerTable(distinct, row_codes, row_reasons)
    table.fill(np.arange(len(distinct)), msp.LookupResult.unchecked(None, True, "not answered yet"))
    frame = table.frame(pd.RangeIndex(len(row_codes)))
    assert len(frame) == 200_000
    assert frame["number"].iloc[np.flatnonzero(row_codes >= 0)[0]] in distinct
    assert (frame.loc[row_codes < 0, "status"] == "missing").all()


def test_show_outside_a_kernel_is_text(sandbox: msp.Sandbox) -> None:
    run = pd.Series(["13800000000"]).mobile.start(client=sandbox.client(cache=None))
    run.result(timeout=DEADLINE_SECONDS)
    assert not run_view.in_jupyter()
    run._ipython_display_()  # prints the line through IPython's display, no widget
    assert run._display is None


class RecordingDisplay:
    """A display that records what the engine asks of it (the views' stand-in)."""

    def __init__(self) -> None:
        self.bars: list[tuple[int, bool]] = []
        self.labels: list[str | None] = []
        self.updates = 0
        self.shown: list[object] = []
        self.settled: list[object] = []

    def in_jupyter(self) -> bool:
        return False

    def progress_bar(self, total: int, enabled: bool, label: str | None = None) -> RecordingDisplay:
        self.bars.append((total, enabled))
        self.labels.append(label)
        return self

    def set_postfix(self, *args: object, **kwargs: object) -> None:
        pass

    def update(self, n: float | None = 1) -> None:
        self.updates += 1

    def close(self) -> None:
        pass

    def progress_line(self, run: object) -> str:
        return "recorded line"

    def bundle(self, run: object) -> dict[str, str]:
        return {"text/plain": "recorded bundle"}

    def show(self, run: object) -> None:
        self.shown.append(run)

    def settle(self, run: object) -> None:
        self.settled.append(run)


def test_the_package_hands_the_views_display_to_the_engine() -> None:
    """The engine shows runs through what the package installed, never importing the views."""
    assert display.current() is run_view.RUN_DISPLAY
    assert isinstance(run_view.RUN_DISPLAY, display.RunDisplay)


def test_a_run_is_shown_by_the_display_it_is_handed(sandbox: msp.Sandbox) -> None:
    shown_by = RecordingDisplay()
    values = pd.Series(["13800000000", "13800000002", "13800000000", "12"])
    run = run_module.start(
        sandbox.client(cache=None), values, RunOptions(progress=True), display=shown_by
    )
    out = run.result(timeout=DEADLINE_SECONDS)
    assert out["status"].tolist() == ["normal", "cancelled", "normal", "invalid"]
    assert shown_by.bars == [(2, True)], "one bar, for the two distinct numbers to call"
    assert shown_by.labels == ["MobileStatus"], "the bar names the action's API"
    assert shown_by.settled == [run], "the waiter has the display show the end"
    assert shown_by.updates == 2
    assert repr(run) == "<msp.Run recorded line>"
    assert run._repr_mimebundle_() == {"text/plain": "recorded bundle"}
    run._ipython_display_()
    assert shown_by.shown == [run]


def test_runs_started_after_an_install_use_the_display_installed(sandbox: msp.Sandbox) -> None:
    shown_by = RecordingDisplay()
    previous = display.install(shown_by)
    try:
        out = run_module.run_lookups(
            sandbox.client(cache=None), ["13800000000"], RunOptions(progress=True)
        )
    finally:
        assert display.install(previous) is shown_by
    assert display.current() is run_view.RUN_DISPLAY
    assert out["status"].tolist() == ["normal"]
    assert shown_by.bars == [(1, True)]
    assert len(shown_by.settled) == 1


def test_without_the_views_a_run_is_plain_text(sandbox: msp.Sandbox) -> None:
    run = run_module.start(
        sandbox.client(cache=None),
        ["13800000000"],
        RunOptions(progress=True),
        display=display.TextDisplay(),
    )
    run.result(timeout=DEADLINE_SECONDS)
    assert repr(run) == "<msp.Run done: 1/1 numbers answered>"
    assert run._repr_mimebundle_() == {"text/plain": "done: 1/1 numbers answered"}


def test_sandbox_answers_share_one_realm_apart_from_the_real_service(
    sandbox: msp.Sandbox,
) -> None:
    number = "13800000000"
    real = msp.MobileStatusClient(
        endpoint="faceid.tencentcloudapi.com", secret_id="AKIDx", secret_key="k" * 16
    )
    mine = sandbox.client()
    assert mine.cache_path == real.cache_path  # the default cache, for both
    assert mine.number_key(number) != real.number_key(number)
    with msp.Sandbox() as other:  # another port, as after a kernel restart
        assert other.port != sandbox.port
        assert other.client().number_key(number) == mine.number_key(number)
    assert (
        msp.MobileStatusClient(
            endpoint=sandbox.url, secret_id="AKIDx", secret_key="k" * 16, cache=None
        ).realm
        != mine.realm
    )
    real.close()
    mine.close()


def test_refusals_for_the_rate_are_counted_retried_and_shown(frame: pd.DataFrame) -> None:
    """A client paced at twice the account's limit (as if another used it): every refusal the
    service answered is in the report, every one retried, and the display says so."""
    with msp.Sandbox() as sb:
        client = sb.client(cache=None, rate_limit=40, backoff_seconds=0.01)
        run = frame.iloc[:200].mobile.start("phone", client=client)
        out = run.result(timeout=DEADLINE_SECONDS * 2)
        stats = sb.stats()
    report = out.attrs["mobilestatus"]
    assert stats["rate_limited"] > 0
    assert report["rate_limited"] == stats["rate_limited"]
    assert report["rate_limited_retries"] == report["rate_limited"]
    assert report["retries"] == 0, "a refusal for the rate is no failure of a number"
    assert report["calls"] == stats["requests"]
    assert not out["mobile_status"].isin(["error", "not_checked"]).any()
    line = repr(run)
    shown = f"refused for the rate {report['rate_limited']:,} (retried {report['rate_limited']:,})"
    assert shown in line


@pytest.mark.parametrize("store", ["sqlite", "redis", "redis 40 ms away"])
def test_closing_the_client_mid_run_records_every_charge_first(
    store: str, frame: pd.DataFrame, tmp_path: object, request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Issue 21: a with block ending while a background run goes on used to close the cache
    under the calls in flight: the service billed 37, the ledger held 34, and result()
    raised sqlite3.ProgrammingError. Now close() stops the run, waits for the calls in
    flight and records them, then closes; also with Redis across a real network (a
    delaying proxy: every write 80 ms or more)."""
    if store.startswith("redis"):
        cache = request.getfixturevalue("redis_url")
        monkeypatch.setenv("MOBILESTATUS_CACHE_KEY", "ab" * 32)
    else:
        cache = str(tmp_path / "cache.sqlite3")  # type: ignore[operator]
    if store == "redis 40 ms away":
        from tests.netproxy import DelayProxy

        server = request.getfixturevalue("redis_server")
        proxy = DelayProxy(server.port, delay_seconds=0.04).start()
        request.addfinalizer(proxy.close)
        cache = proxy.url
    with msp.Sandbox(latency_ms=300) as sb:  # about 6 calls in flight at 20 calls/s
        with sb.client(cache=cache) as client:
            run = frame.mobile.start("phone", client=client)
            wait_for(lambda: answered(run) >= 10)
        assert run.done(), "close() waited for the run and its calls in flight"
        with pytest.warns(msp.RunStoppedWarning, match="client closed"):
            out = run.result(timeout=DEADLINE_SECONDS)
        billed = sb.stats()["billed"]
        ledger = sb.client(cache=cache).ledger()
    assert out.attrs["mobilestatus"]["stop_reason"] == stops.STOP_CLOSED
    assert int(out["mobile_billed"].fillna(False).sum()) == billed
    assert int(ledger["billed"].fillna(True).sum()) == billed, "billed + possibly billed"
    unanswered = out["mobile_status"] == "not_checked"
    assert unanswered.sum() > 100
    assert (out.loc[unanswered, "mobile_error"] == stops.CLOSED_DETAIL).all()
    # A closed client says so, in the library's terms (never sqlite3's or redis-py's).
    for use in (
        client.ledger,
        lambda: client.lookup("13800000000"),
        lambda: frame.mobile.start("phone", client=client),
    ):
        with pytest.raises(msp.InputError, match="client is closed"):
            use()
    client.close()  # twice: harmless


def test_a_dropped_run_is_found_and_stopped_through_the_client(
    slow_sandbox: msp.Sandbox, frame: pd.DataFrame
) -> None:
    client = slow_sandbox.client(cache=None)
    assert client.active_run is None
    frame.mobile.start("phone", client=client)  # the handle is not kept
    wait_for(lambda: client.active_run is not None and answered(client.active_run) >= 3)
    with pytest.raises(msp.RunInProgressError, match=r"client\.stop_run\(\)") as refused:
        frame.mobile.start("phone", client=client)
    assert "client.active_run.result()" in str(refused.value)
    run = client.stop_run()
    assert run is not None
    out = run.result(timeout=DEADLINE_SECONDS)
    assert out.attrs["mobilestatus"]["stop_reason"] == "stopped"
    assert client.active_run is None
    assert client.stop_run() is None
    sent = slow_sandbox.stats()["requests"]
    assert sent < 150, "the dropped run stopped billing"
    again = frame.iloc[:20].mobile.start("phone", client=client)
    assert client.active_run is again
    again.result(timeout=DEADLINE_SECONDS)
