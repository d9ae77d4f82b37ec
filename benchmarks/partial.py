"""run.partial() on a million rows: the answer table's frame against joining the same answers
row objects (the run's final join), measured in the same run.

    .venv/bin/python benchmarks/partial.py [ROWS]

Prints the seconds of each and their ratio. A partial frame is a few ``take`` calls over
typed arrays; the join builds the frame from one LookupResult per distinct number.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from mobilestatus_pandas.engine.answers import AnswerTable, join
from mobilestatus_pandas.service.result import LookupResult

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
ANSWERED_SHARE = 0.3


def main() -> None:
    rng = np.random.default_rng(0)
    distinct = [f"138{n:08d}" for n in rng.choice(10**8, ROWS // 2, replace=False)]
    row_codes = rng.integers(0, len(distinct), ROWS)
    row_reasons = np.zeros(ROWS, dtype=np.int8)
    index = pd.RangeIndex(ROWS)
    table = AnswerTable(distinct, row_codes, row_reasons)
    waiting = LookupResult.unchecked(None, True, "not answered yet")
    table.fill(np.arange(len(distinct)), waiting)
    answered = distinct[: int(len(distinct) * ANSWERED_SHARE)]
    stamp = pd.Timestamp("2026-01-01", tz="UTC").to_pydatetime()
    results = {
        n: LookupResult(n, True, "0", "ok", 0, "normal", True, False, stamp, f"r{i}", None)
        for i, n in enumerate(answered)
    }
    for number, result in results.items():
        table.set(number, result)

    started = time.perf_counter()
    partial = table.frame(index)
    table_seconds = time.perf_counter() - started

    started = time.perf_counter()
    per_number = [results.get(n) or LookupResult.unchecked(n, True, "x") for n in distinct]
    joined = join(per_number, row_codes, row_reasons, index)
    join_seconds = time.perf_counter() - started

    assert len(partial) == len(joined) == ROWS
    print(f"{ROWS:,} rows, {len(distinct):,} distinct numbers, {len(answered):,} answered")
    print(f"partial (answer table): {table_seconds:.2f} s")
    print(f"join of row objects:    {join_seconds:.2f} s")
    print(f"ratio: {join_seconds / table_seconds:.1f}x")


if __name__ == "__main__":
    main()
