"""The ``mobilestatus`` command: check a table, run the sandbox or the demo, manage the cache.

::

    mobilestatus check IN -c COLUMN -o OUT [--sandbox | --endpoint URL] [--rate-limit R]
                       [--max-billed N] [--refresh] [--cache PATH|URL] [--price-per-call P]
                       [--validate local|server] [--outage-timeout S] [--prefix P]
                       [--action status|tenure|both]
                       [--overwrite] [--by COL]... [--keep-numbers] [--no-progress]
    mobilestatus sandbox [--port N] [--latency-ms M] [--json]
    mobilestatus demo [--rows N] [--output DIR] [--keep-numbers]
    mobilestatus cache info|clear [--cache PATH|URL] [--ledger]

Exit codes: 0 done, 2 usage or input error (nothing was looked up when it is found before the
run), 3 stopped early (budget, daily limit, Redis away), 4 authentication failure, 130
interrupted (Ctrl-C; the answers so far are in the cache).

Messages from the library name its Python options (``overwrite=True``, ``max_billed``); the
command passes them on in its own terms (``--overwrite``, ``--max-billed``): see
:func:`in_cli_terms`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import pandas as pd

    from .client import MobileStatusClient

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2
EXIT_STOPPED: Final = 3
EXIT_AUTH: Final = 4
EXIT_INTERRUPTED: Final = 130  # the shell's code for a process ended by Ctrl-C (128 + SIGINT)


TABLE_SUFFIXES: Final = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
#: The result column that holds the normalised number; left out of written files unless
#: ``--keep-numbers`` (numbers are personal data: write them only when asked).
NUMBER_COLUMN: Final = "number"
#: ``--action``: the actions each choice runs, in column order.
_ACTION_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "status": ("status",),
    "tenure": ("tenure",),
    "both": ("status", "tenure"),
}
#: Each action's default column prefix (see actions.py).
_DEFAULT_PREFIXES: Final[dict[str, str]] = {"status": "mobile_", "tenure": "tenure_"}
#: A float column narrower than this cannot hold 11 digits.
FLOAT64_BITS: Final = 64

#: Library option names, as they appear in its messages, and the flags of ``check`` that set
#: them. Applied once, where the command prints an error or a warning (:func:`in_cli_terms`).
OPTION_FLAGS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"\boverwrite=True\b"), "--overwrite"),
    (re.compile(r"\brefresh=True\b"), "--refresh"),
    (re.compile(r"\bprefix=(?![\w'\"])"), "--prefix"),
    (re.compile(r"\bmax_billed\b"), "--max-billed"),
    (re.compile(r"\brate_limit\b"), "--rate-limit"),
    (re.compile(r"\bprice_per_call\b"), "--price-per-call"),
    (re.compile(r"\boutage_timeout\b"), "--outage-timeout"),
    (re.compile(r"\bcache=(?=['\"])"), "--cache "),
    (re.compile(r"^(validate|endpoint)\b"), r"--\1"),
)


def in_cli_terms(message: str) -> str:
    """A library message with its Python option names replaced by the ``check`` flags.

    >>> in_cli_terms("columns exist; pass overwrite=True or another prefix=")
    'columns exist; pass --overwrite or another --prefix'
    >>> in_cli_terms("Raise max_billed and run again")
    'Raise --max-billed and run again'
    """
    for pattern, flag in OPTION_FLAGS:
        message = pattern.sub(flag, message)
    return message


def _count(text: str) -> int:
    """An argparse type: a whole number >= 0 (refused as a usage error, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"a whole number >= 0, got {text!r}")
    return value


def _number(text: str, *, allow_zero: bool) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and (value > 0 or (allow_zero and value == 0))):
        raise argparse.ArgumentTypeError(f"a number {'>=' if allow_zero else '>'} 0, got {text!r}")
    return value


def _positive(text: str) -> float:
    """An argparse type: a finite number > 0."""
    return _number(text, allow_zero=False)


