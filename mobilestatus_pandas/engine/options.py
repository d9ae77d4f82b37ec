"""Checks on option values: one place that says what each option accepts.

The client's constructor and every run (``lookup_many``, ``df.mobile.status``, ``estimate``)
check their options here, before anything is sent; a run's options travel through the engine
as one checked :class:`RunOptions`. A wrong value raises
:class:`~mobilestatus_pandas.errors.InputError` naming the option, what it accepts, and what
it got. ``bool`` is not a number here (``max_billed=True`` is a mistake, not a budget of 1),
and text is not a number (``price_per_call="0.1"`` is refused, not parsed).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import numbers
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from ..analysis import sampling
from ..errors import InputError
from ..service.actions import STATUS, Action, get_action

#: What ``validate=`` accepts: check numbers locally first, or send every 11-digit number.
VALIDATE_MODES: Final = ("local", "server")
#: Stands in for ``by`` while its length cannot be checked (see :class:`RunOptions`).
_ONE_ROW: Final = (None,)


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
    """Check some options of one run before the others can be (``df.mobile.check`` before its
    groups are resolved, ``estimate``, Dask's job): as :class:`RunOptions` checks them."""
    RunOptions(
        progress=progress,  # type: ignore[arg-type]
        max_billed=max_billed,  # type: ignore[arg-type]
        refresh=refresh,  # type: ignore[arg-type]
        validate=validate,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class RunOptions:
    """What one run is asked to do, checked once: the carrier the engine passes around.

    The public signatures (``df.mobile.status``, ``start``, ``tenure``, ``check``,
    ``client.lookup_many``, ``tenure_many``, Dask's) spell every option as a keyword, for
    their docs, completion and type checks; each builds one ``RunOptions`` and the engine
    (``run_lookups``, ``start``, ``Run``, ``checks.run_actions``, Dask's partition runs)
    takes that, so a new option is one field here plus the public signatures.

    Every value is checked when the options are made: a wrong one raises
    :class:`~mobilestatus_pandas.errors.InputError` naming the option, what it accepts and
    what it got. ``by`` (one group per row, a Series or array) is checked against the rows
    when the run starts, where they are known; it takes no part in comparisons.

    >>> RunOptions(max_billed=100, action="tenure").action.name
    'tenure'
    >>> RunOptions(refresh="yes")
    Traceback (most recent call last):
    ...
    mobilestatus_pandas.errors.InputError: refresh must be True or False, got 'yes' (str)
    """

    #: Draw the engine's progress bar (or plain lines); a displayed run in Jupyter is its
    #: own live widget instead. The engine draws nothing unless asked; the faces ask.
    progress: bool = False
    #: Stop before billed plus possibly billed calls would pass this many (None: no limit).
    max_billed: int | None = None
    #: Call every number again, whatever the cache holds.
    refresh: bool = False
    #: ``"local"`` (check numbers here first) or ``"server"``; None: the client's setting.
    validate: str | None = None
    #: Look up only this many distinct numbers, drawn at random (None: all of them).
    sample: int | None = None
    #: Strata of the sample: one group per row (needs ``sample``).
    by: object = field(default=None, compare=False)
    #: The sample's seed (needs ``sample``; None: a fresh one).
    seed: int | None = None
    #: The API asked: ``STATUS`` (MobileStatus) or ``TENURE``; a name is accepted too.
    action: Action = STATUS

    def __post_init__(self) -> None:
        flag("progress", self.progress)
        object.__setattr__(self, "max_billed", optional_whole("max_billed", self.max_billed))
        flag("refresh", self.refresh)
        if self.validate is not None:
            choice("validate", self.validate, VALIDATE_MODES)
        # sample and seed here; by's length when the run starts, where the rows are known
        some_by = None if self.by is None else _ONE_ROW
        request = sampling.check_request(self.sample, some_by, self.seed, len(_ONE_ROW))
        if request is not None:
            object.__setattr__(self, "sample", request.size)
            object.__setattr__(self, "seed", request.seed)
        object.__setattr__(self, "action", get_action(self.action))

    def __repr__(self) -> str:
        # The action by name (its code tables are long), ``by`` only as given or not.
        shown = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if f.name not in ("by", "action")
        ]
        by = "None" if self.by is None else "<given>"
        return f"RunOptions({', '.join(shown)}, by={by}, action={self.action.name!r})"

    def replace(self, **changes: Any) -> RunOptions:
        """These options with ``changes`` (checked as the constructor checks them)."""
        return dataclasses.replace(self, **changes)
