"""The ``mobilestatus`` command: run the sandbox, the demo, and manage the cache.

::

    mobilestatus check IN -c COLUMN -o OUT [--endpoint URL] [--rate-limit R] [--max-billed N]
                       [--refresh] [--cache PATH|URL] [--validate local|server] [--no-progress]
    mobilestatus sandbox [--port N] [--latency-ms M] [--json]
    mobilestatus demo [--rows N]
    mobilestatus cache info|clear [--cache PATH|URL] [--ledger]

Exit codes: 0 done, 2 usage or input error, 3 stopped early (budget, daily limit),
4 authentication failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2
EXIT_STOPPED: Final = 3
EXIT_AUTH: Final = 4


TABLE_SUFFIXES: Final = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _table_format(path: Path) -> str:
    from .errors import InputError

    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"{path}: use a .csv or .parquet file ({', '.join(TABLE_SUFFIXES)})")
    return kind


def _cmd_check(args: argparse.Namespace) -> int:
    import warnings

    import pandas as pd

    from .batch import RunStoppedWarning
    from .client import MobileStatusClient
    from .errors import InputError

    source, target = Path(args.input), Path(args.output)
    read_as, write_as = _table_format(source), _table_format(target)
    if not source.is_file():
        raise InputError(f"{source}: no such file")
    if read_as == "csv":
        # Read the phone column as text: leading zeros and "+86" must survive.
        frame = pd.read_csv(source, dtype={args.column: str}, keep_default_na=True)
    else:
        frame = pd.read_parquet(source)
    options: dict[str, object] = {"rate_limit": args.rate_limit}
    if args.endpoint:
        options["endpoint"] = args.endpoint
    if args.cache:
        options["cache"] = args.cache
    if args.price_per_call is not None:
        options["price_per_call"] = args.price_per_call
    client = MobileStatusClient(**options)  # type: ignore[arg-type]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RunStoppedWarning)
        try:
            out = frame.mobile.status(
                args.column, client=client, progress=not args.no_progress,
                max_billed=args.max_billed, refresh=args.refresh, validate=args.validate,
                overwrite=args.overwrite,
            )  # fmt: skip
        except KeyError as exc:
            raise InputError(str(exc.args[0]) if exc.args else str(exc)) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    if write_as == "csv":
        out.to_csv(target, index=False)
    else:
        out.to_parquet(target, index=False)
    report = out.attrs["mobilestatus"]
    table = out.mobile.summary()
    print(table[table["rows"] > 0].to_string(float_format=lambda x: f"{x:.3f}"))
    cost = f", cost {report['cost']:.2f}" if report["cost"] is not None else ""
    print(
        f"{report['rows']} rows, {report['distinct_numbers']} distinct numbers: "
        f"{report['calls']} calls, {report['billed_calls']} billed{cost}, "
        f"{report['cache_hits']} from the cache. Written to {target}"
    )
    for warning in caught:
        if issubclass(warning.category, RunStoppedWarning):
            print(f"mobilestatus: {warning.message}", file=sys.stderr)
    return EXIT_STOPPED if report["stop_reason"] else EXIT_OK


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
        daily_quota=args.daily_quota,
        fault_rate=args.fault_rate,
        faults=tuple(f for f in args.faults.split(",") if f),
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

    return run_demo(rows=args.rows, output=args.output)


def _cmd_cache(args: argparse.Namespace) -> int:
    from .client import DEFAULT_CACHE_TTL, open_cache, resolve_cache

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
            print(f"ledger calls:   {len(ledger)} ({sum(e.billed for e in ledger)} billed)")
            return EXIT_OK
        removed = store.clear(ledger=args.ledger)
    finally:
        store.close()
    what = "answers and the ledger" if args.ledger else "answers (the ledger is kept)"
    print(f"cleared {removed} cached {what} from {backend.location}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mobilestatus`` command."""
    from .sandbox.server import FAULT_KINDS

    parser = argparse.ArgumentParser(
        prog="mobilestatus",
        description="Check whether phone numbers are live lines (Tencent Cloud MobileStatus).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser(
        "check", help="enrich a CSV or Parquet table with line statuses",
        description="Look up the phone column of a table and write it back with the "
        "mobile_* result columns. Credentials come from Tencent's chain (environment, "
        "~/.tencentcloud/credentials).",
    )  # fmt: skip
    check.add_argument("input", help="a .csv or .parquet file")
    check.add_argument("-c", "--column", required=True, help="the phone number column")
    check.add_argument("-o", "--output", required=True, help="a .csv or .parquet file to write")
    check.add_argument("--endpoint", default=None, help="host or URL of the service")
    check.add_argument("--rate-limit", type=float, default=20.0, help="calls per second")
    check.add_argument("--max-billed", type=int, default=None, help="billed calls at most")
    check.add_argument("--refresh", action="store_true", help="ignore cached answers")
    check.add_argument(
        "--cache", default=None,
        help="a cache file, or a redis:// URL shared by a team (default: $MOBILESTATUS_CACHE, "
        "else the per-user cache)",
    )  # fmt: skip
    check.add_argument("--price-per-call", type=float, default=None, help="for cost figures")
    check.add_argument("--validate", choices=["local", "server"], default="local")
    check.add_argument("--no-progress", action="store_true", help="no progress bar")
    check.add_argument(
        "--overwrite", action="store_true", help="replace mobile_* columns already in the input"
    )
    check.set_defaults(func=_cmd_check)

    sandbox = sub.add_parser("sandbox", help="run the local MobileStatus sandbox until Ctrl-C")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    sandbox.add_argument("--latency-ms", type=float, default=0.0)
    sandbox.add_argument("--latency-spread-ms", type=float, default=0.0)
    sandbox.add_argument("--rate-limit", type=float, default=20.0)
    sandbox.add_argument("--daily-quota", type=int, default=None)
    sandbox.add_argument("--fault-rate", type=float, default=0.0)
    sandbox.add_argument(
        "--faults", default=",".join(FAULT_KINDS), help="comma-separated kinds of fault to inject"
    )
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
    """Entry point of the ``mobilestatus`` command."""
    from .errors import AuthenticationError, MobileStatusError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except AuthenticationError as exc:
        print(f"mobilestatus: authentication failed: {exc}", file=sys.stderr)
        return EXIT_AUTH
    except (MobileStatusError, OSError) as exc:
        print(f"mobilestatus: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
