"""What ``by=`` means everywhere (summary, plots, compare, shared): one resolver.

``by`` takes what :meth:`pandas.DataFrame.groupby` takes: a column label, an index level name,
a list of them, a Series (aligned on the index, e.g. ``out.signup_ts.dt.month``), an array
or list as long as the frame, or a :class:`pandas.Grouper` (``pd.Grouper(key="signup_ts",
freq="W")`` for time periods). :func:`resolve_by` turns any of these into plain per-row label
Series, indexed like the frame, with a name for each, so every caller groups the same way.

>>> import pandas as pd
>>> frame = pd.DataFrame({"channel": ["ads", "ads", "organic"]})
>>> keys, names = resolve_by(frame, "channel")
>>> names, keys[0].tolist()
(['channel'], ['ads', 'ads', 'organic'])
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Hashable
from typing import Any, Final

import numpy as np
import pandas as pd

from ..errors import InputError

#: A grouping with more groups than this draws a warning: a table or a plot of hundreds of
#: groups is rarely what was meant (a timestamp or an id column instead of a label).
MANY_GROUPS: Final = 100
#: The name given to a grouping key that has none (an unnamed array or Series).
UNNAMED_KEY: Final = "group"
_POSITION: Final = "__row_position__"


class ManyGroupsWarning(UserWarning):
    """A ``by=`` grouping has hundreds of groups: probably not the column that was meant."""


_PACKAGE_DIR: Final = os.path.dirname(os.path.abspath(__file__))


def user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the caller's code, outside this package."""
    level = 1
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        _PACKAGE_DIR + os.sep
    ):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _is_scalar_label(value: object) -> bool:
    return isinstance(value, Hashable) and not isinstance(value, tuple | pd.Grouper)


def _column_or_level(frame: pd.DataFrame, label: Hashable) -> pd.Series | None:
    if label in frame.columns:
        selected: object = frame[label]
        if not isinstance(selected, pd.Series):
            raise InputError(f"cannot group by {label!r}: the column label is not unique")
        return selected
    if label is not None and label in frame.index.names:
        values = frame.index.get_level_values(label)  # type: ignore[arg-type]
        return pd.Series(values, index=frame.index, name=label)
    return None


def _from_series(frame: pd.DataFrame, series: pd.Series, position: int) -> pd.Series:
    if series.index.equals(frame.index):
        aligned = series
    elif frame.index.is_unique and series.index.is_unique:
        # groupby aligns a Series on the index; rows it does not cover get no group (NA).
        aligned = series.reindex(frame.index)
        if aligned.isna().all() and series.notna().any():
            raise InputError(
                "cannot group by this Series: none of its index labels is in the frame's "
                "index (was it made from another frame, or before a reset_index?)"
            )
    else:
        raise InputError(
            "cannot group by a Series whose index differs from the frame's when either has "
            "duplicate labels: pass an array (series.to_numpy()) or a column of the frame"
        )
    name = series.name if series.name is not None else f"{UNNAMED_KEY}_{position}"
    return pd.Series(aligned.to_numpy(), index=frame.index, name=name)


def _from_array(frame: pd.DataFrame, values: Any, position: int) -> pd.Series:
    array = values if isinstance(values, pd.Index | pd.api.extensions.ExtensionArray) else (
        np.asarray(values)
    )  # fmt: skip
    if getattr(array, "ndim", 1) != 1 or len(array) != len(frame):
        raise InputError(
            f"cannot group by an array of length {len(array)}: it must have one value per "
            f"row ({len(frame)}), or name a column"
        )
    name = getattr(values, "name", None) or f"{UNNAMED_KEY}_{position}"
    return pd.Series(array, index=frame.index, name=name)


