"""The synthetic sign-ups: repeatable, messy, and carrying the documented planted signal."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas import datasets
from mobilestatus_pandas.datasets import (
    is_dead_line_in_sandbox,
    is_new_line_in_sandbox,
    signups,
)
from tests.conftest import FastSandbox


def share_by_label(frame: pd.DataFrame, signal: Callable[[str], bool]) -> pd.Series:
    numbers = frame["phone"].mobile.normalize()
    known = numbers.notna()
    flagged = numbers[known].map(signal).astype(bool)
    return flagged.groupby(frame.loc[known, "fraud"]).mean()


def test_same_seed_same_frame_other_seed_other_frame() -> None:
    pd.testing.assert_frame_equal(signups(rows=300, seed=1), signups(rows=300, seed=1))
    assert not signups(rows=300, seed=1)["phone"].equals(signups(rows=300, seed=2)["phone"])


def test_planted_signal_fraud_carries_more_dead_lines() -> None:
    frame = signups(rows=20_000, distinct=5_000, seed=5)
    dead = share_by_label(frame, is_dead_line_in_sandbox)
    assert dead[True] == pytest.approx(datasets.FRAUD_DEAD_LINE_SHARE, abs=0.03)
    assert dead[False] == pytest.approx(0.14, abs=0.02)  # the sandbox's natural share
    new = share_by_label(frame, is_new_line_in_sandbox)
    assert new[True] == pytest.approx(datasets.FRAUD_NEW_LINE_SHARE, abs=0.03)
    assert new[False] == pytest.approx(0.15, abs=0.02)  # the sandbox's natural share


def test_fraud_rate_by_channel_and_time_column() -> None:
    frame = signups(rows=20_000, seed=6)
    assert frame["fraud"].mean() == pytest.approx(datasets.FRAUD_RATE, abs=0.01)
    by_channel = frame.groupby("signup_channel")["fraud"].mean()
    assert by_channel["partner"] > by_channel["organic"] * 1.5
    assert str(frame["signup_ts"].dt.tz) == "UTC"
    assert frame["signup_ts"].is_monotonic_increasing
    span = frame["signup_ts"].max() - frame["signup_ts"].min()
    assert span.days == datasets.SIGNUP_DAYS - 1


@pytest.mark.integration
def test_the_sandbox_answers_as_the_outcome_model_says() -> None:
    frame = signups(rows=300, seed=9)
    with FastSandbox() as sb:
        out = frame.mobile.status("phone", client=sb.client(), progress=False)
    answered = out["mobile_number"].notna() & (out["mobile_result"] == "0")
    model = out.loc[answered, "mobile_number"].map(is_dead_line_in_sandbox).astype(bool)
    seen = out.loc[answered, "mobile_status"].isin(msp.DEAD_LINE_STATES)
    assert answered.sum() > 200
    assert (model == seen).all()


@pytest.mark.integration
def test_the_sandbox_answers_tenure_as_the_outcome_model_says() -> None:
    frame = signups(rows=300, seed=9)
    with FastSandbox() as sb:
        out = frame.mobile.tenure("phone", client=sb.client(), progress=False)
    known = out["tenure_status"] == "known"
    model = out.loc[known, "tenure_number"].map(is_new_line_in_sandbox).astype(bool)
    seen = out.loc[known, "tenure_range"].isin(datasets.NEW_LINE_BANDS)
    assert known.sum() > 150
    assert (model == seen).all()
