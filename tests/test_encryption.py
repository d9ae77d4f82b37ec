"""The Encryption parameter: our requests, decrypted independently, and the sandbox's answers."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import mobilestatus_pandas as msp
from mobilestatus_pandas.service.encryption import TENCENT_RSA_PUBLIC_KEY

NUMBER = "13800000002"


@pytest.fixture(scope="module")
def key_pair() -> tuple[bytes, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pkcs1 = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
    )
    return private_pem, public_pkcs1.decode()


def test_a_request_decrypts_with_plain_cryptography(key_pair: tuple[bytes, str]) -> None:
    private_pem, public_pem = key_pair
    with msp.Sandbox() as sb:
        client = sb.client(encryption=msp.Encryption(public_key=public_pem))
        body = client._prepare(NUMBER).body
    assert isinstance(body, bytes)
    assert NUMBER.encode() not in body, "the number never travels in clear"
    sent = json.loads(body)
    spec = sent["Encryption"]
    assert spec["EncryptList"] == ["Mobile"]
    assert spec["Algorithm"] == "AES-256-CBC"
    private = serialization.load_pem_private_key(private_pem, password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    key = private.decrypt(base64.b64decode(spec["CiphertextBlob"]), PKCS1v15())
    assert len(key) == 32
    iv = base64.b64decode(spec["Iv"])
    assert len(iv) == 16
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(base64.b64decode(sent["Mobile"])) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    assert (unpadder.update(padded) + unpadder.finalize()).decode() == NUMBER


def test_fresh_key_and_iv_for_every_request() -> None:
    encryption = msp.Encryption()
    first, second = encryption.encrypt({"Mobile": NUMBER}), encryption.encrypt({"Mobile": NUMBER})
    assert first["Mobile"] != second["Mobile"]
    assert first["Encryption"]["Iv"] != second["Encryption"]["Iv"]
    assert first["Encryption"]["CiphertextBlob"] != second["Encryption"]["CiphertextBlob"]


def test_round_trip_through_the_sandbox_with_its_own_key_pair() -> None:
    with msp.Sandbox() as sb:
        client = sb.client(encryption=True)
        out = client.lookup_many(["13800000002", "13800138000", "13800000101"], progress=False)
        assert out["status"].tolist() == ["cancelled", "out_of_service", "not_found"]
        assert sb.stats(numbers=True)["billed_per_number"] == {"13800000002": 1, "13800138000": 1}


def test_a_sandbox_given_a_private_key_decrypts_with_it(key_pair: tuple[bytes, str]) -> None:
    private_pem, public_pem = key_pair
    with msp.Sandbox(private_key=private_pem) as sb:
        assert sb.client(encryption=msp.Encryption(public_pem)).lookup(NUMBER).status == "cancelled"


def test_wrong_key_stops_the_run_at_the_first_call(key_pair: tuple[bytes, str]) -> None:
    _, other_public = key_pair
    numbers = [f"1380013{i:04d}" for i in range(200)]
    with msp.Sandbox() as sb:
        client = sb.client(encryption=msp.Encryption(other_public))
        with pytest.raises(msp.EncryptionKeyError, match="key is not the service's") as info:
            client.lookup_many(numbers, progress=False)
        assert isinstance(info.value, msp.MobileStatusError)
        assert info.value.code == "FailedOperation.DecryptSystemError"
        assert info.value.request_id, "the RequestId support asks for"
        stats = sb.stats()
        assert stats["requests"] == 1, "a wrong key costs one request, not 200"
        assert stats["billed"] == 0
        with pytest.raises(msp.EncryptionKeyError):
            client.lookup(NUMBER)
        ledger = client.ledger()
        assert ledger["error"].tolist() == ["FailedOperation.DecryptSystemError"] * 2
        assert not ledger["billed"].any()


def test_unsupported_encrypted_field(key_pair: tuple[bytes, str]) -> None:
    from tests.test_sandbox import code_of, post

    with msp.Sandbox() as sb:
        params = msp.Encryption(sb.public_key_pem).encrypt(
            {"Mobile": NUMBER, "Name": "x"}, fields=("Mobile", "Name")
        )
        assert code_of(post(sb, params)) == "InvalidParameter.UnsupportEncryptField"
        broken = msp.Encryption(sb.public_key_pem).encrypt({"Mobile": NUMBER})
        broken["Encryption"]["Iv"] = "not base64!"
        assert code_of(post(sb, broken)) == "FailedOperation.DecryptSystemError"


def test_default_key_is_tencents_published_one() -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    published = load_pem_public_key(TENCENT_RSA_PUBLIC_KEY.encode())
    assert isinstance(published, rsa.RSAPublicKey)
    assert published.key_size == 1024
    assert msp.Encryption().fingerprint == msp.Encryption(TENCENT_RSA_PUBLIC_KEY).fingerprint


def test_sm4_gcm_says_what_is_missing() -> None:
    with pytest.raises(msp.EncryptionUnavailable, match="SM2") as info:
        msp.Encryption(algorithm="SM4-GCM")
    assert isinstance(info.value, NotImplementedError)
    with pytest.raises(msp.InputError, match="algorithm"):
        msp.Encryption(algorithm="ROT13")
    with pytest.raises(msp.InputError, match="PEM"):
        msp.Encryption(public_key="not a key")
