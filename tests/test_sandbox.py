"""The sandbox speaks Tencent's protocol: checked with raw HTTP, our client and the official SDK."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

import mobilestatus_pandas as msp
from mobilestatus_pandas.sandbox import MAGIC_NUMBERS, behaviour_for
from mobilestatus_pandas.service import signing
from mobilestatus_pandas.service.credentials import Credentials

pytestmark = pytest.mark.integration


def post(sb: msp.Sandbox, body: dict[str, object] | bytes, *, key: str | None = None,
         secret_id: str | None = None, timestamp: int | None = None,
         token: str | None = None, **header_overrides: str) -> dict[str, object]:  # fmt: skip
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    host = signing.host_header(sb.url)
    headers = signing.sign_request(
        credentials=Credentials(secret_id or sb.secret_id, key or sb.secret_key, token),
        host=host,
        body=raw,
        timestamp=int(time.time()) if timestamp is None else timestamp,
    )
    headers.update(header_overrides)
    response = requests.post(sb.url + "/", data=raw, headers=headers, timeout=5)
    assert response.status_code == 200
    payload = response.json()["Response"]
    assert payload["RequestId"], "every answer carries a RequestId"
    return dict(payload)


def code_of(payload: dict[str, object]) -> str:
    error = payload.get("Error")
    assert isinstance(error, dict), payload
    return str(error["Code"])


def test_documented_examples_exactly(sandbox: msp.Sandbox) -> None:
    first = post(sandbox, {"Mobile": "13800138000"})
    assert (first["Result"], first["StatusCode"]) == ("0", 1)
    second = post(sandbox, {"Mobile": "16137688175"})
    assert (second["Result"], second["StatusCode"]) == ("-2", 99)
    assert second["Description"] == "Invalid phone number format"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"key": "wrong-key-123"}, "AuthFailure.SignatureFailure"),
        ({"secret_id": "AKIDnobody"}, "AuthFailure.SecretIdNotFound"),
        ({"skew": -301}, "AuthFailure.SignatureExpire"),
        ({"skew": +400}, "AuthFailure.SignatureExpire"),
        ({"token": "unexpected"}, "AuthFailure.TokenFailure"),
        ({"Authorization": "Basic abc"}, "AuthFailure.InvalidAuthorization"),
        ({"X-TC-Action": "DescribeInstances"}, "InvalidAction"),
        ({"X-TC-Version": "2017-01-01"}, "InvalidAction"),
        ({"Content-Type": "text/plain"}, "UnsupportedProtocol"),
        ({"Host": "tampered.example.com"}, "AuthFailure.SignatureFailure"),
    ],
)
def test_refusals_use_tencents_codes(
    sandbox: msp.Sandbox, change: dict[str, object], code: str
) -> None:
    change = dict(change)
    if "skew" in change:  # relative to now, not to when the tests were collected
        change["timestamp"] = int(time.time()) + int(change.pop("skew"))  # type: ignore[call-overload]
    kwargs = {k: v for k, v in change.items() if k in ("key", "secret_id", "timestamp", "token")}
    headers = {k: str(v) for k, v in change.items() if k not in kwargs}
    assert code_of(post(sandbox, {"Mobile": "13800000000"}, **kwargs, **headers)) == code  # type: ignore[arg-type]
    assert sandbox.stats()["billed"] == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "InvalidParameter"),
        ({}, "MissingParameter"),
        ({"Mobile": 13800138000}, "InvalidParameterValue"),
        ({"Mobile": "13800138000", "Extra": 1}, "UnknownParameter"),
    ],
)
def test_parameter_errors(sandbox: msp.Sandbox, body: dict[str, object] | bytes, code: str) -> None:
    assert code_of(post(sandbox, body)) == code


def test_tokens_are_required_when_configured() -> None:
    with msp.Sandbox(token="sts-token") as sb:
        assert code_of(post(sb, {"Mobile": "13800000000"})) == "AuthFailure.TokenFailure"
        assert post(sb, {"Mobile": "13800000000"}, token="sts-token")["Result"] == "0"
        assert sb.client().lookup("13800000000").status == "normal"


@pytest.mark.serial
def test_rate_limit_and_stats() -> None:
    with msp.Sandbox(rate_limit=5) as sb:
        results = [post(sb, {"Mobile": "13800000000"}) for _ in range(8)]
        limited = [r for r in results if "Error" in r]
        assert len(limited) >= 3
        assert all(code_of(r) == "RequestLimitExceeded" for r in limited)
        stats = sb.stats()
        assert stats["max_calls_in_any_second"] == 5
        assert stats["max_arrivals_in_any_second"] == 8, "refused requests arrived too"
        assert stats["rate_limited"] == len(limited)
        assert stats["numbers_called"] == 1
        assert stats["most_billed_for_one_number"] == 8 - len(limited)
        assert "billed_per_number" not in stats, "numbers only on request"
        detail = sb.stats(numbers=True)
        assert detail["billed_per_number"] == {"13800000000": 8 - len(limited)}
        served = requests.get(sb.url + "/__stats", timeout=5).json()
        assert served["billed"] == stats["billed"]
        assert "13800000000" not in json.dumps(served)


def admin_post(sb: msp.Sandbox, path: str, body: dict[str, object], *, key: str | None = None,
               secret_id: str | None = None) -> requests.Response:  # fmt: skip
    """``POST path`` signed as a client of the sandbox signs (the sandbox's own key unless told)."""
    from mobilestatus_pandas.service.signing import TC3Auth

    credentials = Credentials(secret_id or sb.secret_id, key or sb.secret_key)
    return requests.post(
        sb.url + path, data=json.dumps(body).encode(), timeout=5,
        auth=TC3Auth(lambda: credentials, clock=time.time),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip


@pytest.mark.parametrize("own_process", [False, True])
def test_numbers_and_reset_only_for_the_sandboxs_own_credentials(own_process: bool) -> None:
    """Anyone on the machine can reach the port: counts yes; numbers in clear and a reset
    only for a request signed with the sandbox's own SecretId and SecretKey."""
    with msp.Sandbox(own_process=own_process) as sb:
        sb.client(cache=None).lookup_many(["13800000000", "13800138000"], progress=False)
        refused = [
            requests.get(sb.url + "/__stats?numbers=1", timeout=5),
            requests.post(sb.url + "/__stats", json={"numbers": True}, timeout=5),
            admin_post(sb, "/__stats", {"numbers": True}, key="a-wrong-key"),
            admin_post(sb, "/__stats", {"numbers": True}, secret_id="AKIDsomeoneelse"),
            requests.post(sb.url + "/__reset", timeout=5),
            admin_post(sb, "/__reset", {}, key="a-wrong-key"),
        ]
        for answer in refused:
            assert answer.status_code == 403
            assert "13800000000" not in answer.text
            assert "signed with this sandbox's own SecretId" in answer.json()["error"]
        assert sb.stats()["billed"] == 2, "no reset went through"
        signed = admin_post(sb, "/__stats", {"numbers": True})
        assert signed.json()["billed_per_number"] == {"13800000000": 1, "13800138000": 1}
        assert sb.stats(numbers=True)["billed_per_number"] == signed.json()["billed_per_number"]
        assert admin_post(sb, "/__reset", {}).status_code == 200
        assert sb.stats()["requests"] == 0


def test_daily_quota_answers_minus_4() -> None:
    with msp.Sandbox(daily_quota=2) as sb:
        results = [post(sb, {"Mobile": "13800000000"})["Result"] for _ in range(4)]
        assert results == ["0", "0", "-4", "-4"]
        assert sb.stats()["billed"] == 2


def test_hash_spread_is_deterministic_and_mostly_normal() -> None:
    from mobilestatus_pandas.datasets import random_numbers

    sample = random_numbers(4000, seed=3)
    first = [behaviour_for(n) for n in sample]
    assert first == [behaviour_for(n) for n in sample]
    normal = sum(b.result == "0" and b.status_code == 0 for b in first) / len(first)
    assert 0.75 < normal < 0.85
    states = {(b.result, b.status_code) for b in first}
    assert {("0", 1), ("0", 2), ("0", 4), ("0", 5), ("0", 99), ("-1", 99), ("-13", 99)} <= states
    assert behaviour_for("23800000000").result == "-2"
    assert behaviour_for("abc").result == "-2"


@pytest.mark.parametrize("kind", ["drop", "http_502", "truncated", "busy", "internal_error"])
def test_each_fault_kind_is_survived_by_retries(kind: str) -> None:
    with msp.Sandbox(fault_rate=0.5, faults=(kind,), seed=11) as sb:
        client = sb.client(max_retries=8, seed=1, backoff_seconds=0.001)
        results = [
            client.lookup(n) for n in ("13800000000", "13800000001", "13800000002", "13800000004")
        ]
        assert [r.status for r in results] == ["normal", "out_of_service", "cancelled", "offline"]
        stats = sb.stats()
        assert stats["faults"].get(kind, 0) > 0
        assert stats["numbers_billed_more_than_once"] == 0


def test_client_gets_every_magic_number_right(sandbox: msp.Sandbox) -> None:
    client = sandbox.client(validate="server", max_retries=1, backoff_seconds=0.001)
    expected_status = {
        "0": None, "-1": "not_found", "-2": "invalid", "-3": "busy", "-4": "daily_limit",
        "-13": "unsupported", "-99": "error",
    }  # fmt: skip
    for number, behaviour in MAGIC_NUMBERS.items():
        result = client.lookup(number)
        if behaviour.error:
            assert (result.status, result.error) == ("error", behaviour.error), number
            continue
        assert result.result == behaviour.result, number
        assert result.status_code == behaviour.status_code, number
        status = expected_status[behaviour.result or "0"] or msp.codes.status_for(
            "0", behaviour.status_code
        )
        assert result.status == status, number
        assert result.billed is (behaviour.result == "0"), number
        assert result.request_id
        assert result.checked_at is not None


def test_wrong_key_raises_authentication_error_without_the_key(sandbox: msp.Sandbox) -> None:
    secret = "the-wrong-key-never-to-be-shown"
    client = msp.MobileStatusClient(sandbox.url, sandbox.secret_id, secret, cache=None)
    with pytest.raises(msp.AuthenticationError) as info:
        client.lookup("13800000000")
    assert info.value.code == "AuthFailure.SignatureFailure"
    assert "AuthFailure.SignatureFailure" in str(info.value)
    assert info.value.request_id
    assert info.value.request_id in str(info.value)
    assert secret not in str(info.value) + repr(info.value)
    assert sandbox.stats()["requests"] == 1


@pytest.fixture
def cli_sandbox() -> Iterator[dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mobilestatus_pandas.cli", "sandbox", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        info = json.loads(line)
        assert set(info) == {"endpoint", "secret_id", "secret_key"}
        yield info
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_official_sdk_against_the_cli_sandbox(cli_sandbox: dict[str, str]) -> None:
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
        TencentCloudSDKException,
    )
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.faceid.v20180301 import faceid_client, models

    endpoint = cli_sandbox["endpoint"].removeprefix("http://")

    def sdk_client(key: str) -> faceid_client.FaceidClient:
        http = HttpProfile(endpoint=endpoint, protocol="http")
        http.scheme = "http"
        cred = credential.Credential(cli_sandbox["secret_id"], key)
        return faceid_client.FaceidClient(cred, "", ClientProfile(httpProfile=http))

    request = models.MobileStatusRequest()
    request.Mobile = "13800138000"
    response = sdk_client(cli_sandbox["secret_key"]).MobileStatus(request)
    assert (response.Result, response.StatusCode) == ("0", 1)
    assert response.RequestId

    request.Mobile = "16137688175"
    response = sdk_client(cli_sandbox["secret_key"]).MobileStatus(request)
    assert (response.Result, response.StatusCode) == ("-2", 99)

    with pytest.raises(TencentCloudSDKException) as info:
        sdk_client("a-wrong-key").MobileStatus(request)
    assert info.value.code == "AuthFailure.SignatureFailure"


def test_sandbox_in_its_own_process_behaves_the_same() -> None:
    with msp.Sandbox(own_process=True, daily_quota=2, token="tok") as sb:
        assert code_of(post(sb, {"Mobile": "13800000000"})) == "AuthFailure.TokenFailure"
        client = sb.client()
        statuses = [client.lookup(n).status for n in ("13800000002", "13800000001", "13800000000")]
        assert statuses == ["cancelled", "out_of_service", "daily_limit"]
        stats = sb.stats()
        assert stats["billed"] == 2
        assert stats["requests"] == 4
        sb.reset_stats()
        assert sb.stats()["requests"] == 0
    assert "not running" in repr(sb)


def test_own_process_key_starting_with_a_dash_and_kept_off_the_command_line() -> None:
    # token_urlsafe keys may start with "-", which argparse would take for an option
    with msp.Sandbox(own_process=True, secret_key="-Ab3-dash-first", token="-tok") as sb:
        assert sb._child is not None
        assert not any("-Ab3-dash-first" in str(arg) for arg in sb._child.args)
        assert sb.client().lookup("13800000001").status == "out_of_service"


@pytest.mark.serial
def test_arrivals_show_a_client_that_goes_too_fast() -> None:
    """The bound the pacing tests assert on can fail: refused requests count as arrivals."""
    from mobilestatus_pandas.datasets import random_numbers

    with msp.Sandbox() as sb:
        client = sb.client(rate_limit=40, backoff_seconds=0.01)  # twice the account's limit
        client.lookup_many(random_numbers(60, seed=13), progress=False)
        stats = sb.stats()
    assert stats["max_calls_in_any_second"] <= 20, "the sandbox refuses the excess ..."
    assert stats["max_arrivals_in_any_second"] > 20, "... and arrivals show it was sent"


def test_stats_of_a_sandbox_in_its_own_process_name_numbers_only_on_request() -> None:
    with msp.Sandbox(own_process=True) as sb:
        sb.client().lookup_many(["13800000000", "13800138000"], progress=False)
        counts, detail = sb.stats(), sb.stats(numbers=True)
    assert counts["numbers_called"] == 2
    assert "13800000000" not in json.dumps(counts)
    assert detail["billed_per_number"] == {"13800000000": 1, "13800138000": 1}


def test_many_connections_at_once_are_queued_not_dropped() -> None:
    # A run widening to 60 calls in flight opens dozens of connections at once. With the
    # standard library's listen queue of 5 the kernel drops the extra SYNs; the client
    # retries a second later, and a request slotted in one second arrives in the next.
    import socket

    from mobilestatus_pandas.sandbox.server import SandboxConfig, SandboxState, make_server

    server = make_server(SandboxState(SandboxConfig("AKIDx", "key")), "127.0.0.1", 0)
    port = server.server_address[1]
    sockets = []
    try:  # nothing accepts: every connection waits in the listen queue
        for _ in range(64):
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=0.5))
    finally:
        for sock in sockets:
            sock.close()
        server.server_close()
    assert len(sockets) == 64


