"""The pandas surface: index handling, dtypes, errors, estimate (against the real sandbox)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mobilestatus_pandas as msp
from tests.values import any_values, digits_in, strip_country_code

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
        "expected minutes": 0.002,  # one call: its latency (0.1 s)
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


# -- refuse before paying ----------------------------------------------------------------


def bad_values() -> dict[object, str]:
    """One value per local refusal, with the description its row must carry."""
    return {
        "": "no number given",
        "   ": "no number given",
        None: "no number given",
        "+1 415 555 0100": "foreign country code",
        "010-12345678": "landline",
        "1380013800": "wrong length",
        "1.86339E+10": "digits lost",
        "13800138000.5": "digits lost",
        2.0**60: "digits lost",
        "abc13800138000": "letters",
        "13800138000 ext 12": "extension",
        "16137688175": "not a CN mobile range",
        -13800138000: "negative number",
        True: "not a phone number",
    }


def test_every_bad_value_is_a_row_with_its_reason_and_costs_no_call(sandbox: msp.Sandbox) -> None:
    reasons = bad_values()
    values: list[object] = [*reasons, [13800000000], {"phone": "13800000000"}, {13800000000}]
    values.append(np.array([13800000000]))
    expected = [*reasons.values(), *["not a phone number"] * 4]
    client = sandbox.client()
    out = pd.DataFrame({"phone": pd.Series(values, dtype=object)}).mobile.status(
        "phone", client=client, progress=False
    )
    assert out["mobile_description"].tolist() == expected
    missing = [reason == "no number given" for reason in expected]
    assert out["mobile_status"].tolist() == ["missing" if gone else "invalid" for gone in missing]
    assert not out["mobile_valid"].any()
    assert out["mobile_number"].isna().tolist() == [
        reason != "not a CN mobile range" for reason in expected
    ]
    assert sandbox.stats()["requests"] == 0
    assert client.ledger().empty
    report = out.attrs["mobilestatus"]
    assert (report["invalid"], report["missing"], report["calls"]) == (15, 3, 0)


def test_trailing_punctuation_and_scientific_notation_with_every_digit_are_looked_up(
    sandbox: msp.Sandbox,
) -> None:
    client = sandbox.client()
    values = ["13800000000；", "13800000000,", "1.3800000002E+10", "1.38E+10"]
    out = client.lookup_many(values, progress=False)
    assert out["number"].tolist() == ["13800000000", "13800000000", "13800000002", pd.NA]
    assert out["status"].tolist() == ["normal", "normal", "cancelled", "invalid"]
    assert out["description"].iloc[3] == "digits lost"
    assert sandbox.stats()["requests"] == 2, "18633900000-style guesses are never sent"


def test_a_result_column_clash_raises_before_any_request(sandbox: msp.Sandbox) -> None:
    numbers = [f"138000000{i:02d}" for i in range(40)]
    df = pd.DataFrame({"phone": numbers, "mobile_number": ["from another tool"] * 40})
    client = sandbox.client()
    with pytest.raises(msp.InputError, match=r"\['mobile_number'\] already exist"):
        df.mobile.status("phone", client=client, progress=False)
    assert sandbox.stats()["requests"] == 0
    assert client.ledger().empty
    out = df.mobile.status("phone", client=client, progress=False, overwrite=True)
    assert out["mobile_number"].tolist() == numbers


def test_overwrite_never_replaces_the_input_column(sandbox: msp.Sandbox) -> None:
    df = pd.DataFrame({"mobile_number": ["13800000000"], "mobile_status": ["old"]})
    client = sandbox.client()
    with pytest.raises(msp.InputError, match="never replaces the numbers being looked up"):
        df.mobile.status("mobile_number", client=client, progress=False, overwrite=True)
    with pytest.raises(msp.InputError, match="prefix must be a string"):
        df.mobile.status("mobile_number", client=client, progress=False, prefix=None)
    with pytest.raises(msp.InputError, match="overwrite must be True or False"):
        df.mobile.status("mobile_number", client=client, progress=False, overwrite="yes")
    assert sandbox.stats()["requests"] == 0
    out = df.mobile.status("mobile_number", client=client, progress=False, prefix="line_")
    assert out["mobile_number"].tolist() == ["13800000000"]
    assert out["line_status"].tolist() == ["normal"]


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_a_narrow_float_column_raises_before_any_request(sandbox: msp.Sandbox, dtype: str) -> None:
    with np.errstate(over="ignore"):  # float16 cannot even hold the number's size
        df = pd.DataFrame({"phone": pd.Series([13912345678.0, 13800000000.0]).astype(dtype)})
    client = sandbox.client()
    for attempt in (
        lambda: df.mobile.status("phone", client=client, progress=False),
        lambda: df["phone"].mobile.status(client=client, progress=False),
        lambda: df.mobile.estimate("phone", client=client),
        lambda: client.lookup_many(df["phone"], progress=False),
        lambda: client.lookup_many(df["phone"].to_numpy(), progress=False),
    ):
        with pytest.raises(msp.InputError, match=r"dtype=\{'phone': str\}"):
            attempt()
    assert sandbox.stats()["requests"] == 0
    assert client.ledger().empty


def test_a_bare_string_is_one_number(sandbox: msp.Sandbox) -> None:
    client = sandbox.client()
    out = client.lookup_many("13800000000", progress=False)
    assert out["number"].tolist() == ["13800000000"]
    assert client.lookup_many(b"13800000000", progress=False)["status"].tolist() == ["normal"]
    assert sandbox.stats()["requests"] == 1


def test_estimate_counts_missing_rows_apart_from_invalid_ones(sandbox: msp.Sandbox) -> None:
    df = pd.DataFrame({"phone": ["13800000000", None, "", "n/a", "+1 415 555 0100", "1.38E+10"]})
    est = df.mobile.estimate("phone", client=sandbox.client())
    assert (est["invalid rows"], est["missing rows"], est["calls needed"]) == (2, 3, 1)
    assert list(est.index[:5]) == [
        "rows",
        "distinct numbers",
        "invalid rows",
        "missing rows",
        "cached and fresh",
    ]


def test_readme_reasons_example(sandbox: msp.Sandbox) -> None:
    s = pd.Series(["138 0013 8000", "", "1.86339E+10", "010-12345678"])
    shown = s.mobile.normalize(reasons=True)
    assert shown.to_string() == (
        "        number  valid           reason\n"
        "0  13800138000   True             <NA>\n"
        "1         <NA>  False  no number given\n"
        "2         <NA>  False      digits lost\n"
        "3         <NA>  False         landline"
    )
    assert s.mobile.normalize().tolist() == ["13800138000", pd.NA, pd.NA, pd.NA]
    assert shown.equals(msp.numbers.classify(s)), "the guide's msp.numbers.classify"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(any_values(), max_size=8))
def test_status_never_raises_and_sends_only_digits_from_the_input(
    shared_sandbox: msp.Sandbox, values: list[object]
) -> None:
    shared_sandbox.reset_stats()
    column = pd.Series(values, dtype=object)
    out = pd.DataFrame({"phone": column}).mobile.status(
        "phone", client=shared_sandbox.client(cache=None), progress=False
    )
    assert len(out) == len(values)
    assert out["mobile_number"].equals(column.mobile.normalize().rename("mobile_number"))
    expected: set[str] = set()
    for value, number, status in zip(
        values, out["mobile_number"], out["mobile_status"], strict=True
    ):
        if number is pd.NA:
            assert status in ("invalid", "missing")
            continue
        assert number == strip_country_code(digits_in(value) or ""), value
        if status not in ("invalid", "missing"):
            expected.add(number)
    stats = shared_sandbox.stats(numbers=True)
    assert stats["requests"] == len(expected), "each number sent once, nothing else sent"
    assert set(stats["billed_per_number"]) <= expected