def _non_negative(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    return _number(text, allow_zero=True)


def _table_format(path: Path) -> str:
    from .errors import InputError

    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"{path}: use a .csv or .parquet file ({', '.join(TABLE_SUFFIXES)})")
    return kind


def _read_parquet(path: Path, column: str) -> pd.DataFrame:
    """Read a Parquet table with an integer phone column as digit strings (nulls as <NA>).

    Text is what the engine reads best and what a CSV gives. A float64 column is left as it
    is (the engine reads its whole values exactly); a narrower float column cannot hold 11
    digits and is refused, saying what to do with the file.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .errors import InputError

    schema = pq.read_schema(path)
    kind = schema.field(column).type if column in schema.names else None
    if kind is not None and pa.types.is_floating(kind) and kind.bit_width < FLOAT64_BITS:
        raise InputError(
            f"{path}: column {column!r} is a {kind.bit_width}-bit float, which keeps only a few "
            "significant digits: its phone numbers lost digits when the file was written (11 "
            "are needed), and "
            "looking them up would pay for strangers' numbers. Write the column as text or "
            "int64, from the source the numbers came from."
        )
    frame = pd.read_parquet(path)
    if kind is not None and pa.types.is_integer(kind):
        digits = pq.read_table(path, columns=[column]).column(column).cast(pa.string())
        frame[column] = pd.array(digits.to_numpy(zero_copy_only=False), dtype="string")
    return frame


def _read_table(path: Path, kind: str, column: str) -> pd.DataFrame:
    import pandas as pd

    from .errors import InputError

    try:
        if kind == "csv":
            # The phone column as text: leading zeros and "+86" must survive.
            return pd.read_csv(path, dtype={column: str}, keep_default_na=True)
        return _read_parquet(path, column)
    except ValueError as exc:  # pandas' and pyarrow's parse errors are ValueErrors
        raise InputError(f"{path} cannot be read as {kind}: {exc}") from exc


def _write_table(frame: pd.DataFrame, path: Path, kind: str) -> None:
    """Write through a partial file, so a failure never leaves half a table at ``path``;
    the file is this user's only (0600): it may hold phone numbers (``--keep-numbers``)."""
    from .stores.base import write_private

    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "csv":
        write_private(path, lambda partial: frame.to_csv(partial, index=False))
    else:
        write_private(path, lambda partial: frame.to_parquet(partial, index=False))


def _refuse_before_paying(args: argparse.Namespace, frame: pd.DataFrame, source: Path) -> None:
    """What only the command knows, checked before the first call (the library checks the
    rest before any request too: the column, its type, clashing result columns)."""
    from .errors import InputError

    for key in args.by or ():
        if key not in frame.columns:
            raise InputError(
                f"--by {key!r} is not a column of {source} (columns: {list(frame.columns)})"
            )


def _open_client(args: argparse.Namespace, stack: contextlib.ExitStack) -> MobileStatusClient:
    """The client of this run, closed by ``stack`` (so held writes are flushed at exit)."""
    from .client import MobileStatusClient
    from .errors import InputError

    options: dict[str, object] = {
        "rate_limit": args.rate_limit, "outage_timeout": args.outage_timeout,
    }  # fmt: skip
    if args.price_per_call is not None:
        options["price_per_call"] = args.price_per_call
    if not args.sandbox:
        if args.endpoint:
            options["endpoint"] = args.endpoint
        if args.cache:
            options["cache"] = args.cache
        return stack.enter_context(MobileStatusClient(**options))  # type: ignore[arg-type]
    for flag, given in (("--endpoint", args.endpoint), ("--cache", args.cache)):
        if given:
            raise InputError(
                f"--sandbox answers are made up and stay in this run's memory: drop {flag}"
            )
    from .sandbox import Sandbox

    # A sandbox for this run only: its random credentials never leave this process, and its
    # answers go to no cache. It allows what --rate-limit asks, as an account would.
    sandbox = stack.enter_context(Sandbox(rate_limit=args.rate_limit))
    print(
        f"Using a local sandbox at {sandbox.url} for this run: made-up answers, not Tencent's "
        "service. Nothing is charged ('billed' counts what the service would bill) and "
        "nothing is cached."
    )
    return stack.enter_context(sandbox.client(cache=None, **options))


