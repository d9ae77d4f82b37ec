"""Write the tutorial notebooks and run them in a real kernel, storing their outputs.

    .venv/bin/python notebooks/make_notebooks.py

`make test` then re-runs them with nbval and compares every output with the stored one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).parent
IGNORE = "# NBVAL_IGNORE_OUTPUT\n"
SKIP = "# Not run here: it needs real credentials.\n"


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(text.strip())
    if text.startswith(SKIP):  # shown, never run: nbclient and nbval both pass it over
        cell.metadata["tags"] = ["skip-execution", "nbval-skip"]
    return cell


QUICKSTART = [
    md("""
# Quick start: are these phone numbers live lines?

`mobilestatus-pandas` checks phone numbers against Tencent Cloud eKYC's `MobileStatus` API,
from pandas. This notebook runs against the **embedded sandbox**, a local server that speaks
Tencent's protocol, so it needs no account and no network.

Install: `pip install mobilestatus-pandas` (plots and widgets come with it).
"""),
    code("""
import pandas as pd
import mobilestatus_pandas as msp   # registers .mobile on DataFrame and Series

sandbox = msp.Sandbox().start()     # a local MobileStatus service on 127.0.0.1
client = sandbox.client()           # a client wired to it (credentials included)
"""),
    md("A small table with phone numbers written the way spreadsheets write them:"),
    code("""
df = pd.DataFrame({
    "customer": ["ana", "bo", "chen", "dai", "eli", "fu"],
    "phone": ["+86 138 0013 8000", "13800000002", 13800000000.0, "tel:+86-138-0000-0004",
              "not a number", "１３８００００００９９"],
})
df["phone"].mobile.normalize()
"""),
    md("Look them up: a new frame with the `mobile_*` columns (the input is not changed)."),
    code("""
out = df.mobile.status("phone", client=client, progress=False)
out[["customer", "mobile_number", "mobile_status", "mobile_status_code", "mobile_billed"]]
"""),
    md("""
`mobile_status` is one of `normal`, `out_of_service`, `cancelled`, `offline`,
`unavailable`, `unknown` (line states), or `not_found`, `invalid`, `unsupported`, `busy`,
`daily_limit`, `error`, `not_checked`. Only `Result "0"` answers are billed; the rest of the
columns carry the raw `Result`, `StatusCode`, `RequestId` and when the answer was given.
"""),
    code("""
out.dtypes
"""),
    md("The run report travels with the frame:"),
    code("""
report = out.attrs["mobilestatus"]
{k: report[k] for k in ("rows", "distinct_numbers", "invalid", "calls", "billed_calls", "cache_hits")}
"""),
    md("Line health at a glance, as a table and as a picture:"),
    code("""
out.mobile.summary()  # statuses with no row are left out (all_statuses=True shows them)
"""),
    code("""
_ = out.mobile.plot()
"""),
    md("""
## Using the real service

Give credentials the way Tencent's tools read them (environment variables
`TENCENTCLOUD_SECRET_ID` / `TENCENTCLOUD_SECRET_KEY`, or `~/.tencentcloud/credentials`),
and leave the sandbox out. This cell is not run here.
"""),
    code(
        SKIP
        + """
client = msp.MobileStatusClient(
    endpoint="faceid.tencentcloudapi.com",   # or faceid.intl.tencentcloudapi.com (default)
    price_per_call=0.05,                     # for cost figures
)
out = df.mobile.status("phone", client=client)
"""
    ),
    code("""
sandbox.stop()
"""),
]


FRAUD_STUDY = [
    md("""
# A fraud study: is a dead line a fraud signal here, and how strong?

5,000 synthetic sign-ups with a fraud label, a sign-up channel, a sign-up time and a phone
number in messy formats (repeated numbers and junk included), checked against the embedded
sandbox. **The data are synthetic** and carry planted, documented signals (see
`mobilestatus_pandas.datasets`): fraudulent accounts were given dead lines (out of service,
cancelled, offline) at 35%, legitimate ones at the sandbox's natural 14%, and lines under six
months old at 40% against 15%. The study below should find them, and say how sure it is,
before paying for every number.
"""),
    code("""