# -- the internet's timing: arrival jitter before the rate limit's counter --------------------


def brute_busiest(times: list[float], t: float) -> int:
    """The most of ``times`` in any window [x, x + 1) that holds ``t``, by brute force."""
    starts = [s for s in times if t - 1.0 < s <= t]
    return max(sum(1 for u in times if s <= u < s + 1.0) for s in starts)


#: Requests sent in order, each late by up to half a second: what the counters must sort out.
late_arrivals = st.lists(
    st.tuples(st.floats(0, 0.3, allow_nan=False), st.floats(0, 0.5, allow_nan=False)),
    min_size=1,
    max_size=80,
).map(lambda steps: [sum(s for s, _ in steps[: i + 1]) + late for i, (_, late) in enumerate(steps)])


@given(late_arrivals)
def test_counter_finds_the_busiest_second_whatever_the_order(times: list[float]) -> None:
    from mobilestatus_pandas.sandbox.server import _SecondCounter

    counter = _SecondCounter()
    for i, t in enumerate(times):
        counter.add(t)
        assert counter.busiest(t) == brute_busiest(times[: i + 1], t)


@given(late_arrivals)
def test_the_limit_holds_in_every_second_when_requests_arrive_out_of_order(
    times: list[float],
) -> None:
    from mobilestatus_pandas.sandbox.server import SandboxConfig, SandboxState

    state = SandboxState(SandboxConfig("AKIDx", "key", rate_limit=5))
    admitted = [t for t in times if state.admit("AKIDx", t)]
    assert all(brute_busiest(admitted, t) <= 5 for t in admitted)
    refused = [t for t in times if t not in admitted]
    assert all(brute_busiest([*admitted, t], t) > 5 for t in refused), "only the excess"
    assert state.stats()["max_calls_in_any_second"] == max(
        brute_busiest(admitted, t) for t in admitted
    )


