"""The embedded sandbox: a local, protocol-faithful stand-in for Tencent's MobileStatus.

>>> import mobilestatus_pandas as msp
>>> with msp.Sandbox() as sb:
...     result = sb.client().lookup("13800138000")
>>> result.result, result.status_code, result.status
('0', 1, 'out_of_service')
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests

from .behaviour import MAGIC_NUMBERS, Behaviour, behaviour_for
from .server import (
    DEFAULT_FAULTS,
    DEFAULT_STALL_SECONDS,
    FAULT_KINDS,
    RESET_PATH,
    STATS_PATH,
    SandboxConfig,
    SandboxState,
    make_server,
)

if TYPE_CHECKING:
    from ..client import MobileStatusClient

#: The environment variable through which a sandbox in its own process gets its SecretKey.
SECRET_KEY_ENV = "MOBILESTATUS_SANDBOX_SECRET_KEY"  # noqa: S105 - a variable name
#: Whose answers a sandbox client caches: every sandbox's (a number's answer is the same on
#: every sandbox, whatever its port), never the real service's. The parentheses cannot
#: appear in an endpoint's host, so no real endpoint shares this realm.
SANDBOX_REALM = "(sandbox)"
#: Size of the key pair a sandbox makes for the Encryption parameter.
RSA_KEY_BITS = 2048

__all__ = [
    "DEFAULT_FAULTS",
    "FAULT_KINDS",
    "MAGIC_NUMBERS",
    "Behaviour",
    "Sandbox",
    "behaviour_for",
]


class Sandbox:
    """A real HTTP server on loopback answering MobileStatus like Tencent's endpoint, and
    MobileNetworkTimeVerification (line tenure) beside it: each API with its own codes,
    rate-limit bucket and daily quota (``stats()`` counts them ``..._by_action``).

    Args:
        port: 0 (default) picks a free port.
        secret_id, secret_key: the credentials it accepts (random when not given).
        token: when set, requests must carry it as ``X-TC-Token`` (temporary credentials).
        rate_limit: requests per second per SecretId before ``RequestLimitExceeded``.
        latency_ms, latency_spread_ms: added to every answer (normal, clipped at 0).
        latency_tail_sigma: when set, latency is heavy-tailed instead: lognormal with median
            ``latency_ms`` and this shape (0.8 makes the mean 1.4x the median and one call
            in a hundred over 6x), as far from the endpoint.
        arrival_jitter_ms, jitter: the internet between a client and the service's rate
            counter: each request reaches the counter (and is counted in its second) this
            much later, drawn per request from the seed: ``"uniform"`` in
            ``[0, arrival_jitter_ms]``, or ``"pareto"``, heavy-tailed with the same mean (one
            request in a hundred 4.5x ``arrival_jitter_ms`` late). A client that keeps to the
            limit by its own send times can then see ``RequestLimitExceeded``, as on a real
            network.
        daily_quota: after this many lookups every answer is ``Result -4``.
        fault_rate: share of requests that fail, spread over ``faults``
            (by default ``drop``, ``http_502``, ``truncated``, ``busy``, ``internal_error``:
            before the lookup, never billed). Two more, by name, fail *after* a billed
            lookup (a lost answer): ``billed_drop`` closes the connection without an
            answer, ``billed_stall`` sends half the answer and stalls for
            ``stall_seconds``; ``stats()["faults"]`` counts each kind, ``stats()["billed"]``
            includes the billed ones.
        seed: makes latency and faults repeatable.
        account_error: answer every authenticated request with this error code
            (e.g. ``"UnauthorizedOperation.Arrears"``).
        private_key: PEM of the RSA private key that decrypts ``Encryption`` requests; by
            default a key pair is made on first use, and ``client(encryption=True)`` wires its
            public half (``public_key_pem``).
        own_process: serve from a child process instead of a thread of this one, so the
            server does not compete with the client under test for the GIL (its timings
            are then those of a separate machine). ``config`` changes do not reach it.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        secret_id: str | None = None,
        secret_key: str | None = None,
        token: str | None = None,
        rate_limit: float = 20.0,
        latency_ms: float = 0.0,
        latency_spread_ms: float = 0.0,
        latency_tail_sigma: float | None = None,
        arrival_jitter_ms: float = 0.0,
        jitter: str = "uniform",
        daily_quota: int | None = None,
        fault_rate: float = 0.0,
        faults: tuple[str, ...] = DEFAULT_FAULTS,
        stall_seconds: float = DEFAULT_STALL_SECONDS,
        seed: int | None = 0,
        account_error: str | None = None,
        clock: Callable[[], float] = time.time,
        own_process: bool = False,
        private_key: str | bytes | None = None,
    ) -> None:
        if own_process and clock is not time.time:
            raise ValueError("a sandbox in its own process uses the real clock")
        if own_process and private_key is not None:
            raise ValueError("a sandbox in its own process does not decrypt: drop own_process")
        self._state = SandboxState(
            SandboxConfig(
                secret_id=secret_id or "AKIDsandbox" + secrets.token_hex(8),
                secret_key=secret_key or secrets.token_urlsafe(24),
                token=token,
                rate_limit=rate_limit,
                latency_ms=latency_ms,
                latency_spread_ms=latency_spread_ms,
                latency_tail_sigma=latency_tail_sigma,
                arrival_jitter_ms=arrival_jitter_ms,
                jitter=jitter,
                daily_quota=daily_quota,
                fault_rate=fault_rate,
                faults=tuple(faults),
                stall_seconds=stall_seconds,
                seed=seed,
                account_error=account_error,
                clock=clock,
                private_key_pem=(
                    private_key.encode("ascii") if isinstance(private_key, str) else private_key
                ),
            )
        )
        self._host, self._port = host, port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._own_process = own_process
        self._child: subprocess.Popen[str] | None = None
        self._child_url: str | None = None

    @property
    def config(self) -> SandboxConfig:
        """The live configuration (fields may be changed while it runs, e.g. ``fault_rate``)."""
        return self._state.config

    @property
    def public_key_pem(self) -> str:
        """The public half of the key the sandbox decrypts with (made on first use)."""
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            NoEncryption,
            PrivateFormat,
            PublicFormat,
            load_pem_private_key,
        )

        config = self._state.config
        if config.private_key_pem is None:
            if self._own_process:
                raise RuntimeError("a sandbox in its own process does not decrypt")
            from cryptography.hazmat.primitives.asymmetric import rsa

            generated = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
            config.private_key_pem = generated.private_bytes(
                Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
            )
        private: Any = load_pem_private_key(config.private_key_pem, password=None)
        return str(
            private.public_key()
            .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    @property
    def secret_id(self) -> str:
        """The SecretId the sandbox accepts."""
        return self._state.config.secret_id

    @property
    def secret_key(self) -> str:
        """The SecretKey the sandbox accepts."""
        return self._state.config.secret_key

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        if self._child_url is not None:
            return self._child_url
        if self._server is None:
            raise RuntimeError(
                "the sandbox is not running; use `with Sandbox() as sb:` or .start()"
            )
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        """The bound port."""
        if self._child_url is not None:
            return int(self._child_url.rsplit(":", 1)[1])
        return int(self._server.server_address[1]) if self._server is not None else self._port

    def _child_args(self) -> list[str]:
        c = self.config
        args = [
            sys.executable, "-m", "mobilestatus_pandas.cli", "sandbox", "--json",
            "--host", self._host, "--port", str(self._port),
            f"--secret-id={c.secret_id}",
            "--rate-limit", repr(c.rate_limit), "--latency-ms", repr(c.latency_ms),
            "--latency-spread-ms", repr(c.latency_spread_ms), "--fault-rate", repr(c.fault_rate),
            "--faults", ",".join(c.faults), "--stall-seconds", repr(c.stall_seconds),
            "--arrival-jitter-ms", repr(c.arrival_jitter_ms), "--jitter", c.jitter,
        ]  # fmt: skip
        optional = {
            "--latency-tail-sigma": c.latency_tail_sigma,
            "--daily-quota": c.daily_quota, "--seed": c.seed, "--token": c.token,
            "--account-error": c.account_error,
        }  # fmt: skip
        for flag, value in optional.items():
            if value is not None:
                args.append(f"{flag}={value}")  # "=": a value may start with "-"
        return args

    def _start_child(self) -> None:
        # The key goes through the environment, not the command line (which `ps` shows).
        env = {**os.environ, SECRET_KEY_ENV: self.config.secret_key}
        self._child = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            self._child_args(), stdout=subprocess.PIPE, text=True, env=env
        )
        assert self._child.stdout is not None
        line = self._child.stdout.readline()
        if not line:
            self._child.wait(timeout=10)
            raise RuntimeError("the sandbox process did not start")
        self._child_url = json.loads(line)["endpoint"]

    def start(self) -> Sandbox:
        """Bind and serve in a background thread (or a child process, ``own_process=True``)."""
        if self._own_process:
            if self._child is None:
                self._start_child()
            return self
        if self._server is None:
            self._state.closing.clear()
            self._server = make_server(self._state, self._host, self._port)
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="mobilestatus-sandbox", daemon=True
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Bind and serve in this thread until interrupted."""
        if self._server is None:
            self._server = make_server(self._state, self._host, self._port)
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._child is not None:
            self._child.terminate()
            self._child.wait(timeout=10)
            if self._child.stdout is not None:
                self._child.stdout.close()
            self._child = None
            self._child_url = None
        if self._server is not None:
            self._state.closing.set()
            if self._thread is not None:
                self._server.shutdown()
                self._thread.join()
            self._server.server_close()
            self._server = None
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        running = self._server is not None or self._child_url is not None
        where = self.url if running else "not running"
        return f"Sandbox({where}, secret_id={self.secret_id!r})"

    def stats(self, *, numbers: bool = False) -> dict[str, Any]:
        """What the sandbox served, as counts: requests, answers, errors, faults, billing.

        ``max_arrivals_in_any_second`` is the most requests that reached the server in any
        one-second window, refused or not: a client that keeps to the limit keeps it <= the
        limit (``max_calls_in_any_second``, the admitted ones, never exceeds it).
        ``numbers_called``, ``numbers_billed_more_than_once`` and ``most_calls_for_one_number``
        count numbers without naming them; ``numbers=True`` adds the per-number detail
        (``billed_per_number``, ``billed_more_than_once``), numbers in clear.

        >>> with Sandbox() as sb:
        ...     _ = sb.client().lookup_many(["13800138000"] * 2, progress=False)
        ...     stats = sb.stats()
        >>> stats["numbers_called"], stats["numbers_billed_more_than_once"]
        (1, 0)
        >>> "billed_per_number" in stats
        False
        """
        if self._child_url is not None:
            answer = self._admin_post(STATS_PATH, {"numbers": numbers})
            stats: dict[str, Any] = answer.json()
            return stats
        return self._state.stats(numbers=numbers)

    def reset_stats(self) -> None:
        """Forget the counters and the rate window."""
        if self._child_url is not None:
            self._admin_post(RESET_PATH, {})
            return
        self._state.reset()

    def _admin_post(self, path: str, body: dict[str, Any]) -> requests.Response:
        """A request to the sandbox's own endpoints in a child process, signed with its
        credentials (the only requests it serves numbers in clear or a reset to)."""
        from ..service.credentials import Credentials
        from ..service.signing import TC3Auth

        config = self._state.config
        auth = TC3Auth(
            lambda: Credentials(config.secret_id, config.secret_key, config.token),
            clock=time.time,
        )
        answer = requests.post(
            f"{self._child_url}{path}", data=json.dumps(body).encode(), auth=auth, timeout=10,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        answer.raise_for_status()
        return answer

    def client(self, **options: Any) -> MobileStatusClient:
        """A :class:`MobileStatusClient` wired to this sandbox.

        Options go to the client. ``cache`` is the default cache, as for any client, and
        the sandbox's answers are kept in a realm of their own (:data:`SANDBOX_REALM`), so
        they never mix with the real service's, and a new sandbox (another port, after a
        kernel restart) finds the answers of earlier ones: a run stopped, or interrupted,
        resumes paying nothing twice. ``cache=None`` keeps them in this client's memory.
        """
        from ..client import MobileStatusClient

        options.setdefault("realm", SANDBOX_REALM)
        if options.get("encryption") is True:
            from ..service.encryption import Encryption

            options["encryption"] = Encryption(public_key=self.public_key_pem)
        options.setdefault("endpoint", self.url)
        if "credential" not in options:
            options.setdefault("secret_id", self.secret_id)
            options.setdefault("secret_key", self.secret_key)
            options.setdefault("token", self._state.config.token)
        return MobileStatusClient(**options)