import pandas as pd
import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import signups

signups_df = signups(rows=5000, distinct=1200, seed=2024)
signups_df.head()
"""),
    md("""
## 1. What would it cost?

`estimate` makes no call. Beside the full run it prices a sample of 400 distinct numbers,
the interval width that sample gives on a dead-line share near 15% (beside the full run's
own: the figures are about the process that makes sign-ups, so paying for everyone is not
exact either), how many numbers a width of 0.10 would need, and, with `by="fraud"`, how the
stratified draw splits the 400 numbers and the width each group can expect:
"""),
    code("""
sandbox = msp.Sandbox().start()
client = sandbox.client(price_per_call=0.05)
signups_df.mobile.estimate(
    "phone", client=client, sample=400, target_width=0.10, expected_share=0.15, by="fraud"
)
"""),
    md("""
## 2. Sample first

Look up 400 distinct numbers chosen at random, stratified by the fraud label (proportional
allocation, with a floor so the small fraud group is represented). The other rows are
`not_checked` ("not sampled") and cost nothing:
"""),
    code(
        IGNORE
        + """
sampled = signups_df.mobile.status("phone", client=client, sample=400, by="fraud", seed=0)
"""
    ),
    code("""
design = sampled.attrs["mobilestatus"]["sample"]
pd.DataFrame(design["strata"]).T.rename_axis("fraud")
"""),
    md("""
`compare` estimates each group's share of each status for the whole frame (weighted by the
sampling design), with Wilson intervals, the lift against the reference group (here the
legitimate accounts) with its interval, and Fisher's exact test, the rows of one number
counted as one cluster (see "Rings share numbers" below):
"""),
    code("""
statuses = ["dead_line", "cancelled", "out_of_service", "offline", "normal"]
sampled.mobile.compare(by="fraud", statuses=statuses).round(3)
"""),
    code("""
_ = sampled.mobile.plot(kind="compare", by="fraud", statuses=["dead_line", "cancelled", "normal"])
"""),
    md("""
## 3. Decide, then run the rest

The dead-line lift's interval lies well above 1: on this sample, fraudulent accounts carry
dead lines far more often. That is worth the full run. The sample's answers come from the
cache, so only the other numbers are paid for:
"""),
    code(
        IGNORE
        + """
out = signups_df.mobile.status("phone", client=client)   # a progress bar while it runs
"""
    ),
    code("""
report = out.attrs["mobilestatus"]
{k: report[k] for k in ("rows", "distinct_numbers", "cache_hits", "calls", "billed_calls", "cost")}
"""),
    code("""
full = out.mobile.compare(by="fraud", statuses=["dead_line"])
full[["status", "group", "n", "numbers", "effective_n", "share", "ci_low", "ci_high", "lift",
      "lift_ci_low", "lift_ci_high", "p_value"]].round(4)
"""),
    md("""
### Rings share numbers

These 5,000 sign-ups use about 1,200 numbers: fraud rings reuse a number for many accounts.
Rows of one number are one piece of evidence, not several (they share one line status), so
`compare` treats each number as a cluster: `numbers` counts them, `effective_n` is what the
rows are worth once that is accounted for, and the intervals, lift and test use it. Treating
every row as its own number (as if each sign-up had a number of its own) gives intervals
that look far more certain than the data allow:
"""),
    code("""
per_row = out.drop(columns=["mobile_number"]).assign(mobile_key=range(len(out)))
naive = per_row.mobile.compare(by="fraud", statuses=["dead_line"])
side_by_side = pd.DataFrame({
    "effective_n (numbers as clusters)": full["effective_n"].to_numpy(),
    "effective_n (rows as independent)": naive["effective_n"].to_numpy(),
    "interval width (clusters)": (full["ci_high"] - full["ci_low"]).to_numpy(),
    "interval width (rows)": (naive["ci_high"] - naive["ci_low"]).to_numpy(),
}, index=full["group"].rename("fraud"))
side_by_side.round(3)
"""),
    md("""
