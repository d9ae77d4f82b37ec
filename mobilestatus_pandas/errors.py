"""The exceptions raised by mobilestatus-pandas, one tree under :class:`MobileStatusError`.

::

    MobileStatusError
    ├── CredentialsNotFound        (also LookupError) no SecretId/SecretKey anywhere in the chain
    ├── AuthenticationError        the account or credentials were refused (AuthFailure.*,
    │                              UnauthorizedOperation.*, FailedOperation.StsUnAuthErrError)
    ├── RateLimitError             RequestLimitExceeded* still answered after every retry
    ├── ServiceError               any other error answer from the service
    ├── TransportError             network failure, HTTP error status, unparsable body
    ├── CacheUnavailableError      (also ConnectionError) a shared cache (Redis) stopped
    │                              answering for longer than ``outage_timeout``
    ├── MissingDependencyError     (also ImportError) a dependency is not installed
    ├── BudgetExceeded             a run stopped early (max_billed reached, daily limit)
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


class TransportError(MobileStatusError):
    """The call did not get a usable answer: network failure, HTTP status, unparsable body."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class CacheUnavailableError(MobileStatusError, ConnectionError):
    """The shared cache, ledger and rate limit (Redis) cannot be reached.

    During a run, calls pause while it is away (they are never sent unpaced) and resume
    when it answers again; after ``outage_timeout`` seconds the run stops with
    ``not_checked`` rows. Before a run, reading the cache raises this error.
    """


class MissingDependencyError(MobileStatusError, ImportError):
    """A dependency is missing (the ``redis`` extra, or a broken installation): the
    message says what to install."""
