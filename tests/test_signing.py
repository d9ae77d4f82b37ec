"""Our TC3 signer against the official SDK's, on many generated requests."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from tencentcloud.common.abstract_client import AbstractClient
from tencentcloud.common.sign import Sign

from mobilestatus_pandas.service import signing
from mobilestatus_pandas.service.credentials import Credentials


def sdk_signature(
    *, secret_key: str, host: str, body: bytes, timestamp: int, service: str = "faceid"
) -> str:
    """The signature the official SDK computes for the same request."""
    request = SimpleNamespace(
        method="POST",
        uri="/",
        data=body.decode("utf-8"),
        header={
            "Content-Type": "application/json",
            "Host": host,
            "X-TC-Timestamp": str(timestamp),
        },
    )
    date = signing.utc_date(timestamp)
    return AbstractClient._get_tc3_signature(None, {}, request, date, service, secret_key)


hosts = st.one_of(
    st.sampled_from(
        ["faceid.tencentcloudapi.com", "faceid.intl.tencentcloudapi.com", "127.0.0.1", "localhost"]
    ),
    st.builds(
        lambda name, port: f"{name}:{port}",
        st.from_regex(r"[a-z][a-z0-9\-]{0,20}(\.[a-z]{2,5}){0,2}", fullmatch=True),
        st.integers(1, 65535),
    ),
)
secret_text = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=48
)
bodies = st.one_of(
    st.builds(lambda m: json.dumps({"Mobile": m}), st.text(max_size=30)),
    st.builds(lambda m: json.dumps({"Mobile": m}, ensure_ascii=False), st.text(max_size=30)),
    st.text(max_size=200),  # any UTF-8 body, non-ASCII included
)
timestamps = st.integers(0, 4_102_444_800)  # 1970 .. 2100, across date boundaries


@settings(max_examples=400, deadline=None)
@given(
    secret_id=secret_text,
    secret_key=secret_text,
    token=st.one_of(st.none(), secret_text),
    host=hosts,
    body=bodies,
    timestamp=timestamps,
)
def test_signature_matches_official_sdk(
    secret_id: str, secret_key: str, token: str | None, host: str, body: str, timestamp: int
) -> None:
    raw = body.encode("utf-8")
    headers = signing.sign_request(
        credentials=Credentials(secret_id, secret_key, token),
        host=host,
        body=raw,
        timestamp=timestamp,
    )
    expected = sdk_signature(secret_key=secret_key, host=host, body=raw, timestamp=timestamp)
    date = signing.utc_date(timestamp)
    assert headers["Authorization"] == (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/faceid/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={expected}"
    )
    assert headers["X-TC-Timestamp"] == str(timestamp)
    assert headers["Host"] == host
    assert headers.get("X-TC-Token") == token


@settings(max_examples=200, deadline=None)
@given(secret_key=secret_text, date=st.dates().map(str), text=st.text(max_size=100))
def test_key_derivation_matches_sdk_sign_tc3(secret_key: str, date: str, text: str) -> None:
    import hashlib
    import hmac

    key = signing.signing_key(secret_key, date)
    ours = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    assert ours == Sign.sign_tc3(secret_key, date, "faceid", text)


def test_canonical_request_shape() -> None:
    canonical = signing.canonical_request(
        "post", "/", "", {"Host": " FaceID.example.com ", "Content-Type": "application/json"},
        ["host", "content-type"], b"{}",
    )  # fmt: skip
    assert canonical.split("\n") == [
        "POST",
        "/",
        "",
        "content-type:application/json",
        "host:faceid.example.com",
        "",
        "content-type;host",
        signing.sha256_hex(b"{}"),
    ]


def test_date_in_scope_is_utc() -> None:
    # 2023-11-14 23:59:59 UTC is already the 15th in Beijing: the scope must say the 14th.
    assert signing.credential_scope(1700006399) == "2023-11-14/faceid/tc3_request"
    assert signing.credential_scope(1700006400) == "2023-11-15/faceid/tc3_request"


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://faceid.tencentcloudapi.com/", "faceid.tencentcloudapi.com"),
        ("https://faceid.tencentcloudapi.com:443/", "faceid.tencentcloudapi.com"),
        ("http://127.0.0.1:8080/", "127.0.0.1:8080"),
        ("http://LOCALHOST:80/", "localhost"),
        ("https://host:8443/", "host:8443"),
        ("http://[::1]:9000/", "[::1]:9000"),
    ],
)
def test_host_header(url: str, host: str) -> None:
    assert signing.host_header(url) == host


def test_auth_object_signs_a_prepared_request_and_asks_for_credentials_each_time() -> None:
    issued = []

    def provider() -> Credentials:
        issued.append(1)
        return Credentials("AKIDtest", f"key{len(issued)}", token="tok")

    auth = signing.TC3Auth(provider, clock=lambda: 1_700_000_000.7, region="ap-guangzhou")
    body = b'{"Mobile": "13800138000"}'
    first = requests.Request("POST", "http://127.0.0.1:8080/", data=body, auth=auth).prepare()
    second = requests.Request("POST", "http://127.0.0.1:8080/", data=body, auth=auth).prepare()
    assert len(issued) == 2
    assert first.headers["X-TC-Timestamp"] == "1700000000"
    assert first.headers["X-TC-Region"] == "ap-guangzhou"
    assert first.headers["X-TC-Token"] == "tok"
    expected = sdk_signature(
        secret_key="key1", host="127.0.0.1:8080", body=body, timestamp=1_700_000_000
    )
    assert first.headers["Authorization"].endswith(f"Signature={expected}")
    assert first.headers["Authorization"] != second.headers["Authorization"]
