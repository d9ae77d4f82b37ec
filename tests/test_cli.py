from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


@pytest.mark.integration
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mobilestatus_pandas.cli", "demo", "--rows", "150",
         "--output", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Line health" in done.stdout
    assert "0 RequestLimitExceeded" in done.stdout
    assert (tmp_path / "out" / "health.png").read_bytes().startswith(b"\x89PNG")
    written = (tmp_path / "out" / "demo_results.csv").read_text()
    assert "mobile_status" in written
    assert "13800138000" not in done.stderr


def run_check(
    sb: msp.Sandbox, *args: str, key: str | None = None, tmp: Path
) -> subprocess.CompletedProcess[str]:
    import os

    env = {
        **os.environ,
        "TENCENTCLOUD_SECRET_ID": sb.secret_id,
        "TENCENTCLOUD_SECRET_KEY": key or sb.secret_key,
        "MOBILESTATUS_CACHE_DIR": str(tmp / "cache"),
    }
    return subprocess.run(
        [sys.executable, "-m", "mobilestatus_pandas.cli", "check", *args,
         "--endpoint", sb.url, "--no-progress"],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip


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
    assert "already exist" in clash.stderr
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
    assert "max_billed" in budget.stderr
    wrong_key = run_check(sandbox, str(phones_csv), "-c", "phone", "-o", out, key="not-the-key",
                          tmp=tmp_path)  # fmt: skip
    assert wrong_key.returncode == 4
    assert "SignatureFailure" in wrong_key.stderr
    assert "not-the-key" not in wrong_key.stderr + wrong_key.stdout
    missing = run_check(sandbox, str(phones_csv), "-c", "phon", "-o", out, tmp=tmp_path)
    assert missing.returncode == 2
    assert "'phone'" in missing.stderr, "close matches are suggested"
    assert "Traceback" not in missing.stderr
    for bad in (
        ["nope.csv", "-c", "phone", "-o", out],
        [str(phones_csv), "-c", "phone", "-o", "x.txt"],
    ):
        done = run_check(sandbox, *bad, tmp=tmp_path)
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
