"""The sandbox serves MobileNetworkTimeVerification beside MobileStatus: raw HTTP and the SDK."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
import requests

import mobilestatus_pandas as msp
from mobilestatus_pandas.sandbox.behaviour import (
    TENURE_ACTION,
    TENURE_MAGIC_NUMBERS,
    tenure_behaviour_for,
)
from mobilestatus_pandas.service import signing, tenure
from mobilestatus_pandas.service.credentials import Credentials

pytestmark = pytest.mark.integration


def post(
    sb: msp.Sandbox, mobile: str, *, action: str = TENURE_ACTION, timestamp: float | None = None
) -> dict[str, object]:
    raw = json.dumps({"Mobile": mobile}).encode()
    headers = signing.sign_request(
        credentials=Credentials(sb.secret_id, sb.secret_key),
        host=signing.host_header(sb.url),
        body=raw,
        timestamp=int(time.time() if timestamp is None else timestamp),
        action=action,
    )
    response = requests.post(sb.url + "/", data=raw, headers=headers, timeout=5)
    assert response.status_code == 200
    payload = response.json()["Response"]
    assert payload["RequestId"]
    return dict(payload)


@pytest.mark.parametrize(
    ("mobile", "result", "range_text"),
    [
        ("13800138000", "0", "[24,+)"),  # the documented example
        ("16137688175", "-2", ""),  # the documented example: the number does not exist
        ("13900000000", "0", "[0,3)"),
        ("13900000003", "0", "[3,6)"),
        ("13900000006", "0", "[6,12)"),
        ("13900000012", "0", "[12,24)"),
        ("13900000024", "0", "[24,+)"),
        ("13900000025", "0", "(6,12]"),
        ("13900000023", "0", "[23,+)"),
        ("13900000020", "0", ""),
        ("13900000101", "-1", ""),
        ("13900000102", "-2", ""),
        ("13900000103", "-3", ""),
        ("13900000104", "-4", ""),
        ("13900000105", "-5", ""),
        ("13900000113", "-13", ""),
        ("13900000199", "-99", ""),
        ("12345", "-1", ""),  # not a CN mobile number: tenure's invalid format is -1
    ],
)
def test_magic_numbers_give_every_result_and_band(
    sandbox: msp.Sandbox, mobile: str, result: str, range_text: str
) -> None:
    answer = post(sandbox, mobile)
    assert (answer["Result"], answer["Range"]) == (result, range_text)
    assert "StatusCode" not in answer, "tenure answers carry Range, not StatusCode"
    assert answer["Description"]


def test_every_band_and_every_documented_result_has_a_magic_number() -> None:
    results = {b.result for b in TENURE_MAGIC_NUMBERS.values() if b.result}
    assert {"0", "-1", "-2", "-3", "-4", "-5", "-13"} <= results
    bands = {tenure.parse_range(b.range).band for b in TENURE_MAGIC_NUMBERS.values()}
    assert set(tenure.BANDS) <= bands


def test_same_number_answers_each_action_in_its_own_terms(sandbox: msp.Sandbox) -> None:
    status = post(sandbox, "13800138000", action=signing.ACTION)
    assert (status["Result"], status["StatusCode"]) == ("0", 1)
    assert "Range" not in status
    assert post(sandbox, "13800138000")["Range"] == "[24,+)"
    missing = post(sandbox, "13800138000", action="MobileNetworkTime")
    assert missing["Error"]["Code"] == "InvalidAction"  # type: ignore[index]


def test_billing_per_code(sandbox: msp.Sandbox) -> None:
    # Billed: 0, -2, -3. Not billed: -1, -4, -5, -13, and undocumented codes.
    for mobile in ("13900000000", "13900000102", "13900000103"):
        post(sandbox, mobile)
    for mobile in ("13900000101", "13900000104", "13900000105", "13900000113", "13900000199"):
        post(sandbox, mobile)
    post(sandbox, "13800000101", action=signing.ACTION)  # MobileStatus -1: not billed there
    post(sandbox, "13800000002", action=signing.ACTION)  # MobileStatus 0: billed
    stats = sandbox.stats(numbers=True)
    assert stats["billed_by_action"] == {TENURE_ACTION: 3, signing.ACTION: 1}
    assert stats["billed"] == 4
    assert sorted(stats["billed_per_number"]) == sorted(
        [
            "13800000002",
            f"13900000000@{TENURE_ACTION}",
            f"13900000102@{TENURE_ACTION}",
            f"13900000103@{TENURE_ACTION}",
        ]
    )
    tenure_answers = stats["answered_by_action"][TENURE_ACTION]
    assert tenure_answers == {
        "0": 1, "-2": 1, "-3": 1, "-1": 1, "-4": 1, "-5": 1, "-13": 1, "-99": 1,
    }  # fmt: skip
    assert stats["answered"] == {"-1": 1, "0": 1}, "answered counts MobileStatus only"


def test_status_and_tenure_of_one_number_are_two_calls_each_billed_once(
    sandbox: msp.Sandbox,
) -> None:
    post(sandbox, "13800000000", action=signing.ACTION)
    post(sandbox, "13800000000")
    stats = sandbox.stats()
    assert stats["numbers_billed_more_than_once"] == 0
    assert stats["billed"] == 2


@pytest.mark.serial
def test_each_action_has_its_own_rate_limit_bucket() -> None:
    now = time.time()
    with msp.Sandbox(rate_limit=3, clock=lambda: now) as sb:  # time stands still
        status = [post(sb, "13800000000", action=signing.ACTION, timestamp=now) for _ in range(4)]
        tenure_ = [post(sb, "13900000000", timestamp=now) for _ in range(4)]
        limited = "RequestLimitExceeded"
        assert [("Error" in a) for a in status] == [False, False, False, True]
        assert status[-1]["Error"]["Code"] == limited  # type: ignore[index]
        # MobileStatus's full second left tenure's bucket untouched.
        assert [("Error" in a) for a in tenure_] == [False, False, False, True]
        stats = sb.stats()
        assert stats["max_calls_in_any_second_by_action"] == {signing.ACTION: 3, TENURE_ACTION: 3}
        assert stats["max_arrivals_in_any_second_by_action"] == {
            signing.ACTION: 4,
            TENURE_ACTION: 4,
        }
        assert stats["max_arrivals_in_any_second"] == 8
        assert stats["requests_by_action"] == {signing.ACTION: 4, TENURE_ACTION: 4}


def test_faults_and_quota_use_tenure_codes() -> None:
    with msp.Sandbox(fault_rate=1.0, faults=("busy",)) as sb:
        assert post(sb, "13900000000")["Result"] == "-4"  # tenure's busy
        assert post(sb, "13800000000", action=signing.ACTION)["Result"] == "-3"  # status's busy
        assert sb.stats()["billed"] == 0
    with msp.Sandbox(daily_quota=1) as sb:
        assert post(sb, "13900000000")["Result"] == "0"
        assert post(sb, "13900000003")["Result"] == "-5"  # tenure's daily limit
        # the quota is per API: MobileStatus still has its own
        assert post(sb, "13800000000", action=signing.ACTION)["Result"] == "0"
        assert post(sb, "13800000001", action=signing.ACTION)["Result"] == "-4"
    with msp.Sandbox(fault_rate=1.0, faults=("billed_drop",)) as sb:
        # A billed tenure answer (-2 too) may be lost on the way back, as a status one can.
        with pytest.raises(requests.ConnectionError):
            post(sb, "13900000102")
        assert sb.stats()["billed_by_action"] == {TENURE_ACTION: 1}


def test_ordinary_numbers_spread_over_every_band_independently_of_status() -> None:
    numbers = [f"139{i:08d}" for i in range(1000, 4000)]
    seen = Counter(
        tenure.parse_range(b.range).band if b.result == "0" else b.result
        for b in map(tenure_behaviour_for, numbers)
    )
    assert set(tenure.BANDS) <= set(seen)
    assert {"-2", "-3", "-13"} <= set(seen)
    assert seen["[24,+)"] / len(numbers) == pytest.approx(0.42, abs=0.04)
    assert seen["[0,3)"] / len(numbers) == pytest.approx(0.08, abs=0.02)
    assert [tenure_behaviour_for(n) for n in numbers[:50]] == [
        tenure_behaviour_for(n) for n in numbers[:50]
    ], "the same answer on every run"
    # Tenure does not follow the line state: new lines are found among normal lines too.
    from mobilestatus_pandas.sandbox import behaviour_for

    new = [n for n in numbers if tenure_behaviour_for(n).range in tenure.NEW_LINE_BANDS]
    states = Counter(behaviour_for(n).status_code for n in new)
    assert states[0] > 0.6 * len(new)


def test_official_sdk_mobile_network_time_verification_against_the_sandbox(
    sandbox: msp.Sandbox,
) -> None:
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
        TencentCloudSDKException,
    )
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.faceid.v20180301 import faceid_client, models

    def sdk_client(key: str) -> faceid_client.FaceidClient:
        http = HttpProfile(endpoint=sandbox.url.removeprefix("http://"), protocol="http")
        http.scheme = "http"
        cred = credential.Credential(sandbox.secret_id, key)
        return faceid_client.FaceidClient(cred, "", ClientProfile(httpProfile=http))

    client = sdk_client(sandbox.secret_key)
    request = models.MobileNetworkTimeVerificationRequest()
    request.Mobile = "13800138000"
    response = client.MobileNetworkTimeVerification(request)
    assert (response.Result, response.Range) == ("0", "[24,+)")
    assert response.RequestId

    request.Mobile = "16137688175"
    response = client.MobileNetworkTimeVerification(request)
    assert (response.Result, response.Range) == ("-2", "")

    for mobile, band in (("13900000003", "[3,6)"), ("13900000012", "[12,24)")):
        request.Mobile = mobile
        assert client.MobileNetworkTimeVerification(request).Range == band

    # The same SDK client calls MobileStatus on the same sandbox, in that API's own terms.
    status_request = models.MobileStatusRequest()
    status_request.Mobile = "13800138000"
    status = client.MobileStatus(status_request)
    assert (status.Result, status.StatusCode) == ("0", 1)
    assert sandbox.stats()["billed_by_action"] == {TENURE_ACTION: 4, signing.ACTION: 1}

    with pytest.raises(TencentCloudSDKException) as info:
        sdk_client("a-wrong-key").MobileNetworkTimeVerification(request)
    assert info.value.code == "AuthFailure.SignatureFailure"
