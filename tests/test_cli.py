from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from subprocess import CompletedProcess

import pandas as pd
import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas import cli


def test_cache_info_and_clear(
    sandbox: msp.Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c" / "mobilestatus.sqlite3"
    assert cli.main(["cache", "info", "--path", str(path)]) == 0
    assert "not created yet" in capsys.readouterr().out
    sandbox.client(cache=path).lookup_many(["13800000000", "13800000101"], progress=False)
    assert cli.main(["cache", "info", "--path", str(path)]) == 0
    out = capsys.readouterr().out
    assert "cached answers: 2" in out
    assert "ledger calls:   2 (1 billed)" in out
    assert cli.main(["cache", "clear", "--path", str(path)]) == 0
    assert "cleared 2" in capsys.readouterr().out
    cli.main(["cache", "info", "--path", str(path)])
    assert "ledger calls:   2" in capsys.readouterr().out
    cli.main(["cache", "clear", "--ledger", "--path", str(path)])
    cli.main(["cache", "info", "--path", str(path)])
    assert "ledger calls:   0" in capsys.readouterr().out


def test_default_cache_follows_the_environment(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["cache", "info"]) == 0
    assert str(isolated_env / "cache") in capsys.readouterr().out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["nonsense"])
    assert info.value.code == 2


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [
        ("--max-billed", "-1", "a whole number >= 0"),
        ("--max-billed", "1.5", "a whole number >= 0"),
        ("--rate-limit", "0", "a number > 0"),
        ("--rate-limit", "inf", "a number > 0"),
        ("--price-per-call", "-0.1", "a number >= 0"),
        ("--outage-timeout", "nan", "a number >= 0"),
    ],
)
def test_bad_numbers_are_usage_errors_in_flags(
    flag: str, value: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["check", "in.csv", "-c", "phone", "-o", "out.csv", flag, value])
    assert info.value.code == 2
    assert f"argument {flag}: {said}, got {value!r}" in capsys.readouterr().err


@pytest.mark.integration
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mobilestatus_pandas.cli", "demo", "--rows", "150",
         "--output", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Line health" in done.stdout
    # The promise as the README states it ("at most 1 request in 100 refused for the rate,
    # never billed, retried, and counted in the report"), on this machine however busy.
    promise = re.search(
        r"Refused for the rate: (\d+) of (\d+) requests .*never billed \((\d+) billed = "
        r"(\d+) in the ledger\), (\d+) retried, (\d+) counted in the report",
        done.stdout,
    )
    assert promise is not None, done.stdout
    refused, requests, billed, billed_reported, retried, counted = map(int, promise.groups())
    assert refused <= requests / 100, done.stdout
    assert billed == billed_reported, "a refusal is never billed, nor counted as billed"
    assert retried == refused == counted, "every refusal retried and counted in the report"
    assert (tmp_path / "out" / "health.png").read_bytes().startswith(b"\x89PNG")
    results = pd.read_csv(tmp_path / "out" / "demo_results.csv")
    assert not results["mobile_status"].isin(["error", "busy", "not_checked"]).any()
    written = (tmp_path / "out" / "demo_results.csv").read_text()
    header = written.splitlines()[0].split(",")
    assert "mobile_status" in header
    assert "mobile_number" not in header, "the normalised numbers are written only when asked"
    assert "phone" not in header, "nor the raw phone column"
    assert "without the phone numbers (phone and mobile_number)" in done.stdout
    assert "13800138000" not in done.stderr


@pytest.mark.integration
def test_demo_keeps_numbers_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mobilestatus_pandas.demo import run_demo

    old_umask = os.umask(0o022)  # a common umask: files would be 0644 unless made private
    try:
        assert run_demo(rows=30, output=tmp_path, keep_numbers=True) == 0
    finally:
        os.umask(old_umask)
    assert mode_of(tmp_path / "demo_results.csv") == 0o600
    assert mode_of(tmp_path / "health.png") == 0o600
    header = (tmp_path / "demo_results.csv").read_text().splitlines()[0].split(",")
    assert {"phone", "mobile_number", "mobile_status"} <= set(header)
    assert "with the phone numbers (phone and mobile_number)" in capsys.readouterr().out


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_cli(*args: str, tmp: Path, env: dict[str, str] | None = None) -> CompletedProcess[str]:
    """The real command in a process of its own; stdout and stderr are pipes, not terminals.

    Its umask is 022, a common one, so a file it writes is private only if made so."""
    return subprocess.run(
        [sys.executable, "-m", "mobilestatus_pandas.cli", *args],
        capture_output=True, text=True, timeout=120, check=False, umask=0o022,
        env={**os.environ, "MOBILESTATUS_CACHE_DIR": str(tmp / "cache"), **(env or {})},
    )  # fmt: skip


