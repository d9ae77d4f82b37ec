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
    written = (tmp_path / "out" / "demo_results.csv").read_text()
    assert "mobile_status" in written
    assert "13800138000" not in done.stderr
