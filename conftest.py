"""Isolation for every test pytest collects here: the tests *and* the package's doctests.

This file sits at the top of the repository (not in ``tests/``) so that it also applies to
``pytest --doctest-modules mobilestatus_pandas/``: a doctest that opens a client must not
write to the developer's real cache folder nor see their credentials or endpoint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

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