def run_check(
    sb: msp.Sandbox, *args: str, key: str | None = None, tmp: Path
) -> CompletedProcess[str]:
    """``mobilestatus check ARGS`` against ``sb``, its credentials in the environment."""
    env = {"TENCENTCLOUD_SECRET_ID": sb.secret_id, "TENCENTCLOUD_SECRET_KEY": key or sb.secret_key}
    return run_cli("check", *args, "--endpoint", sb.url, "--no-progress", tmp=tmp, env=env)


@pytest.fixture
def phones_csv(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    path.write_text(
        "id,phone\n1,+86 138 0013 8000\n2,0086-138-0000-0002\n3,not a phone\n4,13800000000\n"
    )
    return path


@pytest.mark.integration
def test_check_csv_to_parquet_and_back(
    sandbox: msp.Sandbox, phones_csv: Path, tmp_path: Path
) -> None:
    import pandas as pd

    out_path = tmp_path / "out.parquet"
    done = run_check(sandbox, str(phones_csv), "-c", "phone", "-o", str(out_path), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    out = pd.read_parquet(out_path)
    assert out["mobile_status"].astype(str).tolist() == [
        "out_of_service", "cancelled", "invalid", "normal",
    ]  # fmt: skip
    assert out["phone"].tolist()[1] == "0086-138-0000-0002", "the input column is kept as text"
    assert "3 calls, 3 billed" in done.stdout
    assert "out_of_service" in done.stdout
    assert sandbox.secret_key not in done.stdout + done.stderr

    args = [str(out_path), "-c", "phone", "-o", str(tmp_path / "again.csv")]
    clash = run_check(sandbox, *args, tmp=tmp_path)
    assert clash.returncode == 2
    assert "already exist; pass --overwrite to replace them, or another --prefix" in clash.stderr
    assert "overwrite=True" not in clash.stderr, "the command speaks in flags"
    again = run_check(sandbox, *args, "--overwrite", tmp=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 calls, 0 billed" in again.stdout
    assert "3 from the cache" in again.stdout


@pytest.mark.integration
def test_check_exit_codes(sandbox: msp.Sandbox, phones_csv: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "o.csv")
    budget = run_check(sandbox, str(phones_csv), "-c", "phone", "-o", out, "--max-billed", "1",
                       tmp=tmp_path)  # fmt: skip
    assert budget.returncode == 3
    assert "(--max-billed reached)" in budget.stderr
    assert "Raise --max-billed" in budget.stderr
    assert "max_billed" not in budget.stderr
    out = str(tmp_path / "o2.csv")
    wrong_key = run_check(sandbox, str(phones_csv), "-c", "phone", "-o", out, key="not-the-key",
                          tmp=tmp_path)  # fmt: skip
    assert wrong_key.returncode == 4
    assert "SignatureFailure" in wrong_key.stderr
    assert "not-the-key" not in wrong_key.stderr + wrong_key.stdout


@pytest.mark.integration
def test_check_usage_errors_exit_2_and_say_what_to_do(
    sandbox: msp.Sandbox,
    phones_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # In this process (the exit codes above are a process's own): main() returns the code
    # the command exits with, and an exception that escaped it would fail this test.
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", sandbox.secret_id)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", sandbox.secret_key)
    out = str(tmp_path / "o.csv")
    base = ["--endpoint", sandbox.url, "--no-progress"]
    assert cli.main(["check", str(phones_csv), "-c", "phon", "-o", out, *base]) == 2
    assert "'phone'" in capsys.readouterr().err, "close matches are suggested"
    for bad in (
        [str(tmp_path / "nope.csv"), "-c", "phone", "-o", out],
        [str(phones_csv), "-c", "phone", "-o", str(tmp_path / "x.txt")],
    ):
        assert cli.main(["check", *bad, *base]) == 2
        assert capsys.readouterr().err
    assert sandbox.stats()["requests"] == 0, "refused before anything is sent"
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.integration
def test_sandbox_flag_needs_no_account(phones_csv: Path, tmp_path: Path) -> None:
    out_path = tmp_path / "out.csv"
    done = run_cli("check", str(phones_csv), "-c", "phone", "-o", str(out_path), "--sandbox",
                   tmp=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "local sandbox" in done.stdout
    assert "made-up answers, not Tencent's service" in done.stdout
    assert "(sandbox answers, not Tencent's)" in done.stdout
    assert "3 calls, 3 billed" in done.stdout
    printed = done.stdout + done.stderr
    assert "AKIDsandbox" not in printed, "the sandbox's credentials are never printed"
    assert "secret" not in printed.lower()
    out = pd.read_csv(out_path)
    assert out["mobile_status"].tolist() == ["out_of_service", "cancelled", "invalid", "normal"]
    assert not (tmp_path / "cache").exists(), "made-up answers: no cache, nothing on disk"


def test_sandbox_refuses_a_real_endpoint_or_cache(
    phones_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["check", str(phones_csv), "-c", "phone", "-o", str(tmp_path / "o.csv"), "--sandbox"]
    for flag, value in (("--endpoint", "http://127.0.0.1:9"), ("--cache", str(tmp_path / "c"))):
        assert cli.main([*base, flag, value]) == 2
        assert f"drop {flag}" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()
    assert not (tmp_path / "c").exists()


@pytest.mark.integration
def test_without_credentials_the_sandbox_is_suggested(phones_csv: Path, tmp_path: Path) -> None:
    done = run_cli("check", str(phones_csv), "-c", "phone", "-o", str(tmp_path / "o.csv"),
                   tmp=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert "add --sandbox" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.integration
def test_an_existing_output_needs_overwrite(
    sandbox: msp.Sandbox, phones_csv: Path, tmp_path: Path
) -> None:
    out_path = tmp_path / "out.csv"
    out_path.write_text("run 1's results\n")
    out_path.chmod(0o644)
    refused = run_check(sandbox, str(phones_csv), "-c", "phone", "-o", str(out_path),
                        tmp=tmp_path)  # fmt: skip
    assert refused.returncode == 2
    assert f"{out_path} already exists: pass --overwrite" in refused.stderr
    assert out_path.read_text() == "run 1's results\n"
    assert sandbox.stats()["requests"] == 0, "refused before any lookup"
    replaced = run_check(sandbox, str(phones_csv), "-c", "phone", "-o", str(out_path),
                         "--overwrite", tmp=tmp_path)  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr
    assert "mobile_status" in out_path.read_text()
    assert mode_of(out_path) == 0o600, "replaced by a file of this user's only"
    assert not list(tmp_path.glob("*.partial")), "the partial file is renamed into place"


@pytest.mark.integration
def test_column_clash_is_refused_before_paying_and_prefix_avoids_it(
    sandbox: msp.Sandbox, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("phone,mobile_status\n13800000000,from an earlier tool\n")
    clash = run_check(sandbox, str(source), "-c", "phone", "-o", str(tmp_path / "o.csv"),
                      tmp=tmp_path)  # fmt: skip
    assert clash.returncode == 2
    assert "pass --overwrite to replace them, or another --prefix" in clash.stderr
    assert sandbox.stats()["requests"] == 0
    done = run_check(sandbox, str(source), "-c", "phone", "-o", str(tmp_path / "o.csv"),
                     "--prefix", "line_", "--keep-numbers", tmp=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = pd.read_csv(tmp_path / "o.csv", dtype=str)
    assert out.loc[0, "mobile_status"] == "from an earlier tool"
    assert out.loc[0, "line_status"] == "normal"
    assert out.loc[0, "line_number"] == "13800000000"
    assert "normal" in done.stdout, "the summary reads the prefixed columns"


def test_library_messages_are_put_in_the_commands_terms(sandbox: msp.Sandbox) -> None:
    """The translation follows the library's real wording, not a copy of it."""
    frame = pd.DataFrame({"phone": ["13800000000"], "mobile_status": ["x"]})
    with pytest.raises(msp.InputError) as clash:
        frame.mobile.status("phone", client=sandbox.client(), progress=False)
    said = cli.in_cli_terms(str(clash.value))
    assert "--overwrite" in said
    assert "--prefix" in said
    assert "=" not in said
    with pytest.raises(msp.InputError) as budget:
        frame.mobile.status("phone", client=sandbox.client(), max_billed=-1, overwrite=True)
    assert "--max-billed must be" in cli.in_cli_terms(str(budget.value))
    with pytest.raises(msp.InputError) as rate:
        msp.MobileStatusClient(rate_limit=0, secret_id="a", secret_key="b", cache=None)
    assert cli.in_cli_terms(str(rate.value)).startswith("--rate-limit must be")
    assert cli.in_cli_terms("the cache is away") == "the cache is away", "prose is left alone"


@pytest.mark.integration
def test_by_prints_the_summary_per_group(sandbox: msp.Sandbox, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("phone,fraud\n13800138000,yes\n13800000002,yes\n13800000000,no\n")
    done = run_check(sandbox, str(source), "-c", "phone", "-o", str(tmp_path / "o.csv"),
                     "--by", "fraud", tmp=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["rows", "row_share", "answered_share", "numbers", "number_share",
                                "billed_numbers", "cached_numbers", "cached_rows"]  # fmt: skip
    assert lines[1].split() == ["fraud", "status"]
    assert lines[2].split()[:3] == ["no", "normal", "1"]
    assert lines[3].split()[:3] == ["yes", "out_of_service", "1"]
    assert lines[4].split()[:2] == ["cancelled", "1"]
    wrong = run_check(sandbox, str(source), "-c", "phone", "-o", str(tmp_path / "p.csv"),
                      "--by", "frau", tmp=tmp_path)  # fmt: skip
    assert wrong.returncode == 2
    assert "--by 'frau' is not a column" in wrong.stderr
    assert sandbox.stats()["requests"] == 3, "the wrong --by was refused before any lookup"


@pytest.mark.integration
def test_numbers_are_written_only_when_asked(
    sandbox: msp.Sandbox, phones_csv: Path, tmp_path: Path
) -> None:
    plain, kept = tmp_path / "plain.parquet", tmp_path / "kept.parquet"
    done = run_check(sandbox, str(phones_csv), "-c", "phone", "-o", str(plain), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "without mobile_number (--keep-numbers keeps it)" in done.stdout
    assert "mobile_number" not in pd.read_parquet(plain).columns
    # the keyed hash stays: rows of one number are still one cluster for compare
    written = pd.read_parquet(plain)
    assert written["mobile_key"].dtype == "Int64"
    assert not written["mobile_key"].astype(str).str.contains("13800138000").any()
    done = run_check(sandbox, str(phones_csv), "-c", "phone", "-o", str(kept), "--keep-numbers",
                     tmp=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert pd.read_parquet(kept)["mobile_number"].tolist()[0] == "13800138000"
    kept_frame = pd.read_parquet(kept)
    same = kept_frame["mobile_number"].duplicated(keep=False) & kept_frame["mobile_number"].notna()
    assert (
        kept_frame.loc[same, "mobile_key"].nunique()
        == kept_frame.loc[same, "mobile_number"].nunique()
    ), "one key per number"
    assert (mode_of(plain), mode_of(kept)) == (0o600, 0o600), "phone numbers: this user's only"


@pytest.mark.integration
def test_progress_off_a_terminal_is_a_few_plain_lines(tmp_path: Path) -> None:
    numbers = [f"139{i:08d}" for i in range(600)]
    source = tmp_path / "in.csv"
    pd.DataFrame({"phone": numbers}).to_csv(source, index=False)
    done = run_cli("check", str(source), "-c", "phone", "-o", str(tmp_path / "o.csv"),
                   "--sandbox", "--rate-limit", "600", tmp=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert "\r" not in err, "no bar redraws in a log"
    lines = err.splitlines()
    assert 3 <= len(lines) <= 12, err
    assert len(err.encode()) < 1500
    assert lines[0] == "MobileStatus: 600 numbers to look up"
    assert lines[-1].startswith("MobileStatus: 600/600 (100%)")
    assert ", billed " in lines[-1], "with the figures of the run"


@pytest.mark.integration
def test_both_actions_progress_lines_say_which_action(tmp_path: Path) -> None:
    """``--action both`` runs two lookups at once: each line names its action's API."""
    source = tmp_path / "in.csv"
    pd.DataFrame({"phone": [f"139{i:08d}" for i in range(200)]}).to_csv(source, index=False)
    done = run_cli("check", str(source), "-c", "phone", "-o", str(tmp_path / "o.csv"),
                   "--sandbox", "--rate-limit", "600", "--action", "both",
                   tmp=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [
        line for line in done.stderr.splitlines() if "numbers to look up" in line or "/200" in line
    ]
    labels = {line.split(":")[0] for line in lines}
    assert labels == {"MobileStatus", "MobileNetworkTimeVerification"}, lines
    for label in labels:
        assert f"{label}: 200 numbers to look up" in lines
        assert any(line.startswith(f"{label}: 200/200 (100%)") for line in lines), lines


@pytest.mark.integration
@pytest.mark.parametrize("arrow_type", ["int64", "float64"])
def test_parquet_numeric_phone_columns_keep_their_digits(
    sandbox: msp.Sandbox, tmp_path: Path, arrow_type: str
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = [13800138000, None, 13800000000]
    source = tmp_path / f"{arrow_type}.parquet"
    # Written by pyarrow, as Spark or DuckDB would: no pandas metadata, a nullable column.
    pq.write_table(pa.table({"phone": pa.array(values, type=getattr(pa, arrow_type)())}), source)
    out_path = tmp_path / "out.parquet"
    done = run_check(sandbox, str(source), "-c", "phone", "-o", str(out_path), "--keep-numbers",
                     tmp=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = pd.read_parquet(out_path)
    assert out["mobile_number"].tolist()[0] == "13800138000"
    assert out["mobile_status"].astype(str).tolist()[0::2] == ["out_of_service", "normal"]
    assert not out["mobile_billed"].tolist()[1], "the null row costs nothing"
    if arrow_type == "int64":
        assert out["phone"].tolist()[0] == "13800138000", "integer phone columns are read as text"
        assert pd.isna(out["phone"].tolist()[1])


@pytest.mark.integration
def test_a_float32_parquet_phone_column_is_refused_before_paying(
    sandbox: msp.Sandbox, tmp_path: Path
) -> None:
    import numpy as np

    source = tmp_path / "f32.parquet"
    pd.DataFrame({"phone": np.array([13800138000, 13800000000], dtype="float32")}).to_parquet(
        source
    )
    done = run_check(sandbox, str(source), "-c", "phone", "-o", str(tmp_path / "o.csv"),
                     tmp=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert "column 'phone' is a 32-bit float" in done.stderr
    assert "Write the column as text or int64" in done.stderr
    assert "Traceback" not in done.stderr
    assert sandbox.stats()["requests"] == 0
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.integration
def test_the_client_is_closed_on_every_path(
    sandbox: msp.Sandbox,
    phones_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Closing flushes answers held while Redis was away: it must happen however a run ends."""
    closed: list[str] = []
    real_close = msp.MobileStatusClient.close

    def close(self: msp.MobileStatusClient) -> None:
        closed.append(self.url)
        real_close(self)

    monkeypatch.setattr(msp.MobileStatusClient, "close", close)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", sandbox.secret_id)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", sandbox.secret_key)
    base = [str(phones_csv), "-c", "phone", "--endpoint", sandbox.url, "--no-progress"]

    def check(*extra: str) -> int:
        return cli.main(["check", *base, "-o", str(tmp_path / f"o{len(closed)}.csv"), *extra])

    assert check() == 0
    assert closed == [sandbox.url + "/"]
    assert check("--max-billed", "1", "--refresh") == 3
    assert len(closed) == 2
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "not-the-key")
    assert check("--refresh") == 4
    assert len(closed) == 3, "closed after an authentication failure"
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", sandbox.secret_key)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("mobilestatus_pandas.accessor.run_lookups", interrupted)
    assert check("--refresh") == cli.EXIT_INTERRUPTED
    assert len(closed) == 4, "closed after Ctrl-C"
    assert "run the same command again to resume" in capsys.readouterr().err


@pytest.mark.integration
@pytest.mark.slow
def test_answers_held_while_redis_is_away_are_written_before_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command waits for Redis to come back rather than exit with paid answers in memory."""
    import time

    from tests.conftest import skip_without_redis
    from tests.redis_server import RedisServer

    skip_without_redis()
    monkeypatch.setenv("MOBILESTATUS_CACHE_KEY", "cd" * 32)
    source = tmp_path / "in.csv"
    pd.DataFrame({"phone": [f"139{i:08d}" for i in range(300)]}).to_csv(source, index=False)
    with (
        RedisServer(tmp_path / "redis") as redis_server,
        # 400 ms: at 20 calls/s about eight calls are in flight when Redis stops, so answers
        # arrive with nowhere to go whatever the machine's load (at 50 ms, often none was).
        msp.Sandbox(latency_ms=400, own_process=True) as sb,
    ):
        env = {
            **os.environ,
            "TENCENTCLOUD_SECRET_ID": sb.secret_id,
            "TENCENTCLOUD_SECRET_KEY": sb.secret_key,
            "MOBILESTATUS_CACHE_DIR": str(tmp_path / "cache"),
        }
        command = [
            sys.executable, "-m", "mobilestatus_pandas.cli", "check", str(source), "-c", "phone",
            "-o", str(tmp_path / "out.csv"), "--endpoint", sb.url, "--cache", redis_server.url,
            "--outage-timeout", "4", "--no-progress",
        ]  # fmt: skip
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while sb.stats()["requests"] < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        redis_server.stop()  # answers now arrive with nowhere to go
        assert process.stderr is not None
        said = []
        for line in process.stderr:  # wait until the command says it holds answers
            said.append(line)
            if line.startswith("mobilestatus: ") and "held in memory until" in line:
                break
        redis_server.start()
        out, rest = process.communicate(timeout=60)
        err = "".join(said) + rest
        stats = sb.stats()
        assert process.returncode == 3, err
        assert "--outage-timeout" in err
        assert "held answers are written" in err, err
        with msp.MobileStatusClient(
            endpoint=sb.url, secret_id=sb.secret_id, secret_key=sb.secret_key,
            cache=redis_server.url,
        ) as reader:  # fmt: skip
            ledger = reader.ledger()
        assert len(ledger) == stats["requests"], "every call the service saw is in the ledger"
        assert int(ledger["billed"].fillna(True).sum()) == stats["billed"]
        assert "written" in out or "Written" in out


@pytest.mark.integration
@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_exits_130_and_the_same_command_resumes(tmp_path: Path) -> None:
    import signal

    source = tmp_path / "in.csv"
    pd.DataFrame({"phone": [f"139{i:08d}" for i in range(300)]}).to_csv(source, index=False)
    # 40 calls/s: the run's 300 calls take 7.5 s, so the interrupt after its first 30 reaches
    # it mid-run even when this process is slow to read that line on a busy machine.
    with msp.Sandbox(rate_limit=100) as sb:
        env = {
            **os.environ,
            "TENCENTCLOUD_SECRET_ID": sb.secret_id,
            "TENCENTCLOUD_SECRET_KEY": sb.secret_key,
            "MOBILESTATUS_CACHE_DIR": str(tmp_path / "cache"),
        }
        command = [
            sys.executable, "-m", "mobilestatus_pandas.cli", "check", str(source), "-c", "phone",
            "-o", str(tmp_path / "out.csv"), "--endpoint", sb.url, "--rate-limit", "40",
        ]  # fmt: skip
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert process.stderr is not None
        said = [process.stderr.readline(), process.stderr.readline()]  # start, then 10%
        assert said[1].startswith("MobileStatus: 30/300"), said
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
        assert process.returncode == cli.EXIT_INTERRUPTED, rest
        assert "interrupted; the answers so far are in the cache" in rest
        assert "Traceback" not in rest
        assert not (tmp_path / "out.csv").exists()
        paid = sb.stats()["requests"]
        assert 30 <= paid < 300

        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        assert f"{300 - paid} calls" in again.stdout
        assert sb.stats()["requests"] == 300, "nothing was paid for twice"
