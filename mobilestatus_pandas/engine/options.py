"""Checks on option values: one place that says what each option accepts.

The client's constructor and every run (``lookup_many``, ``df.mobile.status``, ``estimate``)
check their options here, before anything is sent. A wrong value raises
:class:`~mobilestatus_pandas.errors.InputError` naming the option, what it accepts, and what
it got. ``bool`` is not a number here (``max_billed=True`` is a mistake, not a budget of 1),
and text is not a number (``price_per_call="0.1"`` is refused, not parsed).
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from collections.abc import Collection
from typing import Final

import numpy as np

from ..errors import InputError

#: What ``validate=`` accepts: check numbers locally first, or send every 11-digit number.
VALIDATE_MODES: Final = ("local", "server")


def _refuse(name: str, accepts: str, value: object) -> InputError:
    return InputError(f"{name} must be {accepts}, got {value!r} ({type(value).__name__})")


def _is_bool(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def number(
    name: str, value: object, *, minimum: float = 0.0, above: bool = False, unit: str = ""
) -> float:
    """``value`` as a finite float ``>= minimum`` (``> minimum`` with ``above``)."""
    bound = f"{'>' if above else '>='} {minimum:g}"
    accepts = f"a number {bound}" + (f" ({unit})" if unit else "")
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise _refuse(name, accepts, value)
    result = float(value)
    if not math.isfinite(result) or result < minimum or (above and result == minimum):
        raise _refuse(name, accepts, value)
    return result


def optional_number(
    name: str, value: object, *, minimum: float = 0.0, above: bool = False, unit: str = ""
) -> float | None:
    """Like :func:`number`, or ``None``."""
    if value is None:
        return None
    try:
        return number(name, value, minimum=minimum, above=above, unit=unit)
    except InputError as exc:
        raise InputError(f"{exc} (or None)") from None


def whole(name: str, value: object, *, minimum: int = 0) -> int:
    """``value`` as an int ``>= minimum`` (ints only: not floats, not booleans)."""
    accepts = f"a whole number >= {minimum}"
    if _is_bool(value) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise _refuse(name, accepts, value)
    return int(value)


def optional_whole(name: str, value: object, *, minimum: int = 0) -> int | None:
    """Like :func:`whole`, or ``None``."""
    if value is None:
        return None
    accepts = f"a whole number >= {minimum} or None"
    if _is_bool(value) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise _refuse(name, accepts, value)
    return int(value)


def flag(name: str, value: object) -> bool:
    """``value`` as a bool: ``True`` or ``False`` only."""
    if not _is_bool(value):
        raise _refuse(name, "True or False", value)
    return bool(value)


def choice(name: str, value: object, choices: Collection[str]) -> str:
    """``value``, one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise _refuse(name, f"one of {tuple(choices)}", value)
    return value


def duration(name: str, value: object) -> dt.timedelta:
    """``value``, a positive :class:`datetime.timedelta` (``pd.Timedelta`` is one)."""
    accepts = "a positive datetime.timedelta, e.g. datetime.timedelta(days=7)"
    if not isinstance(value, dt.timedelta) or value <= dt.timedelta(0):
        raise _refuse(name, accepts, value)
    return value


def check_run_options(
    *,
    progress: object = True,
    max_billed: object = None,
    refresh: object = False,
    validate: object = None,
) -> None:
    """Check the options of one run (``lookup_many``, ``df.mobile.status``, ``estimate``)."""
    flag("progress", progress)
    optional_whole("max_billed", max_billed)
    flag("refresh", refresh)
    if validate is not None:
        choice("validate", validate, VALIDATE_MODES)
