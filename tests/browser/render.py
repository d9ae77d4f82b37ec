"""Render a notebook the way a reader sees it: executed in a real kernel with widget state
saved, exported to HTML with the widget JavaScript (npm's @jupyter-widgets/html-manager,
served from loopback), and screenshotted by headless Chromium.

Used by ``tests/test_browser.py`` and ``docs/make_pictures.py``.
"""

from __future__ import annotations

import copy
import functools
import http.server
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

HERE = Path(__file__).parent
NODE_MODULES = HERE / "node_modules"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium() -> str | None:
    """The Chromium binary, or None when it is not installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def widget_javascript_ready() -> bool:
    return (NODE_MODULES / "@jupyter-widgets/html-manager/dist/embed-amd.js").is_file() and (
        NODE_MODULES / "requirejs/require.js"
    ).is_file()


def execute(
    cells: list[str], timeout_seconds: int = 120, *, cleanup: Sequence[str] = ()
) -> nbformat.NotebookNode:
    """Run code cells in a fresh kernel, saving widget state as Jupyter does.

    ``cleanup`` cells run afterwards in the same kernel (stopping a run, a sandbox) but are
    not part of the notebook returned: it is saved, outputs and widget state, as it stood
    after the last of ``cells`` (a run still going shows mid-run).
    """
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in [*cells, *cleanup]]
    saved: list[nbformat.NotebookNode] = []

    def save(cell: object, cell_index: int, execute_reply: object) -> None:
        if cell_index == len(cells) - 1:
            client.set_widgets_metadata()
            shown = copy.deepcopy(client.nb)
            shown.cells = shown.cells[: len(cells)]
            saved.append(shown)

    client = NotebookClient(
        nb, kernel_name="python3", timeout=timeout_seconds, store_widget_state=True,
        on_cell_executed=save,
    )  # fmt: skip
    client.execute()
    return saved[0]


def export_html(nb: nbformat.NotebookNode, folder: Path) -> Path:
    """Write ``index.html`` and the widget JavaScript it loads into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for package in ("@jupyter-widgets/html-manager", "requirejs"):
        target = folder / "js" / package
        if not target.exists():
            shutil.copytree(NODE_MODULES / package, target)
    exporter = HTMLExporter(
        widget_renderer_url="js/@jupyter-widgets/html-manager/dist/embed-amd.js",
        require_js_url="js/requirejs/require.js",
        mathjax_url="",
    )
    body, _ = exporter.from_notebook_node(nb)
    page = folder / "index.html"
    page.write_text(body, encoding="utf-8")
    return page


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on a free loopback port; yield its URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def dom(url: str, *, width: int = 1100, height: int = 1300) -> str:
    """The page's DOM as headless Chromium leaves it after scripts settle (the widgets
    rendered by their JavaScript, not the static fallback)."""
    return _chromium(url, ["--dump-dom"], width, height).decode("utf-8")


def screenshot(url: str, out: Path, *, width: int = 1100, height: int = 1300) -> Path:
    """Headless Chromium's screenshot of ``url`` (after scripts settle)."""
    _chromium(url, [f"--screenshot={out.resolve()}"], width, height)
    return out


def _chromium(url: str, action: list[str], width: int, height: int) -> bytes:
    """Run headless Chromium on ``url`` with ``action``'s flags; its standard output."""
    browser = chromium()
    if browser is None:
        raise RuntimeError("Chromium is not installed (Debian package: chromium)")
    with tempfile.TemporaryDirectory() as home:  # Chromium writes its profile and caches here
        done = subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={home}/profile",
             f"--window-size={width},{height}", "--virtual-time-budget=15000", *action, url],
            check=True, capture_output=True, timeout=120, env={**os.environ, "HOME": home},
        )  # fmt: skip
    return done.stdout
