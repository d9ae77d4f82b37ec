"""The README's promises that can drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

from mobilestatus_pandas import STATUSES
from mobilestatus_pandas.sandbox import MAGIC_NUMBERS

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_magic_number_table_matches_the_sandbox() -> None:
    rows = re.findall(r"^\| (1\d{10}) \|([^|]*)\|([^|]*)\|", README, flags=re.MULTILINE)
    assert {number for number, _, _ in rows} == set(MAGIC_NUMBERS)
    for number, result, status_code in rows:
        behaviour = MAGIC_NUMBERS[number]
        assert result.strip() == (behaviour.error or behaviour.result), number
        expected_code = "" if behaviour.error else str(behaviour.status_code)
        assert status_code.strip() == expected_code, number


def test_every_status_is_documented_in_order() -> None:
    documented = re.findall(
        r"^\| `([a-z_]+)` \| (?:Result|not|no|an|the)", README, flags=re.MULTILINE
    )
    assert tuple(documented) == STATUSES


def test_quick_start_shows_the_two_commands() -> None:
    assert "make demo" in README
    assert "make test" in README


def test_summary_columns_are_documented() -> None:
    from mobilestatus_pandas.analysis.report import SUMMARY_COLUMNS, cost_column

    section = README.split("### Tables", 1)[1].split("Statuses with no row", 1)[0]
    documented = re.findall(r"`([a-z_]+)`", "".join(re.findall(r"^\| ([^|]+) \|", section, re.M)))
    assert documented == [*SUMMARY_COLUMNS, cost_column()]


def test_compare_columns_and_thresholds_are_documented() -> None:
    from mobilestatus_pandas.analysis.stats import COMPARE_COLUMNS, MIN_ANSWERED_FOR_TEST

    section = README.split("## Comparing groups", 1)[1].split("\n## ", 1)[0]
    cells = "".join(re.findall(r"^\| ([^|]+) \|", section, re.M))
    assert re.findall(r"`([a-z_]+)`", cells) == list(COMPARE_COLUMNS)
    assert f"fewer than {MIN_ANSWERED_FOR_TEST} answered rows" in section


def test_sampling_floor_and_example_design_are_what_the_code_does() -> None:
    from mobilestatus_pandas.analysis.sampling import MIN_PER_STRATUM, allocate

    section = README.split("## Sampling before paying", 1)[1].split("\n## ", 1)[0]
    assert f"floor\n  of {MIN_PER_STRATUM} numbers" in section
    counts, allocation = allocate({False: 58500, True: 1500}, 1000)
    assert f"'allocation': '{allocation}'" in section
    assert f"False: {{'numbers': 58500, 'sampled': {counts[False]}}}" in section
    assert f"True: {{'numbers': 1500, 'sampled': {counts[True]}}}" in section
