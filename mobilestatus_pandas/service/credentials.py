"""Find the SecretId/SecretKey to sign with, the way Tencent's own tools do.

The chain, first match wins:

1. explicit arguments (``secret_id=``, ``secret_key=``, ``token=``), or a ``credential=``
   object with ``get_credential_info()``: the official SDK's CVM-role, STS and OIDC providers
   work as they are and are asked again before every call, so they refresh themselves;
2. the environment: ``TENCENTCLOUD_SECRET_ID``, ``TENCENTCLOUD_SECRET_KEY`` and, for
   temporary credentials, ``TENCENTCLOUD_SESSION_TOKEN`` (or ``TENCENTCLOUD_TOKEN``);
3. the profile file ``~/.tencentcloud/credentials``, section ``[default]`` (keys ``secret_id``,
   ``secret_key``, optional ``token``), then ``/etc/tencentcloud/credentials``.

A key never appears in a repr, a log line or an exception message.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

from ..errors import CredentialsNotFound

ENV_SECRET_ID: Final = "TENCENTCLOUD_SECRET_ID"  # noqa: S105 - a variable name
ENV_SECRET_KEY: Final = "TENCENTCLOUD_SECRET_KEY"  # noqa: S105 - a variable name
ENV_TOKENS: Final = ("TENCENTCLOUD_SESSION_TOKEN", "TENCENTCLOUD_TOKEN")
PROFILE_SECTION: Final = "default"


def profile_paths() -> list[Path]:
    """The profile files searched, in order."""
    return [Path.home() / ".tencentcloud" / "credentials", Path("/etc/tencentcloud/credentials")]


def mask(secret: str | None) -> str:
    """Say whether a secret is there, and nothing of it: ``<set>`` or ``<none>``.

    Not even a few characters: a fragment of a key narrows a search for it, and a key's
    ends are as secret as its middle. To tell two credentials apart, compare SecretIds.
    """
    return "<set>" if secret else "<none>"


@dataclass(frozen=True)
class Credentials:
    """A SecretId, SecretKey and optional STS token. The repr shows only the SecretId."""

    secret_id: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    source: str = "arguments"

    def __repr__(self) -> str:
        token = f", token={mask(self.token)}" if self.token else ""
        return (
            f"Credentials(secret_id={self.secret_id!r}, secret_key={mask(self.secret_key)}"
            f"{token}, source={self.source!r})"
        )


@runtime_checkable
class CredentialProvider(Protocol):
    """Anything with ``get_credential_info() -> (secret_id, secret_key, token)``."""

    def get_credential_info(self) -> tuple[str, str, str | None]: ...


class CredentialSource:
    """Hands out the current credentials; providers are asked again on every call."""

    def __init__(self, fixed: Credentials | None = None, provider: object | None = None) -> None:
        if fixed is None and provider is None:
            raise ValueError("a CredentialSource needs fixed credentials or a provider")
        self._fixed = fixed
        self._provider = provider

    @property
    def secret_id(self) -> str:
        """The current SecretId (safe to show; used to key the shared rate limit)."""
        return self.get().secret_id

    def get(self) -> Credentials:
        """Return the credentials to sign the next call with."""
        if self._fixed is not None:
            return self._fixed
        info = self._provider.get_credential_info()  # type: ignore[union-attr]
        secret_id, secret_key, token = (*tuple(info), None)[:3]
        if not secret_id or not secret_key:
            raise CredentialsNotFound(
                f"{type(self._provider).__name__}.get_credential_info() returned no "
                "SecretId/SecretKey. " + _HOW_TO
            )
        return Credentials(str(secret_id), str(secret_key), token or None, source="provider")

    def __repr__(self) -> str:
        if self._fixed is not None:
            return f"CredentialSource({self._fixed!r})"
        return f"CredentialSource(provider={type(self._provider).__name__})"


_HOW_TO: Final = (
    "Provide credentials in one of three ways: "
    "(1) pass secret_id= and secret_key= (or credential=, an object with get_credential_info()); "
    f"(2) set the environment variables {ENV_SECRET_ID} and {ENV_SECRET_KEY} "
    f"(and {ENV_TOKENS[0]} for temporary credentials); "
    "(3) write them to ~/.tencentcloud/credentials under [default] as secret_id and secret_key. "
    "To try the library without an account, use the local sandbox: "
    "`with mobilestatus_pandas.Sandbox() as sb: client = sb.client()`."
)


def _from_profile(path: Path) -> Credentials | None:
    if not path.is_file():
        return None
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
    if not parser.has_section(PROFILE_SECTION):
        return None
    section = parser[PROFILE_SECTION]
    secret_id, secret_key = section.get("secret_id"), section.get("secret_key")
    if not secret_id or not secret_key:
        return None
    return Credentials(
        secret_id.strip(),
        secret_key.strip(),
        (section.get("token") or "").strip() or None,
        source=str(path),
    )


def resolve_credentials(
    secret_id: str | None = None,
    secret_key: str | None = None,
    token: str | None = None,
    credential: object | None = None,
) -> CredentialSource:
    """Walk the chain and return a source of credentials, or raise :class:`CredentialsNotFound`."""
    if credential is not None:
        if not isinstance(credential, CredentialProvider):
            raise TypeError(
                "credential= must have a get_credential_info() method returning "
                "(secret_id, secret_key, token), like tencentcloud.common.credential.Credential"
            )
        return CredentialSource(provider=credential)
    if secret_id or secret_key:
        if not (secret_id and secret_key):
            missing = "secret_key" if secret_id else "secret_id"
            raise CredentialsNotFound(
                f"secret_id and secret_key go together; {missing} is missing."
            )
        return CredentialSource(Credentials(secret_id, secret_key, token, source="arguments"))
    env_id, env_key = os.environ.get(ENV_SECRET_ID), os.environ.get(ENV_SECRET_KEY)
    if env_id and env_key:
        env_token = next((os.environ[name] for name in ENV_TOKENS if os.environ.get(name)), None)
        return CredentialSource(Credentials(env_id, env_key, token or env_token, "environment"))
    for path in profile_paths():
        found = _from_profile(path)
        if found is not None:
            return CredentialSource(found)
    raise CredentialsNotFound("No Tencent Cloud credentials found. " + _HOW_TO)
