"""One tenure call through the client: signing with its action, its codes, its own limiter."""

from __future__ import annotations

import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.sandbox.behaviour import TENURE_ACTION
from mobilestatus_pandas.service.actions import TENURE
from mobilestatus_pandas.service.result import LookupResult, TenureResult

pytestmark = pytest.mark.integration


def test_a_tenure_call_is_read_in_tenure_terms(sandbox: msp.Sandbox) -> None:
    client = sandbox.client()
    outcome = client.call("13900000003", action="tenure")
    assert isinstance(outcome.result, TenureResult)
    assert (outcome.result.status, outcome.result.band, outcome.result.months_max) == (
        "known", "[3,6)", 6,
    )  # fmt: skip
    assert outcome.result.billed
    # -2 is billed for tenure (the number does not exist); for MobileStatus it is not.
    gone = client.call("13900000102", action=TENURE).result
    assert (gone.status, gone.billed) == ("not_found", True)
    # -4 is tenure's busy: retried, then busy, unbilled
    busy = client.call("13900000104", action="tenure")
    assert (busy.result.status, busy.result.billed, busy.attempts) == ("busy", False, 5)
    status = client.call("13800138000").result
    assert isinstance(status, LookupResult)
    assert status.status == "out_of_service"
    stats = sandbox.stats()
    assert stats["billed_by_action"] == {TENURE_ACTION: 2, "MobileStatus": 1}
    assert stats["answered_by_action"][TENURE_ACTION]["-4"] == 5


def test_each_action_has_its_own_limiter_key_and_price(sandbox: msp.Sandbox) -> None:
    client = sandbox.client(price_per_call={"status": 0.01, "tenure": 0.02})
    assert client.limiter_for("tenure") is client.limiter_for(TENURE)
    assert client.limiter_for("tenure") is not client.limiter_for("status")
    assert client.limiter_for("status") is client.limiter
    assert client.number_key("13800000000", "tenure") != client.number_key("13800000000")
    assert client.number_key("13800000000", "status") == client.number_key("13800000000")
    assert (client.price_for("status"), client.price_for("tenure")) == (0.01, 0.02)
    assert client.price_per_call == 0.01
    one_price = sandbox.client(price_per_call=0.05)
    assert (one_price.price_for("status"), one_price.price_for("tenure")) == (0.05, 0.05)
    with pytest.raises(msp.InputError, match="action must be one of"):
        sandbox.client(price_per_call={"tenor": 0.02})
    with pytest.raises(msp.InputError, match="price_per_call"):
        sandbox.client(price_per_call={"tenure": "cheap"})
