"""Option checks: one helper (options.py) used by the client and by every run."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.engine import options

CREDENTIALS: dict[str, Any] = {"secret_id": "AKIDunit", "secret_key": "k", "cache": None}


@pytest.mark.parametrize(
    ("name", "value", "accepts"),
    [
        ("price_per_call", "0.1", "a number >= 0"),
        ("price_per_call", -0.1, "a number >= 0"),
        ("price_per_call", float("nan"), "a number >= 0"),
        ("price_per_call", True, "a number >= 0"),
        ("cache_ttl", 3600, "a positive datetime.timedelta"),
        ("cache_ttl", dt.timedelta(0), "a positive datetime.timedelta"),
        ("max_workers", 2.5, "a whole number >= 1"),
        ("max_workers", 0, "a whole number >= 1"),
        ("max_workers", True, "a whole number >= 1"),
        ("backoff_seconds", -1, "a number >= 0 (seconds)"),
        ("backoff_seconds", "0.2", "a number >= 0 (seconds)"),
        ("rate_limit", "20", "a number > 0 (calls per second)"),
        ("rate_limit", 0, "a number > 0 (calls per second)"),
        ("rate_limit", float("inf"), "a number > 0 (calls per second)"),
        ("timeout", True, "a number > 0 (seconds)"),
        ("timeout", "10", "a number > 0 (seconds)"),
        ("max_retries", 1.0, "a whole number >= 0"),
        ("max_retries", -1, "a whole number >= 0"),
        ("outage_timeout", None, "a number >= 0 (seconds)"),
        ("validate", "strict", "one of ('local', 'server')"),
    ],
)
def test_client_options_of_the_wrong_type_or_range_name_the_option(
    name: str, value: object, accepts: str
) -> None:
    with pytest.raises(msp.InputError) as refused:
        msp.MobileStatusClient(**CREDENTIALS, **{name: value})
    message = str(refused.value)
    assert message.startswith(f"{name} must be {accepts}")
    assert repr(value) in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("price_per_call", 0.1),
        ("price_per_call", np.float64(0.1)),
        ("price_per_call", 0),
        ("cache_ttl", pd.Timedelta(hours=1)),
        ("max_workers", np.int64(4)),
        ("backoff_seconds", 0),
        ("rate_limit", 5),
        ("timeout", 2.5),
    ],
)
def test_good_option_values_of_every_numeric_kind_are_taken(name: str, value: object) -> None:
    with msp.MobileStatusClient(**CREDENTIALS, **{name: value}) as client:
        assert getattr(client, name) == value


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_billed", True),
        ("max_billed", 2.5),
        ("max_billed", -1),
        ("max_billed", "10"),
        ("progress", "yes"),
        ("progress", 1),
        ("refresh", None),
        ("validate", "everything"),
    ],
)
def test_run_options_are_checked_before_any_request(
    sandbox: msp.Sandbox, name: str, value: object
) -> None:
    client = sandbox.client()
    frame = pd.DataFrame({"phone": ["13800000000"]})
    with pytest.raises(msp.InputError, match=f"^{name} must be"):
        frame.mobile.status("phone", client=client, **{name: value})
    with pytest.raises(msp.InputError, match=f"^{name} must be"):
        client.lookup_many(["13800000000"], **{name: value})
    assert sandbox.stats()["requests"] == 0
    assert client.ledger().empty


def test_the_helper_refuses_bool_as_a_number_and_text_as_anything() -> None:
    with pytest.raises(msp.InputError, match=r"got True \(bool\)"):
        options.whole("max_billed", True)
    with pytest.raises(msp.InputError, match=r"got '1' \(str\)"):
        options.number("rate_limit", "1", above=True)
    with pytest.raises(msp.InputError, match="True or False"):
        options.flag("overwrite", "no")
    assert options.optional_whole("max_billed", None) is None
    assert options.optional_number("price_per_call", None) is None
    assert options.whole("max_billed", np.int32(3)) == 3


def test_a_mistyped_option_name_is_refused_with_close_matches(sandbox: msp.Sandbox) -> None:
    frame = pd.DataFrame({"phone": ["13800000000"]})
    client = sandbox.client()
    with pytest.raises(msp.InputError, match=r"max_bill= is not an option.*max_billed"):
        frame.mobile.status("phone", client=client, progress=False, max_bill=10)
    with pytest.raises(msp.InputError, match=r"rate_limt= is not an option.*rate_limit"):
        frame.mobile.status("phone", progress=False, rate_limt=5)
    assert sandbox.stats()["requests"] == 0
