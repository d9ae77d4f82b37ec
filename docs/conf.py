"""Sphinx configuration of the mobilestatus-pandas site (``make docs``).

The site is built with warnings as errors (``-W --keep-going``) and nitpicky cross-references:
every reference to a name of this package must resolve; references to other projects' names
are left as text, since their inventories cannot be fetched during a build (no network).
The notebooks are rendered with their stored outputs (myst-nb, never executed here).
"""

from __future__ import annotations

import builtins
import shutil
import sys
from pathlib import Path

import sphinx_autosummary_accessors

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

import mobilestatus_pandas  # noqa: E402

project = "mobilestatus-pandas"
author = "mobilestatus-pandas developers"
copyright = "mobilestatus-pandas developers"
release = version = mobilestatus_pandas.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx_autosummary_accessors",
    "sphinxarg.ext",
    "myst_nb",
    "sphinx_design",
    "public_names",
]

templates_path = ["_templates", sphinx_autosummary_accessors.templates_path]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "make_pictures.py"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

# -- notebooks: the three tutorials, shown with the outputs they were saved with ---------------
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
# myst-nb reads the notebooks from the source folder: copy them in (docs/notebooks/ is ignored
# by git; notebooks/ at the top stays their one home, where nbval runs them).
_NOTEBOOKS = DOCS / "notebooks"
_NOTEBOOKS.mkdir(exist_ok=True)
for _notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
    _copy = _NOTEBOOKS / _notebook.name
    if not _copy.exists() or _copy.read_bytes() != _notebook.read_bytes():
        shutil.copyfile(_notebook, _copy)

# -- API reference --------------------------------------------------------------------------
autosummary_generate = True
autosummary_ignore_module_all = False
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
python_maximum_signature_line_length = 88  # then one parameter a line
autodoc_member_order = "bysource"
# Defaults as written (`action=STATUS`, not an object's repr); named constants with a plain
# value are shown by value (`prefix='mobile_'`), by the public_names extension.
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": True}
add_module_names = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

nitpicky = True
# Other projects' names (pandas, dask, the standard library, ...) cannot resolve without their
# inventories; names of this package that the site documents must (the public_names
# extension leaves names below the public surface as text).
nitpick_ignore_regex = [
    (r"py:.*", "|".join(name for name in dir(builtins) if not name.startswith("_"))),
    (r"py:.*", r"(pd|pandas|np|numpy|dd|dask|distributed|dt|datetime|collections|typing|os)\..*"),
    (r"py:.*", r"(Path|Any|Callable|Iterable|Iterator|Sequence|Mapping|Hashable|Self)"),
    # modules below the public surface: named in docstrings, not documented pages of their own
    (r"py:.*", r"mobilestatus_pandas\.(engine|service|stores|analysis|views|sandbox)\..*"),
    (r"py:.*", r"mobilestatus_pandas\.(accessor|client|cli|demo|datasets|errors)\..*"),
    (r"py:data", r"SANDBOX_REALM"),  # the sandbox's cache realm, named by Sandbox.client
]

# -- HTML -----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "mobilestatus-pandas"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"index": []}
html_show_sourcelink = False
