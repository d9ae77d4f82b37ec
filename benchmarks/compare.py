"""Compare speed: ``out.mobile.compare(by)`` on a million result rows, full and sampled, and
Dask's ``compare`` on the client.

Every figure clusters the rows by number (a million rows on 333,333 numbers here), so the
numbers are factorised and each (number, group) cell is summed. The baseline, timed in the
same run, is what an analyst would write for counts alone:
``pd.crosstab(out[by], out["mobile_status"])`` (no shares, intervals, lift or tests). The
target is under a second for a million rows.

Dask (``--dask-rows`` over ``--dask-numbers``, sampled by the label so that rows carry
weights): each partition is reduced on its worker to its counted form (rows per group,
status, number and weight), now summed on the workers in a tree
(``SPLIT_EVERY`` at a time); what the last task then does (the "client side": it
holds everything the statistics need) is timed two ways, alternating, best of ``--repeat``:
the former path, which summed every partition's counts and rebuilt one narrow row per
original row for ``compare`` (as many rows as the table), against ``compare(counts, by,
rows=...)`` on the summed counts (groups x statuses x distinct numbers). Both tables are
checked equal. Printed: the rows the last task holds, its seconds and its peak memory
(tracemalloc, a separate run), with the ratios.

Measured (2 cores, shared): compare on 1M rows 0.135-0.146 s, 1.16x crosstab (0.20 s and
1.61x before cells were summed in classes; 0.36 s when clustering came in, 0.12 s before
it). Dask, 2M rows over 20k numbers, sampled: in 8 partitions the last task holds 39,996
count rows instead of 2,000,000 (0.020x), 0.15 -> 0.04 s (0.26x), peak memory 193 -> 24 MiB;
in 32, it receives 149,278 count rows from the tree instead of 745,425, 0.19 -> 0.03 s
(0.16x), 217 -> 13 MiB.

    .venv/bin/python benchmarks/compare.py [--rows 1000000] [--groups 2] [--repeat 3]
        [--dask-rows 2000000] [--dask-numbers 20000] [--partitions 32]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from mobilestatus_pandas import dask as msd
from mobilestatus_pandas.analysis import sampling
from mobilestatus_pandas.analysis.stats import compare
from mobilestatus_pandas.engine.answers import result_dtypes

TARGET_SECONDS = 1.0
STATUS_MIX = {
    "normal": 0.78,
    "out_of_service": 0.05,
    "cancelled": 0.05,
    "offline": 0.03,
    "unknown": 0.01,
    "not_found": 0.04,
    "invalid": 0.02,
    "error": 0.01,
    "missing": 0.01,
}


def best_of(repeat: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def result_frame(rows: int, groups: int, seed: int = 0, numbers: int | None = None) -> pd.DataFrame:
    """A result frame as ``df.mobile.status`` makes it: categorical status, string numbers
    (``numbers`` distinct ones; default a third of the rows)."""
    rng = np.random.default_rng(seed)
    distinct = max(1, rows // 3 if numbers is None else numbers)
    pool = pd.array([f"138{i:08d}" for i in range(distinct)], dtype=result_dtypes()["number"])
    which = rng.integers(0, distinct, rows)
    status = rng.choice(list(STATUS_MIX), size=distinct, p=list(STATUS_MIX.values()))[which]
    labels = np.array([f"group {i}" for i in range(groups)], dtype=object)
    by = rng.random(rows) < 0.08 if groups == 2 else labels[rng.integers(0, groups, rows)]
    return pd.DataFrame(
        {
            "label": by,
            "mobile_number": pool[which],
            "mobile_status": pd.Categorical(
                status, categories=result_dtypes()["status"].categories
            ),
        }
    )


def sampled_frame(full: pd.DataFrame, size: int) -> pd.DataFrame:
    """``full`` as a stratified sample of ``size`` numbers would have left it."""
    codes, distinct = pd.factorize(full["mobile_number"])
    numbers = [str(n) for n in distinct]
    request = sampling.SampleRequest(size, full["label"].to_numpy(dtype=object), "label", 0)
    _, design = sampling.draw(numbers, numbers, np.asarray(codes), request)
    out = full.copy()
    weight = design.row_weights(np.asarray(codes))
    out.loc[np.isnan(weight), "mobile_status"] = "not_checked"
    out[f"mobile_{sampling.WEIGHT_COLUMN}"] = weight
    return out


def rows_rebuilt(
    parts: list[pd.DataFrame],
    columns: list[Any],
    dtypes: dict[Any, Any],
    by: str,
    number: str,
) -> tuple[pd.DataFrame, int]:
    """The former client side of Dask's ``compare``: the partitions' counts summed, then one
    row per original row rebuilt (numbers as codes) for ``compare`` on rows."""
    grouped = pd.concat(parts, ignore_index=True).groupby(
        columns, dropna=False, observed=True, sort=False
    )
    cells = grouped[msd.ROWS_COLUMN].sum().reset_index()
    codes = np.asarray(pd.factorize(cells[number], use_na_sentinel=True)[0], dtype=np.int64)
    cells[number] = pd.arrays.IntegerArray(codes, codes < 0)
    rows = cells.take(np.repeat(np.arange(len(cells)), cells[msd.ROWS_COLUMN].to_numpy()))
    rows = rows.drop(columns=msd.ROWS_COLUMN).reset_index(drop=True)
    for name, dtype in dtypes.items():
        if name != number:
            rows[name] = rows[name].astype(dtype)
    return compare(rows, by), len(rows)


def from_counts(
    parts: list[pd.DataFrame], columns: list[Any], dtypes: dict[Any, Any], by: str
) -> tuple[pd.DataFrame, int]:
    """Dask's ``compare`` on the client now: the counts summed, ``compare`` over them."""
    counts = msd._compare_counts(parts, columns, dtypes)
    return compare(counts, by, rows=msd.ROWS_COLUMN), len(counts)