def _write_held_answers(client: MobileStatusClient, wait_seconds: float) -> int:
    """Before the client closes: write the answers held while a shared cache (Redis) was
    away, waiting for it up to ``wait_seconds``. They were paid for; a process that exits
    with them in memory loses them from the cache and the ledger. Returns how many are lost."""
    held = client.store.flush(0.0)
    if not held:
        return 0
    print(
        f"mobilestatus: {held} answered calls are held in memory until the cache at "
        f"{client.cache_location} is back: waiting up to {wait_seconds:g} s to write them "
        "(--outage-timeout; Ctrl-C gives up on them).",
        file=sys.stderr, flush=True,
    )  # fmt: skip
    lost = client.store.flush(wait_seconds)
    if lost:
        print(
            f"mobilestatus: {lost} answered calls could not be written: they are missing from "
            "the cache and the ledger (the service may have billed them).",
            file=sys.stderr,
        )
    else:
        print(f"mobilestatus: the {held} held answers are written.", file=sys.stderr)
    return lost


def _cmd_check(args: argparse.Namespace) -> int:
    import warnings

    from .engine.stops import RunStoppedWarning
    from .errors import InputError

    source, target = Path(args.input), Path(args.output)
    read_as, write_as = _table_format(source), _table_format(target)
    if not source.is_file():
        raise InputError(f"{source}: no such file")
    if target.is_dir():
        raise InputError(f"{target} is a folder: -o names the file to write")
    if target.exists() and not args.overwrite:
        raise InputError(f"{target} already exists: pass --overwrite to replace it, or another -o")
    frame = _read_table(source, read_as, args.column)
    _refuse_before_paying(args, frame, source)
    actions = _ACTION_CHOICES[args.action]
    # --prefix names the first action's columns; the others keep their own (tenure_).
    prefixes = {actions[0]: args.prefix} if args.prefix is not None else None
    with contextlib.ExitStack() as stack:
        client = _open_client(args, stack)
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        warnings.simplefilter("always", RunStoppedWarning)
        interrupted = False
        try:
            out = frame.mobile.check(
                args.column, _ACTION_CHOICES[args.action], client=client,
                prefixes=prefixes, progress=not args.no_progress,
                max_billed=args.max_billed, refresh=args.refresh, validate=args.validate,
                overwrite=args.overwrite,
            )  # fmt: skip
        except KeyError as exc:
            raise InputError(str(exc.args[0]) if exc.args else str(exc)) from exc
        except KeyboardInterrupt:
            interrupted = True  # the user wants out now: close() writes what it can at once
            # Calls already sent are paid for: let them land in the cache (each ends within
            # the client's timeout) rather than exit with their answers in the air.
            print("mobilestatus: interrupted; recording the calls already sent (Ctrl-C again "
                  "to give up on them)", file=sys.stderr, flush=True)  # fmt: skip
            client.settle_interrupted_runs()
            raise
        finally:
            if not interrupted:
                for warning in caught:  # why it stopped, before what happens to held answers
                    if issubclass(warning.category, RunStoppedWarning):
                        print(f"mobilestatus: {in_cli_terms(str(warning.message))}",
                              file=sys.stderr)  # fmt: skip
                lost = _write_held_answers(client, args.outage_timeout)
    prefix_of = {a: (prefixes or {}).get(a, _DEFAULT_PREFIXES[a]) for a in actions}
    number_columns = [f"{prefix_of[a]}{NUMBER_COLUMN}" for a in actions]
    written = out if args.keep_numbers else out.drop(columns=number_columns)
    _write_table(written, target, write_as)
    reports = out.attrs["mobilestatus"]
    origin = " (sandbox answers, not Tencent's)" if args.sandbox else ""
    kept = (
        f"with {', '.join(number_columns)}" if args.keep_numbers
        else f"without {', '.join(number_columns)} (--keep-numbers keeps it)"
    )  # fmt: skip
    stopped = False
    for action in actions:
        report = reports[action]
        if action == "status":
            table = out.mobile.summary(by=args.by, prefix=prefix_of[action])
            print(table[table["rows"] > 0].to_string(float_format=lambda x: f"{x:.3f}"))
        else:
            from .views.tenure_plot import tenure_table

            print(tenure_table(out, args.by, prefix=prefix_of[action]).to_string())
        cost = f", cost {report['cost']:.2f}" if report["cost"] is not None else ""
        if report.get("possibly_billed"):
            cost += f", {report['possibly_billed']} possibly billed (sent, no answer)"
        if report.get("rate_limited"):
            cost += (
                f", {report['rate_limited']} refused for the rate (RequestLimitExceeded: "
                f"free, {report['rate_limited_retries']} retried)"
            )
        # One action: one line, as before; several: a line each, named.
        named = f"{action}: " if len(actions) > 1 else ""
        written_to = f" Written to {target}, {kept}." if action == actions[-1] else ""
        print(
            f"{named}{report['rows']} rows, {report['distinct_numbers']} distinct numbers: "
            f"{report['calls']} calls, {report['billed_calls']} billed{cost}, "
            f"{report['cache_hits']} from the cache{origin}.{written_to}"
        )
        stopped = stopped or bool(report["stop_reason"])
    return EXIT_STOPPED if stopped or lost else EXIT_OK