On tables drawn from a known process with numbers on 1 to 8 sign-ups, the clustered 95%
intervals hold the truth about 95% of the time and the row-level ones about 60%
(`tests/test_stats.py`). The key that puts a number's rows together is `mobile_key`, a keyed
hash of the number: it stays when the command line drops `mobile_number`, so a frame shared
without numbers can still be compared honestly.
"""),
    md("""
## 4. The whole picture

Line health by fraud label: one row per group, one column per status (shares of the rows
with an answer about the line):
"""),
    code("""
out.mobile.summary(by="fraud", wide=True, values="answered_share").round(3)
"""),
    code("""
_ = out.mobile.plot(by="signup_channel")
"""),
    md("By channel and label, and week by week (`by=` and `on=` take what `groupby` takes):"),
    code("""
dead = out["mobile_status"].isin(msp.DEAD_LINE_STATES)
out.assign(dead_line=dead).groupby(["signup_channel", "fraud"])["dead_line"].mean().unstack().round(3)
"""),
    code("""
_ = out.mobile.plot(kind="time", on="signup_ts", freq="W")
"""),
    md("""
Numbers shared by several accounts are a fraud signal of their own; `shared` lists them with
their line status:
"""),
    code("""
out.mobile.shared(by="user_id").head(10)
"""),
    md("""
**Reading the lines.** A *cancelled* number was given up by its owner: an account opened
with one is reaching nobody, a common trait of recycled or bought numbers. *Offline* and
*out of service* lines may be temporary (roaming, unpaid bills), so treat them as weaker
signals. *Invalid* and *not found* numbers were never real contact points; *missing* means
no number was given at all, a different signal again.

The dashboard puts it together; pick another grouping column, switch to counts, or to the
comparison view:
"""),
    code(
        IGNORE
        + """
out.mobile.dashboard(by="fraud")
"""
    ),
    md("""
## 5. Tenure as a second signal

A fresh SIM on a new account is the other classic sign. `MobileNetworkTimeVerification`
tells how long a line has been on the network, in bands of months (`[0,3)`, `[3,6)`,
`[6,12)`, `[12,24)`, `[24,+)`). It is another API with its own codes and billing (Results 0,
-2 and -3 are billed), its own 20 calls a second and its own cache entries. `check` runs
both in one pass; the line states come from the cache, only tenure is paid for:
"""),
    code(
        IGNORE
        + """
both = signups_df.mobile.check("phone", actions=("status", "tenure"), client=client)
"""
    ),
    code("""
{action: {k: both.attrs["mobilestatus"][action][k] for k in ("calls", "billed_calls", "cache_hits")}
 for action in ("status", "tenure")}
"""),
    code("""
_ = both.mobile.plot(kind="tenure", by="fraud")
"""),
    md("""
`compare(outcome="tenure")` asks the study's question of tenure: the share of new lines
(`new_line`: under six months) and of each band, in their order, per group, among the rows
with a known tenure, with the same clustered intervals, lift and test. The synthetic data
plant new lines at 40% among fraudulent accounts against the sandbox's natural 15%:
"""),
    code("""
tenure_table = both.mobile.compare(by="fraud", outcome="tenure")
tenure_table[["status", "group", "n", "numbers", "share", "ci_low", "ci_high", "lift",
              "lift_ci_low", "lift_ci_high", "p_value"]].round(3)
"""),
    code("""
_ = both.mobile.plot(kind="compare", by="fraud", outcome="tenure")
"""),
    md("""
Two signals, and the either-or a reviewer would act on: a dead line, or a line under six
months old (planted independently of each other):
"""),
    code("""
dead = both["mobile_status"].isin(msp.DEAD_LINE_STATES)
new_line = both["tenure_months_max"].le(6).fillna(False)   # [0,3) or [3,6)
signals = both.assign(dead_line=dead, new_line=new_line, dead_or_new=dead | new_line)
answered = signals[(signals["mobile_status"] != "invalid") & (signals["tenure_status"] == "known")]
answered.groupby("fraud")[["dead_line", "new_line", "dead_or_new"]].mean().round(3)
"""),
    code("""
