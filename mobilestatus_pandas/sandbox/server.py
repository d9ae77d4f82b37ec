"""The sandbox: a real HTTP server on loopback that speaks Tencent's MobileStatus protocol,
and its sibling MobileNetworkTimeVerification (line tenure), dispatched on ``X-TC-Action``.

It checks what the real endpoint checks, in the same order and with the same error codes:
the signature (TC3-HMAC-SHA256, exactly), the clock skew, the SecretId and token, the action,
version and content type, the parameters; it enforces the per-account rate limit; and it
answers every number deterministically (see :mod:`.behaviour`). Each action has its own
codes (:class:`ServedAction`: which Result is busy, the daily limit, billed) and its own
per-account rate-limit bucket, as Tencent documents a limit per API. For tests and demos it can
add latency, a daily quota and faults (dropped connections, HTTP 502, truncated JSON,
``Result -3``, ``InternalError``), all from a seed, and it counts what it served.

The default faults are injected *before* a number is looked up, as a gateway or an
overloaded backend would fail: such a request is never billed, so a client that retries it
pays once. Two more, asked for by name, fail *after* the number was looked up and billed, as
a network that loses the answer would: ``billed_drop`` closes the connection without an
answer, ``billed_stall`` sends the headers and half the body, then stalls for
``stall_seconds`` (past any client timeout) and closes. The client cannot tell these from
the unbilled ones: both are "sent, no answer", possibly billed.

The internet's timing: Tencent counts its 20 calls a second by the time a request reaches
the service, and the path from a client to the service is not loopback. ``arrival_jitter_ms``
holds every request for a random time before the rate limit's counter sees it (``jitter``:
``"uniform"`` in ``[0, arrival_jitter_ms]``, or ``"pareto"``: heavy-tailed, the same mean,
one request in a hundred held 4.5x ``arrival_jitter_ms``), drawn from the seed. The counters
(``max_arrivals_in_any_second``, the limit itself) count by that late arrival, so two
requests sent 60 ms apart may be counted in the opposite order, as on a real network.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import math
import random
import re
import secrets
import socket
import struct
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs

from ..service import signing
from .behaviour import (
    DESCRIPTIONS,
    ERROR_MESSAGES,
    TENURE_ACTION,
    TENURE_DESCRIPTIONS,
    Behaviour,
    behaviour_for,
    tenure_behaviour_for,
)

MAX_CLOCK_SKEW_SECONDS: Final = 300
MAX_BODY_BYTES: Final = 1 << 20
#: Faults that happen before the lookup: never billed. The default set.
DEFAULT_FAULTS: Final[tuple[str, ...]] = ("drop", "http_502", "truncated", "busy", "internal_error")
#: Faults that happen after the lookup was billed: the answer is lost on the way.
BILLED_FAULTS: Final[tuple[str, ...]] = ("billed_drop", "billed_stall")
FAULT_KINDS: Final[tuple[str, ...]] = DEFAULT_FAULTS + BILLED_FAULTS
#: How long ``billed_stall`` holds a half-sent answer before closing the connection.
DEFAULT_STALL_SECONDS: Final = 30.0
_GATEWAY_FAULTS: Final = ("drop", "http_502")
#: How the arrival jitter is drawn: uniform in [0, arrival_jitter_ms], or heavy-tailed.
JITTER_KINDS: Final[tuple[str, ...]] = ("uniform", "pareto")
#: The heavy tail's shape (Lomax, i.e. Pareto II): 2 has a mean and no variance.
PARETO_SHAPE: Final = 2.0
#: No request is held longer than this many times ``arrival_jitter_ms`` (the tail is cut).
MAX_JITTER_FACTOR: Final = 50.0
#: The sandbox's own endpoints: counts for anyone (``GET /__stats``); numbers in clear
#: (``POST /__stats`` with ``{"numbers": true}``) and ``POST /__reset`` only for a request
#: signed with the sandbox's own SecretId and SecretKey (:meth:`Sandbox.stats` does).
STATS_PATH: Final = "/__stats"
RESET_PATH: Final = "/__reset"
ADMIN_ONLY: Final = (
    'the numbers (POST /__stats with {"numbers": true}) and POST /__reset are only for a '
    "request signed with this sandbox's own SecretId and SecretKey (TC3-HMAC-SHA256, as "
    "Sandbox.stats(numbers=True) and Sandbox.reset_stats() send); GET /__stats gives counts"
)
_TRUE_WORDS: Final = ("1", "true", "yes")
_AUTH_RE: Final = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/\s]+)"
    r"/tc3_request, ?SignedHeaders=(?P<signed>[a-z0-9;\-]+), ?Signature=(?P<sig>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class ServedAction:
    """What the sandbox needs to know to answer one API: its codes and how it answers."""

    api: str
    behaviour: Callable[[str], Behaviour]
    descriptions: dict[str, str]
    #: The Result for "service busy" (a fault) and for "daily limit reached".
    busy: str
    daily_limit: str
    #: The Results the service bills.
    billed: frozenset[str]

    def answer(self, result: str, behaviour: Behaviour | None = None) -> dict[str, Any]:
        """The ``Response`` fields of an answer with ``result`` (as the real API shapes it)."""
        answer: dict[str, Any] = {
            "Result": result,
            "Description": self.descriptions.get(result, "Unknown result"),
        }
        if self.api == signing.ACTION:
            code = behaviour.status_code if behaviour is not None else None
            answer["StatusCode"] = code if code is not None else 99
        else:  # tenure: Range on success, empty otherwise
            answer["Range"] = (behaviour.range or "") if behaviour is not None else ""
        return answer


#: The APIs the sandbox serves, by ``X-TC-Action``.
SERVED_ACTIONS: Final[dict[str, ServedAction]] = {
    signing.ACTION: ServedAction(
        signing.ACTION, behaviour_for, DESCRIPTIONS, "-3", "-4", frozenset({"0"})
    ),
    TENURE_ACTION: ServedAction(
        TENURE_ACTION,
        tenure_behaviour_for,
        TENURE_DESCRIPTIONS,
        "-4",
        "-5",
        frozenset({"0", "-2", "-3"}),
    ),
}


def number_label(number: str, api: str) -> str:
    """How the counters name a number asked of ``api``: MobileStatus's plainly, others with
    ``@<api>`` (a number's status and tenure are two calls, each billed once)."""
    return number if api == signing.ACTION else f"{number}@{api}"


class ApiError(Exception):
    """An error answer in Tencent's shape."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


@dataclass
class SandboxConfig:
    """How the sandbox behaves. Every field has a sensible default."""

    secret_id: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    rate_limit: float = 20.0
    latency_ms: float = 0.0
    latency_spread_ms: float = 0.0
    latency_tail_sigma: float | None = None
    arrival_jitter_ms: float = 0.0
    jitter: str = "uniform"
    daily_quota: int | None = None
    fault_rate: float = 0.0
    faults: tuple[str, ...] = DEFAULT_FAULTS
    stall_seconds: float = DEFAULT_STALL_SECONDS
    seed: int | None = 0
    account_error: str | None = None
    clock: Callable[[], float] = time.time
    private_key_pem: bytes | None = field(default=None, repr=False)


#: Linux's SO_TIMESTAMPNS (the socket module does not name it): the kernel stamps each
#: segment with the time it was received, whatever this process was doing then.
_SO_TIMESTAMPNS: Final = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform == "linux" else None)
#: A kernel stamp further than this from the clock is not the request's (never set).
_STAMP_TRUSTED_SECONDS: Final = 60.0
#: struct timespec: seconds and nanoseconds, two native longs.
_TIMESPEC: Final = struct.Struct("ll")

#: Every request that reaches the server counts here, in any one-second window.
ARRIVAL_WINDOW_SECONDS: Final = 1.0
#: How long the counters keep a time: long enough for requests counted out of order.
_COUNTER_HISTORY_SECONDS: Final = 3.0


class _SecondCounter:
    """Times as the service counts them, kept sorted: with arrival jitter they come out of
    order. :meth:`busiest` is the most times in any window ``[x, x + 1 s)`` that holds ``t``;
    for times that come in order it is the count in ``(t - 1 s, t]``, the sliding window."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def add(self, t: float) -> None:
        bisect.insort(self.times, t)
        horizon = self.times[-1] - _COUNTER_HISTORY_SECONDS
        if self.times[0] <= horizon:
            del self.times[: bisect.bisect_right(self.times, horizon)]

    def remove(self, t: float) -> None:
        del self.times[bisect.bisect_left(self.times, t)]

    def busiest(self, t: float, window: float = ARRIVAL_WINDOW_SECONDS) -> int:
        times = self.times
        first = bisect.bisect_right(times, t - window)
        last = bisect.bisect_right(times, t)
        return max(
            (bisect.bisect_left(times, times[i] + window) - i for i in range(first, last)),
            default=0,
        )


@dataclass
class _Counters:
    requests: int = 0
    answered: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    billed: Counter[str] = field(default_factory=Counter)
    # Numbers asked about (answered or not), and how many times: for counts only.
    looked_up: Counter[str] = field(default_factory=Counter)
    quota_used: Counter[str] = field(default_factory=Counter)
    max_calls_in_any_second: int = 0
    # Calls admitted past the rate limit, and the first and latest of them (counter times).
    calls_admitted: int = 0
    first_call_at: float | None = None
    last_call_at: float | None = None
    max_arrivals_in_any_second: int = 0
    # Per action (X-TC-Action): answers by Result, billed calls, requests, busiest seconds.
    answered_by_action: dict[str, Counter[str]] = field(default_factory=dict)
    billed_by_action: Counter[str] = field(default_factory=Counter)
    requests_by_action: Counter[str] = field(default_factory=Counter)
    max_calls_by_action: Counter[str] = field(default_factory=Counter)
    max_arrivals_by_action: Counter[str] = field(default_factory=Counter)


class SandboxState:
    """The sandbox's shared state: configuration, rate window, counters (thread-safe)."""

    def __init__(self, config: SandboxConfig) -> None:
        unknown = set(config.faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; choose from {FAULT_KINDS}")
        if not 0.0 <= config.fault_rate <= 1.0:
            raise ValueError("fault_rate is a share of requests, between 0 and 1")
        if config.jitter not in JITTER_KINDS:
            raise ValueError(f"jitter is one of {JITTER_KINDS}, got {config.jitter!r}")
        if not (math.isfinite(config.arrival_jitter_ms) and config.arrival_jitter_ms >= 0):
            raise ValueError("arrival_jitter_ms is a duration in milliseconds, 0 or more")
        self.config = config
        self.lock = threading.Lock()
        self.rng = random.Random(config.seed)
        # The jitter has a stream of its own: turning it on leaves the faults' draws alone.
        self.jitter_rng = random.Random(None if config.seed is None else f"jitter:{config.seed}")
        # Admitted calls per (SecretId, action): each API has its own limit.
        self.arrivals: dict[tuple[str, str], _SecondCounter] = {}
        # Every request that reached the server, refused or not, authenticated or not.
        self.all_arrivals = _SecondCounter()
        # ... and per action named in X-TC-Action.
        self.action_arrivals: dict[str, _SecondCounter] = {}
        self.counters = _Counters()
        #: Set when the server stops: stalled answers give up at once.
        self.closing = threading.Event()

    # -- decisions, each under the lock ----------------------------------------------------

    def draw_fault(self, stage: Iterable[str]) -> str | None:
        kinds = [k for k in self.config.faults if k in stage]
        with self.lock:
            if not kinds or self.rng.random() >= self.config.fault_rate * len(kinds) / len(
                self.config.faults
            ):
                return None
            kind = self.rng.choice(kinds)
            self.counters.faults[kind] += 1
            return kind

    def latency_seconds(self) -> float:
        if self.config.latency_ms <= 0:
            return 0.0
        sigma = self.config.latency_tail_sigma
        with self.lock:
            if sigma is not None:  # heavy tail: lognormal around the median latency_ms
                value = self.config.latency_ms * math.exp(self.rng.gauss(0.0, sigma))
            else:
                value = self.rng.gauss(self.config.latency_ms, self.config.latency_spread_ms)
        return max(0.0, value) / 1000.0

    def arrival_jitter_seconds(self) -> float:
        """How long this request takes from reaching the server to reaching the counter."""
        config = self.config
        if config.arrival_jitter_ms <= 0:
            return 0.0
        with self.lock:
            if config.jitter == "pareto":  # Lomax with the uniform's mean, J/2
                scale = config.arrival_jitter_ms / 2 * (PARETO_SHAPE - 1)
                value = scale * (self.jitter_rng.paretovariate(PARETO_SHAPE) - 1.0)
            else:
                value = self.jitter_rng.uniform(0.0, config.arrival_jitter_ms)
        return min(value, config.arrival_jitter_ms * MAX_JITTER_FACTOR) / 1000.0

    def arrive(self, now: float, action: str = signing.ACTION) -> None:
        """Count a request that reached the server, before anything can refuse it.

        ``max_arrivals_in_any_second`` is what a test of a client's pacing asserts on: the
        admitted calls (``max_calls_in_any_second``) can never exceed the limit, as the
        sandbox refuses the excess, so a bound on them could never fail. The same is kept
        per action (``max_arrivals_in_any_second_by_action``), each API having its own limit.
        """
        with self.lock:
            self.counters.requests += 1
            self.counters.requests_by_action[action] += 1
            for arrivals, record in (
                (self.all_arrivals, None),
                (self.action_arrivals.setdefault(action, _SecondCounter()), action),
            ):
                arrivals.add(now)
                busiest = arrivals.busiest(now)
                if record is None:
                    self.counters.max_arrivals_in_any_second = max(
                        self.counters.max_arrivals_in_any_second, busiest
                    )
                else:
                    by_action = self.counters.max_arrivals_by_action
                    by_action[record] = max(by_action[record], busiest)

    def admit(self, secret_id: str, now: float, action: str = signing.ACTION) -> bool:
        """Count an authenticated arrival against ``action``'s per-second limit for this
        SecretId (one bucket per API, as Tencent's limits are); False when over it."""
        limit = self.config.rate_limit
        window = 1.0 if limit >= 1 else 1.0 / limit
        allowed = int(limit) if limit >= 1 else 1
        with self.lock:
            arrivals = self.arrivals.setdefault((secret_id, action), _SecondCounter())
            arrivals.add(now)
            busiest = arrivals.busiest(now, window)
            if busiest > allowed:  # every window that holds it is counted, late or not
                arrivals.remove(now)
                return False
            c = self.counters
            c.max_calls_in_any_second = max(c.max_calls_in_any_second, busiest)
            c.calls_admitted += 1
            c.first_call_at = now if c.first_call_at is None else min(c.first_call_at, now)
            c.last_call_at = now if c.last_call_at is None else max(c.last_call_at, now)
            by_action = self.counters.max_calls_by_action
            by_action[action] = max(by_action[action], busiest)
            return True

    def use_quota(self, action: str = signing.ACTION) -> bool:
        """Count a lookup against ``action``'s daily quota; False when it is used up."""
        with self.lock:
            used = self.counters.quota_used
            if self.config.daily_quota is not None and used[action] >= self.config.daily_quota:
                return False
            used[action] += 1
            return True

    def count(
        self,
        *,
        error: str | None = None,
        result: str | None = None,
        billed_number: str | None = None,
        number: str | None = None,
        action: str = signing.ACTION,
    ) -> None:
        with self.lock:
            c = self.counters
            if error is not None:
                c.errors[error] += 1
            if result is not None:
                if action == signing.ACTION:
                    c.answered[result] += 1
                c.answered_by_action.setdefault(action, Counter())[result] += 1
            if billed_number is not None:
                c.billed[number_label(billed_number, action)] += 1
                c.billed_by_action[action] += 1
            if number is not None:
                c.looked_up[number_label(number, action)] += 1

    def stats(self, *, numbers: bool = False) -> dict[str, Any]:
        """What the sandbox served, as counts: no number appears unless ``numbers=True``.

        ``numbers_called`` counts distinct numbers asked about, ``most_calls_for_one_number``
        and ``most_billed_for_one_number`` the largest repeat, ``numbers_billed_more_than_once``
        the numbers paid for twice or more (0 when a client never pays twice). With
        ``numbers=True`` the per-number detail is added: ``billed_per_number`` and
        ``billed_more_than_once``, numbers in clear (they are the sandbox's own test numbers).

        ``answered`` counts MobileStatus's answers by Result; ``answered_by_action``,
        ``billed_by_action``, ``requests_by_action``, ``max_calls_in_any_second_by_action`` and
        ``max_arrivals_in_any_second_by_action`` count every action by its ``X-TC-Action``.
        Numbers asked of another action than MobileStatus are counted (and named, with
        ``numbers=True``) as ``<number>@<action>``: a number's status and its tenure are two
        calls, each billed once.

        ``calls_admitted`` counts the calls let past the rate limit (every action), and
        ``calls_per_second`` is their rate between the first and the latest as the limit's
        counter saw them (after any arrival jitter): the judge of a client's speed.
        """
        with self.lock:
            c = self.counters
            billed = dict(c.billed)
            stats: dict[str, Any] = {
                "requests": c.requests,
                "answered": dict(c.answered),
                "errors": dict(c.errors),
                "faults": dict(c.faults),
                "billed": sum(billed.values()),
                "billed_numbers": len(billed),
                "numbers_called": len(c.looked_up),
                "numbers_billed_more_than_once": sum(1 for k in billed.values() if k > 1),
                "most_calls_for_one_number": max(c.looked_up.values(), default=0),
                "most_billed_for_one_number": max(billed.values(), default=0),
                "rate_limited": c.errors.get("RequestLimitExceeded", 0),
                "max_arrivals_in_any_second": c.max_arrivals_in_any_second,
                "max_calls_in_any_second": c.max_calls_in_any_second,
                "calls_admitted": c.calls_admitted,
                "calls_per_second": _calls_per_second(c),
                "quota_used": sum(c.quota_used.values()),
                "answered_by_action": {a: dict(n) for a, n in c.answered_by_action.items()},
                "billed_by_action": dict(c.billed_by_action),
                "requests_by_action": dict(c.requests_by_action),
                "max_calls_in_any_second_by_action": dict(c.max_calls_by_action),
                "max_arrivals_in_any_second_by_action": dict(c.max_arrivals_by_action),
            }
            if numbers:
                stats["billed_per_number"] = billed
                stats["billed_more_than_once"] = sorted(n for n, k in billed.items() if k > 1)
            return stats

    def reset(self) -> None:
        with self.lock:
            self.counters = _Counters()
            self.arrivals.clear()
            self.all_arrivals = _SecondCounter()
            self.action_arrivals.clear()


def _calls_per_second(c: _Counters) -> float | None:
    """Admitted calls per second between the first and the latest (as the counter saw them)."""
    if c.first_call_at is None or c.last_call_at is None or c.calls_admitted < 2:
        return None
    span = c.last_call_at - c.first_call_at
    return (c.calls_admitted - 1) / span if span > 0 else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "MobileStatusSandbox/1.0"
    # The headers and the body of an answer go out in two writes: with Nagle's algorithm
    # the body waits for the client's delayed ACK of the headers (40 ms on Linux), and a
    # "zero latency" sandbox answered in 40 ms.
    disable_nagle_algorithm = True
    state: SandboxState  # set on the subclass made per server

    #: When the kernel received the request being handled (None: not known, use the clock).
    received_at: float | None = None
    _kernel_stamps = False

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the sandbox never prints requests (they carry numbers)."""

    def setup(self) -> None:
        super().setup()
        # Kernel receive stamps only on the real clock (a test's injected clock is not).
        if _SO_TIMESTAMPNS is not None and self.state.config.clock is time.time:
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                self._kernel_stamps = True
            except OSError:
                self._kernel_stamps = False

    def handle_one_request(self) -> None:
        self.received_at = self._peek_received_at() if self._kernel_stamps else None
        super().handle_one_request()

    def _peek_received_at(self) -> float | None:
        """Wait for the next request's first byte (left in place) and return when the
        kernel received it. Clients send one request at a time on a connection."""
        try:
            _, ancillary, _, _ = self.connection.recvmsg(
                1, socket.CMSG_SPACE(_TIMESPEC.size), socket.MSG_PEEK
            )
        except OSError:
            return None
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                seconds, nanoseconds = _TIMESPEC.unpack(data[: _TIMESPEC.size])
                stamp = seconds + nanoseconds / 1e9
                # A segment received before stamping was on may carry no time.
                if abs(time.time() - stamp) < _STAMP_TRUSTED_SECONDS:
                    return stamp
        return None

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client went away (killed, interrupted, timed out): nothing to tell it.
            self.close_connection = True

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path.rstrip("/") == STATS_PATH:
            if parse_qs(query).get("numbers", [""])[0].lower() in _TRUE_WORDS:
                # Numbers in clear: only for whoever holds the sandbox's own credentials.
                self._send(403, json.dumps({"error": ADMIN_ONLY}).encode())
                return
            self._send(200, json.dumps(self.state.stats()).encode())
        else:
            self._send(404, b'{"error": "the sandbox serves POST / and GET /__stats"}')

    def _admin(self, path: str) -> None:
        """``POST /__stats`` (with ``{"numbers": true}``: numbers in clear) or
        ``POST /__reset``, only when signed (TC3-HMAC-SHA256) with the sandbox's own
        credentials: another user of the machine can reach the port, not the numbers."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, MAX_BODY_BYTES))
        try:
            self._authenticate(body, self.state.config.clock())
        except ApiError as exc:
            error = {"error": ADMIN_ONLY, "code": exc.code, "message": exc.message}
            self._send(403, json.dumps(error).encode())
            return
        if path == RESET_PATH:
            self.state.reset()
            self._send(200, b"{}")
            return
        try:
            numbers = bool(json.loads(body or b"{}").get("numbers"))
        except (ValueError, AttributeError):
            error = {"error": 'the body is a JSON object: {"numbers": true}'}
            self._send(400, json.dumps(error).encode())
            return
        self._send(200, json.dumps(self.state.stats(numbers=numbers)).encode())

    def do_POST(self) -> None:
        path = self.path.partition("?")[0].rstrip("/")
        if path in (STATS_PATH, RESET_PATH):
            self._admin(path)
            return
        state = self.state
        # The request reached the server when the kernel received it (a busy machine may
        # run this thread much later; Tencent's servers are not busy with the client's
        # work), and reaches the counter later by the path's jitter (0 on loopback).
        received = self.received_at if self.received_at is not None else state.config.clock()
        arrived = received + state.arrival_jitter_seconds()
        wait = arrived - state.config.clock()
        if wait > 0:
            time.sleep(wait)
        state.arrive(arrived, self.headers.get("X-TC-Action", ""))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, MAX_BODY_BYTES))
        request_id = str(uuid.uuid4())
        fault = state.draw_fault(_GATEWAY_FAULTS)
        delay = state.latency_seconds()
        if fault == "drop":
            time.sleep(delay)
            self.close_connection = True
            return
        if fault == "http_502":
            time.sleep(delay)
            self._send(502, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            return
        try:
            response = self._answer(body, arrived, request_id)
        except ApiError as exc:
            state.count(error=exc.code)
            response = {"Error": {"Code": exc.code, "Message": exc.message}}
        truncate = response.pop("_truncate", False)
        lost = response.pop("_lost", None)
        response["RequestId"] = request_id
        payload = json.dumps({"Response": response}, ensure_ascii=False).encode("utf-8")
        if truncate:
            payload = payload[: len(payload) // 2]
        time.sleep(delay)
        if lost == "billed_drop":
            self.close_connection = True
            return
        if lost == "billed_stall":
            self._stall(payload)
            return
        self._send(200, payload)

    def _stall(self, payload: bytes) -> None:
        """Send the headers and half of ``payload``, stall, then close without the rest."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return
        self.state.closing.wait(self.state.config.stall_seconds)

    def _answer(self, body: bytes, arrived: float, request_id: str) -> dict[str, Any]:
        state, config = self.state, self.state.config
        secret_id = self._authenticate(body, arrived)
        if config.account_error:
            raise ApiError(config.account_error, "The account cannot use this API.")
        name = self.headers.get("X-TC-Action", "")
        action = SERVED_ACTIONS.get(name)
        if action is None:
            raise ApiError("InvalidAction", f"The action {name!r} does not exist.")
        version = self.headers.get("X-TC-Version", "")
        if version != signing.API_VERSION:
            raise ApiError("InvalidAction", f"The action does not exist in version {version!r}.")
        if not state.admit(secret_id, arrived, name):
            raise ApiError("RequestLimitExceeded", "Your request frequency has reached the limit.")
        fault = state.draw_fault(("truncated", "busy", "internal_error"))
        if fault == "internal_error":
            raise ApiError("InternalError", "An internal error occurred.")
        mobile = self._mobile(body)
        state.count(number=mobile, action=name)
        if fault == "busy":
            state.count(result=action.busy, action=name)
            return action.answer(action.busy)
        if fault == "truncated":
            return {**action.answer(action.busy), "Description": "truncated", "_truncate": True}
        behaviour = action.behaviour(mobile)
        if behaviour.error:
            raise ApiError(behaviour.error, ERROR_MESSAGES.get(behaviour.error, behaviour.error))
        if not state.use_quota(name):
            state.count(result=action.daily_limit, action=name)
            return action.answer(action.daily_limit)
        result = behaviour.result or "0"
        billed = result in action.billed
        state.count(result=result, billed_number=mobile if billed else None, action=name)
        answer = action.answer(result, behaviour if result == "0" else None)
        if billed:  # billed: the answer may still be lost on the way back
            lost = state.draw_fault(BILLED_FAULTS)
            if lost is not None:
                answer["_lost"] = lost
        return answer

    def _authenticate(self, body: bytes, arrived: float) -> str:
        config = self.state.config
        content_type = self.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() != signing.JSON_CONTENT_TYPE:
            raise ApiError(
                "UnsupportedProtocol", "POST requests must use Content-Type: application/json."
            )
        match = _AUTH_RE.match(self.headers.get("Authorization", "").strip())
        if match is None:
            raise ApiError(
                "AuthFailure.InvalidAuthorization", "The Authorization header is invalid."
            )
        raw_timestamp = self.headers.get("X-TC-Timestamp", "")
        if not raw_timestamp.isdigit():
            raise ApiError("MissingParameter", "The X-TC-Timestamp header is missing or invalid.")
        timestamp = int(raw_timestamp)
        if abs(arrived - timestamp) > MAX_CLOCK_SKEW_SECONDS:
            raise ApiError("AuthFailure.SignatureExpire", "The signature has expired.")
        if match["id"] != config.secret_id:
            raise ApiError("AuthFailure.SecretIdNotFound", "The SecretId does not exist.")
        signed = match["signed"].split(";")
        if not {"content-type", "host"} <= set(signed):
            raise ApiError(
                "AuthFailure.InvalidAuthorization",
                "SignedHeaders must include content-type and host.",
            )
        if match["service"] != signing.SERVICE or match["date"] != signing.utc_date(timestamp):
            raise ApiError("AuthFailure.SignatureFailure", "The credential scope is wrong.")
        headers = {name: self.headers.get(name, "") for name in signed}
        canonical = signing.canonical_request(
            "POST", self.path.split("?")[0], "", headers, signed, body
        )
        expected = signing.signature(
            config.secret_key, timestamp, signing.string_to_sign(timestamp, canonical)
        )
        if not secrets.compare_digest(expected, match["sig"]):
            raise ApiError("AuthFailure.SignatureFailure", "The signature is not correct.")
        token = self.headers.get("X-TC-Token") or None
        if token != config.token:
            raise ApiError("AuthFailure.TokenFailure", "The token is invalid or missing.")
        return match["id"]

    def _decrypt(self, params: dict[str, Any]) -> dict[str, Any]:
        return _decrypt_with(params, self.state.config.private_key_pem)

    def _mobile(self, body: bytes) -> str:
        try:
            params = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError("InvalidParameter", "The request body is not valid JSON.") from exc
        if not isinstance(params, dict):
            raise ApiError("InvalidParameter", "The request body must be a JSON object.")
        if "Encryption" in params:
            params = self._decrypt(params)
        unknown = sorted(set(params) - {"Mobile"})
        if unknown:
            raise ApiError("UnknownParameter", f"The parameter {unknown[0]} is not recognised.")
        if "Mobile" not in params:
            raise ApiError("MissingParameter", "The parameter Mobile is missing.")
        if not isinstance(params["Mobile"], str):
            raise ApiError("InvalidParameterValue", "Mobile must be a string.")
        return str(params["Mobile"])


def _decrypt_with(params: dict[str, Any], private_key_pem: bytes | None) -> dict[str, Any]:
    from ..service.encryption import decrypt_fields

    if private_key_pem is None:
        raise ApiError("FailedOperation.DecryptSystemError", "Decryption failed.")
    try:
        return decrypt_fields(params, private_key_pem)
    except ValueError as exc:
        code = str(exc)
        message = (
            "The field is not supported for encryption."
            if code == "InvalidParameter.UnsupportEncryptField"
            else "Decryption failed."
        )
        raise ApiError(code, message) from exc


#: Connections waiting to be accepted. The standard library's 5 overflows when a client
#: opens dozens of connections at once (a run widening to 60 calls in flight): the kernel
#: drops the extra SYNs, the client retries a second later, and a request slotted in one
#: second arrives in the next, where it is one too many. A real service's queue is long.
LISTEN_BACKLOG = 256


class _Server(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG


def make_server(state: SandboxState, host: str, port: int) -> ThreadingHTTPServer:
    """Bind a threaded HTTP server for ``state`` (port 0 picks a free port)."""
    handler = type("SandboxHandler", (_Handler,), {"state": state})
    server = _Server((host, port), handler)
    if _SO_TIMESTAMPNS is not None:  # accepted connections inherit it: stamped from the start
        with contextlib.suppress(OSError):
            server.socket.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    server.daemon_threads = True
    return server
