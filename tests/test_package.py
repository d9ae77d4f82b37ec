"""What the installed package is: required dependencies, loaded lazily; the type marker.

The wheel itself is built and installed in a clean environment by ``.ci/package_check.sh``
(``make package-check``); these tests check the source tree it is built from.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Loaded on first use only, so that `import mobilestatus_pandas` stays quick.
LAZY_MODULES = ("matplotlib", "ipywidgets", "scipy")


def project() -> dict[str, object]:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in Python 3.11+")
    with (ROOT / "pyproject.toml").open("rb") as file:
        table: dict[str, object] = tomllib.load(file)["project"]
    return table


def test_plots_and_widgets_are_required_dependencies() -> None:
    dependencies: list[str] = project()["dependencies"]  # type: ignore[assignment]
    required = {d.split(">")[0].split("=")[0].strip() for d in dependencies}
    assert set(LAZY_MODULES) <= required


def test_the_notebook_extra_stays_as_an_empty_alias() -> None:
    extras = project()["optional-dependencies"]
    assert extras["notebook"] == []  # type: ignore[index]


@pytest.mark.parametrize("module", LAZY_MODULES)
def test_importing_the_package_does_not_load(module: str) -> None:
    code = (
        "import sys, pandas as pd, mobilestatus_pandas as msp; "
        "pd.DataFrame({'p': ['1']}).mobile; "  # the accessor is registered and usable
        f"print({module!r} in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False", f"import mobilestatus_pandas loaded {module}"


def test_the_package_is_marked_typed() -> None:
    assert (ROOT / "mobilestatus_pandas" / "py.typed").is_file()


def test_the_architecture_notes_name_every_module() -> None:
    notes = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    package = ROOT / "mobilestatus_pandas"
    # a module by its path in the package (`engine/run`); stores/ and sandbox/ as folders
    modules = {p.stem for p in package.glob("*.py")} | {
        p.name for p in package.iterdir() if (p / "__init__.py").is_file()
    }
    for layer in ("service", "engine", "analysis", "views"):
        modules |= {f"{layer}/{p.stem}" for p in (package / layer).glob("*.py")}
        modules.discard(f"{layer}/__init__")
    table = [line for line in notes.splitlines() if line.startswith("| `")]
    rows = {line.split("|")[1].strip(" `/") for line in table}
    missing = sorted(modules - rows)
    assert missing == [], f"docs/architecture.md does not say what {missing} are for"


def test_the_readme_links_only_inside_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../" not in readme, "the repository stands alone: no links outside it"
    assert "docs/architecture.md" in readme


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_the_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    anchors = {github_anchor(h) for h in re.findall(r"^#+ (.*)$", readme, flags=re.M)}
    links = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert links, "the README links into the guide"
    for link in links:
        if re.match(r"[a-z]+://", link):
            continue
        path, _, anchor = link.partition("#")
        if path:
            assert (ROOT / path).exists(), f"README links to {link}: no such file"
        else:
            assert anchor in anchors, f"README links to {link}: no such heading"


def test_the_readme_is_the_front_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250, "the manual is the site (docs/): keep the README short"
    assert "make demo" in readme
    assert "make test" in readme
    assert "docs/guide/" in readme
    assert "docs/reference/" in readme
