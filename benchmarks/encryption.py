"""What encrypting the number costs per call, against building the plain request body.

.venv/bin/python benchmarks/encryption.py
"""

from __future__ import annotations

import json
import time

import mobilestatus_pandas as msp

CALLS = 2000
RATE_INTERVAL_MS = 1000 / 20  # one call every 50 ms at the 20/s limit


def per_call_ms(make_body: object) -> float:
    started = time.perf_counter()
    for i in range(CALLS):
        make_body(f"138{i:08d}")  # type: ignore[operator]
    return (time.perf_counter() - started) / CALLS * 1000


def main() -> None:
    encryption = msp.Encryption()  # Tencent's published RSA key, AES-256-CBC
    plain = per_call_ms(lambda n: json.dumps({"Mobile": n}).encode())
    encrypted = per_call_ms(lambda n: json.dumps(encryption.encrypt({"Mobile": n})).encode())
    print(f"plain body      {plain:.4f} ms per call")
    print(f"encrypted body  {encrypted:.4f} ms per call ({encrypted / plain:.0f}x plain)")
    print(
        f"encryption adds {encrypted - plain:.3f} ms per call, "
        f"{(encrypted - plain) / RATE_INTERVAL_MS:.2%} of the 50 ms between calls at 20/s"
    )


if __name__ == "__main__":
    main()
