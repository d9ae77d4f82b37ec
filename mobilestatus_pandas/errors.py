"""The exceptions raised by mobilestatus-pandas, one tree under :class:`MobileStatusError`.

::

    MobileStatusError
    ├── CredentialsNotFound        (also LookupError) no SecretId/SecretKey anywhere in the chain
    ├── ServiceError               an error answer from the service
    │   ├── AuthenticationError    the account or credentials were refused (AuthFailure.*,
    │   │                          UnauthorizedOperation.*, FailedOperation.StsUnAuthErrError)
    │   ├── EncryptionKeyError     the Encryption public key is not the service's
    │   │                          (FailedOperation.DecryptSystemError)
    │   └── RateLimitError         RequestLimitExceeded* still answered after every retry
    ├── TransportError             no usable answer (network failure, HTTP error status)
    │   ├── NotSentError           the request never left: connection refused, DNS, connect
    │   │                          timeout (never billed, safe to send again)
    │   └── NoAnswerError          sent, but no answer: read timeout, connection reset or
    │                              closed, truncated or unparsable body, HTTP 5xx
    │                              (possibly billed)
    ├── CacheUnavailableError      (also ConnectionError) the cache cannot be used: Redis
    │                              away, out of memory or read-only, or a SQLite file
    │                              locked by another process past its busy timeout
    ├── MissingDependencyError     (also ImportError) a dependency is not installed
    ├── BudgetExceeded             a run stopped early (max_billed reached, daily limit)
    ├── RunInProgressError         (also RuntimeError) a second run started on a client
    │                              whose run is still going
    └── InputError                 (also ValueError) bad input: wrong column, bad option

Every service error carries ``code``, ``message`` and ``request_id`` (the id Tencent support
asks for). Messages say what to do next and never contain a secret key or a full number.
"""

from __future__ import annotations


class MobileStatusError(Exception):
    """Base class of every error raised by mobilestatus-pandas."""


class CredentialsNotFound(MobileStatusError, LookupError):
    """No credentials were found in the chain (arguments, environment, profile file)."""


class InputError(MobileStatusError, ValueError):
    """The input cannot be used: a missing column, a bad option value, a wrong type."""


class BudgetExceeded(MobileStatusError):
    """A run stopped before every number was looked up (budget reached, daily limit)."""


class RunInProgressError(MobileStatusError, RuntimeError):
    """A run was started on a client that already has one going (``df.mobile.start``):
    wait for it (``client.active_run.result()``), stop it (``client.stop_run()``, or
    ``run.stop()`` on its handle), or use another client."""


class ServiceError(MobileStatusError):
    """The service answered with an error.

    Attributes:
        code: Tencent's error code, e.g. ``"InvalidParameter"``.
        message: Tencent's message for it.
        request_id: the ``RequestId`` of the answer, or ``None`` when there was none.
    """

    def __init__(self, code: str, message: str = "", request_id: str | None = None) -> None:
        self.code = code
        self.message = message
        self.request_id = request_id
        super().__init__(self._describe())

    def _hint(self) -> str:
        return ""

    def _describe(self) -> str:
        text = f"{self.code}: {self.message}" if self.message else self.code
        if self.request_id:
            text += f" (RequestId {self.request_id})"
        hint = self._hint()
        return f"{text}. {hint}" if hint else text

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.code, self.message, self.request_id))


class AuthenticationError(ServiceError):
    """The credentials or the account were refused; every call would fail alike."""

    def _hint(self) -> str:
        if self.code.startswith("AuthFailure.Signature"):
            return (
                "Check that the SecretKey belongs to the SecretId and that this machine's "
                "clock is right (signatures expire after 5 minutes)."
            )
        if self.code.startswith("AuthFailure"):
            return "Check the SecretId/SecretKey (and token, for temporary credentials)."
        return "Check that eKYC (faceid) is activated and paid for on this Tencent Cloud account."


class RateLimitError(ServiceError):
    """The service kept answering RequestLimitExceeded after every retry."""

    def _hint(self) -> str:
        return "Another client is using this account's limit; lower rate_limit or run later."


class EncryptionKeyError(ServiceError):
    """The service could not decrypt the request: the ``Encryption`` public key is not its own.

    Every call would fail alike (``FailedOperation.DecryptSystemError``), so the run stops at
    the first one.
    """

    def _hint(self) -> str:
        return (
            "The Encryption public key is not the service's: use msp.Encryption() without "
            "public_key= (Tencent's published key), or the key from the eKYC console"
        )


class TransportError(MobileStatusError):
    """The call did not get a usable answer (network failure, HTTP error status).

    Attributes:
        status: the HTTP status, when an answer with one arrived.
        endpoint: the URL the call went to (never with credentials).
        reason: what failed, in one word (``"ReadTimeout"``, ``"ConnectionError"``,
            ``"UnparsableBody"``, ...): the ledger's ``error`` for the attempt.
        possibly_billed: the request may have reached the service, which bills on its side:
            ``True`` for :class:`NoAnswerError`, ``False`` for :class:`NotSentError` and for
            an HTTP error answer from a gateway that did not pass the call on (4xx).
    """

    possibly_billed: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        endpoint: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.status = status
        self.endpoint = endpoint
        self.reason = reason
        super().__init__(message)

    @property
    def code(self) -> str:
        """A short name for the ledger's ``error`` column and the row's ``error``."""
        if self.status:
            return f"HTTP {self.status}"
        return self.reason or type(self).__name__

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_transport_error,
            (type(self), str(self), self.status, self.endpoint, self.reason),
        )


class NotSentError(TransportError):
    """The request never left this machine: connection refused, DNS failure, connect timeout.

    The service never saw it: never billed, and safe to send again.
    """


class NoAnswerError(TransportError):
    """The request was sent but no answer came: read timeout, connection reset or closed after
    sending, a truncated or unparsable body, or HTTP 5xx from a gateway.

    Tencent bills on its side, so the call is *possibly billed*: the ledger records it with
    ``billed`` ``<NA>`` and ``max_billed`` counts it as billed.
    """

    possibly_billed = True


def _rebuild_transport_error(
    cls: type[TransportError],
    message: str,
    status: int | None,
    endpoint: str | None,
    reason: str | None,
) -> TransportError:
    return cls(message, status=status, endpoint=endpoint, reason=reason)


class CacheUnavailableError(MobileStatusError, ConnectionError):
    """The cache, ledger or rate limit cannot be used now: a Redis that does not answer,
    is out of memory (``OOM``) or read-only (``READONLY``, a replica after a failover), or a
    SQLite file another process keeps locked past the busy timeout.

    During a run this is an outage: calls pause while it lasts (they are never sent unpaced
    nor without a claim on their number), answers received are held by the store, and after
    ``outage_timeout`` seconds the run stops with ``not_checked`` rows and the reason in its
    report. Before a run, reading the cache raises this error.
    """


class MissingDependencyError(MobileStatusError, ImportError):
    """A dependency is missing (the ``redis`` extra, or a broken installation): the
    message says what to install."""
