from __future__ import annotations

from pathlib import Path

import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.service.credentials import Credentials, resolve_credentials

KEY = "s3cr3tK3yThatMustNeverShow"


def test_explicit_arguments_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "env-id")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "env-key")
    creds = resolve_credentials("arg-id", KEY).get()
    assert (creds.secret_id, creds.secret_key, creds.source) == ("arg-id", KEY, "arguments")


def test_environment_with_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "env-id")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "env-key")
    monkeypatch.setenv("TENCENTCLOUD_SESSION_TOKEN", "sts-token")
    creds = resolve_credentials().get()
    assert (creds.secret_id, creds.secret_key, creds.token) == ("env-id", "env-key", "sts-token")
    assert creds.source == "environment"


def test_profile_file(isolated_env: Path) -> None:
    profile = isolated_env / ".tencentcloud" / "credentials"
    profile.parent.mkdir()
    profile.write_text("[default]\nsecret_id = file-id\nsecret_key = file-key\n")
    creds = resolve_credentials().get()
    assert (creds.secret_id, creds.secret_key) == ("file-id", "file-key")


def test_profile_without_default_section_is_skipped(isolated_env: Path) -> None:
    profile = isolated_env / ".tencentcloud" / "credentials"
    profile.parent.mkdir()
    profile.write_text("[other]\nsecret_id = x\nsecret_key = y\n")
    with pytest.raises(msp.CredentialsNotFound):
        resolve_credentials()


def test_provider_objects_are_asked_every_time() -> None:
    class Rotating:
        calls = 0

        def get_credential_info(self) -> tuple[str, str, str | None]:
            Rotating.calls += 1
            return f"id{Rotating.calls}", f"key{Rotating.calls}", "tok"

    source = resolve_credentials(credential=Rotating())
    assert source.get().secret_id == "id1"
    assert source.get().secret_key == "key2"


def test_official_sdk_credential_works_as_provider() -> None:
    from tencentcloud.common import credential

    source = resolve_credentials(credential=credential.Credential("sdk-id", "sdk-key", "tok"))
    assert source.get() == Credentials("sdk-id", "sdk-key", "tok", source="provider")


def test_missing_credentials_say_what_to_do() -> None:
    with pytest.raises(msp.CredentialsNotFound) as info:
        resolve_credentials()
    message = str(info.value)
    assert "secret_id=" in message
    assert "TENCENTCLOUD_SECRET_ID" in message
    assert "~/.tencentcloud/credentials" in message
    assert "Sandbox" in message
    assert isinstance(info.value, LookupError)


def test_half_given_credentials_are_an_error() -> None:
    with pytest.raises(msp.CredentialsNotFound, match="secret_key is missing"):
        resolve_credentials(secret_id="only-id")


def test_repr_masks_key_and_token() -> None:
    creds = Credentials("AKIDvisible", KEY, token="tokensecret")
    text = repr(creds) + str(creds) + repr(resolve_credentials("AKIDvisible", KEY, "tokensecret"))
    assert KEY not in text
    assert "tokensecret" not in text
    assert "AKIDvisible" in text
