from __future__ import annotations

import pytest

from mobilestatus_pandas.service import codes


@pytest.mark.parametrize(
    ("result", "status_code", "status", "billed", "final"),
    [
        ("0", 0, "normal", True, True),
        ("0", 1, "out_of_service", True, True),
        ("0", 2, "cancelled", True, True),
        ("0", 4, "offline", True, True),
        ("0", 5, "unavailable", True, True),
        ("0", 99, "unknown", True, True),
        ("0", 3, "unknown", True, True),  # undocumented line state: safe label
        ("0", None, "unknown", True, True),
        ("-1", 99, "not_found", False, True),
        ("-2", 99, "invalid", False, True),
        ("-3", 99, "busy", False, False),
        ("-4", 99, "daily_limit", False, False),
        ("-13", 99, "unsupported", False, True),
        ("-42", 99, "error", False, False),  # unknown Result: never billed, never cached
        (None, None, "error", False, False),
    ],
)
def test_result_codes_map_to_labels_billing_and_finality(
    result: str | None, status_code: int | None, status: str, billed: bool, final: bool
) -> None:
    assert codes.status_for(result, status_code) == status
    meaning = codes.result_code(result)
    assert meaning.billed is billed
    assert meaning.final is final
    assert (result in codes.CACHEABLE_RESULTS) is final


def test_only_busy_is_a_retryable_result() -> None:
    assert [r for r, m in codes.RESULT_CODES.items() if m.retryable] == ["-3"]


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("AuthFailure.SignatureFailure", codes.ErrorKind.ACCOUNT),
        ("AuthFailure.SecretIdNotFound", codes.ErrorKind.ACCOUNT),
        ("UnauthorizedOperation.Arrears", codes.ErrorKind.ACCOUNT),
        ("UnauthorizedOperation.Nonactivated", codes.ErrorKind.ACCOUNT),
        ("FailedOperation.StsUnAuthErrError", codes.ErrorKind.ACCOUNT),
        ("RequestLimitExceeded", codes.ErrorKind.RATE_LIMITED),
        ("RequestLimitExceeded.UinLimitExceeded", codes.ErrorKind.RATE_LIMITED),
        ("InternalError", codes.ErrorKind.RETRY),
        ("FailedOperation.UnKnown", codes.ErrorKind.RETRY),
        ("InvalidParameterValue", codes.ErrorKind.PER_NUMBER),
        ("FailedOperation.DecryptSystemError", codes.ErrorKind.CONFIGURATION),
        ("Something.NobodyHasSeen", codes.ErrorKind.PER_NUMBER),
        ("RequestLimitExceededButNotReally", codes.ErrorKind.PER_NUMBER),
    ],
)
def test_error_kinds(code: str, kind: codes.ErrorKind) -> None:
    assert codes.error_kind(code) is kind


def test_status_order_is_fixed_and_complete() -> None:
    assert codes.STATUSES[:6] == codes.LINE_STATES
    assert set(codes.STATUS_CODE_LABELS.values()) == set(codes.LINE_STATES)
    assert set(codes.STATUS_DESCRIPTIONS) == set(codes.STATUSES)
    assert len(set(codes.STATUSES)) == 14
    assert codes.STATUSES.index("missing") == codes.STATUSES.index("invalid") + 1
    assert set(codes.NO_ANSWER_STATES) <= set(codes.STATUSES)
