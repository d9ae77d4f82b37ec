"""Sample before paying: look up a random, stratified subset of the distinct numbers.

``df.mobile.status("phone", sample=1000, by="fraud", seed=0)`` looks up 1,000 distinct numbers
drawn at random among those a full run would send (valid and not missing), and marks every
other row ``not_checked`` with ``error="not sampled"``. With ``by`` the draw is stratified:
each group gets a share of the sample proportional to its distinct numbers (proportional
allocation), raised to a floor of :data:`MIN_PER_STRATUM` numbers (or all of a smaller group)
so that small groups are represented; the floor is taken from the larger groups.

The design is recorded in ``out.attrs["mobilestatus"]["sample"]``::

    {"size": 1000, "by": "fraud", "seed": 0, "allocation": "proportional" | "floored",
     "strata": {group: {"numbers": distinct numbers in the group, "sampled": n}}}

and each row's weight (the inverse of the probability that its number was drawn) in the
column ``mobile_sample_weight``, which survives merges that drop ``attrs``.
:func:`weights` turns that into the per-row weights that estimates for the whole frame use.

Choices, and why:

* The sample is drawn from the numbers a run would send, whatever the cache holds: the same
  data, ``size``, ``by`` and ``seed`` give the same sample, so running the cell again is free
  (every sampled number is in the cache) and a cached number is not favoured. Sampled numbers
  with a fresh cached answer cost nothing; cached answers of numbers outside the sample are not
  used (they would make the design depend on the cache's history).
* A number found in rows of several groups belongs to the stratum of its first row.
* Rows decided without a call (not a number, ``invalid`` by the local check) are known for
  every row: weight 1.
* ``seed=None`` draws a fresh seed and records it, so any sample can be drawn again.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from ..errors import InputError

#: The status of rows left out of a run (not drawn, not sent): they have no weight.
NOT_CHECKED: Final = "not_checked"
#: Rows with no number given are known for every row (no call): they weigh 1 in any sample.
MISSING: Final = "missing"

#: The ``error`` of rows whose number was not drawn.
NOT_SAMPLED: Final = "not sampled"
#: The least numbers drawn from each stratum (all of a smaller one); lowered to
#: ``size // strata`` when the sample cannot give every stratum this many.
MIN_PER_STRATUM: Final = 30
#: The result column (after the prefix) holding each row's design weight, on sampled runs.
WEIGHT_COLUMN: Final = "sample_weight"
#: The key of the design inside ``attrs["mobilestatus"]``.
SAMPLE_KEY: Final = "sample"
ALLOCATION_PROPORTIONAL: Final = "proportional"
ALLOCATION_FLOORED: Final = "floored"
#: The stratum of rows whose ``by`` value is missing.
MISSING_GROUP: Final = None


@dataclass(frozen=True)
class SampleRequest:
    """What the caller asked for: ``size`` distinct numbers, stratified by ``by`` values."""

    size: int
    by: np.ndarray | None = None  # one value per row, or None
    by_name: Hashable | None = None
    seed: int | None = None


@dataclass
class SampleDesign:
    """A drawn sample: the chosen numbers, their weights, and the design for ``attrs``."""

    size: int
    by: Hashable | None
    seed: int
    allocation: str
    strata: dict[Any, dict[str, int]]
    #: Per distinct number of the run: its weight (numbers in its stratum / drawn) when drawn,
    #: NaN when it could have been drawn and was not, 1.0 when it is not sent at all.
    number_weight: np.ndarray = field(default_factory=lambda: np.ones(0))
    #: Numbers a full run would send that were not drawn.
    left_out: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The design as recorded in ``attrs["mobilestatus"]["sample"]``."""
        return {
            "size": self.size,
            "by": self.by,
            "seed": self.seed,
            "allocation": self.allocation,
            "strata": {k: dict(v) for k, v in self.strata.items()},
        }

    def row_weights(self, row_codes: np.ndarray) -> np.ndarray:
        """Per row (``row_codes``: position among the distinct numbers, -1 when not a number):
        the weight of its number; NaN when not drawn; 1.0 when decided without a call."""
        per_number = np.append(self.number_weight, 1.0)
        return per_number[np.where(row_codes < 0, len(self.number_weight), row_codes)]


