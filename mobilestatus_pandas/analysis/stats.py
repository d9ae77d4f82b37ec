"""Compare groups: line-status shares with confidence intervals, lift and tests.

:func:`compare` answers "is a dead line a fraud signal here, and how strong?": for each status
(and the pseudo-status ``dead_line``, any of :data:`~mobilestatus_pandas.DEAD_LINE_STATES`) and
each group, the share of answered rows with its interval, the lift against a reference group
with its interval, and a p-value.

**One definition of a share**, used by every table, headline and picture: the share of a
status is among the rows *with an answer about the line*: statuses in
:data:`~mobilestatus_pandas.NO_ANSWER_STATES` (``missing``, ``busy``, ``daily_limit``,
``error``, ``not_checked``) are left out and reported apart (``rows - n``).

**What the figures are about: the process, and numbers are the clusters.** The intervals and
tests are about the process that makes sign-ups (next month's sign-ups, the next table), not
about this one table. Rows that share a phone number (a fraud ring's, a family's) move
together: they are one *cluster*, and a share's uncertainty comes from how many numbers were
seen, not how many rows. So every figure is design-based, with numbers as clusters, in full
runs and samples alike:

* share: the (weighted) share of rows; its variance by linearisation over the numbers
  (Taylor series: each number's rows contribute ``sum(y - share) / rows`` as one value), and
  the **effective size** it implies, ``n_eff = share (1 - share) / variance``;
* interval: Wilson's score interval on ``n_eff`` (good at small counts and near 0 or 1);
* lift: share / the reference's share; its interval on the log scale with the variance of
  ``log(share) - log(share_ref)`` linearised over the numbers the same way (a number in rows
  of both groups counts in both, with its covariance);
* p-value, per status and group against the reference: Fisher's exact test on the 2x2 table
  scaled by the difference's design effect (its cluster variance over the row-level one): a
  first-order **Rao-Scott** correction, chosen over a permutation or bootstrap over numbers
  because it is exact arithmetic (no seed, no Monte Carlo error, the same answer each run),
  vectorised (a million rows in a fraction of a second) and it keeps Fisher's test where
  counts are small. With more than two groups the overall test, chi-square on the
  status-by-group table with each group's rows scaled by its largest design effect (a
  conservative Rao-Scott), is in ``out.attrs["compare"]``;
* groups with fewer than :data:`MIN_ANSWERED_FOR_TEST` effective answered rows get no lift and
  no p-value (NA, and the reason in ``note``): a test there would print a misleading number.

With one row per number and no sample every design effect is 1 and the figures are exactly
the textbook ones: Wilson's interval on the counts, Katz's log interval for the lift
(``exp(log(lift) ± z·sqrt(1/k - 1/n + 1/k_ref - 1/n_ref))``), Fisher's exact test and the
chi-square test on the table (they match ``scipy.stats``).

**Samples** (``status(sample=...)``): the shares are weighted estimates (weights from
:func:`mobilestatus_pandas.analysis.sampling.weights`); the variance adds, to the process's
variance estimated from the sample (``sum of w·u²`` over the sampled numbers), the variance
of drawing the sample (within strata of equal weight, with the finite-population
correction). So a sample is never more certain than the full run, and a sample of every number
(weights 1) gives the full run's figures exactly. ``population="table"`` asks about this
table instead (how far the sample can be from paying for every number): only the second
term; the full run then has no uncertainty at all.

**The cluster key**: the column ``mobile_key`` (a keyed hash of the number, kept when the
number is dropped for privacy), else ``mobile_number``. Without either, a frame whose numbers
repeat (a sample, or a run report that says so) is refused, since its rows cannot be put
together; otherwise each row is its own number (``attrs["compare"]["clusters"]`` says which).

**The counted form** (``rows=``): every figure is a sum over rows, numbers and strata, so the
rows of one (group, status, number, weight) need not be apart: ``compare(counts, by,
rows="rows")`` over ``frame.groupby([..., dropna=False]).size()`` gives the figures of the
rows themselves. A count of ``k`` rows without a number stands for ``k`` numbers of one row
each. Dask's ``compare`` reduces each partition to this form and sends only it to the
client (groups x statuses x distinct numbers, not the rows); pandas' rows are the same form
with a count of one each, through the same arithmetic. Inside, the (number, group) cells
alike in every figure (group, stratum, status, rows) are summed as one class that counts
its numbers, a number's cells in two groups still paired for the covariance: a million rows
on 333,333 numbers make a few hundred classes.

No statsmodels: scipy's ``norm``, ``fisher_exact`` and ``chi2_contingency`` and a few numpy
sums do it all. scipy is imported when :func:`compare` runs, not with the package.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from ..errors import InputError
from ..service.codes import DEAD_LINE_STATES, NO_ANSWER_STATES, STATUSES
from ..service.result import ATTRS_KEY, KEY_COLUMN
from ..service.tenure import BANDS, NEW_LINE_BANDS, TENURE_NO_ANSWER_STATES

#: The pseudo-status: any of DEAD_LINE_STATES.
DEAD_LINE: Final = "dead_line"
#: The pseudo-status of line tenure: a line under six months (any of NEW_LINE_BANDS).
NEW_LINE: Final = "new_line"
#: ``outcome=``: line status (``mobile_status``) or line tenure (``tenure_band``).
OUTCOME_STATUS: Final = "status"
OUTCOME_TENURE: Final = "tenure"
OUTCOMES: Final = (OUTCOME_STATUS, OUTCOME_TENURE)
STATUS_PREFIX: Final = "mobile_"
TENURE_PREFIX: Final = "tenure_"
#: The columns of :func:`compare`'s answer, in order.
COMPARE_COLUMNS: Final = (
    "status",
    "group",
    "rows",
    "n",
    "numbers",
    "effective_n",
    "share",
    "ci_low",
    "ci_high",
    "lift",
    "lift_ci_low",
    "lift_ci_high",
    "p_value",
    "note",
)
#: ``population=``: inference about the process that makes sign-ups (the default) ...
POPULATION_PROCESS: Final = "process"
#: ... or about this table only (the finite-population correction).
POPULATION_TABLE: Final = "table"
POPULATIONS: Final = (POPULATION_PROCESS, POPULATION_TABLE)
#: A design effect below this is taken as this in the test (a guard against degenerate
#: tables, where two groups share all their numbers, blowing Fisher's counts up).
MIN_DESIGN_EFFECT: Final = 0.1
#: A sampled fraction this close to 1 is the whole table (``population="table"``: exact).
FULL_RUN_TOLERANCE: Final = 1e-12
#: A group needs this many answered rows (effective, on a sampled frame) for a lift and a test.
MIN_ANSWERED_FOR_TEST: Final = 10
#: A share's variance below this fraction of p(1-p) is round-off, not spread (an effective
#: size past 1e12 rows).
VARIANCE_ROUND_OFF: Final = 1e-12
#: Statuses that can be compared: those carrying an answer about the line, and dead_line.
ANSWER_STATES: Final = tuple(s for s in STATUSES if s not in NO_ANSWER_STATES)
DEFAULT_LEVEL: Final = 0.95
#: The key of compare's own facts in ``out.attrs``.
COMPARE_KEY: Final = "compare"

NOTE_REFERENCE: Final = "reference group"
NOTE_NO_ANSWER: Final = "no answered rows"


@dataclass(frozen=True)
class _Groups:
    codes: np.ndarray  # per row: group position, -1 for a missing group (left out, as groupby)
    labels: list[Any]
    name: Hashable | None


def _groups(frame: pd.DataFrame, by: object) -> _Groups:
    """``by`` as group codes, resolved as everywhere (:func:`~.grouping.resolve_by`: a column,
    a Series, an array, a ``pd.Grouper``...); several keys make tuple labels."""
    from .grouping import resolve_by

    keys, names = resolve_by(frame, by)
    if not keys:
        raise InputError("compare needs by=: the grouping to compare (e.g. a fraud label)")
    if len(keys) == 1:
        values = keys[0]
    else:
        values = pd.Series(list(zip(*(k.to_numpy() for k in keys), strict=True)), dtype=object)
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # groups that do not sort (mixed types): order of appearance
        codes, uniques = pd.factorize(values)
    labels = [u.item() if isinstance(u, np.generic) else u for u in np.asarray(uniques)]
    name: Hashable = keys[0].name if len(keys) == 1 else ", ".join(names)
    return _Groups(np.asarray(codes, dtype=np.int64), labels, name)


@dataclass(frozen=True)
class _Outcome:
    """What is compared: each row's category (or -1: no answer about it), the categories in
    order, and the pseudo-category that gathers several (``dead_line``, ``new_line``)."""

    codes: np.ndarray
    names: tuple[str, ...]
    pseudo: str
    pseudo_members: tuple[str, ...]
    no_answer: tuple[str, ...]  # statuses left out of shares, for messages

    def members(self, name: str) -> list[int]:
        chosen = self.pseudo_members if name == self.pseudo else (name,)
        return [self.names.index(x) for x in chosen]

    def choose(self, statuses: Sequence[str] | str | None, present: set[str]) -> list[str]:
        """The categories to report: by default the pseudo-category, then those that occur."""
        if statuses is None:
            return [self.pseudo, *[x for x in self.names if x in present]]
        chosen = [statuses] if isinstance(statuses, str) else list(statuses)
        allowed = [self.pseudo, *self.names]
        for x in chosen:
            if x in self.no_answer:
                raise InputError(
                    f"{x!r} carries no answer about the line: it is left out of shares (rows - "
                    f"n counts it); compare one of {allowed}"
                )
            if x not in allowed:
                raise InputError(f"unknown status {x!r}: choose from {allowed}")
        return chosen


def _outcome(frame: pd.DataFrame, outcome: str, prefix: str) -> _Outcome:
    """The statuses (``outcome="status"``) or tenure bands (``"tenure"``) of the rows."""
    if outcome == OUTCOME_TENURE:
        column = f"{prefix}band"
        if column not in frame.columns:
            raise InputError(
                f"{column!r} is not in the frame: compare the output of df.mobile.tenure(...) "
                "or df.mobile.check(...) (or pass the prefix= it was made with)"
            )
        band = pd.Categorical(frame[column].astype(object), categories=list(BANDS))
        return _Outcome(
            np.asarray(band.codes, dtype=np.int64), BANDS, NEW_LINE, NEW_LINE_BANDS,
            TENURE_NO_ANSWER_STATES,
        )  # fmt: skip
    column = f"{prefix}status"
    if column not in frame.columns:
        raise InputError(
            f"{column!r} is not in the frame: compare the output of df.mobile.status(...) "
            "(or pass the prefix= it was made with)"
        )
    status = frame[column]
    if isinstance(status.dtype, pd.CategoricalDtype) and list(status.cat.categories) == list(
        STATUSES
    ):
        codes = status.cat.codes.to_numpy(dtype=np.int64)
    else:
        codes = np.asarray(pd.Categorical(status, categories=list(STATUSES)).codes, np.int64)
    answer_code = np.array([x not in NO_ANSWER_STATES for x in STATUSES])
    codes = np.where((codes >= 0) & answer_code[np.maximum(codes, 0)], codes, -1)
    return _Outcome(codes, STATUSES, DEAD_LINE, DEAD_LINE_STATES, NO_ANSWER_STATES)


def _reference(groups: _Groups, rows: np.ndarray, reference: object) -> int:
    if reference is not None:
        for i, label in enumerate(groups.labels):
            if label == reference and isinstance(label, bool) == isinstance(reference, bool):
                return i
        for i, label in enumerate(groups.labels):  # e.g. "True" for True, "3" for 3
            if str(label) == str(reference):
                return i
        raise InputError(
            f"reference={reference!r} is not a group; the groups are {groups.labels[:20]}"
        )
    if all(isinstance(g, bool) for g in groups.labels) and False in groups.labels:
        return groups.labels.index(False)
    return int(np.argmax(rows))


def wilson_interval(
    k: np.ndarray, n: np.ndarray, level: float = DEFAULT_LEVEL
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson's score interval for ``k`` successes in ``n`` trials (arrays; ``n`` may be an
    effective, non-whole sample size); NaN where ``n`` is 0.

    The same as ``scipy.stats.binomtest(k, n).proportion_ci(level, method="wilson")`` for
    whole numbers, but vectorised and open to effective counts.
    """
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2))
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denominator = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    low = np.clip(centre - half, 0.0, 1.0)
    high = np.clip(centre + half, 0.0, 1.0)
    low = np.where(k <= 0, 0.0, low)  # exact at the ends (no rounding below 0 or above 1)
    high = np.where(k >= n, 1.0, high)
    empty = ~(n > 0)
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


