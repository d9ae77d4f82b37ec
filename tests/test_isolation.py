"""The test isolation holds for doctests too: they never touch the developer's real folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
#: Doctests that open clients and sandboxes (the ones that would write a cache).
DOCTEST_MODULES = ("mobilestatus_pandas/client.py", "mobilestatus_pandas/sandbox/__init__.py")


@pytest.mark.integration
def test_doctests_leave_the_real_cache_folder_untouched(tmp_path: Path) -> None:
    # A developer's machine as pytest finds it: a home of their own, no cache variables.
    real_home = tmp_path / "developer"
    real_home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MOBILESTATUS_", "XDG_", "TENCENTCLOUD_"))
    }
    env["HOME"] = str(real_home)
    run = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "--doctest-modules", *DOCTEST_MODULES,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert " passed" in run.stdout
    written = sorted(str(p.relative_to(real_home)) for p in real_home.rglob("*"))
    assert written == [], f"doctests wrote into the developer's home: {written}"