def jitter_draws(n: int, **config: object) -> list[float]:
    from mobilestatus_pandas.sandbox.server import SandboxConfig, SandboxState

    state = SandboxState(SandboxConfig("AKIDx", "key", **config))  # type: ignore[arg-type]
    return [state.arrival_jitter_seconds() for _ in range(n)]


def test_uniform_jitter_spans_its_range_and_repeats_with_the_seed() -> None:
    draws = jitter_draws(2000, arrival_jitter_ms=80, seed=3)
    assert 0.0 <= min(draws) < 0.002
    assert 0.078 < max(draws) <= 0.080
    assert sum(draws) / len(draws) == pytest.approx(0.040, abs=0.003)
    assert draws == jitter_draws(2000, arrival_jitter_ms=80, seed=3)
    assert draws != jitter_draws(2000, arrival_jitter_ms=80, seed=4)
    assert jitter_draws(5) == [0.0] * 5, "no jitter unless asked"


def test_pareto_jitter_has_the_same_mean_and_a_heavy_tail() -> None:
    draws = sorted(jitter_draws(20000, arrival_jitter_ms=80, jitter="pareto", seed=3))
    assert sum(draws) / len(draws) == pytest.approx(0.040, rel=0.15)
    assert draws[len(draws) // 2] < 0.020, "most requests are barely late ..."
    assert draws[int(len(draws) * 0.99)] > 0.3, "... and one in a hundred very late"
    assert max(draws) <= 0.080 * 50


@pytest.mark.parametrize(
    "bad", [{"jitter": "gaussian"}, {"arrival_jitter_ms": -1.0}, {"arrival_jitter_ms": math.inf}]
)
def test_bad_jitter_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="jitter"):
        jitter_draws(1, **bad)


