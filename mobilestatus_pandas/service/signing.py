"""TC3-HMAC-SHA256, Tencent Cloud's signature v3, as small pure functions and a requests auth.

:func:`sign_request` is the whole algorithm: given the method, host, body, timestamp and
credentials it returns the headers to send. The steps are exposed one by one
(:func:`canonical_request`, :func:`string_to_sign`, :func:`signing_key`, :func:`signature`)
so the sandbox can verify what clients send, and tests can compare each step with the
official SDK. :class:`TC3Auth` applies it to a ``requests`` request, like
``requests.auth.AuthBase``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Final
from urllib.parse import urlsplit

import requests

from .credentials import Credentials

ALGORITHM: Final = "TC3-HMAC-SHA256"
SERVICE: Final = "faceid"
API_VERSION: Final = "2018-03-01"
ACTION: Final = "MobileStatus"
JSON_CONTENT_TYPE: Final = "application/json"
SIGNED_HEADERS: Final = ("content-type", "host")
TERMINATOR: Final = "tc3_request"


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def utc_date(timestamp: int) -> str:
    """The UTC date (``YYYY-MM-DD``) of a Unix timestamp, as used in the credential scope."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")


def credential_scope(timestamp: int, service: str = SERVICE) -> str:
    """``<date>/<service>/tc3_request``."""
    return f"{utc_date(timestamp)}/{service}/{TERMINATOR}"


def canonical_request(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
) -> str:
    """Build the canonical request from the headers named in ``signed_headers``.

    Header names and values are lower-cased and trimmed and sorted by name, as Tencent's
    documentation specifies. ``headers`` is matched case-insensitively.
    """
    lowered = {name.lower().strip(): value for name, value in headers.items()}
    names = sorted(name.lower().strip() for name in signed_headers)
    canonical_headers = "".join(
        f"{name}:{lowered.get(name, '').strip().lower()}\n" for name in names
    )
    return "\n".join(
        [method.upper(), path or "/", query, canonical_headers, ";".join(names), sha256_hex(body)]
    )


def string_to_sign(timestamp: int, canonical: str, service: str = SERVICE) -> str:
    """The string to sign for a canonical request."""
    return "\n".join(
        [
            ALGORITHM,
            str(timestamp),
            credential_scope(timestamp, service),
            sha256_hex(canonical.encode()),
        ]
    )


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, service: str = SERVICE) -> bytes:
    """Derive the signing key: HMAC chain over ``TC3`` + key, date, service, ``tc3_request``."""
    k_date = _hmac(("TC3" + secret_key).encode("utf-8"), date)
    k_service = _hmac(k_date, service)
    return _hmac(k_service, TERMINATOR)


def signature(secret_key: str, timestamp: int, to_sign: str, service: str = SERVICE) -> str:
    """Hex signature of ``to_sign`` under the key derived for the timestamp's date."""
    key = signing_key(secret_key, utc_date(timestamp), service)
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization(
    secret_id: str, timestamp: int, signature_hex: str, service: str = SERVICE
) -> str:
    """The ``Authorization`` header value."""
    return (
        f"{ALGORITHM} Credential={secret_id}/{credential_scope(timestamp, service)}, "
        f"SignedHeaders={';'.join(SIGNED_HEADERS)}, Signature={signature_hex}"
    )


def sign_request(
    *,
    credentials: Credentials,
    host: str,
    body: bytes,
    timestamp: int,
    method: str = "POST",
    path: str = "/",
    content_type: str = JSON_CONTENT_TYPE,
    action: str = ACTION,
    version: str = API_VERSION,
    service: str = SERVICE,
    region: str | None = None,
    language: str | None = None,
) -> dict[str, str]:
    """Return every header a signed TencentCloud API 3.0 request needs.

    ``host`` is the ``Host`` header exactly as it will be sent (with ``:port`` when the port is
    not the scheme's default). The result includes ``Host``, ``Content-Type``, the ``X-TC-*``
    common parameters and ``Authorization``.

    >>> from mobilestatus_pandas.service.credentials import Credentials
    >>> h = sign_request(credentials=Credentials("AKIDEXAMPLE", "secret"),
    ...                  host="faceid.tencentcloudapi.com", body=b'{"Mobile": "13800138000"}',
    ...                  timestamp=1700000000)
    >>> h["Authorization"].split(",")[0]
    'TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2023-11-14/faceid/tc3_request'
    """
    headers = {"Host": host, "Content-Type": content_type}
    canonical = canonical_request(method, path, "", headers, SIGNED_HEADERS, body)
    to_sign = string_to_sign(timestamp, canonical, service)
    headers.update(
        {
            "X-TC-Action": action,
            "X-TC-Version": version,
            "X-TC-Timestamp": str(timestamp),
            "Authorization": authorization(
                credentials.secret_id,
                timestamp,
                signature(credentials.secret_key, timestamp, to_sign, service),
                service,
            ),
        }
    )
    if region:
        headers["X-TC-Region"] = region
    if language:
        headers["X-TC-Language"] = language
    if credentials.token:
        headers["X-TC-Token"] = credentials.token
    return headers


def host_header(url: str) -> str:
    """The ``Host`` header an HTTP client sends for ``url``: the port only when not default."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port is not None and parts.port != default_port:
        return f"{host}:{parts.port}"
    return host


class TC3Auth(requests.auth.AuthBase):
    """Sign a ``requests`` request with TC3-HMAC-SHA256.

    ``credentials`` is called for every request, so refreshing providers stay fresh;
    ``clock`` returns Unix seconds and is injectable for tests.

    >>> import requests
    >>> from mobilestatus_pandas.service.credentials import Credentials
    >>> auth = TC3Auth(lambda: Credentials("AKIDEXAMPLE", "secret"), clock=lambda: 1700000000)
    >>> req = requests.Request("POST", "http://127.0.0.1:8080/", data=b"{}", auth=auth).prepare()
    >>> req.headers["Host"], req.headers["X-TC-Timestamp"]
    ('127.0.0.1:8080', '1700000000')
    """

    def __init__(
        self,
        credentials: Callable[[], Credentials],
        *,
        clock: Callable[[], float],
        action: str = ACTION,
        version: str = API_VERSION,
        region: str | None = None,
        language: str | None = None,
    ) -> None:
        self._credentials = credentials
        self._clock = clock
        self._action = action
        self._version = version
        self._region = region
        self._language = language

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        if r.url is None or r.method is None:
            raise ValueError("TC3Auth needs a prepared request with a URL and a method")
        parts = urlsplit(r.url)
        headers = sign_request(
            credentials=self._credentials(),
            host=host_header(r.url),
            body=body,
            timestamp=int(self._clock()),
            method=r.method,
            path=parts.path or "/",
            content_type=r.headers.get("Content-Type", JSON_CONTENT_TYPE),
            action=self._action,
            version=self._version,
            region=self._region,
            language=self._language,
        )
        r.headers.update(headers)
        return r