def peak_mib(fn: Callable[[], Any]) -> float:
    """The peak of memory allocated while ``fn`` runs (tracemalloc: numpy and pandas too)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def dask_client_side(rows: int, numbers: int, partitions: int, repeat: int) -> None:
    """Dask's compare: the client's rows, seconds and memory, former path against counts."""
    import dask.dataframe as dd

    full = result_frame(rows, 2, seed=1, numbers=numbers)
    sampled = sampled_frame(full, numbers // 2)
    ddf = dd.from_pandas(sampled, npartitions=partitions)  # type: ignore[no-untyped-call]
    columns = msd._compare_columns(ddf._meta, ["label"], "status", "mobile_")
    dtypes = {c: ddf._meta[c].dtype for c in columns}
    pieces = [part.compute() for part in ddf.partitions]
    started = time.perf_counter()
    parts = [msd._compare_cells(piece, columns) for piece in pieces]
    level, every = parts, msd.SPLIT_EVERY
    while len(level) > every:  # the tree of sums on the workers (the former path had none)
        level = [
            msd._compare_counts(level[i : i + every], columns, dtypes)
            for i in range(0, len(level), every)
        ]
    workers = time.perf_counter() - started
    sent, last = sum(len(p) for p in parts), sum(len(p) for p in level)
    before, held_before = rows_rebuilt(parts, columns, dtypes, "label", "mobile_number")
    after, held_after = from_counts(level, columns, dtypes, "label")
    pd.testing.assert_frame_equal(after, before)  # the same table
    assert after.attrs == before.attrs

    def former() -> Any:
        return rows_rebuilt(parts, columns, dtypes, "label", "mobile_number")

    def now() -> Any:
        return from_counts(level, columns, dtypes, "label")

    old_times, new_times = [], []
    for _ in range(repeat):  # alternating, so both see the same load
        old_times.append(best_of(1, former))
        new_times.append(best_of(1, now))
    old, new = min(old_times), min(new_times)
    old_mib, new_mib = peak_mib(former), peak_mib(now)
    print(
        f"dask compare: {rows:,} rows over {numbers:,} numbers, {partitions} partitions, "
        f"sampled ({numbers // 2:,} numbers drawn)"
    )
    print(
        f"  {'workers: counts, summed in a tree':36} {workers:6.3f} s   {sent:,} count rows "
        f"from the partitions, {last:,} into the last task (was {sent:,})"
    )
    print(
        f"  {'client, rows rebuilt (before)':36} {old:6.3f} s   {held_before:,} rows held, "
        f"peak {old_mib:,.0f} MiB"
    )
    print(
        f"  {'client, from counts (after)':36} {new:6.3f} s   {held_after:,} rows held, "
        f"peak {new_mib:,.0f} MiB"
    )
    print(
        f"  {'after / before':36} {new / old:6.2f}x time, {held_after / held_before:.4f}x rows, "
        f"{new_mib / old_mib:.3f}x memory"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dask-rows", type=int, default=2_000_000)
    parser.add_argument("--dask-numbers", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=32)
    args = parser.parse_args()

    full = result_frame(args.rows, args.groups)
    compare(full.head(1000), "label")  # import scipy outside the timings
    baseline = best_of(args.repeat, lambda: pd.crosstab(full["label"], full["mobile_status"]))
    ours = best_of(args.repeat, lambda: compare(full, "label"))
    print(f"{args.rows:,} rows, {args.groups} groups")
    print(f"  {'pd.crosstab (counts only)':36} {baseline:6.3f} s")
    verdict = "under" if ours < TARGET_SECONDS else "OVER"
    print(
        f"  {'compare (full run)':36} {ours:6.3f} s   {ours / baseline:5.2f}x crosstab, "
        f"{verdict} the {TARGET_SECONDS:.0f} s target"
    )
    sampled = sampled_frame(full, args.sample)
    weighted = best_of(args.repeat, lambda: compare(sampled, "label"))
    verdict = "under" if weighted < TARGET_SECONDS else "OVER"
    print(
        f"  {f'compare (sample of {args.sample:,} numbers)':36} {weighted:6.3f} s   "
        f"{weighted / baseline:5.2f}x crosstab, {verdict} the {TARGET_SECONDS:.0f} s target"
    )
    if args.dask_rows:
        dask_client_side(args.dask_rows, args.dask_numbers, args.partitions, args.repeat)


if __name__ == "__main__":
    main()
