"""Isolation for every test pytest collects here: the tests, the package's doctests and the
notebooks.

This file sits at the top of the repository (not in ``tests/``) so that it also applies to
``pytest --doctest-modules mobilestatus_pandas/``: a doctest that opens a client must not
write to the developer's real cache folder nor see their credentials or endpoint.

The notebooks (``--nbval``: each run in a real kernel) get the same: each notebook's kernel
starts with a default cache and a per-user folder of its own, fresh, as ``make_notebooks.py``
ran it when it stored the outputs, so that they are a first run's whatever ran before and
whichever process runs it (under pytest-xdist, ``--dist loadfile`` keeps each notebook whole
on one worker, beside the other tests).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Written and run by hand (``make notebooks-rebuild``), not a test module.
collect_ignore = ["notebooks/make_notebooks.py"]

#: Variables a test must not inherit from the developer's shell.
ISOLATED_VARIABLES = (
    "TENCENTCLOUD_SECRET_ID",
    "TENCENTCLOUD_SECRET_KEY",
    "TENCENTCLOUD_SESSION_TOKEN",
    "TENCENTCLOUD_TOKEN",
    "MOBILESTATUS_ENDPOINT",
    "MOBILESTATUS_CACHE",
    "MOBILESTATUS_CACHE_KEY",
)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """No test or doctest sees the developer's credentials, cache or endpoint."""
    import mobilestatus_pandas as msp

    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    # platformdirs' per-user folders follow XDG_* first: point them into the fake home too.
    for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name in ISOLATED_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MOBILESTATUS_CACHE_DIR", str(home / "cache"))
    monkeypatch.setattr(
        msp.credentials, "profile_paths", lambda: [home / ".tencentcloud" / "credentials"]
    )
    return home


#: The variables a notebook's kernel starts with (and only while it starts).
KERNEL_VARIABLES = ("MOBILESTATUS_CACHE", "MOBILESTATUS_CACHE_DIR")

_kernels_started: set[str] = set()  # the notebooks whose kernel this process started


def _notebook(item: pytest.Item) -> str | None:
    path = item.nodeid.split("::")[0]
    return path if path.endswith(".ipynb") else None


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Around the setup of a notebook's first cell (it starts the kernel): a fresh cache
    folder in the environment the kernel inherits, the test process's own after."""
    notebook = _notebook(item)
    if notebook is None or notebook in _kernels_started:
        yield
        return
    _kernels_started.add(notebook)
    saved = {name: os.environ.get(name) for name in KERNEL_VARIABLES}
    folder = Path(tempfile.mkdtemp(prefix="mobilestatus-notebook-"))
    os.environ["MOBILESTATUS_CACHE_DIR"] = str(folder)
    os.environ["MOBILESTATUS_CACHE"] = str(folder / "mobilestatus.sqlite3")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
