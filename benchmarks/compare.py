"""Compare speed: ``out.mobile.compare(by)`` on a million result rows, full and sampled.

Every figure clusters the rows by number (a million rows on 333,333 numbers here), so the
numbers are factorised and each (number, group) cell is summed. The baseline, timed in the
same run, is what an analyst would write for counts alone:
``pd.crosstab(out[by], out["mobile_status"])`` (no shares, intervals, lift or tests). The
target is under a second for a million rows.

    .venv/bin/python benchmarks/compare.py [--rows 1000000] [--groups 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

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


def result_frame(rows: int, groups: int, seed: int = 0) -> pd.DataFrame:
    """A result frame as ``df.mobile.status`` makes it: categorical status, string numbers."""
    rng = np.random.default_rng(seed)
    distinct = max(1, rows // 3)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
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


if __name__ == "__main__":
    main()
