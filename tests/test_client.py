"""One call: retries, error mapping, backoff (unit, with a scripted transport and fake clock)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

import mobilestatus_pandas as msp
from mobilestatus_pandas.client import MobileStatusClient
from mobilestatus_pandas.engine.calls import (
    BACKOFF_CAP_SECONDS,
    RATE_LIMITED_RETRIES,
    ROW_KEY_TAG,
    Answer,
    cache_realm,
    normalize_endpoint,
)
from mobilestatus_pandas.errors import TransportError
from mobilestatus_pandas.service.actions import TENURE
from tests.conftest import FakeClock

KEY = "k3y-that-must-not-leak-0123456789"


def ok(code: int = 0) -> Answer:
    return Answer("0", "ok", code, "rid-ok")


def busy() -> Answer:
    return Answer("-3", "busy", 99, "rid-busy")


def error(code: str) -> Answer:
    return Answer(None, None, None, f"rid-{code}", code, "message")


class Scripted:
    """Stands in for the HTTP transport: answers (or raises) from a script."""

    def __init__(self, script: list[Answer | Exception]) -> None:
        self.script: Iterator[Answer | Exception] = iter(script)
        self.sent = 0

    def __call__(self, prepared: requests.PreparedRequest) -> Answer:
        assert json.loads(prepared.body or b"{}")["Mobile"]
        assert prepared.headers["Authorization"].startswith("TC3-HMAC-SHA256")
        self.sent += 1
        item = next(self.script)
        if isinstance(item, Exception):
            raise item
        return item


def make_client(
    clock: FakeClock, script: list[Answer | Exception], **options: object
) -> tuple[MobileStatusClient, Scripted]:
    client = MobileStatusClient(
        "http://127.0.0.1:9", "AKIDunit", KEY, cache=None, clock=clock, sleep=clock.sleep,
        seed=1, **options,  # type: ignore[arg-type]
    )  # fmt: skip
    transport = Scripted(script)
    client._send = transport  # type: ignore[method-assign]
    return client, transport


@settings(max_examples=50, deadline=None)
@given(numbers=st.lists(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), max_size=30))
def test_row_and_number_keys_are_the_keys_computed_one_at_a_time(numbers: list[str]) -> None:
    """The bulk keys equal the keys as first computed (hex, then its first 16 digits)."""
    client = MobileStatusClient("http://127.0.0.1:9", "AKIDunit", KEY, cache=None)
    try:
        key = client._hasher.key
        rows = [int(key(f"{ROW_KEY_TAG}{n}")[:16], 16) >> 1 for n in numbers]
        found = client.row_keys(numbers)
        assert found.dtype == np.int64
        assert found.tolist() == rows
        realm = client.realm
        assert client.number_keys(numbers) == [key(f"{realm}:{n}") for n in numbers]
        tenure = [key(f"{realm}:{TENURE.api}:{n}") for n in numbers]
        assert client.number_keys(numbers, TENURE) == tenure
        assert [client.number_key(n, TENURE) for n in numbers] == tenure
    finally:
        client.close()


def test_final_answer_needs_one_attempt(clock: FakeClock) -> None:
    client, transport = make_client(clock, [ok(2)])
    outcome = client.call("13800000002")
    assert outcome.result.status == "cancelled"
    assert outcome.result.billed
    assert (outcome.attempts, outcome.retries, transport.sent) == (1, 0, 1)


def test_transient_failures_are_retried_with_full_jitter_backoff(clock: FakeClock) -> None:
    script: list[Answer | Exception] = [
        TransportError("reset"),
        TransportError("502", status=502),
        busy(),
        error("InternalError"),
        ok(),
    ]
    client, _ = make_client(clock, script, max_retries=4)
    answers: list[tuple[str, bool]] = []
    outcome = client.call(
        "13800000000",
        on_answer=lambda n, a, t, final: answers.append((a.request_id or "", final)),
    )
    assert outcome.result.status == "normal"
    assert (outcome.attempts, outcome.retries) == (5, 4)
    assert answers == [("rid-busy", False), ("rid-InternalError", False), ("rid-ok", True)]
    limiter_sleeps = list(clock.sleeps)
    assert len(limiter_sleeps) == 4
    for attempt, pause in enumerate(limiter_sleeps, start=1):
        assert 0 <= pause <= min(BACKOFF_CAP_SECONDS, 0.2 * 2**attempt)


def test_retries_exhausted_end_as_busy_or_error_rows(clock: FakeClock) -> None:
    client, _ = make_client(clock, [busy()] * 3, max_retries=2)
    outcome = client.call("13800000103")
    assert outcome.result.status == "busy"
    assert outcome.result.result == "-3"
    assert not outcome.result.billed

    client, _ = make_client(clock, [TransportError("down")] * 3, max_retries=2)
    outcome = client.call("13800000000")
    assert outcome.result.status == "error"
    assert outcome.result.error == "TransportError"


def test_per_number_errors_are_not_retried(clock: FakeClock) -> None:
    client, transport = make_client(clock, [error("InvalidParameterValue")])
    outcome = client.call("13800000400")
    assert outcome.result.status == "error"
    assert outcome.result.error == "InvalidParameterValue"
    assert transport.sent == 1


@pytest.mark.parametrize(
    "code",
    [
        "AuthFailure.SignatureFailure",
        "UnauthorizedOperation.Arrears",
        "FailedOperation.StsUnAuthErrError",
    ],
)
def test_account_errors_raise_at_once(clock: FakeClock, code: str) -> None:
    client, transport = make_client(clock, [error(code), ok()])
    with pytest.raises(msp.AuthenticationError) as info:
        client.call("13800000000")
    assert info.value.code == code
    assert info.value.request_id == f"rid-{code}"
    assert transport.sent == 1


@pytest.mark.serial
def test_rate_limited_answers_slow_the_limiter_and_are_retried_on_their_own_budget(
    clock: FakeClock,
) -> None:
    client, transport = make_client(
        clock, [error("RequestLimitExceeded")] * 5 + [ok()], max_retries=0
    )
    outcome = client.call("13800000000")
    assert outcome.result.status == "normal"
    assert client.limiter.refusals == 5
    # each refusal of a retry sent after the last reaction is new evidence: the margin
    # widens (jitter?) until it is at its widest, then the rate is cut (someone else's calls)
    assert client.limiter.widenings == 5
    assert client.limiter.penalties == 0, "five refusals are not yet someone else's calls"
    assert outcome.retries == 0, "throttling is not a failure of the number"
    assert transport.sent == 6


def test_endless_throttling_ends_as_an_error_row(clock: FakeClock) -> None:
    script: list[Answer | Exception] = [error("RequestLimitExceeded")] * (RATE_LIMITED_RETRIES + 1)
    client, _ = make_client(clock, script)
    outcome = client.call("13800000000")
    assert outcome.result.status == "error"
    assert outcome.result.error == "RequestLimitExceeded"


def test_stopped_before_a_slot_is_not_checked(clock: FakeClock) -> None:
    client, transport = make_client(clock, [ok()])
    outcome = client.call("13800000000", acquire=lambda: False)
    assert outcome.result.status == "not_checked"
    assert transport.sent == 0


def test_unknown_result_codes_never_raise(clock: FakeClock) -> None:
    client, _ = make_client(clock, [Answer("-77", "new", 3, "rid")])
    result = client.call("13800000000").result
    assert (result.status, result.billed) == ("error", False)
    assert "-77" in (result.error or "")


@pytest.mark.parametrize(
    ("given", "url"),
    [
        (None, "https://faceid.intl.tencentcloudapi.com/"),
        ("faceid.tencentcloudapi.com", "https://faceid.tencentcloudapi.com/"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
        ("https://example.com:8443/path?q", "https://example.com:8443/"),
    ],
)
def test_endpoints(given: str | None, url: str) -> None:
    assert normalize_endpoint(given) == url


def test_endpoint_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOBILESTATUS_ENDPOINT", "http://localhost:1234")
    assert normalize_endpoint(None) == "http://localhost:1234/"


@pytest.mark.parametrize("bad", ["ftp://x", "http://", "http://host:notaport"])
def test_bad_endpoints_say_so(bad: str) -> None:
    with pytest.raises(msp.InputError, match="endpoint"):
        normalize_endpoint(bad)


def test_cache_realms_keep_sandboxes_apart_from_tencent() -> None:
    assert cache_realm("https://faceid.tencentcloudapi.com/") == cache_realm(
        "https://faceid.intl.tencentcloudapi.com/"
    )
    assert cache_realm("http://127.0.0.1:8080/") != cache_realm(
        "https://faceid.tencentcloudapi.com/"
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [("rate_limit", 0), ("rate_limit", float("nan")), ("timeout", -1), ("max_retries", -1),
     ("validate", "maybe"), ("max_workers", 0), ("cache", 3), ("encryption", "yes")],
)  # fmt: skip
def test_bad_options_raise_input_errors(option: str, value: object) -> None:
    with pytest.raises(msp.InputError):
        MobileStatusClient("http://127.0.0.1:9", "AKID", KEY, **{"cache": None, option: value})  # type: ignore[arg-type]


def test_client_repr_and_errors_never_show_the_key() -> None:
    client = MobileStatusClient("http://127.0.0.1:9", "AKIDvisible", KEY, cache=None)
    assert KEY not in repr(client)
    assert "AKIDvisible" in repr(client)
    assert KEY not in repr(client.__dict__)