def check_request(
    sample: object, by: object, seed: object, rows: int, by_name: Hashable | None = None
) -> SampleRequest | None:
    """Validate ``sample``/``by``/``seed`` (``by`` as values, one per row); None without sample."""
    if sample is None:
        if by is not None or seed is not None:
            raise InputError("by= and seed= choose how to sample: pass sample=N with them")
        return None
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or sample < 1:
        raise InputError(f"sample must be a whole number of distinct numbers >= 1, got {sample!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise InputError(f"seed must be a whole number or None, got {seed!r}")
    values = None
    if by is not None:
        values = np.asarray(by, dtype=object)
        if values.ndim != 1 or len(values) != rows:
            raise InputError(
                f"by= must give one group per row ({rows} rows), got {np.shape(values)}: pass a "
                "column name, or a Series/array as long as the frame"
            )
    return SampleRequest(int(sample), values, by_name, None if seed is None else int(seed))


def allocate(population: Mapping[Any, int], size: int) -> tuple[dict[Any, int], str]:
    """How many numbers to draw from each stratum: ``(counts, allocation)``.

    Proportional to each stratum's population (largest remainders), each raised to its floor
    (``min(MIN_PER_STRATUM, size // strata, population)``) at the expense of the others; the
    total is ``min(size, total population)``. ``allocation`` is ``"floored"`` when a floor
    changed the proportional counts.

    >>> allocate({"fraud": 50, "good": 9950}, 500)
    ({'fraud': 30, 'good': 470}, 'floored')
    """
    total = sum(population.values())
    if size >= total:
        return dict(population), ALLOCATION_PROPORTIONAL
    live = {k: v for k, v in population.items() if v > 0}
    if size < len(live):
        raise InputError(
            f"sample={size} is smaller than the number of groups ({len(live)}): every group "
            "needs at least one number; raise sample= or group by fewer values"
        )
    floor = min(MIN_PER_STRATUM, size // len(live))
    floors = {k: min(floor, v) for k, v in live.items()}
    fixed: dict[Any, int] = {}
    while True:
        free = {k: v for k, v in live.items() if k not in fixed}
        room = size - sum(fixed.values())
        free_total = sum(free.values())
        ideal = {k: room * v / free_total for k, v in free.items()}
        below = [k for k, x in ideal.items() if x < floors[k]]
        if not below:
            break
        fixed.update({k: floors[k] for k in below})
    counts = {k: int(np.floor(x)) for k, x in ideal.items()}
    short = room - sum(counts.values())
    for k in sorted(ideal, key=lambda k: ideal[k] - counts[k], reverse=True)[:short]:
        counts[k] += 1
    counts.update(fixed)
    allocation = ALLOCATION_FLOORED if fixed else ALLOCATION_PROPORTIONAL
    return {k: counts.get(k, 0) for k in population}, allocation


def _key(value: object) -> Any:
    """A stratum key for ``attrs``: a plain Python scalar, None for missing."""
    if value is None or value is pd.NA or value is pd.NaT:
        return MISSING_GROUP
    if isinstance(value, (float, np.floating)) and np.isnan(value):
        return MISSING_GROUP
    return value.item() if isinstance(value, np.generic) else value


def fresh_seed() -> int:
    """A new random seed for a draw, recorded so the sample can be drawn again."""
    return int(np.random.SeedSequence().entropy % (2**32))  # type: ignore[operator]


def draw(
    distinct: Sequence[str],
    to_check: Sequence[str],
    row_codes: np.ndarray,
    request: SampleRequest,
) -> tuple[list[str], SampleDesign]:
    """Draw the sample among ``to_check``: ``(chosen numbers, design)``.

    ``distinct`` are the run's distinct numbers and ``row_codes`` each row's position in it
    (-1: not a number); a number's stratum is the ``by`` value of its first row. Within a
    stratum the numbers are sorted before the draw, so row order does not change the sample.
    """
    seed = request.seed if request.seed is not None else fresh_seed()
    rng = np.random.default_rng(seed)
    if len(to_check) == len(distinct):  # every number is sent (to_check keeps the order)
        candidates = np.arange(len(distinct), dtype=np.int64)
    else:
        candidates = np.asarray(pd.Index(distinct).get_indexer(list(to_check)), dtype=np.int64)
    if request.by is None:
        strata_of = np.zeros(len(candidates), dtype=np.int64)
        keys: list[Any] = [None]
    else:
        first_row = np.full(len(distinct), -1, dtype=np.int64)
        rows = np.flatnonzero(row_codes >= 0)
        first_row[row_codes[rows[::-1]]] = rows[::-1]  # the last write is the first row
        labels = pd.Series(request.by[first_row[candidates]], dtype=object)
        try:
            codes, uniques = pd.factorize(labels, sort=True)
        except TypeError:  # groups that do not sort (mixed types): order of appearance
            codes, uniques = pd.factorize(labels)
        strata_of = np.asarray(codes, dtype=np.int64)
        keys = [_key(u) for u in np.asarray(uniques, dtype=object)]
        if (strata_of < 0).any():  # missing groups form a stratum of their own
            keys.append(MISSING_GROUP)
            strata_of = np.where(strata_of < 0, len(keys) - 1, strata_of)
    texts = np.asarray(distinct, dtype=str)[candidates] if len(candidates) else np.array([], str)
    order = np.lexsort((texts, strata_of))  # by stratum, then number
    bounds = np.searchsorted(strata_of[order], np.arange(len(keys) + 1))
    population = {s: int(bounds[s + 1] - bounds[s]) for s in range(len(keys))}
    counts, allocation = allocate(population, request.size)
    number_weight = np.ones(len(distinct), dtype=float)
    number_weight[candidates] = np.nan
    strata: dict[Any, dict[str, int]] = {}
    for s in range(len(keys)):
        block = candidates[order[bounds[s] : bounds[s + 1]]]
        n = counts[s]
        if n:
            picked = block[rng.choice(len(block), size=n, replace=False)]
            number_weight[picked] = len(block) / n
        strata[keys[s]] = {"numbers": len(block), "sampled": n}
    drawn = ~np.isnan(number_weight[candidates])
    check = np.asarray(list(to_check), dtype=object)
    design = SampleDesign(
        size=request.size,
        by=request.by_name,
        seed=seed,
        allocation=allocation,
        strata=strata,
        number_weight=number_weight,
        left_out=check[~drawn].tolist(),
    )
    return check[drawn].tolist(), design


def weights(frame: pd.DataFrame, prefix: str = "mobile_") -> pd.Series:
    """Per-row weights for estimates about the whole frame from a (possibly sampled) result.

    For each row: the number of rows of the whole frame it stands for. A row whose number was
    drawn: the inverse of the probability that it was drawn, within its stratum (``numbers in
    the stratum / numbers drawn``), whatever its status (an ``error`` row of a drawn number
    stands for the frame's rows that would have failed too); a row decided without a call
    (``missing``: no number given, a locally ``invalid`` value) or of an unsampled run:
    ``1.0``; a row left ``not_checked`` (not drawn, or not sent: budget, stop): ``NaN``, it is
    stood for by others. Shares use the rows with an answer about the line only (those not in
    :data:`~mobilestatus_pandas.NO_ANSWER_STATES`): a weighted share is
    ``(w * is_status)[answered].sum() / w[answered].sum()``. The weights are read from the
    column ``{prefix}sample_weight`` that sampled runs add, so they survive a ``merge``.

    >>> import pandas as pd
    >>> out = pd.DataFrame({"mobile_status": ["normal", "not_checked", "cancelled", "error",
    ...                                       "missing"],
    ...                     "mobile_sample_weight": [4.0, float("nan"), 4.0, 4.0, float("nan")]})
    >>> weights(out).tolist()
    [4.0, nan, 4.0, 4.0, 1.0]
    """
    column = f"{prefix}status"
    if column not in frame.columns:
        raise InputError(
            f"{column!r} is not in the frame: pass the output of df.mobile.status(...) "
            "(or the prefix= it was made with)"
        )
    status = frame[column]
    unchecked = (status == NOT_CHECKED).fillna(False).to_numpy(dtype=bool)
    name = f"{prefix}{WEIGHT_COLUMN}"
    if name in frame.columns:
        base = frame[name].to_numpy(dtype=float, na_value=np.nan)
        # no number given: known for every row, whatever the column says
        base = np.where((status == MISSING).fillna(False).to_numpy(dtype=bool), 1.0, base)
    else:
        base = np.ones(len(frame), dtype=float)
    return pd.Series(np.where(unchecked, np.nan, base), index=frame.index, name="weight")
