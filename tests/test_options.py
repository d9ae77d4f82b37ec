"""Option checks: one helper (options.py) used by the client and by every run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mobilestatus_pandas as msp
from mobilestatus_pandas.engine import options
from mobilestatus_pandas.service.actions import STATUS, TENURE, get_action

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


# -- RunOptions: one checked carrier for a run's options ------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("progress", 1, "progress must be True or False"),
        ("refresh", "yes", "refresh must be True or False"),
        ("max_billed", -1, "max_billed must be a whole number >= 0 or None"),
        ("max_billed", True, "max_billed must be a whole number >= 0 or None"),
        ("max_billed", 2.0, "max_billed must be a whole number >= 0 or None"),
        ("validate", "strict", "validate must be one of ('local', 'server')"),
        ("sample", 0, "sample must be a whole number of distinct numbers >= 1"),
        ("sample", True, "sample must be a whole number of distinct numbers >= 1"),
        ("action", "lines", "action must be one of"),
    ],
)
def test_run_options_refuse_a_wrong_value_naming_the_option(
    name: str, value: object, says: str
) -> None:
    with pytest.raises(msp.InputError, match=f"^{re.escape(says)}"):
        options.RunOptions(**{name: value})


@pytest.mark.parametrize("given", [{"by": [1, 2]}, {"seed": 3}])
def test_run_options_refuse_by_or_seed_without_a_sample(given: dict[str, object]) -> None:
    with pytest.raises(msp.InputError, match="pass sample=N with them"):
        options.RunOptions(**given)


def test_run_options_are_frozen_and_replace_checks_again() -> None:
    asked = options.RunOptions(max_billed=5, action="tenure", sample=10, seed=1)
    assert asked.action is TENURE, "an action's name becomes the Action"
    with pytest.raises(dataclasses.FrozenInstanceError):
        asked.max_billed = 6  # type: ignore[misc]
    assert asked.replace(max_billed=None).max_billed is None
    assert asked.max_billed == 5, "replace makes new options, these stay"
    with pytest.raises(msp.InputError, match="max_billed"):
        asked.replace(max_billed=-5)


def test_run_options_show_the_action_by_name_and_never_the_groups() -> None:
    groups = pd.Series(["fraud-ring-7", "good"], name="label")
    asked = options.RunOptions(sample=1, by=groups, action="tenure")
    shown = repr(asked)
    assert "action='tenure'" in shown
    assert "by=<given>" in shown
    assert "fraud-ring-7" not in shown
    assert asked == options.RunOptions(sample=1, action="tenure", by=pd.Series(["x", "y"]))


@given(
    progress=st.booleans(),
    max_billed=st.none() | st.integers(min_value=0, max_value=10**9),
    refresh=st.booleans(),
    validate=st.sampled_from([None, *options.VALIDATE_MODES]),
    sample=st.none() | st.integers(min_value=1, max_value=10**6),
    action=st.sampled_from(["status", "tenure", STATUS, TENURE]),
)
def test_good_run_options_are_kept_as_given(
    progress: bool,
    max_billed: int | None,
    refresh: bool,
    validate: str | None,
    sample: int | None,
    action: object,
) -> None:
    asked = options.RunOptions(
        progress=progress, max_billed=max_billed, refresh=refresh, validate=validate,
        sample=sample, action=action,  # type: ignore[arg-type]
    )  # fmt: skip
    assert (asked.progress, asked.max_billed, asked.refresh, asked.validate, asked.sample) == (
        progress, max_billed, refresh, validate, sample,
    )  # fmt: skip
    assert asked.action is get_action(action)  # type: ignore[arg-type]


def test_a_new_run_option_reaches_the_run_as_one_object(sandbox: msp.Sandbox) -> None:
    """The faces build one RunOptions; the run holds exactly what was asked."""
    frame = pd.DataFrame({"phone": ["13800000000", "13800000002"], "g": ["a", "b"]})
    run = frame.mobile.start(
        "phone", client=sandbox.client(cache=None), progress=False, max_billed=7,
        validate="server", sample=2, by="g", seed=5, action="tenure",
    )  # fmt: skip
    run.result(timeout=30)
    asked = run.options
    assert (asked.max_billed, asked.validate, asked.sample, asked.seed) == (7, "server", 2, 5)
    assert asked.action is TENURE
    assert list(asked.by) == ["a", "b"]