@dataclass(frozen=True)
class _Cells:
    """The answered rows as (number, group) cells: each number's rows in each group, the
    number's weight and its stratum (numbers of equal weight). Cells are in group order.

    Rows without a number are numbers of their own: a counted record of ``k`` such rows is
    one cell that stands for ``k`` identical one-row numbers (its ``count``), so that counts
    need not be spread back into rows. A number's cell stands for one number."""

    group: np.ndarray  # per cell: its group (ascending)
    starts: np.ndarray  # per group: its first cell
    count: np.ndarray | None  # per cell: the numbers it stands for (None: one each)
    weight: np.ndarray  # per cell: its number's weight
    stratum: np.ndarray  # per cell: its number's stratum
    pair: np.ndarray  # per cell: the reference group's cell of the same number, or -1
    stratum_weight: np.ndarray  # per stratum: its weight
    stratum_numbers: np.ndarray  # per stratum: how many numbers it holds
    n_groups: int
    table: bool  # population="table": the sampling variance only

    def per_group(self, values: np.ndarray) -> np.ndarray:
        """Sums over each group's cells (last axis: cells -> groups), cells being in group
        order: one ``reduceat`` over the groups that have cells, for every row of ``values``
        at once (0 for a group without cells, wherever it stands)."""
        sums = np.zeros((*values.shape[:-1], self.n_groups))
        ends = np.append(self.starts[1:], values.shape[-1])
        filled = ends > self.starts
        if filled.any():
            sums[..., filled] = np.add.reduceat(values, self.starts[filled], axis=-1)
        return sums

    def of_numbers(self, values: np.ndarray) -> np.ndarray:
        """Per-cell ``values`` (last axis) times the numbers each cell stands for."""
        return values if self.count is None else values * self.count

    def moments(
        self, u: np.ndarray, ref: int, left: np.ndarray, right: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The variance of every group's linearised estimate, and its covariance with the
        reference group's (groups × statuses), from ``u`` (statuses × cells); ``left`` and
        ``right`` pair the cells of a number in a group and in the reference group.

        Process (the default): ``sum(w·u²)`` over the numbers estimates the process's
        variance of the whole frame's total, to which each stratum ``h`` of ``n_h`` sampled
        numbers of weight ``w_h`` adds the variance of drawing them,
        ``w_h (w_h - 1) n_h / (n_h - 1) · sum((u - mean_h)²)`` (0 when every number is in).
        Table: the second term only. Covariances the same way, with ``u_g·u_ref`` of a number
        in both groups.
        """
        n_strata, n_groups = len(self.stratum_weight), self.n_groups
        n_status = len(u)
        key = self.stratum * n_groups + self.group
        size = n_strata * n_groups

        def by_key(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
            sums = np.stack([np.bincount(keys, weights=row, minlength=size) for row in values])
            return sums.T.reshape(n_strata, n_groups, n_status)

        def per_stratum(values: np.ndarray) -> np.ndarray:  # strata × groups × statuses
            if n_strata == 1:  # a full run: sums per group, all statuses at once
                return self.per_group(values).T[None]
            return by_key(values, key)

        counted = self.of_numbers(u)
        first, square = per_stratum(counted), per_stratum(counted * u)
        # u_g·u_ref: the reference's own cells give its square; other cells only count when
        # their number is in the reference group too (few: computed on those alone)
        cross = np.zeros_like(square)
        cross[:, ref, :] = square[:, ref, :]
        if len(left):
            product = u[:, left] * u[:, right]
            cross += by_key(product, key[left])
        w = self.stratum_weight[:, None, None]
        n = self.stratum_numbers[:, None, None].astype(float)
        variance = np.zeros((n_groups, n_status))
        covariance = np.zeros((n_groups, n_status))
        if not self.table:
            variance += (w * square).sum(axis=0)
            covariance += (w * cross).sum(axis=0)
        drawn = (w > 1.0) & (n >= 2)  # strata with numbers left undrawn, and a spread
        if drawn.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                factor = np.where(drawn, w * (w - 1) * n / (n - 1), 0.0)
                mean_ref = first[:, ref : ref + 1, :] / n
                variance += np.nan_to_num(factor * (square - first**2 / n)).sum(axis=0)
                covariance += np.nan_to_num(factor * (cross - first * mean_ref)).sum(axis=0)
        return variance, covariance


def _cluster_codes(
    frame: pd.DataFrame, prefix: str, answered: np.ndarray, sampled: bool
) -> tuple[np.ndarray, str]:
    """Per answered row: a code of its number, -1 for a row without one (a number of its
    own, see :func:`_cells`), and what the clusters are."""
    for name in (f"{prefix}{KEY_COLUMN}", f"{prefix}number"):
        if name in frame.columns:
            return _codes(frame[name], answered), f"numbers ({name})"
    report = frame.attrs.get(ATTRS_KEY) or {}
    repeated = False
    if isinstance(report, dict) and {"rows", "distinct_numbers"} <= report.keys():
        numbered = report["rows"] - report.get("missing", 0) - report.get("invalid", 0)
        repeated = report["distinct_numbers"] < numbered
    if sampled or repeated:
        which = "a sampled frame" if sampled else "numbers repeat in this frame (its run report)"
        raise InputError(
            f"{which}, but it has neither {prefix}{KEY_COLUMN} nor {prefix}number: rows that "
            "share a number cannot be put together, and treating each row as its own number "
            f"would make the intervals too narrow. Keep the {prefix}{KEY_COLUMN} column (a keyed "
            "hash, not the number) when you drop the numbers"
        )
    return np.full(int(answered.sum()), -1, dtype=np.int64), "rows (no number column)"


def _codes(column: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Integer codes of ``column``'s values on ``rows``, -1 where missing: the values as
    integers when they are integers or digit strings (cheaper to factorise than strings),
    else ``pd.factorize``'s codes. The column is read whole, then ``rows`` taken (cheaper
    than subsetting a string column)."""
    values = column
    if pd.api.types.is_integer_dtype(values.dtype):
        present = values.notna().to_numpy(dtype=bool)[rows]
        codes = values.to_numpy(dtype=np.int64, na_value=0)[rows]
        return _dense(codes, present)
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        import pyarrow as pa
        import pyarrow.compute as pc

        arrow = pa.array(values.array)
        try:  # 11-digit numbers fit an int64: far cheaper than hashing strings
            digits = pc.cast(arrow, pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        else:
            present = ~np.asarray(pc.is_null(digits), dtype=bool)[rows]
            codes = np.asarray(pc.fill_null(digits, 0), dtype=np.int64)[rows]
            return _dense(codes, present)
    return np.asarray(pd.factorize(values, use_na_sentinel=True)[0], dtype=np.int64)[rows]


def _dense(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Integer values as codes 0..k-1 (-1 where not ``present``)."""
    codes = np.full(len(values), -1, dtype=np.int64)
    codes[present] = pd.factorize(values[present])[0]
    return codes


def _cells(
    cluster: np.ndarray,
    group: np.ndarray,
    weight: np.ndarray,
    rows: np.ndarray | None,
    n_groups: int,
    table: bool,
    ref: int,
) -> tuple[np.ndarray, np.ndarray | None, _Cells]:
    """The (number, group) cells of the answered records: each record's cell, the rows it
    gives its cell's number (``rows``, 1 for a record without a number; None: one each), and
    the cells. A record without a number (cluster -1) is a cell of its own, standing for its
    ``rows`` one-row numbers."""
    lonely = cluster < 0
    count = None
    if lonely.any():
        cluster = cluster.copy()
        start = cluster.max(initial=-1) + 1
        cluster[lonely] = start + np.arange(int(lonely.sum()))
        if rows is not None:
            count = np.where(lonely, rows, 1.0)
            rows = np.where(lonely, 1.0, rows)
    n_clusters = int(cluster.max()) + 1 if len(cluster) else 0
    key = group * n_clusters + cluster  # cells in group order
    if len(key) and (int(key.max()) + 1) <= 4 * len(key):  # dense enough for a bincount
        present = np.bincount(key, minlength=int(key.max()) + 1) > 0
        position = np.cumsum(present) - 1
        cell_of_row = position[key]
        cell_key = np.flatnonzero(present)
    else:
        cell_key, cell_of_row = np.unique(key, return_inverse=True)
    cell_group, cell_cluster = np.divmod(cell_key, max(n_clusters, 1))
    cell_count = cluster_count = None
    if count is not None:  # a record without a number is a cluster and a cell of its own
        cell_count, cluster_count = np.ones(len(cell_key)), np.ones(n_clusters)
        cell_count[cell_of_row] = count
        cluster_count[cluster] = count
    cell_weight = np.ones(len(cell_key))
    cell_weight[cell_of_row] = weight  # a number's weight (its stratum's)
    if len(weight) and (weight == weight[0]).all():  # one stratum (a full run): no sort
        strata = weight[:1].copy()
        stratum_of_cell = np.zeros(len(cell_key), dtype=np.int64)
    else:
        strata, stratum_of_cell = np.unique(cell_weight, return_inverse=True)
    cluster_stratum = np.zeros(n_clusters, dtype=np.int64)
    cluster_stratum[cell_cluster] = stratum_of_cell
    seen = np.zeros(n_clusters, dtype=bool)
    seen[cell_cluster] = True
    stratum_numbers = np.bincount(
        cluster_stratum[seen],
        weights=None if cluster_count is None else cluster_count[seen],
        minlength=len(strata),
    )
    ref_cell = np.full(n_clusters, -1, dtype=np.int64)
    in_ref = np.flatnonzero(cell_group == ref)
    ref_cell[cell_cluster[in_ref]] = in_ref
    return cell_of_row, rows, _Cells(
        group=cell_group, starts=np.searchsorted(cell_group, np.arange(n_groups)),
        count=cell_count, weight=cell_weight, stratum=stratum_of_cell,
        pair=ref_cell[cell_cluster], stratum_weight=strata,
        stratum_numbers=stratum_numbers, n_groups=n_groups, table=table,
    )  # fmt: skip


def _kish(cells: _Cells, cell_rows: np.ndarray) -> np.ndarray:
    """Kish's effective number of numbers per group: ``(sum m)² / sum m²`` with ``m`` a
    number's weighted rows in the group. The effective size when a share of 0 or 1 leaves
    no spread to measure; the rows' count with one row per number."""
    m = cells.weight * cell_rows
    total, squares = cells.per_group(cells.of_numbers(np.stack([m, m**2])))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(total**2 / squares)


def _classes(
    cells: _Cells, cell_rows: np.ndarray, cell_code: np.ndarray
) -> tuple[_Cells, np.ndarray, np.ndarray, np.ndarray]:
    """Cells alike in every figure, one class each: the same group, stratum, status and rows
    give the same linearised value, so a class of ``m`` cells counts as ``m`` numbers (a
    million rows on 333,333 numbers make a few hundred classes). Returns the classes (in
    group order), each cell's class, and each class's rows and status. A number's cells in
    two groups stay paired through their classes (the covariance)."""
    rows_code, rows_value = pd.factorize(cell_rows)
    n_rows, n_codes = max(len(rows_value), 1), int(cell_code.max(initial=0)) + 1
    n_strata = len(cells.stratum_weight)
    if cells.n_groups * n_strata * n_codes * n_rows >= 2**62:  # no room in a key: as cells
        return cells, np.arange(len(cell_rows)), cell_rows, cell_code
    key = ((cells.group * n_strata + cells.stratum) * n_codes + cell_code) * n_rows + rows_code
    codes, uniques = pd.factorize(key)
    order = np.argsort(uniques)  # the group leads the key: classes in group order
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    class_key = np.asarray(uniques)[order]
    rest, class_rows = np.divmod(class_key, n_rows)
    rest, class_code = np.divmod(rest, n_codes)
    group, stratum = np.divmod(rest, n_strata)
    of_cell = rank[codes]
    count = np.bincount(of_cell, weights=cells.count, minlength=len(order))
    classes = _Cells(
        group=group, starts=np.searchsorted(group, np.arange(cells.n_groups)), count=count,
        weight=cells.stratum_weight[stratum], stratum=stratum, pair=np.full(len(order), -1),
        stratum_weight=cells.stratum_weight, stratum_numbers=cells.stratum_numbers,
        n_groups=cells.n_groups, table=cells.table,
    )  # fmt: skip
    return classes, of_cell, np.asarray(rows_value, dtype=float)[class_rows], class_code


def _row_counts(frame: pd.DataFrame, rows: Hashable | None) -> np.ndarray | None:
    """``rows=``: how many of the table's rows each row of ``frame`` stands for (None: one)."""
    if rows is None:
        return None
    if rows not in frame.columns:
        raise InputError(
            f"rows={rows!r} is not a column of the frame: name the column that counts the "
            "table's rows each row stands for (as groupby(...).size() makes it), or pass None"
        )
    column = frame[rows]
    if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
        raise InputError(f"rows={rows!r} must count rows (whole numbers), got {column.dtype}")
    values = column.to_numpy(dtype=float, na_value=np.nan)
    if not (np.isfinite(values) & (values >= 0) & (values == np.floor(values))).all():
        raise InputError(
            f"rows={rows!r} must hold whole numbers >= 0 (rows each row stands for), with no "
            "missing values"
        )
    return values


def _sums(codes: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Whole counts summed per code (``np.bincount`` with weights, back to integers)."""
    return np.rint(np.bincount(codes, weights=values, minlength=size)).astype(np.int64)


def compare(
    frame: pd.DataFrame,
    by: object,
    *,
    reference: object = None,
    statuses: Sequence[str] | str | None = None,
    level: float = DEFAULT_LEVEL,
    population: str = POPULATION_PROCESS,
    outcome: str = OUTCOME_STATUS,
    prefix: str | None = None,
    rows: Hashable | None = None,
) -> pd.DataFrame:
    """Line-status shares per group with intervals, lift against a reference, p-values;
    rows that share a number are one cluster (see the module's notes).

    Args:
        frame: a result frame (``df.mobile.status(...)``), sampled or not; or its counted
            form (with ``rows=``).
        by: the grouping: a column name, or a Series/array with one group per row (like
            ``groupby``; rows with a missing group are left out).
        reference: the group others are compared with; default the largest group (by rows),
            or the ``False`` group of a boolean.
        statuses: the statuses to report; default ``dead_line`` and every answered status
            that occurs. Statuses without an answer (``error``...) are refused: they are not
            part of shares (``rows - n`` counts them).
        level: the confidence level of the intervals (0.95).
        population: ``"process"`` (default): inference about the process that makes
            sign-ups; ``"table"``: about this table only (finite-population correction: a
            sample's distance from the full run; the full run is then exact).
        outcome: ``"status"`` (line status, ``mobile_status``, with ``dead_line``) or
            ``"tenure"`` (line tenure's bands, ``tenure_band``, in their order, with the
            pseudo-status ``new_line``: a line under six months). Tenure shares are among the
            rows with a known band.
        prefix: the result columns' prefix; default ``"mobile_"`` for status, ``"tenure_"``
            for tenure.
        rows: the name of a column counting the rows of the table each row of ``frame``
            stands for: ``frame`` is then the table's counted form, a row per (group,
            status, number, weight) as ``groupby([..., dropna=False]).size()`` makes it,
            and the figures are those of the table itself (a count of ``k`` rows without a
            number is ``k`` numbers of one row each). Default None: each row is one row. Dask's
            ``compare`` sends only this form to the client.

    Returns one row per (status, group): ``status``, ``group``, ``rows`` (rows in the group),
    ``n`` (rows with an answer), ``numbers`` (distinct numbers among them), ``effective_n``
    (the effective sample size of the share: ``n`` over the design effect), ``share``,
    ``ci_low``, ``ci_high``, ``lift``, ``lift_ci_low``, ``lift_ci_high``, ``p_value`` and
    ``note`` (why a value is NA). The overall test, the reference and the clusters are in
    ``out.attrs["compare"]``.

    >>> import pandas as pd
    >>> out = pd.DataFrame({
    ...     "fraud": [True] * 40 + [False] * 160,
    ...     "mobile_status": ["cancelled"] * 14 + ["normal"] * 26
    ...                      + ["cancelled"] * 16 + ["normal"] * 144})
    >>> table = compare(out, "fraud", statuses=["dead_line"])
    >>> print(table[["group", "n", "share", "lift"]].round(3).to_string(index=False))
     group   n  share  lift
     False 160   0.10   1.0
      True  40   0.35   3.5

    The same table from the counted form (one row per group and status here: with no
    number column each row is its own number):

    >>> counts = out.groupby(["fraud", "mobile_status"]).size().rename("rows").reset_index()
    >>> counted = compare(counts, "fraud", statuses=["dead_line"], rows="rows")
    >>> print(counted[["group", "n", "share", "lift"]].round(3).to_string(index=False))
     group   n  share  lift
     False 160   0.10   1.0
      True  40   0.35   3.5
    """
    if not isinstance(level, (float, int)) or isinstance(level, bool) or not 0 < level < 1:
        raise InputError(f"level must be a confidence level between 0 and 1, got {level!r}")
    if population not in POPULATIONS:
        raise InputError(
            f"population must be one of {list(POPULATIONS)} (the process that makes sign-ups, "
            f"or this table only), got {population!r}"
        )
    from . import sampling

    if outcome not in OUTCOMES:
        raise InputError(
            f"outcome must be one of {list(OUTCOMES)} (line status, or line tenure's bands), "
            f"got {outcome!r}"
        )
    if prefix is None:
        prefix = TENURE_PREFIX if outcome == OUTCOME_TENURE else STATUS_PREFIX
    count = _row_counts(frame, rows)
    compared = _outcome(frame, outcome, prefix)
    status_code = compared.codes
    names = compared.names
    groups = _groups(frame, by)
    n_groups = len(groups.labels)
    if n_groups == 0:
        raise InputError(f"by={by!r} has no groups (every value is missing)")
    sampled = f"{prefix}{sampling.WEIGHT_COLUMN}" in frame.columns
    if sampled:
        weight = sampling.weights(frame, prefix).to_numpy(dtype=float)
    else:  # every row stands for itself (rows without an answer are left out below)
        weight = np.ones(len(frame))
    in_group = groups.codes >= 0
    answered = in_group & (status_code >= 0) & ~np.isnan(weight)
    k = None
    if count is None:
        group_rows = np.bincount(groups.codes[in_group], minlength=n_groups)
    else:
        group_rows = _sums(groups.codes[in_group], count[in_group], n_groups)
        answered &= count > 0
        k = count[answered]
    g = groups.codes[answered]
    s = status_code[answered]
    w = weight[answered]
    n_rows = np.bincount(g, minlength=n_groups) if k is None else _sums(g, k, n_groups)
    key = g * len(names) + s
    per_status = np.bincount(
        key, weights=w if k is None else w * k, minlength=n_groups * len(names)
    )
    per_status = per_status.reshape(n_groups, len(names))
    present = {names[i] for i in np.flatnonzero(per_status.sum(axis=0) > 0)}
    chosen = compared.choose(statuses, present)
    totals = per_status.sum(axis=1)

    cluster, described = _cluster_codes(frame, prefix, answered, sampled)
    ref = _reference(groups, group_rows, reference)
    about_table = population == POPULATION_TABLE
    cell_of_row, k, design = _cells(cluster, g, w, k, n_groups, about_table, ref)
    # per cell: rows, and rows of each chosen status (statuses × cells, rows contiguous;
    # unweighted: a number's rows share its weight). A number has one answer, so a cell has
    # one status: spread its rows by it, no bincount over statuses
    n_cells = len(design.group)
    cell_rows = np.bincount(cell_of_row, weights=k, minlength=n_cells).astype(float)
    member = np.zeros((len(chosen), len(names)))
    for j, x in enumerate(chosen):
        member[j, compared.members(x)] = 1.0
    cell_code = np.zeros(n_cells, dtype=np.int64)
    cell_code[cell_of_row] = s
    if (cell_code[cell_of_row] == s).all():  # the figures from classes of alike cells
        kinds, of_cell, kind_rows, kind_code = _classes(design, cell_rows, cell_code)
        kind_status = member[:, kind_code] * kind_rows
    else:  # merged runs may disagree about a number: count each status, cell by cell
        kinds, of_cell, kind_rows = design, np.arange(n_cells), cell_rows
        by_status = np.bincount(
            s * n_cells + cell_of_row, weights=k, minlength=n_cells * len(names)
        ).reshape(len(names), n_cells)
        kind_status = np.stack([by_status[member[j] > 0].sum(axis=0) for j in range(len(chosen))])
    counts = kinds.per_group(kinds.of_numbers(kinds.weight * kind_status)).T
    with np.errstate(divide="ignore", invalid="ignore"):
        share = counts / totals[:, None]
        known = np.nan_to_num(share)
        # each number's linearised value for its group's share (statuses × classes)
        u = (kind_status - known.T[:, kinds.group] * kind_rows) / totals[kinds.group]
    u = np.nan_to_num(u)
    shared = np.flatnonzero((design.pair >= 0) & (design.group != ref))
    left, right = of_cell[shared], of_cell[design.pair[shared]]
    variance, covariance = kinds.moments(u, ref, left, right)
    numbers_in = np.bincount(kinds.group, weights=kinds.count, minlength=n_groups)
    numbers_in = np.rint(numbers_in).astype(np.int64)
    kish = _kish(kinds, kind_rows)
    if design.table:
        population_numbers = np.bincount(
            kinds.group, weights=kinds.of_numbers(kinds.weight), minlength=n_groups
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            unseen = np.clip(1 - numbers_in / population_numbers, 0.0, 1.0)
        kish = np.where(unseen > FULL_RUN_TOLERANCE, kish / np.maximum(unseen, 1e-300), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        effective = known * (1 - known) / variance
    fallback = np.broadcast_to(kish[:, None], effective.shape)
    # A variance at round-off size (the counted and the row forms sum in other orders) is
    # none: no spread, as an exact 0 is.
    spread = (
        (known > 0)
        & (known < 1)
        & (variance > VARIANCE_ROUND_OFF * known * (1 - known))
        & np.isfinite(effective)
    )
    effective = np.where(spread, effective, fallback)
    effective = np.where(totals[:, None] > 0, effective, 0.0)
    with np.errstate(invalid="ignore"):  # 0 x inf: a share of 0 known exactly (table)
        successes = known * effective
    ci_low, ci_high = _interval(successes, effective, known, level)
    table = _lift_and_tests(variance, covariance, share, effective, n_rows, kish, ref, level)
    out = _assemble(
        chosen,
        groups,
        group_rows,
        n_rows,
        numbers_in,
        share,
        ci_low,
        ci_high,
        table,
        ref,
        effective,
    )
    overall = _overall_test(per_status, effective, totals, n_groups) if n_groups > 2 else None
    out.attrs[COMPARE_KEY] = {
        "by": groups.name,
        "reference": groups.labels[ref],
        "level": level,
        "sampled": sampled,
        "population": population,
        "outcome": outcome,
        "clusters": described,
        "overall_test": overall,
    }
    return out


def _interval(
    k: np.ndarray, n: np.ndarray, share: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson's interval on effective counts; a point where the effective size is infinite
    (``population="table"`` on a full run: nothing left unseen)."""
    exact = np.isinf(n)
    low, high = wilson_interval(np.where(exact, 0, k), np.where(exact, 1, n), level)
    return np.where(exact, share, low), np.where(exact, share, high)


def _lift_and_tests(
    variance: np.ndarray,
    covariance: np.ndarray,
    share: np.ndarray,
    effective: np.ndarray,
    n_rows: np.ndarray,
    kish: np.ndarray,
    ref: int,
    level: float,
) -> dict[str, np.ndarray]:
    """Lift with its interval (log scale, linearised over numbers) and the Rao-Scott-scaled
    Fisher p-value, per group × status, against ``ref``."""
    from scipy.stats import fisher_exact, norm

    z = float(norm.ppf(0.5 + level / 2))
    known = np.nan_to_num(share)
    share_ref = known[ref]
    variance_ref = variance[ref]
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = share / share_ref
        # log(share) - log(share_ref), linearised: u / share per number, so its variance is
        # V/p² + V_ref/p_ref² - 2 Cov/(p p_ref) (the covariance: numbers in both groups)
        log_variance = (
            variance / known**2 + variance_ref / share_ref**2 - 2 * covariance / (known * share_ref)
        )
        se = np.sqrt(np.maximum(log_variance, 0.0))
        lift_low = np.exp(np.log(lift) - z * se)
        lift_high = np.exp(np.log(lift) + z * se)
    n_ref = effective[ref]
    testable = (effective >= MIN_ANSWERED_FOR_TEST) & (n_ref >= MIN_ANSWERED_FOR_TEST)
    usable = testable & (known > 0) & (share_ref > 0)
    lift = np.where(testable & (share_ref > 0), lift, np.nan)
    lift_low = np.where(usable, lift_low, np.nan)
    lift_high = np.where(usable, lift_high, np.nan)
    # the test: Fisher on the 2x2 table scaled by the difference's design effect
    difference = np.maximum(variance + variance_ref - 2 * covariance, 0.0)
    rows = n_rows.astype(float)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        naive = known * (1 - known) / rows + share_ref * (1 - share_ref) / rows[ref]
        deff = difference / naive
        clustering = np.maximum(rows / kish[:, None], rows[ref] / kish[ref])
    deff = np.where((naive > 0) & np.isfinite(deff), deff, clustering)
    deff = np.maximum(np.nan_to_num(deff, nan=1.0), MIN_DESIGN_EFFECT)
    p_value = np.full(known.shape, np.nan)
    for gi, si in zip(*np.nonzero(testable), strict=True):
        if gi == ref or np.isinf(effective[gi, si]) or np.isinf(n_ref[si]):
            continue
        scale = deff[gi, si]
        a, b = np.rint(known[gi, si] * n_rows[gi] / scale), np.rint(n_rows[gi] / scale)
        c, d = np.rint(share_ref[si] * n_rows[ref] / scale), np.rint(n_rows[ref] / scale)
        p_value[gi, si] = fisher_exact([[a, b - a], [c, d - c]]).pvalue
    lift[ref] = np.where(share_ref > 0, 1.0, np.nan)
    lift_low[ref] = np.nan
    lift_high[ref] = np.nan
    return {
        "lift": lift,
        "lift_ci_low": lift_low,
        "lift_ci_high": lift_high,
        "p_value": p_value,
        "testable": testable,
    }


def _overall_test(
    per_status: np.ndarray, effective: np.ndarray, totals: np.ndarray, n_groups: int
) -> dict[str, Any] | None:
    """Chi-square on the status-by-group table, each group's rows scaled to its smallest
    effective size over the statuses compared (its largest design effect: a conservative
    Rao-Scott); groups big enough, statuses that occur."""
    from scipy.stats import chi2_contingency

    size = effective.min(axis=1)
    keep = (size >= MIN_ANSWERED_FOR_TEST) & np.isfinite(size)
    if keep.sum() < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        table = per_status[keep] / totals[keep, None] * size[keep, None]
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return None
    result = chi2_contingency(table)
    return {
        "test": "chi-square",
        "statistic": float(result.statistic),
        "dof": int(result.dof),
        "p_value": float(result.pvalue),
        "groups": int(keep.sum()),
    }


def _assemble(
    chosen: list[str],
    groups: _Groups,
    rows: np.ndarray,
    n_rows: np.ndarray,
    numbers: np.ndarray,
    share: np.ndarray,
    ci_low: np.ndarray,
    ci_high: np.ndarray,
    table: dict[str, np.ndarray],
    ref: int,
    effective: np.ndarray,
) -> pd.DataFrame:
    n_groups, n_status = share.shape
    notes: list[str | None] = []
    for si in range(n_status):
        for gi in range(n_groups):
            if n_rows[gi] == 0:
                notes.append(NOTE_NO_ANSWER)
            elif gi == ref:
                notes.append(NOTE_REFERENCE)
            elif not table["testable"][gi, si]:
                small = gi if effective[gi, si] < MIN_ANSWERED_FOR_TEST else ref
                which = "the reference group has" if small == ref else "only"
                notes.append(
                    f"{which} {effective[small, si]:.0f} effective answered rows "
                    f"(< {MIN_ANSWERED_FOR_TEST}): no lift or test"
                )
            elif np.isnan(table["lift"][gi, si]):
                notes.append("no rows with this status in the reference group: no lift")
            elif np.isnan(table["lift_ci_low"][gi, si]):
                notes.append("no rows with this status in the group: no lift interval")
            else:
                notes.append(None)

    def flat(values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=float).T.reshape(-1)  # status-major, then group

    out = pd.DataFrame(
        {
            "status": pd.Categorical(np.repeat(chosen, n_groups), categories=chosen),
            "group": pd.Series(groups.labels * n_status, dtype=object),
            "rows": np.tile(rows, n_status).astype(np.int64),
            "n": np.tile(n_rows, n_status).astype(np.int64),
            "numbers": np.tile(numbers, n_status).astype(np.int64),
            "effective_n": flat(effective),
            "share": flat(share),
            "ci_low": flat(ci_low),
            "ci_high": flat(ci_high),
            "lift": flat(table["lift"]),
            "lift_ci_low": flat(table["lift_ci_low"]),
            "lift_ci_high": flat(table["lift_ci_high"]),
            "p_value": flat(table["p_value"]),
            "note": pd.array(notes, dtype="string"),
        }
    )
    if pd.api.types.infer_dtype(out["group"], skipna=True) == "boolean":
        out["group"] = out["group"].astype("boolean")
    return out