def _from_grouper(frame: pd.DataFrame, grouper: pd.Grouper) -> pd.Series:
    key = grouper.key
    if key is not None and key not in frame.columns:
        raise InputError(f"cannot group by pd.Grouper(key={key!r}): not a column of the frame")
    # Group row positions (pandas' own binning, closed/label/origin included) and write each
    # group's label back to its rows: ngroup() is not reliable for time bins.
    carrier = pd.DataFrame({_POSITION: np.arange(len(frame))}, index=frame.index)
    if key is not None:
        carrier[key] = frame[key].to_numpy()
    try:
        groups = list(carrier.groupby(grouper)[_POSITION])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        source = f"column {key!r}" if key is not None else "the index"
        raise InputError(
            f"cannot group by {grouper!r}: {exc}. A time Grouper needs {source} to hold "
            f"datetimes (convert it with pd.to_datetime)"
        ) from exc
    values = np.full(len(frame), None, dtype=object)
    for label, positions in groups:
        values[positions.to_numpy()] = label
    name = key if key is not None else (frame.index.name or "period")
    labels = [label for label, _ in groups]
    if labels and all(isinstance(label, pd.Timestamp) for label in labels):
        return pd.Series(pd.to_datetime(values), index=frame.index, name=name)
    return pd.Series(values, index=frame.index, name=name)


def _resolve_one(frame: pd.DataFrame, key: object, position: int) -> pd.Series:
    if isinstance(key, pd.Grouper):
        return _from_grouper(frame, key)
    if isinstance(key, pd.Series):
        return _from_series(frame, key, position)
    if isinstance(key, np.ndarray | pd.Index | pd.api.extensions.ExtensionArray | list):
        return _from_array(frame, key, position)
    if _is_scalar_label(key) or isinstance(key, tuple):
        found = _column_or_level(frame, key)
        if found is not None:
            return pd.Series(found.to_numpy(), index=frame.index, name=key)
        raise InputError(
            f"cannot group by {key!r}: not a column or index level of the frame "
            f"(by= takes a column name, a list of them, a Series, an array or a pd.Grouper)"
        )
    raise InputError(
        f"cannot group by a {type(key).__name__}: by= takes a column name, a list of them, "
        f"a Series, an array or a pd.Grouper"
    )


def resolve_by(
    frame: pd.DataFrame, by: object, *, warn_above: int | None = MANY_GROUPS
) -> tuple[list[pd.Series], list[str]]:
    """The per-row group labels for ``by`` and their names.

    Returns ``(keys, names)``: ``keys`` a list of Series indexed like ``frame`` (one per
    grouping key; empty when ``by`` is None), ready for ``frame.groupby(keys, dropna=False)``,
    and ``names`` their names as strings (for index levels and titles). Rows without a group
    (NA labels, timestamps outside every period) are kept with an NA label.

    A list is a list of keys, as in ``groupby``, unless none of its items is a column label and
    it has one value per row: then it is one array. Raises :class:`InputError` for what
    ``groupby`` would refuse, and warns (:class:`ManyGroupsWarning`) when the grouping has more
    than ``warn_above`` groups.
    """
    if by is None:
        return [], []
    items: list[object]
    if isinstance(by, list):
        labels_in_frame = [
            _is_scalar_label(k) and (k in frame.columns or k in frame.index.names) for k in by
        ]
        is_one_array = len(by) == len(frame) and len(by) > 0 and not any(labels_in_frame)
        is_one_array = is_one_array and all(not isinstance(k, pd.Series | pd.Grouper) for k in by)
        items = [by] if is_one_array else list(by)
        if not items:
            raise InputError("by= is an empty list: name at least one grouping column")
    else:
        items = [by]
    keys = [_resolve_one(frame, item, position) for position, item in enumerate(items)]
    names = [str(key.name) for key in keys]
    if warn_above is not None and keys:
        groups = pd.Series(0, index=frame.index).groupby(keys, dropna=False, observed=True).ngroups
        if groups > warn_above:
            warnings.warn(
                f"grouping by {', '.join(names)} makes {groups:,} groups (more than "
                f"{warn_above}): is this the column you meant? Group a time column by period "
                f"with pd.Grouper(key=..., freq='W') or a bucketed Series",
                ManyGroupsWarning,
                stacklevel=user_stacklevel(),
            )
    return keys, names


def describe_by(names: list[str]) -> str:
    """``" by a, b"`` for titles, or ``""`` without a grouping."""
    return f" by {', '.join(names)}" if names else ""
