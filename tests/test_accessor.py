"""The pandas surface: index handling, dtypes, errors, estimate (against the real sandbox)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mobilestatus_pandas as msp

pytestmark = pytest.mark.integration


def test_multiindex_unsorted_and_duplicate_labels(sandbox: msp.Sandbox) -> None:
    index = pd.MultiIndex.from_tuples([("b", 2), ("a", 1), ("b", 2), ("a", 0)], names=["k", "n"])
    df = pd.DataFrame({"phone": ["13800000002", "13800000000", "13800000002", None]}, index=index)
    out = df.mobile.status("phone", client=sandbox.client(), progress=False)
    assert out.index.equals(index)
    assert out["mobile_status"].tolist() == ["cancelled", "normal", "cancelled", "missing"]
    assert out["mobile_description"].iloc[3] == "no number given"
    assert out["mobile_billed"].tolist() == [True, True, False, False]


def test_empty_frame_keeps_columns_and_dtypes(sandbox: msp.Sandbox) -> None:
    df = pd.DataFrame({"phone": pd.Series([], dtype=object)})
    out = df.mobile.status("phone", client=sandbox.client(), progress=False)
    assert len(out) == 0
    assert out["mobile_status"].dtype == pd.CategoricalDtype(list(msp.STATUSES))
    assert str(out["mobile_checked_at"].dtype) == "datetime64[ns, UTC]"
    assert sandbox.stats()["requests"] == 0


@pytest.mark.parametrize(
    "column",
    [
        pd.Series([13800000000, 13800000002], dtype="int64"),
        pd.Series([13800000000.0, np.nan]),
        pd.Series(["13800000000", "13800000002"], dtype="category"),
        pd.Series(["13800000000", None], dtype="string"),
    ],
)
def test_numeric_categorical_and_string_columns(sandbox: msp.Sandbox, column: pd.Series) -> None:
    out = pd.DataFrame({"phone": column}).mobile.status(
        "phone", client=sandbox.client(), progress=False
    )
    assert out["mobile_status"].iloc[0] == "normal"


def test_wrong_kind_of_column_says_what_it_got(sandbox: msp.Sandbox) -> None:
    df = pd.DataFrame({"when": pd.to_datetime(["2024-01-01"]), "flag": [True]})
    with pytest.raises(msp.InputError, match="datetime64"):
        df.mobile.status("when", client=sandbox.client())
    with pytest.raises(msp.InputError, match="booleans"):
        df.mobile.status("flag", client=sandbox.client())


def test_missing_column_lists_close_matches(sandbox: msp.Sandbox) -> None:
    df = pd.DataFrame({"phone_number": ["1"], "other": ["2"]})
    with pytest.raises(KeyError, match="phone_number"):
        df.mobile.status("phone_numbr", client=sandbox.client())


def test_client_and_options_are_exclusive(sandbox: msp.Sandbox) -> None:
    df = pd.DataFrame({"phone": ["13800000000"]})
    with pytest.raises(msp.InputError, match="not both"):
        df.mobile.status("phone", client=sandbox.client(), endpoint=sandbox.url)


def test_client_options_build_a_client(sandbox: msp.Sandbox) -> None:
    df = pd.DataFrame({"phone": ["13800000000"]})
    out = df.mobile.status(
        "phone", endpoint=sandbox.url, secret_id=sandbox.secret_id,
        secret_key=sandbox.secret_key, cache=None, progress=False,
    )  # fmt: skip
    assert out["mobile_status"].tolist() == ["normal"]


def test_default_client_comes_from_the_environment(
    sandbox: msp.Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mobilestatus_pandas import accessor

    monkeypatch.setattr(accessor, "_default_client", None)
    monkeypatch.setenv("MOBILESTATUS_ENDPOINT", sandbox.url)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", sandbox.secret_id)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", sandbox.secret_key)
    s = pd.Series(["13800000001"])
    assert s.mobile.status(progress=False)["mobile_status"].tolist() == ["out_of_service"]
    first = accessor._default_client
    s.mobile.status(progress=False)
    assert accessor._default_client is first, "the default client is reused"


def test_without_credentials_the_error_says_what_to_do() -> None:
    with pytest.raises(msp.CredentialsNotFound, match="TENCENTCLOUD_SECRET_ID"):
        pd.DataFrame({"phone": ["13800000000"]}).mobile.status("phone", progress=False)


def test_estimate_before_paying(sandbox: msp.Sandbox) -> None:
    client = sandbox.client(price_per_call=0.2)
    df = pd.DataFrame(
        {"phone": ["13800000000", "13800000001", "13800000000", "junk", "16137688175", None, " "]}
    )
    client.lookup("13800000001")
    requests_before = sandbox.stats()["requests"]
    est = df.mobile.estimate("phone", client=client)
    assert sandbox.stats()["requests"] == requests_before, "an estimate makes no call"
    assert est.to_dict() == {
        "rows": 7,
        "distinct numbers": 3,
        "invalid rows": 2,
        "missing rows": 2,
        "cached and fresh": 1,
        "calls needed": 1,
        "worst-case billed calls": 1,
        "worst-case cost": pytest.approx(0.2),
        "expected minutes": 0.0,
    }
    server = df.mobile.estimate("phone", client=client, validate="server")
    assert server["invalid rows"] == 1
    assert server["missing rows"] == 2
    assert server["calls needed"] == 2
    refreshing = df.mobile.estimate("phone", client=client, refresh=True)
    assert refreshing["calls needed"] == 2


def test_series_normalize(sandbox: msp.Sandbox) -> None:
    s = pd.Series(["+86 138 0013 8000", "x"], index=[9, 8], name="p")
    out = s.mobile.normalize()
    assert out.tolist() == ["13800138000", pd.NA]
    assert out.index.tolist() == [9, 8]
    assert isinstance(out.dtype, pd.StringDtype)
