"""The user guide's promises that can drift from the code (docs/guide/, the site's pages).

Tables that restate the code (statuses, columns, thresholds, magic numbers) are read back and
compared with it; the guide's ``>>>`` examples run as doctests; the README's example runs
(against a sandbox paced faster, as the picture's data is 852 numbers).
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pandas as pd
import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas import STATUSES
from mobilestatus_pandas.sandbox import MAGIC_NUMBERS

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "guide"
FAST = 1000.0


def page(name: str) -> str:
    return (GUIDE / f"{name}.md").read_text(encoding="utf-8")


def section(name: str, heading: str) -> str:
    """The text of ``## heading`` on the guide page ``name``, up to the next ``## ``."""
    return page(name).split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def test_magic_number_table_matches_the_sandbox() -> None:
    rows = re.findall(r"^\| (1\d{10}) \|([^|]*)\|([^|]*)\|", page("sandbox"), flags=re.M)
    assert {number for number, _, _ in rows} == set(MAGIC_NUMBERS)
    for number, result, status_code in rows:
        behaviour = MAGIC_NUMBERS[number]
        assert result.strip() == (behaviour.error or behaviour.result), number
        expected_code = "" if behaviour.error else str(behaviour.status_code)
        assert status_code.strip() == expected_code, number


def test_every_status_is_documented_in_order() -> None:
    documented = re.findall(
        r"^\| `([a-z_]+)` \| (?:Result|not|no|an|the)",
        section("results", "The result columns"),
        flags=re.M,
    )
    assert tuple(documented) == STATUSES


def test_summary_columns_are_documented() -> None:
    from mobilestatus_pandas.analysis.report import SUMMARY_COLUMNS, cost_column

    tables = section("results", "Tables").split("Statuses with no row", 1)[0]
    documented = re.findall(r"`([a-z_]+)`", "".join(re.findall(r"^\| ([^|]+) \|", tables, re.M)))
    assert documented == [*SUMMARY_COLUMNS, cost_column()]


def test_compare_columns_and_thresholds_are_documented() -> None:
    from mobilestatus_pandas.analysis.stats import COMPARE_COLUMNS, MIN_ANSWERED_FOR_TEST

    comparing = section("fraud-study", "Comparing groups")
    cells = "".join(re.findall(r"^\| ([^|]+) \|", comparing, re.M))
    assert re.findall(r"`([a-z_]+)`", cells) == list(COMPARE_COLUMNS)
    assert f"fewer than {MIN_ANSWERED_FOR_TEST} answered rows" in comparing


def test_sampling_floor_and_example_design_are_what_the_code_does() -> None:
    from mobilestatus_pandas.analysis.sampling import MIN_PER_STRATUM, allocate

    sampling = section("fraud-study", "Sampling before paying")
    assert f"floor\n  of {MIN_PER_STRATUM} numbers" in sampling
    counts, allocation = allocate({False: 58500, True: 1500}, 1000)
    assert f"'allocation': '{allocation}'" in sampling
    assert f"False: {{'numbers': 58500, 'sampled': {counts[False]}}}" in sampling
    assert f"True: {{'numbers': 1500, 'sampled': {counts[True]}}}" in sampling


def doctest_text(markdown: str) -> str:
    """The page with its code fences blanked, so a fence never reads as expected output."""
    return re.sub(r"^```.*$", "", markdown, flags=re.M)


@pytest.mark.parametrize("name", sorted(p.stem for p in GUIDE.glob("*.md")))
def test_the_guide_examples_run(name: str) -> None:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(
        doctest_text(page(name)), {"pd": pd, "msp": msp},
        name, str(GUIDE / f"{name}.md"), 0,
    )  # fmt: skip
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0, f"docs/guide/{name}.md: {runner.failures} example(s) failed"


def test_the_examples_are_found() -> None:
    """The doctest runner above sees the guide's examples (a page without any passes)."""
    found = doctest.DocTestParser().get_examples(doctest_text(page("results")))
    assert any("normalize(reasons=True)" in example.source for example in found)


@pytest.mark.integration
def test_the_readme_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's example as written, against a sandbox paced at FAST rather than 20/s
    (its 852 numbers would take 43 s): it runs, and the picture below it says what it shows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```python\n(.*?)```", readme, flags=re.S)
    assert example is not None
    assert len(example[1].strip().splitlines()) <= 10, "the README's example is ten lines"
    assert "![" in readme.split(example[0], 1)[1].split("\n## ", 1)[0], "with its picture"

    class FastSandbox(msp.Sandbox):
        def __init__(self, **options: object) -> None:
            super().__init__(**{"rate_limit": FAST, **options})  # type: ignore[arg-type]

        def client(self, **options: object) -> msp.MobileStatusClient:
            return super().client(**{"rate_limit": FAST, "cache": None, **options})

    monkeypatch.setattr(msp, "Sandbox", FastSandbox)
    namespace: dict[str, object] = {}
    try:
        exec(compile(example[1], "README.md", "exec"), namespace)  # noqa: S102  (our own text)
    finally:
        plt.close("all")
    out = namespace["out"]
    assert isinstance(out, pd.DataFrame)
    assert len(out) == 3000
    assert out["mobile_status"].notna().all()
    table = out.mobile.compare("fraud")
    dead = table[(table["status"] == "dead_line") & (table["group"] == True)]  # noqa: E712
    assert 2.5 < float(dead["lift"].iloc[0]) < 3.5, "'about three times as often'"
