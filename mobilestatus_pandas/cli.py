"""The ``mobilestatus`` command: run the sandbox, the demo, and manage the cache.

::

    mobilestatus sandbox [--port N] [--latency-ms M] [--json]
    mobilestatus demo [--rows N]
    mobilestatus cache info|clear [--ledger]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Final

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2
EXIT_STOPPED: Final = 3
EXIT_AUTH: Final = 4


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import Sandbox

    sandbox = Sandbox(
        host=args.host,
        port=args.port,
        secret_id=args.secret_id,
        secret_key=args.secret_key,
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
    from .cache import CACHE_FILE_NAME, SQLiteStore, default_cache_dir

    path = default_cache_dir() / CACHE_FILE_NAME if args.path is None else args.path
    if args.action == "info":
        if not path.exists():
            print(f"cache: {path} (not created yet)")
            return EXIT_OK
        store = SQLiteStore(path)
        try:
            ledger = store.ledger()
            print(f"cache:          {path}")
            print(f"size:           {path.stat().st_size / 1024:.1f} KiB")
            print(f"cached answers: {store.count_answers()}")
            print(f"ledger calls:   {len(ledger)} ({sum(e.billed for e in ledger)} billed)")
        finally:
            store.close()
        return EXIT_OK
    if not path.exists():
        print(f"cache: {path} does not exist; nothing to clear")
        return EXIT_OK
    store = SQLiteStore(path)
    try:
        removed = store.clear(ledger=args.ledger)
    finally:
        store.close()
    what = "answers and the ledger" if args.ledger else "answers (the ledger is kept)"
    print(f"cleared {removed} cached {what} from {path}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mobilestatus`` command."""
    from pathlib import Path

    from .sandbox.server import FAULT_KINDS

    parser = argparse.ArgumentParser(
        prog="mobilestatus",
        description="Check whether phone numbers are live lines (Tencent Cloud MobileStatus).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

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
    sandbox.add_argument("--secret-key", default=None)
    sandbox.add_argument(
        "--json", action="store_true", help="print the endpoint and credentials as one JSON line"
    )
    sandbox.set_defaults(func=_cmd_sandbox)

    demo = sub.add_parser("demo", help="enrich a synthetic frame against the embedded sandbox")
    demo.add_argument("--rows", type=int, default=2000)
    demo.add_argument("--output", type=Path, default=Path("demo-output"))
    demo.set_defaults(func=_cmd_demo)

    cache = sub.add_parser("cache", help="show or clear the local cache")
    cache.add_argument("action", choices=["info", "clear"])
    cache.add_argument(
        "--path", type=Path, default=None, help="a cache file other than the default"
    )
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
    except MobileStatusError as exc:
        print(f"mobilestatus: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
