"""Compare groups: line-status shares with confidence intervals, lift and tests.

:func:`compare` answers "is a dead line a fraud signal here, and how strong?": for each status
(and the pseudo-status ``dead_line``, any of :data:`~mobilestatus_pandas.DEAD_LINE_STATES`) and
each group, the share of answered rows with its Wilson score interval, the lift against a
reference group with its interval, and a p-value.

Shares count rows with an answer about the line: statuses in
:data:`~mobilestatus_pandas.NO_ANSWER_STATES` (``missing``, ``busy``, ``daily_limit``,
``error``, ``not_checked``) are left out and reported apart (``rows - n``).

The statistics, and why:

* interval: Wilson's score interval, good at small counts and near 0 or 1 where the textbook
  normal interval fails; ``z`` comes from ``scipy.stats.norm``;
* lift: share / the reference's share, with Katz's log interval
  (``exp(log(lift) ± z·sqrt(1/k - 1/n + 1/k_ref - 1/n_ref))``); NA when either share is 0;
* p-value, per status and group against the reference: Fisher's exact test on the 2×2 table
  (``scipy.stats.fisher_exact``). With more than two groups the overall test, chi-square on the
  status-by-group table (``scipy.stats.chi2_contingency``), is in ``out.attrs["compare"]``;
* groups with fewer than :data:`MIN_ANSWERED_FOR_TEST` answered rows get no lift and no
  p-value (NA, and the reason in ``note``): a test there would print a misleading number.

On a sampled frame (``status(sample=...)``) the shares are weighted estimates for the whole
frame (weights from :func:`mobilestatus_pandas.analysis.sampling.weights`),
and the intervals and tests
use the design's effective sample size: the variance of the weighted share by linearisation
over the sampled numbers (rows sharing a number move together), within strata of equal weight,
with the finite-population correction; Wilson's interval, the lift interval and the tests are
then computed on the effective counts. Unsampled frames count each row as one observation.

scipy is imported when :func:`compare` runs, not with the package.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from ..errors import InputError
from ..service.codes import DEAD_LINE_STATES, NO_ANSWER_STATES, STATUSES

#: The pseudo-status: any of DEAD_LINE_STATES.
DEAD_LINE: Final = "dead_line"
#: The columns of :func:`compare`'s answer, in order.
COMPARE_COLUMNS: Final = (
    "status",
    "group",
    "rows",
    "n",
    "share",
    "ci_low",
    "ci_high",
    "lift",
    "lift_ci_low",
    "lift_ci_high",
    "p_value",
    "note",
)
#: A group needs this many answered rows (effective, on a sampled frame) for a lift and a test.
MIN_ANSWERED_FOR_TEST: Final = 10
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


def _status_codes(frame: pd.DataFrame, prefix: str) -> np.ndarray:
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
        return status.cat.codes.to_numpy(dtype=np.int64)
    return np.asarray(pd.Categorical(status, categories=list(STATUSES)).codes, dtype=np.int64)


def _chosen_statuses(statuses: Sequence[str] | str | None, present: set[str]) -> list[str]:
    if statuses is None:
        return [DEAD_LINE, *[s for s in ANSWER_STATES if s in present]]
    chosen = [statuses] if isinstance(statuses, str) else list(statuses)
    for s in chosen:
        if s in NO_ANSWER_STATES:
            raise InputError(
                f"{s!r} carries no answer about the line: it is left out of shares (rows - n "
                f"counts it); compare one of {[DEAD_LINE, *ANSWER_STATES]}"
            )
        if s != DEAD_LINE and s not in STATUSES:
            raise InputError(f"unknown status {s!r}: choose from {[DEAD_LINE, *ANSWER_STATES]}")
    return chosen


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


def _effective_n(
    weight: np.ndarray,
    cluster: np.ndarray,
    group: np.ndarray,
    indicator: np.ndarray,
    share: np.ndarray,
    totals: np.ndarray,
    n_groups: int,
) -> np.ndarray:
    """Effective sample sizes (groups × statuses) of the weighted shares of a sampled frame.

    Per answered row: ``weight`` (inverse inclusion probability of its number), ``cluster``
    (its number), ``group``; ``indicator`` is rows × statuses (0/1). The variance of each
    share is linearised over the sampled numbers, which rows sharing a number move with,
    within strata of equal weight, with the finite-population correction; the effective size
    is ``share·(1 - share) / variance``.
    """
    n_status = indicator.shape[1]
    # per (cluster, group): the weighted row count and weighted status counts
    key = cluster * n_groups + group
    cells, cell_of_row = np.unique(key, return_inverse=True)
    cell_cluster, cell_group = cells // n_groups, cells % n_groups
    cell_weight = np.bincount(cell_of_row, weights=weight, minlength=len(cells))
    cell_counts = np.stack(
        [
            np.bincount(cell_of_row, weights=weight * indicator[:, j], minlength=len(cells))
            for j in range(n_status)
        ],
        axis=1,
    )
    # linearised values u = (A - p·B) / W_g, per cell and status
    with np.errstate(divide="ignore", invalid="ignore"):
        u = (cell_counts - share[cell_group] * cell_weight[:, None]) / totals[cell_group][:, None]
    u = np.nan_to_num(u)
    # strata of equal weight: one weight per cluster
    cluster_weight = np.zeros(cluster.max() + 1 if len(cluster) else 0)
    cluster_weight[cluster] = weight
    stratum_codes, stratum_of_cluster = np.unique(cluster_weight, return_inverse=True)
    clusters_in = np.bincount(stratum_of_cluster, minlength=len(stratum_codes)).astype(float)
    variance = np.zeros((n_groups, n_status))
    for h, w_h in enumerate(stratum_codes):
        n_h = clusters_in[h]
        fpc = max(0.0, 1.0 - 1.0 / w_h) if w_h > 0 else 0.0
        if n_h < 2 or fpc == 0.0:
            continue
        mine = stratum_of_cluster[cell_cluster] == h
        g = cell_group[mine]
        total = np.zeros((n_groups, n_status))
        square = np.zeros((n_groups, n_status))
        np.add.at(total, g, u[mine])
        np.add.at(square, g, u[mine] ** 2)
        # clusters of the stratum with no row in the group contribute u = 0
        variance += fpc * n_h / (n_h - 1) * (square - total**2 / n_h)
    with np.errstate(divide="ignore", invalid="ignore"):
        effective = share * (1 - share) / variance
    # Shares of 0 or 1 (or a census) have no spread to measure: Kish's effective number of
    # sampled numbers in the group instead.
    weighted = np.bincount(cell_group, weights=cell_weight, minlength=n_groups)
    squares = np.bincount(cell_group, weights=cell_weight**2, minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        kish = np.nan_to_num(weighted**2 / squares)
    fallback = np.broadcast_to(kish[:, None], effective.shape)
    return np.where(np.isfinite(effective) & (effective > 0), effective, fallback)


def compare(
    frame: pd.DataFrame,
    by: object,
    *,
    reference: object = None,
    statuses: Sequence[str] | str | None = None,
    level: float = DEFAULT_LEVEL,
    prefix: str = "mobile_",
) -> pd.DataFrame:
    """Line-status shares per group with Wilson intervals, lift against a reference, p-values.

    Args:
        frame: a result frame (``df.mobile.status(...)``), sampled or not.
        by: the grouping: a column name, or a Series/array with one group per row (like
            ``groupby``; rows with a missing group are left out).
        reference: the group others are compared with; default the largest group (by rows),
            or the ``False`` group of a boolean.
        statuses: the statuses to report; default ``dead_line`` and every answered status
            that occurs. Statuses without an answer (``error``...) are refused: they are not
            part of shares (``rows - n`` counts them).
        level: the confidence level of the intervals (0.95).

    Returns one row per (status, group): ``status``, ``group``, ``rows`` (rows in the group),
    ``n`` (rows with an answer), ``share``, ``ci_low``, ``ci_high``, ``lift``,
    ``lift_ci_low``, ``lift_ci_high``, ``p_value`` and ``note`` (why a value is NA). The
    overall test and the reference are in ``out.attrs["compare"]``.

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
    """
    if not isinstance(level, (float, int)) or isinstance(level, bool) or not 0 < level < 1:
        raise InputError(f"level must be a confidence level between 0 and 1, got {level!r}")
    from . import sampling

    status_code = _status_codes(frame, prefix)
    groups = _groups(frame, by)
    n_groups = len(groups.labels)
    if n_groups == 0:
        raise InputError(f"by={by!r} has no groups (every value is missing)")
    weight = sampling.weights(frame, prefix).to_numpy(dtype=float)
    sampled = f"{prefix}{sampling.WEIGHT_COLUMN}" in frame.columns
    in_group = groups.codes >= 0
    rows = np.bincount(groups.codes[in_group], minlength=n_groups)
    answered = in_group & ~np.isnan(weight) & (status_code >= 0)
    g = groups.codes[answered]
    s = status_code[answered]
    w = weight[answered]
    n_rows = np.bincount(g, minlength=n_groups)
    per_status = np.bincount(g * len(STATUSES) + s, weights=w, minlength=n_groups * len(STATUSES))
    per_status = per_status.reshape(n_groups, len(STATUSES))
    present = {STATUSES[i] for i in np.flatnonzero(per_status.sum(axis=0) > 0)}
    chosen = _chosen_statuses(statuses, present)
    dead = [STATUSES.index(x) for x in DEAD_LINE_STATES]
    counts = np.stack(
        [
            per_status[:, dead].sum(axis=1) if x == DEAD_LINE else per_status[:, STATUSES.index(x)]
            for x in chosen
        ],
        axis=1,
    )  # groups × chosen statuses, weighted
    totals = per_status.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = counts / totals[:, None]
    if sampled:
        indicator = np.stack(
            [np.isin(s, dead) if x == DEAD_LINE else s == STATUSES.index(x) for x in chosen],
            axis=1,
        ).astype(float)
        number_column = f"{prefix}number"
        if number_column in frame.columns:
            numbers = frame[number_column].to_numpy(dtype=object)[answered]
            cluster = pd.factorize(numbers, use_na_sentinel=True)[0]
            lonely = cluster < 0  # rows without a number are clusters of their own
            cluster[lonely] = cluster.max(initial=-1) + 1 + np.arange(lonely.sum())
        else:
            cluster = np.arange(len(w))
        effective = _effective_n(w, cluster, g, indicator, np.nan_to_num(share), totals, n_groups)
        k_eff = np.nan_to_num(share) * effective
    else:
        effective = np.broadcast_to(totals[:, None].astype(float), counts.shape)
        k_eff = counts
    ci_low, ci_high = wilson_interval(k_eff, effective, level)
    ref = _reference(groups, rows, reference)
    table = _lift_and_tests(k_eff, effective, share, ref, level, sampled)
    out = _assemble(chosen, groups, rows, n_rows, share, ci_low, ci_high, table, ref, effective)
    overall = _overall_test(per_status, effective, totals, n_groups) if n_groups > 2 else None
    out.attrs[COMPARE_KEY] = {
        "by": groups.name,
        "reference": groups.labels[ref],
        "level": level,
        "sampled": sampled,
        "overall_test": overall,
    }
    return out


def _lift_and_tests(
    k: np.ndarray,
    n: np.ndarray,
    share: np.ndarray,
    ref: int,
    level: float,
    sampled: bool,
) -> dict[str, np.ndarray]:
    """Lift, its Katz interval and Fisher's p-value, per group × status, against ``ref``."""
    from scipy.stats import fisher_exact, norm

    z = float(norm.ppf(0.5 + level / 2))
    k_ref, n_ref, share_ref = k[ref], n[ref], share[ref]
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = share / share_ref
        se = np.sqrt(1 / k - 1 / n + 1 / k_ref - 1 / n_ref)
        lift_low = np.exp(np.log(lift) - z * se)
        lift_high = np.exp(np.log(lift) + z * se)
    testable = (n >= MIN_ANSWERED_FOR_TEST) & (n_ref >= MIN_ANSWERED_FOR_TEST)
    usable = testable & (k > 0) & (k_ref > 0)
    lift = np.where(testable & (share_ref > 0), lift, np.nan)
    lift_low = np.where(usable, lift_low, np.nan)
    lift_high = np.where(usable, lift_high, np.nan)
    p_value = np.full(k.shape, np.nan)
    round_ = np.rint if sampled else (lambda x: x)
    for gi, si in zip(*np.nonzero(testable), strict=True):
        if gi == ref:
            continue
        a, b = round_(k[gi, si]), round_(n[gi, si])
        c, d = round_(k_ref[si]), round_(n_ref[si])
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
    """Chi-square on the status-by-group table (groups big enough; statuses that occur)."""
    from scipy.stats import chi2_contingency

    # one effective size per group (the smallest over statuses: the cautious choice)
    size = effective.min(axis=1)
    keep = size >= MIN_ANSWERED_FOR_TEST
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
                    f"{which} {effective[small, si]:.0f} answered rows "
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
