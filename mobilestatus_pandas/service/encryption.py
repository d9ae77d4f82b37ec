"""The ``Encryption`` parameter: send the number encrypted, as Tencent's helpers do.

Tencent publishes helpers for Go, Java and Node.js only; this is the same scheme, on
``cryptography`` (imported on first use):

1. a fresh random symmetric key for every request (32 characters for AES-256-CBC);
2. each listed field (``Mobile``) encrypted with it, AES-256-CBC, PKCS#7 padding, a fresh
   random 16-byte IV, base64: the ciphertext replaces the value;
3. the symmetric key encrypted with Tencent's public key (RSA, PKCS#1 v1.5), base64:
   ``CiphertextBlob``;
4. ``Encryption = {"EncryptList": ["Mobile"], "CiphertextBlob": ..., "Iv": ...,
   "Algorithm": "AES-256-CBC"}`` added to the request.

``SM4-GCM`` needs SM2 public-key encryption for step 3, which no well-kept Python library
provides (``cryptography`` has SM4 but not SM2): asking for it raises
:class:`EncryptionUnavailable`, which says so.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ..errors import InputError, MobileStatusError

AES_256_CBC: Final = "AES-256-CBC"
SM4_GCM: Final = "SM4-GCM"
ALGORITHMS: Final = (AES_256_CBC, SM4_GCM)
ENCRYPTED_FIELDS: Final = ("Mobile",)
AES_KEY_CHARACTERS: Final = 32
AES_BLOCK_BYTES: Final = 16
_KEY_ALPHABET: Final = string.ascii_letters + string.digits

# Tencent's published public keys for faceid's Encryption parameter, as embedded (base64 of
# the PEM) in Tencent's official helper github.com/TencentCloud/faceid-api-crypto-golang,
# faceid/crypto.go, constants rsaKey (AES-256-CBC) and sm2Key (SM4-GCM).
TENCENT_RSA_PUBLIC_KEY: Final = """-----BEGIN RSA PUBLIC KEY-----
MIGJAoGBAMRJoaUkZN1d5Mp8F5V6itXmSLNM5Z771afayoI49SndkFtsspHS402Z
EUUPQfqbuZk/VuSh59LtA/fBKzb4BP5bV8aqogVhG4e/q+NDkwlaq0i31HwLyBla
EojE/EEHpXBsuEkVTbKEy5elRq9toL7IZ80i+H2mtfU5CPsar+R3AgMBAAE=
-----END RSA PUBLIC KEY-----
"""
TENCENT_SM2_PUBLIC_KEY: Final = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAEy2QjbKC4L6LJpw51mjX90X41NYGa
Mp+OGX7eJBfs8K98MOtKN8wPjj1iqHUlW6qyPGggNPI5RGEoAXaojOVycg==
-----END PUBLIC KEY-----
"""


class EncryptionUnavailable(MobileStatusError, NotImplementedError):
    """The chosen algorithm cannot be used from Python here; the message says what is missing."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _load_rsa_public_key(pem: str | bytes) -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    raw = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = load_pem_public_key(raw)  # SubjectPublicKeyInfo and PKCS#1 both load
    except ValueError as exc:
        raise InputError(
            "public_key is not a PEM public key (PKCS#1 'RSA PUBLIC KEY' or 'PUBLIC KEY')"
        ) from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise InputError("AES-256-CBC needs an RSA public key")
    return key


class Encryption:
    """Encrypt the number in every request (Tencent's ``Encryption`` parameter).

    Args:
        public_key: a PEM public key (PKCS#1 or SubjectPublicKeyInfo); by default Tencent's
            published faceid key for the algorithm.
        algorithm: ``"AES-256-CBC"`` (default) or ``"SM4-GCM"`` (unavailable: needs SM2).

    >>> import mobilestatus_pandas as msp
    >>> with msp.Sandbox() as sb:
    ...     client = sb.client(encryption=True)   # the sandbox's own key pair
    ...     client.lookup("13800000002").status
    'cancelled'
    """

    def __init__(self, public_key: str | bytes | None = None, algorithm: str = AES_256_CBC) -> None:
        if algorithm not in ALGORITHMS:
            raise InputError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
        if algorithm == SM4_GCM:
            raise EncryptionUnavailable(
                "SM4-GCM encrypts its key with SM2, and no well-kept Python library provides "
                "SM2 public-key encryption (cryptography has SM4 but not SM2). "
                "Use algorithm='AES-256-CBC'."
            )
        self.algorithm = algorithm
        pem = public_key if public_key is not None else TENCENT_RSA_PUBLIC_KEY
        self._public_key = _load_rsa_public_key(pem)
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        der = self._public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        self.fingerprint = hashlib.sha256(der).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"Encryption(algorithm={self.algorithm!r}, public_key=sha256:{self.fingerprint})"

    def encrypt(
        self, params: Mapping[str, Any], fields: Iterable[str] = ENCRYPTED_FIELDS
    ) -> dict[str, Any]:
        """``params`` with ``fields`` encrypted and the ``Encryption`` object added.

        A fresh symmetric key and IV are drawn for every call.
        """
        from cryptography.hazmat.primitives import padding
        from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        key = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(AES_KEY_CHARACTERS)).encode()
        iv = secrets.token_bytes(AES_BLOCK_BYTES)
        out = dict(params)
        listed = [f for f in fields if f in params]
        for field in listed:
            padder = padding.PKCS7(AES_BLOCK_BYTES * 8).padder()
            padded = padder.update(str(params[field]).encode("utf-8")) + padder.finalize()
            encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
            out[field] = _b64(encryptor.update(padded) + encryptor.finalize())
        out["Encryption"] = {
            "EncryptList": listed,
            "CiphertextBlob": _b64(self._public_key.encrypt(key, PKCS1v15())),
            "Iv": _b64(iv),
            "Algorithm": self.algorithm,
        }
        return out


def decrypt_fields(params: Mapping[str, Any], private_key_pem: bytes) -> dict[str, Any]:
    """The service's side: decrypt the listed fields of ``params`` with the private key.

    Raises ``ValueError`` with Tencent's error code as its message:
    ``InvalidParameter.UnsupportEncryptField`` or ``FailedOperation.DecryptSystemError``.
    """
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    spec = params.get("Encryption")
    if not isinstance(spec, dict) or not isinstance(spec.get("EncryptList"), list):
        raise ValueError("FailedOperation.DecryptSystemError")
    listed = spec["EncryptList"]
    if any(field not in ENCRYPTED_FIELDS for field in listed):
        raise ValueError("InvalidParameter.UnsupportEncryptField")
    if spec.get("Algorithm") != AES_256_CBC:
        raise ValueError("FailedOperation.DecryptSystemError")
    try:
        private_key: Any = load_pem_private_key(private_key_pem, password=None)
        key = private_key.decrypt(base64.b64decode(spec["CiphertextBlob"]), PKCS1v15())
        iv = base64.b64decode(spec["Iv"])
        out = {k: v for k, v in params.items() if k != "Encryption"}
        for field in listed:
            decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
            padded = decryptor.update(base64.b64decode(params[field])) + decryptor.finalize()
            unpadder = padding.PKCS7(AES_BLOCK_BYTES * 8).unpadder()
            out[field] = (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError("FailedOperation.DecryptSystemError") from exc
    return out