@pytest.mark.parametrize("own_process", [False, True])
def test_requests_reach_the_counter_late_by_the_drawn_jitter(own_process: bool) -> None:
    """Each request waits its draw before it is counted (a lower bound: holds when busy)."""
    config = {"arrival_jitter_ms": 150.0, "jitter": "pareto", "seed": 11}
    with msp.Sandbox(own_process=own_process, **config) as sb:  # type: ignore[arg-type]
        started = time.perf_counter()
        for _ in range(8):
            post(sb, {"Mobile": "13800000000"})
        elapsed = time.perf_counter() - started
        assert sb.stats()["requests"] == 8
    assert elapsed >= sum(jitter_draws(8, **config))  # type: ignore[arg-type]
    assert sum(jitter_draws(8, **config)) > 0.1  # type: ignore[arg-type]


def test_a_request_counts_from_when_it_reached_the_server_not_when_it_was_handled() -> None:
    """The kernel's receive stamp: a busy sandbox that handles a request late still counts
    it when it arrived, as Tencent's own (not busy) servers would."""
    import socket
    import threading

    from mobilestatus_pandas.sandbox.server import SandboxConfig, SandboxState, make_server

    if not sys.platform.startswith("linux"):
        pytest.skip("kernel receive stamps (SO_TIMESTAMPNS) are Linux's")
    config = SandboxConfig("AKIDx", "key")
    state = SandboxState(config)
    server = make_server(state, "127.0.0.1", 0)
    host, port = server.server_address[:2]
    raw = json.dumps({"Mobile": "13800000000"}).encode()
    headers = signing.sign_request(
        credentials=Credentials("AKIDx", "key", None),
        host=f"{host}:{port}",
        body=raw,
        timestamp=int(time.time()),
    )
    request = (
        "POST / HTTP/1.1\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        + f"Host: {host}:{port}\r\nContent-Length: {len(raw)}\r\nConnection: close\r\n\r\n"
    ).encode() + raw
    answer = b""
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            sent_at = time.time()
            sock.sendall(request)
            time.sleep(0.3)  # nothing handles it yet: the server is "busy"
            handler = threading.Thread(target=server.handle_request)
            handler.start()
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            handler.join()
    finally:
        server.server_close()
    assert b"RequestId" in answer
    assert state.stats()["calls_admitted"] == 1
    assert state.counters.first_call_at is not None
    assert state.counters.first_call_at - sent_at < 0.1, "counted when it arrived, not 0.3 s later"