both.mobile.compare(by="tenure_band", statuses=["dead_line"])[
    ["group", "n", "share", "ci_low", "ci_high"]].round(3)
"""),
    code("""
sandbox.stop()
"""),
]


COST_CONTROL = [
    md("""
# Cost control: estimate, budgets, the cache, the ledger, interrupt and resume, long runs

Every `Result "0"` answer is billed. This notebook shows how not to pay more than you mean
to, against the embedded sandbox with a daily quota like the real service's.
"""),
    code("""
import tempfile, threading, _thread
from pathlib import Path
import pandas as pd
import mobilestatus_pandas as msp
from mobilestatus_pandas.datasets import signups

cache_file = Path(tempfile.mkdtemp()) / "mobilestatus.sqlite3"   # a cache of its own
sandbox = msp.Sandbox(latency_ms=50).start()
client = sandbox.client(cache=cache_file, price_per_call=0.05)
leads = signups(rows=1500, distinct=400, seed=7)
"""),
    md("## 1. Estimate before paying"),
    code("""
leads.mobile.estimate("phone", client=client)
"""),
    md("## 2. A budget: never more than `max_billed` billed calls in a run"),
    code("""
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    first = leads.mobile.status("phone", client=client, max_billed=100, progress=False)
print(caught[0].message)
print("billed:", first.attrs["mobilestatus"]["billed_calls"])
bool((first["mobile_status"] == "not_checked").any())
"""),
    md("## 3. Run again: what was paid for comes from the cache"),
    code("""
second = leads.mobile.status("phone", client=client, progress=False)
report = second.attrs["mobilestatus"]
{k: report[k] for k in ("cache_hits", "calls", "not_checked")}
"""),
    code("""
sandbox.stats()["numbers_billed_more_than_once"]   # nothing was billed twice
"""),
    md("## 4. The ledger: every call, for reconciling the bill (numbers are not stored)"),
    code("""
ledger = client.ledger()
ledger[["billed", "result", "status_code"]].value_counts().head()
"""),
    code("""
client.billing()[["calls", "billed", "unbilled", "billed_without_request_id", "cost"]].sum()  # per day, summed
"""),
    code("""
_ = second.mobile.plot(kind="billing")
"""),
    md("""
## 5. Interrupt and resume

Press *Interrupt* in the middle of a long run: it stops within two seconds, and every answer
that arrived is already in the cache. Here a timer presses it for us, half a second in.
"""),
    code(
        IGNORE
        + """
more = signups(rows=600, distinct=300, seed=8)
threading.Timer(0.5, _thread.interrupt_main).start()
try:
    more.mobile.status("phone", client=client, progress=False)
except KeyboardInterrupt:
    print("interrupted after", client.last_run.calls, "calls")
"""
    ),
    code("""
resumed = more.mobile.status("phone", client=client, progress=False)
print("cache hits after the interrupt:", resumed.attrs["mobilestatus"]["cache_hits"] > 0)
print("rows without an answer:", int(resumed["mobile_status"].isin(["not_checked", "error"]).sum()))
print("numbers billed twice:", sandbox.stats()["numbers_billed_more_than_once"])
"""),
    md("""
## 6. Long runs in the background: start, look, stop, resume

`start` takes the same options as `status` and returns at once: the run goes on in the
background and the notebook stays free. Displayed, `run` is a live widget (progress, ETA,
calls/s, billed calls, cost so far, the statuses so far as a bar).
"""),
    code(
        IGNORE
        + """
batch = signups(rows=600, distinct=300, seed=9)
run = batch.mobile.start("phone", client=client)
run
"""
    ),
    md(
        "Meanwhile, `partial()` is the frame so far, shaped exactly like `status`'s output: rows not answered yet are `not_checked`."
    ),
    code(
        IGNORE
        + """
