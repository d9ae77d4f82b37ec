"""Synthetic data for demos, notebooks and benchmarks: seeded, realistic, messy.

Everything here is **synthetic**. :func:`signups` plants one documented fraud signal, chosen
from the sandbox's own outcome model (:func:`~mobilestatus_pandas.sandbox.behaviour_for`),
so that a study run against the sandbox finds a real, known effect:

* legitimate accounts draw their numbers from the whole pool, so their share of dead lines
  (out of service, cancelled, offline) is the sandbox's natural one, about 14%;
* fraudulent accounts (:data:`FRAUD_RATE` of them) take a dead line with probability
  :data:`FRAUD_DEAD_LINE_SHARE` (35%), and otherwise a live one; dead numbers being few, fraud
  accounts share them more often (small "rings");
* independently, fraudulent accounts take a line under six months old (line tenure, the
  sandbox's ``MobileNetworkTimeVerification`` bands ``[0,3)`` and ``[3,6)``) with probability
  :data:`FRAUD_NEW_LINE_SHARE` (40%), against the sandbox's natural 15% for legitimate ones;
* fraud is more frequent on the ``ads`` and ``partner`` channels (:data:`FRAUD_RATE_BY_CHANNEL`).

The lift of the dead-line share, fraud against legitimate, is therefore about 2.5, and of
the new-line share about 2.5 too.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from .service.codes import DEAD_LINE_STATES, status_for
from .service.numbers import cn_mobile_pattern

#: Common CN mobile prefixes (all pass libphonenumber's CN mobile pattern).
MOBILE_PREFIXES: Final = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139",
    "150", "151", "152", "155", "156", "157", "158", "159",
    "166", "177", "180", "181", "182", "183", "185", "186", "187", "188", "189", "199",
)  # fmt: skip


#: Sign-up channels and their share of accounts.
CHANNELS: Final = ("organic", "referral", "ads", "partner")
CHANNEL_SHARES: Final = (0.4, 0.2, 0.3, 0.1)
#: Share of fraudulent accounts per channel (overall about 8%).
FRAUD_RATE_BY_CHANNEL: Final = {"organic": 0.05, "referral": 0.06, "ads": 0.11, "partner": 0.13}
FRAUD_RATE: Final = sum(
    share * FRAUD_RATE_BY_CHANNEL[name]
    for name, share in zip(CHANNELS, CHANNEL_SHARES, strict=True)
)
#: The planted signal: the chance that a fraudulent account's number is a dead line.
FRAUD_DEAD_LINE_SHARE: Final = 0.35
#: The planted tenure signal: the chance that a fraudulent account's line is under 6 months old.
FRAUD_NEW_LINE_SHARE: Final = 0.40
#: The tenure bands (months) that make a line "new".
NEW_LINE_BANDS: Final = ("[0,3)", "[3,6)")
#: Share of rows whose phone value is junk, blank or foreign.
JUNK_SHARE: Final = 0.03
#: Sign-ups span this many days, from SIGNUP_START.
SIGNUP_START: Final = "2026-01-01"
SIGNUP_DAYS: Final = 180


def is_dead_line_in_sandbox(number: str) -> bool:
    """Whether the sandbox answers ``number`` with a dead line state (its outcome model)."""
    from .sandbox.behaviour import behaviour_for

    behaviour = behaviour_for(number)
    if behaviour.error is not None or behaviour.result != "0":
        return False
    return status_for(behaviour.result, behaviour.status_code) in DEAD_LINE_STATES


def is_new_line_in_sandbox(number: str) -> bool:
    """Whether the sandbox answers ``number``'s tenure with a band under six months."""
    from .sandbox.behaviour import tenure_behaviour_for

    behaviour = tenure_behaviour_for(number)
    return behaviour.result == "0" and behaviour.range in NEW_LINE_BANDS


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

    Columns: ``user_id``, ``signup_ts`` (UTC sign-up time over :data:`SIGNUP_DAYS` days),
    ``signup_channel``, ``fraud`` (a label), ``phone``. Numbers repeat (shared by several
    accounts), a few values are junk, blank or foreign, formats vary row by row. Fraudulent
    accounts carry dead lines more often (the planted signal: see the module docstring).

    >>> frame = signups(rows=5)
    >>> list(frame.columns)
    ['user_id', 'signup_ts', 'signup_channel', 'fraud', 'phone']
    """
    rng = np.random.default_rng(seed)
    distinct = distinct if distinct is not None else max(1, int(rows * 0.3))
    pool = random_numbers(distinct, seed=seed)
    dead = np.array([is_dead_line_in_sandbox(n) for n in pool], dtype=bool)
    new = np.array([is_new_line_in_sandbox(n) for n in pool], dtype=bool)
    # Fraud draws from the pool's four corners (dead or live, new or not), each non-empty.
    corners = {
        (d, w): [n for n, nd, nw in zip(pool, dead, new, strict=True) if nd == d and nw == w]
        or pool
        for d in (False, True)
        for w in (False, True)
    }

    channel = rng.choice(list(CHANNELS), size=rows, p=list(CHANNEL_SHARES))
    fraud_rate = np.array([FRAUD_RATE_BY_CHANNEL[c] for c in channel])
    fraud = rng.random(rows) < fraud_rate
    # Legitimate accounts: the whole pool (the sandbox's natural mix). Fraud: a dead line
    # with probability FRAUD_DEAD_LINE_SHARE, a new one with FRAUD_NEW_LINE_SHARE.
    from_pool = rng.integers(0, len(pool), size=rows)
    fraud_dead = rng.random(rows) < FRAUD_DEAD_LINE_SHARE
    fraud_new = rng.random(rows) < FRAUD_NEW_LINE_SHARE
    pick = rng.random(rows)
    numbers: list[str] = []
    for is_fraud, d, w, u, p in zip(fraud, fraud_dead, fraud_new, pick, from_pool, strict=True):
        corner = corners[(bool(d), bool(w))]
        numbers.append(corner[int(u * len(corner))] if is_fraud else pool[p])
    styles = rng.integers(0, 9, size=rows)
    phones: list[object] = [messy_format(n, int(s)) for n, s in zip(numbers, styles, strict=True)]
    junk = rng.random(rows) < JUNK_SHARE
    junk_values = ["n/a", "", None, "12345", "+1 415 555 0100", "138 0013 8000 ext 12"]
    for i in np.flatnonzero(junk):
        phones[i] = junk_values[int(rng.integers(0, len(junk_values)))]
    seconds = np.sort(rng.integers(0, SIGNUP_DAYS * 86_400, size=rows))
    signup_ts = pd.Timestamp(SIGNUP_START, tz="UTC") + pd.to_timedelta(seconds, unit="s")
    return pd.DataFrame(
        {
            "user_id": np.arange(1, rows + 1),
            "signup_ts": signup_ts,
            "signup_channel": channel,
            "fraud": fraud,
            "phone": pd.Series(phones, dtype=object),
        }
    )
