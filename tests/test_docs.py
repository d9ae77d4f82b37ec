"""The documentation site (docs/, built by ``make docs``): complete, and its links whole.

The build itself (Sphinx with warnings as errors, then ``docs/check_links.py``) is ``make
docs``, in CI after the tests. These tests build nothing: they check that the sources name
every public name, accessor method, notebook and picture, and, when a built site is there,
that it has a page for each and no broken internal link.
"""

from __future__ import annotations

import html
import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

import mobilestatus_pandas as msp
from mobilestatus_pandas.accessor import MobileFrameAccessor, MobileSeriesAccessor

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SITE = DOCS / "_build" / "html"
REFERENCE = DOCS / "reference"


def check_links() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_links", DOCS / "check_links.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def autosummary_entries(page: str) -> dict[str, set[str]]:
    """The names each ``currentmodule`` of a reference page lists in its autosummaries."""
    entries: dict[str, set[str]] = {}
    module = ""
    listing = False
    for line in (REFERENCE / page).read_text(encoding="utf-8").splitlines():
        if line.startswith(".. currentmodule::"):
            module = line.split("::", 1)[1].strip()
        elif line.startswith(".. autosummary::"):
            listing = True
        elif listing and line.startswith("   ") and not line.strip().startswith(":"):
            entries.setdefault(module, set()).add(line.strip())
        elif listing and line and not line.startswith(" "):
            listing = False
    return entries


def public_methods(accessor: type) -> set[str]:
    return {
        name
        for name, member in vars(accessor).items()
        if not name.startswith("_") and inspect.isfunction(member)
    }


def accessor_pages() -> dict[str, type]:
    """The page name of every accessor method the site must have, with its accessor."""
    pages: dict[str, type] = {}
    for prefix, accessor in (
        ("pandas.DataFrame.mobile", MobileFrameAccessor),
        ("pandas.Series.mobile", MobileSeriesAccessor),
    ):
        pages.update({f"{prefix}.{m}": accessor for m in public_methods(accessor)})
    dask = pytest.importorskip("mobilestatus_pandas.dask")
    for prefix, accessor in (
        ("dask.dataframe.DataFrame.mobile", dask.DaskFrameAccessor),
        ("dask.dataframe.Series.mobile", dask.DaskSeriesAccessor),
    ):
        pages.update({f"{prefix}.{m}": accessor for m in public_methods(accessor)})
    return pages


def test_the_reference_lists_every_public_name() -> None:
    listed = set().union(
        *(
            autosummary_entries(p.name).get("mobilestatus_pandas", set())
            for p in REFERENCE.glob("*.rst")
        )
    )
    missing = sorted(set(msp.__all__) - listed)
    assert missing == [], f"list {missing} in an autosummary of a docs/reference/*.rst page"
    assert sorted(listed - set(msp.__all__)) == [], "the reference lists names msp does not export"


def test_the_reference_lists_every_accessor_method() -> None:
    listed = {
        f"{module}.{name}"
        for page in ("accessors.rst", "dask.rst")
        for module, names in autosummary_entries(page).items()
        for name in names
    }
    missing = sorted(set(accessor_pages()) - listed)
    assert missing == [], f"list {missing} in docs/reference/accessors.rst or dask.rst"


def test_every_notebook_and_picture_is_in_the_site() -> None:
    tutorials = (DOCS / "tutorials.md").read_text(encoding="utf-8")
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"notebooks/{notebook.stem}\n" in tutorials, notebook.name
    pages = "".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))
    for picture in sorted(DOCS.glob("*.png")):
        assert re.search(rf"\]\((\.\./)?{re.escape(picture.name)}\)", pages), picture.name


def test_the_link_check_finds_missing_pages_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="api/a.html#here">ok</a> <a href="api/a.html#gone">no anchor</a>'
        '<a href="api/b.html">no page</a> <img src="pic.png"> <a href="#top">self</a>'
        '<a href="https://example.org/x">outside</a> <h1 id="top">t</h1>'
    )
    (tmp_path / "api" / "a.html").write_text('<section id="here"></section>')
    broken = check_links().broken_links(tmp_path)
    assert broken == [
        "index.html: api/a.html#gone (no such anchor)",
        "index.html: api/b.html",
        "index.html: pic.png",
    ]
    (tmp_path / "pic.png").write_bytes(b"")
    (tmp_path / "api" / "b.html").write_text('<a href="../index.html#top">back</a>')
    (tmp_path / "api" / "a.html").write_text('<p id="here"></p><p id="gone"></p>')
    assert check_links().broken_links(tmp_path) == []


built = pytest.mark.skipif(
    not (SITE / "index.html").is_file(), reason="no built site: `make docs` builds it"
)


@built
def test_the_built_site_has_a_page_for_each_public_name_and_accessor_method() -> None:
    pages = {p.stem for p in (SITE / "reference" / "api").glob("*.html")}
    expected = {f"mobilestatus_pandas.{name}" for name in msp.__all__} | set(accessor_pages())
    assert sorted(expected - pages) == [], "stale site? run `make docs`"


@built
def test_the_built_site_has_no_broken_internal_link() -> None:
    assert check_links().broken_links(SITE) == []


@built
def test_the_status_page_and_the_fraud_study_read_as_expected() -> None:
    status = (SITE / "reference" / "api" / "pandas.DataFrame.mobile.status.html").read_text(
        encoding="utf-8"
    )
    assert 'id="pandas.DataFrame.mobile.status"' in status
    text = html.unescape(re.sub(r"<[^>]+>", "", status))
    assert "max_billed: int | None = None" in text  # the signature, with types
    assert "prefix: str = 'mobile_'" in text  # a named default by its value
    assert "mobile.status(" in text  # its example
    study = (SITE / "notebooks" / "02_fraud_study.html").read_text(encoding="utf-8")
    assert len(re.findall(r"<img [^>]*src=\"[^\"]+\.png\"", study)) >= 3, "the study's pictures"
