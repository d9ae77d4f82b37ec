"""Check the built site's internal links: every page, image and anchor they point to exists.

``make docs`` runs it after Sphinx (whose ``linkcheck`` builder would try the internet, which
a build here cannot reach); ``tests/test_docs.py`` runs it on a built site when there is one.

    python docs/check_links.py docs/_build/html
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: Attributes that point at something the site should hold.
LINK_ATTRIBUTES = {"a": "href", "img": "src", "link": "href", "script": "src"}


class _Page(HTMLParser):
    """The ids a page defines and the internal links it makes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name"):
            if values.get(key):
                self.ids.add(str(values[key]))
        link = values.get(LINK_ATTRIBUTES.get(tag, ""))
        if link and not urlsplit(link).scheme and not link.startswith("//"):
            self.links.append(link)


def read(page: Path) -> _Page:
    parsed = _Page()
    parsed.feed(page.read_text(encoding="utf-8"))
    return parsed


def site_pages(site: Path) -> list[Path]:
    """The site's pages (not the theme's templates copied into ``_static``)."""
    return [p for p in sorted(site.rglob("*.html")) if "_static" not in p.relative_to(site).parts]


def broken_links(site: Path) -> list[str]:
    """Every internal link of the site at ``site`` that points nowhere, as ``page: link``."""
    pages = {page: read(page) for page in site_pages(site)}
    broken = []
    for page, parsed in pages.items():
        for link in parsed.links:
            parts = urlsplit(link)
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(site)}: {link}")
                continue
            fragment = unquote(parts.fragment)
            if fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else read(target).ids
                if fragment not in ids:
                    broken.append(f"{page.relative_to(site)}: {link} (no such anchor)")
    return broken


def main(argv: list[str]) -> int:
    site = Path(argv[1] if len(argv) > 1 else "docs/_build/html")
    if not (site / "index.html").is_file():
        print(f"no built site at {site}: run `make docs`", file=sys.stderr)
        return 2
    broken = broken_links(site)
    for line in broken:
        print(f"broken link: {line}", file=sys.stderr)
    print(f"internal links: {len(site_pages(site))} pages checked, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