def _cmd_sandbox(args: argparse.Namespace) -> int:
    import os

    from .sandbox import SECRET_KEY_ENV, Sandbox

    sandbox = Sandbox(
        host=args.host,
        port=args.port,
        secret_id=args.secret_id,
        secret_key=args.secret_key or os.environ.get(SECRET_KEY_ENV),
        rate_limit=args.rate_limit,
        latency_ms=args.latency_ms,
        latency_spread_ms=args.latency_spread_ms,
        latency_tail_sigma=args.latency_tail_sigma,
        arrival_jitter_ms=args.arrival_jitter_ms,
        jitter=args.jitter,
        daily_quota=args.daily_quota,
        fault_rate=args.fault_rate,
        faults=tuple(f for f in args.faults.split(",") if f),
        stall_seconds=args.stall_seconds,
        seed=args.seed,
        token=args.token,
        account_error=args.account_error,
    )
    sandbox.start()
    try:
        if args.json:
            print(
                json.dumps(
                    {
                        "endpoint": sandbox.url,
                        "secret_id": sandbox.secret_id,
                        "secret_key": sandbox.secret_key,
                    }
                ),
                flush=True,
            )
        else:
            print(f"MobileStatus sandbox listening on {sandbox.url}", flush=True)
            print(f"  secret_id:  {sandbox.secret_id}")
            print(f"  secret_key: {sandbox.secret_key}")
            print("  (local test credentials: they work only against this sandbox)")
            print(f"  stats:      {sandbox.url}/__stats")
            print("Press Ctrl-C to stop.", flush=True)
        _wait_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return EXIT_OK


def _wait_forever() -> None:
    import threading

    threading.Event().wait()


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(rows=args.rows, output=args.output, keep_numbers=args.keep_numbers)