import time
time.sleep(2)
so_far = run.partial()
so_far["mobile_status"].value_counts().head(4)
"""
    ),
    code("""
run.stop()                    # stops sending; every answer so far is kept, in the cache too
stopped = run.result()
print("partial() has the result's shape, index and dtypes:", so_far.shape == stopped.shape,
      so_far.index.equals(stopped.index), so_far.dtypes.equals(stopped.dtypes))
print("stop reason:", stopped.attrs["mobilestatus"]["stop_reason"])
print("some rows not checked:", bool((stopped["mobile_status"] == "not_checked").any()))
"""),
    md("""
Start it again (after a kernel restart too, with a new `Sandbox()`: the sandbox's answers are
cached in a realm of their own): only what was not answered is called, nothing is billed twice.
"""),
    code("""
resumed = batch.mobile.start("phone", client=client).result()
report = resumed.attrs["mobilestatus"]
print("answers from the cache:", report["cache_hits"] > 0)
print("rows not checked:", int((resumed["mobile_status"] == "not_checked").sum()))
print("numbers billed twice:", sandbox.stats()["numbers_billed_more_than_once"])
"""),
    md("""
## 7. The daily limit

The service limits verifications per day and answers `Result -4` past it. Ten such answers
in a row end the run: the rest are `not_checked`, and a warning says to come back tomorrow.
(One call at a time here, so the numbers below are the same on every run.)
"""),
    code("""
with msp.Sandbox(daily_quota=20) as limited:
    strict = limited.client(cache=None, max_workers=1)   # a throwaway: answers in memory
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        capped = leads.mobile.status("phone", client=strict, progress=False)
print(caught[0].message)
capped["mobile_status"].value_counts().loc[["daily_limit", "not_checked"]]
"""),
    md("""
## 8. When the answer is lost on the way

Tencent bills when it has looked the number up. If the connection drops after that, or the
answer stalls past the timeout, the call was *possibly billed*: the ledger records it with
`billed` `<NA>`, the run report counts it, and `max_billed` counts it as billed. Here a
sandbox loses a fifth of its billed answers (one call at a time, so the figures repeat).
"""),
    code("""
with msp.Sandbox(fault_rate=0.2, faults=("billed_drop",), seed=1) as lossy:
    careful = lossy.client(cache=None, max_workers=1, retry_ambiguous=False, price_per_call=0.05)
    lost = careful.lookup_many(leads["phone"].drop_duplicates().head(50), progress=False)
    served = lossy.stats()
report = lost.attrs["mobilestatus"]
{k: report[k] for k in ("billed_calls", "possibly_billed", "cost", "worst_case_cost")}
"""),
    code("""
careful.ledger()["billed"].value_counts(dropna=False)   # True, False, <NA>: possibly billed
"""),
    code("""
print("the sandbox billed", served["billed"], "calls; the ledger says between",
      report["billed_calls"], "and", report["billed_calls"] + report["possibly_billed"])
careful.billing()[["calls", "billed", "possibly_billed", "cost", "worst_case_cost"]].sum()
"""),
    code("""
sandbox.stop()
"""),
]


def write(name: str, cells: list[nbformat.NotebookNode]) -> None:
    # A fresh default cache for each notebook (sandbox.client() uses it), so the stored
    # outputs are those of a first run, as `make notebooks` sees them.
    os.environ["MOBILESTATUS_CACHE"] = str(Path(tempfile.mkdtemp()) / "mobilestatus.sqlite3")
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    NotebookClient(nb, kernel_name="python3", timeout=300, store_widget_state=True).execute(
        cwd=str(HERE)
    )
    nbformat.write(nb, HERE / name)
    print("wrote", name)


NOTEBOOKS = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_fraud_study.ipynb": FRAUD_STUDY,
    "03_cost_control.ipynb": COST_CONTROL,
}

if __name__ == "__main__":
    import sys

    for name in sys.argv[1:] or NOTEBOOKS:  # names given: only those
        write(name, NOTEBOOKS[name])
