"""``mobilestatus demo``: the main job, end to end, against the embedded sandbox."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from . import datasets
from .sandbox import Sandbox
from .stores.base import write_private


def _save_health_plot(out: pd.DataFrame, path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        print("(no matplotlib in this environment: pip install 'matplotlib>=3.8' for the plot)")
        return
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = out.mobile.plot(by="signup_channel").figure
    if isinstance(figure, Figure):
        write_private(path, lambda partial: figure.savefig(partial, dpi=110, format="png"))
    print(f"Health plot by sign-up channel written to {path}")


#: The columns of the demo's results that hold phone numbers: written only when asked.
NUMBER_COLUMNS = ("phone", "mobile_number")


def run_demo(rows: int = 2000, output: Path | None = None, *, keep_numbers: bool = False) -> int:
    """Start the sandbox, enrich a synthetic frame with ``df.mobile.status``, print a summary.

    With ``output``, write ``demo_results.csv`` there (without the phone numbers, raw and
    normalised, unless ``keep_numbers``) and ``health.png``, each readable by this user only.
    """
    started = time.monotonic()
    frame = datasets.signups(rows=rows)
    print(f"A synthetic sign-up table: {len(frame)} rows, phone numbers in messy formats.")
    print(frame.head(8).to_string(index=False))
    # In a process of its own, like the real service: it counts calls per second fairly.
    with Sandbox(latency_ms=60, latency_spread_ms=20, own_process=True) as sandbox:
        print(f"\nThe embedded sandbox listens on {sandbox.url}, speaking Tencent's protocol.")
        client = sandbox.client(cache=None)  # in memory: every demo makes its calls
        print("\nThe two documented examples, sent as they are (validate='server'):")
        for number in ("13800138000", "16137688175"):
            result = client.lookup(number, validate="server")
            print(
                f"  {number} -> Result {result.result}, StatusCode {result.status_code}: "
                f"{result.status} ({result.description})"
            )
        estimate = frame["phone"].mobile.normalize()
        print(
            f"\n{estimate.nunique()} distinct numbers among {len(frame)} rows; "
            f"each is looked up once, at no more than {client.rate_limit:g} calls/s."
        )
        out = frame.mobile.status("phone", client=client)
        report = out.attrs["mobilestatus"]
        stats = sandbox.stats()
        ledger_billed = int(client.ledger()["billed"].fillna(True).sum())
    print("\nLine health (out.mobile.summary()):")
    summary = out.mobile.summary()
    print(summary[summary["rows"] > 0].to_string(float_format=lambda x: f"{x:.3f}"))
    print("\nFraud vs. legitimate, share of dead lines (cancelled, out of service, offline):")
    dead = out["mobile_status"].isin(["cancelled", "out_of_service", "offline"])
    print(dead.groupby(out["fraud"]).mean().round(3).rename("dead_share").to_string())
    print(
        f"\nRun: {report['calls']} calls, {report['billed_calls']} billed, "
        f"{report['cache_hits']} cache hits, {report['calls_per_second']:.1f} calls/s; "
        f"the sandbox saw at most {stats['max_arrivals_in_any_second']} requests in any second "
        f"and {stats['rate_limited']} RequestLimitExceeded."
    )
    # The promise on a real network, in the README's words, with this run's figures.
    requests = stats["requests"]
    print(
        f"Refused for the rate: {stats['rate_limited']} of {requests} requests "
        f"({stats['rate_limited'] / max(requests, 1):.1%}; promised: at most 1 in 100), "
        f"never billed ({stats['billed']} billed = {ledger_billed} in the ledger), "
        f"{report['rate_limited_retries']} retried, {report['rate_limited']} counted in the report."
    )
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        path = output / "demo_results.csv"
        written = out if keep_numbers else out.drop(columns=list(NUMBER_COLUMNS))
        write_private(path, lambda partial: written.to_csv(partial, index=False))
        numbers = "with" if keep_numbers else "without"
        print(
            f"Results written to {path}: the sign-up columns and the mobile_* results, "
            f"{numbers} the phone numbers ({' and '.join(NUMBER_COLUMNS)})"
            + ("" if keep_numbers else "; --keep-numbers writes them")
        )
        _save_health_plot(out, output / "health.png")
    print(f"Done in {time.monotonic() - started:.1f} s.")
    return 0
