"""Synthetic data for demos, notebooks and benchmarks: seeded, realistic, messy."""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from .numbers import cn_mobile_pattern

#: Common CN mobile prefixes (all pass libphonenumber's CN mobile pattern).
MOBILE_PREFIXES: Final = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139",
    "150", "151", "152", "155", "156", "157", "158", "159",
    "166", "177", "180", "181", "182", "183", "185", "186", "187", "188", "189", "199",
)  # fmt: skip


def random_numbers(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct valid CN mobile numbers (11 digits), repeatable for a seed."""
    rng = np.random.default_rng(seed)
    pattern = cn_mobile_pattern()
    found: dict[str, None] = {}
    while len(found) < count:
        prefixes = rng.choice(MOBILE_PREFIXES, size=count)
        tails = rng.integers(0, 10**8, size=count)
        for prefix, tail in zip(prefixes, tails, strict=True):
            number = f"{prefix}{tail:08d}"
            if pattern.fullmatch(number):
                found[number] = None
                if len(found) == count:
                    break
    return list(found)


def messy_format(number: str, style: int) -> object:
    """Write ``number`` the way a spreadsheet or a CRM might."""
    formats = (
        lambda n: n,
        lambda n: f"+86 {n[:3]} {n[3:7]} {n[7:]}",
        lambda n: f"0086-{n[:3]}-{n[3:7]}-{n[7:]}",
        lambda n: f"({n[:3]}) {n[3:7]}.{n[7:]}",
        lambda n: f"tel:+86{n}",
        lambda n: float(n),
        lambda n: int(n),
        lambda n: n.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        lambda n: f"  {n} ",
    )
    return formats[style % len(formats)](number)


def signups(rows: int = 2000, distinct: int | None = None, seed: int = 7) -> pd.DataFrame:
    """A synthetic table of sign-ups with a phone column in messy formats.

    Columns: ``user_id``, ``signup_channel``, ``fraud`` (a label), ``phone``. Numbers repeat
    (shared by several accounts), a few are junk, formats vary row by row.
    """
    rng = np.random.default_rng(seed)
    distinct = distinct if distinct is not None else max(1, int(rows * 0.3))
    pool = random_numbers(distinct, seed=seed)
    picks = rng.integers(0, len(pool), size=rows)
    styles = rng.integers(0, 9, size=rows)
    phones: list[object] = [
        messy_format(pool[p], int(s)) for p, s in zip(picks, styles, strict=True)
    ]
    junk = rng.random(rows) < 0.03
    junk_values = ["n/a", "", None, "12345", "+1 415 555 0100", "138 0013 8000 ext 12"]
    for i in np.flatnonzero(junk):
        phones[i] = junk_values[int(rng.integers(0, len(junk_values)))]
    fraud = rng.random(rows) < 0.08
    channel = rng.choice(
        ["organic", "referral", "ads", "partner"], size=rows, p=[0.4, 0.2, 0.3, 0.1]
    )
    return pd.DataFrame(
        {
            "user_id": np.arange(1, rows + 1),
            "signup_channel": channel,
            "fraud": fraud,
            "phone": pd.Series(phones, dtype=object),
        }
    )
