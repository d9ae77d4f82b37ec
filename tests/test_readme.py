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
    from mobilestatus_pandas.report import SUMMARY_COLUMNS, cost_column

    section = README.split("### Tables", 1)[1].split("Statuses with no row", 1)[0]
    documented = re.findall(r"`([a-z_]+)`", "".join(re.findall(r"^\| ([^|]+) \|", section, re.M)))
    assert documented == [*SUMMARY_COLUMNS, cost_column()]