def _cmd_cache(args: argparse.Namespace) -> int:
    from .engine.calls import DEFAULT_CACHE_TTL
    from .stores import open_cache, resolve_cache

    target = resolve_cache(args.cache or "default")
    path = target if isinstance(target, Path) else None
    if path is not None and not path.exists():
        print(f"cache: {path} " + ("(not created yet)" if args.action == "info" else
                                   "does not exist; nothing to clear"))  # fmt: skip
        return EXIT_OK
    backend = open_cache(target, ttl_seconds=DEFAULT_CACHE_TTL.total_seconds())
    store = backend.store
    try:
        if args.action == "info":
            ledger = store.ledger()
            print(f"cache:          {backend.location}")
            if path is not None:
                print(f"size:           {path.stat().st_size / 1024:.1f} KiB")
            print(f"cached answers: {store.count_answers()}")
            billed = sum(e.billed is True for e in ledger)
            possibly = sum(e.billed is None for e in ledger)
            maybe = f", {possibly} possibly billed" if possibly else ""
            print(f"ledger calls:   {len(ledger)} ({billed} billed{maybe})")
            return EXIT_OK
        removed = store.clear(ledger=args.ledger)
    finally:
        store.close()
    what = "answers and the ledger" if args.ledger else "answers (the ledger is kept)"
    print(f"cleared {removed} cached {what} from {backend.location}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mobilestatus`` command."""
    from .accessor import DEFAULT_PREFIX
    from .sandbox.server import DEFAULT_FAULTS, DEFAULT_STALL_SECONDS, FAULT_KINDS, JITTER_KINDS
    from .stores import DEFAULT_OUTAGE_TIMEOUT_SECONDS

    parser = argparse.ArgumentParser(
        prog="mobilestatus",
        description="Check whether phone numbers are live lines (Tencent Cloud MobileStatus).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser(
        "check", help="enrich a CSV or Parquet table with line statuses",
        description="Look up the phone column of a table and write it back with the "
        "mobile_* result columns (the normalised number only with --keep-numbers). "
        "Credentials come from Tencent's chain (environment, ~/.tencentcloud/credentials); "
        "--sandbox tries it with none.",
    )  # fmt: skip
    check.add_argument("input", help="a .csv or .parquet file")
    check.add_argument("-c", "--column", required=True, help="the phone number column")
    check.add_argument("-o", "--output", required=True, help="a .csv or .parquet file to write")
    check.add_argument(
        "--sandbox", action="store_true",
        help="look up against a local sandbox started for this run (made-up answers, no "
        "account needed, nothing charged)",
    )  # fmt: skip
    check.add_argument("--endpoint", default=None, help="host or URL of the service")
    check.add_argument("--rate-limit", type=_positive, default=20.0, help="calls per second")
    check.add_argument("--max-billed", type=_count, default=None, help="billed calls at most")
    check.add_argument("--refresh", action="store_true", help="ignore cached answers")
    check.add_argument(
        "--cache", default=None,
        help="a cache file, or a redis:// URL shared by a team (default: $MOBILESTATUS_CACHE, "
        "else the per-user cache)",
    )  # fmt: skip
    check.add_argument(
        "--price-per-call", type=_non_negative, default=None, help="for cost figures"
    )
    check.add_argument(
        "--outage-timeout", type=_non_negative, default=DEFAULT_OUTAGE_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="how long a run waits for a Redis cache that went away, and how long the command "
        "then waits to write the answers it holds (default %(default)g)",
    )  # fmt: skip
    check.add_argument("--validate", choices=["local", "server"], default="local")
    check.add_argument(
        "--prefix", default=None,
        help=f"of the result columns (default {DEFAULT_PREFIX}, and tenure_ for --action tenure; "
        "with both, of the status columns)",
    )  # fmt: skip
    check.add_argument(
        "--action", choices=list(_ACTION_CHOICES), default="status",
        help="what to look up: status (MobileStatus, the default), tenure (line tenure, "
        "MobileNetworkTimeVerification) or both at once (each at its own rate limit)",
    )  # fmt: skip
    check.add_argument(
        "--overwrite", action="store_true",
        help="replace OUT if it exists, and result columns already in the input",
    )  # fmt: skip
    check.add_argument(
        "--by", action="append", default=None, metavar="COL",
        help="print the summary per group of COL (repeat for several columns)",
    )  # fmt: skip
    check.add_argument(
        "--keep-numbers", action="store_true",
        help="also write the normalised numbers (the <prefix>number column); left out by default",
    )  # fmt: skip
    check.add_argument(
        "--no-progress", action="store_true",
        help="no progress (default: a bar on a terminal, a few plain lines otherwise)",
    )  # fmt: skip
    check.set_defaults(func=_cmd_check)

    sandbox = sub.add_parser("sandbox", help="run the local MobileStatus sandbox until Ctrl-C")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    sandbox.add_argument("--latency-ms", type=float, default=0.0)
    sandbox.add_argument("--latency-spread-ms", type=float, default=0.0)
    sandbox.add_argument(
        "--latency-tail-sigma",
        type=float,
        default=None,
        help="heavy-tailed latency: lognormal with median --latency-ms and this shape",
    )
    sandbox.add_argument(
        "--arrival-jitter-ms", type=float, default=0.0,
        help="hold each request this long at most (uniform) before the rate limit counts it",
    )  # fmt: skip
    sandbox.add_argument(
        "--jitter", choices=JITTER_KINDS, default="uniform",
        help="how the arrival jitter is drawn: uniform, or pareto (heavy tail, the same mean)",
    )  # fmt: skip
    sandbox.add_argument("--rate-limit", type=float, default=20.0)
    sandbox.add_argument("--daily-quota", type=int, default=None)
    sandbox.add_argument("--fault-rate", type=float, default=0.0)
    sandbox.add_argument(
        "--faults", default=",".join(DEFAULT_FAULTS),
        help=f"comma-separated kinds of fault to inject, of {','.join(FAULT_KINDS)} "
        f"(default: {','.join(DEFAULT_FAULTS)}, the unbilled ones)",
    )  # fmt: skip
    sandbox.add_argument(
        "--stall-seconds", type=float, default=DEFAULT_STALL_SECONDS,
        help="how long a billed_stall fault holds a half-sent answer",
    )  # fmt: skip
    sandbox.add_argument("--seed", type=int, default=0)
    sandbox.add_argument("--token", default=None, help="require this STS token")
    sandbox.add_argument("--account-error", default=None, help="refuse every call with this code")
    sandbox.add_argument("--secret-id", default=None)
    sandbox.add_argument(
        "--secret-key", default=None,
        help="default: $MOBILESTATUS_SANDBOX_SECRET_KEY, else a random key",
    )  # fmt: skip
    sandbox.add_argument(
        "--json", action="store_true", help="print the endpoint and credentials as one JSON line"
    )
    sandbox.set_defaults(func=_cmd_sandbox)

    demo = sub.add_parser("demo", help="enrich a synthetic frame against the embedded sandbox")
    demo.add_argument("--rows", type=int, default=2500)
    demo.add_argument("--output", type=Path, default=Path("demo-output"))
    demo.add_argument(
        "--keep-numbers", action="store_true",
        help="also write the phone numbers (raw and normalised) to the results file",
    )  # fmt: skip
    demo.set_defaults(func=_cmd_demo)

    cache = sub.add_parser("cache", help="show or clear the cache (a file or a Redis)")
    cache.add_argument("action", choices=["info", "clear"])
    cache.add_argument(
        "--cache", "--path", dest="cache", default=None,
        help="a cache file or redis:// URL other than the default",
    )  # fmt: skip
    cache.add_argument("--ledger", action="store_true", help="with clear: also forget the ledger")
    cache.set_defaults(func=_cmd_cache)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mobilestatus`` command; returns its exit code."""
    from .errors import AuthenticationError, CredentialsNotFound, MobileStatusError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except AuthenticationError as exc:
        print(f"mobilestatus: authentication failed: {exc}", file=sys.stderr)
        return EXIT_AUTH
    except CredentialsNotFound as exc:
        print(f"mobilestatus: {exc}", file=sys.stderr)
        if args.command == "check":
            print("mobilestatus: to try the command without an account, add --sandbox.",
                  file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    except (MobileStatusError, OSError) as exc:
        print(f"mobilestatus: {in_cli_terms(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        resume = (
            "" if getattr(args, "sandbox", False)  # its answers were never cached
            else "; the answers so far are in the cache: run the same command again to resume "
            "without paying twice"
        )  # fmt: skip
        print(f"mobilestatus: interrupted{resume}.", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
